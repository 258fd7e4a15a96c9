"""The HTTP API's request and response bodies (camelCase on the wire).

Rows (`tpg.store.rows`) never leave the service as they are: `tpg.api.service` maps them to these
bodies explicitly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
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
