"""What the pipeline knows about a user: profile + onboarding, validated from database rows.

The same model is the profile file of `tpg program` (its JSON Schema: `tpg program profile-schema`).
Every field accepted before stays accepted; the safety-relevant ones (pregnancy, conditions, detailed
injuries, refused exercises, the heaviest dumbbell, a competition date) are optional additions.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


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
    """Injury sites with their own rules (docs/training-science.md); any other site is accepted too."""

    KNEE = "knee"
    SHOULDER = "shoulder"
    LOWER_BACK = "lower_back"
    HIP = "hip"
    ELBOW = "elbow"
    WRIST = "wrist"
    NECK = "neck"
    UPPER_BACK = "upper_back"
    ANKLE = "ankle"


# What users type for a known site.
_SITE_ALIASES = {
    "back": Injury.LOWER_BACK,
    "low_back": Injury.LOWER_BACK,
    "lumbar": Injury.LOWER_BACK,
    "disc": Injury.LOWER_BACK,
    "foot": Injury.ANKLE,
    "ankle_foot": Injury.ANKLE,
    "thoracic": Injury.UPPER_BACK,
    "cervical": Injury.NECK,
}


class InjuryStatus(StrEnum):
    CURRENT = "current"
    RECOVERING = "recovering"
    PAST = "past"  # healed: told, not restricted


class Severity(StrEnum):
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"


class InjuryReport(BaseModel):
    """One declared injury: a plain site ("knee") is read as a current injury of unknown severity."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z _/-]*$")
    side: str | None = Field(default=None, pattern=r"^(left|right|both)$")
    severity: Severity | None = None
    status: InjuryStatus = InjuryStatus.CURRENT

    @field_validator("site", mode="before")
    @classmethod
    def _normalise_site(cls, value: Any) -> Any:
        if isinstance(value, str):
            key = "_".join(value.strip().lower().replace("-", " ").split())
            return _SITE_ALIASES.get(key, key)
        return value

    @property
    def known_site(self) -> Injury | None:
        return Injury(self.site) if self.site in Injury.__members__.values() else None

    @property
    def restricts(self) -> bool:
        return self.status != InjuryStatus.PAST


class Condition(StrEnum):
    """Medical conditions the profile can declare; what each one changes: docs/training-science.md."""

    HYPERTENSION = "hypertension"
    UNCONTROLLED_HYPERTENSION = "uncontrolled_hypertension"
    CARDIOVASCULAR_DISEASE = "cardiovascular_disease"
    EXERTIONAL_SYMPTOMS = "exertional_symptoms"  # chest pain, fainting, undue breathlessness
    OSTEOPOROSIS = "osteoporosis"
    OSTEOARTHRITIS = "osteoarthritis"
    TYPE2_DIABETES = "type2_diabetes"
    TYPE1_DIABETES = "type1_diabetes"
    ASTHMA = "asthma"
    PREGNANCY_COMPLICATION = "pregnancy_complication"


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
    # A site ("knee") or a report ({"site", "side", "severity", "status"}); unknown sites are kept and
    # handled conservatively (docs/training-science.md).
    injuries: tuple[InjuryReport, ...] = Field(default=(), max_length=12)
    lifts: tuple[LiftRecord, ...] = Field(default=(), max_length=30)
    # Free text from the user: capped here, and only ever placed in the user part of a prompt.
    notes: str | None = Field(default=None, max_length=1000)
    conditions: frozenset[Condition] = frozenset()
    medical_clearance: bool = False  # a doctor has cleared this user for exercise
    pregnancy_weeks: int | None = Field(default=None, ge=1, le=42)
    postpartum_weeks: int | None = Field(default=None, ge=0, le=104)
    refused_exercises: frozenset[str] = Field(default=frozenset(), max_length=200)
    max_dumbbell_kg: float | None = Field(default=None, gt=0, le=100)
    event_date: date | None = None  # a competition to peak for

    @field_validator("injuries", mode="before")
    @classmethod
    def _injury_reports(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple, set, frozenset)):
            return [{"site": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("refused_exercises")
    @classmethod
    def _exercise_ids(cls, value: frozenset[str]) -> frozenset[str]:
        for item in value:
            if not (1 <= len(item) <= 64) or not item.replace("_", "").isalnum() or not item.islower():
                raise ValueError("refused_exercises holds exercise ids (lower_snake_case)")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> UserData:
        if self.pregnancy_weeks is not None and self.sex != Sex.FEMALE:
            raise ValueError("pregnancy_weeks is only for female profiles")
        if self.pregnancy_weeks is not None and self.postpartum_weeks is not None:
            raise ValueError("pregnancy_weeks and postpartum_weeks exclude each other")
        return self

    @property
    def injury_sites(self) -> frozenset[Injury]:
        """Known sites of injuries that restrict training (current or recovering)."""
        return frozenset(s for r in self.injuries if r.restricts and (s := r.known_site) is not None)

    @property
    def unknown_injury_sites(self) -> tuple[str, ...]:
        return tuple(sorted({r.site for r in self.injuries if r.restricts and r.known_site is None}))

    @property
    def pregnant(self) -> bool:
        return self.pregnancy_weeks is not None
