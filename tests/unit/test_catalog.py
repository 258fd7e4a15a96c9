"""The exercise catalog: integrity, filters, and coverage for every equipment setup and injury."""

from __future__ import annotations

import re

import pytest

from tpg.training.analysis import AVOIDED_PATTERNS
from tpg.training.catalog import (
    ALL_EXERCISES,
    CATALOG,
    MAJOR_MUSCLES,
    Muscle,
    available_exercises,
    equipment_available,
    exercises_for_muscle,
    substitutes_for,
)
from tpg.training.user_data import Equipment, ExperienceLevel, Injury

FULL_GYM = frozenset(Equipment)
HOME_DUMBBELLS = frozenset({Equipment.DUMBBELL, Equipment.BENCH, Equipment.BODYWEIGHT})
BANDS_ONLY = frozenset({Equipment.BAND, Equipment.BODYWEIGHT})
SETUPS = {"full_gym": FULL_GYM, "home_dumbbells": HOME_DUMBBELLS, "bands_only": BANDS_ONLY}
INJURY_CASES = {
    "none": frozenset(),
    "knee": frozenset({Injury.KNEE}),
    "shoulder": frozenset({Injury.SHOULDER}),
    "lower_back": frozenset({Injury.LOWER_BACK}),
}


def test_catalog_is_large_and_ids_are_unique_snake_case() -> None:
    assert len(ALL_EXERCISES) >= 120
    assert len(CATALOG) == len(ALL_EXERCISES), "duplicate ids"
    for exercise in ALL_EXERCISES:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", exercise.id), exercise.id
        assert len(exercise.id) <= 64 and 0 < len(exercise.name) <= 80


def test_every_substitution_exists_and_is_not_the_exercise_itself() -> None:
    for exercise in ALL_EXERCISES:
        assert exercise.substitutions, f"{exercise.id} has no substitutions"
        for substitute in exercise.substitutions:
            assert substitute in CATALOG, f"{exercise.id} -> unknown {substitute}"
            assert substitute != exercise.id


def test_every_exercise_is_well_formed() -> None:
    for exercise in ALL_EXERCISES:
        assert exercise.primary_muscles, exercise.id
        assert not set(exercise.primary_muscles) & set(exercise.secondary_muscles), exercise.id
        assert exercise.equipment, exercise.id


def test_bodyweight_is_always_available() -> None:
    push_up = CATALOG["push_up"]
    assert push_up.equipment == frozenset({Equipment.BODYWEIGHT})
    assert equipment_available(push_up, frozenset({Equipment.DUMBBELL}))


def test_all_listed_equipment_is_required() -> None:
    bench_press = CATALOG["barbell_bench_press"]
    assert bench_press.equipment == frozenset({Equipment.BARBELL, Equipment.BENCH})
    assert not equipment_available(bench_press, frozenset({Equipment.BARBELL}))
    assert equipment_available(bench_press, frozenset({Equipment.BARBELL, Equipment.BENCH}))


def test_available_exercises_filters_equipment_injuries_and_level() -> None:
    ids = {e.id for e in available_exercises(BANDS_ONLY, frozenset({Injury.KNEE}), ExperienceLevel.NOVICE)}
    assert "band_chest_press" in ids
    assert "barbell_bench_press" not in ids  # equipment
    assert "band_squat" not in ids  # knee
    assert "pull_up" not in ids  # equipment
    novice = {e.id for e in available_exercises(FULL_GYM, frozenset(), ExperienceLevel.NOVICE)}
    advanced = {e.id for e in available_exercises(FULL_GYM, frozenset(), ExperienceLevel.ADVANCED)}
    assert "good_morning" not in novice and "good_morning" in advanced
    assert novice < advanced


def test_well_known_contraindications() -> None:
    assert Injury.KNEE in CATALOG["barbell_back_squat"].contraindications
    assert Injury.SHOULDER in CATALOG["barbell_overhead_press"].contraindications
    assert Injury.SHOULDER in CATALOG["barbell_upright_row"].contraindications
    assert Injury.LOWER_BACK in CATALOG["barbell_deadlift"].contraindications
    assert Injury.LOWER_BACK in CATALOG["good_morning"].contraindications
    # The notes' substitutes stay available.
    for exercise_id in ("leg_press", "barbell_hip_thrust", "neutral_grip_dumbbell_press", "landmine_press"):
        assert not CATALOG[exercise_id].contraindications & {Injury.KNEE, Injury.SHOULDER, Injury.LOWER_BACK}


def test_avoided_patterns_agree_with_exercise_contraindications() -> None:
    for injury, patterns in AVOIDED_PATTERNS.items():
        for exercise in ALL_EXERCISES:
            if exercise.pattern in patterns:
                assert injury in exercise.contraindications, (injury, exercise.id)


@pytest.mark.parametrize("setup", sorted(SETUPS))
@pytest.mark.parametrize("injury_case", sorted(INJURY_CASES))
@pytest.mark.parametrize("muscle", MAJOR_MUSCLES)
def test_two_options_per_major_muscle_for_every_setup_and_injury(
    setup: str, injury_case: str, muscle: Muscle
) -> None:
    available = available_exercises(SETUPS[setup], INJURY_CASES[injury_case], ExperienceLevel.INTERMEDIATE)
    options = [e.id for e in exercises_for_muscle(muscle, available)]
    assert len(options) >= 2, (setup, injury_case, muscle, options)
    novice = available_exercises(SETUPS[setup], INJURY_CASES[injury_case], ExperienceLevel.NOVICE)
    assert exercises_for_muscle(muscle, novice), (setup, injury_case, muscle, "novice")


def test_substitutes_are_available_and_listed_ones_come_first() -> None:
    subs = substitutes_for(
        "barbell_back_squat", HOME_DUMBBELLS, frozenset({Injury.KNEE}), ExperienceLevel.NOVICE
    )
    ids = [e.id for e in subs]
    assert ids[0] == "dumbbell_box_squat"  # the first listed substitute that is available
    allowed = {
        e.id for e in available_exercises(HOME_DUMBBELLS, frozenset({Injury.KNEE}), ExperienceLevel.NOVICE)
    }
    assert set(ids) <= allowed
    assert substitutes_for("no_such_exercise", FULL_GYM, frozenset(), ExperienceLevel.NOVICE) == []


def test_works_counts_primary_as_one_and_secondary_as_half() -> None:
    bench = CATALOG["barbell_bench_press"]
    assert bench.works(Muscle.CHEST) == 1.0
    assert bench.works(Muscle.TRICEPS) == 0.5
    assert bench.works(Muscle.QUADS) == 0.0
