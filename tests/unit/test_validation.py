"""Validation: the schema parse, and the enhanced checks catching deliberately broken programs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from tpg.training.analysis import EnhancedUserData, analyse
from tpg.training.engine import generate_offline_program
from tpg.training.formulas import estimate_session_minutes
from tpg.training.program import ExercisePrescription, TrainingProgram
from tpg.training.user_data import UserData
from tpg.training.validation import (
    ProgramSchemaError,
    Severity,
    ValidationReport,
    ViolationCode,
    parse_program,
    progression_kind,
    validate_program,
)
from tpg_local.personas import persona_user_data

USER_ID = uuid.UUID("00000000-0000-4000-8000-000000000002")


@cache
def _data(name: str) -> EnhancedUserData:
    return analyse(persona_user_data(name, USER_ID))


def _raw(name: str, weeks: int = 4) -> dict[str, Any]:
    """The offline program as the camelCase JSON dict an LLM would return (a fresh copy each time)."""
    return json.loads(generate_offline_program(_data(name), weeks=weeks).model_dump_json(by_alias=True))


def _broken(name: str, change: Callable[[dict[str, Any]], None], weeks: int = 4) -> ValidationReport:
    raw = _raw(name, weeks)
    change(raw)
    return validate_program(parse_program(raw), _data(name))


def _every_exercise(raw: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for week in raw["schedule"] for day in week["days"] for e in day["exercises"]]


def _replace_first(exercise_id: str, name: str = "Replaced") -> Callable[[dict[str, Any]], None]:
    def change(raw: dict[str, Any]) -> None:
        for week in raw["schedule"]:
            week["days"][0]["exercises"][0].update(exerciseId=exercise_id, name=name)

    return change


# --- Basic validation ---


def test_parse_program_accepts_json_text_and_dicts() -> None:
    raw = _raw("hypertrophy_hannah")
    from_dict = parse_program(raw)
    assert parse_program(json.dumps(raw)) == from_dict
    assert parse_program(json.dumps(raw).encode()) == from_dict


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        "{}",
        {"name": "x"},
    ],
)
def test_parse_program_raises_a_typed_error(bad: str | dict[str, Any]) -> None:
    with pytest.raises(ProgramSchemaError) as caught:
        parse_program(bad)
    assert caught.value.errors and all({"loc", "msg", "type"} <= set(e) for e in caught.value.errors)
    json.dumps(caught.value.errors)  # JSON-safe for logs and repair prompts


def test_parse_program_rejects_schema_constraint_violations() -> None:
    raw = _raw("hypertrophy_hannah")
    raw["schedule"][0]["days"][0]["exercises"][0]["repsMax"] = 1  # below repsMin
    with pytest.raises(ProgramSchemaError):
        parse_program(raw)
    raw = _raw("hypertrophy_hannah")
    raw["schedule"].pop()  # weeks no longer matches the schedule
    with pytest.raises(ProgramSchemaError):
        parse_program(raw)


# --- Enhanced validation: the good case ---


def test_offline_program_is_clean_and_report_serialises() -> None:
    report = validate_program(parse_program(_raw("hypertrophy_hannah")), _data("hypertrophy_hannah"))
    assert report.ok and not report.violations
    dumped = report.model_dump(mode="json")
    assert dumped["ok"] is True and dumped["weekly_volume"]["chest"] > 0


# --- Errors: unsafe or grossly wrong programs always fail ---


def test_contraindicated_exercise_for_a_knee_injury_fails() -> None:
    report = _broken("home_knee_karen", _replace_first("goblet_squat"))
    assert not report.ok
    violation = next(v for v in report.errors if v.code == ViolationCode.CONTRAINDICATED_EXERCISE)
    assert violation.exercise_id == "goblet_squat" and "knee" in violation.message


def test_avoided_pattern_for_a_shoulder_injury_fails() -> None:
    report = _broken("shoulder_sam", _replace_first("barbell_overhead_press"))
    assert ViolationCode.CONTRAINDICATED_EXERCISE in report.codes(Severity.ERROR)


def test_unavailable_equipment_fails() -> None:
    report = _broken("dorm_room_dan", _replace_first("barbell_bench_press"))
    assert not report.ok
    violation = next(v for v in report.errors if v.code == ViolationCode.EQUIPMENT_UNAVAILABLE)
    assert "barbell" in violation.message


def test_unknown_exercise_fails() -> None:
    report = _broken("new_lifter_nina", _replace_first("quantum_squat"))
    assert ViolationCode.UNKNOWN_EXERCISE in report.codes(Severity.ERROR)
    # Reported once, not once per week.
    assert sum(v.code == ViolationCode.UNKNOWN_EXERCISE for v in report.violations) == 1


def test_grossly_high_weekly_volume_fails() -> None:
    def ten_sets_of_chest_everywhere(raw: dict[str, Any]) -> None:
        for week in raw["schedule"]:
            for day in week["days"]:
                day["exercises"].append(
                    {
                        "exerciseId": "cable_fly",
                        "name": "Cable Fly",
                        "sets": 10,
                        "repsMin": 10,
                        "repsMax": 15,
                        "rir": 1,
                        "restSeconds": 60,
                    }
                )

    report = _broken("hypertrophy_hannah", ten_sets_of_chest_everywhere)
    assert ViolationCode.WEEKLY_VOLUME_HIGH in report.codes(Severity.ERROR)
    assert ViolationCode.SESSION_VOLUME_CAP in report.codes(Severity.ERROR)


def test_session_far_too_long_fails() -> None:
    def marathon(raw: dict[str, Any]) -> None:
        for exercise in raw["schedule"][0]["days"][0]["exercises"]:
            exercise.update(sets=8, restSeconds=300)

    report = _broken("busy_parent_priya", marathon)
    violation = next(v for v in report.errors if v.code == ViolationCode.SESSION_TOO_LONG)
    assert violation.week == 1 and violation.day == 1


def test_missing_deload_for_a_long_program_fails() -> None:
    def no_deloads(raw: dict[str, Any]) -> None:
        for week in raw["schedule"]:
            week["isDeload"] = False

    report = _broken("hypertrophy_hannah", no_deloads, weeks=12)
    assert ViolationCode.MISSING_DELOAD in report.codes(Severity.ERROR)
    short = _broken("hypertrophy_hannah", no_deloads, weeks=4)
    assert short.ok and ViolationCode.MISSING_DELOAD in short.codes(Severity.WARNING)


def test_more_sessions_than_the_user_has_fails() -> None:
    data = _data("banded_grandpa_george")  # 2 days a week
    program = generate_offline_program(_data("teen_tara"))  # also 2 days; widen to 3
    raw = json.loads(program.model_dump_json(by_alias=True))
    raw["daysPerWeek"] = 3
    for week in raw["schedule"]:
        extra = json.loads(json.dumps(week["days"][0]))
        extra["day"] = 3
        week["days"].append(extra)
    report = validate_program(parse_program(raw), data)
    assert ViolationCode.FREQUENCY_MISMATCH in report.codes(Severity.ERROR)


# --- Warnings: arguable choices do not reject a program ---


def test_trivia_only_warns() -> None:
    def arguable(raw: dict[str, Any]) -> None:
        raw["progression"]["model"] = "linear"  # advanced lifter
        for exercise in _every_exercise(raw):
            exercise["restSeconds"] = min(exercise["restSeconds"], 100)  # short for heavy work, not absurd
        for week in raw["schedule"]:
            for day in week["days"]:
                day["estimatedMinutes"] = 10

    report = _broken("powerlifter_pete", arguable)
    assert report.ok, [v.message for v in report.errors]
    assert {
        ViolationCode.BAD_PROGRESSION,
        ViolationCode.REST_OFF_GOAL,
        ViolationCode.ESTIMATE_MISMATCH,
    } <= report.codes(Severity.WARNING)


def test_gross_goal_mismatches_fail() -> None:
    def endurance_reps_and_no_rest(raw: dict[str, Any]) -> None:
        for exercise in _every_exercise(raw):
            exercise["restSeconds"] = 15
            exercise["repsMin"], exercise["repsMax"] = 25, 30

    report = _broken("powerlifter_pete", endurance_reps_and_no_rest)
    assert {
        ViolationCode.REST_OFF_GOAL,
        ViolationCode.REPS_OFF_GOAL,
        ViolationCode.STRENGTH_NOT_SPECIFIC,
    } <= report.codes(Severity.ERROR)


def test_deload_that_does_not_reduce_fails() -> None:
    def fake_deload(raw: dict[str, Any]) -> None:
        raw["schedule"][4]["days"] = raw["schedule"][3]["days"]  # week 5 marked deload, full volume

    report = _broken("hypertrophy_hannah", fake_deload, weeks=8)
    assert ViolationCode.DELOAD_NOT_REDUCED in report.codes(Severity.ERROR)


def test_effort_and_level_checks() -> None:
    def to_failure(raw: dict[str, Any]) -> None:
        for exercise in _every_exercise(raw):
            exercise["rir"] = 0

    report = _broken("banded_grandpa_george", to_failure)
    assert ViolationCode.INTENSITY_TOO_HIGH in report.codes(Severity.ERROR)  # an older adult at failure
    # an advanced lift for a novice is an error; one level above is the coach's call (a warning)
    advanced = _broken("new_lifter_nina", _replace_first("good_morning", "Barbell Good Morning"))
    assert ViolationCode.EXERCISE_TOO_ADVANCED in advanced.codes(Severity.ERROR)
    one_up = _broken(
        "new_lifter_nina", _replace_first("single_leg_dumbbell_rdl", "Single-Leg Dumbbell Romanian Deadlift")
    )
    assert ViolationCode.EXERCISE_TOO_ADVANCED in one_up.codes(Severity.WARNING)


def test_low_volume_warns() -> None:
    def one_exercise_per_day(raw: dict[str, Any]) -> None:
        for week in raw["schedule"]:
            for day in week["days"]:
                day["exercises"] = day["exercises"][:1]

    report = _broken("hypertrophy_hannah", one_exercise_per_day)
    assert report.ok
    assert ViolationCode.WEEKLY_VOLUME_LOW in report.codes(Severity.WARNING)


# --- Shared computations ---


def test_session_estimate_formula() -> None:
    # 5 min warm-up + (60 s setup + 3 sets x (10 reps x 3 s + 90 s)) / 60 = 5 + 7 = 12 minutes.
    exercise = ExercisePrescription(
        exercise_id="push_up", name="Push-Up", sets=3, reps_min=8, reps_max=12, rir=2, rest_seconds=90
    )
    assert estimate_session_minutes([exercise]) == pytest.approx(12.0)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("linear", "linear"),
        ("Double progression", "double"),
        ("RPE-based", "rpe"),
        ("DUP", "periodized"),
        ("vibes", None),
    ],
)
def test_progression_kind(text: str, kind: str | None) -> None:
    assert progression_kind(text) == kind


def test_program_type_is_the_schema_model() -> None:
    assert isinstance(parse_program(_raw("teen_tara")), TrainingProgram)


def test_no_program_is_valid_for_a_user_referred_to_a_doctor() -> None:
    program = generate_offline_program(_data("hypertrophy_hannah"), weeks=4)
    user = persona_user_data("hypertrophy_hannah", USER_ID)
    referred = analyse(UserData.model_validate({**user.model_dump(), "conditions": ["exertional_symptoms"]}))
    assert referred.referral is not None and referred.referral.code == "MEDICAL_CLEARANCE_REQUIRED"
    report = validate_program(program, referred)
    assert ViolationCode.MEDICAL_CLEARANCE_REQUIRED in report.codes(Severity.ERROR)
