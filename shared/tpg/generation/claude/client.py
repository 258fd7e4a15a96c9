"""Claude as a `ProgramProvider`: streaming structured output, one retry layer, a per-job budget.

- The SDK client is created lazily, cached per (key, base URL, timeouts) and reused across warm
  invocations, with `max_retries=0`: tenacity below is the only retry layer (anthropic-sdk.md C3).
- Each call streams (`messages.stream`) so progress comes from the stream and no request hits the
  SDK's non-streaming 10-minute guard. The response schema is sent as
  `output_config.format` built exactly as the SDK's `output_format=` helper builds it
  (`transform_schema` of the pydantic JSON schema); we parse the text ourselves after the stream
  ends, because the helper parses at `content_block_stop`, before `message_delta` tells us the
  stop reason, and a truncated answer (`max_tokens`) must be told apart from a malformed one.
- Retried: 408/409/429/5xx/529, connection errors, timeouts, and errors that arrive inside the
  stream (`APIStatusError` with status 200 and an overloaded/api error type). `retry-after-ms` /
  `retry-after` is honoured; a pause longer than `llm_max_retry_after_seconds`, or longer than the
  job's remaining budget, ends the tier instead. Never retried: other 4xx, refusals, truncated or
  malformed output (those go to the next tier, see tpg.pipeline).
- `LlmBudget` is shared by the tiers of one job: at most `llm_max_requests_per_job` HTTP requests
  and `llm_budget_seconds` of wall time, waits included.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast

import anthropic
import httpx2
from anthropic.types import MessageParam, TextBlockParam
from pydantic import TypeAdapter, ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_random_exponential

from tpg.generation.claude.prompt import (
    Ask,
    expected_output_chars,
    repair_message,
    system_blocks,
    user_message,
)
from tpg.generation.claude.schemas import TemplateWeekPlan, expand_template
from tpg.generation.ports import GenerationRequest, LlmUsage, ProviderResult, TierError
from tpg.platform.observability import Metric, count, logger, milliseconds
from tpg.platform.settings import Settings
from tpg.platform.text import PLAIN_TEXT_PATTERN
from tpg.training.analysis import EnhancedUserData
from tpg.training.formulas import with_catalog_names
from tpg.training.program import TrainingProgram
from tpg.training.report import Violation
from tpg.training.validation import ProgramSchemaError, Severity, ValidationReport, parse_program

# Below this many seconds of budget a new request is not worth starting.
MIN_REQUEST_SECONDS = 1.0

_RETRYABLE_STATUS = frozenset({408, 409, 429})
# error.type values of an SSE `error` event that are worth another attempt.
_RETRYABLE_STREAM_ERROR_TYPES = frozenset(
    {"overloaded_error", "rate_limit_error", "api_error", "timeout_error"}
)


class BudgetSpent(Exception):
    """The job's LLM budget (requests or time) is used up."""


class CallTimedOut(Exception):
    """One streamed request ran past its whole-request deadline."""


class LlmBudget:
    """What one job may spend on LLM calls, shared by its tiers. The clock starts at first use."""

    def __init__(
        self, *, max_requests: int, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_requests = max_requests
        self.seconds = seconds
        self.requests = 0
        self._clock = clock
        self._started: float | None = None

    def remaining_seconds(self) -> float:
        if self._started is None:
            self._started = self._clock()
        return self.seconds - (self._clock() - self._started)

    def requests_left(self) -> int:
        return self.max_requests - self.requests

    def take_request(self) -> None:
        if self.requests_left() <= 0 or self.remaining_seconds() < MIN_REQUEST_SECONDS:
            raise BudgetSpent
        self.requests += 1


@lru_cache(maxsize=4)
def _client(api_key: str, base_url: str | None, connect: float, read: float) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key=api_key,
        base_url=base_url,
        max_retries=0,  # one retry layer: ours
        timeout=httpx2.Timeout(read, connect=connect),
    )


def get_client(settings: Settings) -> anthropic.Anthropic:
    """The SDK client for these settings, created on first use and reused across invocations."""
    api_key = settings.anthropic_api_key_value
    if not api_key:
        raise TierError("LLM_NOT_CONFIGURED", scope="provider")
    return _client(
        api_key,
        settings.anthropic_base_url,
        settings.llm_connect_timeout_seconds,
        settings.llm_read_timeout_seconds,
    )


# --- Classification ----------------------------------------------------------------------------


def is_transient(exc: BaseException) -> bool:
    """Worth the same request again: overload, rate limit, server error, timeout, broken connection."""
    if isinstance(exc, CallTimedOut | anthropic.APIConnectionError | httpx2.TransportError):
        return True
    if isinstance(exc, anthropic.APIStatusError):
        if exc.status_code == 200:  # an SSE `error` event inside a 200 stream
            return _stream_error_type(exc) in _RETRYABLE_STREAM_ERROR_TYPES
        return exc.status_code in _RETRYABLE_STATUS or exc.status_code >= 500
    return False


def error_kind(exc: anthropic.APIStatusError) -> str | None:
    """The LlmErrorResponses kind of an error answer: `rate_limited` (429, a stream's
    rate_limit_error), `server_error` (5xx, 529 overloaded, a stream's api/overloaded error), else None."""
    if exc.status_code == 200:  # an SSE `error` event inside a 200 stream
        return _STREAM_ERROR_KINDS.get(_stream_error_type(exc) or "")
    if exc.status_code == 429:
        return "rate_limited"
    return "server_error" if exc.status_code >= 500 else None


_STREAM_ERROR_KINDS = {
    "rate_limit_error": "rate_limited",
    "overloaded_error": "server_error",
    "api_error": "server_error",
}


def _stream_error_type(exc: anthropic.APIStatusError) -> str | None:
    if getattr(exc, "type", None):
        return exc.type
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"].get("type")
    return None


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, CallTimedOut | anthropic.APITimeoutError | httpx2.TimeoutException)


def retry_after_seconds(exc: BaseException | None) -> float | None:
    """The server's requested pause (`retry-after-ms`, then `retry-after` seconds or HTTP date)."""
    response = getattr(exc, "response", None)
    if response is None or response.status_code == 200:
        return None
    headers = response.headers
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(ms) / 1000)
        if (value := headers.get("retry-after")) is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                when = email.utils.parsedate_to_datetime(value)
                return max(0.0, (when - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None
    return None


# --- The provider ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Answer:
    text: str
    stop_reason: str | None
    usage: LlmUsage


_SCHEMAS: dict[Ask, dict[str, Any]] = {}


def output_schema(ask: Ask) -> dict[str, Any]:
    """The response schema as the SDK's `output_format=` helper would send it."""
    if ask not in _SCHEMAS:
        model = TrainingProgram if ask == "full" else TemplateWeekPlan
        schema = _without_plain_text_pattern(TypeAdapter(model).json_schema())
        _SCHEMAS[ask] = anthropic.transform_schema(schema)
    return _SCHEMAS[ask]


def _without_plain_text_pattern(node: Any) -> Any:
    """The schema without `PlainText`'s pattern: the SDK would move it into every text field's
    description (about 300 characters each, 2.8 KB in all) where it constrains nothing; the
    validator refuses those characters either way (`parse_program`)."""
    if isinstance(node, dict):
        return {
            key: _without_plain_text_pattern(value)
            for key, value in node.items()
            if not (key == "pattern" and value == PLAIN_TEXT_PATTERN)
        }
    if isinstance(node, list):
        return [_without_plain_text_pattern(item) for item in node]
    return node


class ClaudeProvider:
    """One tier: an ask (`full` program or `template` week) on one model."""

    name = "anthropic"

    def __init__(
        self,
        *,
        tier: str,
        model: str,
        ask: Ask,
        settings: Settings,
        budget: LlmBudget,
        client: Callable[[], anthropic.Anthropic] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.tier = tier
        self.model = model
        self.ask: Ask = ask
        self.settings = settings
        self.budget = budget
        self._client = client or (lambda: get_client(settings))
        self._sleep = sleep
        self._backoff = wait_random_exponential(
            multiplier=settings.llm_backoff_initial_seconds, max=settings.llm_backoff_max_seconds
        )

    # -- ProgramProvider ------------------------------------------------------------------------

    def generate(
        self, data: EnhancedUserData, request: GenerationRequest, *, on_progress: Callable[[int], None]
    ) -> ProviderResult:
        messages: list[MessageParam] = [
            {
                "role": "user",
                "content": user_message(data, ask=self.ask, weeks=request.weeks, request_notes=request.notes),
            }
        ]
        return self._run(data, request, messages, on_progress)

    def repair(
        self,
        data: EnhancedUserData,
        request: GenerationRequest,
        previous: ProviderResult,
        report: ValidationReport,
        *,
        on_progress: Callable[[int], None],
    ) -> ProviderResult:
        errors = [v for v in report.violations if v.severity == Severity.ERROR]
        # Every kind of error first (the list is capped): the first of each code, then the rest.
        firsts: dict[str, Violation] = {}
        for violation in errors:
            firsts.setdefault(violation.code, violation)
        errors = [*firsts.values(), *(v for v in errors if v not in firsts.values())]
        messages: list[MessageParam] = [
            {
                "role": "user",
                "content": user_message(data, ask=self.ask, weeks=request.weeks, request_notes=request.notes),
            },
            {"role": "assistant", "content": previous.raw_output or ""},
            {"role": "user", "content": repair_message([f"{v.code.value}: {v.message}" for v in errors])},
        ]
        return self._run(data, request, messages, on_progress)

    # -- One call: retries around one streamed request --------------------------------------------

    def _run(
        self,
        data: EnhancedUserData,
        request: GenerationRequest,
        messages: list[MessageParam],
        on_progress: Callable[[int], None],
    ) -> ProviderResult:
        max_tokens = (
            self.settings.llm_max_tokens_full if self.ask == "full" else self.settings.llm_max_tokens_template
        )
        expected = expected_output_chars(data, ask=self.ask, weeks=request.weeks)
        answer = self._call(messages, max_tokens=max_tokens, expected_chars=expected, on_progress=on_progress)
        program = self._parse(answer, data, request)
        return ProviderResult(program=program, model=self.model, usage=answer.usage, raw_output=answer.text)

    def _call(
        self,
        messages: list[MessageParam],
        *,
        max_tokens: int,
        expected_chars: int,
        on_progress: Callable[[int], None],
    ) -> _Answer:
        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            stop=self._stop,
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        requests_before = self.budget.requests

        def spent() -> LlmUsage:  # HTTP requests of this call so far, failed ones included
            return LlmUsage(requests=self.budget.requests - requests_before)

        try:
            answer: _Answer = retrying(self._stream_once, messages, max_tokens, expected_chars, on_progress)
        except BudgetSpent:
            raise TierError("LLM_BUDGET_EXHAUSTED", scope="provider", usage=spent()) from None
        except (anthropic.AuthenticationError, anthropic.PermissionDeniedError) as exc:
            logger.error("LLM credentials rejected", extra={"status": exc.status_code})
            raise TierError("LLM_AUTH", scope="provider", usage=spent()) from None
        except anthropic.APIStatusError as exc:
            usage = spent()
            if is_transient(exc):
                # Retries spent (or a retry-after beyond what we wait): this model is unavailable now.
                raise TierError("LLM_UNAVAILABLE", scope="model", usage=usage) from None
            # 400/404/413/422...: this model will not take this request; retrying cannot help.
            logger.error("LLM request rejected", extra={"status": exc.status_code, "tier": self.tier})
            raise TierError("LLM_REJECTED", scope="model", usage=usage) from None
        except (CallTimedOut, anthropic.APIConnectionError, httpx2.TransportError) as exc:
            usage = spent()
            if _is_timeout(exc):
                # Too slow for this ask: a smaller ask may still fit the time.
                raise TierError("LLM_TIMEOUT", scope="tier", usage=usage) from None
            raise TierError("LLM_UNREACHABLE", scope="provider", usage=usage) from None
        return replace(answer, usage=replace(answer.usage, requests=spent().requests))

    def _stream_once(
        self,
        messages: list[MessageParam],
        max_tokens: int,
        expected_chars: int,
        on_progress: Callable[[int], None],
    ) -> _Answer:
        try:
            return self._stream_request(messages, max_tokens, expected_chars, on_progress)
        except anthropic.APIStatusError as exc:
            if (kind := error_kind(exc)) is not None:
                count(Metric.LLM_ERROR_RESPONSES, dimensions={"Kind": kind})
            raise

    def _stream_request(
        self,
        messages: list[MessageParam],
        max_tokens: int,
        expected_chars: int,
        on_progress: Callable[[int], None],
    ) -> _Answer:
        client = self._client()
        self.budget.take_request()
        count(Metric.LLM_REQUESTS)
        started = time.monotonic()
        allowed = min(self.settings.llm_request_timeout_seconds, self.budget.remaining_seconds())
        deadline = started + allowed
        # A stalled stream is cut by the idle-read timeout, never later than the request's deadline.
        timeout = httpx2.Timeout(
            min(self.settings.llm_read_timeout_seconds, allowed),
            connect=min(self.settings.llm_connect_timeout_seconds, allowed),
        )
        shown = -1
        with client.messages.stream(
            model=self.model,
            max_tokens=max_tokens,
            system=cast("list[TextBlockParam]", system_blocks()),
            messages=messages,
            output_config={"format": {"type": "json_schema", "schema": output_schema(self.ask)}},
            timeout=timeout,
        ) as stream:
            for event in stream:
                if time.monotonic() > deadline:
                    raise CallTimedOut
                if event.type == "text":
                    pct = min(99, len(event.snapshot) * 100 // max(1, expected_chars))
                    if pct > shown:
                        shown = pct
                        on_progress(pct)
            message = stream.get_final_message()
        latency_ms = round((time.monotonic() - started) * 1000)
        usage = LlmUsage(
            requests=1,
            input_tokens=message.usage.input_tokens or 0,
            output_tokens=message.usage.output_tokens or 0,
            cache_read_input_tokens=message.usage.cache_read_input_tokens or 0,
            cache_creation_input_tokens=message.usage.cache_creation_input_tokens or 0,
            latency_ms=latency_ms,
        )
        for kind, tokens in (
            ("input", usage.input_tokens),
            ("output", usage.output_tokens),
            ("cache_read", usage.cache_read_input_tokens),
            ("cache_write", usage.cache_creation_input_tokens),
        ):
            count(Metric.LLM_TOKENS, tokens or 0, dimensions={"Kind": kind})
        milliseconds(Metric.LLM_LATENCY, latency_ms)
        text = "".join(block.text for block in message.content if block.type == "text")
        return _Answer(text=text, stop_reason=message.stop_reason, usage=usage)

    def _parse(self, answer: _Answer, data: EnhancedUserData, request: GenerationRequest) -> TrainingProgram:
        usage = answer.usage
        if answer.stop_reason == "refusal":
            # The same user data goes to every LLM tier: the offline engine serves this user.
            raise TierError("LLM_REFUSED", scope="provider", usage=usage)
        if answer.stop_reason in ("max_tokens", "model_context_window_exceeded"):
            raise TierError("LLM_TRUNCATED", scope="tier", validation_level="basic", usage=usage)
        try:
            if self.ask == "full":
                program = with_catalog_names(parse_program(answer.text))
                return program.model_copy(update={"name": request.name}) if request.name else program
            plan = TemplateWeekPlan.model_validate_json(answer.text)
            return with_catalog_names(expand_template(plan, data, weeks=request.weeks, name=request.name))
        except (ProgramSchemaError, ValidationError, json.JSONDecodeError):
            raise TierError(
                "LLM_SCHEMA_INVALID", scope="tier", validation_level="basic", usage=usage
            ) from None

    # -- tenacity hooks -------------------------------------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        server_asks = retry_after_seconds(exc)
        return server_asks if server_asks is not None else self._backoff(state)

    def _stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self.settings.llm_max_attempts:
            return True
        if self.budget.requests_left() <= 0:
            return True
        pause = state.upcoming_sleep
        if pause > self.settings.llm_max_retry_after_seconds:
            return True
        return pause + MIN_REQUEST_SECONDS > self.budget.remaining_seconds()

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        count(Metric.LLM_RETRIES)
        logger.warning(
            "LLM request failed; retrying",
            extra={
                "tier": self.tier,
                "attempt": state.attempt_number,
                "error": type(exc).__name__,
                "status": getattr(exc, "status_code", None),
                "wait_seconds": round(state.upcoming_sleep, 3),
            },
        )


def claude_tiers(
    settings: Settings, *, client: Callable[[], anthropic.Anthropic] | None = None
) -> list[ClaudeProvider]:
    """The LLM tiers of one job, most ambitious first, sharing one budget (docs/llm-pipeline.md)."""
    budget = LlmBudget(max_requests=settings.llm_max_requests_per_job, seconds=settings.llm_budget_seconds)
    common: dict[str, Any] = {"settings": settings, "budget": budget, "client": client}
    return [
        ClaudeProvider(tier="full", model=settings.anthropic_model, ask="full", **common),
        ClaudeProvider(tier="template", model=settings.anthropic_model, ask="template", **common),
        ClaudeProvider(tier="template_small", model=settings.anthropic_small_model, ask="template", **common),
    ]
