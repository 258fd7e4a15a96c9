"""Typed rows and job states: what crosses the persistence boundary.

Rows are snake_case, as the columns are; the API maps them to its own bodies (`tpg.api.models`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, model_validator

if TYPE_CHECKING:  # imported where it is used: the trigger's cold start never needs it
    from tpg.training.user_data import UserData


class GenerationStatus(StrEnum):
    """The statuses a program shows (API, events); `completed`, `failed` and `cancelled` are final."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


# The stored status of a processing row whose owner asked to cancel it: its worker still holds the
# lease and the attempt, and records `cancelled` at its next checkpoint. It is not in flight for
# the one-in-flight index (a new request is accepted at once); it shows as `processing` with
# cancelRequested (`ProgramRow`, `JobState`). Only `tpg.store` spells it.
CANCELLING = "cancelling"

CANCELLED_MESSAGE = "Cancelled at your request."

# The stored status of a batch member waiting on its Message Batch (tpg.store.batches): in flight
# for the one-in-flight index, never claimed by generate nor failed by the sweeper for waiting; it
# shows as `pending` (stage queued).
BATCHED = "batched"


def shown_status(stored: str) -> GenerationStatus:
    """A stored status as it is shown: `cancelling` -> processing, `batched` -> pending."""
    if stored == CANCELLING:
        return GenerationStatus.PROCESSING
    if stored == BATCHED:
        return GenerationStatus.PENDING
    return GenerationStatus(stored)


def _shown_status(row: Any) -> Any:
    """A row mapping with its stored status as it is shown (`shown_status`), plus cancel_requested
    (a cancelled row was asked to be cancelled too)."""
    if not isinstance(row, Mapping):
        return row
    stored = row.get("generation_status")
    return {
        **row,
        "generation_status": shown_status(stored) if stored in (CANCELLING, BATCHED) else stored,
        "cancel_requested": stored in (CANCELLING, GenerationStatus.CANCELLED),
    }


class Stage(StrEnum):
    QUEUED = "queued"
    ANALYZING = "analyzing"
    GENERATING = "generating"
    VALIDATING = "validating"
    SAVING = "saving"


class ProgramRow(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: UUID
    user_id: UUID
    name: str
    generation_status: GenerationStatus
    stage: Stage | None
    progress: int
    error_code: str | None
    generation_error: str | None
    program: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    cancel_requested: bool = False
    batch_id: UUID | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_stored_status(cls, row: Any) -> Any:
        return _shown_status(row)


@dataclass(frozen=True, slots=True)
class JobState:
    """A program's state as a committed transition left it (the statement's RETURNING): what a
    status update needs, never the program itself."""

    program_id: UUID
    user_id: UUID
    status: GenerationStatus
    cancel_requested: bool
    stage: Stage | None
    progress: int
    error_code: str | None
    error_message: str | None
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> JobState:
        """From the columns `tpg.store.repository` returns for a state (`_STATE_COLUMNS`)."""
        shown = _shown_status(row)
        return cls(
            program_id=row["id"],
            user_id=row["user_id"],
            status=GenerationStatus(shown["generation_status"]),
            cancel_requested=shown["cancel_requested"],
            stage=Stage(row["stage"]) if row["stage"] else None,
            progress=row["progress"],
            error_code=row["error_code"],
            error_message=row["generation_error"],
            updated_at=row["updated_at"],
        )


# --- What the worker's statements return ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobRequest:
    """The request stored with the program (`training_programs.request`, as the API accepted it)."""

    weeks: int = 4
    name: str | None = None  # None: the provider names the program
    notes: str | None = None

    @classmethod
    def from_json(cls, request: Mapping[str, Any]) -> JobRequest:
        return cls(weeks=request.get("weeks", 4), name=request.get("name"), notes=request.get("notes"))


@dataclass(frozen=True, slots=True)
class ProfileRow:
    """The user's profile and onboarding columns as the claim reads them, unvalidated: onboarding
    is a LEFT JOIN, so any of these may be None. `user_data_from_row` validates them.

    To read one more column: select it in the claim (`tpg.store.repository`), add it here with a
    None default, and map it in `user_data_from_row`.
    """

    user_id: UUID
    # profiles
    birth_year: int | None = None
    sex: str | None = None
    height_cm: Decimal | None = None
    weight_kg: Decimal | None = None
    # onboarding_responses
    goal: str | None = None
    experience: str | None = None
    training_months: int | None = None
    days_per_week: int | None = None
    session_minutes: int | None = None
    equipment: list[str] | None = None
    injuries: list[Any] | None = None
    lifts: list[Any] | None = None  # jsonb
    notes: str | None = None
    injury_details: list[Any] | None = None  # jsonb: {"site", "side", "severity", "status"}
    conditions: list[str] | None = None
    medical_clearance: bool | None = None
    pregnancy_weeks: int | None = None
    postpartum_weeks: int | None = None
    refused_exercises: list[str] | None = None
    max_dumbbell_kg: Decimal | None = None
    event_date: date | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ProfileRow:
        """The fields of this class taken from `row` by column name (a missing column is None)."""
        values: dict[str, Any] = {f.name: row.get(f.name) for f in fields(cls)}
        return cls(**values)


def user_data_from_row(row: ProfileRow, *, today: date | None = None) -> UserData:
    """Profile + onboarding columns -> the validated pipeline input (pydantic.ValidationError if
    they do not make a usable profile: the worker fails the job with INVALID_USER_DATA)."""
    from tpg.training.user_data import UserData

    today = today or date.today()
    return UserData.model_validate(
        {
            "user_id": row.user_id,
            "age": today.year - row.birth_year if row.birth_year else None,
            "sex": row.sex,
            "height_cm": row.height_cm,
            "weight_kg": row.weight_kg,
            "goal": row.goal,
            "experience": row.experience,
            "training_months": row.training_months or 0,
            "days_per_week": row.days_per_week,
            "session_minutes": row.session_minutes,
            "equipment": row.equipment or [],
            "injuries": [*(row.injuries or []), *(row.injury_details or [])],
            "lifts": row.lifts or [],
            "notes": row.notes or None,
            "conditions": row.conditions or [],
            "medical_clearance": bool(row.medical_clearance),
            "pregnancy_weeks": row.pregnancy_weeks,
            "postpartum_weeks": row.postpartum_weeks,
            "refused_exercises": row.refused_exercises or [],
            "max_dumbbell_kg": row.max_dumbbell_kg,
            "event_date": row.event_date,
        }
    )


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A claimed generation: what the claim statement returns (claim + read in one round trip)."""

    program_id: UUID
    attempt: int  # the attempt this claim counted; every later write is fenced by it
    max_attempts: int
    name: str
    created_at: datetime
    request: JobRequest
    profile: ProfileRow
    priority: int = 0
    waited_seconds: float = 0.0  # since it was last queued (accept, retry, release, reclaim)
    state: JobState | None = None  # the claimed row's state (processing, analyzing)
    batch_id: UUID | None = None  # a batch member's batch (tpg.worker.batches gives its tiers)


@dataclass(frozen=True, slots=True)
class CachedProgramRow:
    """A completed program the result cache may reuse."""

    program_id: UUID
    program: dict[str, Any]
    model: str | None
    fallback_tier: str | None
