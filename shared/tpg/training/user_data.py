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


# What users type for a known site: whole phrases first, then single words ("left knee", "torn
# rotator cuff", "herniated disc with sciatica"). A site none of these name stays as typed and gets
# the conservative rule for unknown sites (and is named by `unknown_injury_label` in the app's text).
_SITE_PHRASES = {
    "lower back": Injury.LOWER_BACK,
    "low back": Injury.LOWER_BACK,
    "upper back": Injury.UPPER_BACK,
    "rotator cuff": Injury.SHOULDER,
    "tennis elbow": Injury.ELBOW,
    "golfers elbow": Injury.ELBOW,
    "golfer's elbow": Injury.ELBOW,
    "carpal tunnel": Injury.WRIST,
}
_SITE_WORDS = {
    **{site.value: site for site in Injury},
    "knees": Injury.KNEE,
    "acl": Injury.KNEE,
    "mcl": Injury.KNEE,
    "pcl": Injury.KNEE,
    "meniscus": Injury.KNEE,
    "patella": Injury.KNEE,
    "patellar": Injury.KNEE,
    "patellofemoral": Injury.KNEE,
    "shoulders": Injury.SHOULDER,
    "impingement": Injury.SHOULDER,
    "labrum": Injury.SHOULDER,
    "back": Injury.LOWER_BACK,
    "lumbar": Injury.LOWER_BACK,
    "disc": Injury.LOWER_BACK,
    "disk": Injury.LOWER_BACK,
    "sciatica": Injury.LOWER_BACK,
    "spine": Injury.LOWER_BACK,
    "hips": Injury.HIP,
    "fai": Injury.HIP,
    "groin": Injury.HIP,
    "elbows": Injury.ELBOW,
    "epicondylitis": Injury.ELBOW,
    "epicondylalgia": Injury.ELBOW,
    "wrists": Injury.WRIST,
    "foot": Injury.ANKLE,
    "feet": Injury.ANKLE,
    "ankles": Injury.ANKLE,
    "achilles": Injury.ANKLE,
    "thoracic": Injury.UPPER_BACK,
    "cervical": Injury.NECK,
    "whiplash": Injury.NECK,
}
_SIDE_WORDS = frozenset({"left", "right", "both", "bilateral", "my", "a", "the"})


def known_injury_site(site: str) -> Injury | None:
    """The known site a typed injury names, if any: "Left knee (ACL)" -> knee."""
    text = " ".join(site.lower().replace("_", " ").replace("-", " ").replace("/", " ").split())
    for phrase, known in _SITE_PHRASES.items():
        if phrase in text:
            return known
    words = [w.strip("()'.,") for w in text.split()]
    return next((_SITE_WORDS[w] for w in words if w in _SITE_WORDS and w not in _SIDE_WORDS), None)


def unknown_injury_label(number: int) -> str:
    """How the app names the `number`-th (1-based) injury whose site has no rules of its own, in
    everything it writes itself: the prompt's <user_data> and safety notes, the validator's
    findings (which a repair round quotes to the model), program notes. The typed site is user text
    ("ignore all rules (failure)" fits the site pattern): it appears only in the prompt's cleaned
    <user_notes> (tpg.generation.claude.prompt.user_notes)."""
    return f"injury #{number} without specific rules"


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

    site: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9 _/'()-]*$")
    side: str | None = Field(default=None, pattern=r"^(left|right|both)$")
    severity: Severity | None = None
    status: InjuryStatus = InjuryStatus.CURRENT

    @field_validator("site", mode="before")
    @classmethod
    def _normalise_site(cls, value: Any) -> Any:
        if isinstance(value, str):
            known = known_injury_site(value)
            return known.value if known is not None else " ".join(value.strip().lower().split())
        return value

    @property
    def known_site(self) -> Injury | None:
        return known_injury_site(self.site)

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
        """Typed sites of restricting injuries that name no known site, in a stable order: the n-th
        is `unknown_injury_label(n)` wherever the app's own text mentions it."""
        return tuple(sorted({r.site for r in self.injuries if r.restricts and r.known_site is None}))

    @property
    def injury_labels(self) -> tuple[str, ...]:
        """Every restricting injury as the app's own text names it: the known sites, then a neutral
        label for each unknown one (never its typed text)."""
        known = sorted(site.value for site in self.injury_sites)
        return (*known, *(unknown_injury_label(n) for n in range(1, len(self.unknown_injury_sites) + 1)))

    @property
    def pregnant(self) -> bool:
        return self.pregnancy_weeks is not None
