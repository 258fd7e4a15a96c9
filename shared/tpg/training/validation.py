"""Validation of a training program.

Two levels:
- basic: `parse_program` checks the schema (pydantic, TrainingProgram) and raises ProgramSchemaError;
- enhanced: `validate_program` checks science and safety against the user's analysis and returns a
  ValidationReport of violations with stable codes.

Severity policy: *unsafe* or *grossly wrong* is an error (unknown exercise, unavailable equipment,
contraindicated exercise, more days than the user has, volume or session length far beyond the
ceilings, a long block with no deload). Everything a reasonable coach might argue about is a warning,
so good LLM programs are not rejected for trivia. `ok` means no errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from tpg.training.analysis import EnhancedUserData
from tpg.training.catalog import CATALOG, MAJOR_MUSCLES, Exercise, equipment_available, level_allows
from tpg.training.formulas import counted_volume, estimate_session_minutes, week_total_sets, weekly_volume
from tpg.training.program import ExercisePrescription, TrainingProgram, TrainingWeek
from tpg.training.report import Findings, Severity, ValidationReport, ViolationCode
from tpg.training.safety_checks import check_safety, progression_kind
from tpg.training.user_data import ExperienceLevel

# ---------------------------------------------------------------------------------------------------
# Basic validation
# ---------------------------------------------------------------------------------------------------


class ProgramSchemaError(ValueError):
    """The raw program does not match the TrainingProgram schema (or is not JSON)."""

    def __init__(self, message: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.errors = errors


def parse_program(raw: str | bytes | Mapping[str, Any]) -> TrainingProgram:
    try:
        if isinstance(raw, str | bytes):
            return TrainingProgram.model_validate_json(raw)
        return TrainingProgram.model_validate(raw)
    except ValidationError as exc:
        # Plain, JSON-safe error entries (pydantic's can hold exception objects in `ctx`).
        errors = [
            {"loc": ".".join(str(part) for part in e["loc"]), "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False)
        ]
        message = f"program does not match the schema: {len(errors)} error(s)"
        raise ProgramSchemaError(message, errors) from exc


# ---------------------------------------------------------------------------------------------------
# Shared computations (the offline generator uses the same ones)
# ---------------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------------
# Tolerances (sensible slack: trivia warns, gross errors fail)
# ---------------------------------------------------------------------------------------------------


def _volume_low_threshold(minimum: float) -> float:
    return minimum - max(1.0, 0.2 * minimum)


def _volume_high_warning(maximum: float) -> float:
    return maximum


def _volume_high_error(maximum: float) -> float:
    # The documented ceiling plus rounding slack (secondary muscles count half sets).
    return maximum + 2


def _session_cap_warning(cap: int) -> float:
    return cap + 2  # IUSCA's ~10 sets for a cap of 8


def _session_cap_error(cap: int) -> float:
    return max(cap * 1.5, cap + 6.0)


def _session_minutes_warning(minutes: int) -> float:
    return minutes * 1.02


def _session_minutes_error(minutes: int) -> float:
    return minutes * 1.10  # by the honest estimate (formulas.py): 10% is the user's, not ours


DELOAD_MAX_SET_RATIO = 0.85  # a deload week should have clearly fewer sets than a loading week
MAX_WEEKLY_VOLUME_GROWTH = 1.25  # IUSCA: raise sets by at most ~20% per cycle; 25% leaves rounding slack


# ---------------------------------------------------------------------------------------------------
# Enhanced validation
# ---------------------------------------------------------------------------------------------------


def validate_program(program: TrainingProgram, data: EnhancedUserData) -> ValidationReport:
    findings = Findings()
    _check_header(program, data, findings)
    _check_exercises(program, data, findings)
    _check_sessions(program, data, findings)
    loading_weeks = [w for w in program.schedule if not w.is_deload] or program.schedule
    _check_weekly_volume(loading_weeks, data, findings)
    _check_deloads(program, data, findings)
    _check_progression(program, data, findings)
    check_safety(program, data, findings)
    return findings.report(weekly_volume(loading_weeks[0]))


def _check_header(program: TrainingProgram, data: EnhancedUserData, findings: Findings) -> None:
    user = data.user
    if program.days_per_week > data.days_per_week:
        findings.add(
            ViolationCode.FREQUENCY_MISMATCH,
            Severity.ERROR,
            f"{program.days_per_week} sessions a week, but the user trains {data.days_per_week} days.",
        )
    elif program.days_per_week < data.days_per_week:
        findings.add(
            ViolationCode.FREQUENCY_MISMATCH,
            Severity.WARNING,
            f"{program.days_per_week} sessions a week, fewer than the {data.days_per_week} days available.",
        )
    if program.session_minutes > _session_minutes_warning(user.session_minutes):
        findings.add(
            ViolationCode.SESSION_TOO_LONG,
            Severity.WARNING,
            f"Planned {program.session_minutes} min sessions; the user has {user.session_minutes}.",
            subject="header",
        )
    if program.goal != user.goal:
        findings.add(
            ViolationCode.GOAL_MISMATCH,
            Severity.WARNING,
            f"Program goal {program.goal.value}, user goal {user.goal.value}.",
        )
    if program.level != data.training_status:
        findings.add(
            ViolationCode.LEVEL_MISMATCH,
            Severity.WARNING,
            f"Program level {program.level.value}, analysed status {data.training_status.value}.",
        )
    for week in program.schedule:
        if sorted(d.day for d in week.days) != list(range(1, len(week.days) + 1)):
            findings.add(
                ViolationCode.SCHEDULE_INCONSISTENT,
                Severity.WARNING,
                f"Week {week.week}: days should be numbered 1..{len(week.days)} once each.",
                week=week.week,
            )


# Where a finding about one exercise is: its week, day and exercise id.
_Where = dict[str, Any]


def _check_exercises(program: TrainingProgram, data: EnhancedUserData, findings: Findings) -> None:
    """Each exercise of each session on its own: one check per rule, in this order (the first finding
    per code and subject is the one kept)."""
    for week in program.schedule:
        for day in week.days:
            seen: set[str] = set()
            for item in day.exercises:
                where: _Where = {"week": week.week, "day": day.day, "exercise_id": item.exercise_id}
                _check_duplicate(item, seen, findings, where)
                seen.add(item.exercise_id)
                exercise = _known_exercise(item, findings, where)
                if exercise is None:
                    continue
                _check_equipment(exercise, data, findings, where)
                _check_level(exercise, data, findings, where)
                _check_reps_window(item, exercise, data, findings, where)
                _check_rest(item, exercise, data, findings, where)
                if not week.is_deload:
                    _check_effort(item, exercise, data, findings, where)


def _check_duplicate(item: ExercisePrescription, seen: set[str], findings: Findings, where: _Where) -> None:
    if item.exercise_id in seen:
        findings.add(
            ViolationCode.DUPLICATE_EXERCISE,
            Severity.WARNING,
            f"{item.exercise_id} appears twice in week {where['week']} day {where['day']}.",
            subject=item.exercise_id,
            **where,
        )


def _known_exercise(item: ExercisePrescription, findings: Findings, where: _Where) -> Exercise | None:
    """The catalog's exercise, or None (and an error) when the id is not in the catalog."""
    exercise = CATALOG.get(item.exercise_id)
    if exercise is None:
        findings.add(
            ViolationCode.UNKNOWN_EXERCISE,
            Severity.ERROR,
            f"'{item.exercise_id}' is not in the exercise catalog.",
            subject=item.exercise_id,
            **where,
        )
    return exercise


def _check_equipment(exercise: Exercise, data: EnhancedUserData, findings: Findings, where: _Where) -> None:
    user = data.user
    if not equipment_available(exercise, user.equipment):
        missing = sorted(e.value for e in exercise.equipment - set(user.equipment))
        findings.add(
            ViolationCode.EQUIPMENT_UNAVAILABLE,
            Severity.ERROR,
            f"{exercise.name} needs {', '.join(missing)}, which the user does not have.",
            subject=exercise.id,
            **where,
        )


def _check_level(exercise: Exercise, data: EnhancedUserData, findings: Findings, where: _Where) -> None:
    if not level_allows(exercise, data.training_status):
        findings.add(
            ViolationCode.EXERCISE_TOO_ADVANCED,
            Severity.WARNING,
            f"{exercise.name} is {exercise.level.value}-level; the user is {data.training_status.value}.",
            subject=exercise.id,
            **where,
        )


def _check_reps_window(
    item: ExercisePrescription, exercise: Exercise, data: EnhancedUserData, findings: Findings, where: _Where
) -> None:
    rx = data.prescription
    low, high = rx.compound_reps_window if exercise.compound else rx.isolation_reps_window
    # Far outside the goal's window (a strength program of 25-30 reps) is wrong, not taste.
    gross = item.reps_min > high + 5 or (exercise.compound and item.reps_min > 2 * high)
    if item.reps_max < low or item.reps_min > high:
        findings.add(
            ViolationCode.REPS_OFF_GOAL,
            Severity.ERROR if gross and not exercise.timed else Severity.WARNING,
            f"{exercise.name}: {item.reps_min}-{item.reps_max} reps is outside "
            f"{low}-{high} for {data.user.goal.value}.",
            subject=exercise.id,
            **where,
        )


def _check_rest(
    item: ExercisePrescription, exercise: Exercise, data: EnhancedUserData, findings: Findings, where: _Where
) -> None:
    rx = data.prescription
    if exercise.compound and item.rest_seconds < rx.min_rest_compound_seconds:
        gross_rest = item.rest_seconds < rx.min_rest_compound_seconds / 2
        findings.add(
            ViolationCode.REST_OFF_GOAL,
            Severity.ERROR if gross_rest else Severity.WARNING,
            f"{exercise.name}: {item.rest_seconds}s rest is short for "
            f"{data.user.goal.value} (at least {rx.min_rest_compound_seconds}s).",
            subject=exercise.id,
            **where,
        )
    elif exercise.compound and item.reps_max <= 6 and item.rest_seconds < 120:
        # Heavy sets (>= ~85% 1RM) need 2+ minutes (ACSM 2009, NSCA).
        findings.add(
            ViolationCode.REST_OFF_GOAL,
            Severity.WARNING,
            f"{exercise.name}: heavy sets need at least 120s rest.",
            subject=exercise.id,
            **where,
        )


def _check_effort(
    item: ExercisePrescription, exercise: Exercise, data: EnhancedUserData, findings: Findings, where: _Where
) -> None:
    """Loading weeks only (a deload is meant to be easy)."""
    rx = data.prescription
    if item.rir < rx.min_rir:
        findings.add(
            ViolationCode.EFFORT_OFF_GOAL,
            Severity.WARNING,
            f"{exercise.name}: RIR {item.rir} is closer to failure than advised (at least {rx.min_rir}).",
            subject=exercise.id,
            **where,
        )
    elif item.rir >= 5:
        findings.add(
            ViolationCode.EFFORT_OFF_GOAL,
            Severity.WARNING,
            f"{exercise.name}: RIR {item.rir} is too easy to count as a hard set.",
            subject=exercise.id,
            **where,
        )


def _check_sessions(program: TrainingProgram, data: EnhancedUserData, findings: Findings) -> None:
    minutes = data.user.session_minutes
    cap = data.session_muscle_cap
    for week in program.schedule:
        for day in week.days:
            where = {"week": week.week, "day": day.day}
            estimate = estimate_session_minutes(day.exercises)
            if estimate > _session_minutes_error(minutes):
                findings.add(
                    ViolationCode.SESSION_TOO_LONG,
                    Severity.ERROR,
                    f"Week {week.week} day {day.day} takes about {estimate:.0f} min; the user has {minutes}.",
                    subject="session",
                    **where,
                )
            elif estimate > _session_minutes_warning(minutes):
                findings.add(
                    ViolationCode.SESSION_TOO_LONG,
                    Severity.WARNING,
                    f"Week {week.week} day {day.day} takes about {estimate:.0f} min; the user has {minutes}.",
                    subject="session",
                    **where,
                )
            if abs(day.estimated_minutes - estimate) > max(10.0, 0.25 * estimate):
                findings.add(
                    ViolationCode.ESTIMATE_MISMATCH,
                    Severity.WARNING,
                    f"Week {week.week} day {day.day} states {day.estimated_minutes} min; the "
                    f"estimate from sets, reps and rest is {estimate:.0f}.",
                    subject="estimate",
                    **where,
                )
            for muscle, sets in sorted(counted_volume(day.exercises).items()):
                if muscle not in MAJOR_MUSCLES:
                    continue
                if sets > _session_cap_error(cap):
                    severity = Severity.ERROR
                elif sets > _session_cap_warning(cap):
                    severity = Severity.WARNING
                else:
                    continue
                findings.add(
                    ViolationCode.SESSION_VOLUME_CAP,
                    severity,
                    f"{sets:g} sets for {muscle.value} in week {week.week} day {day.day}; "
                    f"about {cap} per session is productive.",
                    subject=muscle.value,
                    muscle=muscle,
                    **where,
                )


def _check_weekly_volume(
    loading_weeks: list[TrainingWeek], data: EnhancedUserData, findings: Findings
) -> None:
    for week in loading_weeks:
        volume = weekly_volume(week)
        for muscle in MAJOR_MUSCLES:
            target = data.volume_targets[muscle]
            sets = volume.get(muscle, 0.0)
            where = {"week": week.week, "muscle": muscle}
            if sets > _volume_high_error(target.max_sets):
                findings.add(
                    ViolationCode.WEEKLY_VOLUME_HIGH,
                    Severity.ERROR,
                    f"{sets:g} weekly sets for {muscle.value} in week {week.week}, far above "
                    f"the {target.max_sets:g} ceiling.",
                    subject=muscle.value,
                    **where,
                )
            elif sets > _volume_high_warning(target.max_sets):
                findings.add(
                    ViolationCode.WEEKLY_VOLUME_HIGH,
                    Severity.WARNING,
                    f"{sets:g} weekly sets for {muscle.value} in week {week.week}, above the "
                    f"{target.max_sets:g} ceiling.",
                    subject=muscle.value,
                    **where,
                )
            elif target.min_sets > 0 and sets < _volume_low_threshold(target.min_sets):
                findings.add(
                    ViolationCode.WEEKLY_VOLUME_LOW,
                    Severity.WARNING,
                    f"{sets:g} weekly sets for {muscle.value} in week {week.week}, below the "
                    f"{target.min_sets:g} minimum.",
                    subject=muscle.value,
                    **where,
                )

    # Twice a week beats once (Schoenfeld 2016); checked on the first loading week only.
    first = loading_weeks[0]
    if len(first.days) >= 2:
        for muscle in MAJOR_MUSCLES:
            if data.volume_targets[muscle].min_sets < 4:
                continue
            sessions = sum(1 for day in first.days if counted_volume(day.exercises).get(muscle, 0) >= 1)
            if sessions == 1:
                findings.add(
                    ViolationCode.MUSCLE_FREQUENCY_LOW,
                    Severity.WARNING,
                    f"{muscle.value} is trained in one session a week; two or more is better.",
                    subject=muscle.value,
                    muscle=muscle,
                    week=first.week,
                )


def _longest_loading_run(program: TrainingProgram) -> int:
    longest = current = 0
    for week in program.schedule:
        current = 0 if week.is_deload else current + 1
        longest = max(longest, current)
    return longest


def _check_deloads(program: TrainingProgram, data: EnhancedUserData, findings: Findings) -> None:
    planned = data.planned_deload_weeks(program.weeks)
    deloads = [w for w in program.schedule if w.is_deload]
    run = _longest_loading_run(program)
    # Tolerance of one week around the cadence: where the deload falls is the coach's call.
    if run > data.deload_every_weeks + 1:
        findings.add(
            ViolationCode.MISSING_DELOAD,
            Severity.ERROR,
            f"{run} weeks in a row without a deload; plan one at least every "
            f"{data.deload_every_weeks} weeks.",
        )
    elif planned and not deloads:
        findings.add(
            ViolationCode.MISSING_DELOAD,
            Severity.WARNING,
            f"A {program.weeks}-week program should include a deload week (e.g. week {planned[0]}).",
        )

    loading = [week_total_sets(w) for w in program.schedule if not w.is_deload]
    if deloads and loading:
        average = sum(loading) / len(loading)
        for week in deloads:
            if week_total_sets(week) > DELOAD_MAX_SET_RATIO * average:
                findings.add(
                    ViolationCode.DELOAD_NOT_REDUCED,
                    Severity.WARNING,
                    f"Deload week {week.week} keeps {week_total_sets(week)} sets (loading weeks "
                    f"average {average:.0f}); cut sets by 30-50%.",
                    subject=str(week.week),
                    week=week.week,
                )


def _check_progression(program: TrainingProgram, data: EnhancedUserData, findings: Findings) -> None:
    kind = progression_kind(program.progression.model)
    status = data.training_status
    if kind is None:
        findings.add(
            ViolationCode.BAD_PROGRESSION,
            Severity.WARNING,
            f"Unknown progression model '{program.progression.model}' (linear, double or rpe).",
        )
    elif status == ExperienceLevel.NOVICE and kind in ("rpe", "periodized"):
        findings.add(
            ViolationCode.BAD_PROGRESSION,
            Severity.WARNING,
            "Novices progress best with simple linear progression; RPE ratings are less accurate for them.",
        )
    elif status == ExperienceLevel.ADVANCED and kind == "linear":
        findings.add(
            ViolationCode.BAD_PROGRESSION,
            Severity.WARNING,
            "Linear progression stalls for advanced lifters; use RPE-based or periodised loading.",
        )

    loading = [w for w in program.schedule if not w.is_deload]
    if loading:
        first = week_total_sets(loading[0])
        for week in loading[1:]:
            if week_total_sets(week) > first * MAX_WEEKLY_VOLUME_GROWTH + 1:
                findings.add(
                    ViolationCode.BAD_PROGRESSION,
                    Severity.WARNING,
                    f"Week {week.week} has {week_total_sets(week)} sets against {first} in week "
                    f"{loading[0].week}: raise volume by at most ~20% per cycle (IUSCA).",
                    subject="volume",
                    week=week.week,
                )
                break
