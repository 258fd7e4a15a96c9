"""The reconciler: nothing accepted is lost or left spinning (I4, I5).

Runs on a schedule in AWS and on a timer in `tpg serve`. Each step is one statement; the
dispatches that follow are at-least-once by design (the claim makes duplicates harmless). A pending
row is waiting, not lost, while it is within its tier's wait bound in time; it is re-dispatched
with backing-off waits in case its event was lost, and failed only past that bound.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from tpg.platform.errors import DispatchError
from tpg.platform.observability import Metric, count, describe_unexpected, logger, milliseconds
from tpg.platform.settings import Settings
from tpg.realtime.connections import expire_connections
from tpg.realtime.push import ProgramUpdates
from tpg.store import repository
from tpg.store.db import Database
from tpg.worker.batches import BatchReport, run_batches
from tpg.worker.dispatch import Dispatcher, dispatcher_for, ensure_available
from tpg.worker.events import EventPublisher


@dataclass(frozen=True, slots=True)
class SweeperDependencies:
    """What the sweeper works with, built once per execution environment by its handler
    (`functions/sweeper/app.py`)."""

    settings: Settings
    db: Database
    events: EventPublisher
    dispatcher: Dispatcher
    # The rows it fails, cancels or reclaims, pushed to their owners' WebSocket connections.
    updates: ProgramUpdates = field(default_factory=ProgramUpdates)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, dispatcher: Dispatcher | None = None
    ) -> SweeperDependencies:
        db = Database(settings)
        return cls(
            settings=settings,
            db=db,
            events=EventPublisher.from_settings(settings),
            dispatcher=dispatcher or dispatcher_for(settings),
            updates=ProgramUpdates.from_settings(settings, db),
        )


@dataclass(slots=True)
class SweepReport:
    failed: list[UUID] = field(default_factory=list)
    reclaimed: list[UUID] = field(default_factory=list)
    redispatched: list[UUID] = field(default_factory=list)
    cancelled: list[UUID] = field(default_factory=list)
    dispatch_failures: int = 0
    connections_expired: int = 0  # realtime tickets and connections past their expiry, deleted
    stuck: int = 0
    waiting: int = 0
    oldest_wait_seconds: float = 0.0
    batches: BatchReport | None = None  # the batch step's (None: it failed; logged)

    def as_dict(self) -> dict[str, int]:
        return {
            "failed": len(self.failed),
            "reclaimed": len(self.reclaimed),
            "redispatched": len(self.redispatched),
            "cancelled": len(self.cancelled),
            "dispatchFailures": self.dispatch_failures,
            **(self.batches.as_dict() if self.batches is not None else {}),
        }


def sweep(deps: SweeperDependencies) -> SweepReport:
    """One reconciliation pass."""
    settings, db = deps.settings, deps.db
    dispatcher = ensure_available(deps.dispatcher)
    report = SweepReport()
    # Order matters: fail what has no attempt left (or waited past its bound) before reclaiming,
    # so a row is never re-dispatched just to be refused by the claim.
    failed = repository.fail_exhausted(db)
    report.failed = [state.program_id for state in failed]
    finished_cancels = repository.finish_abandoned_cancels(db, grace_seconds=settings.cancel_grace_seconds)
    cancelled = [state for state, _ in finished_cancels]
    report.cancelled = [state.program_id for state in cancelled]
    reclaimed = repository.reclaim_expired_leases(db)
    report.reclaimed = [state.program_id for state in reclaimed]
    # Batch members: poll, collect, submit; those for the normal queue become pending here, so
    # the re-dispatch below dispatches them (behind every more urgent row).
    report.batches = _batch_step(deps)
    report.redispatched = repository.mark_for_redispatch(
        db,
        redispatch_after_seconds=settings.pending_redispatch_after_seconds,
        max_interval_seconds=settings.redispatch_max_interval_seconds,
        batch=settings.sweep_batch_size,
    )
    for program_id in report.redispatched:
        try:
            dispatcher.dispatch(program_id, reason="sweeper")
        except DispatchError:
            report.dispatch_failures += 1
    # Expiry and the gauges before the events and pushes (best effort, bounded, but slow when
    # EventBridge or the Management API is): a sweep that runs out of time still emits them.
    report.connections_expired = expire_connections(db, batch=settings.sweep_batch_size).removed
    # What is still stuck after this sweep, and the backlog (emitted every time: a gap means no
    # sweeper is running).
    queue = repository.queue_figures(db, older_than_seconds=2 * settings.lease_seconds)
    report.stuck, report.waiting, report.oldest_wait_seconds = (
        queue.stuck,
        queue.waiting,
        queue.oldest_wait_seconds,
    )
    count(Metric.STUCK_GENERATIONS, report.stuck)
    count(Metric.GENERATIONS_WAITING, report.waiting)
    count(Metric.OLDEST_WAIT, round(report.oldest_wait_seconds, 1))
    deps.events.generations_failed(report.failed)
    deps.events.generations_cancelled(report.cancelled)
    deps.updates.publish([*failed, *cancelled, *reclaimed])
    count(Metric.SWEEPER_FAILED, len(report.failed))
    count(Metric.SWEEPER_RECLAIMED, len(report.reclaimed))
    count(Metric.SWEEPER_REDISPATCHED, len(report.redispatched))
    if report.cancelled:
        count(Metric.GENERATIONS_CANCELLED, len(report.cancelled), dimensions={"When": "abandoned"})
    for _, asked_seconds_ago in finished_cancels:  # the slow tail belongs in the latency too
        milliseconds(Metric.CANCELLATION_LATENCY, asked_seconds_ago * 1000)
    if report.dispatch_failures:
        count(Metric.DISPATCH_FAILURES, report.dispatch_failures)
    logger.info(
        "sweep finished",
        extra={
            **report.as_dict(),
            "stuck": report.stuck,
            "waiting": report.waiting,
            "oldest_wait_s": round(report.oldest_wait_seconds),
            "connections_expired": report.connections_expired,
        },
    )
    return report


def _batch_step(deps: SweeperDependencies) -> BatchReport | None:
    try:
        return run_batches(deps.settings, deps.db, updates=deps.updates, events=deps.events)
    except Exception as exc:  # the reconciler's own steps run whatever the batches do
        logger.error("batch step failed", extra=describe_unexpected(exc))
        return None


def sweep_soon(deps: SweeperDependencies) -> None:
    """Sweep now if possible; the scheduled sweep within the minute covers a failure."""
    try:
        sweep(deps)
    except Exception as exc:
        logger.error("sweep after on-failure records failed", extra={"error_type": type(exc).__name__})


def consume_failed_invocations(db: Database, records: list[dict[str, Any]]) -> list[str]:
    """Handle Lambda on-failure destination records (generate crashed, timed out, or its event
    expired in the queue). Returns the SQS message ids to retry (partial batch response).

    A crashed invocation's lease is ended at once so the sweep that follows reclaims or fails
    its row (the row its invocation claimed, which may not be the one its event named); an expired
    event needs nothing: its row is waiting, pending, and the sweeper owns it.
    """
    retry: list[str] = []
    for record in records:
        try:
            body = json.loads(record["body"])
            program_id = UUID(str(body["requestPayload"]["programId"]))
            worker = body["requestContext"]["requestId"]
            condition = body["requestContext"].get("condition")
        except (KeyError, TypeError, ValueError):
            logger.error(
                "dropping an unreadable on-failure record", extra={"message_id": record.get("messageId")}
            )
            continue
        try:
            claimed = repository.expire_lease_of(db, worker)
        except Exception as exc:  # the database is unreachable: let SQS redeliver this record
            logger.error("could not handle an on-failure record", extra={"error_type": type(exc).__name__})
            retry.append(record["messageId"])
            continue
        count(Metric.FAILED_INVOCATIONS)
        logger.warning(
            "generate invocation failed",
            # the row its invocation claimed (None: it held none), which may not be its event's
            extra={
                "program_id": str(claimed) if claimed else None,
                "event_program_id": str(program_id),
                "condition": condition,
                "lease_ended": claimed is not None,
            },
        )
    return retry
