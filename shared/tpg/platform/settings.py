"""One settings model. Each field names the environment variable it is read from.

`Settings.from_environment()` is the only place that reads the environment. The handlers
(`functions/*/app.py`) call it once per execution environment, on their first invocation, and pass
the result down; nothing else in the layer reads the environment. Tests and the local stack build
`Settings(...)` directly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

# Local development only: the `tpg` command sets it as JWT_SECRET when none is given, and prints
# it. The service itself has no fallback: without a configured secret every token is refused.
DEV_JWT_SECRET = "local-dev-secret-change-me-0123456789abcdef"  # noqa: S105


LLM_TIER_NAMES = frozenset({"compact", "compact_small", "full"})


def env(name: str, default: Any = None, **constraints: Any) -> Any:
    """A settings field read from the environment variable `name` (an empty value counts as unset)."""
    return Field(default, json_schema_extra={"env": name}, **constraints)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # Each secret is given either as plain text (local runs) or as a Secrets Manager ARN (AWS),
    # resolved on use through Powertools' cache so a rotated value is picked up within max_age.
    database_url: SecretStr | None = env("DATABASE_URL")
    database_url_secret_arn: str | None = env("DATABASE_URL_SECRET_ARN")
    jwt_secret: SecretStr | None = env("JWT_SECRET")
    jwt_secret_arn: str | None = env("JWT_SECRET_ARN")
    anthropic_api_key: SecretStr | None = env("ANTHROPIC_API_KEY")
    anthropic_api_key_secret_arn: str | None = env("ANTHROPIC_API_KEY_SECRET_ARN")
    secrets_max_age_seconds: int = env("POWERTOOLS_PARAMETERS_MAX_AGE", 300, ge=0)
    openapi_enabled: bool = env("OPENAPI_ENABLED", True)
    jwt_audience: str = env("JWT_AUDIENCE", "authenticated")
    # The audience a service token (role service_role: the batch routes' callers) must carry: not
    # the users' (JWT_AUDIENCE), so no user-facing token minting path can mint one by accident.
    service_token_audience: str = env("SERVICE_TOKEN_AUDIENCE", "tpg-service", min_length=1, max_length=200)
    jwt_issuer: str | None = env("JWT_ISSUER")
    # Asymmetric tokens (ES256/RS256) are verified with the key of this JSON Web Key Set their `kid`
    # names (Supabase: https://<ref>.supabase.co/auth/v1/.well-known/jwks.json); unset: HS256 only.
    jwt_jwks_url: str | None = env("JWT_JWKS_URL")
    # The longest a token may live (exp - iat); Supabase issues 1 h access tokens.
    jwt_max_lifetime_seconds: int = env("JWT_MAX_LIFETIME_SECONDS", 24 * 3600, ge=60, le=30 * 24 * 3600)
    generate_function_name: str | None = env("GENERATE_FUNCTION_NAME")
    # Unset: `lambda` inside Lambda (AWS_LAMBDA_FUNCTION_NAME is set), else `local`.
    dispatch_mode: Literal["lambda", "local"] = env("DISPATCH_MODE", "local")
    # Unset: `anthropic` when an API key (or its secret's ARN) is configured, else `offline`.
    llm_provider: Literal["anthropic", "offline"] = env("LLM_PROVIDER", "offline")
    anthropic_model: str = env("ANTHROPIC_MODEL", "claude-sonnet-5-5")
    # Paces the offline engine like an LLM call (demo, benchmarks); 0 = as fast as it runs.
    offline_latency_seconds: float = env("OFFLINE_LATENCY_SECONDS", 0.0, ge=0, le=120)
    # The local stack's CORS (tpg_local.cors; in AWS, the template's CorsAllowOrigin): comma-separated
    # exact origins a browser app may call the API from, or *; unset: any origin on this machine.
    cors_allow_origins: str | None = env("CORS_ALLOW_ORIGINS")
    # The EventBridge bus for completion/failure events (tpg.worker.events); unset: none are sent.
    event_bus_name: str | None = env("EVENT_BUS_NAME")
    # Realtime (tpg.realtime): the WebSocket URL a client opens with its ticket, and the API Gateway
    # Management API endpoint updates are posted to. Unset: no realtime (POST /realtime/tickets answers
    # 404 REALTIME_UNAVAILABLE, nothing is pushed, clients poll). Tickets live seconds; a connection
    # at most as long as API Gateway keeps one open (2 h), and only while its client talks: a row
    # counts as open for `realtime_idle_seconds` after $connect and after each client message (API
    # Gateway closes a socket idle for 10 min, maybe without a $disconnect). A user holds a bounded
    # number at once. Every publish of pushes ends within `realtime_push_deadline_seconds` (the
    # trigger answers within its 10 s timeout even when the Management API hangs).
    realtime_websocket_url: str | None = env("REALTIME_WEBSOCKET_URL")
    realtime_management_endpoint: str | None = env("REALTIME_MANAGEMENT_ENDPOINT")
    realtime_ticket_seconds: int = env("REALTIME_TICKET_SECONDS", 60, ge=5, le=600)
    realtime_connection_seconds: int = env("REALTIME_CONNECTION_SECONDS", 7200, ge=60, le=7200)
    realtime_idle_seconds: int = env("REALTIME_IDLE_SECONDS", 660, ge=30, le=7200)
    realtime_max_connections_per_user: int = env("REALTIME_MAX_CONNECTIONS_PER_USER", 10, ge=1, le=100)
    realtime_push_deadline_seconds: float = env("REALTIME_PUSH_DEADLINE_SECONDS", 1.0, gt=0, le=60)

    max_body_bytes: int = env("MAX_BODY_BYTES", 16 * 1024, ge=256)
    # New generations per user per rolling 24 h when the subscription's tier has no row in
    # subscription_tiers (the table is where operators set it per tier).
    default_daily_quota: int = env("GENERATION_DAILY_QUOTA", 5, ge=0)
    # Reliability knobs (see docs/decisions.md): a claim holds a lease; attempts are bounded.
    # The lease must outlive the generate function's timeout, so a live worker is never reclaimed.
    lease_seconds: int = env("GENERATION_LEASE_SECONDS", 960, ge=1)
    max_attempts: int = env("GENERATION_MAX_ATTEMPTS", 3, ge=1, le=10)
    pending_redispatch_after_seconds: int = env("PENDING_REDISPATCH_AFTER_SECONDS", 120, ge=1)
    # Re-dispatch waits double per unanswered dispatch up to the cap (under 2x the lease, so a
    # waiting row never looks stuck). They only pace re-dispatching: a row fails for waiting only
    # past its tier's wait bound in time (subscription_tiers.max_wait_seconds; this one for a tier
    # without a row), longer than the hour generate's throttled events are kept (I5).
    redispatch_max_interval_seconds: int = env("PENDING_REDISPATCH_MAX_INTERVAL_SECONDS", 900, ge=1)
    default_max_wait_seconds: int = env("GENERATION_MAX_WAIT_SECONDS", 7200, ge=60)
    # The claim order: a job is ranked at its queue time moved earlier by this many seconds per
    # priority point of its tier (premium, 10 points: 10 min ahead of standard). A job is never
    # overtaken by one that arrived later than that head start (docs/architecture.md).
    priority_aging_seconds: float = env("GENERATION_PRIORITY_AGING_SECONDS", 60.0, gt=0, le=3600)
    # A cancel its worker has not honoured by then (no checkpoint reached) is recorded by the sweeper.
    cancel_grace_seconds: int = env("GENERATION_CANCEL_GRACE_SECONDS", 60, ge=1)
    sweep_batch_size: int = env("SWEEP_BATCH_SIZE", 100, ge=1, le=1000)
    db_statement_timeout_ms: int = env("DB_STATEMENT_TIMEOUT_MS", 15_000, ge=100)

    # The LLM pipeline (docs/llm-pipeline.md). ANTHROPIC_BASE_URL points the SDK elsewhere (tests:
    # the local fake server). The small model serves the last LLM tier.
    anthropic_base_url: str | None = env("ANTHROPIC_BASE_URL")
    anthropic_small_model: str = env("ANTHROPIC_SMALL_MODEL", "claude-haiku-5-5")
    # Everything the LLM tiers of one job may spend, waits included; the generate Lambda's timeout
    # (720 s) leaves 120 s above it for the claim, the offline tier and the save.
    llm_budget_seconds: float = env("GENERATION_LLM_BUDGET_SECONDS", 600, gt=0, le=900)
    # One HTTP request: connect, idle-read (between two streamed chunks) and whole-request limits.
    llm_connect_timeout_seconds: float = env("LLM_CONNECT_TIMEOUT_SECONDS", 5, gt=0, le=60)
    llm_read_timeout_seconds: float = env("LLM_READ_TIMEOUT_SECONDS", 60, gt=0, le=600)
    llm_request_timeout_seconds: float = env("LLM_REQUEST_TIMEOUT_SECONDS", 300, gt=0, le=900)
    # One retry layer (tenacity; the SDK's own retries are off): attempts per LLM call, HTTP requests
    # per job over all tiers, full-jitter backoff, and the longest retry-after we wait for.
    llm_max_attempts: int = env("LLM_MAX_ATTEMPTS", 3, ge=1, le=6)
    llm_max_requests_per_job: int = env("LLM_MAX_REQUESTS_PER_JOB", 8, ge=1, le=30)
    llm_backoff_initial_seconds: float = env("LLM_BACKOFF_INITIAL_SECONDS", 1.0, ge=0, le=30)
    llm_backoff_max_seconds: float = env("LLM_BACKOFF_MAX_SECONDS", 20.0, ge=0, le=120)
    llm_max_retry_after_seconds: float = env("LLM_MAX_RETRY_AFTER_SECONDS", 60.0, ge=0, le=300)
    llm_max_tokens_full: int = env("LLM_MAX_TOKENS_FULL", 48_000, ge=1024, le=128_000)
    # The compact ask's answer is ~400-1,200 tokens; the rest is room for thinking.
    llm_max_tokens_compact: int = env("LLM_MAX_TOKENS_COMPACT", 8_000, ge=1024, le=128_000)
    # The LLM tiers, in order, before the offline engine: compact (main model), compact_small (small
    # model), full (main model, every week written out: for comparisons). docs/llm-pipeline.md.
    llm_tiers: str = env("LLM_TIERS", "compact,compact_small", pattern=r"^[a-z_]+(,[a-z_]+)*$")
    # Sent explicitly (current models default to high effort with adaptive thinking, billed as
    # output): output_config.effort and thinking.type. Sonnet 5.5 refuses thinking "disabled";
    # "between_tools" turns thinking off there.
    llm_effort: Literal["low", "medium", "high", "xhigh", "max"] = env("LLM_EFFORT", "low")
    llm_thinking: Literal["adaptive", "between_tools", "disabled"] = env("LLM_THINKING", "adaptive")
    # Output speed assumed when deciding whether an ask fits the time left (published Sonnet-class
    # figures are ~60 tokens/s; lower errs toward the smaller ask).
    llm_output_tokens_per_second: float = env("LLM_OUTPUT_TOKENS_PER_SECOND", 50.0, gt=0, le=100_000)
    # Time to the first token assumed there (published: ~1-2 s; a cold cache and the network add).
    llm_first_token_seconds: float = env("LLM_FIRST_TOKEN_SECONDS", 5.0, ge=0, le=120)
    # The cached prefix's TTL ("5m" or "1h"; the choice: docs/llm-pipeline.md, "Caching").
    llm_cache_ttl: Literal["5m", "1h"] = env("LLM_CACHE_TTL", "1h")
    # List prices in USD per million tokens per model (JSON): [input, output] or [input, output,
    # cache_read]; cache writes (and reads without their own price) are priced from the input price
    # (tpg.generation.claude.pricing). Unknown models: no cost.
    llm_prices: str = env(
        "LLM_PRICES", '{"claude-sonnet-5-5": [2.0, 10.0], "claude-haiku-5-5": [0.10, 0.50]}', max_length=4000
    )
    # A completed LLM program with the same request fingerprint is reused for this long; 0 = off.
    result_cache_ttl_seconds: int = env("RESULT_CACHE_TTL_SECONDS", 7 * 24 * 3600, ge=0)
    # Batch generation (tpg.worker.batches, run by the sweeper): requests per Message Batch (the API
    # takes 100,000 and 256 MB; one request is ~45 KB), the batch step's time per sweep (under the
    # sweeper's timeout), and how many batch members may be in the normal queue at once (a failed
    # answer's fallback is a full LLM call: this bounds the generate capacity a batch can take).
    # At most 2,000 per Message Batch: ~90 MB a create, which one step sends within its lease.
    batch_chunk_size: int = env("BATCH_CHUNK_SIZE", 500, ge=1, le=2_000)
    batch_step_seconds: float = env("BATCH_STEP_SECONDS", 40.0, gt=0, le=840)
    batch_queue_slots: int = env("BATCH_QUEUE_SLOTS", 10, ge=1, le=1000)

    @field_validator("jwt_jwks_url")
    @classmethod
    def _jwks_url_is_https(cls, value: str | None) -> str | None:
        # The key set decides who is authenticated: only over TLS (plain http on loopback, for tests).
        if value is None:
            return None
        parts = urlsplit(value)
        loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
        if (parts.scheme == "https" and parts.hostname) or (parts.scheme == "http" and loopback):
            return value
        raise ValueError("JWT_JWKS_URL must be an https URL (plain http only on loopback)")

    @field_validator("realtime_websocket_url", "realtime_management_endpoint")
    @classmethod
    def _realtime_urls_are_secure(cls, value: str | None, info: ValidationInfo) -> str | None:
        # wss/https (ws/http only on loopback: the local stack); a ticket travels in the URL.
        if value is None:
            return None
        parts = urlsplit(value)
        secure, plain = ("wss", "ws") if info.field_name == "realtime_websocket_url" else ("https", "http")
        loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
        if (parts.scheme == secure and parts.hostname) or (parts.scheme == plain and loopback):
            return value
        raise ValueError(f"must be a {secure} URL ({plain} only on loopback)")

    @model_validator(mode="after")
    def _service_audience_is_its_own(self) -> Settings:
        if self.service_token_audience == self.jwt_audience:
            raise ValueError("SERVICE_TOKEN_AUDIENCE must differ from JWT_AUDIENCE")
        return self

    @model_validator(mode="after")
    def _tickets_need_pushes(self) -> Settings:
        # In AWS, tickets without a Management API to push through would open sockets that never
        # receive anything (a client polls only when it has no socket). Locally (`tpg serve`) the
        # stack pushes through its own in-process management API, which has no endpoint.
        if (
            self.dispatch_mode == "lambda"
            and self.realtime_websocket_url is not None
            and self.realtime_management_endpoint is None
        ):
            raise ValueError("REALTIME_WEBSOCKET_URL needs REALTIME_MANAGEMENT_ENDPOINT (pushes go there)")
        return self

    @field_validator("llm_tiers")
    @classmethod
    def _known_llm_tiers(cls, value: str) -> str:
        # The names of tpg.generation.claude.client.TIERS (a unit test keeps the two equal).
        names = value.split(",")
        unknown = set(names) - LLM_TIER_NAMES
        if unknown:
            raise ValueError(f"LLM_TIERS: unknown tier(s); known: {', '.join(sorted(LLM_TIER_NAMES))}")
        if len(set(names)) != len(names):  # a tier twice would spend the job's budget asking again
            raise ValueError("LLM_TIERS: a tier is named twice")
        return value

    @field_validator("llm_prices")
    @classmethod
    def _prices_json(cls, value: str) -> str:
        # The shape is checked where prices are read (tpg.generation.claude.pricing); here: JSON.
        try:
            if not isinstance(json.loads(value), dict):
                raise ValueError
        except ValueError:
            raise ValueError(
                'LLM_PRICES: a JSON object {"model": [input, output(, cache_read)]} in USD per MTok'
            ) from None
        return value

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from `environ` (default: the process environment), by each field's variable."""
        source: Mapping[str, str] = os.environ if environ is None else environ

        def read(name: str) -> str | None:
            return source.get(name) or None

        values: dict[str, object] = {}
        for field_name, info in cls.model_fields.items():
            extra = info.json_schema_extra
            name = extra.get("env") if isinstance(extra, dict) else None
            if isinstance(name, str) and (value := read(name)) is not None:
                values[field_name] = value
        in_lambda = read("AWS_LAMBDA_FUNCTION_NAME") is not None
        values.setdefault("dispatch_mode", "lambda" if in_lambda else "local")
        has_key = read("ANTHROPIC_API_KEY") or read("ANTHROPIC_API_KEY_SECRET_ARN")
        values.setdefault("llm_provider", "anthropic" if has_key else "offline")
        return cls.model_validate(values)

    @property
    def jwt_signing_secret(self) -> str:
        secret = self._resolve(self.jwt_secret, self.jwt_secret_arn)
        if secret is None:
            raise RuntimeError("JWT_SECRET is not configured")
        return secret

    @property
    def database_url_value(self) -> str | None:
        return self._resolve(self.database_url, self.database_url_secret_arn)

    @property
    def anthropic_api_key_value(self) -> str | None:
        return self._resolve(self.anthropic_api_key, self.anthropic_api_key_secret_arn)

    def _resolve(self, plain: SecretStr | None, arn: str | None) -> str | None:
        if plain is not None:
            return plain.get_secret_value()
        if arn is None:
            return None
        from tpg.platform.aws import secrets_provider  # only where secrets live in AWS

        value = secrets_provider().get(arn, max_age=self.secrets_max_age_seconds)
        return value.decode() if isinstance(value, bytes) else value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """`Settings.from_environment()`, cached: for the local `tpg` tooling only (the layer and the
    handlers never call it; they are given their settings)."""
    return Settings.from_environment()
