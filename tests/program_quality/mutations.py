"""The validator's mutation corpus: hand-made bad programs, each breaking one rule.

Every mutation is a small named function. It receives a good program (the rules engine's, for a profile
from tests/program_quality/profiles/ or one written inline below) as a `Draft`, breaks one rule the way
a careless coach or an LLM might, and is tagged with the violation code that must reject it. Its
docstring says, in one line, what a coach would object to. Mutated programs stay schema-valid (edited as
`model_dump()` and rebuilt with `TrainingProgram.model_validate`): the enhanced validator is under test
here, not the schema. Day estimates are recomputed after an edit (so a rejection is not just an
estimate mismatch) unless a mutation states otherwise.

    python -m tests.program_quality.mutations    # rejected N of M, and any miss

tests/unit/test_validator_mutations.py asserts that every mutation is rejected by its tagged code and
that every base program passes; docs/program-quality.md shows the result.
"""

from __future__ import annotations

import copy
import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tpg.training.analysis import EnhancedUserData
from tpg.training.catalog import CATALOG, Exercise, MovementPattern, Muscle
from tpg.training.program import ExercisePrescription, TrainingProgram
from tpg.training.validation import ValidationReport, estimate_session_minutes, validate_program
from tpg_local.program_lab import Generation, Profile, generate, load_profile, profile_from_mapping

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"

_P = MovementPattern
PUSH = frozenset({_P.HORIZONTAL_PUSH, _P.VERTICAL_PUSH})
PULL = frozenset({_P.HORIZONTAL_PULL, _P.VERTICAL_PULL})
ISOLATION = frozenset({_P.ISOLATION_UPPER, _P.ISOLATION_LOWER})
MAIN_PATTERNS = frozenset({_P.SQUAT, _P.HINGE, _P.LUNGE}) | PUSH | PULL

# Profiles written here rather than in profiles/ (a plain lifter: a clean base for structural mutations).
INLINE_PROFILES: dict[str, dict[str, Any]] = {
    "inline-plain-intermediate-hypertrophy": {
        "age": 29,
        "sex": "male",
        "height_cm": 180,
        "weight_kg": 80,
        "goal": "hypertrophy",
        "experience": "intermediate",
        "training_months": 30,
        "days_per_week": 4,
        "session_minutes": 60,
        "equipment": ["barbell", "dumbbell", "cable", "machine", "bench", "pullup_bar", "bodyweight"],
    },
    "inline-plain-novice-strength": {
        "age": 34,
        "sex": "female",
        "height_cm": 168,
        "weight_kg": 64,
        "goal": "strength",
        "experience": "novice",
        "training_months": 3,
        "days_per_week": 3,
        "session_minutes": 60,
        "equipment": ["barbell", "dumbbell", "cable", "machine", "bench", "bodyweight"],
    },
}


@cache
def profile(name: str) -> Profile:
    if name in INLINE_PROFILES:
        return profile_from_mapping(INLINE_PROFILES[name])
    return load_profile(PROFILES_DIR / f"{name}.json")


@cache
def base(name: str, weeks: int) -> Generation:
    """The engine's program for a profile (the same path as `tpg program generate`)."""
    return generate(profile(name), weeks=weeks)


# ---------------------------------------------------------------------------------------------------
# Editing a program
# ---------------------------------------------------------------------------------------------------


class MutationNotApplicable(AssertionError):
    """The base program lacks what the mutation edits (a corpus problem, or the engine changed)."""


Item = dict[str, Any]
Pred = Callable[[Item], bool]


def exercise_of(item: Item) -> Exercise | None:
    return CATALOG.get(item["exercise_id"])


def where(
    *,
    compound: bool | None = None,
    patterns: frozenset[MovementPattern] | None = None,
    muscle: Muscle | None = None,
    ids: tuple[str, ...] | None = None,
    test: Callable[[Exercise], bool] | None = None,
) -> Pred:
    """A predicate on items by their catalog exercise."""

    def pred(item: Item) -> bool:
        if ids is not None and item["exercise_id"] not in ids:
            return False
        exercise = exercise_of(item)
        if exercise is None:
            return ids is not None
        return (
            (compound is None or exercise.compound == compound)
            and (patterns is None or exercise.pattern in patterns)
            and (muscle is None or muscle in exercise.primary_muscles)
            and (test is None or test(exercise))
        )

    return pred


ANY: Pred = where()
COMPOUND = where(compound=True, patterns=MAIN_PATTERNS)
ISOLATION_ITEM = where(patterns=ISOLATION)


@dataclass(frozen=True)
class Slot:
    """A place in the weekly template: the position-th exercise of the day-th session (0-based)."""

    day: int
    position: int


class Draft:
    """A good program being broken: its `model_dump()`, with edits applied to every week alike."""

    def __init__(self, program: TrainingProgram, data: EnhancedUserData) -> None:
        self.data = data
        self.user = data.user
        self.raw: dict[str, Any] = program.model_dump()
        self.keep_estimates = False  # True: leave each day's stated minutes as they were

    # --- reading ---------------------------------------------------------------------------------

    @property
    def schedule(self) -> list[dict[str, Any]]:
        return self.raw["schedule"]

    def loading_weeks(self) -> list[dict[str, Any]]:
        return [w for w in self.schedule if not w["is_deload"]]

    def template(self) -> list[dict[str, Any]]:
        """The days of the first loading week (the template the weeks repeat)."""
        weeks = self.loading_weeks() or self.schedule
        return weeks[0]["days"]

    def items(self, pred: Pred = ANY, *, loading_only: bool = False) -> Iterator[Item]:
        for week in self.loading_weeks() if loading_only else self.schedule:
            for day in week["days"]:
                for item in day["exercises"]:
                    if pred(item):
                        yield item

    def slots(self, pred: Pred = ANY) -> list[Slot]:
        return [
            Slot(d, i)
            for d, day in enumerate(self.template())
            for i, item in enumerate(day["exercises"])
            if pred(item)
        ]

    def first(self, pred: Pred = ANY, what: str = "a matching exercise") -> Slot:
        found = self.slots(pred)
        if not found:
            raise MutationNotApplicable(f"the base program has no {what}")
        return found[0]

    def at(self, slot: Slot) -> list[Item]:
        """The items at a slot in every week (deload weeks included) that hold the template's exercise."""
        exercise_id = self.template()[slot.day]["exercises"][slot.position]["exercise_id"]
        found = []
        for week in self.schedule:
            days = week["days"]
            if slot.day < len(days) and slot.position < len(days[slot.day]["exercises"]):
                item = days[slot.day]["exercises"][slot.position]
                if item["exercise_id"] == exercise_id:
                    found.append(item)
        return found

    def sets(self, patterns: frozenset[MovementPattern], week: int = 0) -> int:
        weeks = self.loading_weeks() or self.schedule
        return sum(
            item["sets"]
            for day in weeks[week]["days"]
            for item in day["exercises"]
            if (e := exercise_of(item)) is not None and e.pattern in patterns
        )

    def weekly_sets(self, muscle: Muscle) -> float:
        weeks = self.loading_weeks() or self.schedule
        return sum(
            item["sets"] * e.works(muscle)
            for day in weeks[0]["days"]
            for item in day["exercises"]
            if (e := exercise_of(item)) is not None
        )

    # --- editing ---------------------------------------------------------------------------------

    def swap(self, slot: Slot, exercise_id: str, *, name: str | None = None) -> None:
        """Put another exercise at a slot in every week (its catalog name unless `name` is given)."""
        new_name = name or CATALOG[exercise_id].name
        for item in self.at(slot):
            item.update(exercise_id=exercise_id, name=new_name)

    def swap_all(self, pred: Pred, exercise_id: str) -> int:
        count = 0
        for item in list(self.items(pred)):
            item.update(exercise_id=exercise_id, name=CATALOG[exercise_id].name)
            count += 1
        if not count:
            raise MutationNotApplicable(f"nothing to replace with {exercise_id}")
        return count

    def set(self, pred: Pred, *, loading_only: bool = False, **fields: Any) -> int:
        """Set fields (sets, reps_min, reps_max, rir, rest_seconds, notes, name) on matching items."""
        count = 0
        for item in self.items(pred, loading_only=loading_only):
            item.update(fields)
            count += 1
        if not count:
            raise MutationNotApplicable("no exercise matched")
        return count

    def set_at(self, slot: Slot, **fields: Any) -> None:
        for item in self.at(slot):
            item.update(fields)

    def insert(
        self,
        day: int,
        exercise_id: str,
        *,
        position: int | None = None,
        sets: int = 3,
        reps: tuple[int, int] = (8, 12),
        rir: int = 2,
        rest: int = 90,
        notes: str | None = None,
        loading_only: bool = False,
    ) -> None:
        """Add an exercise to the day-th session of every week (or of every loading week)."""
        item = {
            "exercise_id": exercise_id,
            "name": CATALOG[exercise_id].name if exercise_id in CATALOG else exercise_id.replace("_", " "),
            "sets": sets,
            "reps_min": reps[0],
            "reps_max": reps[1],
            "rir": rir,
            "rest_seconds": rest,
            "notes": notes,
        }
        for week in self.loading_weeks() if loading_only else self.schedule:
            exercises = week["days"][day]["exercises"]
            if len(exercises) >= 12:
                raise MutationNotApplicable("the session already holds 12 exercises")
            exercises.insert(len(exercises) if position is None else position, dict(item))

    def remove(self, pred: Pred) -> int:
        count = 0
        for week in self.schedule:
            for day in week["days"]:
                kept = [item for item in day["exercises"] if not pred(item)]
                count += len(day["exercises"]) - len(kept)
                if not kept:
                    raise MutationNotApplicable(f"removing would empty week {week['week']} day {day['day']}")
                day["exercises"] = kept
        if not count:
            raise MutationNotApplicable("nothing to remove")
        return count

    def pump(self, muscle: Muscle, exercise_id: str, target: float) -> None:
        """Add `exercise_id` (primary `muscle`) to every session of each loading week until the weekly
        counted sets of `muscle` reach `target`."""
        if muscle not in CATALOG[exercise_id].primary_muscles:
            raise MutationNotApplicable(f"{exercise_id} does not train {muscle.value}")
        days = len(self.template())
        missing = target - self.weekly_sets(muscle)
        if missing <= 0:
            return
        per_day = min(10, math.ceil(missing / days))
        for week in self.loading_weeks():
            for day in week["days"]:
                present = [i for i in day["exercises"] if i["exercise_id"] == exercise_id]
                if present:
                    present[0]["sets"] = min(10, present[0]["sets"] + per_day)
                else:
                    if len(day["exercises"]) >= 12:
                        raise MutationNotApplicable("the session already holds 12 exercises")
                    day["exercises"].append(
                        {
                            "exercise_id": exercise_id,
                            "name": CATALOG[exercise_id].name,
                            "sets": per_day,
                            "reps_min": 10,
                            "reps_max": 15,
                            "rir": 2,
                            "rest_seconds": 60,
                            "notes": None,
                        }
                    )
        if self.weekly_sets(muscle) < target:
            raise MutationNotApplicable(f"could not raise {muscle.value} to {target} sets")

    def note(self, text: str) -> None:
        """Add a note to the program (replacing the last one when the list is full)."""
        notes = self.raw["notes"]
        if len(notes) >= 10:
            notes[-1] = text
        else:
            notes.append(text)

    def make_days(self, count: int) -> None:
        """`count` sessions a week: the week's own sessions repeated in order."""
        for week in self.schedule:
            days = week["days"]
            week["days"] = [
                {
                    **days[i % len(days)],
                    "day": i + 1,
                    "exercises": [dict(x) for x in days[i % len(days)]["exercises"]],
                }
                for i in range(count)
            ]
        self.raw["days_per_week"] = count

    def build(self) -> TrainingProgram:
        if not self.keep_estimates:
            for week in self.schedule:
                for day in week["days"]:
                    minutes = estimate_session_minutes(
                        ExercisePrescription.model_validate(i) for i in day["exercises"]
                    )
                    day["estimated_minutes"] = min(240, max(10, round(minutes)))
        return TrainingProgram.model_validate(self.raw)


# ---------------------------------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    name: str
    code: str  # a ViolationCode value: the rule that must reject the program
    profile: str
    weeks: int
    why: str  # what a coach would object to
    edit: Callable[[Draft], None]

    def apply(self) -> tuple[TrainingProgram, EnhancedUserData]:
        good = base(self.profile, self.weeks)
        if good.program is None:
            raise MutationNotApplicable(f"{self.profile} is refused: there is no program to break")
        draft = Draft(good.program, good.data)
        self.edit(draft)
        return draft.build(), good.data


MUTATIONS: list[Mutation] = []


def mutation(
    code: str, profile: str, weeks: int = 4
) -> Callable[[Callable[[Draft], None]], Callable[[Draft], None]]:
    def register(edit: Callable[[Draft], None]) -> Callable[[Draft], None]:
        why = (edit.__doc__ or "").strip()
        if not why or "\n" in why:
            raise ValueError(f"mutation {edit.__name__} needs a one-line docstring")
        if any(m.name == edit.__name__ for m in MUTATIONS):
            raise ValueError(f"mutation {edit.__name__} is defined twice")
        MUTATIONS.append(Mutation(edit.__name__, code, profile, weeks, why, edit))
        return edit

    return register


@dataclass(frozen=True)
class Outcome:
    mutation: Mutation
    report: ValidationReport

    @property
    def error_codes(self) -> list[str]:
        return sorted({str(v.code) for v in self.report.errors})

    @property
    def caught(self) -> bool:
        return not self.report.ok and self.mutation.code in self.error_codes

    def describe(self) -> str:
        m = self.mutation
        if self.caught:
            return f"{m.name} ({m.profile}, {m.weeks}w): rejected by {m.code}"
        got = ", ".join(self.error_codes) or "no errors"
        warned = sorted({str(v.code) for v in self.report.warnings})
        return f"{m.name} ({m.profile}, {m.weeks}w): expected {m.code}, got {got}" + (
            f" (warnings: {', '.join(warned)})" if warned else ""
        )


def run_mutation(m: Mutation) -> Outcome:
    program, data = m.apply()
    return Outcome(m, validate_program(program, data))


# --- UNKNOWN_EXERCISE -------------------------------------------------------------------------------


@mutation("UNKNOWN_EXERCISE", "injection-attempt-in-notes")
def invented_exercise(p: Draft) -> None:
    """An exercise that exists in no catalog: nobody can look up how to do it or what it loads."""
    p.swap(p.first(COMPOUND), "quantum_squat", name="Quantum Squat")


@mutation("UNKNOWN_EXERCISE", "hypertension-controlled")
def misspelt_exercise_id(p: Draft) -> None:
    """A misspelt id ("barbel_bench_press"): the app cannot show the exercise the coach meant."""
    p.swap(
        p.first(where(patterns=frozenset({_P.HORIZONTAL_PUSH}))),
        "barbel_bench_press",
        name="Barbell Bench Press",
    )


@mutation("UNKNOWN_EXERCISE", "home-dumbbells-12-5kg")
def exercise_name_used_as_id(p: Draft) -> None:
    """An id written as prose ("dumbbell curl"): not an exercise the catalog knows."""
    p.swap(p.first(where(muscle=Muscle.BICEPS), "biceps exercise"), "dumbbell curl", name="Dumbbell Curl")


@mutation("UNKNOWN_EXERCISE", "inline-plain-intermediate-hypertrophy")
def machine_from_another_gym(p: Draft) -> None:
    """A machine the catalog does not list (a "smith machine bench press"): unknown load and safety."""
    p.swap(p.first(where(muscle=Muscle.CHEST)), "smith_machine_bench_press", name="Smith Machine Bench Press")


# --- EQUIPMENT_UNAVAILABLE ---------------------------------------------------------------------------


@mutation("EQUIPMENT_UNAVAILABLE", "bands-only-apartment")
def barbell_row_for_bands_only(p: Draft) -> None:
    """A barbell row for someone who owns only resistance bands."""
    p.swap(p.first(where(patterns=PULL), "pull"), "barbell_bent_over_row")


@mutation("EQUIPMENT_UNAVAILABLE", "bodyweight-only-traveller")
def lat_pulldown_in_a_hotel_room(p: Draft) -> None:
    """A cable lat pulldown for a traveller training in hotel rooms with body weight only."""
    p.insert(0, "lat_pulldown", position=1, sets=3, reps=(8, 12), rir=2, rest=90)


@mutation("EQUIPMENT_UNAVAILABLE", "home-dumbbells-12-5kg")
def leg_press_at_home(p: Draft) -> None:
    """A leg press machine for a home gym of dumbbells and a bench."""
    p.swap(p.first(where(muscle=Muscle.QUADS), "quads exercise"), "leg_press")


@mutation("EQUIPMENT_UNAVAILABLE", "older-knee-osteoarthritis-72f")
def kettlebell_without_kettlebells(p: Draft) -> None:
    """A kettlebell deadlift for a gym that has no kettlebells."""
    p.swap(p.first(where(patterns=frozenset({_P.HINGE})), "hinge"), "kettlebell_deadlift")


@mutation("EQUIPMENT_UNAVAILABLE", "frail-91f-six-days", weeks=8)
def calf_machine_for_bands_at_home(p: Draft) -> None:
    """A seated calf-raise machine for a 91-year-old with bands and body weight at home."""
    p.insert(0, "seated_calf_raise", sets=2, reps=(10, 15), rir=3, rest=60)


# --- CONTRAINDICATED_EXERCISE (a declared injury) ----------------------------------------------------


@mutation("CONTRAINDICATED_EXERCISE", "knee-meniscus-tear-current")
def deep_back_squat_with_torn_meniscus(p: Draft) -> None:
    """A deep barbell back squat with a current meniscus tear."""
    p.swap(p.first(where(muscle=Muscle.QUADS, compound=True), "quads compound"), "barbell_back_squat")


@mutation("CONTRAINDICATED_EXERCISE", "ankle-sprain-recovering")
def burpees_on_a_recovering_ankle(p: Draft) -> None:
    """Burpees (jumping and landing) on an ankle still recovering from a sprain."""
    p.swap(p.first(COMPOUND), "burpee")


@mutation("CONTRAINDICATED_EXERCISE", "disc-herniation-current-sciatica")
def deadlift_with_sciatica(p: Draft) -> None:
    """Barbell deadlifts from the floor with a current disc herniation and sciatica."""
    p.swap(p.first(where(patterns=frozenset({_P.HINGE})), "hinge"), "barbell_deadlift")


@mutation("CONTRAINDICATED_EXERCISE", "shoulder-impingement-bench-lover", weeks=8)
def overhead_press_with_impingement(p: Draft) -> None:
    """A standing barbell overhead press with shoulder impingement."""
    p.swap(p.first(where(muscle=Muscle.SHOULDERS), "shoulder exercise"), "barbell_overhead_press")


@mutation("CONTRAINDICATED_EXERCISE", "wrist-sprain-climber")
def push_ups_on_a_sprained_wrist(p: Draft) -> None:
    """Push-ups, full body weight on an extended sprained wrist."""
    p.swap(p.first(where(muscle=Muscle.CHEST), "chest exercise"), "push_up")


@mutation("CONTRAINDICATED_EXERCISE", "elbow-lateral-epicondylalgia")
def skull_crushers_with_tennis_elbow(p: Draft) -> None:
    """Barbell skull crushers with a painful lateral elbow."""
    p.insert(0, "barbell_skull_crusher", sets=3, reps=(8, 12), rir=2, rest=90)


@mutation("CONTRAINDICATED_EXERCISE", "hip-impingement-fai-squatter", weeks=8)
def deep_squat_into_the_impingement(p: Draft) -> None:
    """A deep barbell back squat, the very position that pinches an impinging hip."""
    p.swap(p.first(where(muscle=Muscle.QUADS, compound=True), "quads compound"), "barbell_back_squat")


@mutation("CONTRAINDICATED_EXERCISE", "neck-whiplash-recovering")
def back_squat_bar_on_a_whiplash_neck(p: Draft) -> None:
    """A barbell resting on the neck and upper back after whiplash."""
    p.swap(p.first(where(muscle=Muscle.QUADS, compound=True), "quads compound"), "barbell_back_squat")


# --- POPULATION_CONTRAINDICATION (pregnancy, age band, condition) ------------------------------------


@mutation("POPULATION_CONTRAINDICATION", "pregnancy-24-weeks")
def supine_bench_press_at_24_weeks(p: Draft) -> None:
    """A flat barbell bench press, lying on the back, at 24 weeks of pregnancy."""
    p.swap(p.first(where(patterns=frozenset({_P.HORIZONTAL_PUSH})), "press"), "barbell_bench_press")


@mutation("POPULATION_CONTRAINDICATION", "pregnancy-24-weeks", weeks=8)
def crunches_in_pregnancy(p: Draft) -> None:
    """Crunches in the second trimester (supine spinal flexion)."""
    p.insert(0, "crunch", sets=2, reps=(12, 15), rir=3, rest=60)


@mutation("POPULATION_CONTRAINDICATION", "pregnancy-10-weeks")
def box_jumps_in_pregnancy(p: Draft) -> None:
    """Box jumps in pregnancy: impact and a fall risk."""
    p.swap(p.first(where(muscle=Muscle.QUADS, compound=True), "quads compound"), "box_jump")
    p.set(where(ids=("box_jump",)), reps_min=6, reps_max=8)


@mutation("POPULATION_CONTRAINDICATION", "pregnancy-34-weeks")
def floor_press_at_34_weeks(p: Draft) -> None:
    """A dumbbell floor press lying on the back at 34 weeks of pregnancy."""
    p.swap(p.first(where(muscle=Muscle.CHEST), "chest exercise"), "dumbbell_floor_press")


@mutation("POPULATION_CONTRAINDICATION", "older-osteoporosis-74f", weeks=8)
def sit_ups_with_osteoporosis(p: Draft) -> None:
    """Sit-ups (loaded spinal flexion) for a 74-year-old with osteoporosis."""
    p.insert(0, "sit_up", sets=2, reps=(10, 12), rir=3, rest=60)


@mutation("POPULATION_CONTRAINDICATION", "frail-88m-asks-seven-days", weeks=8)
def heavy_carries_at_88(p: Draft) -> None:
    """Farmer's carries, heavy spinal loading with a fall risk, for a frail 88-year-old."""
    p.insert(0, "farmers_carry", sets=2, reps=(8, 10), rir=3, rest=90)


@mutation("POPULATION_CONTRAINDICATION", "postpartum-2-weeks-wants-fat-loss")
def crunches_two_weeks_postpartum(p: Draft) -> None:
    """Crunches two weeks after giving birth."""
    p.insert(0, "crunch", sets=3, reps=(15, 20), rir=2, rest=45)


@mutation("POPULATION_CONTRAINDICATION", "youth-16-athlete-3rm")
def push_press_for_a_16_year_old(p: Draft) -> None:
    """A push press (high-skill ballistic lift) for a 16-year-old without a coach watching."""
    p.insert(0, "push_press", position=0, sets=3, reps=(6, 8), rir=2, rest=150)


@mutation("POPULATION_CONTRAINDICATION", "pregnancy-34-weeks")
def prone_leg_curl_at_34_weeks(p: Draft) -> None:
    """A lying (face-down) leg curl at 34 weeks of pregnancy."""
    p.insert(0, "dumbbell_lying_leg_curl", sets=2, reps=(10, 12), rir=3, rest=60)


@mutation("POPULATION_CONTRAINDICATION", "pregnancy-24-weeks")
def barbell_hip_thrust_across_the_belly(p: Draft) -> None:
    """A barbell across the belly for hip thrusts at 24 weeks of pregnancy."""
    p.insert(0, "barbell_hip_thrust", sets=2, reps=(8, 10), rir=3, rest=90)


@mutation("POPULATION_CONTRAINDICATION", "older-osteoporosis-74f", weeks=8)
def kettlebell_swings_with_osteoporosis(p: Draft) -> None:
    """Kettlebell swings (a fast loaded hinge) for a 74-year-old with osteoporosis."""
    p.insert(0, "kettlebell_swing", position=0, sets=2, reps=(8, 10), rir=3, rest=90)


@mutation("POPULATION_CONTRAINDICATION", "postpartum-2-weeks-wants-fat-loss")
def mountain_climbers_two_weeks_postpartum(p: Draft) -> None:
    """Mountain climbers two weeks after giving birth: abdominal pressure on a healing wall."""
    p.insert(0, "mountain_climber", sets=2, reps=(10, 12), rir=3, rest=45)


# --- REFUSED_EXERCISE --------------------------------------------------------------------------------


@mutation("REFUSED_EXERCISE", "refuses-all-squats")
def back_squat_for_the_squat_hater(p: Draft) -> None:
    """A barbell back squat for someone who asked for no squat of any kind."""
    p.swap(p.first(where(muscle=Muscle.QUADS, compound=True), "quads compound"), "barbell_back_squat")


@mutation("REFUSED_EXERCISE", "refuses-all-squats", weeks=8)
def goblet_squat_sneaked_in(p: Draft) -> None:
    """A goblet squat added for someone who refused every squat."""
    p.insert(1, "goblet_squat", position=0, sets=3, reps=(8, 12), rir=2, rest=90)


@mutation("REFUSED_EXERCISE", "elbow-lateral-epicondylalgia")
def chin_ups_he_declined(p: Draft) -> None:
    """Chin-ups, which the user explicitly declined."""
    p.swap(p.first(where(patterns=PULL), "pull"), "chin_up")


@mutation("REFUSED_EXERCISE", "refuses-all-bodyweight-options-traveller")
def push_ups_for_the_push_up_hater(p: Draft) -> None:
    """Push-ups for a traveller who wrote that she hates push-ups."""
    p.swap(p.first(where(muscle=Muscle.CHEST), "chest exercise"), "push_up")


@mutation("REFUSED_EXERCISE", "edge-refuses-most-of-catalog")
def pull_up_for_the_machine_only_user(p: Draft) -> None:
    """A pull-up for someone who only wants the machines she knows and ticked pull-ups as unwanted."""
    p.swap(p.first(where(patterns=PULL), "pull"), "pull_up")


# --- EXERCISE_NAME_MISMATCH --------------------------------------------------------------------------


@mutation("EXERCISE_NAME_MISMATCH", "fit-70m-intermediate-lifter")
def behind_the_neck_name_on_a_safe_id(p: Draft) -> None:
    """A safe id labelled "Behind-the-neck press": the user does what the name says."""
    slot = p.first(where(patterns=PUSH), "press")
    p.set_at(slot, name="Behind-the-neck press")


@mutation("EXERCISE_NAME_MISMATCH", "knee-meniscus-tear-current")
def leg_press_labelled_back_squat(p: Draft) -> None:
    """The quads slot keeps its safe id but is named "Barbell Back Squat", a lift the knee must avoid."""
    p.set_at(p.first(where(muscle=Muscle.QUADS), "quads exercise"), name="Barbell Back Squat")


@mutation("EXERCISE_NAME_MISMATCH", "disc-recovering-returning-lifter")
def hinge_labelled_jefferson_curl(p: Draft) -> None:
    """A hinge named "Jefferson curl" (loaded spinal flexion) for a recovering disc."""
    p.set_at(p.first(where(patterns=frozenset({_P.HINGE})), "hinge"), name="Jefferson Curl")


@mutation("EXERCISE_NAME_MISMATCH", "pregnancy-34-weeks")
def squat_labelled_box_jump(p: Draft) -> None:
    """A squat slot named "Box Jump" at 34 weeks of pregnancy."""
    p.set_at(p.first(where(muscle=Muscle.QUADS), "quads exercise"), name="Box Jump")


# --- UNSAFE_TEXT -------------------------------------------------------------------------------------


@mutation("UNSAFE_TEXT", "hypertension-controlled")
def breath_holding_cue_with_hypertension(p: Draft) -> None:
    """A cue to hold the breath on every rep for a man with high blood pressure."""
    p.set_at(p.first(COMPOUND), notes="Brace hard and hold your breath every rep.")


@mutation("UNSAFE_TEXT", "inline-plain-novice-strength")
def no_spotter_on_heavy_bench(p: Draft) -> None:
    """A programme note that a novice needs no spotter on heavy barbell work."""
    p.note("No spotter needed, even on your heaviest bench sets.")


@mutation("UNSAFE_TEXT", "knee-patellofemoral-pain-runner")
def push_through_knee_pain(p: Draft) -> None:
    """Telling a runner with knee pain to push through the pain."""
    p.set_at(
        p.first(where(muscle=Muscle.QUADS), "quads exercise"), notes="Push through the pain in your knee."
    )


@mutation("UNSAFE_TEXT", "youth-16-athlete-3rm", weeks=8)
def max_out_for_a_teenager(p: Draft) -> None:
    """Telling a 16-year-old to max out at the end of every week."""
    p.note("Max out on the last set of squats every Friday.")


@mutation("UNSAFE_TEXT", "inline-plain-intermediate-hypertrophy")
def behind_the_neck_cue_in_progression(p: Draft) -> None:
    """A progression text that moves the user on to behind-the-neck pressing."""
    p.raw["progression"]["description"] = (
        "Double progression. Once the overhead press feels easy, switch to pressing behind the neck."
    )


@mutation("UNSAFE_TEXT", "cardiovascular-disease-cleared")
def train_through_chest_pain(p: Draft) -> None:
    """A heart patient told to ignore the pain and keep going."""
    p.note("If your chest feels tight, ignore the pain and finish the set.")


@mutation("UNSAFE_TEXT", "hypertension-controlled")
def negation_far_from_the_breath_hold(p: Draft) -> None:
    """A breath-hold cue behind an unrelated "don't": the negation does not reach it."""
    p.set_at(
        p.first(COMPOUND), notes="Don't rush: take a big breath and hold your breath until you stand up."
    )


@mutation("UNSAFE_TEXT", "hypertension-controlled")
def air_locked_in_with_hypertension(p: Draft) -> None:
    """Breath-holding said another way, for a man with high blood pressure."""
    p.set_at(p.first(COMPOUND), notes="Keep the air locked in until the rep is finished.")


@mutation("UNSAFE_TEXT", "youth-13-novice")
def top_single_for_a_13_year_old(p: Draft) -> None:
    """A maximal single at RPE 10 for a 13-year-old novice."""
    p.note("Work up to one top single at RPE 10 on the last day of each week.")


@mutation("UNSAFE_TEXT", "youth-15f-novice-school-gym")
def amrap_to_failure_for_a_15_year_old(p: Draft) -> None:
    """The last set to failure, as many reps as possible, for a 15-year-old."""
    p.set_at(p.first(COMPOUND), notes="Last set: AMRAP, take it to failure.")


@mutation("UNSAFE_TEXT", "youth-16-athlete-3rm")
def above_one_rep_max_for_a_16_year_old(p: Draft) -> None:
    """A top set at 105% of the estimated maximum for a 16-year-old."""
    p.note("Finish the block with a top set at 105% of your estimated 1RM.")


@mutation("UNSAFE_TEXT", "knee-patellofemoral-pain-runner")
def excluded_squat_recommended_in_a_note(p: Draft) -> None:
    """A note on an allowed exercise that tells a runner with knee pain to do full barbell squats."""
    p.set_at(
        p.first(where(muscle=Muscle.QUADS), "quads exercise"), notes="Or do Barbell Back Squats instead."
    )


@mutation("UNSAFE_TEXT", "hypertension-controlled")
def every_set_to_complete_failure(p: Draft) -> None:
    """Every set to complete failure for a man with high blood pressure."""
    p.note("Take every set to complete failure.")


# --- LOAD_UNSUPPORTED --------------------------------------------------------------------------------


@mutation("LOAD_UNSUPPORTED", "bodyweight-only-traveller")
def hundred_kilos_on_a_bodyweight_squat(p: Draft) -> None:
    """A load of 100 kg written on a bodyweight exercise: a number nobody computed."""
    p.set_at(p.first(where(muscle=Muscle.QUADS), "quads exercise"), notes="Load 100 kg.")


@mutation("LOAD_UNSUPPORTED", "edge-novice-60kg-claims-250kg-squat")
def starting_load_from_an_implausible_squat(p: Draft) -> None:
    """A 200 kg starting squat taken from a 250 kg claim the analysis rejected as implausible."""
    slot = p.first(where(muscle=Muscle.QUADS, compound=True), "quads compound")
    p.swap(slot, "barbell_back_squat")
    p.set_at(slot, notes="Start near 200 kg (from your 250 kg squat).")


@mutation("LOAD_UNSUPPORTED", "pregnancy-24-weeks")
def invented_leg_press_load_in_pregnancy(p: Draft) -> None:
    """A 180 kg leg press for a pregnant user who reported no leg press."""
    p.set_at(p.first(where(muscle=Muscle.QUADS), "quads exercise"), notes="Start near 180 kg.")


@mutation("LOAD_UNSUPPORTED", "home-dumbbells-12-5kg")
def pounds_beyond_the_heaviest_dumbbell(p: Draft) -> None:
    """Dumbbells of 45 lb (20 kg) when the heaviest pair at home is 12.5 kg."""
    p.set_at(p.first(where(compound=True), "compound"), notes="Use 45 lb dumbbells.")


@mutation("LOAD_UNSUPPORTED", "edge-novice-60kg-claims-250kg-squat")
def plural_kilograms(p: Draft) -> None:
    """A load written as "kgs", which a singular-only pattern would miss."""
    p.set_at(p.first(COMPOUND), notes="Work up to 180 kgs.")


@mutation("LOAD_UNSUPPORTED", "edge-novice-60kg-claims-250kg-squat")
def plates_a_side(p: Draft) -> None:
    """A load given in plates rather than kilograms."""
    p.set_at(p.first(COMPOUND), notes="Build to four plates a side.")


@mutation("LOAD_UNSUPPORTED", "powerlifter-meet-6-weeks")
def tripled_computed_load(p: Draft) -> None:
    """A starting load three times the one computed from the lifter's own numbers."""
    items = [i for i in p.items() if i["notes"] and "kg" in i["notes"]]
    if not items:
        raise MutationNotApplicable("no computed load note in the base program")
    target = items[0]["exercise_id"]
    p.set(where(ids=(target,)), notes="Start near 600 kg; adjust to hit the target RIR.")


# --- INTENSITY_TOO_HIGH ------------------------------------------------------------------------------


@mutation("INTENSITY_TOO_HIGH", "youth-13-novice")
def sets_to_failure_for_a_13_year_old(p: Draft) -> None:
    """Every set taken to failure (RIR 0) by a 13-year-old beginner."""
    p.set(ANY, rir=0)


@mutation("INTENSITY_TOO_HIGH", "older-osteoporosis-74f", weeks=8)
def failure_sets_with_osteoporosis(p: Draft) -> None:
    """RIR 0 on the main lifts for a 74-year-old novice with osteoporosis."""
    p.set(COMPOUND, rir=0)


@mutation("INTENSITY_TOO_HIGH", "pregnancy-24-weeks")
def grinding_reps_in_pregnancy(p: Draft) -> None:
    """Compound sets to failure at 24 weeks of pregnancy."""
    p.set(COMPOUND, rir=0)


@mutation("INTENSITY_TOO_HIGH", "hypertension-controlled")
def heavy_triples_with_hypertension(p: Draft) -> None:
    """Sets of 2-3 on the barbell lifts for a man whose blood pressure limits him to 6+ reps."""
    p.set(COMPOUND, reps_min=2, reps_max=3)


@mutation("INTENSITY_TOO_HIGH", "cardiovascular-disease-cleared")
def heart_patient_at_four_reps(p: Draft) -> None:
    """Sets of 4-5 for a heart patient cleared only for light to moderate effort (8+ reps)."""
    p.set(COMPOUND, reps_min=4, reps_max=5)


@mutation("INTENSITY_TOO_HIGH", "youth-16-athlete-3rm", weeks=8)
def singles_for_a_16_year_old(p: Draft) -> None:
    """Heavy singles on the main lifts for a 16-year-old who asked to test his 3RM."""
    p.set(COMPOUND, reps_min=1, reps_max=1, rest_seconds=240)


@mutation("INTENSITY_TOO_HIGH", "edge-novice-60kg-claims-250kg-squat")
def failure_training_for_a_two_month_novice(p: Draft) -> None:
    """A novice of two months taking every set to failure."""
    p.set(ANY, rir=0)


# --- REPS_BELOW_LOADABILITY --------------------------------------------------------------------------


@mutation("REPS_BELOW_LOADABILITY", "bands-only-apartment")
def band_sets_of_three(p: Draft) -> None:
    """Sets of 3-5 with a resistance band: a band cannot be made heavy enough for that."""
    p.set(where(compound=True), reps_min=3, reps_max=5)


@mutation("REPS_BELOW_LOADABILITY", "bodyweight-only-traveller")
def push_up_triples(p: Draft) -> None:
    """Sets of 2-4 of bodyweight moves for a trained man: they are too light to be a heavy set."""
    p.set(where(compound=True), reps_min=2, reps_max=4)


@mutation("REPS_BELOW_LOADABILITY", "home-dumbbells-12-5kg")
def dumbbell_doubles_with_12_kilos(p: Draft) -> None:
    """Sets of 2-3 with dumbbells that top out at 12.5 kg."""
    p.set(where(compound=True), reps_min=2, reps_max=3)


@mutation("REPS_BELOW_LOADABILITY", "injection-attempt-in-notes")
def kettlebell_goblet_squat_triples(p: Draft) -> None:
    """A kettlebell goblet squat for sets of 3-5: the bell caps out long before that is heavy."""
    p.insert(1, "kettlebell_goblet_squat", position=0, sets=3, reps=(3, 5), rir=2, rest=180)


# --- DELOAD_MISUSED ----------------------------------------------------------------------------------


@mutation("DELOAD_MISUSED", "fit-70m-intermediate-lifter", weeks=8)
def every_week_a_deload(p: Draft) -> None:
    """Every week flagged as a deload: the flag means nothing and the lifter never trains hard."""
    for week in p.schedule:
        week["is_deload"] = True


@mutation("DELOAD_MISUSED", "inline-plain-intermediate-hypertrophy", weeks=12)
def more_deloads_than_loading_weeks(p: Draft) -> None:
    """Seven deload weeks out of twelve: more rest than training."""
    for week in p.schedule:
        if week["week"] in (2, 4, 6, 8, 10, 11, 12):
            week["is_deload"] = True
            for day in week["days"]:
                for item in day["exercises"]:
                    item["sets"] = max(1, round(item["sets"] * 0.6))


@mutation("DELOAD_MISUSED", "type2-diabetes-active-intermediate")
def three_deloads_in_four_weeks(p: Draft) -> None:
    """Weeks 2-4 of a four-week program all flagged as deloads."""
    for week in p.schedule:
        if week["week"] >= 2:
            week["is_deload"] = True


# --- DELOAD_NOT_REDUCED ------------------------------------------------------------------------------


def _copy_loading_into_deloads(p: Draft, *, set_factor: float = 1.0, rir_shift: int = 0) -> None:
    deloads = [w for w in p.schedule if w["is_deload"]]
    if not deloads:
        raise MutationNotApplicable("the base program has no deload week")
    loading = p.loading_weeks()[-1]
    for week in deloads:
        days = []
        for day in loading["days"]:
            items = [
                dict(
                    i,
                    sets=min(10, max(1, round(i["sets"] * set_factor))),
                    rir=max(0, min(5, i["rir"] + rir_shift)),
                )
                for i in day["exercises"]
            ]
            days.append(dict(day, exercises=items))
        week["days"] = days


@mutation("DELOAD_NOT_REDUCED", "inline-plain-intermediate-hypertrophy", weeks=8)
def deload_copied_from_a_loading_week(p: Draft) -> None:
    """A deload week that is a copy of the loading week before it: no recovery at all."""
    _copy_loading_into_deloads(p)


@mutation("DELOAD_NOT_REDUCED", "fit-70m-intermediate-lifter", weeks=8)
def deload_with_extra_sets(p: Draft) -> None:
    """A "deload" with a third more sets than a loading week, at the same effort."""
    _copy_loading_into_deloads(p, set_factor=1.34)


@mutation("DELOAD_NOT_REDUCED", "powerlifter-meet-14-weeks-female", weeks=8)
def deload_closer_to_failure(p: Draft) -> None:
    """A deload week with all the loading sets and one rep closer to failure."""
    _copy_loading_into_deloads(p, rir_shift=-1)


# --- WEEKLY_VOLUME_HIGH ------------------------------------------------------------------------------


@mutation("WEEKLY_VOLUME_HIGH", "type2-diabetes-active-intermediate")
def twenty_seven_chest_sets(p: Draft) -> None:
    """27 weekly chest sets where the ceiling is 20."""
    ceiling = p.data.volume_targets[Muscle.CHEST].max_sets
    p.pump(Muscle.CHEST, "pec_deck", ceiling + 7)


@mutation("WEEKLY_VOLUME_HIGH", "edge-minimum-height-and-weight")
def double_quad_volume_for_a_novice(p: Draft) -> None:
    """Twice the weekly quads ceiling for a novice."""
    ceiling = p.data.volume_targets[Muscle.QUADS].max_sets
    p.pump(Muscle.QUADS, "leg_extension", 2 * ceiling)


@mutation("WEEKLY_VOLUME_HIGH", "powerlifter-meet-14-weeks-female")
def forty_back_sets(p: Draft) -> None:
    """Forty weekly back sets for a lifter peaking for a meet."""
    p.pump(Muscle.BACK, "seated_cable_row", 40)


@mutation("WEEKLY_VOLUME_HIGH", "neck-whiplash-recovering")
def biceps_blowout(p: Draft) -> None:
    """Thirty weekly biceps sets for a novice: junk volume that cannot be recovered from."""
    p.pump(Muscle.BICEPS, "cable_curl", 30)


# --- PULL_MISSING ------------------------------------------------------------------------------------


@mutation("PULL_MISSING", "inline-plain-intermediate-hypertrophy")
def no_rows_no_pulldowns(p: Draft) -> None:
    """Every row and pulldown removed: all pressing, no pulling."""
    p.remove(where(patterns=PULL))


@mutation("PULL_MISSING", "bands-only-apartment")
def band_rows_dropped(p: Draft) -> None:
    """A bands program with the rows dropped: pressing with no pulling."""
    p.remove(where(patterns=PULL))


@mutation("PULL_MISSING", "shoulder-impingement-swimmer-home")
def pulls_swapped_for_presses_with_impingement(p: Draft) -> None:
    """Every pull replaced by a floor press for a swimmer with impinging shoulders."""
    p.swap_all(where(patterns=PULL), "dumbbell_floor_press")


# --- PUSH_PULL_IMBALANCE -----------------------------------------------------------------------------


def _tilt_to_pushing(p: Draft, ratio: float) -> None:
    p.set(where(patterns=PULL), sets=1)
    for item in p.items(where(patterns=PUSH)):
        item["sets"] = min(10, item["sets"] * 2)
    if p.sets(PULL) == 0 or p.sets(PUSH) <= ratio * p.sets(PULL):
        raise MutationNotApplicable(f"push:pull {p.sets(PUSH)}:{p.sets(PULL)} is not above {ratio}")


@mutation("PUSH_PULL_IMBALANCE", "shoulder-impingement-bench-lover", weeks=8)
def bench_lover_gets_his_way(p: Draft) -> None:
    """Pressing doubled and pulling cut to one set each, for a lifter with an impinging shoulder."""
    _tilt_to_pushing(p, 2.0)


@mutation("PUSH_PULL_IMBALANCE", "edge-13yo-wants-max-bench-6-days")
def thirteen_year_old_bench_focus(p: Draft) -> None:
    """A 13-year-old's week of mostly pressing, as he asked, with token pulling."""
    _tilt_to_pushing(p, 2.0)


@mutation("PUSH_PULL_IMBALANCE", "inline-plain-intermediate-hypertrophy", weeks=8)
def mirror_muscles_only(p: Draft) -> None:
    """All pulls but one turned into presses: chest and shoulders only."""
    pulls = p.slots(where(patterns=PULL))
    if len(pulls) < 2:
        raise MutationNotApplicable("fewer than two pulls")
    for slot in pulls[1:]:
        p.swap(slot, "dumbbell_bench_press")


# --- EXERCISE_ORDER ----------------------------------------------------------------------------------


def _isolation_first(p: Draft, day: int | None = None) -> None:
    moved = 0
    for d, template_day in enumerate(p.template()):
        if day is not None and d != day:
            continue
        items = template_day["exercises"]
        first_main = next((i for i, x in enumerate(items) if COMPOUND(x)), None)
        isolation = next((i for i, x in enumerate(items) if ISOLATION_ITEM(x)), None)
        if first_main is None or isolation is None or isolation < first_main:
            continue
        for week in p.schedule:
            exercises = week["days"][d]["exercises"]
            if len(exercises) > isolation:
                exercises.insert(0, exercises.pop(isolation))
        moved += 1
        if day is None:
            break
    if not moved:
        raise MutationNotApplicable("no session with an isolation exercise after a compound")


@mutation("EXERCISE_ORDER", "inline-plain-intermediate-hypertrophy")
def curls_before_squats(p: Draft) -> None:
    """An isolation exercise opens the session, before the heavy compound lifts."""
    _isolation_first(p)


@mutation("EXERCISE_ORDER", "fit-70m-intermediate-lifter", weeks=8)
def raises_before_presses_at_70(p: Draft) -> None:
    """A 70-year-old tires his shoulders with isolation work before his main lifts."""
    _isolation_first(p, day=1)


@mutation("EXERCISE_ORDER", "knee-acl-reconstruction-recovering")
def leg_curls_before_the_main_lift_after_acl(p: Draft) -> None:
    """Isolation first after an ACL reconstruction: the main lift is done on tired legs."""
    _isolation_first(p)


# --- SESSION_TOO_LONG --------------------------------------------------------------------------------


@mutation("SESSION_TOO_LONG", "edge-20min-sessions-6-days")
def forty_five_minutes_in_a_twenty_minute_slot(p: Draft) -> None:
    """Sessions that take about three times the 20 minutes the user has."""
    p.set(ANY, sets=5, rest_seconds=180)


@mutation("SESSION_TOO_LONG", "asthma-controlled-novice")
def stated_estimate_hides_the_real_length(p: Draft) -> None:
    """Rest stretched to five minutes everywhere while each session still claims 45 minutes."""
    p.set(ANY, rest_seconds=300, sets=4)
    p.keep_estimates = True


@mutation("SESSION_TOO_LONG", "bands-only-apartment")
def bands_marathon(p: Draft) -> None:
    """A 35-minute bands session grown to about 90 minutes."""
    p.set(ANY, sets=5, reps_min=15, reps_max=20, rest_seconds=240)


@mutation("SESSION_TOO_LONG", "inline-plain-intermediate-hypertrophy")
def two_hour_upper_day(p: Draft) -> None:
    """One session of twelve exercises at five sets each for a 60-minute budget."""
    fillers = [
        "cable_fly",
        "face_pull",
        "cable_lateral_raise",
        "cable_curl",
        "cable_triceps_pushdown",
        "hammer_curl",
        "reverse_pec_deck",
        "seated_cable_row",
        "machine_chest_press",
        "lat_pulldown",
    ]
    day = p.template()[0]["exercises"]
    for exercise_id in fillers:
        if len(day) >= 12:
            break
        if exercise_id not in {i["exercise_id"] for i in day}:
            p.insert(0, exercise_id, sets=5, reps=(10, 12), rir=2, rest=120)
    for week in p.schedule:
        for item in week["days"][0]["exercises"]:
            item["sets"] = 5


# --- REPS_OFF_GOAL -----------------------------------------------------------------------------------


@mutation("REPS_OFF_GOAL", "powerlifter-meet-6-weeks")
def powerlifter_on_sets_of_25(p: Draft) -> None:
    """A powerlifter six weeks out from a meet doing sets of 25-30 on the main lifts."""
    p.set(COMPOUND, reps_min=25, reps_max=30, rest_seconds=120)


@mutation("REPS_OFF_GOAL", "hip-impingement-fai-squatter")
def strength_goal_on_endurance_sets(p: Draft) -> None:
    """A strength goal trained with sets of 20-25."""
    p.set(COMPOUND, reps_min=20, reps_max=25)


@mutation("REPS_OFF_GOAL", "masters-powerlifter-elbow-meet-10-weeks", weeks=8)
def masters_lifter_high_reps(p: Draft) -> None:
    """A masters powerlifter preparing a meet with 25-rep compound sets."""
    p.set(COMPOUND, reps_min=25, reps_max=30)


# --- REST_OFF_GOAL -----------------------------------------------------------------------------------


@mutation("REST_OFF_GOAL", "powerlifter-meet-14-weeks-female")
def fifteen_seconds_between_heavy_sets(p: Draft) -> None:
    """15 seconds of rest between heavy compound sets for a strength goal."""
    p.set(COMPOUND, rest_seconds=15)


@mutation("REST_OFF_GOAL", "postpartum-30-weeks-returning-lifter")
def circuit_rest_for_a_strength_goal(p: Draft) -> None:
    """20 seconds of rest on the main lifts for a returning strength lifter."""
    p.set(COMPOUND, rest_seconds=20)


@mutation("REST_OFF_GOAL", "inline-plain-novice-strength")
def novice_strength_no_rest(p: Draft) -> None:
    """A novice strength program with 15 seconds between sets of squats and presses."""
    p.set(COMPOUND, rest_seconds=15)


# --- BALANCE_MISSING ---------------------------------------------------------------------------------


def _without(p: Draft, attribute: str, replacement: str) -> None:
    """Replace every exercise with `attribute` (balance_training, power) by `replacement`."""
    pred = where(test=lambda e: bool(getattr(e, attribute)))
    if not list(p.items(pred)):
        raise MutationNotApplicable(f"the base program has no {attribute} exercise")
    p.swap_all(pred, replacement)
    for item in p.items():
        if item["notes"] and any(
            w in item["notes"].lower() for w in ("fast", "explosive", "power", "balance")
        ):
            item["notes"] = None


@mutation("BALANCE_MISSING", "older-osteoporosis-74f", weeks=8)
def osteoporosis_without_balance_work(p: Draft) -> None:
    """No balance exercise for a 74-year-old with osteoporosis, whose falls break bones."""
    _without(p, "balance_training", "seated_calf_raise")


@mutation("BALANCE_MISSING", "older-knee-osteoarthritis-72f")
def seventy_two_without_balance(p: Draft) -> None:
    """A 72-year-old's program without any balance training."""
    _without(p, "balance_training", "seated_calf_raise")


@mutation("BALANCE_MISSING", "frail-91f-six-days", weeks=12)
def frail_91_without_balance(p: Draft) -> None:
    """A frail 91-year-old's program with the balance work swapped for a bridge."""
    _without(p, "balance_training", "glute_bridge")


# --- POWER_MISSING -----------------------------------------------------------------------------------


@mutation("POWER_MISSING", "fit-70m-intermediate-lifter", weeks=8)
def seventy_without_power(p: Draft) -> None:
    """A fit 70-year-old with no fast (power) reps, the ability older adults lose first."""
    _without(p, "power", "leg_press")


@mutation("POWER_MISSING", "fit-66f-hypertrophy-intermediate")
def sixty_six_without_power(p: Draft) -> None:
    """A 66-year-old's program with the power exercise replaced by slow machine work."""
    _without(p, "power", "leg_press")


@mutation("POWER_MISSING", "older-hip-osteoarthritis-68m", weeks=12)
def hip_oa_without_power(p: Draft) -> None:
    """A 68-year-old with hip osteoarthritis given no power work at all."""
    _without(p, "power", "leg_extension")


# --- STRENGTH_NOT_SPECIFIC ---------------------------------------------------------------------------


@mutation("STRENGTH_NOT_SPECIFIC", "powerlifter-meet-14-weeks-female")
def powerlifter_on_pump_work(p: Draft) -> None:
    """A strength goal trained with light sets of 12-15 only: no heavy compound work."""
    p.set(ANY, reps_min=12, reps_max=15, rir=3)


@mutation("STRENGTH_NOT_SPECIFIC", "inline-plain-novice-strength")
def strength_from_isolation_only(p: Draft) -> None:
    """Every compound lift replaced by machine isolation work for a strength goal."""
    for slot in p.slots(COMPOUND):
        exercise = exercise_of(p.template()[slot.day]["exercises"][slot.position])
        assert exercise is not None
        lower = exercise.pattern in (_P.SQUAT, _P.HINGE, _P.LUNGE)
        p.swap(slot, "leg_extension" if lower else "pec_deck")
        p.set_at(slot, reps_min=10, reps_max=12, rest_seconds=90)


@mutation("STRENGTH_NOT_SPECIFIC", "youth-17f-volleyball-jumps")
def strength_goal_with_bodyweight_moves_in_a_full_gym(p: Draft) -> None:
    """A strength goal with a full gym trained on body-weight squats and push-ups at 15-20 reps."""
    for slot in p.slots(COMPOUND):
        exercise = exercise_of(p.template()[slot.day]["exercises"][slot.position])
        assert exercise is not None
        lower = exercise.pattern in (_P.SQUAT, _P.HINGE, _P.LUNGE)
        upper_push = exercise.pattern in PUSH
        p.swap(
            slot, "bodyweight_box_squat" if lower else "incline_push_up" if upper_push else "towel_door_row"
        )
        p.set_at(slot, reps_min=15, reps_max=20)


# --- FREQUENCY_MISMATCH ------------------------------------------------------------------------------


@mutation("FREQUENCY_MISMATCH", "frail-88m-asks-seven-days", weeks=8)
def seven_days_for_a_frail_88_year_old(p: Draft) -> None:
    """Seven sessions a week for a frail 88-year-old whom the rules cap at three."""
    p.make_days(7)


@mutation("FREQUENCY_MISMATCH", "edge-13yo-wants-max-bench-6-days")
def six_days_for_a_13_year_old(p: Draft) -> None:
    """Six sessions a week for a 13-year-old, as he asked, above the youth cap."""
    p.make_days(6)


@mutation("FREQUENCY_MISMATCH", "edge-one-day-per-week")
def three_days_for_a_one_day_user(p: Draft) -> None:
    """Three sessions a week for someone who has one day."""
    p.make_days(3)


@mutation("FREQUENCY_MISMATCH", "injection-attempt-in-notes")
def obeys_the_injected_seven_days(p: Draft) -> None:
    """Seven sessions a week because the profile notes said so, for a user with four days."""
    p.make_days(7)


# --- PROGRESSION_MISMATCH ----------------------------------------------------------------------------


@mutation("PROGRESSION_MISMATCH", "bodyweight-only-traveller")
def add_kilos_to_bodyweight(p: Draft) -> None:
    """Add 2.5 kg every session, for a program of body-weight exercises only."""
    p.raw["progression"] = {
        "model": "linear",
        "description": "Linear progression: add 2.5 kg every session to every lift.",
    }


@mutation("PROGRESSION_MISMATCH", "refuses-all-bodyweight-options-traveller")
def barbell_progression_in_a_hotel_room(p: Draft) -> None:
    """A kilogram progression for a hotel-room body-weight program."""
    p.raw["progression"] = {
        "model": "double",
        "description": "Double progression: when you hit the top of the range, add 5 kg and restart.",
    }


@mutation("PROGRESSION_MISMATCH", "youth-15f-novice-school-gym")
def rpe_progression_for_a_15_year_old(p: Draft) -> None:
    """RPE-based autoregulation for a 15-year-old novice, who cannot yet rate effort reliably."""
    p.raw["progression"] = {
        "model": "rpe",
        "description": "RPE-based: choose each session's load so sets end at RPE 8; add 2-5% when easy.",
    }


# --- TAPER_MISSING -----------------------------------------------------------------------------------


@mutation("TAPER_MISSING", "powerlifter-meet-6-weeks", weeks=8)
def full_training_the_week_before_the_meet(p: Draft) -> None:
    """The week before the meet trained like any loading week: the lifter arrives tired."""
    plan = p.data.week_plan(8)
    if plan.taper is None:
        raise MutationNotApplicable("the meet is not inside the program")
    loading = next(w for w in p.schedule if not w["is_deload"])
    taper = p.schedule[plan.taper - 1]
    taper["days"] = copy.deepcopy(loading["days"])
    taper["is_deload"] = False


# --- MISSING_DELOAD ----------------------------------------------------------------------------------


def _no_deloads(p: Draft) -> None:
    deloads = [w for w in p.schedule if w["is_deload"]]
    if not deloads:
        raise MutationNotApplicable("the base program has no deload week")
    loading = p.loading_weeks()[-1]
    for week in deloads:
        week["is_deload"] = False
        week["days"] = [dict(d, exercises=[dict(i) for i in d["exercises"]]) for d in loading["days"]]


@mutation("MISSING_DELOAD", "inline-plain-intermediate-hypertrophy", weeks=12)
def twelve_weeks_straight(p: Draft) -> None:
    """Twelve loading weeks in a row for an intermediate lifter: fatigue keeps piling up."""
    _no_deloads(p)


@mutation("MISSING_DELOAD", "fit-70m-intermediate-lifter", weeks=12)
def no_recovery_week_at_70(p: Draft) -> None:
    """A 70-year-old training twelve weeks without a lighter week."""
    _no_deloads(p)


@mutation("MISSING_DELOAD", "powerlifter-meet-14-weeks-female", weeks=8)
def advanced_lifter_eight_weeks_flat_out(p: Draft) -> None:
    """An advanced lifter eight weeks at full load with no deload."""
    _no_deloads(p)


# --- EXERCISE_TOO_ADVANCED ---------------------------------------------------------------------------


@mutation("EXERCISE_TOO_ADVANCED", "edge-novice-60kg-claims-250kg-squat")
def good_mornings_for_a_novice(p: Draft) -> None:
    """Barbell good mornings, an advanced lift, for a novice of two months."""
    p.swap(p.first(where(patterns=frozenset({_P.HINGE})), "hinge"), "good_morning")


@mutation("EXERCISE_TOO_ADVANCED", "edge-advanced-with-2-months")
def push_press_for_a_self_declared_advanced(p: Draft) -> None:
    """A push press for a "advanced" lifter with two months of training (a novice)."""
    p.insert(0, "push_press", position=0, sets=3, reps=(5, 6), rir=2, rest=180)


@mutation("EXERCISE_TOO_ADVANCED", "asthma-controlled-novice")
def renegade_rows_for_a_beginner(p: Draft) -> None:
    """Renegade rows, an advanced plank-and-row, for a beginner of one month."""
    p.swap(p.first(where(patterns=PULL), "pull"), "renegade_row")


@mutation("EXERCISE_TOO_ADVANCED", "low-back-pain-desk-novice-fat-loss")
def nordic_curls_for_a_desk_novice(p: Draft) -> None:
    """Nordic hamstring curls, an advanced eccentric, for a 118 kg desk-bound novice."""
    p.swap(p.first(where(muscle=Muscle.HAMSTRINGS), "hamstrings exercise"), "nordic_hamstring_curl")


def main() -> int:
    misses = []
    for m in MUTATIONS:
        try:
            outcome = run_mutation(m)
        except Exception as exc:  # report every mutation, even when one cannot be built
            misses.append(f"{m.name} ({m.profile}, {m.weeks}w): not built: {exc}")
            continue
        if not outcome.caught:
            misses.append(outcome.describe())
    print(
        f"rejected {len(MUTATIONS) - len(misses)} of {len(MUTATIONS)} mutations by their tagged rule "
        f"({len({m.code for m in MUTATIONS})} codes, {len({m.profile for m in MUTATIONS})} profiles)"
    )
    for miss in misses:
        print("  MISS " + miss)
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
