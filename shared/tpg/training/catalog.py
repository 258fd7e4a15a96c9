"""The exercise catalog: the one list of exercises the generator, the validator and the LLM prompt share.

The table is data: `data/exercises.json`, one exercise per line, keys in the order of `Exercise`'s
fields. This module reads it once, on first use (the generate Lambda's cold start does not pay for it
unless the catalog is used), validates every entry strictly (unknown or missing keys, unknown enum
values, duplicate ids, substitutions naming unknown ids: each fails with the exercise id named) and
builds `ALL_EXERCISES` (catalog order) and `CATALOG` (by id). Ids are a public contract: never rename
or delete one.

Written by hand from well-known facts (muscles worked, equipment, skill level). Contraindications are
conservative defaults taken from the safety notes (docs: training-science.md A9), not diagnoses:
- knee: deep loaded knee flexion, lunging and jumping ("leg press / hip thrust over deep squats");
- shoulder: overhead pressing, upright rows, dips and deep-stretch flyes ("neutral-grip and incline
  pressing over overhead press"); a fixed straight bar for bench pressing is avoided too;
- lower back: heavy axial loading and loaded spinal flexion (deadlifts, good mornings, unsupported rows,
  sit-ups); chest-supported rows, hip thrusts, leg press and leg curls are the substitutes.
The attributes below (`loading`, `spinal_loading`, `deep_knee_flexion`, ...) describe the movement
itself, so that safety rules can select exercises by what they do rather than by id.

Muscles are counted for volume as the validator does: primary = 1 set, secondary = 0.5 set. Squats and
lunges list glutes as secondary (quads are the target), so glute volume is not double-counted.

Bodyweight is always available: nobody lacks a body, even if onboarding did not tick the box.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar

from tpg.training.user_data import Equipment, ExperienceLevel, Injury


class Muscle(StrEnum):
    CHEST = "chest"
    BACK = "back"
    QUADS = "quads"
    HAMSTRINGS = "hamstrings"
    GLUTES = "glutes"
    SHOULDERS = "shoulders"
    TRICEPS = "triceps"
    BICEPS = "biceps"
    CALVES = "calves"
    ABS = "abs"
    FOREARMS = "forearms"
    TRAPS = "traps"
    LOWER_BACK = "lower_back"


# The muscles with weekly volume targets (the notes' table); the others are tracked, never targeted.
MAJOR_MUSCLES: tuple[Muscle, ...] = (
    Muscle.CHEST,
    Muscle.BACK,
    Muscle.QUADS,
    Muscle.HAMSTRINGS,
    Muscle.GLUTES,
    Muscle.SHOULDERS,
    Muscle.TRICEPS,
    Muscle.BICEPS,
    Muscle.CALVES,
    Muscle.ABS,
)


class MovementPattern(StrEnum):
    SQUAT = "squat"
    HINGE = "hinge"
    LUNGE = "lunge"
    HORIZONTAL_PUSH = "horizontal_push"
    VERTICAL_PUSH = "vertical_push"
    HORIZONTAL_PULL = "horizontal_pull"
    VERTICAL_PULL = "vertical_pull"
    ISOLATION_UPPER = "isolation_upper"
    ISOLATION_LOWER = "isolation_lower"
    CORE = "core"
    CARRY = "carry"
    PLYOMETRIC = "plyometric"


class LoadingType(StrEnum):
    """How an exercise is loaded (one each)."""

    BARBELL = "barbell"  # heavy free-weight barbell / trap-bar lifts
    FREE_WEIGHT = "free_weight"  # dumbbell / kettlebell grinding lifts (and the landmine)
    MACHINE = "machine"  # machines, cable stacks, smith machine
    BAND = "band"
    BODYWEIGHT = "bodyweight"  # loaded by leverage and reps (push-ups, pull-ups, dips, bridges)
    BALLISTIC = "ballistic"  # moved with intent to be fast: swings, jumps, throws, push press
    ISOMETRIC = "isometric"  # holds prescribed in seconds


class Demand(StrEnum):
    """Technical (`skill`) or balance (`balance`) demand."""

    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


class SpinalLoading(StrEnum):
    """Axial compression / shear of the spine."""

    NONE = "none"
    LOW = "low"  # goblet squat, dumbbell RDL, seated dumbbell press, leg press
    HIGH = "high"  # a barbell on the back or from the floor, standing barbell press, heavy carries


_LEVEL_RANK = {ExperienceLevel.NOVICE: 0, ExperienceLevel.INTERMEDIATE: 1, ExperienceLevel.ADVANCED: 2}


def level_rank(level: ExperienceLevel) -> int:
    return _LEVEL_RANK[level]


@dataclass(frozen=True, slots=True)
class Exercise:
    id: str
    name: str
    pattern: MovementPattern
    # Tuples, not sets: iteration order must not depend on the process's hash seed (determinism).
    primary_muscles: tuple[Muscle, ...]
    secondary_muscles: tuple[Muscle, ...]
    equipment: frozenset[Equipment]  # all of these are required
    level: ExperienceLevel  # the minimum training level
    contraindications: frozenset[Injury]  # explicit, per exercise; rules may exclude more by attribute
    substitutions: tuple[str, ...]
    compound: bool
    loading: LoadingType
    skill: Demand  # technical demand (olympic-style lifts and the push press: high)
    impact: bool  # landing, jumping, running
    supine: bool  # performed lying on the back
    spinal_loading: SpinalLoading
    spinal_flexion: bool  # loaded or repeated spinal flexion (crunch, sit-up, hanging raises)
    spinal_rotation: bool  # loaded twisting (woodchop)
    deep_knee_flexion: bool  # knee well beyond 90 degrees under load (full squats, lunges, pistols)
    deep_hip_flexion: bool  # hip beyond ~90 degrees under load (deep squats, leg press, floor deadlifts)
    overhead: bool  # arms overhead under load (overhead presses, pull-ups and pulldowns, hanging)
    wrist_extension: bool  # body weight or a heavy load on an extended wrist (push-ups, front rack, dips)
    balance: Demand  # balance demand / fall risk
    unilateral: bool  # one side at a time: a set takes twice as long (reps are per side)
    timed: bool  # prescribed in seconds rather than reps (holds, carries)
    power: bool  # a power-training option: moderate load moved with maximal intent
    balance_training: bool  # its purpose is balance (single-leg stance, tandem stance, step-up)

    @property
    def loaded_in_kg(self) -> bool:
        """Progressed by adding kilograms (bodyweight, band and hold exercises progress otherwise)."""
        return self.loading not in (LoadingType.BODYWEIGHT, LoadingType.BAND, LoadingType.ISOMETRIC)

    def works(self, muscle: Muscle) -> float:
        """Sets counted for `muscle` per working set of this exercise: 1 primary, 0.5 secondary, else 0."""
        if muscle in self.primary_muscles:
            return 1.0
        if muscle in self.secondary_muscles:
            return 0.5
        return 0.0


# ---------------------------------------------------------------------------------------------------
# Loading and validating the data
# ---------------------------------------------------------------------------------------------------

DATA_FILE = "data/exercises.json"  # relative to the tpg.training package

_ID = re.compile(r"[a-z][a-z0-9_]*")
_MAX_ID = 64
_MAX_NAME = 80


_E = TypeVar("_E", bound=StrEnum)


class CatalogError(ValueError):
    """The exercise data is invalid; the message names the exercise (by id, else by position)."""


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):  # strictly true/false: no 0/1, no "true"
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _one(enum: type[_E]) -> Callable[[Any], _E]:
    members = {m.value: m for m in enum}  # a dict lookup: several times faster than enum(value)

    def convert(value: Any) -> _E:
        member = members.get(value) if isinstance(value, str) else None
        if member is None:
            raise ValueError(f"unknown {enum.__name__} {value!r} (allowed: {', '.join(members)})")
        return member

    return convert


def _many(enum: type[_E]) -> Callable[[Any], tuple[_E, ...]]:
    one = _one(enum)

    def convert(value: Any) -> tuple[_E, ...]:
        if not isinstance(value, list):
            raise ValueError(f"expected a list, got {value!r}")
        items = tuple(one(v) for v in value)
        if len(set(items)) != len(items):
            raise ValueError(f"duplicate value in {value!r}")
        return items

    return convert


def _ids(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list, got {value!r}")
    items = tuple(_str(v) for v in value)
    if len(set(items)) != len(items):
        raise ValueError(f"duplicate id in {value!r}")
    return items


def _frozen(enum: type[_E]) -> Callable[[Any], frozenset[_E]]:
    many = _many(enum)
    return lambda value: frozenset(many(value))


# One converter per field of Exercise, in field order (the JSON's key order).
_FIELDS: dict[str, Callable[[Any], Any]] = {
    "id": _str,
    "name": _str,
    "pattern": _one(MovementPattern),
    "primary_muscles": _many(Muscle),
    "secondary_muscles": _many(Muscle),
    "equipment": _frozen(Equipment),
    "level": _one(ExperienceLevel),
    "contraindications": _frozen(Injury),
    "substitutions": _ids,
    "compound": _bool,
    "loading": _one(LoadingType),
    "skill": _one(Demand),
    "impact": _bool,
    "supine": _bool,
    "spinal_loading": _one(SpinalLoading),
    "spinal_flexion": _bool,
    "spinal_rotation": _bool,
    "deep_knee_flexion": _bool,
    "deep_hip_flexion": _bool,
    "overhead": _bool,
    "wrist_extension": _bool,
    "balance": _one(Demand),
    "unilateral": _bool,
    "timed": _bool,
    "power": _bool,
    "balance_training": _bool,
}
assert tuple(_FIELDS) == tuple(f.name for f in dataclasses.fields(Exercise)), "one converter per field"


def _entry(raw: Any, index: int) -> Exercise:
    label = f"#{index}"
    if isinstance(raw, dict) and isinstance(raw.get("id"), str):
        label = repr(raw["id"])
    where = f"exercise {label}"
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: expected an object, got {type(raw).__name__}")
    unknown = [k for k in raw if k not in _FIELDS]
    missing = [k for k in _FIELDS if k not in raw]
    if unknown or missing:
        raise CatalogError(f"{where}: unknown keys {unknown}, missing keys {missing}")
    values: dict[str, Any] = {}
    for key, convert in _FIELDS.items():
        try:
            values[key] = convert(raw[key])
        except ValueError as error:
            raise CatalogError(f"{where}, {key}: {error}") from None
    exercise = Exercise(**values)
    problems = []
    if not _ID.fullmatch(exercise.id) or len(exercise.id) > _MAX_ID:
        problems.append(f"id must be snake_case, at most {_MAX_ID} characters")
    if not 0 < len(exercise.name) <= _MAX_NAME:
        problems.append(f"name must have 1-{_MAX_NAME} characters")
    if not exercise.primary_muscles:
        problems.append("no primary muscle")
    if set(exercise.primary_muscles) & set(exercise.secondary_muscles):
        problems.append("a muscle is both primary and secondary")
    if not exercise.equipment:
        problems.append("no equipment (use bodyweight)")
    if not exercise.substitutions:
        problems.append("no substitutions")
    if exercise.id in exercise.substitutions:
        problems.append("substitutes itself")
    if problems:
        raise CatalogError(f"{where}: " + "; ".join(problems))
    return exercise


def parse_catalog(text: str | bytes) -> tuple[Exercise, ...]:
    """The exercises in `text` (the content of exercises.json), validated; raises CatalogError."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise CatalogError(f"{DATA_FILE} is not valid JSON: {error}") from None
    if not isinstance(data, list) or not data:
        raise CatalogError(f"{DATA_FILE} must be a non-empty JSON array of exercises")
    exercises = tuple(_entry(raw, index) for index, raw in enumerate(data))
    seen: set[str] = set()
    for exercise in exercises:
        if exercise.id in seen:
            raise CatalogError(f"exercise {exercise.id!r}: duplicate id")
        seen.add(exercise.id)
    for exercise in exercises:
        unknown = [s for s in exercise.substitutions if s not in seen]
        if unknown:
            raise CatalogError(f"exercise {exercise.id!r}: substitutions name unknown ids {unknown}")
    return exercises


class _Catalog(NamedTuple):
    exercises: tuple[Exercise, ...]
    by_id: Mapping[str, Exercise]
    order: Mapping[str, int]


@cache
def _catalog() -> _Catalog:
    text = resources.files("tpg.training").joinpath(DATA_FILE).read_bytes()
    try:
        exercises = parse_catalog(text)
    except CatalogError as error:
        raise CatalogError(f"{DATA_FILE}: {error}") from None
    return _Catalog(
        exercises=exercises,
        by_id=MappingProxyType({e.id: e for e in exercises}),
        order=MappingProxyType({e.id: index for index, e in enumerate(exercises)}),
    )


# Built on first access (module __getattr__): `from tpg.training.catalog import CATALOG` works as before.
ALL_EXERCISES: tuple[Exercise, ...]
CATALOG: Mapping[str, Exercise]
_LAZY: dict[str, Callable[[], Any]] = {
    "ALL_EXERCISES": lambda: _catalog().exercises,
    "CATALOG": lambda: _catalog().by_id,
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return _LAZY[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


# ---------------------------------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------------------------------


def get_exercise(exercise_id: str) -> Exercise | None:
    return _catalog().by_id.get(exercise_id)


def equipment_available(exercise: Exercise, equipment: Iterable[Equipment]) -> bool:
    have = set(equipment) | {Equipment.BODYWEIGHT}
    return exercise.equipment <= have


def is_contraindicated(exercise: Exercise, injuries: Iterable[Injury]) -> bool:
    return not exercise.contraindications.isdisjoint(injuries)


def level_allows(exercise: Exercise, level: ExperienceLevel) -> bool:
    return level_rank(exercise.level) <= level_rank(level)


def is_available(
    exercise: Exercise, equipment: Iterable[Equipment], injuries: Iterable[Injury], level: ExperienceLevel
) -> bool:
    return (
        equipment_available(exercise, equipment)
        and not is_contraindicated(exercise, injuries)
        and level_allows(exercise, level)
    )


def available_exercises(
    equipment: Iterable[Equipment], injuries: Iterable[Injury], level: ExperienceLevel
) -> list[Exercise]:
    """Exercises this user can do: all equipment present, no contraindication, level reached."""
    equipment, injuries = frozenset(equipment), frozenset(injuries)
    return [e for e in _catalog().exercises if is_available(e, equipment, injuries, level)]


def exercises_for_muscle(
    muscle: Muscle, exercises: Iterable[Exercise], *, primary_only: bool = True
) -> list[Exercise]:
    if primary_only:
        return [e for e in exercises if muscle in e.primary_muscles]
    return [e for e in exercises if e.works(muscle) > 0]


def substitutes_for(
    exercise_id: str, equipment: Iterable[Equipment], injuries: Iterable[Injury], level: ExperienceLevel
) -> list[Exercise]:
    """Available replacements: the listed substitutions first, then same pattern and primary muscle."""
    by_id = _catalog().by_id
    original = by_id.get(exercise_id)
    if original is None:
        return []
    allowed = available_exercises(equipment, injuries, level)
    allowed_ids = {e.id for e in allowed}
    listed = [by_id[s] for s in original.substitutions if s in allowed_ids]
    similar = [
        e
        for e in allowed
        if e.id != original.id
        and e not in listed
        and e.pattern == original.pattern
        and set(e.primary_muscles) & set(original.primary_muscles)
    ]
    return listed + similar


def catalog_order(exercise_id: str) -> int:
    """Position in the catalog (unknown ids sort last): a stable tie-breaker."""
    order = _catalog().order
    return order.get(exercise_id, len(order))
