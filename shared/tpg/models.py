"""Models at the boundaries: HTTP request/response bodies, the async event, database rows.

HTTP bodies are camelCase; rows are snake_case and never leave the service as they are:
`tpg.service` maps rows to responses explicitly.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from tpg.text import PlainText


class GenerationStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class Stage(StrEnum):
    QUEUED = "queued"
    ANALYZING = "analyzing"
    GENERATING = "generating"
    VALIDATING = "validating"
    SAVING = "saving"


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


# --- HTTP requests ---------------------------------------------------------------------------


class CreateProgramRequest(ApiModel):
    name: PlainText | None = Field(default=None, min_length=1, max_length=100)
    weeks: int = Field(default=4, ge=1, le=12)
    # Free text: capped, and only ever placed in the user part of a prompt.
    notes: PlainText | None = Field(default=None, max_length=500)


# --- HTTP responses --------------------------------------------------------------------------


class ProgramError(ApiModel):
    """Why a generation failed: a stable code and a message safe to show the user."""

    code: str
    message: str


class ErrorDetail(ProgramError):
    # Set on 409 GENERATION_IN_FLIGHT: the program the client can resume polling.
    program_id: UUID | None = None


class ErrorResponse(ApiModel):
    error: ErrorDetail


class AcceptedResponse(ApiModel):
    program_id: UUID
    status: GenerationStatus
    status_url: str


class ProgramSummary(ApiModel):
    program_id: UUID
    name: str
    status: GenerationStatus
    stage: Stage | None
    progress: int
    error: ProgramError | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


class ProgramResponse(ProgramSummary):
    program: dict[str, Any] | None


class ProgramList(ApiModel):
    items: list[ProgramSummary]
    next_cursor: str | None


class HealthResponse(ApiModel):
    status: str


# --- Async event (trigger -> generate) ---------------------------------------------------------


class GenerationEvent(ApiModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    program_id: UUID


# --- Database rows -----------------------------------------------------------------------------


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
