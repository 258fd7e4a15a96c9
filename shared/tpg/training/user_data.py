"""What the pipeline knows about a user: profile + onboarding, validated from database rows."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class Goal(StrEnum):
    STRENGTH = "strength"
    HYPERTROPHY = "hypertrophy"
    FAT_LOSS = "fat_loss"
    GENERAL_FITNESS = "general_fitness"


class ExperienceLevel(StrEnum):
    NOVICE = "novice"
    INTERMEDIATE = "intermediate"
    ADVANCED = "advanced"


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


class Equipment(StrEnum):
    """Atomic pieces of equipment; a 'full gym' is all of them."""

    BARBELL = "barbell"
    DUMBBELL = "dumbbell"
    KETTLEBELL = "kettlebell"
    CABLE = "cable"
    MACHINE = "machine"
    BAND = "band"
    BENCH = "bench"
    PULLUP_BAR = "pullup_bar"
    BODYWEIGHT = "bodyweight"


class Injury(StrEnum):
    KNEE = "knee"
    SHOULDER = "shoulder"
    LOWER_BACK = "lower_back"
    HIP = "hip"
    ELBOW = "elbow"
    WRIST = "wrist"


class LiftRecord(BaseModel):
    """A recent set the user reported: `reps` done with `weight_kg` (to estimate 1RM)."""

    model_config = ConfigDict(extra="forbid")

    exercise_id: str = Field(min_length=1, max_length=64)
    weight_kg: float = Field(gt=0, le=500)
    reps: int = Field(ge=1, le=50)


class UserData(BaseModel):
    """Profile + onboarding for one user, as read by the pipeline in one query."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    user_id: UUID
    age: int = Field(ge=13, le=100)
    sex: Sex
    height_cm: float = Field(gt=100, lt=250)
    weight_kg: float = Field(gt=30, lt=300)
    goal: Goal
    experience: ExperienceLevel
    training_months: int = Field(default=0, ge=0, le=600)
    days_per_week: int = Field(ge=1, le=7)
    session_minutes: int = Field(ge=20, le=180)
    equipment: frozenset[Equipment]
    injuries: frozenset[Injury] = frozenset()
    lifts: tuple[LiftRecord, ...] = ()
    # Free text from the user: capped here, and only ever placed in the user part of a prompt.
    notes: str | None = Field(default=None, max_length=1000)
