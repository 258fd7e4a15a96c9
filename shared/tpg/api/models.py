"""The HTTP API's request and response bodies (camelCase on the wire).

Rows (`tpg.store.rows`) never leave the service as they are: `tpg.api.service` maps them to these
bodies explicitly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from tpg.platform.text import PlainText
from tpg.store.rows import GenerationStatus, Stage


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


# --- HTTP requests ---------------------------------------------------------------------------


class RequestModel(ApiModel):
    """A request body: strict types (`weeks` is a JSON integer, not "4", true or 4.0), no unknown keys."""

    model_config = ConfigDict(strict=True)


class CreateProgramRequest(RequestModel):
    name: PlainText | None = Field(default=None, min_length=1, max_length=100)
    weeks: int = Field(default=4, ge=1, le=12)
    # Free text: capped, and only ever placed in the user part of a prompt.
    notes: PlainText | None = Field(default=None, max_length=500)


# --- HTTP responses --------------------------------------------------------------------------


# The codes a failed generation can carry. Open-ended on the wire (a new failure mode gets a new
# code), so `code` stays a string and these are its documented examples.
GENERATION_ERROR_CODES = (
    "INVALID_USER_DATA",
    "INVALID_PROGRAM",
    "MEDICAL_CLEARANCE_REQUIRED",
    "ATTEMPTS_EXHAUSTED",
    "WORKER_LOST",
    "NEVER_CLAIMED",
    "QUEUE_TIMEOUT",
    "CANCELLED",
    "BATCH_CANCELLED",
    "INTERNAL_ERROR",
)


class ProgramError(ApiModel):
    """Why a generation failed: a stable code and a message safe to show the user."""

    code: str = Field(
        description="Choose what to show by it; open-ended: treat an unknown code like INTERNAL_ERROR",
        examples=list(GENERATION_ERROR_CODES),
    )
    message: str = Field(description="Safe to show the user as it is")


class ErrorDetail(ProgramError):
    # Set on 409 GENERATION_IN_FLIGHT: the program the client can resume polling.
    program_id: UUID | None = None


class ErrorResponse(ApiModel):
    error: ErrorDetail


class AcceptedResponse(ApiModel):
    program_id: UUID
    status: GenerationStatus
    status_url: str


class CancelResponse(ApiModel):
    """`POST /programs/{id}/cancel`: cancelled at once (it was pending), or still processing until
    its worker stops at its next checkpoint (then `cancelled`)."""

    program_id: UUID
    status: Literal[GenerationStatus.CANCELLED, GenerationStatus.PROCESSING] = Field(
        description="cancelled: done (it had not started); processing: its worker stops at a checkpoint soon"
    )
    cancel_requested: Literal[True]


# --- The program (the `program` of a completed status) ---------------------------------------
# The API's view of `tpg.training.program.TrainingProgram`, field for field (a unit test keeps them
# in step): the stored JSON is read into these, so the OpenAPI document describes every field a
# frontend renders. Ranges are documented, not enforced: a completed program passed validation
# when it was stored.


class ProgramModel(ApiModel):
    # Every field is in every answer (defaults included): required in the document.
    model_config = ConfigDict(extra="ignore", json_schema_serialization_defaults_required=True)


class ExercisePrescription(ProgramModel):
    exercise_id: str = Field(description="The exercise's id in the catalog (stable, snake_case)")
    name: str = Field(description="The exercise's name, to show")
    sets: int = Field(description="Working sets", json_schema_extra={"minimum": 1, "maximum": 10})
    reps_min: int = Field(
        description="Repetitions per set, low end", json_schema_extra={"minimum": 1, "maximum": 30}
    )
    reps_max: int = Field(
        description="Repetitions per set, high end (equal to repsMin: show one number)",
        json_schema_extra={"minimum": 1, "maximum": 30},
    )
    rir: int = Field(
        description="Repetitions in reserve: good reps left at the end of each set",
        json_schema_extra={"minimum": 0, "maximum": 5},
    )
    rest_seconds: int = Field(
        description="Rest between sets, in seconds", json_schema_extra={"minimum": 15, "maximum": 600}
    )
    notes: str | None = Field(default=None, description="A coaching cue or a safety note")


class TrainingDay(ProgramModel):
    day: int = Field(
        description="1-based index of the session within the week", json_schema_extra={"minimum": 1}
    )
    name: str
    focus: str = Field(description="What the session trains, to show under its name")
    estimated_minutes: int = Field(description="Expected session length in minutes")
    exercises: list[ExercisePrescription]


class TrainingWeek(ProgramModel):
    week: int = Field(description="1-based week number", json_schema_extra={"minimum": 1})
    is_deload: bool = Field(default=False, description="A lighter recovery week")
    days: list[TrainingDay]


class Progression(ProgramModel):
    model: str = Field(description="How load progresses: linear, double or rpe", examples=["double"])
    description: str = Field(description="The progression rule, in words, to show")


class TrainingProgram(ProgramModel):
    name: str
    goal: Literal["strength", "hypertrophy", "fat_loss", "general_fitness"]
    level: Literal["novice", "intermediate", "advanced"]
    weeks: int = Field(description="Number of weeks; `schedule` lists each", json_schema_extra={"minimum": 1})
    days_per_week: int = Field(description="Sessions per week; every week lists this many days")
    session_minutes: int = Field(description="Target session length in minutes")
    split: str = Field(
        description="How the week is organised, e.g. Upper / lower", examples=["Upper / lower"]
    )
    progression: Progression
    schedule: list[TrainingWeek] = Field(description="Week 1 to `weeks`, in order")
    notes: list[str] = Field(default_factory=list, description="General notes for the whole program")


# --- Program status ----------------------------------------------------------------------------


class ProgramSummary(ApiModel):
    program_id: UUID
    name: str = Field(description="The name given in the request, or one made from the goal")
    status: GenerationStatus = Field(description="pending and processing are in flight; the others are final")
    stage: Stage | None = Field(
        description="What the worker is doing (queued while pending); null when final"
    )
    progress: int = Field(
        description="0-100; only goes up within an attempt", json_schema_extra={"minimum": 0, "maximum": 100}
    )
    error: ProgramError | None = Field(description="Set when status is failed or cancelled (code CANCELLED)")
    cancel_requested: bool = Field(
        description="A cancel was asked: while status is still processing, the worker is stopping"
    )
    created_at: datetime
    updated_at: datetime = Field(description="Changes with every status, stage or progress change")
    completed_at: datetime | None = Field(description="Set when status is completed")
    batch_id: UUID | None = Field(
        default=None,
        description="Set when a batch asked for this program (POST /batches): it may stay pending up "
        "to 24 h, generated at the lowest priority; null for the user's own requests",
    )


class ProgramResponse(ProgramSummary):
    program: TrainingProgram | None = Field(description="The program, when status is completed")


class ProgramList(ApiModel):
    items: list[ProgramSummary]
    next_cursor: str | None


CheckResult = Literal["ok", "failed"]


class ReadinessChecks(ApiModel):
    """`GET /health?deep=true`: each check's result, never why it failed (that is in the logs)."""

    database: CheckResult
    auth: CheckResult


class HealthResponse(ApiModel):
    status: str
    # Only with deep=true (every check passed); `GET /health` alone checks nothing.
    checks: ReadinessChecks | None = None


class NotReadyResponse(ErrorResponse):
    """503 of `GET /health?deep=true`: the error envelope and which checks failed."""

    checks: ReadinessChecks


class RealtimeTicketResponse(ApiModel):
    """`POST /realtime/tickets`: open `url` as it is (the ticket is in it), once, within `expiresIn`."""

    ticket: str = Field(description="Single use, bound to the caller; already part of `url`")
    url: str = Field(description="The WebSocket URL to open as it is (wss://, ws:// locally)")
    expires_in: int = Field(description="Seconds the ticket may still be used to connect")


# --- Batches (service callers) ---------------------------------------------------------------------

# The most user ids one batch may name (a larger roster is several batches).
MAX_BATCH_MEMBERS = 1000
# What each member's status can be: its program's, or `rejected` (no program: `error` says why).
BatchMemberStatus = Literal["pending", "processing", "completed", "failed", "cancelled", "rejected"]


class CreateBatchRequest(RequestModel):
    # UUIDs arrive as JSON strings: this field alone is not strict about the type it is parsed from.
    user_ids: list[Annotated[UUID, Field(strict=False)]] = Field(
        min_length=1,
        max_length=MAX_BATCH_MEMBERS,
        description=f"The users to generate a program for, each once (1-{MAX_BATCH_MEMBERS})",
    )
    weeks: int = Field(default=4, ge=1, le=12)
    name: PlainText | None = Field(
        default=None, min_length=1, max_length=100, description="The batch's name, and each program's"
    )

    @field_validator("user_ids")
    @classmethod
    def _each_once(cls, user_ids: list[UUID]) -> list[UUID]:
        if len(set(user_ids)) != len(user_ids):
            raise ValueError("each user id may appear once")
        return user_ids


class BatchAcceptedResponse(ApiModel):
    batch_id: UUID
    status_url: str = Field(description="GET it to follow the batch (also in `Location`)")
    accepted: int = Field(description="Users who got a program (pending until it is generated)")
    rejected: int = Field(description="Users who got none: the batch's `members` say why, each")


class BatchMemberError(ProgramError):
    program_id: UUID | None = Field(
        default=None, description="GENERATION_IN_FLIGHT: the user's program that was in flight"
    )
    batch_id: UUID | None = Field(
        default=None, description="GENERATION_IN_FLIGHT: that program's batch, when it is a batch member"
    )


class BatchMember(ApiModel):
    user_id: UUID
    program_id: UUID | None = Field(
        description="The user's program (their token shows it at GET /programs/{id}); null when rejected"
    )
    status: BatchMemberStatus
    error: BatchMemberError | None = Field(
        description="Why the program failed, was cancelled, or (rejected) why there is none: "
        "USER_NOT_FOUND, SUBSCRIPTION_REQUIRED, ONBOARDING_INCOMPLETE, GENERATION_IN_FLIGHT; "
        "cancelled with PROGRAM_DELETED (programId null) when the program was deleted since"
    )
    input_tokens: int | None = Field(description="LLM input tokens this program took (null: none yet)")
    output_tokens: int | None = Field(description="LLM output tokens, thinking included")
    cost_usd: float | None = Field(
        description="Estimated LLM cost at list prices, batch answers at the batch price (half)"
    )


class BatchCounts(ApiModel):
    """Members by status (every status present, 0 included)."""

    pending: int
    processing: int
    completed: int
    failed: int
    cancelled: int
    rejected: int


class BatchUsage(ApiModel):
    input_tokens: int
    output_tokens: int
    cost_usd: float = Field(
        description="Estimated LLM cost so far (the batch price where it applies), answers billed "
        "for members cancelled meanwhile included"
    )
    cost_per_completed_usd: float | None = Field(description="costUsd / completed programs (null before one)")


class BatchResponse(ApiModel):
    batch_id: UUID
    name: str
    weeks: int
    status: Literal["processing", "ended"] = Field(
        description="ended: every member is completed, failed, cancelled or rejected"
    )
    cancel_requested: bool
    created_at: datetime
    counts: BatchCounts
    usage: BatchUsage
    members: list[BatchMember] = Field(description="One per requested user id, in the request's order")


class BatchSummary(ApiModel):
    batch_id: UUID
    name: str
    weeks: int
    status: Literal["processing", "ended"] = Field(
        description="ended: every member is completed, failed, cancelled or rejected"
    )
    cancel_requested: bool
    created_at: datetime
    members: int = Field(description="User ids it was asked for")
    status_url: str


class BatchList(ApiModel):
    items: list[BatchSummary] = Field(description="The caller's batches, newest first")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


class BatchCancelResponse(ApiModel):
    batch_id: UUID
    status: Literal["processing", "ended"] = Field(
        description="ended: nothing of it runs any more; processing: workers stop at their next checkpoint"
    )
    cancel_requested: Literal[True] = True
    cancelled: int = Field(description="Members cancelled by this request (they had not started)")
    stopping: int = Field(description="Members whose worker was asked to stop (cancelled within seconds)")
