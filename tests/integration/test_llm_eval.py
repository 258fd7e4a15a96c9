"""`make llm-eval`'s machinery against the fake Messages API: Message Batches with the real SDK, the
same parsing and validation as the pipeline, a repair round for what was refused, and the report."""

from __future__ import annotations

from tests.fakes.anthropic_server import FakeAnthropic, Realistic, settings_for
from tests.perf.llm_eval import evaluate, job_of, render
from tpg_local.personas import PERSONAS


def test_the_evaluation_runs_both_rounds_through_batches_and_reports(fake: FakeAnthropic) -> None:
    fake.default = Realistic()
    settings = settings_for(fake)
    result = evaluate(
        settings, models=[settings.anthropic_model], efforts=["low"], weeks=[4], max_wait=30, poll=0.01
    )
    outcomes = result["outcomes"][(settings.anthropic_model, "low")]
    assert len(outcomes) == len(PERSONAS) == result["jobs"]
    refused = [o for o in outcomes.values() if o.first != "valid"]
    assert refused and all(o.repaired is not None for o in refused)  # every refusal had its repair
    assert all(o.output_tokens > 0 and o.cost_batch == o.cost_list / 2 for o in outcomes.values())
    assert len(fake.batches) == 2  # the asks, then the repairs
    assert all(r.ask == "compact" and not r.body.get("stream") for r in fake.requests)
    # A batch is answered over minutes to hours: no user-turn breakpoint for a repair to read.
    assert not any("cache_control" in r.body["messages"][0]["content"][-1] for r in fake.requests)
    ids = [item["custom_id"] for entry in fake.batches.values() for item in entry["requests"]]
    assert {job_of(i) for i in ids} == {(p, 4) for p in PERSONAS}  # the API's id form, parsed back
    report = render(result, against="the fake", main=settings.anthropic_model, small="none", efforts=["low"])
    assert "first-pass valid" in report and f"{len(PERSONAS) - len(refused)}/{len(PERSONAS)}" in report
