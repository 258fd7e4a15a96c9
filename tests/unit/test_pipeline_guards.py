"""Guards around the LLM tiers: a program with the wrong number of weeks is not accepted, and an
LLM tier failing in an unclassified way falls through to the rules engine."""

from __future__ import annotations

import uuid

import pytest

from tpg.generation.offline import OfflineProvider
from tpg.generation.pipeline import run_program_generation_pipeline
from tpg.generation.ports import GenerationRequest, ProviderResult
from tpg.store.rows import Stage
from tpg_local.personas import persona_user_data


class _LlmLikeTier(OfflineProvider):
    """An 'LLM' tier (it has a model) built on the rules engine, with a defect chosen per test."""

    name = "anthropic"
    tier = "full"
    model = "claude-test"

    def __init__(self, *, weeks: int | None = None, crash: Exception | None = None) -> None:
        super().__init__()
        self.weeks, self.crash, self.calls = weeks, crash, 0

    def generate(self, data, request, *, on_progress) -> ProviderResult:
        self.calls += 1
        if self.crash is not None:
            raise self.crash
        asked = GenerationRequest(weeks=self.weeks or request.weeks, name=request.name)
        return super().generate(data, asked, on_progress=on_progress)


def _run(first_tier: _LlmLikeTier, weeks: int = 6):
    user = persona_user_data("hypertrophy_hannah", uuid.uuid4())
    stages: list[Stage] = []
    result = run_program_generation_pipeline(
        user,
        GenerationRequest(weeks=weeks),
        provider=[first_tier, OfflineProvider()],
        progress=lambda stage, _: stages.append(stage),
    )
    return result


def test_a_program_with_fewer_weeks_than_asked_goes_to_the_next_tier() -> None:
    short = _LlmLikeTier(weeks=1)
    result = _run(short, weeks=6)
    assert short.calls == 1
    assert (result.fallback_tier, result.program.weeks) == ("offline", 6)


def test_a_program_with_the_weeks_asked_is_accepted_from_the_first_tier() -> None:
    result = _run(_LlmLikeTier(), weeks=6)
    assert (result.fallback_tier, result.program.weeks) == ("full", 6)


@pytest.mark.parametrize("crash", [KeyError("secret-arn"), RuntimeError("sdk surprise"), ZeroDivisionError()])
def test_an_unclassified_failure_of_an_llm_tier_falls_through_to_the_rules_engine(crash) -> None:
    result = _run(_LlmLikeTier(crash=crash))
    assert result.fallback_tier == "offline"
    assert [t.code for t in result.usage.tiers or () if t.outcome == "failed"] == ["LLM_UNEXPECTED"]


def test_a_cancellation_from_an_llm_tier_propagates_and_no_other_tier_runs() -> None:
    from tpg.generation.ports import GenerationCancelled

    class Offline(OfflineProvider):
        calls = 0

        def generate(self, data, request, *, on_progress):
            Offline.calls += 1
            return super().generate(data, request, on_progress=on_progress)

    user = persona_user_data("hypertrophy_hannah", uuid.uuid4())
    with pytest.raises(GenerationCancelled):
        run_program_generation_pipeline(
            user,
            GenerationRequest(weeks=4),
            provider=[_LlmLikeTier(crash=GenerationCancelled()), Offline()],
            progress=lambda stage, _: None,
        )
    assert Offline.calls == 0


def test_the_first_tiers_effort_and_thinking_are_part_of_the_result_cache_key() -> None:
    """A program written at one effort is not served to a request that would be asked at another."""

    class Recording:
        def __init__(self) -> None:
            self.looked: list[str] = []

        def lookup(self, fingerprint: str) -> None:
            self.looked.append(fingerprint)

    cache = Recording()
    user = persona_user_data("hypertrophy_hannah", uuid.uuid4())
    for parts in (("effort=low", "thinking=adaptive"), ("effort=high", "thinking=adaptive")):
        tier = _LlmLikeTier()
        tier.fingerprint_parts = parts  # type: ignore[attr-defined]
        run_program_generation_pipeline(
            user,
            GenerationRequest(weeks=4),
            provider=[tier, OfflineProvider()],
            progress=lambda stage, _: None,
            cache=cache,
        )
    assert len(cache.looked) == 2 and cache.looked[0] != cache.looked[1]
