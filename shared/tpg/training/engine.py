"""The offline generator: a deterministic, rules-based program from the analysis alone.

Used when no LLM is configured and as the fallback when an LLM program fails validation, so it must
pass the enhanced validator for every reasonable user. No randomness: the same analysis always gives
the same program (ties are broken by catalog order).

How it works:
1. the split (from the analysis) gives each day a type; each type has an ordered list of slots
   (a muscle and the movement patterns preferred for it), more important slots first;
2. each slot takes the best allowed exercise for its muscle (pattern, compound, variety across days);
   the session's set budget decides how many slots are filled;
3. sets are handed out one at a time to the exercise that most reduces the remaining gap to each
   muscle's weekly target, never exceeding the weekly ceiling, the per-session cap per muscle, the
   per-exercise cap, the session set budget or the session's minutes (same estimate as the validator);
4. sets keep being added while the session has time (80-100% of the budget is used), within the same
   ceilings;
5. the weeks are periodised: within each block the first week is one RIR easier, then effort rises
   and, for strength, the reps fall week by week (never below the safety and loadability floors);
   deload weeks cut sets by 40% and add 2 RIR; a competition date gets a taper week.

Safety comes from the analysis' `SafetyPlan` (tpg.training.rules): excluded exercises are never
candidates, rep and effort floors apply to every week, and the work the rules require (balance and
power for older adults) is placed in the week.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from tpg.training.analysis import (
    DayType,
    EnhancedUserData,
    ProgressionModel,
    RepScheme,
    suggested_load_kg,
)
from tpg.training.catalog import (
    CATALOG,
    MAJOR_MUSCLES,
    Exercise,
    LoadingType,
    MovementPattern,
    Muscle,
    catalog_order,
)
from tpg.training.formulas import (
    deload_rir,
    deload_sets,
    estimate_exercise_seconds,
    estimate_session_minutes,
    intro_week_rir,
)
from tpg.training.program import (
    ExercisePrescription,
    Progression,
    TrainingDay,
    TrainingProgram,
    TrainingWeek,
    default_program_name,
)
from tpg.training.rules import min_reps_for
from tpg.training.user_data import Equipment, ExperienceLevel, Goal

_P = MovementPattern
# A program's notes (TrainingProgram.notes' bound): the engine's first, then any from elsewhere.
MAX_PROGRAM_NOTES = 10


@dataclass(frozen=True)
class _Slot:
    muscle: Muscle
    patterns: tuple[MovementPattern, ...]
    compound: bool | None = None  # None: either is fine


_SQUAT = _Slot(Muscle.QUADS, (_P.SQUAT,), True)
_SINGLE_LEG = _Slot(Muscle.QUADS, (_P.LUNGE, _P.SQUAT, _P.ISOLATION_LOWER))
_HINGE = _Slot(Muscle.HAMSTRINGS, (_P.HINGE,), True)
_LEG_CURL = _Slot(Muscle.HAMSTRINGS, (_P.ISOLATION_LOWER, _P.HINGE))
_GLUTES = _Slot(Muscle.GLUTES, (_P.HINGE, _P.ISOLATION_LOWER))
_PRESS = _Slot(Muscle.CHEST, (_P.HORIZONTAL_PUSH,), True)
_CHEST_2 = _Slot(Muscle.CHEST, (_P.HORIZONTAL_PUSH, _P.ISOLATION_UPPER))
_OVERHEAD = _Slot(Muscle.SHOULDERS, (_P.VERTICAL_PUSH, _P.HORIZONTAL_PUSH), True)
_DELTS = _Slot(Muscle.SHOULDERS, (_P.ISOLATION_UPPER,), False)
_ROW = _Slot(Muscle.BACK, (_P.HORIZONTAL_PULL,), True)
_PULLDOWN = _Slot(Muscle.BACK, (_P.VERTICAL_PULL, _P.HORIZONTAL_PULL))
_BICEPS = _Slot(Muscle.BICEPS, (_P.ISOLATION_UPPER,))
_TRICEPS = _Slot(Muscle.TRICEPS, (_P.ISOLATION_UPPER, _P.HORIZONTAL_PUSH))
_CALVES = _Slot(Muscle.CALVES, (_P.ISOLATION_LOWER,))
_ABS = _Slot(Muscle.ABS, (_P.CORE,))

# Full-body days rotate three orders so that short sessions cover different muscles first.
_FULL_BODY = (
    (_SQUAT, _PRESS, _ROW, _HINGE, _DELTS, _BICEPS, _TRICEPS, _CALVES, _ABS),
    (_HINGE, _PULLDOWN, _SINGLE_LEG, _PRESS, _OVERHEAD, _GLUTES, _TRICEPS, _BICEPS, _ABS),
    (_SQUAT, _ROW, _CHEST_2, _GLUTES, _DELTS, _LEG_CURL, _BICEPS, _TRICEPS, _CALVES),
)
_LOWER = (_SQUAT, _HINGE, _GLUTES, _SINGLE_LEG, _LEG_CURL, _CALVES, _ABS)
_TEMPLATES: dict[DayType, tuple[tuple[_Slot, ...], ...]] = {
    DayType.FULL_BODY: _FULL_BODY,
    DayType.UPPER: (
        (_PRESS, _ROW, _OVERHEAD, _PULLDOWN, _DELTS, _CHEST_2, _BICEPS, _TRICEPS),
        (_ROW, _PRESS, _PULLDOWN, _CHEST_2, _DELTS, _OVERHEAD, _TRICEPS, _BICEPS),
    ),
    DayType.LOWER: (_LOWER, (_HINGE, _SQUAT, _LEG_CURL, _GLUTES, _SINGLE_LEG, _CALVES, _ABS)),
    DayType.PUSH: ((_PRESS, _OVERHEAD, _CHEST_2, _DELTS, _TRICEPS, _TRICEPS, _ABS),),
    DayType.PULL: ((_PULLDOWN, _ROW, _DELTS, _ROW, _BICEPS, _BICEPS, _ABS),),
    DayType.LEGS: (_LOWER,),
}
_DAY_NAMES = {
    DayType.FULL_BODY: "Full body",
    DayType.UPPER: "Upper",
    DayType.LOWER: "Lower",
    DayType.PUSH: "Push",
    DayType.PULL: "Pull",
    DayType.LEGS: "Legs",
}

# Timed holds: usable, but a dynamic exercise is preferred when one exists (reps are the unit here).
_HOLDS = frozenset({"plank", "side_plank", "wall_sit", "hollow_body_hold"})

MIN_EXERCISES_PER_SESSION = 3
_PUSH = frozenset({_P.HORIZONTAL_PUSH, _P.VERTICAL_PUSH})
_PULL = frozenset({_P.HORIZONTAL_PULL, _P.VERTICAL_PULL})
PUSH_PULL_TARGET = 1.5  # the validator's limit is 2.0; deload rounding needs the room
TIME_USE_TARGET = 0.95  # fill sessions to about this share of the budget (the validator allows 110%)
TIME_FILL_FLOOR = 0.8  # below this share of the budget a session gets another exercise
MAX_EXERCISES_PER_SESSION = 8


@dataclass
class _Item:
    exercise: Exercise
    sets: int
    scheme: RepScheme


# A light dumbbell cannot make a heavy set: with small dumbbells at home, sets stay at 8+ reps.
LIGHT_DUMBBELL_KG = 15.0


def _scheme(data: EnhancedUserData, exercise: Exercise) -> RepScheme:
    """The goal's scheme, fitted to how the exercise can be loaded and to the safety floors."""
    base = data.prescription.compound if exercise.compound else data.prescription.isolation
    floor = max(min_reps_for(exercise), data.safety.min_reps)
    if exercise.power:
        # Power: few fast reps far from failure (Fragala 2019), as many as the floors ask for.
        reps_min = max(3, floor)
        return RepScheme(reps_min=reps_min, reps_max=reps_min + 2, rir=max(3, base.rir), rest_seconds=120)
    light_dumbbell = (
        data.user.max_dumbbell_kg is not None
        and data.user.max_dumbbell_kg <= LIGHT_DUMBBELL_KG
        and exercise.loading == LoadingType.FREE_WEIGHT
    )
    if light_dumbbell:
        floor = max(floor, 8)
    if data.user.goal == Goal.STRENGTH and exercise.compound and not is_main_lift(exercise):
        # Strength work beyond the main lifts (one-sided, dumbbell, machine) supports them at 6-10 reps.
        floor = max(floor, 6)
        base = base.model_copy(update={"rest_seconds": min(base.rest_seconds, 150)})
    if base.reps_min >= floor:
        return base
    return base.model_copy(update={"reps_min": floor, "reps_max": max(base.reps_max, floor + 4)})


def is_main_lift(exercise: Exercise) -> bool:
    """A two-sided barbell lift of a main pattern: what strength blocks load heaviest."""
    return (
        exercise.loading == LoadingType.BARBELL
        and not exercise.unilateral
        and exercise.pattern in (_P.SQUAT, _P.HINGE, _P.HORIZONTAL_PUSH, _P.VERTICAL_PUSH)
    )


@dataclass(frozen=True)
class _Preferences:
    vary_across_days: bool  # novices repeat their main lifts (linear progression needs repetition)
    avoid_barbell: bool  # older adults: supported and machine variants first (less skill, less axial load)
    single_target: bool  # prefer exercises aimed at one muscle (hypertrophy); strength keeps the big lifts


def _preferences(data: EnhancedUserData) -> _Preferences:
    return _Preferences(
        # Strength is specific: the main lifts come back every session they fit (a lifter who competes
        # in the squat squats twice a week); hypertrophy and the rest vary the exercises.
        vary_across_days=data.training_status != ExperienceLevel.NOVICE and data.user.goal != Goal.STRENGTH,
        avoid_barbell=data.older_adult,
        single_target=data.user.goal != Goal.STRENGTH,
    )


def _pick(
    slot: _Slot,
    allowed: list[Exercise],
    today: list[Exercise],
    used_this_week: dict[str, int],
    prefs: _Preferences,
) -> Exercise | None:
    used_today = {e.id for e in today}
    candidates = [e for e in allowed if slot.muscle in e.primary_muscles and e.id not in used_today]
    if not candidates:
        return None

    def rank(exercise: Exercise) -> tuple[int, ...]:
        pattern_rank = (
            slot.patterns.index(exercise.pattern) if exercise.pattern in slot.patterns else len(slot.patterns)
        )
        compound_miss = int(slot.compound is not None and exercise.compound != slot.compound)
        # Two near-identical lifts in one session (barbell row + Pendlay row) add little.
        near_duplicate = int(
            any(
                e.pattern == exercise.pattern
                and e.equipment == exercise.equipment
                and set(e.primary_muscles) & set(exercise.primary_muscles)
                for e in today
            )
        )
        return (
            pattern_rank,
            compound_miss,
            near_duplicate,
            int(exercise.id in _HOLDS),
            int(prefs.avoid_barbell and Equipment.BARBELL in exercise.equipment),
            used_this_week.get(exercise.id, 0) if prefs.vary_across_days else 0,
            len(exercise.primary_muscles) - 1 if prefs.single_target else 0,
            catalog_order(exercise.id),
        )

    return min(candidates, key=rank)


def _exercises_per_session(data: EnhancedUserData) -> int:
    # About 2-3 sets per exercise.
    by_budget = math.ceil(data.session_set_budget.max_sets / 2.5)
    return max(MIN_EXERCISES_PER_SESSION, min(MAX_EXERCISES_PER_SESSION, by_budget))


def _weekly_aims(data: EnhancedUserData) -> dict[Muscle, float]:
    """Where in each weekly range to aim: the middle for hypertrophy, lower for the other goals."""
    fill = {Goal.HYPERTROPHY: 0.5, Goal.STRENGTH: 0.4}.get(data.user.goal, 0.3)
    return {m: t.min_sets + fill * max(0.0, t.max_sets - t.min_sets) for m, t in data.volume_targets.items()}


# The first slots of every session are fixed (the main lifts: squat or hinge, push, pull on full-body
# days); later ones go to the muscles furthest behind their weekly aim, pro rata over the days planned
# so far, assuming ~2.5 sets per exercise.
_ANCHOR_SLOTS = {DayType.FULL_BODY: 3}
_DEFAULT_ANCHOR_SLOTS = 2
_PLANNED_SETS_PER_EXERCISE = 2.5


def _relative_gap(
    muscle: Muscle, aims: dict[Muscle, float], projected: dict[Muscle, float], share: float
) -> float:
    """How far a muscle is behind its pro-rata weekly aim, as a fraction of that aim."""
    due = aims.get(muscle, 0.0) * share
    return (due - projected[muscle]) / due if due > 0 else -projected[muscle]


def _select(data: EnhancedUserData) -> list[list[_Item]]:
    allowed = [CATALOG[i] for i in data.allowed_exercise_ids]
    prefs = _preferences(data)
    per_session = _exercises_per_session(data)
    aims = _weekly_aims(data)
    day_count = len(data.split.day_types)
    projected: dict[Muscle, float] = defaultdict(float)
    used_this_week: dict[str, int] = defaultdict(int)
    occurrences: dict[DayType, int] = defaultdict(int)
    days: list[list[_Item]] = []
    for day_index, day_type in enumerate(data.split.day_types):
        variants = _TEMPLATES[day_type]
        slots = list(variants[occurrences[day_type] % len(variants)])
        occurrences[day_type] += 1
        share = (day_index + 1) / day_count
        today: list[Exercise] = []
        while slots and len(today) < per_session:
            if len(today) < _ANCHOR_SLOTS.get(day_type, _DEFAULT_ANCHOR_SLOTS):
                slot = slots.pop(0)
            else:
                # max() keeps the earliest slot on ties, so the template order still breaks them.
                slot = max(slots, key=lambda s: _relative_gap(s.muscle, aims, projected, share))
                slots.remove(slot)
            exercise = _pick(slot, allowed, today, used_this_week, prefs)
            if exercise is None:
                continue
            today.append(exercise)
            used_this_week[exercise.id] += 1
            for muscle in MAJOR_MUSCLES:
                projected[muscle] += exercise.works(muscle) * _PLANNED_SETS_PER_EXERCISE
        days.append([_Item(exercise=e, sets=1, scheme=_scheme(data, e)) for e in today])
    _add_required_work(data, allowed, days)
    for items in days:
        items.sort(key=lambda item: _order_key(item.exercise))
    return days


def _day_muscles(day_type: DayType) -> frozenset[Muscle]:
    return frozenset(slot.muscle for variant in _TEMPLATES[day_type] for slot in variant)


def _order_key(exercise: Exercise) -> int:
    """Power first (fresh), then the main lifts, then the rest, balance practice last (ACSM 2009)."""
    if exercise.power:
        return 0
    if exercise.balance_training:
        return 3
    return 1 if exercise.compound and exercise.pattern not in (_P.CORE, _P.CARRY) else 2


def _add_required_work(data: EnhancedUserData, allowed: list[Exercise], days: list[list[_Item]]) -> None:
    """Place what the safety rules require: a power exercise on day 1, balance practice on day 1 and
    (with 3+ days) day 3, as the NSCA recommends for older adults (Fragala 2019)."""

    def first(predicate: Callable[[Exercise], bool]) -> Exercise | None:
        return min((e for e in allowed if predicate(e)), key=lambda e: catalog_order(e.id), default=None)

    power = first(lambda e: e.power) if data.safety.requires_power else None
    balance = first(lambda e: e.balance_training) if data.safety.requires_balance_training else None
    if power is not None and not any(i.exercise.power for items in days for i in items):
        days[0].insert(0, _Item(exercise=power, sets=1, scheme=_scheme(data, power)))
    if balance is not None:
        for index in sorted({0, 2} & set(range(len(days)))):
            if not any(i.exercise.balance_training for i in days[index]):
                days[index].append(_Item(exercise=balance, sets=1, scheme=_scheme(data, balance)))


def _item_seconds(item: _Item, sets: int) -> float:
    if sets == 0:
        return 0.0  # not (yet) in the session: no setup either
    prescription = _prescription(item, sets=sets, rir=item.scheme.rir)
    return estimate_exercise_seconds(prescription)


def _prescription(
    item: _Item, *, sets: int, rir: int, reps: tuple[int, int] | None = None, notes: str | None = None
) -> ExercisePrescription:
    reps_min, reps_max = reps or (item.scheme.reps_min, item.scheme.reps_max)
    return ExercisePrescription(
        exercise_id=item.exercise.id,
        name=item.exercise.name[:80],
        sets=sets,
        reps_min=reps_min,
        reps_max=reps_max,
        rir=rir,
        rest_seconds=item.scheme.rest_seconds,
        notes=notes,
    )


@dataclass
class _Allocation:
    """What `_allocate` works on: the sessions, the volume and minutes handed out so far, the limits."""

    data: EnhancedUserData
    days: list[list[_Item]]
    aims: dict[Muscle, float]  # where in each weekly range to aim
    ceilings: dict[Muscle, float]  # the weekly maximum per muscle
    cap: int  # sets per muscle per session
    budget: int  # sets per session
    seconds_available: float  # a session's minutes after the warm-up
    weekly: dict[Muscle, float]  # counted sets per muscle this week
    session: list[dict[Muscle, float]]  # counted sets per muscle, per session
    seconds: list[float]  # estimated seconds of work, per session

    @classmethod
    def start(cls, data: EnhancedUserData, days: list[list[_Item]]) -> _Allocation:
        session = [_session_volume(items) for items in days]
        weekly: dict[Muscle, float] = defaultdict(float)
        for volume in session:
            for muscle, sets in volume.items():
                weekly[muscle] += sets
        return cls(
            data=data,
            days=days,
            aims=_weekly_aims(data),
            ceilings={m: t.max_sets for m, t in data.volume_targets.items()},
            cap=data.session_muscle_cap,
            budget=data.session_set_budget.max_sets,
            seconds_available=(data.user.session_minutes - estimate_session_minutes([])) * 60,
            weekly=weekly,
            session=session,
            seconds=[sum(_item_seconds(item, item.sets) for item in items) for items in days],
        )

    @property
    def strength(self) -> bool:
        return self.data.user.goal == Goal.STRENGTH

    # --- The two moves every phase is made of ---------------------------------------------------

    def fits(self, index: int, item: _Item) -> bool:
        """One more set of `item` on day `index` keeps every ceiling: exercise, session, minutes, muscles."""
        if item.sets >= self.data.max_sets_per_exercise:
            return False
        if sum(i.sets for i in self.days[index]) >= self.budget:
            return False
        extra = _item_seconds(item, item.sets + 1) - _item_seconds(item, item.sets)
        if self.seconds[index] + extra > self.seconds_available:
            return False
        for muscle in MAJOR_MUSCLES:
            gain = item.exercise.works(muscle)
            if gain and (
                self.weekly[muscle] + gain > self.ceilings[muscle]
                or self.session[index][muscle] + gain > self.cap
            ):
                return False
        return True

    def add_set(self, index: int, item: _Item) -> None:
        self.seconds[index] += _item_seconds(item, item.sets + 1) - _item_seconds(item, item.sets)
        item.sets += 1
        for muscle in MAJOR_MUSCLES:
            gain = item.exercise.works(muscle)
            self.weekly[muscle] += gain
            self.session[index][muscle] += gain

    def value(self, item: _Item) -> float:
        """How much of the remaining gap to the weekly aims one more set of `item` closes."""
        return sum(
            min(item.exercise.works(m), max(0.0, self.aims[m] - self.weekly[m])) for m in MAJOR_MUSCLES
        )

    # --- The phases, in the order `_allocate` runs them -------------------------------------------

    def raise_to_two_sets(self, compound: bool) -> None:
        """A second set for every exercise of the kind that fits. Compounds get theirs first: isolation
        work must not use up a muscle's ceiling (triceps from pressing) before the main lifts are in
        place. Single sets are for entry level."""
        for index, items in enumerate(self.days):
            for item in items:
                if item.exercise.compound == compound and item.sets < 2 and self.fits(index, item):
                    self.add_set(index, item)

    def close_gaps(self) -> None:
        """One set at a time to the exercise that closes the most gap (fewest sets, then day order)."""
        while True:
            best: tuple[float, int, int, int] | None = None  # (-value, sets, day, position)
            for index, items in enumerate(self.days):
                for position, item in enumerate(items):
                    if not self.fits(index, item):
                        continue
                    score = self.value(item)
                    if score > 0:
                        key = (-score, item.sets, index, position)
                        best = key if best is None or key < best else best
            if best is None:
                return
            _, _, index, position = best
            self.add_set(index, self.days[index][position])

    def drop_lone_sets(self) -> None:
        """A lone set of an isolation exercise whose muscles already meet their minimum adds little but
        minutes: drop it (sessions keep at least MIN_EXERCISES_PER_SESSION exercises)."""
        minimums = {m: t.min_sets for m, t in self.data.volume_targets.items()}
        for items in self.days:
            for item in list(items):
                if len(items) <= MIN_EXERCISES_PER_SESSION:
                    break
                if item.sets > 1 or item.exercise.compound or _required(item):
                    continue
                if all(
                    self.weekly[m] - item.exercise.works(m) >= minimums[m]
                    for m in item.exercise.primary_muscles
                ):
                    items.remove(item)
                    for muscle in MAJOR_MUSCLES:
                        self.weekly[muscle] -= item.exercise.works(muscle)

    def recount_sessions(self) -> None:
        """Each session's minutes and per-muscle sets afresh (after exercises were dropped)."""
        self.seconds[:] = [sum(_item_seconds(item, item.sets) for item in items) for items in self.days]
        self.session[:] = [_session_volume(items) for items in self.days]

    def fill_time(self) -> None:
        """More sets while time is left (up to TIME_USE_TARGET of it), main lifts first and, for
        strength, only them; every ceiling still holds."""
        strength = self.strength
        for index, items in enumerate(self.days):
            while self.seconds[index] < TIME_USE_TARGET * self.seconds_available:
                candidates = [
                    item
                    for item in items
                    if self.fits(index, item)
                    and not item.exercise.balance_training
                    and not item.exercise.power
                    and (item.exercise.compound or not strength)
                ]
                if not candidates:
                    break
                self.add_set(index, min(candidates, key=lambda item: (item.sets, _order_key(item.exercise))))

    def add_accessories(self) -> None:
        """A session still short of its minutes gets another exercise for the muscle furthest below its
        weekly ceiling (often calves or abs, which the main slots leave out), then its sets as above."""
        data, weekly, aims, strength = self.data, self.weekly, self.aims, self.strength
        allowed = [CATALOG[i] for i in data.allowed_exercise_ids]
        for index, items in enumerate(self.days):
            tried: set[str] = set()
            while (
                self.seconds[index] < TIME_FILL_FLOOR * self.seconds_available
                and len(items) < MAX_EXERCISES_PER_SESSION
            ):
                today = {i.exercise.id for i in items} | tried
                day_muscles = _day_muscles(data.split.day_types[index])  # a push day stays a push day
                muscles = sorted(
                    (
                        m
                        for m in MAJOR_MUSCLES
                        if m in day_muscles
                        and weekly[m] + 1 <= self.ceilings[m]
                        and self.session[index][m] + 1 <= self.cap
                    ),
                    key=lambda m: weekly[m] / max(1.0, aims[m]),
                )
                extra = next(
                    (
                        e
                        for m in muscles
                        for e in allowed
                        if m in e.primary_muscles
                        and e.id not in today
                        and not _required_exercise(e)
                        and (e.compound or not strength)
                    ),
                    None,
                )
                if extra is None:
                    break
                tried.add(extra.id)
                item = _Item(exercise=extra, sets=0, scheme=_scheme(data, extra))
                while item.sets < 2 and self.fits(index, item):
                    self.add_set(index, item)
                if item.sets:
                    items.append(item)
            items.sort(key=lambda item: _order_key(item.exercise))

    def _pattern_sets(self, patterns: frozenset[MovementPattern]) -> int:
        return sum(i.sets for items in self.days for i in items if i.exercise.pattern in patterns)

    def balance_push_pull(self) -> None:
        """Shoulders like balance: at most PUSH_PULL_TARGET pressing sets per pulling set. Add pulling
        where it fits, else take pressing sets away (from the exercise with the most sets)."""
        days = self.days
        while self._pattern_sets(_PUSH) > PUSH_PULL_TARGET * max(1, self._pattern_sets(_PULL)):
            pulls = [
                (index, i) for index, items in enumerate(days) for i in items if i.exercise.pattern in _PULL
            ]
            growable = [(index, i) for index, i in pulls if self.fits(index, i)]
            if growable:
                self.add_set(*min(growable, key=lambda pair: pair[1].sets))
                continue
            pushes = [
                (index, i) for index, items in enumerate(days) for i in items if i.exercise.pattern in _PUSH
            ]
            index, item = max(pushes, key=lambda pair: pair[1].sets)
            if item.sets <= 1:
                days[index].remove(item)
            else:
                item.sets -= 1


def _allocate(data: EnhancedUserData, days: list[list[_Item]]) -> None:
    """Hand out sets one at a time where they close the largest gap to the weekly aims."""
    state = _Allocation.start(data, days)
    state.raise_to_two_sets(compound=True)  # main lifts first: isolation must not use up a ceiling
    state.close_gaps()  # sets where they close the largest gap to the weekly aims
    state.raise_to_two_sets(compound=False)  # then the isolation work gets its second set
    state.close_gaps()  # and the gaps again
    state.drop_lone_sets()  # lone isolation sets whose muscles already meet their minimum go
    state.recount_sessions()  # the freed time and volume...
    state.close_gaps()  # ...may now close a remaining gap elsewhere
    state.fill_time()  # more sets while the session has time, within every ceiling
    state.add_accessories()  # a session still short of its minutes gets another exercise
    state.balance_push_pull()  # at most PUSH_PULL_TARGET pressing sets per pulling set


def _session_volume(items: list[_Item]) -> dict[Muscle, float]:
    volume: dict[Muscle, float] = defaultdict(float)
    for item in items:
        for muscle in MAJOR_MUSCLES:
            volume[muscle] += item.exercise.works(muscle) * item.sets
    return volume


def _required_exercise(exercise: Exercise) -> bool:
    return exercise.power or exercise.balance_training


def _required(item: _Item) -> bool:
    return _required_exercise(item.exercise)


def _trim_to_time(data: EnhancedUserData, days: list[list[_Item]]) -> None:
    """Drop the last optional exercise of any session whose one-set-each start is already too long
    (the power and balance work the rules require stays)."""
    for items in days:
        while (
            len(items) > 1
            and estimate_session_minutes(_prescription(i, sets=i.sets, rir=i.scheme.rir) for i in items)
            > data.user.session_minutes
        ):
            optional = [index for index, item in enumerate(items) if not _required(item)]
            if not optional:
                break
            items.pop(optional[-1])


def _load_note(data: EnhancedUserData, prescription: ExercisePrescription) -> str | None:
    if prescription.exercise_id in _HOLDS:
        return "Hold each rep for about 5 seconds."
    exercise = CATALOG[prescription.exercise_id]
    if exercise.power:
        return "Move each rep as fast as you can with control; stop the set when speed drops."
    if exercise.balance_training and exercise.timed:
        return "Stand next to something stable to hold if needed; build up to holding each position longer."
    if exercise.balance_training:
        return "Use a rail or a wall for support as needed; move slowly and under control."
    one_rm = data.one_rep_max_kg.get(prescription.exercise_id)  # plausible lifts only
    if one_rm is None:
        return None
    load = suggested_load_kg(one_rm, prescription.reps_max, prescription.rir)
    if load is None:
        return None
    return f"Start near {load:g} kg (estimated 1RM {one_rm:g} kg); adjust to hit the target RIR."


def _focus(items: list[_Item]) -> str:
    muscles: list[str] = []
    for item in items:
        for muscle in item.exercise.primary_muscles:
            if muscle.value not in muscles:
                muscles.append(muscle.value)
    return ", ".join(m.replace("_", " ") for m in muscles)[:80] or "full body"


def _day_names(data: EnhancedUserData) -> list[str]:
    counts: dict[DayType, int] = defaultdict(int)
    totals: dict[DayType, int] = defaultdict(int)
    for day_type in data.split.day_types:
        totals[day_type] += 1
    names = []
    for day_type in data.split.day_types:
        letter = "ABCDEFG"[counts[day_type]]
        counts[day_type] += 1
        names.append(_DAY_NAMES[day_type] + (f" {letter}" if totals[day_type] > 1 else ""))
    return names


_PROGRESSION_TEXT = {
    ProgressionModel.LINEAR: (
        "Linear progression: when every set reaches the top of the rep range at the target RIR, add the "
        "smallest step next session (about 2.5 kg upper body, 5 kg lower body; for dumbbells or bands the "
        "next weight or band). After three failed sessions at one load, drop it 10% and build back."
    ),
    ProgressionModel.DOUBLE: (
        "Double progression: keep the load and add reps until every set reaches the top of the rep range "
        "at the target RIR, then add 2-5% (the smallest available step) and restart at the bottom of the "
        "range."
    ),
    ProgressionModel.RPE: (
        "RPE-based: choose each session's load so sets end at the target RIR (RPE = 10 - RIR). When the top "
        "of the range comes at or below the target RPE, add 2-5%. The first week of each block is one RIR "
        "easier; deload weeks cut sets and effort."
    ),
}


_BODYWEIGHT_PROGRESSION = (
    "Bodyweight progression: add reps until every set reaches the top of the range at the target RIR, "
    "then make the exercise harder: slower lowering (3 seconds), a pause, or a harder variation "
    "(incline to floor push-up, two legs to split stance), and restart at the bottom of the range."
)


def _progression(data: EnhancedUserData, days: list[list[_Item]]) -> Progression:
    loaded = any(i.exercise.loaded_in_kg for d in days for i in d)
    if not loaded:
        return Progression(model=ProgressionModel.DOUBLE.value, description=_BODYWEIGHT_PROGRESSION)
    return Progression(
        model=data.progression_model.value, description=_PROGRESSION_TEXT[data.progression_model]
    )


def _program_notes(
    data: EnhancedUserData, deloads: tuple[int, ...], taper: int | None, meet: int | None
) -> list[str]:
    notes = [
        f"{data.split.name}, {data.days_per_week} session(s) a week; each muscle is trained at least twice "
        "a week where the days allow (Schoenfeld 2016).",
        "Warm up for about 5 minutes, then 1-2 lighter ramp-up sets before the first lift (not counted).",
        "RIR = reps in reserve: end each set with that many good reps left (RPE = 10 - RIR).",
    ]
    if taper is not None:
        notes.append(
            f"Competition on {data.user.event_date}: week {taper} is the taper (about 40% fewer sets at "
            "the same effort) so you arrive fresh"
            + (f"; week {meet}, the competition week, is light until the meet." if meet else ".")
        )
    deloads = tuple(w for w in deloads if w not in (taper, meet))
    if deloads:
        weeks = ", ".join(str(w) for w in deloads)
        notes.append(
            f"Deload in week {weeks}: about 40% fewer sets and 2 more reps in reserve; same exercises "
            "and days."
        )
    notes.extend(data.safety_notes)
    if data.energy.target_kcal is not None:
        notes.append(
            f"Nutrition: about {data.energy.target_kcal} kcal a day (maintenance about "
            f"{data.energy.maintenance_kcal}, Mifflin-St Jeor) with about {data.energy.protein_g} g protein."
        )
    return [note[:400] for note in notes[:MAX_PROGRAM_NOTES]]


def _periodised(data: EnhancedUserData, item: _Item, position: int) -> tuple[int, int, int]:
    """(reps_min, reps_max, rir) for the `position`-th loading week of a block (0 = introductory).

    Effort rises through a block: RIR +1 in the first week, then the goal's RIR; trained lifters go
    one more rep closer to failure from the third week (never below the floors). For strength, the
    reps of compound lifts fall by one a week from the second week, down to the safety and
    loadability floors (linear periodisation: heavier as the block goes on)."""
    scheme = item.scheme
    floor_rir = max(data.prescription.min_rir, data.safety.min_rir)
    if position == 0:
        rir = intro_week_rir(scheme.rir)
    elif data.user.pregnant:
        rir = scheme.rir  # pregnancy: effort stays where it is (ACOG 2020); the body changes week to week
    elif position >= 2 and data.training_status != ExperienceLevel.NOVICE:
        rir = max(floor_rir, scheme.rir - 1)
    else:
        rir = scheme.rir
    reps_min, reps_max = scheme.reps_min, scheme.reps_max
    strength_lift = (
        data.user.goal == Goal.STRENGTH
        and is_main_lift(item.exercise)
        and not item.exercise.power
        and not data.user.pregnant
    )
    # Novices progress by adding load at the same reps (linear progression), not by fewer reps.
    if strength_lift and position >= 1 and data.training_status != ExperienceLevel.NOVICE:
        floor = max(min_reps_for(item.exercise), data.safety.min_reps, 3)
        shift = min(position, 2, reps_min - floor) if reps_min > floor else 0
        reps_min, reps_max = reps_min - shift, reps_max - shift
    return reps_min, reps_max, rir


def generate_offline_program(
    data: EnhancedUserData, *, weeks: int = 4, name: str | None = None
) -> TrainingProgram:
    if not 1 <= weeks <= 16:
        raise ValueError("weeks must be between 1 and 16")
    return program_from_week(data, plan_week(data), weeks=weeks, name=name)


def plan_week(data: EnhancedUserData) -> list[list[tuple[Exercise, int, RepScheme]]]:
    """The engine's loading week before periodisation: each day's (exercise, sets, base scheme)."""
    days = _select(data)
    _trim_to_time(data, days)
    _allocate(data, days)
    return [[(item.exercise, item.sets, item.scheme) for item in items] for items in days]


def program_from_week(
    data: EnhancedUserData,
    week: list[list[tuple[Exercise, int, RepScheme]]],
    *,
    weeks: int,
    name: str | None = None,
    extra_notes: tuple[str, ...] = (),
) -> TrainingProgram:
    """A whole program from one loading week chosen elsewhere (an LLM's compact answer): each day's
    (exercise, sets, base scheme) in order, periodised, named and timed exactly as the engine's own
    week is (tpg.generation.claude.schemas)."""
    if not 1 <= weeks <= 16:
        raise ValueError("weeks must be between 1 and 16")
    days = [[_Item(exercise=e, sets=sets, scheme=scheme) for e, sets, scheme in day] for day in week]
    return _periodised_program(data, days, weeks=weeks, name=name, extra_notes=extra_notes)


def _periodised_program(
    data: EnhancedUserData,
    days: list[list[_Item]],
    *,
    weeks: int,
    name: str | None,
    extra_notes: tuple[str, ...] = (),
) -> TrainingProgram:
    plan = data.week_plan(weeks)
    deloads, taper, meet = plan.deloads, plan.taper, plan.competition
    day_names = _day_names(data)
    engine_notes = _program_notes(data, deloads, taper, meet)

    schedule: list[TrainingWeek] = []
    position = 0  # loading weeks since the last deload
    for week_number in range(1, weeks + 1):
        is_deload = week_number in deloads
        training_days = []
        for index, items in enumerate(days):
            prescriptions = []
            for item in items:
                if week_number == taper:
                    # the taper keeps the heaviest week's reps and effort, with fewer sets
                    reps_min, reps_max, rir = _periodised(data, item, max(1, position))
                    sets = deload_sets(item.sets)
                elif is_deload:
                    reps_min, reps_max, rir = item.scheme.reps_min, item.scheme.reps_max, item.scheme.rir
                    sets, rir = deload_sets(item.sets), deload_rir(rir)
                else:
                    sets = item.sets
                    reps_min, reps_max, rir = _periodised(data, item, position)
                prescription = _prescription(item, sets=sets, rir=rir, reps=(reps_min, reps_max))
                prescriptions.append(
                    prescription.model_copy(update={"notes": _load_note(data, prescription)})
                )
            training_days.append(
                TrainingDay(
                    day=index + 1,
                    name=day_names[index],
                    focus=_focus(items),
                    estimated_minutes=max(10, round(estimate_session_minutes(prescriptions))),
                    exercises=prescriptions,
                )
            )
        schedule.append(TrainingWeek(week=week_number, is_deload=is_deload, days=training_days))
        position = 0 if is_deload else position + 1

    user = data.user
    return TrainingProgram(
        name=(name or default_program_name(user.goal, data.split.name, weeks))[:100],
        goal=user.goal,
        level=data.training_status,
        weeks=weeks,
        days_per_week=data.days_per_week,
        session_minutes=user.session_minutes,
        split=data.split.name[:60],
        progression=_progression(data, days),
        schedule=schedule,
        notes=[*engine_notes, *extra_notes[: MAX_PROGRAM_NOTES - len(engine_notes)]],
    )


def notes_room(data: EnhancedUserData, *, weeks: int) -> int:
    """How many notes beyond the engine's own a `program_from_week` program keeps (`extra_notes`
    past it are left out: the engine's, safety notes among them, come first)."""
    plan = data.week_plan(weeks)
    return MAX_PROGRAM_NOTES - len(_program_notes(data, plan.deloads, plan.taper, plan.competition))
