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
    OutOfRange,
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
from tpg.generation.ports import GenerationCancelled, GenerationRequest, TierError
from tpg.training.analysis import analyse
from tpg.training.validation import validate_program
from tpg_local.personas import persona_user_data


def _provider(fake: FakeAnthropic, *, ask: str = "compact", **overrides) -> ClaudeProvider:
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
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert body["output_config"]["format"]["type"] == "json_schema"
    # Effort and thinking are explicit, never the model's default (high, billed as output).
    assert body["output_config"]["effort"] == "low"
    assert body["thinking"] == {"type": "adaptive", "display": "summarized"}
    (first,) = body["messages"]
    assert first["role"] == "user" and first["content"][-1]["cache_control"] == {
        "type": "ephemeral",
        "ttl": "5m",
    }

    # Thinking is output: counted, billed, and part of output_tokens.
    thought = request.reported_usage["output_tokens_details"]["thinking_tokens"]
    assert result.usage.thinking_tokens == thought > 0 and result.usage.output_tokens > thought
    assert result.usage.cost_usd is not None and 0 < result.usage.cost_usd < 0.1

    # The first request writes the cached prefix, the next one reads it (and costs less).
    assert result.usage.cache_creation_input_tokens > 0 and result.usage.cache_read_input_tokens == 0
    again = _generate(provider)
    assert again.usage.cache_read_input_tokens == result.usage.cache_creation_input_tokens
    assert again.usage.requests == 1 and again.usage.output_tokens > 0
    assert again.usage.cost_usd < result.usage.cost_usd / 2


def test_the_answer_schema_is_part_of_the_prompt_cache_key(fake) -> None:
    """As on the real API: the full and compact asks do not share a cache entry."""
    _generate(_provider(fake, ask="compact"))
    full = _generate(_provider(fake, ask="full"))
    assert full.usage.cache_read_input_tokens == 0 and full.usage.cache_creation_input_tokens > 0
    compact_again = _generate(_provider(fake, ask="compact"))
    assert compact_again.usage.cache_creation_input_tokens == 0


def test_thinking_and_answer_beyond_max_tokens_are_truncated(fake) -> None:
    error = _fails(_provider(fake, llm_effort="max", llm_max_tokens_compact=1024))
    assert (error.code, error.validation_level) == ("LLM_TRUNCATED", "basic")
    assert error.usage.output_tokens == 1024 and error.usage.thinking_tokens == 1024


def test_the_fakes_thinking_spreads_around_its_own_figure_not_the_clients(fake) -> None:
    from tpg.generation.claude.prompt import EXPECTED_THINKING_TOKENS

    provider = _provider(fake)
    personas = [
        "shoulder_sam",
        "masters_marco",
        "hypertrophy_hannah",
        "back_pain_bob",
        "teen_tara",
        "six_day_sofia",
    ]
    thought = [_generate(provider, persona=p).usage.thinking_tokens for p in personas]
    assert len(set(thought)) == len(personas)  # a spread, per request
    assert EXPECTED_THINKING_TOKENS["low"] not in thought and max(thought) > EXPECTED_THINKING_TOKENS["low"]


def test_thinking_alone_moves_progress(fake) -> None:
    """A stream of thinking and no answer text at all (the thinking took every max_tokens): the
    progress reports can only have come from the thinking deltas."""
    seen: list[int] = []
    with pytest.raises(TierError):
        _generate(_provider(fake, llm_effort="max", llm_max_tokens_compact=1024), progress=seen.append)
    (request,) = fake.requests
    assert request.reported_usage["output_tokens"] == 1024  # all of it thinking: no text block
    assert request.reported_usage["output_tokens_details"]["thinking_tokens"] == 1024
    assert len(seen) >= 3 and seen == sorted(seen) and seen[-1] > seen[0]


def test_cache_writes_are_priced_at_their_breakpoints_ttl(fake) -> None:
    """The first ask writes the system prefix (1 hour) and the user turn (5 minutes): priced as the
    API splits them, and the same when a response carries no split (each breakpoint's TTL)."""
    from types import SimpleNamespace

    from anthropic.types import Usage

    from tpg.generation.claude.client import marked_turn_tokens, usage_of
    from tpg.generation.claude.pricing import cost_usd, price_table

    provider = _provider(fake)
    settings, model = provider.settings, provider.model
    result = _generate(provider)
    (request,) = fake.requests
    reported = request.reported_usage
    split = reported["cache_creation"]
    assert split["ephemeral_1h_input_tokens"] > 0 and split["ephemeral_5m_input_tokens"] > 0
    expected = cost_usd(
        price_table(settings.llm_prices),
        model,
        input_tokens=reported["input_tokens"],
        output_tokens=reported["output_tokens"],
        cache_read_tokens=reported["cache_read_input_tokens"],
        cache_write_5m_tokens=split["ephemeral_5m_input_tokens"],
        cache_write_1h_tokens=split["ephemeral_1h_input_tokens"],
    )
    assert result.usage.cost_usd == pytest.approx(expected)

    counts = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    bare = SimpleNamespace(usage=Usage(**{k: reported[k] for k in counts}))
    turn = marked_turn_tokens(request.body["messages"])
    assert usage_of(bare, settings, model, turn_tokens=turn).cost_usd == pytest.approx(expected)
    # Another user: the prefix is read, only that user's turn is written (5 minutes).
    _generate(provider, persona="masters_marco")
    reported = fake.requests[1].reported_usage
    assert reported["cache_read_input_tokens"] > 0
    assert reported["cache_creation"]["ephemeral_5m_input_tokens"] == reported["cache_creation_input_tokens"]
    bare = SimpleNamespace(usage=Usage(**{k: reported[k] for k in counts}))
    priced = usage_of(bare, settings, model, turn_tokens=0)  # whatever the turn's estimate
    assert priced.cost_usd == pytest.approx(
        cost_usd(
            price_table(settings.llm_prices),
            model,
            input_tokens=reported["input_tokens"],
            output_tokens=reported["output_tokens"],
            cache_read_tokens=reported["cache_read_input_tokens"],
            cache_write_5m_tokens=reported["cache_creation_input_tokens"],
        )
    )


def test_an_ask_that_cannot_fit_the_time_left_is_not_started(fake) -> None:
    # 5 s to the first token + ~1,000 tokens at 50/s leaves no chance in a 20 s budget.
    error = _fails(_provider(fake, llm_budget_seconds=20))
    assert error.code == "LLM_NO_TIME" and error.scope == "tier"
    assert fake.requests == []


def test_a_cancellation_from_the_progress_callback_closes_the_stream_and_propagates(fake) -> None:
    def cancel(pct: int) -> None:
        raise GenerationCancelled

    with pytest.raises(GenerationCancelled) as caught:
        _generate(_provider(fake), progress=cancel)
    assert len(fake.requests) == 1  # never retried
    # The closed stream was billed for its input and what it had streamed: carried out with it.
    usage = caught.value.usage
    assert usage.requests == 1 and usage.cache_creation_input_tokens > 0 and usage.cost_usd > 0
    assert usage.output_tokens == usage.estimated_output_tokens > 0


def test_a_cancellation_during_a_retrys_back_off_sends_no_further_request(fake) -> None:
    """The back-off is a checkpoint too: the cancel seen there raises before the retry is sent."""
    fake.script(rate_limited("1"))
    checks: list[int] = []

    def cancel(pct: int) -> None:
        checks.append(pct)
        raise GenerationCancelled

    started = time.monotonic()
    with pytest.raises(GenerationCancelled) as caught:
        _generate(_provider(fake), progress=cancel)
    assert len(fake.requests) == 1 and checks  # the 429 only: the retry was never sent
    assert time.monotonic() - started < 0.9  # seen at the start of the wait, not after it
    assert caught.value.usage.requests == 1


def test_the_sdk_does_not_retry_on_its_own(fake) -> None:
    assert get_client(settings_for(fake)).max_retries == 0


def test_the_compact_ask_is_expanded_into_every_week(fake) -> None:
    result = _generate(_provider(fake), persona="masters_marco", weeks=8)
    data = _data("masters_marco")
    assert fake.requests[0].ask == "compact"
    assert result.program.weeks == 8 and len(result.program.schedule) == 8
    assert len(result.raw_output or "") < len(result.program.model_dump_json(by_alias=True)) / 8
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
    # The broken stream is billed too: its input as message_start reported it (the prefix written,
    # read by the retry), its streamed output estimated from characters and flagged so.
    usage = result.usage
    assert usage.cache_creation_input_tokens > 0 and usage.cache_read_input_tokens > 0
    assert 0 < usage.estimated_output_tokens < usage.output_tokens
    clean = _generate(_provider(fake))  # the same answer, in one stream, prefix read
    assert clean.usage.estimated_output_tokens is None
    assert usage.output_tokens > clean.usage.output_tokens and usage.cost_usd > clean.usage.cost_usd


def test_a_timeout_is_not_retried_on_the_same_ask(fake) -> None:
    # Timeouts with a wide margin: a good answer takes the fake ~0.2 s at most, a slow one 2 s.
    fake.script(Slow(2.0))
    error = _fails(_provider(fake, llm_read_timeout_seconds=0.8, llm_max_attempts=3))
    assert error.code == "LLM_TIMEOUT" and error.scope == "tier"  # the next tier's ask runs instead
    assert len(fake.requests) == 1 and error.usage.requests == 1


def test_the_whole_request_deadline_applies_while_streaming(fake) -> None:
    # Every delta arrives well within the idle-read timeout, but the whole answer (12 x 0.15 s)
    # takes longer than the request may: the stream is cut and counted as a timeout.
    fake.default = Trickle(chunk_delay=0.15)
    provider = _provider(
        fake, llm_request_timeout_seconds=0.5, llm_read_timeout_seconds=1.0, llm_max_attempts=1
    )
    error = _fails(provider)
    assert error.code == "LLM_TIMEOUT" and len(fake.requests) == 1
    # Cut by our deadline, yet billed: input and cache writes from message_start, the thinking and
    # the text streamed so far estimated from characters (flagged), and its cost.
    usage = error.usage
    assert usage.requests == 1 and usage.cache_creation_input_tokens > 0
    assert usage.output_tokens == usage.estimated_output_tokens and usage.thinking_tokens > 0
    assert usage.output_tokens > usage.thinking_tokens and usage.cost_usd > 0


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
        (OutOfRange(), "LLM_SCHEMA_INVALID", "tier", "basic"),
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


def test_a_repair_quotes_the_compact_answer_and_only_the_violations(fake) -> None:
    fake.script(Unsafe())
    provider = _provider(fake)
    data = _data()
    request = GenerationRequest(weeks=4)
    first = provider.generate(data, request, on_progress=lambda pct: None)
    report = validate_program(first.program, data)
    assert not report.ok
    repaired = provider.repair(data, request, first.raw_output or "", report, on_progress=lambda pct: None)
    assert validate_program(repaired.program, data).ok
    first_request, repair_request = fake.requests
    messages = repair_request.body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0] == first_request.body["messages"][0]  # the stable part, read from the cache
    assert repair_request.body["output_config"] == first_request.body["output_config"]
    assert messages[1]["content"] == first.raw_output
    violations = messages[2]["content"]
    assert "<violations>" in violations and "compact answer" in violations
    assert all(v.code.value in violations for v in report.errors)
    # The model wrote one week: no line names a week, and a finding repeated in every week is one line.
    assert "week 3" not in violations.lower() and "Week 2" not in violations
    assert violations.count("\n- ") < len(report.errors)
    assert repaired.usage.cache_read_input_tokens > first.usage.cache_read_input_tokens
    # The repair's input is every message: the quoted answer and the violations too.
    from tpg.generation.claude.prompt import estimate_tokens

    def billed_input(usage) -> int:
        return usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens

    quoted = estimate_tokens(first.raw_output or "") + estimate_tokens(violations)
    assert billed_input(repaired.usage) - billed_input(first.usage) == quoted


def test_a_well_formed_answer_the_schema_refuses_carries_its_findings_for_a_repair(fake) -> None:
    fake.script(OutOfRange())
    error = _fails(_provider(fake))
    assert error.repair is not None and error.repair.raw_output
    assert any("sets" in line and "25" in line for line in error.repair.problems)
