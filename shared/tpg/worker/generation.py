"""The generate function's work: claim, run the pipeline, store the program or the error.

Safe to receive the same event many times, late, or concurrently: only the claim (one
conditional UPDATE) lets a worker in, and every later write is fenced by the claimed attempt.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from tpg.generation.offline import OfflineProvider
from tpg.generation.pipeline import PipelineResult, run_program_generation_pipeline, user_data_from_row
from tpg.generation.ports import (
    CachedProgram,
    GenerationError,
    GenerationRequest,
    ProgramProvider,
    ResultCache,
)
from tpg.platform.observability import Metric, count, describe_unexpected, logger, milliseconds
from tpg.platform.settings import get_settings
from tpg.store import repository
from tpg.store.rows import Stage
from tpg.worker.dispatch import GenerationEvent
from tpg.worker.events import publish_generation_finished


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    RELEASED = "released"  # back to pending, another attempt will follow
    NOT_CLAIMED = "not_claimed"  # duplicate, late or concurrent event: nothing done
    LEASE_LOST = "lease_lost"  # another worker took over; this one's result was discarded
    INVALID_EVENT = "invalid_event"


Providers = ProgramProvider | Sequence[ProgramProvider]


def default_provider() -> Providers:
    """The tiers of one job: Claude's (sharing one LLM budget), then the offline engine.

    Called once per job, after the claim: the LLM budget (requests, seconds) is per job.
    """
    settings = get_settings()
    offline = OfflineProvider(latency_seconds=settings.offline_latency_seconds)
    if settings.llm_provider != "anthropic":
        logger.info("using the offline provider (no ANTHROPIC_API_KEY)")
        return offline
    from tpg.generation.claude.client import claude_tiers  # the SDK loads only where Claude is used

    return [*claude_tiers(settings), OfflineProvider()]


@dataclass(frozen=True, slots=True)
class RepositoryResultCache:
    """The pipeline's result cache, on training_programs (request_fingerprint, completed_at)."""

    ttl_seconds: int
    exclude_id: UUID

    def lookup(self, fingerprint: str) -> CachedProgram | None:
        row = repository.find_cached_program(
            fingerprint, ttl_seconds=self.ttl_seconds, exclude_id=self.exclude_id
        )
        if row is None:
            return None
        return CachedProgram(
            program_id=row["id"],
            program=row["program"],
            model=row["model"],
            fallback_tier=row["fallback_tier"],
        )


def default_cache(program_id: UUID) -> ResultCache | None:
    """Only Claude's programs are worth caching: the offline engine is deterministic and instant."""
    settings = get_settings()
    if settings.llm_provider != "anthropic" or settings.result_cache_ttl_seconds <= 0:
        return None
    return RepositoryResultCache(ttl_seconds=settings.result_cache_ttl_seconds, exclude_id=program_id)


def _llm_record(result: PipelineResult) -> repository.LlmRecord:
    usage = result.usage
    return repository.LlmRecord(
        request_fingerprint=result.fingerprint,
        prompt_version=result.prompt_version,
        llm_requests=usage.get("requests"),
        input_tokens=usage.get("input_tokens"),
        output_tokens=usage.get("output_tokens"),
        cache_read_tokens=usage.get("cache_read_input_tokens"),
        cache_write_tokens=usage.get("cache_creation_input_tokens"),
        llm_latency_ms=usage.get("latency_ms"),
    )


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
    event: dict[str, Any],
    *,
    provider: Providers | None = None,
    request_id: str | None = None,
    cache: ResultCache | None = None,
) -> Outcome:
    """Handle one generate event; `request_id` is the invocation's, recorded with the claim.

    `provider` (one provider or the tiers in order) and `cache` default to what the settings say.
    """
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
            cache=cache or default_cache(program_id),
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

    with _storing():
        stored = repository.complete_generation(
            program_id,
            attempt,
            program=result.program.model_dump(mode="json", by_alias=True),
            provider=result.provider,
            model=result.model,
            fallback_tier=result.fallback_tier,
            validation_report=result.report.model_dump(mode="json"),
            usage=result.usage,
            llm=_llm_record(result),
        )
    if not stored:
        logger.warning("lease lost before saving; the result was discarded")
        return Outcome.LEASE_LOST
    count(Metric.GENERATIONS_COMPLETED)
    publish_generation_finished(program_id, "completed")
    milliseconds(Metric.GENERATION_DURATION, result.duration_ms)
    created_at: datetime = row["created_at"]
    milliseconds(Metric.REQUEST_TO_DELIVERY, (datetime.now(UTC) - created_at).total_seconds() * 1000)
    logger.info(
        "completed",
        extra={
            "provider": result.provider,
            "fallback_tier": result.fallback_tier,
            "cache_hit": result.cache_hit,
            "duration_ms": round(result.duration_ms),
        },
    )
    return Outcome.COMPLETED


class ResultNotStored(Exception):  # noqa: N818 - reads as what happened
    """The attempt's final write failed. Raised out of the handler so Lambda records a failed
    invocation (on-failure destination -> the lease ends -> reclaimed, attempt counted: I4)."""


@contextmanager
def _storing() -> Iterator[None]:
    # A driver error can quote the row's data (user text, the program) in its message: log the
    # type and place only, and raise without the original as context.
    try:
        yield
    except Exception as exc:
        logger.error("could not store the attempt's outcome", extra=describe_unexpected(exc))
        raise ResultNotStored() from None


def _record_failure(program_id: UUID, attempt: int, error: GenerationError) -> Outcome:
    with _storing():
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
    publish_generation_finished(program_id, "failed", error_code=error.code)
    return Outcome.FAILED
