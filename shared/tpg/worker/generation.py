"""The generate function's work: claim, run the pipeline, store the program or the error.

Safe to receive the same event many times, late, or concurrently: only the claim (one
conditional UPDATE) lets a worker in, and every later write is fenced by the claimed attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from tpg.generation.offline import OfflineProvider
from tpg.generation.pipeline import PipelineResult, run_program_generation_pipeline
from tpg.generation.ports import (
    CachedProgram,
    GenerationError,
    GenerationRequest,
    ProgramProvider,
    ResultCache,
)
from tpg.platform.clock import Clock, SystemClock
from tpg.platform.observability import Metric, count, describe_unexpected, logger, milliseconds
from tpg.platform.settings import Settings
from tpg.store import repository
from tpg.store.db import Database
from tpg.store.rows import ClaimedJob, GenerationStatus, Stage, user_data_from_row
from tpg.training.user_data import UserData
from tpg.worker.dispatch import GenerationEvent
from tpg.worker.events import EventPublisher


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    RELEASED = "released"  # back to pending, another attempt will follow
    NOT_CLAIMED = "not_claimed"  # duplicate, late or concurrent event: nothing done
    LEASE_LOST = "lease_lost"  # another worker took over; this one's result was discarded
    INVALID_EVENT = "invalid_event"


Providers = ProgramProvider | Sequence[ProgramProvider]


def default_provider(settings: Settings) -> Providers:
    """The tiers of one job: Claude's (sharing one LLM budget), then the offline engine.

    Called once per job, after the claim: the LLM budget (requests, seconds) is per job.
    """
    offline = OfflineProvider(latency_seconds=settings.offline_latency_seconds)
    if settings.llm_provider != "anthropic":
        logger.info("using the offline provider (no ANTHROPIC_API_KEY)")
        return offline
    from tpg.generation.claude.client import claude_tiers  # the SDK loads only where Claude is used

    return [*claude_tiers(settings), OfflineProvider()]


@dataclass(frozen=True, slots=True)
class RepositoryResultCache:
    """The pipeline's result cache, on training_programs (request_fingerprint, completed_at)."""

    db: Database
    ttl_seconds: int
    exclude_id: UUID

    def lookup(self, fingerprint: str) -> CachedProgram | None:
        row = repository.find_cached_program(
            self.db, fingerprint, ttl_seconds=self.ttl_seconds, exclude_id=self.exclude_id
        )
        if row is None:
            return None
        return CachedProgram(
            program_id=row.program_id, program=row.program, model=row.model, fallback_tier=row.fallback_tier
        )


def default_cache(settings: Settings, db: Database, program_id: UUID) -> ResultCache | None:
    """Only Claude's programs are worth caching: the offline engine is deterministic and instant."""
    if settings.llm_provider != "anthropic" or settings.result_cache_ttl_seconds <= 0:
        return None
    return RepositoryResultCache(db, ttl_seconds=settings.result_cache_ttl_seconds, exclude_id=program_id)


@dataclass(frozen=True, slots=True)
class GenerateDependencies:
    """What the generate function works with, built once per execution environment by its handler
    (`functions/generate/app.py`)."""

    settings: Settings
    db: Database
    events: EventPublisher
    clock: Clock = field(default_factory=SystemClock)
    # The tiers of one job (called once per job: the LLM budget is per job) and the result cache for
    # a program; None: what the settings say (`default_provider`, `default_cache`).
    providers: Callable[[], Providers] | None = None
    cache: Callable[[UUID], ResultCache | None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> GenerateDependencies:
        return cls(settings=settings, db=Database(settings), events=EventPublisher.from_settings(settings))

    def job_providers(self) -> Providers:
        return self.providers() if self.providers is not None else default_provider(self.settings)

    def job_cache(self, program_id: UUID) -> ResultCache | None:
        if self.cache is not None:
            return self.cache(program_id)
        return default_cache(self.settings, self.db, program_id)


def _llm_record(result: PipelineResult) -> repository.LlmRecord:
    usage = result.usage
    return repository.LlmRecord(
        request_fingerprint=result.fingerprint,
        prompt_version=result.prompt_version,
        llm_requests=usage.requests,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_input_tokens,
        cache_write_tokens=usage.cache_creation_input_tokens,
        llm_latency_ms=usage.latency_ms,
    )


def _user_data(job: ClaimedJob) -> UserData:
    try:
        return user_data_from_row(job.profile)
    except ValidationError as exc:
        raise GenerationError(
            "INVALID_USER_DATA",
            "Your profile or onboarding answers are incomplete. Please review them and try again.",
            retryable=False,
        ) from exc


@dataclass(slots=True)
class ProgressWriter:
    """Writes stage changes at once and percentage-only changes at most every `min_interval` s."""

    db: Database
    program_id: UUID
    attempt: int
    clock: Clock = field(default_factory=SystemClock)
    min_interval: float = 2.0
    _stage: Stage | None = Stage.ANALYZING  # the claim already wrote this one
    _last_write: float = 0.0
    writes: int = 0

    def __call__(self, stage: Stage, progress: int) -> None:
        now = self.clock.monotonic()
        if stage == self._stage and now - self._last_write < self.min_interval:
            return
        repository.record_progress(
            self.db, self.program_id, self.attempt, stage=stage.value, progress=progress
        )
        self._stage, self._last_write = stage, now
        self.writes += 1


def process_generation_event(
    event: dict[str, Any], deps: GenerateDependencies, *, request_id: str | None = None
) -> Outcome:
    """Handle one generate event; `request_id` is the invocation's, recorded with the claim."""
    try:
        program_id = GenerationEvent.model_validate(event).program_id
    except ValidationError:
        logger.error("ignoring an event without a valid programId")
        return Outcome.INVALID_EVENT
    logger.set_correlation_id(str(program_id))

    job = repository.claim_generation(
        deps.db, program_id, lease_seconds=deps.settings.lease_seconds, worker=request_id
    )
    if job is None:
        count(Metric.DUPLICATE_EVENTS)
        logger.info("nothing to claim: already taken, finished or out of attempts")
        return Outcome.NOT_CLAIMED
    attempt = job.attempt
    count(Metric.GENERATIONS_STARTED)
    logger.info("claimed", extra={"attempt": attempt, "max_attempts": job.max_attempts})

    try:
        user = _user_data(job)
        request = GenerationRequest(weeks=job.request.weeks, name=job.request.name, notes=job.request.notes)
        result = run_program_generation_pipeline(
            user,
            request,
            provider=deps.job_providers(),
            progress=ProgressWriter(deps.db, program_id, attempt, clock=deps.clock),
            cache=deps.job_cache(program_id),
        )
    except GenerationError as exc:
        return _record_failure(deps, program_id, attempt, exc)
    except Exception as exc:  # a bug or an infrastructure fault: log its type and place, retry
        logger.error("generation attempt crashed", extra=describe_unexpected(exc))
        return _record_failure(
            deps,
            program_id,
            attempt,
            GenerationError("INTERNAL_ERROR", "Something went wrong on our side.", retryable=True),
        )

    with _storing():
        stored = repository.complete_generation(
            deps.db,
            program_id,
            attempt,
            program=result.program.model_dump(mode="json", by_alias=True),
            provider=result.provider,
            model=result.model,
            fallback_tier=result.fallback_tier,
            validation_report=result.report.model_dump(mode="json"),
            usage=result.usage.to_json(),
            llm=_llm_record(result),
        )
    if not stored:
        logger.warning("lease lost before saving; the result was discarded")
        return Outcome.LEASE_LOST
    count(Metric.GENERATIONS_COMPLETED)
    deps.events.generation_finished(program_id, "completed")
    milliseconds(Metric.GENERATION_DURATION, result.duration_ms)
    milliseconds(Metric.REQUEST_TO_DELIVERY, (deps.clock.now() - job.created_at).total_seconds() * 1000)
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


def _record_failure(
    deps: GenerateDependencies, program_id: UUID, attempt: int, error: GenerationError
) -> Outcome:
    with _storing():
        status = repository.finish_with_error(
            deps.db, program_id, attempt, error_code=error.code, message=error.message, retry=error.retryable
        )
    logger.warning("attempt failed", extra={"error_code": error.code, "new_status": status})
    if status is None:
        return Outcome.LEASE_LOST
    if status is GenerationStatus.PENDING:
        count(Metric.GENERATION_RETRIED)
        return Outcome.RELEASED
    count(Metric.GENERATIONS_FAILED, dimensions={"ErrorCode": error.code})
    deps.events.generation_finished(program_id, "failed", error_code=error.code)
    return Outcome.FAILED
