"""The generate function's work: claim, run the pipeline, store the program or the error.

An invocation is a unit of capacity: it claims the most urgent claimable program (priority, then
age), which may not be the one its event names; that one is claimed by a later invocation.
Safe to receive the same event many times, late, or concurrently: only the claim (one
conditional UPDATE) lets a worker in, and every later write is fenced by the claimed attempt.

Cancellation: the pipeline's progress callback is the worker's checkpoint (`ProgressWriter`). At
most once a second it asks the row whether it is still this attempt's and whether a cancel was
asked; on a cancel it raises `GenerationCancelled`, which unwinds the pipeline (closing an LLM
stream on the way) and is recorded as `cancelled`.
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
from tpg.generation.pipeline import run_program_generation_pipeline
from tpg.generation.ports import (
    CachedProgram,
    GenerationCancelled,
    GenerationError,
    GenerationRequest,
    ProgramProvider,
    ResultCache,
)
from tpg.platform.clock import Clock, SystemClock
from tpg.platform.observability import (
    Metric,
    annotate,
    count,
    describe_unexpected,
    logger,
    milliseconds,
    set_correlation_id,
)
from tpg.platform.settings import Settings
from tpg.realtime.push import JobUpdates, ProgramUpdates
from tpg.store import repository
from tpg.store.db import Database
from tpg.store.rows import ClaimedJob, GenerationStatus, JobState, Stage, user_data_from_row
from tpg.training.user_data import UserData
from tpg.worker.batches import llm_record, member_providers
from tpg.worker.dispatch import GenerationEvent
from tpg.worker.events import EventPublisher


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"  # stopped at a checkpoint: its owner cancelled it
    RELEASED = "released"  # back to pending, another attempt will follow
    NOT_CLAIMED = "not_claimed"  # nothing claimable (duplicate, late or already-served event)
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
    tier: str = "compact"  # the first LLM tier: only its programs are reused

    def lookup(self, fingerprint: str) -> CachedProgram | None:
        row = repository.find_cached_program(
            self.db, fingerprint, ttl_seconds=self.ttl_seconds, exclude_id=self.exclude_id, tier=self.tier
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
    first_tier = settings.llm_tiers.split(",")[0]
    return RepositoryResultCache(
        db, ttl_seconds=settings.result_cache_ttl_seconds, exclude_id=program_id, tier=first_tier
    )


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
    # Each committed state change, pushed to the owner's WebSocket connections (none configured: no-op).
    updates: ProgramUpdates = field(default_factory=ProgramUpdates)

    @classmethod
    def from_settings(cls, settings: Settings) -> GenerateDependencies:
        db = Database(settings)
        return cls(
            settings=settings,
            db=db,
            events=EventPublisher.from_settings(settings),
            updates=ProgramUpdates.from_settings(settings, db),
        )

    def job_providers(self) -> Providers:
        return self.providers() if self.providers is not None else default_provider(self.settings)

    def job_cache(self, program_id: UUID) -> ResultCache | None:
        if self.cache is not None:
            return self.cache(program_id)
        return default_cache(self.settings, self.db, program_id)


def _providers_for(deps: GenerateDependencies, job: ClaimedJob) -> Providers:
    """A batch member whose batch answer was kept starts from it (tpg.worker.batches); every other
    job, and any job when a test gives the providers, gets the job's tiers."""
    if job.batch_id is not None and deps.providers is None:
        kept = member_providers(deps.settings, deps.db, job.program_id)
        if kept is not None:
            return kept
    return deps.job_providers()


def _user_data(job: ClaimedJob) -> UserData:
    try:
        return user_data_from_row(job.profile)
    except ValidationError as exc:
        raise GenerationError(
            "INVALID_USER_DATA",
            "Your profile or onboarding answers are incomplete. Please review them and try again.",
            retryable=False,
        ) from exc


class LeaseLost(GenerationCancelled):
    """Raised by a checkpoint when the row is no longer this attempt's (its lease was taken over,
    or the sweeper finished it): the work stops, nothing is written."""


@dataclass(slots=True)
class ProgressWriter:
    """The pipeline's progress callback and the worker's checkpoint.

    Writes a stage change at once and a percentage-only change at most every `write_interval` s;
    between writes, at most every `check_interval` s, it only reads the row. Each round trip tells
    whether the row is still this attempt's (else `LeaseLost`) and whether its owner asked to
    cancel (`GenerationCancelled`)."""

    db: Database
    program_id: UUID
    attempt: int
    clock: Clock = field(default_factory=SystemClock)
    write_interval: float = 2.0
    check_interval: float = 1.0
    _stage: Stage | None = Stage.ANALYZING  # the claim already wrote this one (at 5 %)
    _progress: int = 5
    _last_write: float = field(default_factory=lambda: float("-inf"))
    _last_check: float = field(default_factory=lambda: float("-inf"))
    writes: int = 0
    updates: JobUpdates | None = None  # each write pushed to the owner's connections (tpg.realtime)

    def __call__(self, stage: Stage, progress: int) -> None:
        now = self.clock.monotonic()
        changed = stage != self._stage or (
            progress != self._progress and now - self._last_write >= self.write_interval
        )
        if changed:
            state = repository.record_progress(
                self.db, self.program_id, self.attempt, stage=stage.value, progress=progress
            )
            self._stage, self._progress, self._last_write = stage, progress, now
            self.writes += 1
            if self.updates is not None and state is not None and not state.cancel_requested:
                self.updates.publish(state)  # the write's throttle is the push's
        elif now - self._last_check >= self.check_interval:
            state = repository.check_claim(self.db, self.program_id, self.attempt)
        else:
            return
        self._last_check = now
        self._stop_if_asked(state)

    def _stop_if_asked(self, state: JobState | None) -> None:
        if state is None:
            raise LeaseLost()
        if state.cancel_requested:
            raise GenerationCancelled()


def process_generation_event(
    event: dict[str, Any], deps: GenerateDependencies, *, request_id: str | None = None
) -> Outcome:
    """Handle one generate event; `request_id` is the invocation's, recorded with the claim."""
    try:
        named = GenerationEvent.model_validate(event).program_id
    except ValidationError:
        logger.error("ignoring an event without a valid programId")
        return Outcome.INVALID_EVENT
    logger.set_correlation_id(str(named))

    job = repository.claim_generation(
        deps.db, named, lease_seconds=deps.settings.lease_seconds, worker=request_id
    )
    if job is None:
        count(Metric.DUPLICATE_EVENTS)
        logger.info("nothing to claim: already taken, finished or out of attempts")
        return Outcome.NOT_CLAIMED
    program_id, attempt = job.program_id, job.attempt
    annotate("program_id", str(program_id))  # X-Ray search: the row this invocation ran
    if program_id != named:  # what follows is about the claimed program
        set_correlation_id(str(program_id))
        logger.info("claimed a more urgent program than the event's", extra={"event_program_id": str(named)})
    pushes = deps.updates.for_job()
    pushes.publish(job.state)
    count(Metric.GENERATIONS_STARTED)
    milliseconds(Metric.QUEUE_WAIT, job.waited_seconds * 1000, dimensions={"Priority": str(job.priority)})
    logger.info(
        "claimed",
        extra={
            "attempt": attempt,
            "max_attempts": job.max_attempts,
            "waited_s": round(job.waited_seconds, 3),
        },
    )

    try:
        user = _user_data(job)
        request = GenerationRequest(weeks=job.request.weeks, name=job.request.name, notes=job.request.notes)
        result = run_program_generation_pipeline(
            user,
            request,
            provider=_providers_for(deps, job),
            progress=ProgressWriter(deps.db, program_id, attempt, clock=deps.clock, updates=pushes),
            cache=deps.job_cache(program_id),
        )
    except LeaseLost:
        logger.warning("the row is no longer this attempt's; stopped")
        return Outcome.LEASE_LOST
    except GenerationCancelled:
        return _record_cancelled(deps, job)
    except GenerationError as exc:
        return _record_failure(deps, job, exc)
    except Exception as exc:  # a bug or an infrastructure fault: log its type and place, retry
        logger.error("generation attempt crashed", extra=describe_unexpected(exc))
        return _record_failure(
            deps, job, GenerationError("INTERNAL_ERROR", "Something went wrong on our side.", retryable=True)
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
            llm=llm_record(result),
        )
    if stored is None:  # a cancel was asked after the last checkpoint, or the lease was lost
        return _record_cancelled(deps, job)
    deps.updates.publish([stored])
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


def _record_cancelled(deps: GenerateDependencies, job: ClaimedJob) -> Outcome:
    """The attempt stopped for a cancel (or found one when it came to store): cancelling -> cancelled.
    LEASE_LOST when the row was not this attempt's to change."""
    with _storing():
        finished = repository.finish_cancelled(deps.db, job.program_id, job.attempt)
    if finished is None:
        logger.warning("lease lost before saving; the result was discarded")
        return Outcome.LEASE_LOST
    state, waited_seconds = finished
    deps.updates.publish([state])
    count(Metric.GENERATIONS_CANCELLED, dimensions={"When": "running"})
    milliseconds(Metric.CANCELLATION_LATENCY, waited_seconds * 1000)
    deps.events.generation_finished(job.program_id, "cancelled", error_code="CANCELLED")
    logger.info(
        "cancelled", extra={"attempt": job.attempt, "cancel_to_stop_ms": round(waited_seconds * 1000)}
    )
    return Outcome.CANCELLED


def _record_failure(deps: GenerateDependencies, job: ClaimedJob, error: GenerationError) -> Outcome:
    with _storing():
        state = repository.finish_with_error(
            deps.db,
            job.program_id,
            job.attempt,
            error_code=error.code,
            message=error.message,
            retry=error.retryable,
        )
    if state is None:  # a cancel was asked meanwhile, or the lease was lost
        return _record_cancelled(deps, job)
    deps.updates.publish([state])  # failed, or pending again for another attempt
    logger.warning("attempt failed", extra={"error_code": error.code, "new_status": state.status})
    if state.status is GenerationStatus.PENDING:
        count(Metric.GENERATION_RETRIED)
        return Outcome.RELEASED
    count(Metric.GENERATIONS_FAILED, dimensions={"ErrorCode": error.code})
    deps.events.generation_finished(job.program_id, "failed", error_code=error.code)
    return Outcome.FAILED
