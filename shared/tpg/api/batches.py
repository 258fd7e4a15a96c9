"""What the batch routes do, independent of HTTP: create, read and cancel a batch (service callers).

A batch is accepted in one statement (`tpg.store.batches.create_batch`): a program per user who may
have one, `batched` (shown as pending), and a reason for each user who may not. Nothing is
dispatched here: the sweeper's batch step submits the requests to the Message Batches API (or, with
the rules engine, queues them) within a minute (`tpg.worker.batches`).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from uuid import UUID

from tpg.api.auth import ServiceCaller
from tpg.api.models import (
    BatchAcceptedResponse,
    BatchCancelResponse,
    BatchCounts,
    BatchList,
    BatchMember,
    BatchMemberError,
    BatchResponse,
    BatchSummary,
    BatchUsage,
    CreateBatchRequest,
)
from tpg.api.service import DEFAULT_PROGRAM_NAME, ApiDependencies, decode_cursor, encode_position
from tpg.platform.errors import BatchAlreadyFinal, BatchNotFound, IdempotencyKeyReused
from tpg.platform.observability import Metric, count, logger
from tpg.store import batches as store
from tpg.store.rows import GenerationStatus, shown_status

DEFAULT_BATCH_NAME = "Batch"
_FINAL = {GenerationStatus.COMPLETED, GenerationStatus.FAILED, GenerationStatus.CANCELLED}
_GENERIC_FAILURE = "We could not generate your program. Please try again."
PROGRAM_DELETED_MESSAGE = "The program was deleted (by its user, or with their account)."


def status_url(batch_id: UUID) -> str:
    return f"/batches/{batch_id}"


def request_digest(body: CreateBatchRequest) -> str:
    """What an Idempotency-Key is bound to: the request as parsed (ids in order, weeks, name)."""
    canonical = {"userIds": [str(u) for u in body.user_ids], "weeks": body.weeks, "name": body.name}
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def create_batch(
    deps: ApiDependencies,
    caller: ServiceCaller,
    body: CreateBatchRequest,
    *,
    idempotency_key: str | None = None,
) -> BatchAcceptedResponse:
    """A new batch; with an `Idempotency-Key` the caller used before, the batch it made then (the
    same request) or 409 IDEMPOTENCY_KEY_REUSED (another request)."""
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
        idempotency_key=idempotency_key,
        request_digest=request_digest(body),
    )
    if created.repeated and not created.same_request:
        raise IdempotencyKeyReused()
    if created.repeated:
        logger.info("batch request repeated", extra={"batch_id": str(created.batch_id)})
        return _accepted(created)
    count(Metric.BATCH_MEMBERS_ACCEPTED, created.accepted)
    logger.info(
        "batch accepted",
        extra={"batch_id": str(created.batch_id), "accepted": created.accepted, "rejected": created.rejected},
    )
    return _accepted(created)


def _accepted(created: store.CreatedBatch) -> BatchAcceptedResponse:
    return BatchAcceptedResponse(
        batch_id=created.batch_id,
        status_url=status_url(created.batch_id),
        accepted=created.accepted,
        rejected=created.rejected,
    )


def list_batches(
    deps: ApiDependencies, caller: ServiceCaller, *, limit: int, cursor: str | None
) -> BatchList:
    """The caller's batches (its token's `sub`), newest first, a page at a time."""
    before = decode_cursor(cursor) if cursor else None
    rows = store.list_batches(deps.db, caller.subject, limit=limit + 1, before=before)
    page = rows[:limit]
    last = page[-1] if page else None
    next_cursor = encode_position(last.created_at, last.batch_id) if last and len(rows) > limit else None
    return BatchList(
        items=[
            BatchSummary(
                batch_id=r.batch_id,
                name=r.name,
                weeks=r.weeks,
                status="ended" if r.ended else "processing",
                cancel_requested=r.cancel_requested,
                created_at=r.created_at,
                members=r.members,
                status_url=status_url(r.batch_id),
            )
            for r in page
        ],
        next_cursor=next_cursor,
    )


def get_batch(deps: ApiDependencies, caller: ServiceCaller | None, batch_id: UUID) -> BatchResponse:
    """The batch, if this caller (its token's `sub`) created it; 404 otherwise. No caller: an
    operator's tool (`tpg batch status`), any batch."""
    subject = caller.subject if caller else None
    batch = store.get_batch(deps.db, batch_id, subject, any_caller=caller is None)
    if batch is None:
        raise BatchNotFound()
    members = [_member(m) for m in batch.members]
    counts = Counter(m.status for m in members)
    usage = _usage(batch, completed=counts["completed"])
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
    if row.program_id is None and row.rejected is None:  # its program was deleted since
        return BatchMember(
            user_id=row.user_id,
            program_id=None,
            status="cancelled",
            error=BatchMemberError(code="PROGRAM_DELETED", message=PROGRAM_DELETED_MESSAGE),
            input_tokens=None,
            output_tokens=None,
            cost_usd=None,
        )
    if row.program_id is None or row.status is None:
        code = row.rejected or "USER_NOT_FOUND"
        return BatchMember(
            user_id=row.user_id,
            program_id=None,
            status="rejected",
            error=BatchMemberError(
                code=code,
                message=store.REJECTIONS.get(code, code),
                program_id=row.in_flight_program_id,
                batch_id=row.in_flight_batch_id,
            ),
            input_tokens=None,
            output_tokens=None,
            cost_usd=None,
        )
    status = shown_status(row.status)
    error = None
    if status in (GenerationStatus.FAILED, GenerationStatus.CANCELLED):
        error = BatchMemberError(
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


def _usage(batch: store.BatchRow, *, completed: int) -> BatchUsage:
    """The members' usage plus the answers billed that no member holds (cancelled meanwhile)."""
    members, unsaved = batch.members, batch.unsaved
    cost = round(sum(m.cost_usd or 0.0 for m in members) + unsaved.cost_usd, 6)
    return BatchUsage(
        input_tokens=sum(m.input_tokens or 0 for m in members) + unsaved.input_tokens,
        output_tokens=sum(m.output_tokens or 0 for m in members) + unsaved.output_tokens,
        cost_usd=cost,
        cost_per_completed_usd=round(cost / completed, 6) if completed else None,
    )


def cancel_batch(deps: ApiDependencies, caller: ServiceCaller | None, batch_id: UUID) -> BatchCancelResponse:
    """Every member not final yet: waiting ones cancelled at once, running ones stopped at their
    worker's next checkpoint; the batch step asks the running Message Batches to stop. A batch
    with nothing left to cancel answers 409 (a repeated cancel while workers stop: 202 again)."""
    subject = caller.subject if caller else None  # no caller: an operator's tool, any batch
    outcome = store.cancel_batch(deps.db, batch_id, subject, any_caller=caller is None)
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
