"""The reconciler: nothing accepted is lost or left spinning (I4, I5).

Runs on a schedule in AWS and on a timer in `tpg serve`. Each step is one statement; the
dispatches that follow are at-least-once by design (the claim makes duplicates harmless).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from tpg.platform.errors import DispatchError
from tpg.platform.observability import Metric, count, logger
from tpg.platform.settings import Settings
from tpg.store import repository
from tpg.store.db import Database
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

    @classmethod
    def from_settings(
        cls, settings: Settings, *, dispatcher: Dispatcher | None = None
    ) -> SweeperDependencies:
        return cls(
            settings=settings,
            db=Database(settings),
            events=EventPublisher.from_settings(settings),
            dispatcher=dispatcher or dispatcher_for(settings),
        )


@dataclass(slots=True)
class SweepReport:
    failed: list[UUID] = field(default_factory=list)
    reclaimed: list[UUID] = field(default_factory=list)
    redispatched: list[UUID] = field(default_factory=list)
    dispatch_failures: int = 0
    stuck: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "failed": len(self.failed),
            "reclaimed": len(self.reclaimed),
            "redispatched": len(self.redispatched),
            "dispatchFailures": self.dispatch_failures,
        }


def sweep(deps: SweeperDependencies) -> SweepReport:
    """One reconciliation pass."""
    settings, db = deps.settings, deps.db
    dispatcher = ensure_available(deps.dispatcher)
    report = SweepReport()
    # Order matters: fail what has no attempt left before reclaiming, so a row is never
    # re-dispatched just to be refused by the claim.
    report.failed = repository.fail_exhausted(
        db,
        max_dispatches=settings.max_dispatches,
        redispatch_after_seconds=settings.pending_redispatch_after_seconds,
        max_interval_seconds=settings.redispatch_max_interval_seconds,
    )
    report.reclaimed = repository.reclaim_expired_leases(db)
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
    deps.events.generations_failed(report.failed)
    # What is still stuck after this sweep (emitted every time: a gap means no sweeper is running).
    report.stuck = repository.count_stuck(db, older_than_seconds=2 * settings.lease_seconds)
    count(Metric.STUCK_GENERATIONS, report.stuck)
    count(Metric.SWEEPER_FAILED, len(report.failed))
    count(Metric.SWEEPER_RECLAIMED, len(report.reclaimed))
    count(Metric.SWEEPER_REDISPATCHED, len(report.redispatched))
    if report.dispatch_failures:
        count(Metric.DISPATCH_FAILURES, report.dispatch_failures)
    logger.info("sweep finished", extra={**report.as_dict(), "stuck": report.stuck})
    return report


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
    its row; an expired event needs nothing: the row is pending and the sweeper owns it.
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
            expired = repository.expire_lease_of(db, program_id, worker)
        except Exception as exc:  # the database is unreachable: let SQS redeliver this record
            logger.error("could not handle an on-failure record", extra={"error_type": type(exc).__name__})
            retry.append(record["messageId"])
            continue
        count(Metric.FAILED_INVOCATIONS)
        logger.warning(
            "generate invocation failed",
            extra={"program_id": str(program_id), "condition": condition, "lease_ended": expired},
        )
    return retry
