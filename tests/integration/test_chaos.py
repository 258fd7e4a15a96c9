"""A small run of the fault-injection campaign (`make chaos` runs the full one)."""

from __future__ import annotations

from tests.chaos.campaign import run_campaign
from tests.conftest import needs_owner

pytestmark = needs_owner  # the campaign seeds its users on the URL it is given (tests/chaos/campaign.py)


def test_under_random_faults_nothing_is_stuck_and_no_attempt_calls_the_llm_twice(database) -> None:
    report = run_campaign(database, generations=40, fault_rate=0.35, seed=11, deadline_seconds=90)
    print(report.render())
    assert report.accepted == 40
    assert report.stuck == 0
    assert report.extra_llm_calls == 0
    assert report.completed + sum(report.failed_by_code.values()) + report.cancelled == 40
    assert report.faults.get("cancelled", 0) >= 1 and report.cancelled_yet_completed == 0
    assert sum(report.faults.values()) >= 10  # the campaign did inject faults
    assert report.completed >= 20  # most generations survive their faults


def test_every_completed_program_passes_validation_after_the_campaign(database, sql) -> None:
    """I6 under faults: garbage from the 'LLM' never becomes a completed program."""
    from tpg.store.rows import ProfileRow, user_data_from_row
    from tpg.training.analysis import analyse
    from tpg.training.validation import parse_program, validate_program

    report = run_campaign(database, generations=20, fault_rate=0.5, seed=5, deadline_seconds=90)
    assert report.faults.get("llm_garbage", 0) >= 1
    rows = sql.execute(
        "SELECT t.program, t.user_id, p.birth_year, p.sex, p.height_cm, p.weight_kg, o.goal, o.experience,"
        " o.training_months, o.days_per_week, o.session_minutes, o.equipment, o.injuries, o.lifts, o.notes"
        " FROM training_programs t JOIN profiles p ON p.id = t.user_id"
        " JOIN onboarding_responses o ON o.user_id = t.user_id"
        " WHERE t.generation_status = 'completed'"
    ).fetchall()
    assert len(rows) == report.completed > 0
    for row in rows:
        verdict = validate_program(
            parse_program(row["program"]), analyse(user_data_from_row(ProfileRow.from_row(row)))
        )
        assert verdict.ok, verdict.codes("error")
