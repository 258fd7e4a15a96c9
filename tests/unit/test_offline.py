"""The offline generator: valid for every persona, deterministic, and shaped by the user."""

from __future__ import annotations

import uuid
from functools import cache

import pytest

from tpg.training.analysis import EnhancedUserData, analyse
from tpg.training.catalog import CATALOG, Muscle
from tpg.training.engine import generate_offline_program
from tpg.training.formulas import (
    DELOAD_EXTRA_RIR,
    counted_volume,
    estimate_session_minutes,
    week_total_sets,
    weekly_volume,
)
from tpg.training.program import TrainingProgram
from tpg.training.user_data import Equipment
from tpg.training.validation import validate_program
from tpg_local.personas import PERSONAS, persona_user_data

USER_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")


@cache
def _data(name: str) -> EnhancedUserData:
    return analyse(persona_user_data(name, USER_ID))


@cache
def _program(name: str, weeks: int = 4) -> TrainingProgram:
    return generate_offline_program(_data(name), weeks=weeks)


def test_there_are_at_least_twelve_personas_covering_the_brief() -> None:
    assert len(PERSONAS) >= 12
    ages = [p["age"] for p in PERSONAS.values()]
    assert min(ages) <= 18 and max(ages) >= 75
    assert {p["days_per_week"] for p in PERSONAS.values()} >= {2, 3, 4, 5, 6}
    assert {p["goal"] for p in PERSONAS.values()} == {
        "strength",
        "hypertrophy",
        "fat_loss",
        "general_fitness",
    }
    injuries = {i for p in PERSONAS.values() for i in p["injuries"]}
    assert injuries >= {"knee", "shoulder", "lower_back"}
    setups = {tuple(sorted(p["equipment"])) for p in PERSONAS.values()}
    assert ("band", "bodyweight") in setups and ("bench", "bodyweight", "dumbbell") in setups


@pytest.mark.parametrize("weeks", [4, 8, 12])
@pytest.mark.parametrize("name", sorted(PERSONAS))
def test_every_persona_program_passes_basic_and_enhanced_validation(name: str, weeks: int) -> None:
    program = _program(name, weeks)
    # Basic: the camelCase JSON round-trips through the schema.
    assert TrainingProgram.model_validate_json(program.model_dump_json(by_alias=True)) == program
    report = validate_program(program, _data(name))
    assert report.ok, [v.message for v in report.errors]


@pytest.mark.parametrize("name", sorted(PERSONAS))
def test_programs_use_only_allowed_exercises_and_consistent_minutes(name: str) -> None:
    data, program = _data(name), _program(name)
    allowed = set(data.allowed_exercise_ids)
    for week in program.schedule:
        for day in week.days:
            assert {e.exercise_id for e in day.exercises} <= allowed
            assert day.estimated_minutes == max(10, round(estimate_session_minutes(day.exercises)))
            assert day.estimated_minutes <= data.user.session_minutes
            for exercise in day.exercises:
                assert exercise.sets <= data.max_sets_per_exercise
                assert exercise.name == CATALOG[exercise.exercise_id].name[:80]


@pytest.mark.parametrize("name", sorted(PERSONAS))
def test_per_session_cap_is_respected(name: str) -> None:
    data, program = _data(name), _program(name)
    for day in program.schedule[0].days:
        for muscle, sets in counted_volume(day.exercises).items():
            if muscle in data.volume_targets:
                assert sets <= data.session_muscle_cap, (day.name, muscle)


def test_generator_is_deterministic() -> None:
    for name in ("hypertrophy_hannah", "banded_grandpa_george", "powerlifter_pete"):
        first = generate_offline_program(_data(name), weeks=8)
        second = generate_offline_program(analyse(persona_user_data(name, USER_ID)), weeks=8)
        assert first.model_dump_json() == second.model_dump_json()


def test_deload_week_has_fewer_sets_and_more_reps_in_reserve() -> None:
    program = _program("hypertrophy_hannah", 8)  # intermediate: deload every 5th week
    assert [w.week for w in program.schedule if w.is_deload] == [5]
    loading, deload = program.schedule[1], program.schedule[4]
    assert week_total_sets(deload) <= 0.7 * week_total_sets(loading)
    normal_rir = loading.days[0].exercises[0].rir
    assert deload.days[0].exercises[0].rir == normal_rir + DELOAD_EXTRA_RIR
    assert [e.exercise_id for e in deload.days[0].exercises] == [
        e.exercise_id for e in loading.days[0].exercises
    ]


def test_first_week_of_a_block_is_one_rir_easier() -> None:
    program = _program("hypertrophy_hannah", 8)
    assert program.schedule[0].days[0].exercises[0].rir == program.schedule[1].days[0].exercises[0].rir + 1


def test_novice_four_week_program_has_no_deload_but_trained_lifters_do() -> None:
    assert not any(w.is_deload for w in _program("new_lifter_nina").schedule)
    assert _program("masters_marco").schedule[-1].is_deload  # advanced: every 4th week


def test_progression_model_by_level() -> None:
    assert _program("new_lifter_nina").progression.model == "linear"
    assert _program("hypertrophy_hannah").progression.model == "double"
    assert _program("powerlifter_pete").progression.model == "rpe"


def test_days_shape_the_split() -> None:
    assert _program("banded_grandpa_george").days_per_week == 2
    assert _program("hypertrophy_hannah").split == "Upper/lower"
    assert _program("powerlifter_pete").split == "Push/pull/legs x2"
    assert [d.name for d in _program("shoulder_sam").schedule[0].days] == [
        "Upper",
        "Lower",
        "Push",
        "Pull",
        "Legs",
    ]


def test_equipment_shapes_exercise_choice() -> None:
    def equipment_used(name: str) -> set[Equipment]:
        return {
            eq
            for day in _program(name).schedule[0].days
            for e in day.exercises
            for eq in CATALOG[e.exercise_id].equipment
        }

    assert equipment_used("busy_parent_priya") <= {Equipment.BAND, Equipment.BODYWEIGHT}
    assert equipment_used("dorm_room_dan") <= {Equipment.DUMBBELL, Equipment.BENCH, Equipment.BODYWEIGHT}
    assert Equipment.BARBELL in equipment_used("powerlifter_pete")


def test_goal_shapes_reps_and_rest() -> None:
    strength = _program("powerlifter_pete").schedule[1].days[0].exercises[0]
    hypertrophy = _program("hypertrophy_hannah").schedule[1].days[0].exercises[0]
    assert strength.reps_max <= 6 and strength.rest_seconds >= 180
    assert hypertrophy.reps_min >= 6 and hypertrophy.rest_seconds < strength.rest_seconds
    fat_loss = _program("home_knee_karen")
    assert any("kcal" in note for note in fat_loss.notes)


def test_injuries_shape_exercise_choice() -> None:
    knee_ids = {e.exercise_id for d in _program("home_knee_karen").schedule[0].days for e in d.exercises}
    assert "goblet_squat" not in knee_ids and "dumbbell_reverse_lunge" not in knee_ids
    assert "dumbbell_box_squat" in knee_ids
    back_ids = {e.exercise_id for d in _program("back_pain_bob").schedule[0].days for e in d.exercises}
    assert not back_ids & {"barbell_deadlift", "barbell_back_squat", "barbell_bent_over_row", "good_morning"}


def test_major_muscles_are_all_trained() -> None:
    for name in ("new_lifter_nina", "hypertrophy_hannah", "dorm_room_dan", "shoulder_sam"):
        volume = weekly_volume(_program(name).schedule[1])
        for muscle in (
            Muscle.CHEST,
            Muscle.BACK,
            Muscle.QUADS,
            Muscle.HAMSTRINGS,
            Muscle.GLUTES,
            Muscle.SHOULDERS,
        ):
            assert volume.get(muscle, 0) >= _data(name).volume_targets[muscle].min_sets - 1, (name, muscle)


def test_load_suggestions_come_from_reported_lifts() -> None:
    notes = [
        e.notes
        for d in _program("powerlifter_pete").schedule[1].days
        for e in d.exercises
        if e.exercise_id == "barbell_bench_press"
    ]
    assert notes and notes[0] is not None and "kg" in notes[0]


def test_weeks_and_name_parameters() -> None:
    data = _data("teen_tara")
    assert generate_offline_program(data, weeks=1).weeks == 1
    assert generate_offline_program(data, weeks=16, name="Mine").name == "Mine"
    with pytest.raises(ValueError, match="weeks"):
        generate_offline_program(data, weeks=0)
