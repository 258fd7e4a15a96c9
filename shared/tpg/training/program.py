"""The training program: the pipeline's output schema, stored as JSON and returned by the API.

The same model is the LLM's structured-output schema, so constraints that JSON Schema cannot
carry to the model (ranges) are enforced here, client side, by pydantic: basic validation.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from tpg.platform.text import PlainText
from tpg.training.user_data import ExperienceLevel, Goal


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class ExercisePrescription(_Model):
    exercise_id: PlainText = Field(min_length=1, max_length=64, description="An id from the exercise catalog")
    name: PlainText = Field(min_length=1, max_length=80)
    sets: int = Field(ge=1, le=10)
    reps_min: int = Field(ge=1, le=30)
    reps_max: int = Field(ge=1, le=30)
    rir: int = Field(ge=0, le=5, description="Target repetitions in reserve at the end of each set")
    rest_seconds: int = Field(ge=15, le=600)
    notes: PlainText | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _reps_range_ordered(self) -> ExercisePrescription:
        if self.reps_max < self.reps_min:
            raise ValueError("repsMax must be at least repsMin")
        return self


class TrainingDay(_Model):
    day: int = Field(ge=1, le=7, description="1-based index of the session within the week")
    name: PlainText = Field(min_length=1, max_length=60)
    focus: PlainText = Field(min_length=1, max_length=80)
    estimated_minutes: int = Field(ge=10, le=240)
    exercises: list[ExercisePrescription] = Field(min_length=1, max_length=12)


class TrainingWeek(_Model):
    week: int = Field(ge=1, le=16)
    is_deload: bool = False
    days: list[TrainingDay] = Field(min_length=1, max_length=7)


class Progression(_Model):
    model: PlainText = Field(min_length=1, max_length=40, description="linear, double or rpe")
    description: PlainText = Field(min_length=1, max_length=400)


class TrainingProgram(_Model):
    name: PlainText = Field(min_length=1, max_length=100)
    goal: Goal
    level: ExperienceLevel
    weeks: int = Field(ge=1, le=16)
    days_per_week: int = Field(ge=1, le=7)
    session_minutes: int = Field(ge=10, le=240)
    split: PlainText = Field(min_length=1, max_length=60)
    progression: Progression
    schedule: list[TrainingWeek] = Field(min_length=1, max_length=16)
    notes: list[PlainText] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _schedule_matches_header(self) -> TrainingProgram:
        if len(self.schedule) != self.weeks:
            raise ValueError("schedule must list every week")
        if [w.week for w in self.schedule] != list(range(1, self.weeks + 1)):
            raise ValueError("weeks must be numbered 1..weeks in order")
        for week in self.schedule:
            if len(week.days) != self.days_per_week:
                raise ValueError(f"week {week.week} must have daysPerWeek sessions")
        return self


def default_program_name(goal: Goal, split: str, weeks: int) -> str:
    """The name a program gets when the user gave none: "Fat loss: Full body, 8 weeks"."""
    return f"{goal.value.replace('_', ' ').capitalize()}: {split}, {weeks} weeks"[:100]
