"""Safety-relevant onboarding answers, end to end through the real handlers and PostgreSQL: the new
columns reach the rules, a referral fails the job with a code the app can show, a conservative
program keeps every exclusion."""

from __future__ import annotations

import uuid

from tests.support import RecordingDispatcher, http_event, invoke_trigger, new_user, process
from tpg.generation.offline import OfflineProvider
from tpg.training.catalog import CATALOG


def _generate(sql, **overrides) -> dict:
    _, token = new_user(sql, persona="golden_gym_greta", overrides=overrides)
    status, _, body = invoke_trigger(http_event("POST", "/programs", token=token), RecordingDispatcher())
    assert status == 202, body
    program_id = uuid.UUID(body["programId"])
    process({"programId": str(program_id)}, provider=OfflineProvider())
    _, _, polled = invoke_trigger(http_event("GET", f"/programs/{program_id}", token=token))
    return polled


def test_heart_disease_without_clearance_is_referred_to_a_doctor(sql) -> None:
    polled = _generate(sql, conditions=["cardiovascular_disease"])
    assert polled["status"] == "failed"
    assert polled["error"]["code"] == "MEDICAL_CLEARANCE_REQUIRED"
    assert "doctor" in polled["error"]["message"]
    assert polled["program"] is None


def test_cleared_heart_disease_gets_a_light_program(sql) -> None:
    polled = _generate(sql, conditions=["cardiovascular_disease"], medical_clearance=True)
    assert polled["status"] == "completed", polled["error"]
    items = [i for w in polled["program"]["schedule"] for d in w["days"] for i in d["exercises"]]
    assert min(i["rir"] for i in items) >= 3
    assert min(i["repsMin"] for i in items if not CATALOG[i["exerciseId"]].timed) >= 8


def test_pregnancy_and_an_unknown_injury_site_shape_the_program(sql) -> None:
    polled = _generate(
        sql,
        sex="female",
        pregnancy_weeks=24,
        injuries=[{"site": "big toe", "side": "left", "severity": "mild", "status": "recovering"}],
    )
    assert polled["status"] == "completed", polled["error"]
    program = polled["program"]
    exercises = {i["exerciseId"] for w in program["schedule"] for d in w["days"] for i in d["exercises"]}
    for exercise_id in exercises:
        exercise = CATALOG[exercise_id]
        assert not (exercise.supine or exercise.impact or exercise.spinal_flexion), exercise_id
        assert exercise.spinal_loading != "high" and exercise.balance != "high", exercise_id
    notes = " ".join(program["notes"])
    # The unknown site gets its note, under a neutral name: a typed site is user text.
    assert "Pregnancy" in notes and "no specific rules for an injury you listed" in notes
    assert "big toe" not in notes


def test_a_severe_current_injury_is_referred_until_cleared(sql) -> None:
    severe = [{"site": "herniated disc with sciatica", "severity": "severe", "status": "current"}]
    referred = _generate(sql, injuries=severe)
    assert referred["error"]["code"] == "MEDICAL_CLEARANCE_REQUIRED"
    sql.execute("TRUNCATE profiles CASCADE")
    cleared = _generate(sql, injuries=severe, medical_clearance=True)
    assert cleared["status"] == "completed", cleared["error"]
    items = [i for w in cleared["program"]["schedule"] for d in w["days"] for i in d["exercises"]]
    assert min(i["rir"] for i in items) >= 3  # severe: light effort even when cleared
    assert not any(CATALOG[i["exerciseId"]].spinal_loading == "high" for i in items)  # the lower-back rule
