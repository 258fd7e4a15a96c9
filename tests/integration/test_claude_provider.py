"""The Claude provider with the real SDK against the fake Messages API server (no network).

One tier at a time: the request on the wire, streaming progress, usage, and the retry policy
(what is retried, how often, how long it waits, what is never retried).
"""

from __future__ import annotations

import time
import uuid

import pytest

from tests.fakes.anthropic_server import (
    FakeAnthropic,
    Malformed,
    OverloadedMidStream,
    Refusal,
    Slow,
    Status,
    Trickle,
    Truncated,
    Unsafe,
    overloaded,
    rate_limited,
    settings_for,
)
from tpg.generation.claude.client import ClaudeProvider, LlmBudget, get_client
from tpg.generation.ports import GenerationRequest, TierError
from tpg.training.analysis import analyse
from tpg.training.validation import validate_program
from tpg_local.personas import persona_user_data


def _provider(fake: FakeAnthropic, *, ask: str = "full", **overrides) -> ClaudeProvider:
    settings = settings_for(fake, **overrides)
    budget = LlmBudget(max_requests=settings.llm_max_requests_per_job, seconds=settings.llm_budget_seconds)
    return ClaudeProvider(tier=ask, model=settings.anthropic_model, ask=ask, settings=settings, budget=budget)


def _data(persona: str = "shoulder_sam"):
    return analyse(persona_user_data(persona, uuid.uuid4()))


def _generate(provider: ClaudeProvider, persona: str = "shoulder_sam", weeks: int = 4, progress=None):
    return provider.generate(
        _data(persona), GenerationRequest(weeks=weeks), on_progress=progress or (lambda pct: None)
    )


def _fails(provider: ClaudeProvider) -> TierError:
    with pytest.raises(TierError) as caught:
        _generate(provider)
    return caught.value


def test_a_good_answer_streams_with_progress_usage_and_the_cached_system_prompt(fake) -> None:
    provider = _provider(fake)
    seen: list[int] = []
    result = _generate(provider, progress=seen.append)
    assert result.model == "claude-sonnet-5-5" and result.raw_output
    assert validate_program(result.program, _data()).ok
    assert seen == sorted(seen) and len(seen) >= 5 and seen[-1] <= 99

    (request,) = fake.requests
    assert request.path == "/v1/messages"
    assert request.headers["authorization"] == "Bearer test-key"
    assert request.headers["anthropic-version"]
    assert request.headers["x-stainless-retry-count"] == "0"
    body = request.body
    assert body["stream"] is True and body["model"] == "claude-sonnet-5-5"
    assert not {"temperature", "top_p", "top_k"} & body.keys()  # 400 on the 2026-10-21 API
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert body["output_config"]["format"]["type"] == "json_schema"
    assert body["messages"][0]["role"] == "user" and len(body["messages"]) == 1

    # The first request writes the cached prefix, the next one reads it.
    assert result.usage.cache_creation_input_tokens > 0 and result.usage.cache_read_input_tokens == 0
    again = _generate(provider)
    assert again.usage.cache_read_input_tokens == result.usage.cache_creation_input_tokens
    assert again.usage.requests == 1 and again.usage.output_tokens > 0


def test_the_sdk_does_not_retry_on_its_own(fake) -> None:
    assert get_client(settings_for(fake)).max_retries == 0


def test_the_template_ask_is_expanded_into_every_week(fake) -> None:
    result = _generate(_provider(fake, ask="template"), persona="masters_marco", weeks=8)
    data = _data("masters_marco")
    assert fake.requests[0].ask == "template"
    assert result.program.weeks == 8 and len(result.program.schedule) == 8
    assert [w.week for w in result.program.schedule if w.is_deload] == list(data.planned_deload_weeks(8))
    assert validate_program(result.program, data).ok


def test_429_waits_for_retry_after_then_succeeds(fake) -> None:
    fake.script(rate_limited("1"))
    result = _generate(_provider(fake))
    first, second = fake.requests
    assert second.at - first.at >= 0.95  # retry-after: 1 honoured (backoff alone is 0.01-0.05 s)
    assert result.usage.requests == 2
    assert second.headers["x-stainless-retry-count"] == "0"  # a new request of ours, not an SDK retry


def test_retry_after_ms_takes_precedence(fake) -> None:
    fake.script(Status(429, "rate_limit_error", {"retry-after-ms": "300", "retry-after": "30"}))
    started = time.monotonic()
    _generate(_provider(fake))
    assert 0.28 <= time.monotonic() - started < 5


def test_a_retry_after_longer_than_we_wait_ends_the_tier_at_once(fake) -> None:
    fake.script(rate_limited("120"))
    started = time.monotonic()
    error = _fails(_provider(fake, llm_max_retry_after_seconds=60))
    assert error.code == "LLM_UNAVAILABLE" and error.scope == "model"
    assert len(fake.requests) == 1 and time.monotonic() - started < 2


@pytest.mark.parametrize("status", [500, 503, 529, 408, 409])
def test_transient_statuses_are_retried(fake, status: int) -> None:
    fake.script(Status(status))
    assert _generate(_provider(fake)).usage.requests == 2


def test_a_529_storm_stops_after_the_attempt_limit(fake) -> None:
    fake.default = overloaded()
    error = _fails(_provider(fake, llm_max_attempts=3))
    assert error.code == "LLM_UNAVAILABLE" and error.scope == "model"
    assert len(fake.requests) == 3


def test_an_overloaded_error_inside_the_stream_is_retried(fake) -> None:
    fake.script(OverloadedMidStream())
    result = _generate(_provider(fake))
    assert len(fake.requests) == 2 and result.usage.requests == 2


def test_a_slow_answer_times_out_and_is_retried(fake) -> None:
    # Timeouts with a wide margin: a good answer takes the fake ~0.2 s at most, a slow one 2 s.
    fake.script(Slow(2.0))
    result = _generate(_provider(fake, llm_read_timeout_seconds=0.8))
    assert len(fake.requests) == 2 and result.program.weeks == 4


def test_answers_that_are_always_too_slow_end_the_tier_only(fake) -> None:
    fake.default = Slow(2.0)
    error = _fails(_provider(fake, llm_read_timeout_seconds=0.5, llm_max_attempts=2))
    assert error.code == "LLM_TIMEOUT" and error.scope == "tier"
    assert len(fake.requests) == 2


def test_the_whole_request_deadline_applies_while_streaming(fake) -> None:
    # Every delta arrives well within the idle-read timeout, but the whole answer (12 x 0.15 s)
    # takes longer than the request may: the stream is cut and counted as a timeout.
    fake.default = Trickle(chunk_delay=0.15)
    provider = _provider(
        fake, llm_request_timeout_seconds=0.5, llm_read_timeout_seconds=1.0, llm_max_attempts=1
    )
    error = _fails(provider)
    assert error.code == "LLM_TIMEOUT" and len(fake.requests) == 1


@pytest.mark.parametrize(
    ("status", "code", "scope"),
    [
        (400, "LLM_REJECTED", "model"),
        (404, "LLM_REJECTED", "model"),
        (413, "LLM_REJECTED", "model"),
        (401, "LLM_AUTH", "provider"),
        (403, "LLM_AUTH", "provider"),
    ],
)
def test_client_errors_are_never_retried(fake, status: int, code: str, scope: str) -> None:
    fake.script(Status(status, "invalid_request_error"))
    error = _fails(_provider(fake))
    assert (error.code, error.scope) == (code, scope)
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("behaviour", "code", "scope", "level"),
    [
        (Truncated(), "LLM_TRUNCATED", "tier", "basic"),
        (Malformed(), "LLM_SCHEMA_INVALID", "tier", "basic"),
        (Refusal(), "LLM_REFUSED", "provider", None),
    ],
)
def test_bad_answers_are_not_retried_as_they_are(fake, behaviour, code, scope, level) -> None:
    fake.script(behaviour)
    error = _fails(_provider(fake))
    assert (error.code, error.scope, error.validation_level) == (code, scope, level)
    assert len(fake.requests) == 1
    assert error.usage.requests == 1 and error.usage.output_tokens >= 0


def test_the_job_budget_caps_requests_across_calls(fake) -> None:
    fake.default = overloaded()
    provider = _provider(fake, llm_max_requests_per_job=2, llm_max_attempts=5)
    assert _fails(provider).code == "LLM_UNAVAILABLE"
    assert _fails(provider).code == "LLM_BUDGET_EXHAUSTED"
    assert len(fake.requests) == 2


def test_a_repair_quotes_the_answer_and_the_violations(fake) -> None:
    fake.script(Unsafe())
    provider = _provider(fake)
    data = _data()
    request = GenerationRequest(weeks=4)
    first = provider.generate(data, request, on_progress=lambda pct: None)
    report = validate_program(first.program, data)
    assert not report.ok
    repaired = provider.repair(data, request, first, report, on_progress=lambda pct: None)
    assert validate_program(repaired.program, data).ok
    messages = fake.requests[1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == first.raw_output
    assert "<violations>" in messages[2]["content"]
    assert all(v.code.value in messages[2]["content"] for v in report.errors)
