"""The first analysis: each rule against published reference values."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from tpg.training.analysis import (
    DayType,
    ProgressionModel,
    activity_factor,
    allowed_exercise_ids,
    analyse,
    brzycki_1rm,
    choose_split,
    contraindicated_exercise_ids,
    deload_every_weeks,
    epley_1rm,
    estimate_lift,
    goal_prescription,
    mifflin_st_jeor,
    percent_1rm,
    planned_deload_weeks,
    progression_model,
    session_set_budget,
    suggested_load_kg,
    training_status,
    weekly_volume_targets,
)
from tpg.training.catalog import CATALOG, MovementPattern, Muscle
from tpg.training.user_data import Equipment, ExperienceLevel, Goal, Injury, LiftRecord, Sex, UserData
from tpg_local.personas import PERSONAS, persona_user_data

NOVICE, INTERMEDIATE, ADVANCED = (
    ExperienceLevel.NOVICE,
    ExperienceLevel.INTERMEDIATE,
    ExperienceLevel.ADVANCED,
)


def _user(**overrides: object) -> UserData:
    values: dict[str, object] = {
        "user_id": uuid.UUID(int=7),
        "age": 30,
        "sex": "male",
        "height_cm": 180,
        "weight_kg": 80,
        "goal": "hypertrophy",
        "experience": "intermediate",
        "training_months": 24,
        "days_per_week": 4,
        "session_minutes": 60,
        "equipment": list(Equipment),
        "injuries": [],
        "lifts": [],
    }
    values.update(overrides)
    return UserData.model_validate(values)


# --- 1RM (Epley 1985, Brzycki 1993) ---


def test_epley_reference_value() -> None:
    assert epley_1rm(100, 5) == pytest.approx(116.7, abs=0.05)


def test_brzycki_reference_value() -> None:
    assert brzycki_1rm(100, 5) == pytest.approx(112.5, abs=0.05)


def test_single_is_the_one_rep_max() -> None:
    assert epley_1rm(140, 1) == 140
    assert brzycki_1rm(140, 1) == 140


def test_formulas_agree_at_ten_reps_and_stop_beyond() -> None:
    assert epley_1rm(100, 10) == pytest.approx(brzycki_1rm(100, 10) or 0, abs=0.01)  # both 133.3
    assert epley_1rm(100, 11) is None
    assert brzycki_1rm(100, 11) is None


def test_estimate_lift_averages_and_computes_relative_strength() -> None:
    lift = estimate_lift(LiftRecord(exercise_id="barbell_back_squat", weight_kg=100, reps=5), 80)
    assert lift.epley_kg == pytest.approx(116.7)
    assert lift.brzycki_kg == pytest.approx(112.5)
    assert lift.estimated_1rm_kg == pytest.approx(114.6, abs=0.05)
    assert lift.relative_strength == pytest.approx(1.43, abs=0.01)
    high_reps = estimate_lift(LiftRecord(exercise_id="barbell_back_squat", weight_kg=60, reps=15), 80)
    assert high_reps.estimated_1rm_kg is None and high_reps.relative_strength is None


def test_rpe_chart_uses_reps_plus_rir() -> None:
    assert percent_1rm(1, 0) == 100.0
    assert percent_1rm(3, 1) == 89.2  # 3 @ RPE 9 = 4 @ RPE 10 (Tuchscherer)
    assert percent_1rm(1, 1) == 95.5
    assert percent_1rm(10, 3) is None  # beyond the chart
    assert suggested_load_kg(100, 5, 2) == 80.0  # 78.6% rounded down to 2.5 kg


# --- Energy (Mifflin-St Jeor 1990) ---


def test_mifflin_st_jeor_reference_values() -> None:
    assert mifflin_st_jeor(Sex.MALE, 80, 180, 30) == pytest.approx(1780.0)
    assert mifflin_st_jeor(Sex.FEMALE, 60, 165, 25) == pytest.approx(1345.25)


def test_activity_factors() -> None:
    assert activity_factor(3) == 1.375
    assert activity_factor(5) == 1.55
    assert activity_factor(6) == 1.725


def test_fat_loss_gets_a_kcal_target_and_others_do_not() -> None:
    fat_loss = analyse(_user(goal="fat_loss", days_per_week=3)).energy
    assert fat_loss.resting_kcal == 1780
    assert fat_loss.maintenance_kcal == round(1780 * 1.375)
    assert fat_loss.target_kcal == 1960  # 20% deficit of 2447.5, rounded to 10 kcal
    assert fat_loss.protein_g == 128
    assert analyse(_user(goal="strength")).energy.target_kcal is None


# --- Training status ---


@pytest.mark.parametrize(
    ("declared", "months", "expected"),
    [
        (ADVANCED, 8, INTERMEDIATE),
        (ADVANCED, 3, NOVICE),
        (ADVANCED, 60, ADVANCED),
        (INTERMEDIATE, 5, NOVICE),
        (INTERMEDIATE, 6, INTERMEDIATE),
        (NOVICE, 120, NOVICE),
    ],
)
def test_training_status_caps_the_declared_level_by_history(
    declared: ExperienceLevel, months: int, expected: ExperienceLevel
) -> None:
    assert training_status(declared, months) == expected


# --- Volume, budget, prescription ---


def test_volume_targets_follow_the_conservative_table() -> None:
    novice = weekly_volume_targets(NOVICE, Goal.HYPERTROPHY)
    trained = weekly_volume_targets(INTERMEDIATE, Goal.HYPERTROPHY)
    assert (novice[Muscle.CHEST].min_sets, novice[Muscle.CHEST].max_sets) == (8, 12)
    assert (trained[Muscle.BACK].min_sets, trained[Muscle.BACK].max_sets) == (10, 22)
    strength = weekly_volume_targets(INTERMEDIATE, Goal.STRENGTH)
    assert strength[Muscle.CHEST].min_sets == 10 and strength[Muscle.CHEST].max_sets == 16
    older = weekly_volume_targets(INTERMEDIATE, Goal.HYPERTROPHY, older_adult=True)
    assert older[Muscle.CHEST].max_sets < trained[Muscle.CHEST].max_sets


@pytest.mark.parametrize(
    ("minutes", "expected"), [(45, (12, 16)), (60, (16, 22)), (90, (24, 30)), (75, (20, 26)), (20, (5, 7))]
)
def test_session_set_budget_interpolates_the_notes(minutes: int, expected: tuple[int, int]) -> None:
    budget = session_set_budget(minutes)
    assert (budget.min_sets, budget.max_sets) == expected


def test_minimums_are_scaled_when_time_is_short() -> None:
    short = analyse(_user(days_per_week=2, session_minutes=20))
    assert short.volume_scale < 1
    assert short.volume_targets[Muscle.CHEST].min_sets < 10
    assert short.volume_targets[Muscle.CHEST].max_sets == 20
    assert analyse(_user()).volume_scale == 1.0


def test_prescription_by_goal() -> None:
    strength = goal_prescription(Goal.STRENGTH, INTERMEDIATE)
    assert strength.compound.reps_max <= 6 and strength.compound.rest_seconds >= 120
    hypertrophy = goal_prescription(Goal.HYPERTROPHY, INTERMEDIATE)
    assert hypertrophy.compound.reps_min >= 6 and hypertrophy.compound.reps_max <= 12
    assert hypertrophy.compound.rest_seconds >= 60
    older = goal_prescription(Goal.STRENGTH, INTERMEDIATE, older_adult=True)
    assert older.compound.reps_min >= 6 and older.compound.rir >= 2


# --- Split, deloads, progression ---


def test_split_by_days() -> None:
    assert choose_split(3).day_types == (DayType.FULL_BODY,) * 3
    assert choose_split(4).name == "Upper/lower"
    assert choose_split(6).day_types.count(DayType.PUSH) == 2
    for days in range(1, 8):
        assert len(choose_split(days).day_types) == days


def test_deload_planning() -> None:
    assert deload_every_weeks(INTERMEDIATE) == 5
    assert deload_every_weeks(NOVICE, older_adult=True) == 4
    assert planned_deload_weeks(4, 5, INTERMEDIATE) == (4,)
    assert planned_deload_weeks(10, 5, INTERMEDIATE) == (5, 10)
    assert planned_deload_weeks(4, 6, NOVICE) == ()
    assert planned_deload_weeks(12, 6, NOVICE) == (6, 12)
    assert planned_deload_weeks(3, 4, ADVANCED) == ()


def test_progression_by_level() -> None:
    assert progression_model(NOVICE) == ProgressionModel.LINEAR
    assert progression_model(INTERMEDIATE) == ProgressionModel.DOUBLE
    assert progression_model(ADVANCED) == ProgressionModel.RPE


# --- Injuries and the whitelist ---


def test_injuries_exclude_exercises_and_patterns() -> None:
    knee = set(contraindicated_exercise_ids(frozenset({Injury.KNEE})))
    assert {"barbell_back_squat", "dumbbell_walking_lunge", "box_jump"} <= knee
    shoulder = set(contraindicated_exercise_ids(frozenset({Injury.SHOULDER})))
    assert all(CATALOG[i].pattern != MovementPattern.VERTICAL_PUSH for i in CATALOG if i not in shoulder)
    allowed = allowed_exercise_ids(frozenset({Equipment.BAND}), frozenset({Injury.LOWER_BACK}), NOVICE)
    assert "band_good_morning" not in allowed and "band_seated_row" in allowed
    assert all(CATALOG[i].level == NOVICE for i in allowed)


def test_analyse_a_persona() -> None:
    data = analyse(persona_user_data("banded_grandpa_george", uuid.UUID(int=1)))
    assert data.older_adult and data.training_status == NOVICE
    assert data.session_muscle_cap == 6 and data.max_sets_per_exercise == 3
    assert data.deload_every_weeks == 4
    assert data.prescription.compound.rir >= 2
    assert any("Lower back" in note for note in data.safety_notes)
    assert any("65+" in note for note in data.safety_notes)
    with pytest.raises(ValidationError):
        data.older_adult = False  # type: ignore[misc]


def test_analyse_records_one_rep_max_and_caps_status() -> None:
    data = analyse(persona_user_data("overclaiming_oliver", uuid.UUID(int=2)))
    assert data.training_status == INTERMEDIATE and "capped" in data.status_reason
    # Epley 50.67, Brzycki 49.66: mean 50.2
    assert data.one_rep_max_kg["one_arm_dumbbell_row"] == pytest.approx(50.2)
    marco = analyse(persona_user_data("masters_marco", uuid.UUID(int=3)))
    assert "barbell_deadlift" not in marco.one_rep_max_kg  # 12 reps: no estimate


@pytest.mark.parametrize("name", sorted(PERSONAS))
def test_every_persona_analyses_and_serialises(name: str) -> None:
    data = analyse(persona_user_data(name, uuid.UUID(int=4)))
    assert data.allowed_exercise_ids
    assert set(data.allowed_exercise_ids).isdisjoint(data.contraindicated_exercise_ids)
    assert type(data).model_validate_json(data.model_dump_json()) == data
