"""Typed rows and job states: what crosses the persistence boundary.

Rows are snake_case, as the columns are; the API maps them to its own bodies (`tpg.api.models`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict


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
