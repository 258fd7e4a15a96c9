"""First analysis: everything computable from UserData before a program is written.

`analyse(user)` returns one frozen `EnhancedUserData`, read by the offline generator, the enhanced
validator and the LLM prompt, so all three apply the same numbers. Every rule is a small pure function;
the source of each number is in shared/notes/training-science.md (section in brackets). Where a number
is a coaching heuristic rather than a finding, the comment says so.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from tpg.training.catalog import (
    ALL_EXERCISES,
    CATALOG,
    MAJOR_MUSCLES,
    MovementPattern,
    Muscle,
    available_exercises,
    is_contraindicated,
    level_rank,
)
from tpg.training.formulas import weeks_until
from tpg.training.rules import Referral, SafetyPlan, safety_plan
from tpg.training.user_data import Equipment, ExperienceLevel, Goal, Injury, LiftRecord, Sex, UserData

_NOVICE = ExperienceLevel.NOVICE
_INTERMEDIATE = ExperienceLevel.INTERMEDIATE
_ADVANCED = ExperienceLevel.ADVANCED

OLDER_ADULT_AGE = 65  # NSCA position statement on resistance training for older adults (Fragala 2019) [A9]
YOUTH_AGE = 18


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------------------------------------------
# Training status
# ---------------------------------------------------------------------------------------------------

# Heuristic: the declared level, capped by reported training history. Fewer than 6 months is novice
# whatever is declared; fewer than 24 months is at most intermediate. A longer history never raises the
# declared level (a lapsed lifter who says "novice" is trained as one). training_months = 0 is taken at
# face value (the schema cannot tell "none" from "not asked"), which errs on the safe side.
INTERMEDIATE_MIN_MONTHS = 6
ADVANCED_MIN_MONTHS = 24


def training_status(declared: ExperienceLevel, training_months: int) -> ExperienceLevel:
    if training_months < INTERMEDIATE_MIN_MONTHS:
        by_history = _NOVICE
    elif training_months < ADVANCED_MIN_MONTHS:
        by_history = _INTERMEDIATE
    else:
        by_history = _ADVANCED
    return min(declared, by_history, key=level_rank)


# ---------------------------------------------------------------------------------------------------
# Strength: estimated 1RM [A1] and loads from the RPE chart [A2]
# ---------------------------------------------------------------------------------------------------

MAX_REPS_FOR_1RM = 10  # Reynolds, Gordon & Robergs 2006: no more than 10 reps in linear equations


def epley_1rm(weight_kg: float, reps: int) -> float | None:
    """Epley (1985): w * (1 + r/30). None beyond 10 reps; a single is the 1RM itself."""
    if reps < 1 or reps > MAX_REPS_FOR_1RM:
        return None
    if reps == 1:
        return weight_kg
    return weight_kg * (1 + reps / 30)


def brzycki_1rm(weight_kg: float, reps: int) -> float | None:
    """Brzycki (1993): w * 36 / (37 - r). None beyond 10 reps; a single is the 1RM itself."""
    if reps < 1 or reps > MAX_REPS_FOR_1RM:
        return None
    if reps == 1:
        return weight_kg
    return weight_kg * 36 / (37 - reps)


class LiftEstimate(_Frozen):
    exercise_id: str
    weight_kg: float
    reps: int
    epley_kg: float | None
    brzycki_kg: float | None
    # The mean of the two: a common compromise, not a published standard [A1].
    estimated_1rm_kg: float | None
    relative_strength: float | None = Field(description="Estimated 1RM / bodyweight")


def estimate_lift(record: LiftRecord, bodyweight_kg: float | None) -> LiftEstimate:
    epley = epley_1rm(record.weight_kg, record.reps)
    brzycki = brzycki_1rm(record.weight_kg, record.reps)
    estimate = None if epley is None or brzycki is None else round((epley + brzycki) / 2, 1)
    relative = round(estimate / bodyweight_kg, 2) if estimate is not None and bodyweight_kg else None
    return LiftEstimate(
        exercise_id=record.exercise_id,
        weight_kg=record.weight_kg,
        reps=record.reps,
        epley_kg=None if epley is None else round(epley, 1),
        brzycki_kg=None if brzycki is None else round(brzycki, 1),
        estimated_1rm_kg=estimate,
        relative_strength=relative,
    )


# Tuchscherer's RPE 10 row (% of 1RM for 1..12 reps to failure) [A2]. The chart depends only on
# reps + RIR, so a set of r reps at RIR x uses the entry for r + x reps.
_PERCENT_1RM_AT_FAILURE = (100.0, 95.5, 92.2, 89.2, 86.3, 83.7, 81.1, 78.6, 76.2, 73.9, 71.7, 69.5)


def percent_1rm(reps: int, rir: int) -> float | None:
    effective = reps + rir
    if reps < 1 or rir < 0 or effective > len(_PERCENT_1RM_AT_FAILURE):
        return None
    return _PERCENT_1RM_AT_FAILURE[effective - 1]


def suggested_load_kg(one_rm_kg: float, reps: int, rir: int, *, step_kg: float = 2.5) -> float | None:
    """A starting load for `reps` at `rir`, rounded down to a loadable step (errs light)."""
    percent = percent_1rm(reps, rir)
    if percent is None:
        return None
    raw = one_rm_kg * percent / 100
    return max(step_kg, (raw // step_kg) * step_kg)


# Plausibility of reported lifts [C: plausibility]: the estimated 1RM relative to body weight, against
# ceilings per sex. "Trained" ceilings sit at elite level in the OpenPowerlifting data (few lifters in a
# federation's records exceed them); "novice" ceilings are what a lifter in the first months reaches at
# most (strength-standard tables put an advanced lifter there). A lift above the ceiling is a data error:
# ignored for loads, and the user is told. Other exercises use the ceiling of their movement pattern.
_PLAUSIBLE_RELATIVE_1RM: dict[tuple[Sex, str], tuple[float, float]] = {
    # (sex, lift or pattern): (novice ceiling, trained ceiling), x body weight
    (Sex.MALE, "squat"): (1.75, 3.2),
    (Sex.MALE, "bench"): (1.3, 2.3),
    (Sex.MALE, "deadlift"): (2.1, 3.5),
    (Sex.MALE, "overhead"): (0.85, 1.5),
    (Sex.MALE, "other"): (1.5, 2.5),
    (Sex.FEMALE, "squat"): (1.4, 2.7),
    (Sex.FEMALE, "bench"): (0.9, 1.7),
    (Sex.FEMALE, "deadlift"): (1.6, 3.0),
    (Sex.FEMALE, "overhead"): (0.6, 1.1),
    (Sex.FEMALE, "other"): (1.1, 2.0),
}
_LIFT_FAMILY = {
    MovementPattern.SQUAT: "squat",
    MovementPattern.LUNGE: "squat",
    MovementPattern.HINGE: "deadlift",
    MovementPattern.HORIZONTAL_PUSH: "bench",
    MovementPattern.VERTICAL_PUSH: "overhead",
}


def plausible_ceiling(exercise_id: str, sex: Sex, status: ExperienceLevel) -> float:
    """The highest believable estimated 1RM / body weight for this lift, sex and training status."""
    exercise = CATALOG.get(exercise_id)
    family = _LIFT_FAMILY.get(exercise.pattern, "other") if exercise else "other"
    novice, trained = _PLAUSIBLE_RELATIVE_1RM[(sex, family)]
    return novice if status == _NOVICE else trained


# ---------------------------------------------------------------------------------------------------
# Volume [A3]
# ---------------------------------------------------------------------------------------------------


class SetRange(_Frozen):
    min_sets: float = Field(ge=0)
    max_sets: float = Field(ge=0)


# The conservative open-source table (liftosaur design guide): weekly counted sets, beginner vs
# intermediate+. Coaching heuristics, not findings: RP landmarks were not verifiable [A3].
_WEEKLY_SETS_BEGINNER: dict[Muscle, tuple[int, int]] = {
    Muscle.CHEST: (8, 12),
    Muscle.BACK: (8, 14),
    Muscle.QUADS: (6, 12),
    Muscle.HAMSTRINGS: (4, 10),
    Muscle.GLUTES: (4, 10),
    Muscle.SHOULDERS: (6, 12),
    Muscle.TRICEPS: (4, 10),
    Muscle.BICEPS: (4, 10),
    Muscle.CALVES: (0, 6),
    Muscle.ABS: (0, 6),
}
_WEEKLY_SETS_TRAINED: dict[Muscle, tuple[int, int]] = {
    Muscle.CHEST: (10, 20),
    Muscle.BACK: (10, 22),
    Muscle.QUADS: (8, 18),
    Muscle.HAMSTRINGS: (6, 14),
    Muscle.GLUTES: (6, 16),
    Muscle.SHOULDERS: (8, 18),
    Muscle.TRICEPS: (6, 14),
    Muscle.BICEPS: (6, 14),
    Muscle.CALVES: (6, 12),
    Muscle.ABS: (4, 10),
}

# Heuristic: the table is written for hypertrophy. Other goals keep the minimum but lower the ceiling:
# strength gains show stronger diminishing returns with volume (Pelland 2025), recovery is worse in an
# energy deficit, and general fitness does not need the top of the range. Older adults likewise.
_NON_HYPERTROPHY_CEILING = 0.8

# Heuristic: a working set credits about 1.5 counted muscle-sets on average (1 primary + 0.5 for about
# one secondary), used only to see whether the time budget can reach the minimums.
_COUNTED_SETS_PER_WORKING_SET = 1.5


def weekly_volume_targets(
    status: ExperienceLevel,
    goal: Goal,
    *,
    older_adult: bool = False,
) -> dict[Muscle, SetRange]:
    table = _WEEKLY_SETS_BEGINNER if status == _NOVICE or older_adult else _WEEKLY_SETS_TRAINED
    targets: dict[Muscle, SetRange] = {}
    for muscle in MAJOR_MUSCLES:
        low, high = table[muscle]
        if goal != Goal.HYPERTROPHY or older_adult:
            high = max(low + 2, round(high * _NON_HYPERTROPHY_CEILING))
        targets[muscle] = SetRange(min_sets=low, max_sets=high)
    return targets


def fit_volume_to_time(
    targets: dict[Muscle, SetRange], *, days_per_week: int, session_sets_max: int, session_cap: int
) -> tuple[dict[Muscle, SetRange], float]:
    """Scale the minimums down when the week's time cannot reach them; returns (targets, scale).

    A minimum the schedule cannot reach would make every honest program 'too low'. The ceilings stay:
    too much volume is still too much.
    """
    capacity = days_per_week * session_sets_max * _COUNTED_SETS_PER_WORKING_SET
    required = sum(t.min_sets for t in targets.values())
    scale = 1.0 if required <= 0 else min(1.0, capacity / required)
    fitted: dict[Muscle, SetRange] = {}
    for muscle, target in targets.items():
        # One session can only usefully hold `session_cap` sets of a muscle.
        low = min(target.min_sets * scale, days_per_week * session_cap)
        fitted[muscle] = SetRange(min_sets=round(low, 1), max_sets=target.max_sets)
    return fitted, round(scale, 2)


def session_muscle_cap(status: ExperienceLevel, *, older_adult: bool = False) -> int:
    """Counted sets per muscle per session. IUSCA 2021 caps at ~10; quality drops after 6-8 [A3]."""
    if older_adult or status == _NOVICE:
        return 6
    return 8 if status == _INTERMEDIATE else 10


def max_sets_per_exercise(status: ExperienceLevel, *, older_adult: bool = False) -> int:
    # NSCA older adults: 2-3 sets per exercise [A9]; ACSM novices 1-3 sets; trained 3-6 sets [A4].
    if older_adult:
        return 3
    return 4 if status == _NOVICE else 5


class SetBudget(_Frozen):
    min_sets: int
    max_sets: int


# Working sets per session by session length: 45 min = 12-16, 60 = 16-22, 90 = 24-30 (liftosaur
# heuristic [A3]); 20 and 180 minutes are our extrapolation, flattening because 30+ hard sets is junk.
_SET_BUDGET_ANCHORS: tuple[tuple[int, int, int], ...] = (
    (20, 5, 7),
    (45, 12, 16),
    (60, 16, 22),
    (90, 24, 30),
    (180, 30, 36),
)


def session_set_budget(session_minutes: int) -> SetBudget:
    """Working sets that fit a session, linearly interpolated between the anchors."""
    anchors = _SET_BUDGET_ANCHORS
    minutes = min(max(session_minutes, anchors[0][0]), anchors[-1][0])
    for (m0, lo0, hi0), (m1, lo1, hi1) in zip(anchors, anchors[1:], strict=False):
        if m0 <= minutes <= m1:
            t = (minutes - m0) / (m1 - m0)
            return SetBudget(min_sets=round(lo0 + t * (lo1 - lo0)), max_sets=round(hi0 + t * (hi1 - hi0)))
    raise AssertionError("unreachable: minutes is clamped to the anchor range")


# ---------------------------------------------------------------------------------------------------
# Reps, effort and rest by goal [A4]
# ---------------------------------------------------------------------------------------------------


class RepScheme(_Frozen):
    reps_min: int
    reps_max: int
    rir: int
    rest_seconds: int


class GoalPrescription(_Frozen):
    compound: RepScheme
    isolation: RepScheme
    # What the validator accepts without a warning (wider than what the generator writes).
    compound_reps_window: tuple[int, int]
    isolation_reps_window: tuple[int, int]
    min_rest_compound_seconds: int
    min_rir: int


def goal_prescription(goal: Goal, status: ExperienceLevel, *, older_adult: bool = False) -> GoalPrescription:
    novice = status == _NOVICE
    if older_adult:
        # NSCA: 70-85% 1RM (about 6-12 reps), ~2 min rest, effort kept moderate [A9].
        heavy = goal == Goal.STRENGTH
        return GoalPrescription(
            compound=RepScheme(
                reps_min=6 if heavy else 8,
                reps_max=10 if heavy else 12,
                rir=3 if novice else 2,
                rest_seconds=150 if heavy else 120,
            ),
            isolation=RepScheme(reps_min=10, reps_max=15, rir=3 if novice else 2, rest_seconds=90),
            compound_reps_window=(5, 15),
            isolation_reps_window=(8, 20),
            min_rest_compound_seconds=90,
            min_rir=2,
        )
    if goal == Goal.STRENGTH:
        # NSCA: <=6 reps at >=85%, 2-5 min rest; ACSM: novices start at 8-12RM, so novices use 5-8.
        return GoalPrescription(
            compound=RepScheme(
                reps_min=5 if novice else 3,
                reps_max=8 if novice else 6,
                rir=2,
                # heavy triples and fives of advanced lifters need 3-5 minutes (NSCA)
                rest_seconds=150 if novice else (240 if status == _ADVANCED else 180),
            ),
            isolation=RepScheme(reps_min=8, reps_max=12, rir=2, rest_seconds=90),
            compound_reps_window=(1, 10),
            isolation_reps_window=(5, 20),
            min_rest_compound_seconds=120,
            min_rir=1 if novice else 0,
        )
    if goal == Goal.HYPERTROPHY:
        # ACSM/NSCA 6-12 reps, IUSCA: wide loading zones work; rest > 60 s (Singer 2024).
        return GoalPrescription(
            compound=RepScheme(
                reps_min=8 if novice else 6,
                reps_max=12 if novice else 10,
                rir=2 if status != _ADVANCED else 1,
                rest_seconds=120,
            ),
            isolation=RepScheme(reps_min=10, reps_max=15, rir=2 if novice else 1, rest_seconds=75),
            compound_reps_window=(4, 15),
            isolation_reps_window=(6, 30),
            min_rest_compound_seconds=60,
            min_rir=1 if novice else 0,
        )
    # Fat loss and general fitness: moderate loads, shorter rest (time-efficient), 2-3 RIR.
    return GoalPrescription(
        compound=RepScheme(reps_min=8, reps_max=12, rir=3 if novice else 2, rest_seconds=90),
        isolation=RepScheme(reps_min=12, reps_max=15, rir=2, rest_seconds=60),
        compound_reps_window=(4, 20),
        isolation_reps_window=(6, 30),
        min_rest_compound_seconds=45,
        min_rir=1 if novice else 0,
    )


# ---------------------------------------------------------------------------------------------------
# Split, deloads, progression [A5-A7]
# ---------------------------------------------------------------------------------------------------


class DayType(StrEnum):
    FULL_BODY = "full_body"
    UPPER = "upper"
    LOWER = "lower"
    PUSH = "push"
    PULL = "pull"
    LEGS = "legs"


class SplitPlan(_Frozen):
    name: str
    day_types: tuple[DayType, ...]


_FB, _UP, _LO, _PU, _PL, _LE = (
    DayType.FULL_BODY,
    DayType.UPPER,
    DayType.LOWER,
    DayType.PUSH,
    DayType.PULL,
    DayType.LEGS,
)

# Liftosaur heuristic [A5]: 1-3 full body, 4 upper/lower, 5 upper/lower + PPL, 6 PPL twice. 7 days is
# our extension: PPL twice plus a lighter full-body day. Every muscle is trained at least twice a week
# from 2 days up (Schoenfeld 2016).
_SPLITS: dict[int, SplitPlan] = {
    1: SplitPlan(name="Full body", day_types=(_FB,)),
    2: SplitPlan(name="Full body", day_types=(_FB, _FB)),
    3: SplitPlan(name="Full body", day_types=(_FB, _FB, _FB)),
    4: SplitPlan(name="Upper/lower", day_types=(_UP, _LO, _UP, _LO)),
    5: SplitPlan(name="Upper/lower + push/pull/legs", day_types=(_UP, _LO, _PU, _PL, _LE)),
    6: SplitPlan(name="Push/pull/legs x2", day_types=(_PU, _PL, _LE, _PU, _PL, _LE)),
    7: SplitPlan(name="Push/pull/legs x2 + full body", day_types=(_PU, _PL, _LE, _PU, _PL, _LE, _FB)),
}


def choose_split(days_per_week: int) -> SplitPlan:
    return _SPLITS[days_per_week]


def deload_every_weeks(status: ExperienceLevel, *, older_adult: bool = False) -> int:
    """Weeks per block, the last one a deload. Survey: deloads every 5.6 +/- 2.3 weeks (Rogerson 2024)."""
    if older_adult or status == _ADVANCED:
        return 4
    return 5 if status == _INTERMEDIATE else 6


def planned_deload_weeks(weeks: int, every: int, status: ExperienceLevel) -> tuple[int, ...]:
    """1-based deload weeks for a program of `weeks` weeks.

    Every `every`-th week. Programs of 4+ weeks for trained lifters get at least one (its last week):
    the notes require one deload per 4-8 week mesocycle, optional for novices [A7].
    """
    if weeks < 4:
        return ()
    planned = tuple(range(every, weeks + 1, every))
    if not planned and status != _NOVICE:
        planned = (weeks,)
    return planned


class ProgressionModel(StrEnum):
    LINEAR = "linear"
    DOUBLE = "double"
    RPE = "rpe"


def progression_model(status: ExperienceLevel) -> ProgressionModel:
    # Novice LP; intermediate double progression; advanced RPE autoregulation [A6]. Novices are not
    # given RPE: they rate it less accurately (Zourdos 2016).
    return {
        _NOVICE: ProgressionModel.LINEAR,
        _INTERMEDIATE: ProgressionModel.DOUBLE,
        _ADVANCED: ProgressionModel.RPE,
    }[status]


# ---------------------------------------------------------------------------------------------------
# Energy [A8]
# ---------------------------------------------------------------------------------------------------


def mifflin_st_jeor(sex: Sex, weight_kg: float, height_cm: float, age: int) -> float:
    """Resting energy expenditure, kcal/day (Mifflin et al. 1990)."""
    base = 10 * weight_kg + 6.25 * height_cm - 5 * age
    return base + 5 if sex == Sex.MALE else base - 161


def activity_factor(days_per_week: int) -> float:
    # Standard factors: light (1-3 days/week) 1.375, moderate (4-5) 1.55, active (6-7) 1.725.
    if days_per_week <= 3:
        return 1.375
    return 1.55 if days_per_week <= 5 else 1.725


FAT_LOSS_DEFICIT = 0.20  # heuristic: a 20% deficit, floored at resting expenditure
PROTEIN_G_PER_KG = 1.6  # Morton 2018: no further fat-free-mass gain beyond ~1.62 g/kg/day


class EnergyNeeds(_Frozen):
    resting_kcal: int
    activity_factor: float
    maintenance_kcal: int
    target_kcal: int | None = Field(description="Daily intake target; set only for fat-loss goals")
    protein_g: int


def energy_needs(user: UserData) -> EnergyNeeds:
    resting = mifflin_st_jeor(user.sex, user.weight_kg, user.height_cm, user.age)
    factor = activity_factor(user.days_per_week)
    maintenance = resting * factor
    target = None
    if user.goal == Goal.FAT_LOSS:
        target = round(max(resting, maintenance * (1 - FAT_LOSS_DEFICIT)) / 10) * 10
    return EnergyNeeds(
        resting_kcal=round(resting),
        activity_factor=factor,
        maintenance_kcal=round(maintenance),
        target_kcal=target,
        protein_g=round(user.weight_kg * PROTEIN_G_PER_KG),
    )


# ---------------------------------------------------------------------------------------------------
# Injuries and the exercise whitelist [A9]
# ---------------------------------------------------------------------------------------------------

# Whole patterns to leave out; finer rules live on each exercise's contraindications (a unit test
# checks that every exercise in an avoided pattern is also contraindicated for that injury).
AVOIDED_PATTERNS: dict[Injury, frozenset[MovementPattern]] = {
    Injury.KNEE: frozenset({MovementPattern.LUNGE, MovementPattern.PLYOMETRIC}),
    Injury.SHOULDER: frozenset({MovementPattern.VERTICAL_PUSH}),
}


def avoided_patterns(injuries: frozenset[Injury]) -> tuple[MovementPattern, ...]:
    found = set().union(*(AVOIDED_PATTERNS.get(i, frozenset()) for i in injuries)) if injuries else set()
    return tuple(p for p in MovementPattern if p in found)


def contraindicated_exercise_ids(injuries: frozenset[Injury]) -> tuple[str, ...]:
    patterns = set(avoided_patterns(injuries))
    return tuple(e.id for e in ALL_EXERCISES if is_contraindicated(e, injuries) or e.pattern in patterns)


def allowed_exercise_ids(
    equipment: frozenset[Equipment], injuries: frozenset[Injury], level: ExperienceLevel
) -> tuple[str, ...]:
    excluded = set(contraindicated_exercise_ids(injuries))
    return tuple(e.id for e in available_exercises(equipment, injuries, level) if e.id not in excluded)


# ---------------------------------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------------------------------


class WeekPlan(_Frozen):
    deloads: tuple[int, ...]  # every light week, taper and competition week included
    taper: int | None = None
    competition: int | None = None


class EnhancedUserData(_Frozen):
    user: UserData
    training_status: ExperienceLevel
    status_reason: str
    older_adult: bool
    youth: bool
    lifts: tuple[LiftEstimate, ...]
    one_rep_max_kg: dict[str, float] = Field(description="Best estimated 1RM per exercise id")
    volume_targets: dict[Muscle, SetRange] = Field(description="Weekly counted sets per major muscle")
    volume_scale: float = Field(description="1.0 unless the minimums were scaled down to fit the time")
    session_muscle_cap: int
    max_sets_per_exercise: int
    prescription: GoalPrescription
    session_set_budget: SetBudget
    split: SplitPlan
    deload_every_weeks: int
    progression_model: ProgressionModel
    energy: EnergyNeeds
    avoided_patterns: tuple[MovementPattern, ...]
    contraindicated_exercise_ids: tuple[str, ...]
    allowed_exercise_ids: tuple[str, ...]
    safety_notes: tuple[str, ...]
    safety: SafetyPlan
    days_per_week: int = Field(description="Sessions a week planned: the user's, capped by the safety rules")
    excluded_reasons: dict[str, tuple[str, ...]] = Field(description="Excluded exercise id -> why")
    implausible_lifts: tuple[str, ...] = Field(description="Reported lifts ignored as implausible")
    today: date = Field(description="The day the program starts (competition dates count from it)")

    @property
    def referral(self) -> Referral | None:
        return self.safety.refusal

    def planned_deload_weeks(self, weeks: int) -> tuple[int, ...]:
        return planned_deload_weeks(weeks, self.deload_every_weeks, self.training_status)

    def week_plan(self, weeks: int) -> WeekPlan:
        """Which weeks of a `weeks`-week program are light: the planned deloads, and with a
        competition inside the program a taper week before it (fewer sets, effort kept: Pritchard
        2015) and the competition week itself; a planned deload next to either is dropped."""
        deloads = set(self.planned_deload_weeks(weeks))
        event_week = weeks_until(self.user.event_date, today=self.today)
        if event_week is None or not 2 <= event_week <= weeks + 1:
            return WeekPlan(deloads=tuple(sorted(deloads)))
        taper = event_week - 1
        competition = event_week if event_week <= weeks else None
        light = {taper} | ({competition} if competition else set())
        deloads = {w for w in deloads if min(abs(w - x) for x in light) > 1} | light
        return WeekPlan(deloads=tuple(sorted(deloads)), taper=taper, competition=competition)


def _with_floors(prescription: GoalPrescription, safety: SafetyPlan) -> GoalPrescription:
    """Raise reps and reps in reserve to the safety floors (a floor never lowers anything)."""

    def floored(scheme: RepScheme) -> RepScheme:
        reps_min = max(scheme.reps_min, safety.min_reps)
        return scheme.model_copy(
            update={
                "reps_min": reps_min,
                "reps_max": max(scheme.reps_max, reps_min + 2)
                if reps_min > scheme.reps_min
                else scheme.reps_max,
                "rir": max(scheme.rir, safety.min_rir),
            }
        )

    low, high = prescription.compound_reps_window
    return prescription.model_copy(
        update={
            "compound": floored(prescription.compound),
            "isolation": floored(prescription.isolation),
            "compound_reps_window": (max(low, safety.min_reps), max(high, safety.min_reps + 2)),
            "min_rir": max(prescription.min_rir, safety.min_rir),
        }
    )


def _plausible_best_lifts(
    user: UserData, lifts: tuple[LiftEstimate, ...], status: ExperienceLevel
) -> tuple[dict[str, float], list[str]]:
    best: dict[str, float] = {}
    implausible: list[str] = []
    for lift in lifts:
        if lift.estimated_1rm_kg is None or lift.relative_strength is None:
            continue
        if lift.relative_strength > plausible_ceiling(lift.exercise_id, user.sex, status):
            implausible.append(lift.exercise_id)
            continue
        best[lift.exercise_id] = max(best.get(lift.exercise_id, 0.0), lift.estimated_1rm_kg)
    return best, sorted(set(implausible))


def analyse(user: UserData, *, today: date | None = None) -> EnhancedUserData:
    status = training_status(user.experience, user.training_months)
    reason = f"declared {user.experience.value}, {user.training_months} months of training"
    if status != user.experience:
        reason += f": capped to {status.value} (intermediate needs 6+ months, advanced 24+)"
    older = user.age >= OLDER_ADULT_AGE
    # Under-18s get the conservative (novice) volume table too: a heuristic, not a finding.
    youth = user.age < YOUTH_AGE
    volume_level = _NOVICE if youth else status
    safety = safety_plan(user, status)
    days = min(user.days_per_week, safety.max_days or 7)

    lifts = tuple(estimate_lift(record, user.weight_kg) for record in user.lifts)
    best, implausible = _plausible_best_lifts(user, lifts, status)

    cap = session_muscle_cap(volume_level, older_adult=older)
    budget = session_set_budget(user.session_minutes)
    targets, scale = fit_volume_to_time(
        weekly_volume_targets(volume_level, user.goal, older_adult=older),
        days_per_week=days,
        session_sets_max=budget.max_sets,
        session_cap=cap,
    )

    notes = list(safety.notes)
    if implausible:
        names = ", ".join(i.replace("_", " ") for i in implausible)
        notes.append(
            f"The reported {names} is far above what is plausible for your body weight and training "
            "history, so no starting load is taken from it; please check the numbers in your profile."
        )
    if days < user.days_per_week:
        notes.append(
            f"{days} sessions a week are planned instead of {user.days_per_week}: the guidelines for your "
            "profile advise no more, and recovery matters; walk or stretch on the other days."
        )
    if youth and safety.age_band is None:
        notes.append("Under 18: supervised technique first; loads stay moderate (novice volume).")
    if status == _NOVICE and days > 4:
        notes.append(
            "ACSM 2009 suggests 2-3 sessions a week for novices: the weekly volume is spread thin over "
            "the extra days, so keep effort moderate."
        )
    if scale < 1:
        notes.append(f"Session time limits weekly volume: minimum targets scaled to {round(scale * 100)}%.")

    injuries = user.injury_sites
    legacy = set(contraindicated_exercise_ids(injuries))
    excluded: dict[str, tuple[str, ...]] = dict(safety.excluded)
    for exercise_id in sorted(legacy - set(excluded)):
        excluded[exercise_id] = ("injury (catalog contraindication)",)
    allowed = tuple(
        e.id for e in available_exercises(user.equipment, injuries, status) if e.id not in excluded
    )
    progression = progression_model(status)
    if safety.no_rpe_progression and progression == ProgressionModel.RPE:
        progression = ProgressionModel.DOUBLE

    return EnhancedUserData(
        user=user,
        training_status=status,
        status_reason=reason,
        older_adult=older,
        youth=youth,
        lifts=lifts,
        one_rep_max_kg=best,
        volume_targets=targets,
        volume_scale=scale,
        session_muscle_cap=cap,
        max_sets_per_exercise=max_sets_per_exercise(volume_level, older_adult=older),
        prescription=_with_floors(goal_prescription(user.goal, status, older_adult=older), safety),
        session_set_budget=budget,
        split=choose_split(days),
        deload_every_weeks=deload_every_weeks(status, older_adult=older),
        progression_model=progression,
        energy=energy_needs(user),
        avoided_patterns=avoided_patterns(injuries),
        contraindicated_exercise_ids=tuple(sorted(excluded)),
        allowed_exercise_ids=allowed,
        safety_notes=tuple(notes),
        safety=safety,
        days_per_week=days,
        excluded_reasons=excluded,
        implausible_lifts=tuple(implausible),
        today=today or date.today(),
    )
