"""Claude as a `ProgramProvider`: streaming structured output, one retry layer, a per-job budget.

- The SDK client is created lazily, cached per (key, base URL, timeouts) and reused across warm
  invocations, with `max_retries=0`: tenacity below is the only retry layer (anthropic-sdk.md C3).
- Each call streams (`messages.stream`) so progress comes from the stream (thinking and text) and
  no request hits the SDK's non-streaming 10-minute guard. The response schema is sent as
  `output_config.format` built exactly as the SDK's `output_format=` helper builds it
  (`transform_schema` of the pydantic JSON schema), with `output_config.effort` and `thinking`
  set explicitly; we parse the text ourselves after the stream ends, because a truncated answer
  (`max_tokens`) must be told apart from a malformed one.
- An ask is started only when its expected output fits the job's time left, and gets a deadline
  sized to it. Retried: 408/409/429/5xx/529, connection errors, and errors that arrive inside the
  stream (`APIStatusError` with status 200 and an overloaded/api error type). `retry-after-ms` /
  `retry-after` is honoured; a pause longer than `llm_max_retry_after_seconds`, or longer than the
  job's remaining budget, ends the tier instead. Never retried: a deadline or timeout (the next,
  smaller or faster, tier runs instead), other 4xx, refusals, truncated or malformed output.
- `LlmBudget` is shared by the tiers of one job: at most `llm_max_requests_per_job` HTTP requests
  and `llm_budget_seconds` of wall time, waits included.
- `GenerationCancelled` raised by the progress callback leaves the stream's context (closing the
  HTTP response) and propagates as it is: never retried, never a tier failure.
- A stream cut before its end (a deadline, a cancellation, an error mid-stream) is billed all the
  same: its usage is taken from `message_start` and its output estimated from what streamed
  (`aborted_usage`), and carried with the call's outcome (answer, `TierError`, or the cancellation).
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast

import anthropic
import httpx2
from anthropic.types import MessageParam, TextBlockParam
from pydantic import TypeAdapter, ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_random_exponential

from tpg.generation.claude.pricing import cost_usd, price_table
from tpg.generation.claude.prompt import (
    CHARS_PER_TOKEN,
    EXPECTED_THINKING_TOKENS,
    MAX_REPAIR_VIOLATIONS,
    Ask,
    estimate_tokens,
    expected_output_tokens,
    repair_message,
    system_blocks,
    user_message,
)
from tpg.generation.claude.schemas import CompactPlan, clamp_compact, expand_compact, notes_left_out
from tpg.generation.ports import (
    GenerationCancelled,
    GenerationRequest,
    LlmUsage,
    ProviderResult,
    RepairHint,
    TierError,
)
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
# The progress callback is also the worker's cancel checkpoint: it is called at least this often
# while events stream or a retry waits, whether or not the percentage rose (it paces its own reads).
CHECKPOINT_SECONDS = 0.5

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
    """Worth the same request again: overload, rate limit, server error, a broken connection.

    A deadline or timeout is not: the same ask would most likely run out of time again, and the
    time is better spent on the next tier's smaller or faster ask."""
    if _is_timeout(exc):
        return False
    if isinstance(exc, anthropic.APIConnectionError | httpx2.TransportError):
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


# --- The request ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Answer:
    text: str
    stop_reason: str | None
    usage: LlmUsage


_SCHEMAS: dict[Ask, dict[str, Any]] = {}


def output_schema(ask: Ask) -> dict[str, Any]:
    """The response schema as the SDK's `output_format=` helper would send it (a constant per ask,
    so it never splits a prompt-cache entry)."""
    if ask not in _SCHEMAS:
        model = TrainingProgram if ask == "full" else CompactPlan
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


def first_message(data: EnhancedUserData, request: GenerationRequest, ask: Ask) -> MessageParam:
    """The ask's user turn. Its block carries a 5-minute breakpoint: a repair round repeats it word
    for word and then reads it from the cache (docs/llm-pipeline.md, "Caching")."""
    text = user_message(data, ask=ask, weeks=request.weeks, request_notes=request.notes)
    return {
        "role": "user",
        "content": [{"type": "text", "text": text, "cache_control": {"type": "ephemeral", "ttl": "5m"}}],
    }


def request_params(
    settings: Settings, *, model: str, ask: Ask, messages: list[MessageParam], max_tokens: int
) -> dict[str, Any]:
    """The Messages API parameters of one ask (streamed here; batched by `make llm-eval`)."""
    thinking: dict[str, Any] = {"type": settings.llm_thinking}
    if settings.llm_thinking == "adaptive":
        thinking["display"] = "summarized"  # thinking deltas keep progress moving
    return {
        "model": model,
        "max_tokens": max_tokens,
        "system": cast("list[TextBlockParam]", system_blocks(settings.llm_cache_ttl)),
        "messages": messages,
        "output_config": {
            "effort": settings.llm_effort,
            "format": {"type": "json_schema", "schema": output_schema(ask)},
        },
        "thinking": thinking,
    }


def max_tokens_for(settings: Settings, ask: Ask) -> int:
    return settings.llm_max_tokens_full if ask == "full" else settings.llm_max_tokens_compact


def expected_answer_tokens(settings: Settings, data: EnhancedUserData, *, ask: Ask, weeks: int) -> int:
    """Output tokens an ask is expected to take, thinking included."""
    thinking = EXPECTED_THINKING_TOKENS[settings.llm_effort] if settings.llm_thinking == "adaptive" else 0
    return expected_output_tokens(data, ask=ask, weeks=weeks) + thinking


def usage_of(
    message: Any, settings: Settings, model: str, *, batch: bool = False, turn_tokens: int = 0
) -> LlmUsage:
    """A Message's usage as ours: tokens (thinking included in output), and the cost of it.
    `turn_tokens`: the estimated size of the request's 5-minute user-turn entry, if it had one."""
    usage = message.usage
    details = getattr(usage, "output_tokens_details", None)
    return _priced(
        usage,
        settings,
        model,
        output_tokens=usage.output_tokens or 0,
        thinking_tokens=getattr(details, "thinking_tokens", None) or 0,
        batch=batch,
        turn_tokens=turn_tokens,
    )


def cache_writes_by_ttl(usage: Any, settings: Settings, *, turn_tokens: int = 0) -> tuple[int, int]:
    """(5-minute, 1-hour) cache writes of a usage: the API's split (`cache_creation`) when it
    reports one. Otherwise each breakpoint's TTL decides: the system prefix at `LLM_CACHE_TTL`, the
    first user turn (when marked, `turn_tokens` of it, estimated) at 5 minutes. A request that read
    from the cache read the prefix at least, so what it wrote is the user turn's; one that read
    nothing wrote the prefix and, after it, the turn."""
    written = usage.cache_creation_input_tokens or 0
    split = getattr(usage, "cache_creation", None)
    write_5m = getattr(split, "ephemeral_5m_input_tokens", None)
    write_1h = getattr(split, "ephemeral_1h_input_tokens", None)
    if write_5m is not None and write_1h is not None:
        return write_5m, write_1h
    if settings.llm_cache_ttl == "5m" or usage.cache_read_input_tokens:
        return written, 0
    turn = min(written, turn_tokens)
    return turn, written - turn


def marked_turn_tokens(messages: Sequence[MessageParam]) -> int:
    """Estimated tokens of the first user turn when it carries a 5-minute breakpoint, else 0."""
    content: Any = messages[0]["content"] if messages else None
    if not isinstance(content, list) or not content:
        return 0
    marked = content[-1].get("cache_control")
    if marked is None or marked.get("ttl", "5m") != "5m":
        return 0
    return estimate_tokens("".join(block.get("text", "") for block in content))


def _priced(
    usage: Any,
    settings: Settings,
    model: str,
    *,
    output_tokens: int,
    thinking_tokens: int,
    estimated_output_tokens: int | None = None,
    batch: bool = False,
    turn_tokens: int = 0,
) -> LlmUsage:
    """Input and cache counts of an API usage object, the output given, and what it all cost."""
    write_5m, write_1h = cache_writes_by_ttl(usage, settings, turn_tokens=turn_tokens)
    counts = {
        "input_tokens": usage.input_tokens or 0,
        "output_tokens": output_tokens,
        "cache_read_tokens": usage.cache_read_input_tokens or 0,
    }
    cost = cost_usd(
        price_table(settings.llm_prices),
        model,
        **counts,
        cache_write_5m_tokens=write_5m,
        cache_write_1h_tokens=write_1h,
        batch=batch,
    )
    return LlmUsage(
        input_tokens=counts["input_tokens"],
        output_tokens=counts["output_tokens"],
        cache_read_input_tokens=counts["cache_read_tokens"],
        cache_creation_input_tokens=usage.cache_creation_input_tokens or 0,
        thinking_tokens=thinking_tokens,
        estimated_output_tokens=estimated_output_tokens,
        cost_usd=cost,
    )


def aborted_usage(
    start_usage: Any,
    settings: Settings,
    model: str,
    *,
    thought_chars: int,
    answer_chars: int,
    turn_tokens: int = 0,
) -> LlmUsage:
    """What a stream cut before its end (deadline, cancellation, an error mid-stream) was billed:
    its input and cache counts as `message_start` reported them, and the output it had streamed,
    estimated from the characters received (`estimated_output_tokens`). The thinking estimate is a
    floor: with `display: "summarized"` the stream carries a summary of what was billed."""
    thinking = math.ceil(thought_chars / CHARS_PER_TOKEN)
    output = thinking + math.ceil(answer_chars / CHARS_PER_TOKEN)
    return _priced(
        start_usage,
        settings,
        model,
        output_tokens=output,
        thinking_tokens=thinking,
        estimated_output_tokens=output,
        turn_tokens=turn_tokens,
    )


def answer_text(message: Any) -> str:
    """The answer's text blocks (thinking and redacted thinking blocks are not the answer)."""
    return "".join(block.text for block in message.content if block.type == "text")


# --- Reading an answer -----------------------------------------------------------------------------


def _schema_problems(errors: list[Any]) -> tuple[str, ...]:
    """pydantic's findings as lines a model can act on: where (1-based days and exercises), what."""
    lines = []
    for error in errors[:MAX_REPAIR_VIOLATIONS]:
        where = ".".join(
            str(part + 1) if isinstance(part, int) else str(part) for part in error.get("loc", ())
        )
        value = error.get("input")
        shown = f" (got {value!r})" if isinstance(value, int | float | str) and len(repr(value)) <= 40 else ""
        lines.append(f"SCHEMA: {where or 'answer'}: {error.get('msg', 'invalid')}{shown}")
    return tuple(lines)


def parse_answer(
    text: str, stop_reason: str | None, data: EnhancedUserData, request: GenerationRequest, *, ask: Ask
) -> tuple[TrainingProgram, int]:
    """The program an answer stands for, and how many trivial slips code fixed on the way.

    Raises TierError: refused (every LLM tier), truncated, not JSON, or refused by the schema (then
    with a `RepairHint`: a repair round may fix it)."""
    if stop_reason == "refusal":
        # The same user data goes to every LLM tier: the offline engine serves this user.
        raise TierError("LLM_REFUSED", scope="provider")
    if stop_reason in ("max_tokens", "model_context_window_exceeded"):
        raise TierError("LLM_TRUNCATED", scope="tier", validation_level="basic")
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        raise TierError("LLM_SCHEMA_INVALID", scope="tier", validation_level="basic") from None
    fixes = 0
    try:
        if ask == "full":
            program = with_catalog_names(parse_program(document))
            return (program.model_copy(update={"name": request.name}) if request.name else program), 0
        document, fixes = clamp_compact(document)
        plan = CompactPlan.model_validate(document)
        program = expand_compact(plan, data, weeks=request.weeks, name=request.name)
        if left_out := notes_left_out(plan, data, weeks=request.weeks):
            # The app's notes (safety first) fill the program's ten: the model's last ones go, counted.
            logger.info("model notes left out for lack of room", extra={"left_out": left_out})
            fixes += left_out
        return program, fixes
    except ProgramSchemaError as exc:
        problems = _schema_problems(exc.errors)
    except ValidationError as exc:
        problems = _schema_problems(cast("list[Any]", exc.errors(include_url=False)))
    except ValueError as exc:  # the plan's shape does not fit the user's split (expand_compact)
        problems = (f"SCHEMA: {exc}",)
    raise TierError(
        "LLM_SCHEMA_INVALID",
        scope="tier",
        validation_level="basic",
        repair=RepairHint(raw_output=text, problems=problems),
        usage=LlmUsage(format_fixes=fixes),
    )


_WEEK_WORDS = (
    (re.compile(r"\b[Ww]eek \d+ day (\d+)"), r"day \1"),
    (re.compile(r"^Week \d+:\s*"), ""),
    (re.compile(r"^Week \d+ "), "The week "),
    (re.compile(r"\bin week \d+\b"), "in the week"),
)


def problem_lines(report: ValidationReport, *, ask: Ask) -> list[str]:
    """The errors of a report as repair lines: every kind of error first (the list is capped), and
    for the compact ask stated per session and exercise, once, since the model wrote one week."""
    errors = [v for v in report.violations if v.severity == Severity.ERROR]
    firsts: dict[str, Violation] = {}
    for violation in errors:
        firsts.setdefault(violation.code, violation)
    ordered = [*firsts.values(), *(v for v in errors if v not in firsts.values())]
    lines: list[str] = []
    for violation in ordered:
        message = violation.message
        if ask == "compact":
            for pattern, replacement in _WEEK_WORDS:
                message = pattern.sub(replacement, message)
        line = f"{violation.code.value}: {message}"
        if line not in lines:
            lines.append(line)
    return lines


# --- The provider ------------------------------------------------------------------------------

# An ask starts only when its expected duration (LLM_FIRST_TOKEN_SECONDS + expected output tokens /
# LLM_OUTPUT_TOKENS_PER_SECOND), times this, fits the time left.
FIT_MARGIN = 1.5
# A request's deadline: this many times its expected duration, within the request timeout and the
# time left; past it the tier ends (not retried: the next tier runs).
DEADLINE_FACTOR = 4.0


class ClaudeProvider:
    """One tier: an ask (`compact` week or `full` program) on one model."""

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

    @property
    def fingerprint_parts(self) -> tuple[str, ...]:
        """What, beside the model and the prompt, decides this tier's answer: part of the result
        cache's fingerprint (`tpg.generation.pipeline.request_fingerprint`)."""
        ask = () if self.ask == "compact" else (f"ask={self.ask}",)
        return (*ask, f"effort={self.settings.llm_effort}", f"thinking={self.settings.llm_thinking}")

    # -- ProgramProvider ------------------------------------------------------------------------

    def generate(
        self, data: EnhancedUserData, request: GenerationRequest, *, on_progress: Callable[[int], None]
    ) -> ProviderResult:
        return self._run(data, request, [first_message(data, request, self.ask)], on_progress)

    def repair(
        self,
        data: EnhancedUserData,
        request: GenerationRequest,
        raw_output: str,
        problems: ValidationReport | Sequence[str],
        *,
        on_progress: Callable[[int], None],
    ) -> ProviderResult:
        """The same ask again with the refused answer and only what was wrong with it."""
        lines = (
            problem_lines(problems, ask=self.ask)
            if isinstance(problems, ValidationReport)
            else list(problems)
        )
        messages: list[MessageParam] = [
            first_message(data, request, self.ask),
            {"role": "assistant", "content": raw_output},
            {"role": "user", "content": repair_message(lines, ask=self.ask)},
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
        expected_tokens = expected_answer_tokens(self.settings, data, ask=self.ask, weeks=request.weeks)
        settings = self.settings
        expected_seconds = (
            settings.llm_first_token_seconds + expected_tokens / settings.llm_output_tokens_per_second
        )
        if self.budget.remaining_seconds() < FIT_MARGIN * expected_seconds:
            # Starting would most likely end in a timeout: leave the time to a smaller or faster tier.
            logger.warning(
                "not enough time left for this ask",
                extra={"tier": self.tier, "expected_seconds": round(expected_seconds, 1)},
            )
            raise TierError("LLM_NO_TIME", scope="tier", usage=LlmUsage(requests=0))
        deadline = DEADLINE_FACTOR * expected_seconds
        call = _Call(
            messages=messages,
            max_tokens=max_tokens_for(self.settings, self.ask),
            expected_chars=expected_tokens * CHARS_PER_TOKEN,
            deadline_seconds=deadline,
            on_progress=on_progress,
        )
        answer = self._call(call)
        try:
            program, fixes = parse_answer(answer.text, answer.stop_reason, data, request, ask=self.ask)
        except TierError as exc:
            exc.usage = answer.usage + exc.usage
            raise
        usage = answer.usage + LlmUsage(format_fixes=fixes)
        return ProviderResult(program=program, model=self.model, usage=usage, raw_output=answer.text)

    def _call(self, call: _Call) -> _Answer:
        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            stop=self._stop,
            wait=self._wait,
            sleep=lambda seconds: self._wait_checking(call, seconds),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        requests_before = self.budget.requests

        def spent() -> LlmUsage:
            """HTTP requests of this call so far, failed ones included, and what the streams cut
            before their end were billed."""
            usage = LlmUsage(requests=self.budget.requests - requests_before)
            for aborted in call.aborted:
                usage += aborted
            return usage

        try:
            answer: _Answer = retrying(self._stream_once, call)
        except GenerationCancelled as exc:
            exc.usage = spent() + exc.usage
            raise
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
                # Too slow for this ask now: not retried; a smaller or faster tier may still fit.
                raise TierError("LLM_TIMEOUT", scope="tier", usage=usage) from None
            raise TierError("LLM_UNREACHABLE", scope="provider", usage=usage) from None
        return replace(answer, usage=replace(answer.usage, requests=None) + spent())

    def _stream_once(self, call: _Call) -> _Answer:
        try:
            return self._stream_request(call)
        except anthropic.APIStatusError as exc:
            if (kind := error_kind(exc)) is not None:
                count(Metric.LLM_ERROR_RESPONSES, dimensions={"Kind": kind})
            raise

    def _stream_request(self, call: _Call) -> _Answer:
        client = self._client()
        self.budget.take_request()
        count(Metric.LLM_REQUESTS)
        started = time.monotonic()
        allowed = min(
            self.settings.llm_request_timeout_seconds, self.budget.remaining_seconds(), call.deadline_seconds
        )
        deadline = started + allowed
        # A stalled stream is cut by the idle-read timeout, never later than the request's deadline.
        timeout = httpx2.Timeout(
            min(self.settings.llm_read_timeout_seconds, allowed),
            connect=min(self.settings.llm_connect_timeout_seconds, allowed),
        )
        params = request_params(
            self.settings, model=self.model, ask=self.ask, messages=call.messages, max_tokens=call.max_tokens
        )
        shown, thought, written = -1, 0, 0
        reported = time.monotonic()
        start_usage: Any = None  # message_start's usage: input and cache counts, billed from then on
        try:
            with client.messages.stream(**params, timeout=timeout) as stream:
                for event in stream:
                    if time.monotonic() > deadline:
                        raise CallTimedOut
                    if event.type == "message_start":
                        start_usage = event.message.usage
                        continue
                    if event.type == "thinking":
                        thought = len(event.snapshot)
                    elif event.type == "text":
                        written = len(event.snapshot)
                    else:
                        continue
                    pct = min(99, (thought + written) * 100 // max(1, int(call.expected_chars)))
                    now = time.monotonic()
                    # also when capped at 99 (a longer answer than expected): still a checkpoint
                    if pct > shown or now - reported >= CHECKPOINT_SECONDS:
                        shown, reported = max(pct, shown), now
                        call.shown[0] = max(call.shown[0], shown)
                        call.on_progress(shown)  # may raise GenerationCancelled: the stream closes
                message = stream.get_final_message()
        except BaseException:
            if start_usage is not None:  # the stream was cut after it started: billed all the same
                cut = aborted_usage(
                    start_usage,
                    self.settings,
                    self.model,
                    thought_chars=thought,
                    answer_chars=written,
                    turn_tokens=marked_turn_tokens(call.messages),
                )
                count_usage(cut)
                call.aborted.append(cut)
            raise
        latency_ms = round((time.monotonic() - started) * 1000)
        priced = usage_of(message, self.settings, self.model, turn_tokens=marked_turn_tokens(call.messages))
        usage = replace(priced, requests=1, latency_ms=latency_ms)
        count_usage(usage)
        milliseconds(Metric.LLM_LATENCY, latency_ms)
        return _Answer(text=answer_text(message), stop_reason=message.stop_reason, usage=usage)

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

    def _wait_checking(self, call: _Call, seconds: float) -> None:
        """A retry's back-off in short slices, the progress callback (the cancel checkpoint) after
        each, the last right before the next request: a cancel it sees raises and sends nothing."""
        left = seconds
        while True:
            call.on_progress(call.shown[0])
            if left <= 0:
                return
            pause = min(CHECKPOINT_SECONDS, left)
            self._sleep(pause)
            left -= pause

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


def count_usage(usage: LlmUsage) -> None:
    """The LLM token and cost metrics for what one request cost."""
    for kind, tokens in usage.token_counts():
        count(Metric.LLM_TOKENS, tokens, dimensions={"Kind": kind})
    if usage.cost_usd is not None:
        count(Metric.LLM_COST, round(usage.cost_usd * 1_000_000))


@dataclass(frozen=True, slots=True)
class _Call:
    """One LLM call (an ask or its repair) as the retry loop repeats it."""

    messages: list[MessageParam]
    max_tokens: int
    expected_chars: float
    deadline_seconds: float
    on_progress: Callable[[int], None]
    # What each stream of this call that was cut before its end was billed (`aborted_usage`).
    aborted: list[LlmUsage] = field(default_factory=list)
    # The highest percentage reported (one cell: the call is frozen), repeated by the back-off's checks.
    shown: list[int] = field(default_factory=lambda: [0])


# Each tier: the ask, and whether it runs on the main model (ANTHROPIC_MODEL) or the small one.
TIERS: dict[str, tuple[Ask, bool]] = {
    "compact": ("compact", False),
    "compact_small": ("compact", True),
    "full": ("full", False),
}


def tier_names(settings: Settings) -> list[str]:
    """The configured LLM tiers (`LLM_TIERS`), unknown names refused."""
    names = [name.strip() for name in settings.llm_tiers.split(",") if name.strip()]
    unknown = [name for name in names if name not in TIERS]
    if unknown or not names:
        raise ValueError(f"LLM_TIERS names unknown tiers; known: {', '.join(TIERS)}")
    if len(set(names)) != len(names):
        raise ValueError("LLM_TIERS names a tier twice")
    return names


def claude_tiers(
    settings: Settings, *, client: Callable[[], anthropic.Anthropic] | None = None
) -> list[ClaudeProvider]:
    """The LLM tiers of one job, in order, sharing one budget (docs/llm-pipeline.md)."""
    budget = LlmBudget(max_requests=settings.llm_max_requests_per_job, seconds=settings.llm_budget_seconds)
    tiers = []
    for name in tier_names(settings):
        ask, small = TIERS[name]
        model = settings.anthropic_small_model if small else settings.anthropic_model
        tiers.append(
            ClaudeProvider(tier=name, model=model, ask=ask, settings=settings, budget=budget, client=client)
        )
    return tiers
