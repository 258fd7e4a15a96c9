"""The generate function's work: claim, run the pipeline, store the program or the error.

Safe to receive the same event many times, late, or concurrently: only the claim (one
conditional UPDATE) lets a worker in, and every later write is fenced by the claimed attempt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from tpg import repository
from tpg.http import describe_unexpected
from tpg.models import GenerationEvent, Stage
from tpg.observability import Metric, count, logger, milliseconds
from tpg.pipeline import (
    GenerationError,
    GenerationRequest,
    OfflineProvider,
    ProgramProvider,
    run_program_generation_pipeline,
    user_data_from_row,
)
from tpg.settings import get_settings


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    RELEASED = "released"  # back to pending, another attempt will follow
    NOT_CLAIMED = "not_claimed"  # duplicate, late or concurrent event: nothing done
    LEASE_LOST = "lease_lost"  # another worker took over; this one's result was discarded
    INVALID_EVENT = "invalid_event"


def default_provider() -> ProgramProvider:
    settings = get_settings()
    if settings.llm_provider == "anthropic":
        # The Claude client arrives with the pipeline work (docs/decisions.md); until then the
        # rules engine, which is also the pipeline's last fallback tier, answers.
        logger.warning("LLM_PROVIDER=anthropic is not available yet; using the offline engine")
    else:
        logger.info("using the offline provider (no ANTHROPIC_API_KEY)")
    return OfflineProvider(latency_seconds=settings.offline_latency_seconds)


@dataclass(slots=True)
class ProgressWriter:
    """Writes stage changes at once and percentage-only changes at most every `min_interval` s."""

    program_id: UUID
    attempt: int
    min_interval: float = 2.0
    _stage: Stage | None = Stage.ANALYZING  # the claim already wrote this one
    _last_write: float = 0.0
    writes: int = 0

    def __call__(self, stage: Stage, progress: int) -> None:
        now = time.monotonic()
        if stage == self._stage and now - self._last_write < self.min_interval:
            return
        repository.record_progress(self.program_id, self.attempt, stage=stage.value, progress=progress)
        self._stage, self._last_write = stage, now
        self.writes += 1


def process_generation_event(
    event: dict[str, Any], *, provider: ProgramProvider | None = None, request_id: str | None = None
) -> Outcome:
    """Handle one generate event; `request_id` is the invocation's, recorded with the claim."""
    try:
        program_id = GenerationEvent.model_validate(event).program_id
    except ValidationError:
        logger.error("ignoring an event without a valid programId")
        return Outcome.INVALID_EVENT
    logger.set_correlation_id(str(program_id))

    settings = get_settings()
    row = repository.claim_generation(program_id, lease_seconds=settings.lease_seconds, worker=request_id)
    if row is None:
        count(Metric.DUPLICATE_EVENTS)
        logger.info("nothing to claim: already taken, finished or out of attempts")
        return Outcome.NOT_CLAIMED
    attempt: int = row["attempts"]
    count(Metric.GENERATIONS_STARTED)
    logger.info("claimed", extra={"attempt": attempt, "max_attempts": row["max_attempts"]})

    try:
        user = user_data_from_row(row)
        request = GenerationRequest(
            weeks=row["request"].get("weeks", 4),
            name=row["request"].get("name"),  # None: the provider names the program
            notes=row["request"].get("notes"),
        )
        result = run_program_generation_pipeline(
            user,
            request,
            provider=provider or default_provider(),
            progress=ProgressWriter(program_id, attempt),
        )
    except GenerationError as exc:
        return _record_failure(program_id, attempt, exc)
    except Exception as exc:  # a bug or an infrastructure fault: log its type and place, retry
        logger.error("generation attempt crashed", extra=describe_unexpected(exc))
        return _record_failure(
            program_id,
            attempt,
            GenerationError("INTERNAL_ERROR", "Something went wrong on our side.", retryable=True),
        )

    stored = repository.complete_generation(
        program_id,
        attempt,
        program=result.program.model_dump(mode="json", by_alias=True),
        provider=result.provider,
        model=result.model,
        fallback_tier=result.fallback_tier,
        validation_report=result.report.model_dump(mode="json"),
        usage=result.usage,
    )
    if not stored:
        logger.warning("lease lost before saving; the result was discarded")
        return Outcome.LEASE_LOST
    count(Metric.GENERATIONS_COMPLETED)
    milliseconds(Metric.GENERATION_DURATION, result.duration_ms)
    created_at: datetime = row["created_at"]
    milliseconds(Metric.REQUEST_TO_DELIVERY, (datetime.now(UTC) - created_at).total_seconds() * 1000)
    logger.info("completed", extra={"provider": result.provider, "duration_ms": round(result.duration_ms)})
    return Outcome.COMPLETED


def _record_failure(program_id: UUID, attempt: int, error: GenerationError) -> Outcome:
    status = repository.finish_with_error(
        program_id, attempt, error_code=error.code, message=error.message, retry=error.retryable
    )
    logger.warning("attempt failed", extra={"error_code": error.code, "new_status": status})
    if status is None:
        return Outcome.LEASE_LOST
    if status == "pending":
        count(Metric.GENERATION_RETRIED)
        return Outcome.RELEASED
    count(Metric.GENERATIONS_FAILED, dimensions={"ErrorCode": error.code})
    return Outcome.FAILED
