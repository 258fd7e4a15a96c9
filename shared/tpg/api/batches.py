"""What the batch routes do, independent of HTTP: create, read and cancel a batch (service callers).

A batch is accepted in one statement (`tpg.store.batches.create_batch`): a program per user who may
have one, `batched` (shown as pending), and a reason for each user who may not. Nothing is
dispatched here: the sweeper's batch step submits the requests to the Message Batches API (or, with
the rules engine, queues them) within a minute (`tpg.worker.batches`).
"""

from __future__ import annotations

from collections import Counter
from uuid import UUID

from tpg.api.auth import ServiceCaller
from tpg.api.models import (
    BatchAcceptedResponse,
    BatchCancelResponse,
    BatchCounts,
    BatchMember,
    BatchResponse,
    BatchUsage,
    CreateBatchRequest,
    ProgramError,
)
from tpg.api.service import DEFAULT_PROGRAM_NAME, ApiDependencies
from tpg.platform.errors import BatchAlreadyFinal, BatchNotFound
from tpg.platform.observability import Metric, count, logger
from tpg.store import batches as store
from tpg.store.rows import GenerationStatus, shown_status

DEFAULT_BATCH_NAME = "Batch"
_FINAL = {GenerationStatus.COMPLETED, GenerationStatus.FAILED, GenerationStatus.CANCELLED}
_GENERIC_FAILURE = "We could not generate your program. Please try again."


def status_url(batch_id: UUID) -> str:
    return f"/batches/{batch_id}"


def create_batch(
    deps: ApiDependencies, caller: ServiceCaller, body: CreateBatchRequest
) -> BatchAcceptedResponse:
    request: dict[str, object] = {"weeks": body.weeks}
    if body.name:
        request["name"] = body.name
    created = store.create_batch(
        deps.db,
        body.user_ids,
        name=body.name or DEFAULT_BATCH_NAME,
        program_name=body.name or DEFAULT_PROGRAM_NAME,
        weeks=body.weeks,
        request=request,
        requested_by=caller.subject,
        max_attempts=deps.settings.max_attempts,
    )
    count(Metric.BATCH_MEMBERS_ACCEPTED, created.accepted)
    logger.info(
        "batch accepted",
        extra={"batch_id": str(created.batch_id), "accepted": created.accepted, "rejected": created.rejected},
    )
    return BatchAcceptedResponse(
        batch_id=created.batch_id,
        status_url=status_url(created.batch_id),
        accepted=created.accepted,
        rejected=created.rejected,
    )


def get_batch(deps: ApiDependencies, batch_id: UUID) -> BatchResponse:
    batch = store.get_batch(deps.db, batch_id)
    if batch is None:
        raise BatchNotFound()
    members = [_member(m) for m in batch.members]
    counts = Counter(m.status for m in members)
    usage = _usage(batch.members, completed=counts["completed"])
    ended = all(m.status in _FINAL or m.status == "rejected" for m in members)
    return BatchResponse(
        batch_id=batch.batch_id,
        name=batch.name,
        weeks=batch.weeks,
        status="ended" if ended else "processing",
        cancel_requested=batch.cancel_requested,
        created_at=batch.created_at,
        counts=BatchCounts(
            pending=counts["pending"],
            processing=counts["processing"],
            completed=counts["completed"],
            failed=counts["failed"],
            cancelled=counts["cancelled"],
            rejected=counts["rejected"],
        ),
        usage=usage,
        members=members,
    )


def _member(row: store.MemberRow) -> BatchMember:
    if row.program_id is None or row.status is None:
        code = row.rejected or "USER_NOT_FOUND"
        return BatchMember(
            user_id=row.user_id,
            program_id=None,
            status="rejected",
            error=ProgramError(code=code, message=store.REJECTIONS.get(code, code)),
            input_tokens=None,
            output_tokens=None,
            cost_usd=None,
        )
    status = shown_status(row.status)
    error = None
    if status in (GenerationStatus.FAILED, GenerationStatus.CANCELLED):
        error = ProgramError(
            code=row.error_code or "GENERATION_FAILED", message=row.error_message or _GENERIC_FAILURE
        )
    return BatchMember(
        user_id=row.user_id,
        program_id=row.program_id,
        status=status.value,  # type: ignore[arg-type]  # a GenerationStatus value is a member status
        error=error,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cost_usd=row.cost_usd,
    )


def _usage(members: list[store.MemberRow], *, completed: int) -> BatchUsage:
    cost = round(sum(m.cost_usd or 0.0 for m in members), 6)
    return BatchUsage(
        input_tokens=sum(m.input_tokens or 0 for m in members),
        output_tokens=sum(m.output_tokens or 0 for m in members),
        cost_usd=cost,
        cost_per_completed_usd=round(cost / completed, 6) if completed else None,
    )


def cancel_batch(deps: ApiDependencies, batch_id: UUID) -> BatchCancelResponse:
    """Every member not final yet: waiting ones cancelled at once, running ones stopped at their
    worker's next checkpoint; the batch step asks the running Message Batches to stop. A batch
    with nothing left to cancel answers 409 (a repeated cancel while workers stop: 202 again)."""
    outcome = store.cancel_batch(deps.db, batch_id)
    if not outcome.found:
        raise BatchNotFound()
    if not outcome.states and not outcome.stopping:
        raise BatchAlreadyFinal()
    cancelled = [s.program_id for s in outcome.states if s.status is GenerationStatus.CANCELLED]
    stopping = len(outcome.states) - len(cancelled)
    deps.updates.publish(outcome.states)
    if cancelled:
        count(Metric.GENERATIONS_CANCELLED, len(cancelled), dimensions={"When": "queued"})
        if deps.events is not None:
            deps.events.generations_cancelled(cancelled)
    logger.info(
        "batch cancelled",
        extra={"batch_id": str(batch_id), "cancelled": len(cancelled), "stopping": stopping},
    )
    return BatchCancelResponse(
        batch_id=batch_id,
        status="processing" if stopping or outcome.stopping else "ended",
        cancelled=len(cancelled),
        stopping=stopping,
    )
