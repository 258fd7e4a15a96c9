"""Every SQL statement of batch generation (docs/architecture.md, "Batches"), one function each.

A batch member is a normal `training_programs` row with a `batch_id`. While its request is with the
Message Batches API it is `batched` (shown as pending): generate never claims it and the sweeper
never fails it for waiting. The batch step (`tpg.worker.batches`) moves it on: to `completed` when
its answer passes validation, or into the normal queue at the lowest priority (`pending`) when it
must go through the normal tiers. Every move is one conditional statement on `batched`, so a step
that runs twice, or dies half-way and is run again, moves each member at most once.

These statements act for the service across users (as `tpg_app`, never under a user's Row Level
Security): the API's batch routes are for service callers only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from tpg.store.db import Database
from tpg.store.repository import LlmRecord
from tpg.store.rows import BATCHED, CANCELLING, JobRequest, JobState, ProfileRow

# What a state change returns (`JobState.from_row`), as tpg.store.repository's statements do.
_STATE_COLUMNS = (
    "tp.id, tp.user_id, tp.generation_status, tp.stage, tp.progress, tp.error_code,"
    " tp.generation_error, tp.updated_at"
)

# Members queue below every subscription tier: ranked this many aging steps after a request of the
# lowest tier (priority 0) arriving at the same time (GENERATION_PRIORITY_AGING_SECONDS).
BATCH_PRIORITY = -10
# A member in the normal queue waits this long at most before the sweeper fails it (QUEUE_TIMEOUT):
# a batch is not urgent, and a thousand members may queue at once.
BATCH_MAX_WAIT_SECONDS = 24 * 3600

BATCH_CANCELLED_MESSAGE = "This program was cancelled before it was generated. You can ask for a new one."

# Why a user id got no member program (the batch's answer reports each).
REJECTIONS = {
    "USER_NOT_FOUND": "No user with this id.",
    "SUBSCRIPTION_REQUIRED": "The user has no active subscription.",
    "ONBOARDING_INCOMPLETE": "The user has not finished onboarding.",
    "GENERATION_IN_FLIGHT": "The user already has a program being generated.",
}

# The profile and onboarding columns the pipeline reads (as the claim statement reads them).
_PROFILE_COLUMNS = """
    p.birth_year, p.sex, p.height_cm, p.weight_kg,
    o.goal, o.experience, o.training_months, o.days_per_week, o.session_minutes,
    o.equipment, o.injuries, o.lifts, o.notes,
    o.injury_details, o.conditions, o.medical_clearance, o.pregnancy_weeks, o.postpartum_weeks,
    o.refused_exercises, o.max_dumbbell_kg, o.event_date
"""

# --- Creating a batch ----------------------------------------------------------------------------

# One statement: the batch, a member row per user id, and a `batched` program for each user who may
# have one. The checks are POST /programs' (tpg.store.repository's accept statement; the
# integration tests keep the two in step): an active subscription, complete onboarding within the
# ranges the pipeline accepts, no generation in flight (the one-in-flight index decides a race).
# A member does not count toward its user's daily quota: the caller asked, not the user.
_CREATE = f"""
WITH batch AS (
    INSERT INTO generation_batches (name, weeks, requested_by, idempotency_key, request_digest)
    VALUES (%(name)s, %(weeks)s, %(requested_by)s, %(key)s, %(digest)s)
    -- a key this caller used already: nothing is written (`create_batch` answers that batch)
    ON CONFLICT ((coalesce(requested_by, '')), idempotency_key) WHERE idempotency_key IS NOT NULL
    DO NOTHING
    RETURNING id
),
asked AS (
    SELECT u.user_id, (u.position - 1)::int AS position
    FROM unnest(%(user_ids)s::uuid[]) WITH ORDINALITY AS u(user_id, position)
),
checked AS (
    SELECT a.user_id, a.position,
        CASE
            WHEN p.id IS NULL THEN 'USER_NOT_FOUND'
            WHEN NOT EXISTS (SELECT 1 FROM active_subscriptions(a.user_id)) THEN 'SUBSCRIPTION_REQUIRED'
            WHEN NOT (
                o.completed_at IS NOT NULL
                AND o.goal IS NOT NULL AND o.experience IS NOT NULL AND p.sex IS NOT NULL
                AND o.days_per_week BETWEEN 1 AND 7
                AND o.session_minutes BETWEEN 20 AND 180
                AND extract(year FROM now())::int - p.birth_year BETWEEN 13 AND 100
                AND p.height_cm > 100 AND p.height_cm < 250
                AND p.weight_kg > 30 AND p.weight_kg < 300
            ) IS TRUE THEN 'ONBOARDING_INCOMPLETE'
            WHEN EXISTS (
                SELECT 1 FROM training_programs t
                WHERE t.user_id = a.user_id AND t.generation_status IN ('pending', '{BATCHED}', 'processing')
            ) THEN 'GENERATION_IN_FLIGHT'
        END AS rejected,
        (
            SELECT t.id FROM training_programs t
            WHERE t.user_id = a.user_id AND t.generation_status IN ('pending', '{BATCHED}', 'processing')
        ) AS in_flight_id
    FROM asked a
    LEFT JOIN profiles p ON p.id = a.user_id
    LEFT JOIN onboarding_responses o ON o.user_id = a.user_id
),
inserted AS (
    INSERT INTO training_programs (
        user_id, name, request, max_attempts, generation_status, stage, batch_id,
        priority, max_wait_seconds, queued_at, ranked_at
    )
    SELECT c.user_id, %(program_name)s, %(request)s, %(max_attempts)s, '{BATCHED}', 'queued', batch.id,
           {BATCH_PRIORITY}, {BATCH_MAX_WAIT_SECONDS}, now(), now()
    FROM checked c CROSS JOIN batch
    WHERE c.rejected IS NULL
    ON CONFLICT (user_id) WHERE generation_status IN ('pending', '{BATCHED}', 'processing') DO NOTHING
    RETURNING id, user_id
),
members AS (
    INSERT INTO generation_batch_members (
        batch_id, position, user_id, program_id, rejected, in_flight_program_id
    )
    SELECT batch.id, c.position, c.user_id, i.id,
           CASE WHEN i.id IS NULL THEN coalesce(c.rejected, 'GENERATION_IN_FLIGHT') END,
           CASE WHEN i.id IS NULL AND coalesce(c.rejected, 'GENERATION_IN_FLIGHT') = 'GENERATION_IN_FLIGHT'
                THEN c.in_flight_id END
    FROM checked c CROSS JOIN batch LEFT JOIN inserted i ON i.user_id = c.user_id
    RETURNING program_id
)
SELECT batch.id,
       (SELECT count(*) FROM members WHERE program_id IS NOT NULL)::int AS accepted,
       (SELECT count(*) FROM members WHERE program_id IS NULL)::int AS rejected
FROM batch
"""


@dataclass(frozen=True, slots=True)
class CreatedBatch:
    batch_id: UUID
    accepted: int
    rejected: int
    # Idempotency-Key: `repeated` when the key named a batch already (nothing was written);
    # `same_request` whether that batch was asked with the same request
    repeated: bool = False
    same_request: bool = True


_BY_KEY = """
SELECT b.id, b.request_digest,
       count(m.program_id)::int AS accepted, (count(m.position) - count(m.program_id))::int AS rejected
FROM generation_batches b LEFT JOIN generation_batch_members m ON m.batch_id = b.id
WHERE coalesce(b.requested_by, '') = coalesce(%(requested_by)s, '') AND b.idempotency_key = %(key)s
GROUP BY b.id
"""


def create_batch(
    db: Database,
    user_ids: Sequence[UUID],
    *,
    name: str,
    program_name: str,
    weeks: int,
    request: dict[str, Any],
    requested_by: str | None,
    max_attempts: int,
    idempotency_key: str | None = None,
    request_digest: str | None = None,
) -> CreatedBatch:
    params = {"requested_by": requested_by, "key": idempotency_key}
    row = db.fetch_one(
        _CREATE,
        {
            "key": idempotency_key,
            "digest": request_digest if idempotency_key is not None else None,
            "user_ids": list(user_ids),
            "name": name,
            "program_name": program_name,
            "weeks": weeks,
            "request": Jsonb(request),
            "requested_by": requested_by,
            "max_attempts": max_attempts,
        },
    )
    if row is None:  # the key was used already (only then does the batch CTE yield no row)
        existing = db.fetch_one(_BY_KEY, params)
        assert existing is not None  # keys are never deleted but with their batch
        return CreatedBatch(
            batch_id=existing["id"],
            accepted=existing["accepted"],
            rejected=existing["rejected"],
            repeated=True,
            same_request=existing["request_digest"] == request_digest,
        )
    return CreatedBatch(batch_id=row["id"], accepted=row["accepted"], rejected=row["rejected"])


# --- Reading a batch -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberRow:
    user_id: UUID
    program_id: UUID | None
    rejected: str | None
    status: str | None  # the program's stored status
    error_code: str | None
    error_message: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    in_flight_program_id: UUID | None = None  # GENERATION_IN_FLIGHT: the program in flight
    in_flight_batch_id: UUID | None = None  # ...and its batch, when it is a batch member


@dataclass(frozen=True, slots=True)
class BatchRow:
    batch_id: UUID
    name: str
    weeks: int
    created_at: datetime
    cancel_requested: bool
    members: list[MemberRow] = field(default_factory=list)
    unsaved: UnsavedUsage = field(default_factory=lambda: UnsavedUsage())


@dataclass(frozen=True, slots=True)
class UnsavedUsage:
    """Answers the API billed that no member's program holds (a member cancelled or deleted before
    its answer was saved): the batch pays them all the same."""

    answers: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


# The batch and every member, in request order, in one round trip.
_GET = """
SELECT b.id, b.name, b.weeks, b.created_at, b.cancel_requested_at IS NOT NULL AS cancel_requested,
       u.answers AS unsaved_answers, u.input_tokens AS unsaved_input_tokens,
       u.output_tokens AS unsaved_output_tokens, u.cost_usd AS unsaved_cost_usd,
       m.user_id, m.program_id, m.rejected, tp.generation_status, tp.error_code, tp.generation_error,
       tp.input_tokens, tp.output_tokens, tp.llm_cost_usd,
       m.in_flight_program_id, f.batch_id AS in_flight_batch_id
FROM generation_batches b
CROSS JOIN LATERAL (
    SELECT coalesce(sum(c.unsaved_answers), 0)::int AS answers,
           coalesce(sum(c.unsaved_input_tokens), 0)::bigint AS input_tokens,
           coalesce(sum(c.unsaved_output_tokens), 0)::bigint AS output_tokens,
           coalesce(sum(c.unsaved_cost_usd), 0)::float8 AS cost_usd
    FROM generation_batch_chunks c WHERE c.batch_id = b.id
) u
LEFT JOIN generation_batch_members m ON m.batch_id = b.id
LEFT JOIN training_programs tp ON tp.id = m.program_id
LEFT JOIN training_programs f ON f.id = m.in_flight_program_id
WHERE b.id = %(id)s
  AND (%(any_caller)s OR coalesce(b.requested_by, '') = coalesce(%(requested_by)s, ''))
ORDER BY m.position
"""


def get_batch(
    db: Database, batch_id: UUID, requested_by: str | None, *, any_caller: bool = False
) -> BatchRow | None:
    """The batch, if `requested_by` (the service token's `sub`) created it (`any_caller`: an
    operator's tool, whoever did)."""
    rows = db.fetch_all(_GET, {"id": batch_id, "requested_by": requested_by, "any_caller": any_caller})
    if not rows:
        return None
    first = rows[0]
    batch = BatchRow(
        batch_id=first["id"],
        name=first["name"],
        weeks=first["weeks"],
        created_at=first["created_at"],
        cancel_requested=first["cancel_requested"],
        unsaved=UnsavedUsage(
            answers=int(first["unsaved_answers"]),
            input_tokens=int(first["unsaved_input_tokens"]),
            output_tokens=int(first["unsaved_output_tokens"]),
            cost_usd=float(first["unsaved_cost_usd"]),
        ),
    )
    for r in rows:
        if r["user_id"] is None:  # no member at all (never written by create_batch)
            continue
        batch.members.append(
            MemberRow(
                user_id=r["user_id"],
                program_id=r["program_id"],
                rejected=r["rejected"],
                status=r["generation_status"],
                error_code=r["error_code"],
                error_message=r["generation_error"],
                input_tokens=r["input_tokens"],
                output_tokens=r["output_tokens"],
                cost_usd=None if r["llm_cost_usd"] is None else float(r["llm_cost_usd"]),
                in_flight_program_id=r["in_flight_program_id"],
                in_flight_batch_id=r["in_flight_batch_id"],
            )
        )
    return batch


_LIST = f"""
SELECT b.id, b.name, b.weeks, b.created_at, b.cancel_requested_at IS NOT NULL AS cancel_requested,
       (SELECT count(*) FROM generation_batch_members m WHERE m.batch_id = b.id)::int AS members,
       NOT EXISTS (
           SELECT 1 FROM generation_batch_members m JOIN training_programs tp ON tp.id = m.program_id
           WHERE m.batch_id = b.id
             AND tp.generation_status IN ('pending', '{BATCHED}', 'processing', '{CANCELLING}')
       ) AS ended
FROM generation_batches b
WHERE coalesce(b.requested_by, '') = coalesce(%(requested_by)s, '')
  AND (%(before_at)s::timestamptz IS NULL OR (b.created_at, b.id) < (%(before_at)s, %(before_id)s::uuid))
ORDER BY b.created_at DESC, b.id DESC
LIMIT %(limit)s
"""


@dataclass(frozen=True, slots=True)
class BatchListRow:
    batch_id: UUID
    name: str
    weeks: int
    created_at: datetime
    cancel_requested: bool
    members: int
    ended: bool


def list_batches(
    db: Database, requested_by: str | None, *, limit: int, before: tuple[datetime, UUID] | None
) -> list[BatchListRow]:
    """`requested_by`'s batches, newest first, after the position `before` (a page's last row)."""
    rows = db.fetch_all(
        _LIST,
        {
            "requested_by": requested_by,
            "limit": limit,
            "before_at": before[0] if before else None,
            "before_id": before[1] if before else None,
        },
    )
    return [
        BatchListRow(
            batch_id=r["id"],
            name=r["name"],
            weeks=r["weeks"],
            created_at=r["created_at"],
            cancel_requested=r["cancel_requested"],
            members=r["members"],
            ended=r["ended"],
        )
        for r in rows
    ]


# --- Cancelling a batch ------------------------------------------------------------------------------

# As a user's cancel does it (tpg.store.repository), for every member at once: waiting members
# (batched or pending) are cancelled at once; processing ones become cancelling (their worker stops
# at its next checkpoint). Members already final stay as they are. The batch step then asks the
# Message Batches still running to stop.
_CANCEL = f"""
WITH target AS (
    SELECT id FROM generation_batches
    WHERE id = %(id)s AND (%(any_caller)s OR coalesce(requested_by, '') = coalesce(%(requested_by)s, ''))
),
changed AS (
    UPDATE training_programs tp
    SET generation_status = CASE WHEN tp.generation_status = 'processing' THEN '{CANCELLING}'
                                 ELSE 'cancelled' END,
        stage = CASE WHEN tp.generation_status = 'processing' THEN tp.stage END,
        progress = CASE WHEN tp.generation_status = 'processing' THEN tp.progress ELSE 0 END,
        -- BATCH_CANCELLED: the batch's caller cancelled it, not the user (CANCELLED)
        error_code = CASE WHEN tp.generation_status = 'processing' THEN tp.error_code
                          ELSE 'BATCH_CANCELLED' END,
        generation_error = CASE WHEN tp.generation_status = 'processing' THEN tp.generation_error
                                ELSE %(message)s END,
        lease_expires_at = CASE WHEN tp.generation_status = 'processing' THEN tp.lease_expires_at END,
        -- never before the write it waited for (tpg.store.repository, `_TOUCHED`), and one instant
        -- for both: a cancel recorded at once has no time to stop (`tpg stats`)
        (cancel_requested_at, updated_at) = (
            SELECT t, t
            FROM (SELECT greatest(clock_timestamp(), tp.updated_at + interval '1 microsecond') AS t) AS x
        )
    FROM target
    WHERE tp.batch_id = target.id AND tp.generation_status IN ('pending', '{BATCHED}', 'processing')
    RETURNING {_STATE_COLUMNS}
),
-- the step asks the batch's running Message Batches to stop
flagged AS (
    UPDATE generation_batches b SET cancel_requested_at = coalesce(b.cancel_requested_at, now())
    FROM target WHERE b.id = target.id AND EXISTS (SELECT 1 FROM changed)
    RETURNING b.id
)
SELECT (SELECT count(*) FROM target) > 0 AS found,
       EXISTS (
           SELECT 1 FROM training_programs t, target
           WHERE t.batch_id = target.id AND t.generation_status IN ('{CANCELLING}')
       ) AS stopping,
       changed.*
FROM (SELECT 1) one LEFT JOIN changed ON true
"""


@dataclass(frozen=True, slots=True)
class BatchCancelOutcome:
    found: bool
    states: list[JobState] = field(default_factory=list)  # the members this statement changed
    # members that were already being stopped (a repeated cancel changes nothing and is not an error)
    stopping: bool = False


def cancel_batch(
    db: Database, batch_id: UUID, requested_by: str | None, *, any_caller: bool = False
) -> BatchCancelOutcome:
    """Cancel the batch, if `requested_by` (the service token's `sub`) created it (`any_caller`:
    an operator's tool, whoever did)."""
    rows = db.fetch_all(
        _CANCEL,
        {
            "id": batch_id,
            "message": BATCH_CANCELLED_MESSAGE,
            "requested_by": requested_by,
            "any_caller": any_caller,
        },
    )
    if not rows or not rows[0]["found"]:
        return BatchCancelOutcome(found=False)
    states = [JobState.from_row(r) for r in rows if r["id"] is not None]
    return BatchCancelOutcome(found=True, states=states, stopping=rows[0]["stopping"])


# --- Submitting: members to a Message Batch ------------------------------------------------------------

# Take up to `size` members of the oldest batch with members not yet submitted, in a new chunk held
# by this step for `lease` seconds, and read what their prompts need, in one round trip. SKIP LOCKED:
# two steps at once take different members.
_OPEN_CHUNK = f"""
WITH next_batch AS (
    SELECT m.batch_id FROM generation_batch_members m
    JOIN training_programs tp ON tp.id = m.program_id
    JOIN generation_batches b ON b.id = m.batch_id
    WHERE m.chunk_id IS NULL AND m.fallback_at IS NULL AND tp.generation_status = '{BATCHED}'
    ORDER BY b.created_at, b.id
    LIMIT 1
),
picked AS (
    SELECT m.batch_id, m.position FROM generation_batch_members m
    JOIN training_programs tp ON tp.id = m.program_id
    WHERE m.batch_id = (SELECT batch_id FROM next_batch)
      AND m.chunk_id IS NULL AND m.fallback_at IS NULL AND tp.generation_status = '{BATCHED}'
    ORDER BY m.position
    LIMIT %(size)s
    FOR UPDATE OF m SKIP LOCKED
),
chunk AS (
    INSERT INTO generation_batch_chunks (batch_id, lease_expires_at, model, ask)
    SELECT DISTINCT picked.batch_id, now() + make_interval(secs => %(lease)s), %(model)s, %(ask)s
    FROM picked
    RETURNING id
),
assigned AS (
    UPDATE generation_batch_members m SET chunk_id = chunk.id
    FROM chunk, picked
    WHERE m.batch_id = picked.batch_id AND m.position = picked.position
    RETURNING m.program_id, chunk.id AS chunk_id
)
SELECT a.chunk_id, tp.id, tp.user_id, tp.request, {_PROFILE_COLUMNS}
FROM assigned a
JOIN training_programs tp ON tp.id = a.program_id
LEFT JOIN profiles p ON p.id = tp.user_id
LEFT JOIN onboarding_responses o ON o.user_id = tp.user_id
"""


@dataclass(frozen=True, slots=True)
class MemberJob:
    """What a member's prompt (or its answer's validation) needs: its request and its user's data."""

    program_id: UUID
    request: JobRequest
    profile: ProfileRow


@dataclass(frozen=True, slots=True)
class ChunkWork:
    chunk_id: UUID
    members: list[MemberJob]


def _member_job(row: dict[str, Any]) -> MemberJob:
    return MemberJob(
        program_id=row["id"],
        request=JobRequest.from_json(row["request"]),
        profile=ProfileRow.from_row(row),
    )


def open_chunk(db: Database, *, size: int, lease_seconds: int, model: str, ask: str) -> ChunkWork | None:
    rows = db.fetch_all(_OPEN_CHUNK, {"size": size, "lease": lease_seconds, "model": model, "ask": ask})
    if not rows:
        return None
    return ChunkWork(chunk_id=rows[0]["chunk_id"], members=[_member_job(r) for r in rows])


def record_submitted(db: Database, chunk_id: UUID, message_batch_id: str) -> bool:
    """The chunk is at the API as `message_batch_id`. False when this step no longer held it (its
    lease ran out and another step abandoned it): the Message Batch is then an orphan."""
    row = db.fetch_one(
        "UPDATE generation_batch_chunks SET state = 'in_progress', message_batch_id = %(mb)s,"
        " submitted_at = now(), lease_expires_at = NULL, updated_at = now()"
        " WHERE id = %(id)s AND state = 'submitting' RETURNING id",
        {"id": chunk_id, "mb": message_batch_id},
    )
    return row is not None


# A chunk that never reached the API (the call failed, or its step died): its members not queued
# otherwise are free to be submitted again. `stale_only`: every chunk whose step's lease ran out.
_ABANDON = """
WITH chunk AS (
    UPDATE generation_batch_chunks SET state = 'abandoned', lease_expires_at = NULL, updated_at = now()
    WHERE state = 'submitting'
      AND ((%(id)s::uuid IS NOT NULL AND id = %(id)s) OR (%(id)s::uuid IS NULL AND lease_expires_at < now()))
    RETURNING id
)
UPDATE generation_batch_members m SET chunk_id = NULL
FROM chunk
WHERE m.chunk_id = chunk.id AND m.fallback_at IS NULL
RETURNING m.program_id
"""


def abandon_chunk(db: Database, chunk_id: UUID) -> int:
    return len(db.fetch_all(_ABANDON, {"id": chunk_id}))


def abandon_stale_submissions(db: Database) -> int:
    return len(db.fetch_all(_ABANDON, {"id": None}))


# --- Polling and collecting ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenChunk:
    chunk_id: UUID
    batch_id: UUID
    state: str  # in_progress | ended
    message_batch_id: str
    model: str
    ask: str
    cancel_requested: bool  # its batch was cancelled
    cancel_sent: bool  # and the Message Batch was asked to stop


def open_chunks(db: Database) -> list[OpenChunk]:
    rows = db.fetch_all(
        "SELECT c.id, c.batch_id, c.state, c.message_batch_id, c.model, c.ask,"
        " b.cancel_requested_at IS NOT NULL AS cancel_requested, c.cancel_sent_at IS NOT NULL AS cancel_sent"
        " FROM generation_batch_chunks c JOIN generation_batches b ON b.id = c.batch_id"
        " WHERE c.state IN ('in_progress', 'ended') ORDER BY c.created_at"
    )
    return [
        OpenChunk(
            chunk_id=r["id"],
            batch_id=r["batch_id"],
            state=r["state"],
            message_batch_id=r["message_batch_id"],
            model=r["model"],
            ask=r["ask"],
            cancel_requested=r["cancel_requested"],
            cancel_sent=r["cancel_sent"],
        )
        for r in rows
    ]


def record_cancel_sent(db: Database, chunk_id: UUID) -> None:
    db.fetch_one(
        "UPDATE generation_batch_chunks SET cancel_sent_at = now(), updated_at = now()"
        " WHERE id = %(id)s RETURNING id",
        {"id": chunk_id},
    )


def record_ended(db: Database, chunk_id: UUID, request_counts: dict[str, int]) -> None:
    db.fetch_one(
        "UPDATE generation_batch_chunks SET state = 'ended', ended_at = now(), request_counts = %(counts)s,"
        " updated_at = now() WHERE id = %(id)s AND state = 'in_progress' RETURNING id",
        {"id": chunk_id, "counts": Jsonb(request_counts)},
    )


def take_for_collecting(db: Database, chunk_id: UUID, *, lease_seconds: int) -> bool:
    """Hold an ended chunk for collecting its results; False when another step holds it."""
    row = db.fetch_one(
        "UPDATE generation_batch_chunks SET lease_expires_at = now() + make_interval(secs => %(lease)s),"
        " updated_at = now()"
        " WHERE id = %(id)s AND state = 'ended' AND (lease_expires_at IS NULL OR lease_expires_at < now())"
        " RETURNING id",
        {"id": chunk_id, "lease": lease_seconds},
    )
    return row is not None


def release_chunk(db: Database, chunk_id: UUID) -> None:
    """Stop collecting for now (the step's time is up): the next step goes on at once."""
    db.fetch_one(
        "UPDATE generation_batch_chunks SET lease_expires_at = NULL, updated_at = now()"
        " WHERE id = %(id)s RETURNING id",
        {"id": chunk_id},
    )


def awaiting_results(db: Database, chunk_id: UUID) -> dict[UUID, MemberJob]:
    """The chunk's members still waiting for their answer to be judged, with their user's data."""
    rows = db.fetch_all(
        f"SELECT tp.id, tp.user_id, tp.request, {_PROFILE_COLUMNS}"  # noqa: S608 - constant columns
        " FROM generation_batch_members m JOIN training_programs tp ON tp.id = m.program_id"
        " LEFT JOIN profiles p ON p.id = tp.user_id"
        " LEFT JOIN onboarding_responses o ON o.user_id = tp.user_id"
        f" WHERE m.chunk_id = %(id)s AND m.fallback_at IS NULL AND tp.generation_status = '{BATCHED}'",
        {"id": chunk_id},
    )
    return {r["id"]: _member_job(r) for r in rows}


def answers_held(db: Database, chunk_id: UUID) -> set[UUID]:
    """The chunk's members whose answer a program holds or will hold: completed from it, or sent to
    the queue (with it, when it was a succeeded one). The others' succeeded answers are unsaved."""
    rows = db.fetch_all(
        "SELECT m.program_id FROM generation_batch_members m"
        " JOIN training_programs tp ON tp.id = m.program_id"
        " WHERE m.chunk_id = %(id)s AND (m.fallback_at IS NOT NULL OR tp.generation_status <> 'cancelled')",
        {"id": chunk_id},
    )
    return {r["program_id"] for r in rows}


@dataclass(frozen=True, slots=True)
class MemberResult:
    """A member's program from its batch answer, with what the pipeline records beside it."""

    program: dict[str, Any]
    provider: str
    model: str | None
    fallback_tier: str
    validation_report: dict[str, Any]
    usage: dict[str, Any]
    llm: LlmRecord


def complete_member(db: Database, chunk_id: UUID, program_id: UUID, result: MemberResult) -> JobState | None:
    """batched -> completed with the program its answer wrote. None when the member is no longer
    waiting on this chunk's answer (cancelled, already moved by an earlier run of the step)."""
    llm = result.llm
    row = db.fetch_one(
        f"""
        UPDATE training_programs tp
        SET generation_status = 'completed', program = %(program)s, stage = NULL, progress = 100,
            provider = %(provider)s, model = %(model)s, fallback_tier = %(fallback_tier)s,
            validation_report = %(report)s, usage = %(usage)s,
            request_fingerprint = %(fingerprint)s, prompt_version = %(prompt_version)s,
            llm_requests = %(llm_requests)s, input_tokens = %(input_tokens)s,
            output_tokens = %(output_tokens)s, cache_read_tokens = %(cache_read_tokens)s,
            cache_write_tokens = %(cache_write_tokens)s, thinking_tokens = %(thinking_tokens)s,
            llm_cost_usd = %(llm_cost_usd)s, error_code = NULL, generation_error = NULL,
            completed_at = now(),
            updated_at = greatest(clock_timestamp(), tp.updated_at + interval '1 microsecond')
        FROM generation_batch_members m
        WHERE tp.id = %(id)s AND tp.generation_status = '{BATCHED}'
          AND m.program_id = tp.id AND m.chunk_id = %(chunk)s AND m.fallback_at IS NULL
        RETURNING {_STATE_COLUMNS}
        """,
        {
            "id": program_id,
            "chunk": chunk_id,
            "program": Jsonb(result.program),
            "provider": result.provider,
            "model": result.model,
            "fallback_tier": result.fallback_tier,
            "report": Jsonb(result.validation_report),
            "usage": Jsonb(result.usage),
            "fingerprint": llm.request_fingerprint,
            "prompt_version": llm.prompt_version,
            "llm_requests": llm.llm_requests,
            "input_tokens": llm.input_tokens,
            "output_tokens": llm.output_tokens,
            "cache_read_tokens": llm.cache_read_tokens,
            "cache_write_tokens": llm.cache_write_tokens,
            "thinking_tokens": llm.thinking_tokens,
            "llm_cost_usd": llm.llm_cost_usd,
        },
    )
    return JobState.from_row(row) if row else None


def return_to_submission(db: Database, chunk_id: UUID, program_ids: Sequence[UUID]) -> None:
    """Members taken for a chunk that did not fit in it: the next chunk takes them."""
    db.fetch_all(
        "UPDATE generation_batch_members SET chunk_id = NULL"
        " WHERE chunk_id = %(chunk)s AND program_id = ANY(%(ids)s) AND fallback_at IS NULL"
        " RETURNING program_id",
        {"chunk": chunk_id, "ids": list(program_ids)},
    )


def send_to_queue(
    db: Database, items: Sequence[tuple[UUID, dict[str, Any] | None]], *, chunk_id: UUID | None = None
) -> list[UUID]:
    """Mark members to go through the normal queue (with their answer, for the repair round, or
    None); `release_to_queue` then queues them a few at a time. With `chunk_id`, only members still
    waiting on that chunk's answers. Returns the members marked by this call."""
    if not items:
        return []
    rows = db.fetch_all(
        f"""
        UPDATE generation_batch_members m SET fallback_at = now(), answer = given.answer
        FROM unnest(%(ids)s::uuid[], %(answers)s::jsonb[]) AS given(program_id, answer), training_programs tp
        WHERE m.program_id = given.program_id AND tp.id = m.program_id AND tp.generation_status = '{BATCHED}'
          AND m.fallback_at IS NULL AND (%(chunk)s::uuid IS NULL OR m.chunk_id = %(chunk)s)
        RETURNING m.program_id
        """,
        {
            "ids": [program_id for program_id, _ in items],
            "answers": [None if answer is None else Jsonb(answer) for _, answer in items],
            "chunk": chunk_id,
        },
    )
    return [r["program_id"] for r in rows]


@dataclass(frozen=True, slots=True)
class Collected:
    missing: int  # members it had no result for (sent to the queue)
    recorded: bool  # this call collected it (its unsaved usage was written now, once)


def finish_collecting(db: Database, chunk_id: UUID, unsaved: UnsavedUsage | None = None) -> Collected:
    """Every result of the chunk was read: members it had no result for go to the queue too, and the
    chunk is collected with its unsaved usage (written once: a chunk collected already keeps its)."""
    unsaved = unsaved or UnsavedUsage()
    row = db.fetch_one(
        f"""
        WITH missing AS (
            UPDATE generation_batch_members m SET fallback_at = now()
            FROM training_programs tp
            WHERE m.chunk_id = %(id)s AND m.fallback_at IS NULL
              AND tp.id = m.program_id AND tp.generation_status = '{BATCHED}'
            RETURNING m.program_id
        ),
        chunk AS (
            UPDATE generation_batch_chunks
            SET state = 'collected', collected_at = now(), lease_expires_at = NULL, updated_at = now(),
                unsaved_answers = %(answers)s, unsaved_input_tokens = %(input)s,
                unsaved_output_tokens = %(output)s, unsaved_cost_usd = %(cost)s
            WHERE id = %(id)s AND state <> 'collected'
            RETURNING id
        )
        SELECT (SELECT count(*) FROM missing)::int AS missing, (SELECT count(*) FROM chunk)::int AS chunks
        """,
        {
            "id": chunk_id,
            "answers": unsaved.answers,
            "input": unsaved.input_tokens,
            "output": unsaved.output_tokens,
            "cost": round(unsaved.cost_usd, 6),
        },
    )
    assert row is not None  # an aggregate always yields one row
    return Collected(missing=int(row["missing"]), recorded=bool(row["chunks"]))


# Members marked for the queue -> pending at the lowest priority, oldest first: at most `slots` batch
# members in the queue (pending or processing) at once (None: no bound). Their event is left to the
# sweeper's re-dispatch step (dispatched_at NULL), which dispatches the most urgent rows first.
_RELEASE = f"""
WITH room AS (
    SELECT CASE WHEN %(slots)s::int IS NULL THEN NULL
                ELSE greatest(0, %(slots)s::int - count(*))::int END AS n
    FROM training_programs
    WHERE batch_id IS NOT NULL AND generation_status IN ('pending', 'processing')
),
picked AS (
    SELECT tp.id FROM generation_batch_members m
    JOIN training_programs tp ON tp.id = m.program_id
    WHERE m.fallback_at IS NOT NULL AND tp.generation_status = '{BATCHED}'
    ORDER BY m.fallback_at, m.batch_id, m.position
    LIMIT (SELECT n FROM room)
    FOR UPDATE OF tp SKIP LOCKED
)
UPDATE training_programs tp
SET generation_status = 'pending', stage = 'queued', progress = 0, dispatched_at = NULL,
    queued_at = now(), ranked_at = now() - make_interval(secs => tp.priority * %(aging)s),
    updated_at = greatest(clock_timestamp(), tp.updated_at + interval '1 microsecond')
FROM picked
WHERE tp.id = picked.id AND tp.generation_status = '{BATCHED}'
RETURNING {_STATE_COLUMNS}
"""


def release_to_queue(db: Database, *, slots: int | None, aging_seconds: float) -> list[JobState]:
    rows = db.fetch_all(_RELEASE, {"slots": slots, "aging": aging_seconds})
    return [JobState.from_row(r) for r in rows]


def queue_every_waiting_member(db: Database) -> int:
    """No Message Batches here (the rules engine serves): every member still batched goes to the queue."""
    rows = db.fetch_all(
        f"""
        UPDATE generation_batch_members m SET fallback_at = now()
        FROM training_programs tp
        WHERE tp.id = m.program_id AND tp.generation_status = '{BATCHED}' AND m.fallback_at IS NULL
        RETURNING m.program_id
        """
    )
    return len(rows)


def queue_overdue_members(db: Database, *, chunk_seconds: int, member_seconds: int) -> int:
    """Members still waiting on a Message Batch submitted over `chunk_seconds` ago, or batched over
    `member_seconds` ago: marked for the queue (its lowest priority, the normal tiers). A late answer
    for them changes nothing (only members with no queue mark are judged)."""
    rows = db.fetch_all(
        f"""
        UPDATE generation_batch_members m SET fallback_at = now()
        FROM training_programs tp
        WHERE tp.id = m.program_id AND tp.generation_status = '{BATCHED}' AND m.fallback_at IS NULL
          AND (
            tp.created_at < now() - make_interval(secs => %(member)s)
            OR EXISTS (
                SELECT 1 FROM generation_batch_chunks c
                WHERE c.id = m.chunk_id AND c.submitted_at < now() - make_interval(secs => %(chunk)s)
            )
          )
        RETURNING m.program_id
        """,
        {"chunk": chunk_seconds, "member": member_seconds},
    )
    return len(rows)


def stored_answer(db: Database, program_id: UUID) -> dict[str, Any] | None:
    """A member's kept batch answer (the worker's repair round), or None."""
    row = db.fetch_one(
        "SELECT answer FROM generation_batch_members WHERE program_id = %(id)s", {"id": program_id}
    )
    return row["answer"] if row else None


@dataclass(frozen=True, slots=True)
class WaitingFigures:
    batched: int  # members waiting on their Message Batch or for room in the queue
    oldest_seconds: float  # since the longest-waiting one was created


def waiting_figures(db: Database) -> WaitingFigures:
    row = db.fetch_one(
        "SELECT count(*)::int AS n,"
        " coalesce(extract(epoch FROM now() - min(created_at)), 0)::float AS oldest"
        f" FROM training_programs WHERE generation_status = '{BATCHED}'"
    )
    assert row is not None  # an aggregate always yields one row
    return WaitingFigures(batched=row["n"], oldest_seconds=max(0.0, row["oldest"]))
