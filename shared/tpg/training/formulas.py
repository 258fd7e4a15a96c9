"""The formulas the rules engine, the validator, the LLM prompt and the LLM-answer expansion share.

Session time, counted volume, deload and introductory-week rules live here once, so the engine writes
what the validator accepts and the prompt tells the model the same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from tpg.training.catalog import CATALOG, Muscle
from tpg.training.program import ExercisePrescription, TrainingProgram, TrainingWeek

# Session length, the honest estimate the engine fits to and the validator holds programs to:
#   minutes = WARMUP + sum over exercises of (SETUP + ramp-up sets + sets * (work + rest)) / 60
# where work = mean reps * SECONDS_PER_REP (holds: HOLD_SECONDS_PER_REP), twice for one-sided
# exercises (each side is a set's worth of work), and rest is counted after every set (after the last
# one it stands for the walk to the next station). Heavy compound lifts need ramp-up sets before the
# first working set (a barbell lift 3, another loaded compound 1; NSCA warm-up practice), which earlier
# estimates left out. Calibrated against the notes' time budget: 20 hypertrophy sets of ~10 reps at
# 90-120 s rest give about 55-60 minutes (60 min = 16-22 sets) [A3].
WARMUP_MINUTES = 5.0
SETUP_SECONDS_PER_EXERCISE = 60.0
SECONDS_PER_REP = 3.0
HOLD_SECONDS_PER_REP = 5.0
RAMP_UP_SET_SECONDS = 75.0  # about 5 easy reps and a minute to change the load
_RAMP_UP_SETS = {"barbell": 3, "free_weight": 1, "machine": 1}


def ramp_up_sets(exercise_id: str) -> int:
    exercise = CATALOG.get(exercise_id)
    if exercise is None or not exercise.compound:
        return 0
    return _RAMP_UP_SETS.get(exercise.loading.value, 0)


def estimate_exercise_seconds(prescription: ExercisePrescription) -> float:
    exercise = CATALOG.get(prescription.exercise_id)
    mean_reps = (prescription.reps_min + prescription.reps_max) / 2
    per_rep = HOLD_SECONDS_PER_REP if exercise is not None and exercise.timed else SECONDS_PER_REP
    sides = 2 if exercise is not None and exercise.unilateral else 1
    work = mean_reps * per_rep * sides
    warm_up = ramp_up_sets(prescription.exercise_id) * RAMP_UP_SET_SECONDS
    return SETUP_SECONDS_PER_EXERCISE + warm_up + prescription.sets * (work + prescription.rest_seconds)


def estimate_session_minutes(exercises: Iterable[ExercisePrescription]) -> float:
    return WARMUP_MINUTES + sum(estimate_exercise_seconds(e) for e in exercises) / 60


# Deloads [A7]: cut sets by 30-50% and add 1-2 RIR (heuristic, from the notes). The first loading
# week of a block is introductory: one rep further from failure, at most INTRO_WEEK_MAX_RIR.
DELOAD_SET_FACTOR = 0.6
DELOAD_EXTRA_RIR = 2
INTRO_WEEK_MAX_RIR = 4


def deload_sets(sets: int) -> int:
    return max(1, round(sets * DELOAD_SET_FACTOR))


def deload_rir(rir: int) -> int:
    return min(5, rir + DELOAD_EXTRA_RIR)


def intro_week_rir(rir: int) -> int:
    return rir + 1 if rir < INTRO_WEEK_MAX_RIR else rir


def counted_volume(exercises: Iterable[ExercisePrescription]) -> dict[Muscle, float]:
    """Counted sets per muscle: primary 1 per set, secondary 0.5 (Pelland 2025). Unknown ids count 0."""
    volume: dict[Muscle, float] = defaultdict(float)
    for prescription in exercises:
        exercise = CATALOG.get(prescription.exercise_id)
        if exercise is None:
            continue
        for muscle in exercise.primary_muscles:
            volume[muscle] += prescription.sets
        for muscle in exercise.secondary_muscles:
            volume[muscle] += 0.5 * prescription.sets
    return dict(volume)


def weekly_volume(week: TrainingWeek) -> dict[Muscle, float]:
    return counted_volume(e for day in week.days for e in day.exercises)


def week_total_sets(week: TrainingWeek) -> int:
    return sum(e.sets for day in week.days for e in day.exercises)


def with_catalog_names(program: TrainingProgram) -> TrainingProgram:
    """Every known exercise under its catalog name: names are the code's, never a model's (an LLM
    that writes "Behind-the-neck press" on a safe id does not rename it; an unknown id stays as it
    is for the validator to reject)."""
    data = program.model_dump()
    for week in data["schedule"]:
        for day in week["days"]:
            for item in day["exercises"]:
                exercise = CATALOG.get(item["exercise_id"])
                if exercise is not None:
                    item["name"] = exercise.name[:80]
    return TrainingProgram.model_validate(data)


def weeks_until(event: date | None, *, today: date) -> int | None:
    """The program week (1-based, the program starting `today`) in which `event` falls, or None."""
    if event is None:
        return None
    days = (event - today).days
    return days // 7 + 1 if days >= 0 else None
