"""The compact ask: the model's choices for one loading week; code writes the rest of the program.

The model returns only what needs judgement: for each session of the split (in order) the exercises
(catalog ids), their order, and the loading week's sets, reps, RIR and rest, plus up to three short
notes. `expand_compact` turns that into the whole program with the rules engine's own periodisation
(`tpg.training.engine.program_from_week`): introductory and later loading weeks, deloads, a taper,
names, focus, minutes, the header, the progression text and the engine's notes. Validation then runs
on the expanded program exactly as on any other (tpg.training.validation).

The answer schema is a constant (the exercise id is an enum of the whole catalog, not of one user's
allowed ids), so every request of one model shares one prompt-cache entry (docs/llm-pipeline.md).
Ranges the API cannot enforce are enforced here by pydantic, after `clamp_compact` has fixed the
trivial overflows (a rest of 10 s, a note a few characters too long) that would otherwise cost a
repair round.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from tpg.platform.text import PlainText
from tpg.training.analysis import EnhancedUserData, RepScheme
from tpg.training.catalog import ALL_EXERCISES, CATALOG, Exercise
from tpg.training.engine import notes_room, program_from_week
from tpg.training.program import TrainingProgram

EXERCISE_IDS: tuple[str, ...] = tuple(e.id for e in ALL_EXERCISES)
MAX_NOTES = 3
NOTE_CHARS = 200

# Bounds of a prescription (the program schema's, tpg.training.program) and how far past one a
# value may be and still count as a slip code fixes (clamps) rather than a choice the model must
# revisit: within these margins the clamped value is what the model evidently meant.
_BOUNDS: dict[str, tuple[int, int, int]] = {
    # field (camelCase on the wire): (low, high, margin)
    "sets": (1, 10, 2),
    "repsMin": (1, 30, 5),
    "repsMax": (1, 30, 10),
    "rir": (0, 5, 2),
    "restSeconds": (15, 600, 120),
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class CompactExercise(_Model):
    exercise_id: str = Field(
        description="A catalog id from the user's allowed_exercise_ids",
        json_schema_extra={"enum": list(EXERCISE_IDS)},
    )
    sets: int = Field(ge=1, le=10, description="Working sets in a loading week")
    reps_min: int = Field(ge=1, le=30, description="For timed exercises: 5-second units, see the rules")
    reps_max: int = Field(ge=1, le=30)
    rir: int = Field(ge=0, le=5, description="Repetitions in reserve in a loading week")
    rest_seconds: int = Field(ge=15, le=600)

    @field_validator("exercise_id")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in CATALOG:
            raise ValueError("not an exercise id of the catalog")
        return value

    @model_validator(mode="after")
    def _reps_ordered(self) -> CompactExercise:
        if self.reps_max < self.reps_min:
            raise ValueError("repsMax must be at least repsMin")
        return self


class CompactDay(_Model):
    exercises: list[CompactExercise] = Field(min_length=1, max_length=10, description="In training order")


class CompactPlan(_Model):
    """The structured output of the compact ask: one loading week's choices."""

    days: list[CompactDay] = Field(
        min_length=1, max_length=7, description="One entry per session, in the order of split.day_types"
    )
    notes: list[PlainText] = Field(default_factory=list, max_length=MAX_NOTES)

    @field_validator("notes")
    @classmethod
    def _short_notes(cls, notes: list[str]) -> list[str]:
        if any(len(note) > NOTE_CHARS for note in notes):
            raise ValueError(f"each note at most {NOTE_CHARS} characters")
        return notes


def clamp_compact(document: Any) -> tuple[Any, int]:
    """Fix the trivial slips of a compact answer in place of a repair round; return (document, fixes).

    Numbers a little past a bound are set to the bound, a reps range written backwards is turned
    round, notes are cut to their length at a word and to their number. Anything else (a missing
    field, an unknown id, a value far out) is left for pydantic to reject, and the rejection goes to
    the repair round as it is.
    """
    fixes = 0
    if not isinstance(document, dict):
        return document, 0
    # Any shape is possible ({"days": 5}): what is not a list of objects is left for pydantic,
    # whose finding is repairable, rather than raising here.
    days = document.get("days")
    for day in days if isinstance(days, list) else []:
        items = day.get("exercises") if isinstance(day, dict) else None
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            for key, (low, high, margin) in _BOUNDS.items():
                value = item.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    if low - margin <= value < low:
                        item[key], fixes = low, fixes + 1
                    elif high < value <= high + margin:
                        item[key], fixes = high, fixes + 1
            low_reps, high_reps = item.get("repsMin"), item.get("repsMax")
            if isinstance(low_reps, int) and isinstance(high_reps, int) and high_reps < low_reps:
                item["repsMin"], item["repsMax"], fixes = high_reps, low_reps, fixes + 1
    notes = document.get("notes")
    if isinstance(notes, list):
        if len(notes) > MAX_NOTES:
            del notes[MAX_NOTES:]
            fixes += 1
        for index, note in enumerate(notes):
            if isinstance(note, str) and len(note) > NOTE_CHARS:
                cut = note[: NOTE_CHARS - 1].rsplit(" ", 1)[0].rstrip(" ,;:")
                notes[index], fixes = cut + "…", fixes + 1
    return document, fixes


def notes_left_out(plan: CompactPlan, data: EnhancedUserData, *, weeks: int) -> int:
    """How many of the model's notes the expanded program has no room for: the app's own notes
    (safety first) keep their place, the model's fill what the program's 10 leave."""
    return max(0, len(plan.notes) - notes_room(data, weeks=weeks))


def expand_compact(
    plan: CompactPlan, data: EnhancedUserData, *, weeks: int, name: str | None = None
) -> TrainingProgram:
    """The whole program from the model's week (`tpg.training.engine.program_from_week`); the
    model's notes after the app's, as many as there is room for (`notes_left_out`).

    Raises ValueError when the plan does not have one day per planned session (the split's days).
    """
    if len(plan.days) != data.days_per_week:
        raise ValueError(f"days must list {data.days_per_week} sessions, one per split day")
    week = [
        [
            (
                CATALOG[item.exercise_id],
                item.sets,
                RepScheme(
                    reps_min=item.reps_min,
                    reps_max=item.reps_max,
                    rir=item.rir,
                    rest_seconds=item.rest_seconds,
                ),
            )
            for item in day.exercises
        ]
        for day in plan.days
    ]
    return program_from_week(data, week, weeks=weeks, name=name, extra_notes=tuple(plan.notes))


def compact_from_week(week: list[list[tuple[Exercise, int, RepScheme]]]) -> CompactPlan:
    """The compact answer for a chosen week (`tpg.training.engine.plan_week`'s shape)."""
    return CompactPlan(
        days=[
            CompactDay(
                exercises=[
                    CompactExercise(
                        exercise_id=exercise.id,
                        sets=sets,
                        reps_min=scheme.reps_min,
                        reps_max=scheme.reps_max,
                        rir=scheme.rir,
                        rest_seconds=scheme.rest_seconds,
                    )
                    for exercise, sets, scheme in day
                ]
            )
            for day in week
        ]
    )
