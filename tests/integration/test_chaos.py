"""A small run of the fault-injection campaign (`make chaos` runs the full one)."""

from __future__ import annotations

from tests.chaos.campaign import run_campaign


def test_under_random_faults_nothing_is_stuck_and_no_attempt_calls_the_llm_twice(database) -> None:
    report = run_campaign(database, generations=40, fault_rate=0.35, seed=11, deadline_seconds=90)
    print(report.render())
    assert report.accepted == 40
    assert report.stuck == 0
    assert report.extra_llm_calls == 0
    assert report.completed + sum(report.failed_by_code.values()) == 40
    assert sum(report.faults.values()) >= 10  # the campaign did inject faults
    assert report.completed >= 20  # most generations survive their faults
