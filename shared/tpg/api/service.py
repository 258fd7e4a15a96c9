"""What the HTTP API does, independent of HTTP: accept, read, list, retry and cancel generations,
and check that the stack is ready to serve them."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from tpg.api.models import (
    CancelResponse,
    CreateProgramRequest,
    ProgramError,
    ProgramList,
    ProgramResponse,
    ProgramSummary,
    RealtimeTicketResponse,
)
from tpg.platform.errors import (
    DispatchError,
    GenerationInFlight,
    InvalidRequest,
    NotRetryable,
    OnboardingIncomplete,
    ProgramAlreadyFinal,
    ProgramNotFound,
    QuotaExceeded,
    SubscriptionRequired,
)
from tpg.platform.observability import Metric, count, describe_unexpected, logger
from tpg.platform.settings import Settings
from tpg.realtime import tickets
from tpg.realtime.push import ProgramUpdates
from tpg.store import repository
from tpg.store.db import Database
from tpg.store.rows import GenerationStatus, ProgramRow
from tpg.worker.dispatch import Dispatcher, dispatcher_for
from tpg.worker.events import EventPublisher

DEFAULT_PROGRAM_NAME = "My training program"
QUOTA_WINDOW_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class ApiDependencies:
    """What the API works with, built once per execution environment by the trigger handler
    (`functions/trigger/app.py`)."""

    settings: Settings
    db: Database
    dispatcher: Dispatcher
    # the cancellation of a pending program is final at once: the API announces it
    events: EventPublisher | None = None
    # a retry's and a cancel's new state, pushed to the owner's WebSocket connections (tpg.realtime)
    updates: ProgramUpdates = field(default_factory=ProgramUpdates)

    @classmethod
    def from_settings(cls, settings: Settings, *, dispatcher: Dispatcher | None = None) -> ApiDependencies:
        db = Database(settings)
        return cls(
            settings=settings,
            db=db,
            dispatcher=dispatcher or dispatcher_for(settings),
            events=EventPublisher.from_settings(settings),
            updates=ProgramUpdates.from_settings(settings, db),
        )


def queue_policy(settings: Settings) -> repository.QueuePolicy:
    return repository.QueuePolicy(
        aging_seconds=settings.priority_aging_seconds,
        default_max_wait_seconds=settings.default_max_wait_seconds,
    )


def request_generation(deps: ApiDependencies, user_id: UUID, request: CreateProgramRequest) -> UUID:
    """Accept a generation: one statement checks, inserts and commits; then the async hand-off.

    If the hand-off fails the row is already committed and pending, and the request still
    succeeds (202): the sweeper re-dispatches pending rows (docs/decisions.md).
    """
    settings = deps.settings
    for attempt in (1, 2):
        outcome = repository.accept_generation_request(
            deps.db,
            user_id,
            name=request.name or DEFAULT_PROGRAM_NAME,
            request=request.model_dump(mode="json", exclude_none=True),
            max_attempts=settings.max_attempts,
            default_quota=settings.default_daily_quota,
            queue=queue_policy(settings),
        )
        if outcome.program_id is not None:
            break
        # Nothing was inserted: say why. The statement's `in_flight` comes from its snapshot, so it
        # is only trusted when no row was inserted (a program that finished meanwhile lets the
        # insert through, and then the new program is the answer, not a 409).
        if not outcome.subscribed:
            raise SubscriptionRequired()
        if not outcome.onboarded:
            raise OnboardingIncomplete()
        if outcome.in_flight or outcome.under_quota:  # resuming beats "come back tomorrow"
            running = repository.in_flight_program_id(deps.db, user_id)
            if running is not None:
                raise GenerationInFlight(running)
            if not outcome.under_quota:
                raise _quota_error(outcome.quota_resets_in)
            if attempt == 2:
                raise GenerationInFlight(None)
            continue  # the program in the way finished meanwhile: ask once more
        raise _quota_error(outcome.quota_resets_in)
    assert outcome.program_id is not None
    count(Metric.GENERATIONS_REQUESTED)
    _dispatch(deps.dispatcher, outcome.program_id, reason="accepted")
    return outcome.program_id


def retry_generation(deps: ApiDependencies, user_id: UUID, program_id: UUID) -> None:
    """failed or cancelled -> pending, re-dispatched. A retry spends LLM calls, so it counts toward
    the quota; it is queued anew, at the tier's current priority."""
    settings = deps.settings
    outcome = repository.retry_program(
        deps.db,
        program_id,
        user_id,
        max_attempts=settings.max_attempts,
        default_quota=settings.default_daily_quota,
        queue=queue_policy(settings),
    )
    if outcome.in_flight_conflict:
        raise _in_flight_error(deps, user_id)
    if not outcome.found:
        raise ProgramNotFound()
    if not outcome.subscribed:
        raise SubscriptionRequired()
    if not outcome.retryable:
        raise NotRetryable()
    if not outcome.under_quota:
        raise _quota_error(outcome.quota_resets_in)
    if not outcome.retried:  # a concurrent retry of the same program won
        raise NotRetryable()
    _dispatch(deps.dispatcher, program_id, reason="retry")
    deps.updates.publish([outcome.state])


def cancel_generation(deps: ApiDependencies, user_id: UUID, program_id: UUID) -> CancelResponse:
    """pending -> cancelled at once (its request goes back to the daily quota only if its generation
    never started: a row queued again after a started attempt keeps counting); processing -> its
    worker stops at its next checkpoint and records `cancelled`. Either way the one-in-flight slot
    is free at once. A repeated cancel of a program still stopping answers the same; a final
    program (completed, failed, cancelled) cannot be cancelled."""
    outcome = repository.cancel_program(deps.db, program_id, user_id)
    if not outcome.found:
        raise ProgramNotFound()
    if outcome.already_final:
        raise ProgramAlreadyFinal()
    state = outcome.state
    deps.updates.publish([state])  # None: a repeated cancel changed nothing
    if state is not None and state.status is GenerationStatus.CANCELLED:
        count(Metric.GENERATIONS_CANCELLED, dimensions={"When": "queued"})
        if deps.events is not None:
            deps.events.generation_finished(program_id, "cancelled", error_code="CANCELLED")
        logger.info(
            "cancelled while pending", extra={"program_id": str(program_id), "refunded": outcome.refunded}
        )
        return CancelResponse(program_id=program_id, status=GenerationStatus.CANCELLED, cancel_requested=True)
    logger.info("cancel requested", extra={"program_id": str(program_id)})
    return CancelResponse(program_id=program_id, status=GenerationStatus.PROCESSING, cancel_requested=True)


def check_readiness(deps: ApiDependencies) -> dict[str, bool]:
    """The readiness checks of `GET /health?deep=true`, by name: True when the check passed.

    - database: one `SELECT 1` through the API's own `Database` (its connection, its connect
      timeout, the statement timeout that travels with every statement): one round trip.
    - auth: the JWT signing secret resolves (plain, or read from Secrets Manager through the
      Powertools cache: at most one call per max age) to a non-empty value, and the JWKS URL, when
      one is configured, is a usable https URL. The key set itself is not fetched: an anonymous
      request never makes the service call out.

    Every check runs, whatever the others do; a failure is logged (a WARNING with the check's name
    and the exception's type and place, never its message) and answered by name only.
    """
    return {
        "database": _passes("database", lambda: _database_answers(deps)),
        "auth": _passes("auth", lambda: _auth_resolves(deps.settings)),
    }


def _passes(check: str, run: Callable[[], bool]) -> bool:
    try:
        passed = run()
    except Exception as exc:  # any failure is the check's: never a 500, never the driver's words
        logger.warning("readiness check failed", extra={"check": check, **describe_unexpected(exc)})
        return False
    if not passed:
        logger.warning("readiness check failed", extra={"check": check, "error_type": "unexpected value"})
    return passed


def _database_answers(deps: ApiDependencies) -> bool:
    row = deps.db.fetch_one("SELECT 1 AS ready")
    return row is not None and row.get("ready") == 1


def _auth_resolves(settings: Settings) -> bool:
    if not settings.jwt_signing_secret:
        return False
    url = settings.jwt_jwks_url
    return url is None or bool(urlsplit(url).hostname)


def _quota_error(resets_in: int | None) -> QuotaExceeded:
    # No request in the window and still refused: the tier's quota is 0; ask again in a day.
    wait = resets_in if resets_in is not None else QUOTA_WINDOW_SECONDS
    return QuotaExceeded(retry_after_seconds=max(1, wait))


def _in_flight_error(deps: ApiDependencies, user_id: UUID) -> GenerationInFlight:
    # Second round trip on this (rare) path only: the accept statement's snapshot may not see a
    # row committed concurrently by the request that won.
    return GenerationInFlight(repository.in_flight_program_id(deps.db, user_id))


def _dispatch(dispatcher: Dispatcher, program_id: UUID, *, reason: str) -> None:
    try:
        dispatcher.dispatch(program_id, reason=reason)
    except DispatchError as exc:
        count(Metric.DISPATCH_FAILURES)
        logger.warning(
            "dispatch failed; the sweeper will re-dispatch",
            extra={"program_id": str(program_id), "error": str(exc)},
        )


def get_program(deps: ApiDependencies, user_id: UUID, program_id: UUID) -> ProgramResponse:
    row = repository.get_program(deps.db, program_id, user_id)
    if row is None:
        raise ProgramNotFound()
    # the stored program JSON is read into the API's program model (`tpg.api.models.TrainingProgram`)
    return ProgramResponse.model_validate({**_summary_fields(row), "program": row.program})


def list_programs(deps: ApiDependencies, user_id: UUID, *, limit: int, cursor: str | None) -> ProgramList:
    before = decode_cursor(cursor) if cursor else None
    rows = repository.list_programs(deps.db, user_id, limit=limit + 1, before=before)
    page = rows[:limit]
    next_cursor = encode_cursor(page[-1]) if len(rows) > limit else None
    return ProgramList(items=[ProgramSummary(**_summary_fields(r)) for r in page], next_cursor=next_cursor)


def _summary_fields(row: ProgramRow) -> dict[str, Any]:
    error = None
    if row.generation_status in (GenerationStatus.FAILED, GenerationStatus.CANCELLED):
        error = ProgramError(
            code=row.error_code or "GENERATION_FAILED",
            message=row.generation_error or "We could not generate your program. Please try again.",
        )
    return {
        "program_id": row.id,
        "name": row.name,
        "status": row.generation_status,
        "stage": row.stage,
        "progress": row.progress,
        "error": error,
        "cancel_requested": row.cancel_requested,
        "batch_id": row.batch_id,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "completed_at": row.completed_at,
    }


# A cursor is the unpadded URL-safe base64 of "<created_at, ISO 8601 in UTC>|<program id>".
_CURSOR_ALPHABET = re.compile(r"[A-Za-z0-9_-]{1,200}")


def encode_cursor(row: ProgramRow) -> str:
    return encode_position(row.created_at, row.id)


def encode_position(created_at: datetime, row_id: UUID) -> str:
    """A cursor naming a row of a list ordered by (created_at, id), newest first (programs, batches)."""
    raw = f"{created_at.astimezone(UTC).isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """The position a cursor names, checked whole in Python: only what `encode_cursor` writes
    (canonical ISO 8601 in UTC, a canonical UUID) gets through, so no value PostgreSQL could
    refuse (a year it cannot take, an offset beyond its range) ever reaches SQL."""
    try:
        if not _CURSOR_ALPHABET.fullmatch(cursor):
            raise ValueError("not unpadded URL-safe base64")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        created_text, id_text = raw.split("|")
        created_at, program_id = datetime.fromisoformat(created_text), UUID(id_text)
        if created_at.utcoffset() != timedelta(0) or created_at.isoformat() != created_text:
            raise ValueError("not a timestamp this API wrote")
        if str(program_id) != id_text:
            raise ValueError("not a canonical UUID")
        return created_at, program_id
    except (ValueError, binascii.Error) as exc:  # UnicodeDecodeError is a ValueError
        raise InvalidRequest("The cursor is not valid.") from exc


def create_realtime_ticket(deps: ApiDependencies, user_id: UUID) -> RealtimeTicketResponse:
    """A single-use ticket to open the realtime WebSocket with (docs/frontend.md, "Live updates")."""
    issued = tickets.issue_ticket(deps.db, user_id, deps.settings)
    return RealtimeTicketResponse(ticket=issued.ticket, url=issued.url, expires_in=issued.expires_in)
