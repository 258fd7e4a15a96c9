"""The tiered pipeline with the real SDK against the fake Messages API server.

Per-tier outcomes under injected faults, the per-job request bound under a 529 storm, every persona
through fake Claude and through the offline engine, the injection corpus, and the Claude path end to
end through the generate handler, PostgreSQL and the result cache.
"""

from __future__ import annotations

import uuid

import pytest

from tests.fakes.anthropic_server import (
    FakeAnthropic,
    Good,
    Latency,
    Malformed,
    OutOfRange,
    OverloadedMidStream,
    Realistic,
    Refusal,
    Slow,
    Status,
    Truncated,
    Unsafe,
    overloaded,
    rate_limited,
    settings_for,
)
from tests.fakes.injection_corpus import INJECTIONS
from tests.support import RecordingDispatcher, http_event, invoke_generate, invoke_trigger, new_user
from tpg.generation.claude.client import claude_tiers
from tpg.generation.claude.prompt import clean_free_text
from tpg.generation.offline import OfflineProvider
from tpg.generation.pipeline import PipelineResult, run_program_generation_pipeline
from tpg.generation.ports import GenerationRequest
from tpg.store.rows import Stage
from tpg.training.analysis import analyse
from tpg.training.validation import validate_program
from tpg_local.personas import PERSONAS, persona_user_data


def _run(
    fake: FakeAnthropic,
    persona: str = "hypertrophy_hannah",
    *,
    request: GenerationRequest | None = None,
    progress=None,
    notes: str | None = None,
    **overrides,
) -> PipelineResult:
    user = persona_user_data(persona, uuid.uuid4())
    if notes is not None:
        user = user.model_copy(update={"notes": notes})
    tiers = [*claude_tiers(settings_for(fake, **overrides)), OfflineProvider()]
    result = run_program_generation_pipeline(
        user, request or GenerationRequest(weeks=4), provider=tiers, progress=progress or (lambda s, p: None)
    )
    # I6: whatever happened on the way, the program returned passes enhanced validation.
    assert validate_program(result.program, analyse(user)).ok
    return result


# The documented per-tier outcomes (docs/llm-pipeline.md): the faults scripted for consecutive
# requests, the tier that produced the program, and the HTTP requests the job made.
FAULTS = [
    ("no fault", [], "compact", 1),
    ("429 retry-after 0, then good", [rate_limited("0")], "compact", 2),
    ("500, then good", [Status(500)], "compact", 2),
    ("overloaded mid-stream, then good", [OverloadedMidStream()], "compact", 2),
    ("slow past the read timeout: not retried, the small model's ask", [Slow(2.0)], "compact_small", 2),
    ("truncated (max_tokens)", [Truncated()], "compact_small", 2),
    ("malformed JSON", [Malformed()], "compact_small", 2),
    ("refused by the schema, repaired", [OutOfRange()], "compact", 2),
    ("unsafe, repaired", [Unsafe()], "compact", 2),
    ("unsafe twice", [Unsafe(), Unsafe()], "compact_small", 3),
    ("unsafe four times", [Unsafe()] * 4, "offline", 4),
    ("400 on the main model", [Status(400, "invalid_request_error")], "compact_small", 2),
    ("404 model not found", [Status(404, "not_found_error")], "compact_small", 2),
    ("529 x3 on the main model", [overloaded()] * 3, "compact_small", 4),
    ("always too slow", [Slow(2.0)] * 2, "offline", 2),
    ("refusal", [Refusal()], "offline", 1),
    ("401 bad key", [Status(401, "authentication_error")], "offline", 1),
]


@pytest.mark.parametrize(("faults", "tier", "requests"), [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_per_tier_outcomes_under_injected_faults(fake, faults, tier: str, requests: int) -> None:
    fake.script(*faults)
    slow = any(isinstance(f, Slow) for f in faults)
    result = _run(
        fake, llm_read_timeout_seconds=0.8 if slow else 5, llm_max_attempts=3, llm_max_requests_per_job=8
    )
    assert result.fallback_tier == tier
    assert len(fake.requests) == requests
    assert (result.usage.requests or 0) == requests
    assert result.provider == ("offline" if tier == "offline" else "anthropic")
    if tier != "offline":
        assert result.model == fake.requests[-1].body["model"]
        assert result.usage.model == result.model and (result.usage.output_tokens or 0) > 0


@pytest.mark.parametrize("storm", [overloaded(), rate_limited("0"), Status(500)], ids=["529", "429", "500"])
def test_a_storm_stays_within_the_request_bound(fake, storm) -> None:
    fake.default = storm
    result = _run(fake, llm_max_attempts=3, llm_max_requests_per_job=8)
    assert result.fallback_tier == "offline"
    # 3 attempts on the main model (then every tier on it is skipped), 3 on the small model.
    assert len(fake.requests) == 6 <= 8
    assert [r.body["model"] for r in fake.requests] == ["claude-sonnet-5-5"] * 3 + ["claude-haiku-5-5"] * 3
    assert [t.outcome for t in result.usage.tiers or ()] == ["failed", "failed", "completed"]


@pytest.mark.parametrize("cap", [1, 2, 4, 5])
def test_the_per_job_request_cap_is_a_hard_bound(fake, cap: int) -> None:
    fake.default = overloaded()
    result = _run(fake, llm_max_attempts=6, llm_max_requests_per_job=cap)
    assert result.fallback_tier == "offline"
    assert len(fake.requests) == cap


def test_progress_comes_from_the_stream_and_never_goes_back(fake) -> None:
    fake.script(Truncated())  # the first tier streams half an answer, then the small model's starts
    seen: list[tuple[Stage, int]] = []
    _run(fake, progress=lambda stage, pct: seen.append((stage, pct)))
    generating = [pct for stage, pct in seen if stage == Stage.GENERATING]
    assert len(generating) >= 5 and generating == sorted(generating)
    assert generating[0] >= 30 and generating[-1] <= 80
    assert [s for s, _ in seen][-2:] == [Stage.VALIDATING, Stage.SAVING]


@pytest.mark.parametrize("persona", sorted(PERSONAS))
def test_every_persona_through_fake_claude_and_offline_passes_enhanced_validation(fake, persona) -> None:
    assert len(PERSONAS) >= 12
    result = _run(fake, persona)
    assert result.fallback_tier == "compact" and result.report.ok
    assert "Fake Claude: keep a training log." in result.program.notes
    user = persona_user_data(persona, uuid.uuid4())
    offline = run_program_generation_pipeline(
        user, GenerationRequest(weeks=8), provider=OfflineProvider(), progress=lambda s, p: None
    )
    assert offline.fallback_tier == "offline" and offline.report.ok


@pytest.mark.parametrize("persona", sorted(PERSONAS))
def test_every_persona_through_the_full_ask_and_after_it_the_compact_one(fake, persona) -> None:
    result = _run(fake, persona, request=GenerationRequest(weeks=6), llm_tiers="full,compact")
    assert result.fallback_tier == "full" and result.program.name.startswith("Fake Claude")
    fake.script(Truncated())
    result = _run(fake, persona, request=GenerationRequest(weeks=6), llm_tiers="full,compact")
    assert result.fallback_tier == "compact" and result.report.ok


def test_plausible_answers_with_slips_are_repaired_or_fall_through_and_never_complete_invalid(fake) -> None:
    """The fake's realistic mode: its own plans with a model's slips (volume, contraindicated picks,
    values past a bound). Every completed program is valid (I6, checked in _run); slips cost repairs."""
    fake.default = Realistic()
    outcomes = []
    for persona in sorted(PERSONAS):
        for weeks in (4, 12):
            result = _run(fake, persona, request=GenerationRequest(weeks=weeks))
            outcomes.append((result.fallback_tier, any(t.repaired for t in result.usage.tiers or ())))
    assert sum(slips != [] for slips in fake.slips) >= 3  # it did slip
    assert {tier for tier, _ in outcomes} <= {"compact", "compact_small", "offline"}
    assert sum(repaired for _, repaired in outcomes) >= 1
    assert sum(tier == "compact" for tier, _ in outcomes) >= len(outcomes) * 0.8


@pytest.mark.parametrize(
    ("weeks", "full_outcome", "asks"),
    [(4, "LLM_TIMEOUT", ["full", "compact"]), (12, "LLM_NO_TIME", ["compact"])],
    ids=["4 weeks: the full ask times out once", "12 weeks: the full ask cannot fit, never starts"],
)
def test_the_timeout_scenario_ends_on_an_llm_tier(
    fake, weeks: int, full_outcome: str, asks: list[str]
) -> None:
    """Production settings scaled down 100x, the main model slow (15 tokens/s) and the full ask
    first: it runs past its deadline once and is not retried (or, when its expected output cannot
    fit the time left, is not started), and the compact ask on the same model still fits: the
    program is Claude's, not the rules engine's."""
    scale = 0.01
    fake.latency = {"claude-sonnet-5-5": Latency(first_token_seconds=1.8, tokens_per_second=15)}
    fake.time_scale = scale
    result = _run(
        fake,
        "six_day_sofia",
        request=GenerationRequest(weeks=weeks),
        llm_tiers="full,compact,compact_small",
        llm_budget_seconds=600 * scale,
        llm_request_timeout_seconds=300 * scale,
        llm_read_timeout_seconds=60 * scale,
        llm_first_token_seconds=5 * scale,
        llm_output_tokens_per_second=50 / scale,
    )
    assert [(t.tier, t.outcome, t.code) for t in result.usage.tiers or ()] == [
        ("full", "failed", full_outcome),
        ("compact", "completed", None),
    ]
    assert [r.ask for r in fake.requests] == asks


@pytest.mark.parametrize("injection", INJECTIONS)
def test_an_obeyed_injection_never_completes_an_invalid_program(fake, injection: str) -> None:
    # The worst case: the model follows the injection and answers an unsafe program every time.
    fake.default = Unsafe()
    result = _run(
        fake,
        "home_knee_karen",
        notes=injection[:1000],
        request=GenerationRequest(weeks=4, notes=injection[:500]),
        llm_max_requests_per_job=2,
    )
    assert result.fallback_tier == "offline" and result.report.ok
    cleaned = clean_free_text(injection)
    for request in fake.requests:
        assert injection not in request.system_text and cleaned not in request.system_text
        assert cleaned in request.user_texts[0]


# --- End to end: the generate handler, PostgreSQL, the result cache ---------------------------


@pytest.fixture
def claude_env(fake, handlers, database):
    from tests.conftest import settings_for_tests

    settings = settings_for_tests(
        database,
        llm_provider="anthropic",
        anthropic_api_key="x",
        anthropic_base_url=fake.url,
        llm_backoff_initial_seconds=0.01,
        llm_backoff_max_seconds=0.05,
    )
    handlers.update(settings=settings)
    return fake


def _accept(sql, persona: str):
    _, token = new_user(sql, persona=persona)
    _, _, body = invoke_trigger(http_event("POST", "/programs", token=token), RecordingDispatcher())
    return uuid.UUID(body["programId"]), token


def _row(sql, program_id):
    return sql.execute("SELECT * FROM training_programs WHERE id = %s", (program_id,)).fetchone()


def test_the_claude_path_end_to_end_with_usage_and_the_result_cache(sql, claude_env) -> None:
    fake = claude_env
    first_id, token = _accept(sql, "six_day_sofia")
    assert invoke_generate(first_id) == "completed"
    row = _row(sql, first_id)
    assert (row["provider"], row["fallback_tier"], row["model"]) == (
        "anthropic",
        "compact",
        "claude-sonnet-5-5",
    )
    assert row["validation_report"]["ok"] is True
    assert row["llm_requests"] == 1 and row["output_tokens"] > 0 and row["cache_write_tokens"] > 0
    # All of the prompt sits before a breakpoint: billed as cache writes (input_tokens counts the rest).
    assert row["input_tokens"] == 0 and row["llm_latency_ms"] >= 0
    thought = fake.requests[0].reported_usage["output_tokens_details"]["thinking_tokens"]
    assert row["thinking_tokens"] == thought > 0 and 0 < row["llm_cost_usd"] < 0.1
    assert float(row["llm_cost_usd"]) == pytest.approx(row["usage"]["cost_usd"], abs=1e-6)
    assert row["prompt_version"] and len(row["request_fingerprint"]) == 64
    assert row["usage"]["tiers"][0] == {
        "tier": "compact",
        "model": "claude-sonnet-5-5",
        "outcome": "completed",
    }
    status, _, body = invoke_trigger(http_event("GET", f"/programs/{first_id}", token=token))
    assert status == 200 and body["status"] == "completed"
    assert "Fake Claude: keep a training log." in body["program"]["notes"]

    # Another user with the same data: reused without an LLM call, under its own name.
    second_id, _ = _accept(sql, "six_day_sofia")
    assert invoke_generate(second_id) == "completed"
    again = _row(sql, second_id)
    assert len(fake.requests) == 1
    assert again["provider"] == "result_cache" and again["fallback_tier"] == "compact"
    assert again["request_fingerprint"] == row["request_fingerprint"] and again["llm_requests"] == 0
    assert again["llm_cost_usd"] is None  # a hit costs nothing at the LLM
    assert again["usage"]["result_cache"]["source_program_id"] == str(first_id)
    assert again["validation_report"]["ok"] is True

    # Past the TTL it is generated anew.
    sql.execute("UPDATE training_programs SET completed_at = now() - interval '30 days'")
    third_id, _ = _accept(sql, "six_day_sofia")
    assert invoke_generate(third_id) == "completed"
    assert len(fake.requests) == 2 and _row(sql, third_id)["provider"] == "anthropic"

    # `tpg stats` shows what the LLM cost: two paid programs over three completed.
    from tpg_local.stats import collect_stats, format_stats

    stats = collect_stats(sql, stuck_after_seconds=1800)
    paid = sum(float(_row(sql, i)["llm_cost_usd"] or 0) for i in (first_id, second_id, third_id))
    assert stats.llm_cost_usd == pytest.approx(paid) and stats.llm_cost_per_completed_usd == pytest.approx(
        paid / 3
    )
    assert stats.usage_totals["thinking_tokens"] == sum(
        r.reported_usage["output_tokens_details"]["thinking_tokens"] for r in fake.requests
    )
    assert "per completed program" in format_stats(stats)


def test_an_offline_fallback_is_stored_as_such_and_never_reused(sql, claude_env) -> None:
    fake = claude_env
    fake.default = overloaded()
    first_id, _ = _accept(sql, "back_pain_bob")
    assert invoke_generate(first_id) == "completed"
    row = _row(sql, first_id)
    assert (row["provider"], row["fallback_tier"]) == ("offline", "offline")
    assert row["llm_requests"] == 6 and row["validation_report"]["ok"] is True
    assert row["llm_cost_usd"] is None  # no answer came back: nothing billed

    fake.default = Good()
    second_id, _ = _accept(sql, "back_pain_bob")
    assert invoke_generate(second_id) == "completed"
    assert _row(sql, second_id)["fallback_tier"] == "compact"  # not the offline program from the storm
