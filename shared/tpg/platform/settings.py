"""One settings model, read from the environment once, lazily."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

# Local development only: the `tpg` command sets it as JWT_SECRET when none is given, and prints
# it. The service itself has no fallback: without a configured secret every token is refused.
DEV_JWT_SECRET = "local-dev-secret-change-me-0123456789abcdef"  # noqa: S105


class Settings(BaseModel):
    model_config = {"frozen": True}

    # Each secret is given either as plain text (local runs) or as a Secrets Manager ARN (AWS),
    # resolved on use through Powertools' cache so a rotated value is picked up within max_age.
    database_url: SecretStr | None = None
    database_url_secret_arn: str | None = None
    jwt_secret: SecretStr | None = None
    jwt_secret_arn: str | None = None
    anthropic_api_key: SecretStr | None = None
    anthropic_api_key_secret_arn: str | None = None
    secrets_max_age_seconds: int = Field(default=300, ge=0)
    openapi_enabled: bool = True
    jwt_audience: str = "authenticated"
    jwt_issuer: str | None = None
    generate_function_name: str | None = None
    dispatch_mode: Literal["lambda", "local"] = "local"
    llm_provider: Literal["anthropic", "offline"] = "offline"
    anthropic_model: str = "claude-sonnet-5-5"
    # Paces the offline engine like an LLM call (demo, benchmarks); 0 = as fast as it runs.
    offline_latency_seconds: float = Field(default=0.0, ge=0, le=120)

    max_body_bytes: int = Field(default=16 * 1024, ge=256)
    # New generations per user per rolling 24 h when the subscription's tier has no row in
    # subscription_tiers (the table is where operators set it per tier).
    default_daily_quota: int = Field(default=5, ge=0)
    # Reliability knobs (see docs/decisions.md): a claim holds a lease; attempts are bounded.
    # The lease must outlive the generate function's timeout, so a live worker is never reclaimed.
    lease_seconds: int = Field(default=960, ge=1)
    max_attempts: int = Field(default=3, ge=1, le=10)
    pending_redispatch_after_seconds: int = Field(default=120, ge=1)
    # Re-dispatch waits double per unanswered dispatch up to the cap (under 2x the lease, so a
    # waiting row never looks stuck). A pending row dispatched this many times without being
    # claimed is failed: 120+240+480+900x5 s ~ 1.5 h with the defaults, longer than the hour
    # generate's throttled events are kept (I5: bounded time, and a backlog waits, not fails).
    redispatch_max_interval_seconds: int = Field(default=900, ge=1)
    max_dispatches: int = Field(default=8, ge=1)
    sweep_batch_size: int = Field(default=100, ge=1, le=1000)
    db_statement_timeout_ms: int = Field(default=15_000, ge=100)

    # The LLM pipeline (docs/llm-pipeline.md). ANTHROPIC_BASE_URL points the SDK elsewhere (tests:
    # the local fake server). The small model serves the last LLM tier.
    anthropic_base_url: str | None = None
    anthropic_small_model: str = "claude-haiku-5-5"
    # Everything the LLM tiers of one job may spend, waits included; the generate Lambda's timeout
    # (720 s) leaves 120 s above it for the claim, the offline tier and the save.
    llm_budget_seconds: float = Field(default=600, gt=0, le=900)
    # One HTTP request: connect, idle-read (between two streamed chunks) and whole-request limits.
    llm_connect_timeout_seconds: float = Field(default=5, gt=0, le=60)
    llm_read_timeout_seconds: float = Field(default=60, gt=0, le=600)
    llm_request_timeout_seconds: float = Field(default=300, gt=0, le=900)
    # One retry layer (tenacity; the SDK's own retries are off): attempts per LLM call, HTTP requests
    # per job over all tiers, full-jitter backoff, and the longest retry-after we wait for.
    llm_max_attempts: int = Field(default=3, ge=1, le=6)
    llm_max_requests_per_job: int = Field(default=8, ge=1, le=30)
    llm_backoff_initial_seconds: float = Field(default=1.0, ge=0, le=30)
    llm_backoff_max_seconds: float = Field(default=20.0, ge=0, le=120)
    llm_max_retry_after_seconds: float = Field(default=60.0, ge=0, le=300)
    llm_max_tokens_full: int = Field(default=48_000, ge=1024, le=128_000)
    llm_max_tokens_template: int = Field(default=12_000, ge=1024, le=128_000)
    # A completed LLM program with the same request fingerprint is reused for this long; 0 = off.
    result_cache_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=0)

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
        from aws_lambda_powertools.utilities import parameters  # only where secrets live in AWS

        return parameters.get_secret(arn, max_age=self.secrets_max_age_seconds)


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    in_lambda = _env("AWS_LAMBDA_FUNCTION_NAME") is not None
    values: dict[str, object] = {
        "dispatch_mode": _env("DISPATCH_MODE") or ("lambda" if in_lambda else "local"),
        "llm_provider": _env("LLM_PROVIDER")
        or ("anthropic" if _env("ANTHROPIC_API_KEY") or _env("ANTHROPIC_API_KEY_SECRET_ARN") else "offline"),
    }
    optional = {
        "database_url": "DATABASE_URL",
        "database_url_secret_arn": "DATABASE_URL_SECRET_ARN",
        "jwt_secret": "JWT_SECRET",
        "jwt_secret_arn": "JWT_SECRET_ARN",
        "anthropic_api_key": "ANTHROPIC_API_KEY",
        "anthropic_api_key_secret_arn": "ANTHROPIC_API_KEY_SECRET_ARN",
        "secrets_max_age_seconds": "POWERTOOLS_PARAMETERS_MAX_AGE",
        "openapi_enabled": "OPENAPI_ENABLED",
        "jwt_audience": "JWT_AUDIENCE",
        "jwt_issuer": "JWT_ISSUER",
        "generate_function_name": "GENERATE_FUNCTION_NAME",
        "anthropic_model": "ANTHROPIC_MODEL",
        "max_body_bytes": "MAX_BODY_BYTES",
        "default_daily_quota": "GENERATION_DAILY_QUOTA",
        "offline_latency_seconds": "OFFLINE_LATENCY_SECONDS",
        "lease_seconds": "GENERATION_LEASE_SECONDS",
        "max_attempts": "GENERATION_MAX_ATTEMPTS",
        "pending_redispatch_after_seconds": "PENDING_REDISPATCH_AFTER_SECONDS",
        "max_dispatches": "GENERATION_MAX_DISPATCHES",
        "redispatch_max_interval_seconds": "PENDING_REDISPATCH_MAX_INTERVAL_SECONDS",
        "sweep_batch_size": "SWEEP_BATCH_SIZE",
        "db_statement_timeout_ms": "DB_STATEMENT_TIMEOUT_MS",
        "anthropic_base_url": "ANTHROPIC_BASE_URL",
        "anthropic_small_model": "ANTHROPIC_SMALL_MODEL",
        "llm_budget_seconds": "GENERATION_LLM_BUDGET_SECONDS",
        "llm_connect_timeout_seconds": "LLM_CONNECT_TIMEOUT_SECONDS",
        "llm_read_timeout_seconds": "LLM_READ_TIMEOUT_SECONDS",
        "llm_request_timeout_seconds": "LLM_REQUEST_TIMEOUT_SECONDS",
        "llm_max_attempts": "LLM_MAX_ATTEMPTS",
        "llm_max_requests_per_job": "LLM_MAX_REQUESTS_PER_JOB",
        "llm_backoff_initial_seconds": "LLM_BACKOFF_INITIAL_SECONDS",
        "llm_backoff_max_seconds": "LLM_BACKOFF_MAX_SECONDS",
        "llm_max_retry_after_seconds": "LLM_MAX_RETRY_AFTER_SECONDS",
        "llm_max_tokens_full": "LLM_MAX_TOKENS_FULL",
        "llm_max_tokens_template": "LLM_MAX_TOKENS_TEMPLATE",
        "result_cache_ttl_seconds": "RESULT_CACHE_TTL_SECONDS",
    }
    for field, env_name in optional.items():
        value = _env(env_name)
        if value is not None:
            values[field] = value
    return Settings.model_validate(values)
