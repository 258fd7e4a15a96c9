"""Every SQL statement the service runs, one function each, one round trip each. Each takes the
`Database` to run on (the handler's, from its composition root) and returns typed values only.

The API's statements (accept, status, list, retry) run as the caller under Row Level Security
(`as_user`): their user filter and the database's policies are two walls, not one.

State changes are single conditional statements: the condition lives in the WHERE clause and
the database enforces the invariants (CHECK, partial unique index, foreign keys). Writes by a
worker are fenced by the attempt number it claimed, so a worker whose lease was taken over
can no longer change the row. Each state change returns the row's new state (`JobState`), so
whatever announces it (events, live updates) needs no second read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb

from tpg.store.db import Database
from tpg.store.rows import (
    BATCHED,
    CANCELLED_MESSAGE,
    CANCELLING,
    CachedProgramRow,
    ClaimedJob,
    GenerationStatus,
    JobRequest,
    JobState,
    ProfileRow,
    ProgramRow,
)

_PROGRAM_COLUMNS = """
    id, user_id, name, generation_status, stage, progress, error_code, generation_error,
    created_at, updated_at, completed_at, batch_id
"""
# What a state change returns (`JobState.from_row`).
_STATE_COLUMNS = "id, user_id, generation_status, stage, progress, error_code, generation_error, updated_at"

_TP_STATE_COLUMNS = ", ".join(f"tp.{column.strip()}" for column in _STATE_COLUMNS.split(","))

# A generation's place in the claim order: now, moved earlier by the aging step per priority point
# (docs/architecture.md, "Queue order"). Set at accept and at a retry; a release keeps it.
_RANK_NOW = "now() - make_interval(secs => tier.priority * %(aging_seconds)s)"

# `updated_at` of every write to a row: its clock time, and always after the write before it.
# now() is the transaction's start, so a statement that waited for a row lock (a cancel behind a
# progress write) would commit an updatedAt older than the write it waited for, and clients keep
# the greatest (docs/frontend.md, "Live updates"); clock_timestamp() is read as the row is written.
_TOUCHED = "greatest(clock_timestamp(), updated_at + interval '1 microsecond')"
_TP_TOUCHED = "greatest(clock_timestamp(), tp.updated_at + interval '1 microsecond')"

# A user may request a program when subscribed, onboarded and under the tier's daily quota; the
# checks, the insert and its entry in generation_requests are one statement. ON CONFLICT against
# the one-in-flight index makes a concurrent second request a no-op (and so also serialises the
# quota count per user). The tier's priority and wait bound are stored with the row.
_ACCEPT = f"""
WITH quota AS (
    SELECT * FROM generation_quota(%(user_id)s, %(default_quota)s)
),
tier AS (
    SELECT * FROM generation_tier(%(user_id)s, %(default_max_wait)s)
),
caller AS (
    SELECT
        quota.subscribed,
        EXISTS (
            SELECT 1 FROM onboarding_responses o JOIN profiles p ON p.id = o.user_id
            WHERE o.user_id = %(user_id)s
              AND o.completed_at IS NOT NULL
              AND o.goal IS NOT NULL AND o.experience IS NOT NULL AND p.sex IS NOT NULL
              -- the ranges tpg.user_data.UserData accepts (tests/integration/test_api.py keeps
              -- them in step), so a request the pipeline would refuse is refused here, at once
              AND o.days_per_week BETWEEN 1 AND 7
              AND o.session_minutes BETWEEN 20 AND 180
              AND extract(year FROM now())::int - p.birth_year BETWEEN 13 AND 100
              AND p.height_cm > 100 AND p.height_cm < 250
              AND p.weight_kg > 30 AND p.weight_kg < 300
        ) AS onboarded,
        EXISTS (
            SELECT 1 FROM training_programs
            WHERE user_id = %(user_id)s AND generation_status IN ('pending', '{BATCHED}', 'processing')
        ) AS in_flight,
        quota.under_quota,
        quota.resets_in AS quota_resets_in
    FROM quota
),
inserted AS (
    INSERT INTO training_programs (
        user_id, name, request, max_attempts, stage, dispatched_at, dispatch_count,
        priority, max_wait_seconds, queued_at, ranked_at
    )
    SELECT %(user_id)s, %(name)s, %(request)s, %(max_attempts)s, 'queued', now(), 1,
           tier.priority, tier.max_wait_seconds, now(), {_RANK_NOW}
    FROM caller, tier
    WHERE caller.subscribed AND caller.onboarded AND caller.under_quota
    ON CONFLICT (user_id) WHERE generation_status IN ('pending', 'processing') DO NOTHING
    RETURNING {_STATE_COLUMNS}
),
logged AS (
    INSERT INTO generation_requests (user_id, program_id, kind)
    SELECT %(user_id)s, id, 'new' FROM inserted
)
SELECT caller.subscribed, caller.onboarded, caller.in_flight, caller.under_quota, caller.quota_resets_in,
       inserted.*
FROM caller LEFT JOIN inserted ON true
"""

# In flight: pending, processing, or a batch member waiting on its Message Batch (tpg.store.batches).
_IN_FLIGHT_FOR_USER = f"""
SELECT id FROM training_programs
WHERE user_id = %(user_id)s AND generation_status IN ('pending', '{BATCHED}', 'processing')
"""


@dataclass(frozen=True, slots=True)
class AcceptOutcome:
    subscribed: bool
    onboarded: bool
    in_flight: bool  # as this statement saw it; a concurrent winner shows as program_id None
    under_quota: bool
    quota_resets_in: int | None
    program_id: UUID | None
    state: JobState | None = None  # the new row's (pending, queued)


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    """How the accept and retry statements place a generation in the queue (from the settings):
    the aging step per priority point, and the wait bound of a tier without a row."""

    aging_seconds: float
    default_max_wait_seconds: int

    def params(self) -> dict[str, Any]:
        return {"aging_seconds": self.aging_seconds, "default_max_wait": self.default_max_wait_seconds}


def accept_generation_request(
    db: Database,
    user_id: UUID,
    *,
    name: str,
    request: dict[str, Any],
    max_attempts: int,
    default_quota: int,
    queue: QueuePolicy,
) -> AcceptOutcome:
    row = db.fetch_one(
        _ACCEPT,
        {
            "user_id": user_id,
            "name": name,
            "request": Jsonb(request),
            "max_attempts": max_attempts,
            "default_quota": default_quota,
            **queue.params(),
        },
        as_user=user_id,
    )
    assert row is not None  # the caller CTE always yields one row
    return AcceptOutcome(
        subscribed=row["subscribed"],
        onboarded=row["onboarded"],
        in_flight=row["in_flight"],
        under_quota=row["under_quota"],
        quota_resets_in=row["quota_resets_in"],
        program_id=row["id"],
        state=JobState.from_row(row) if row["id"] is not None else None,
    )


def in_flight_program_id(db: Database, user_id: UUID) -> UUID | None:
    row = db.fetch_one(_IN_FLIGHT_FOR_USER, {"user_id": user_id}, as_user=user_id)
    return row["id"] if row else None


def get_program(db: Database, program_id: UUID, user_id: UUID) -> ProgramRow | None:
    row = db.fetch_one(
        f"SELECT {_PROGRAM_COLUMNS}, program FROM training_programs"  # noqa: S608 - constant columns
        " WHERE id = %(id)s AND user_id = %(user_id)s",
        {"id": program_id, "user_id": user_id},
        as_user=user_id,
    )
    return ProgramRow.model_validate(row) if row else None


def list_programs(
    db: Database, user_id: UUID, *, limit: int, before: tuple[datetime, UUID] | None
) -> list[ProgramRow]:
    """The user's programs, newest first, keyset-paginated on (created_at, id)."""
    rows = db.fetch_all(
        f"SELECT {_PROGRAM_COLUMNS} FROM training_programs"  # noqa: S608 - constant columns
        " WHERE user_id = %(user_id)s"
        "   AND (%(before_ts)s::timestamptz IS NULL OR (created_at, id) < (%(before_ts)s, %(before_id)s))"
        " ORDER BY created_at DESC, id DESC LIMIT %(limit)s",
        {
            "user_id": user_id,
            "before_ts": before[0] if before else None,
            "before_id": before[1] if before else None,
            "limit": limit,
        },
        as_user=user_id,
    )
    return [ProgramRow.model_validate(r) for r in rows]


# failed or cancelled -> pending, by its owner, with a subscription, under the quota. `target`
# tells "not yours" from "not final". The row is queued anew at the tier's current priority.
_RETRY = f"""
WITH target AS (
    SELECT id, generation_status FROM training_programs
    WHERE id = %(id)s AND user_id = %(user_id)s
),
quota AS (
    SELECT * FROM generation_quota(%(user_id)s, %(default_quota)s)
),
tier AS (
    SELECT * FROM generation_tier(%(user_id)s, %(default_max_wait)s)
),
updated AS (
    UPDATE training_programs tp
    -- attempts only ever go up (workers' writes are fenced by them): a retry grants more
    SET generation_status = 'pending', stage = 'queued', progress = 0,
        max_attempts = tp.attempts + %(max_attempts)s, lease_expires_at = NULL,
        error_code = NULL, generation_error = NULL, completed_at = NULL, started_at = NULL,
        cancel_requested_at = NULL, dispatched_at = now(), dispatch_count = 1,
        priority = tier.priority, max_wait_seconds = tier.max_wait_seconds,
        queued_at = now(), ranked_at = {_RANK_NOW}, updated_at = {_TP_TOUCHED},
        -- a batch member's retry is the user's own request: out of the batch (a batch cancel
        -- leaves it alone), at the user's tier; the batch's kept answer is only read for rows
        -- with a batch id (tpg.worker.generation), so it is not used again
        batch_id = NULL
    FROM target, quota, tier
    WHERE tp.id = target.id AND tp.generation_status IN ('failed', 'cancelled')
      AND quota.subscribed AND quota.under_quota
    RETURNING {_TP_STATE_COLUMNS}
),
logged AS (
    INSERT INTO generation_requests (user_id, program_id, kind)
    SELECT %(user_id)s, id, 'retry' FROM updated
)
SELECT target.generation_status AS status_before, quota.subscribed, quota.under_quota,
       quota.resets_in AS quota_resets_in, updated.*
FROM target CROSS JOIN quota LEFT JOIN updated ON true
"""


@dataclass(frozen=True, slots=True)
class RetryOutcome:
    found: bool
    subscribed: bool = False
    retryable: bool = False  # the program was failed or cancelled, the statuses a retry applies to
    under_quota: bool = True
    quota_resets_in: int | None = None
    state: JobState | None = None  # set when retried: the row's new state (pending, queued)
    # the user already has another generation in flight (the one-in-flight index refused it)
    in_flight_conflict: bool = False

    @property
    def retried(self) -> bool:
        return self.state is not None


def retry_program(
    db: Database,
    program_id: UUID,
    user_id: UUID,
    *,
    max_attempts: int,
    default_quota: int,
    queue: QueuePolicy,
) -> RetryOutcome:
    try:
        row = db.fetch_one(
            _RETRY,
            {
                "id": program_id,
                "user_id": user_id,
                "max_attempts": max_attempts,
                "default_quota": default_quota,
                **queue.params(),
            },
            as_user=user_id,
        )
    except UniqueViolation:
        return RetryOutcome(found=True, subscribed=True, retryable=True, in_flight_conflict=True)
    if row is None:
        return RetryOutcome(found=False)
    return RetryOutcome(
        found=True,
        subscribed=row["subscribed"],
        retryable=row["status_before"] in (GenerationStatus.FAILED, GenerationStatus.CANCELLED),
        under_quota=row["under_quota"],
        quota_resets_in=row["quota_resets_in"],
        state=JobState.from_row(row) if row["id"] is not None else None,
    )


# pending (or batched: a batch member waiting) -> cancelled at once; processing -> cancelling (its
# worker stops at its next checkpoint).
# One statement, so a cancel racing the claim is decided by the row lock: whichever commits second
# sees the other's row (EvalPlanQual re-reads it), and the CASEs apply to what it sees. `target`
# takes the lock itself (FOR UPDATE), so the status it reports is the one read after the wait: a
# second cancel queued behind the first sees `cancelling` (202 again), not its pre-lock snapshot.
# A cancel before the generation ever started gives its request back to the quota.
_CANCEL = f"""
WITH target AS (
    SELECT id, generation_status FROM training_programs
    WHERE id = %(id)s AND user_id = %(user_id)s
    FOR UPDATE
),
changed AS (
    UPDATE training_programs tp
    SET generation_status = CASE WHEN tp.generation_status <> 'processing' THEN 'cancelled'
                                 ELSE '{CANCELLING}' END,
        stage = CASE WHEN tp.generation_status <> 'processing' THEN NULL ELSE tp.stage END,
        progress = CASE WHEN tp.generation_status <> 'processing' THEN 0 ELSE tp.progress END,
        error_code = CASE WHEN tp.generation_status <> 'processing' THEN 'CANCELLED' ELSE tp.error_code END,
        generation_error = CASE WHEN tp.generation_status <> 'processing' THEN %(message)s
                                ELSE tp.generation_error END,
        lease_expires_at = CASE WHEN tp.generation_status <> 'processing' THEN NULL
                                ELSE tp.lease_expires_at END,
        -- one instant for both: a cancel recorded at once has no time to stop (`tpg stats`)
        (cancel_requested_at, updated_at) = (SELECT t, t FROM (SELECT {_TP_TOUCHED} AS t) AS touched)
    FROM target
    WHERE tp.id = target.id AND tp.generation_status IN ('pending', '{BATCHED}', 'processing')
    RETURNING {_TP_STATE_COLUMNS},
              tp.started_at IS NULL AS never_started
),
refunded AS (
    UPDATE generation_requests SET refunded = true
    WHERE id = (
        SELECT id FROM generation_requests
        WHERE user_id = %(user_id)s AND program_id = %(id)s
        ORDER BY requested_at DESC LIMIT 1
    )
      AND EXISTS (SELECT 1 FROM changed WHERE generation_status = 'cancelled' AND never_started)
    RETURNING id
)
SELECT target.generation_status AS status_before, (SELECT count(*) > 0 FROM refunded) AS refunded,
       changed.*
FROM target LEFT JOIN changed ON true
"""


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    found: bool
    # the row's state after this statement: changed by it, or as it already was (a repeated cancel)
    status_before: str | None = None
    state: JobState | None = None  # set when this statement changed the row
    refunded: bool = False  # the request went back to the daily quota

    @property
    def already_final(self) -> bool:
        return self.state is None and self.status_before != CANCELLING


def cancel_program(db: Database, program_id: UUID, user_id: UUID) -> CancelOutcome:
    row = db.fetch_one(
        _CANCEL, {"id": program_id, "user_id": user_id, "message": CANCELLED_MESSAGE}, as_user=user_id
    )
    if row is None:
        return CancelOutcome(found=False)
    return CancelOutcome(
        found=True,
        status_before=row["status_before"],
        state=JobState.from_row(row) if row["id"] is not None else None,
        refunded=row["refunded"],
    )


def program_state(db: Database, program_id: UUID) -> JobState | None:
    """A program's current state (for whatever announces a change made elsewhere)."""
    row = db.fetch_one(
        f"SELECT {_STATE_COLUMNS} FROM training_programs WHERE id = %(id)s",  # noqa: S608 - constant columns
        {"id": program_id},
    )
    return JobState.from_row(row) if row else None


# --- The worker's statements -------------------------------------------------------------------

# I2: one conditional UPDATE claims a row; a duplicate or late event matches nothing. An invocation
# of generate is a unit of capacity: it claims the pending row ranked first (priority, then age,
# docs/architecture.md "Queue order"), whichever row its event names, skipping rows another claim
# or a cancel holds (SKIP LOCKED); the named row is taken by a later invocation. The named row is
# also claimable when its worker's lease ran out (a redelivered event). The same statement reads
# the profile and onboarding the pipeline needs (claim + read = one round trip).
_CLAIM = f"""
WITH first_pending AS (
    SELECT id, ranked_at FROM training_programs
    WHERE generation_status = 'pending' AND attempts < max_attempts
    ORDER BY ranked_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
),
named_expired AS (
    SELECT id, ranked_at FROM training_programs
    WHERE id = %(id)s AND generation_status = 'processing' AND lease_expires_at < now()
      AND attempts < max_attempts
    FOR UPDATE SKIP LOCKED
),
candidate AS (
    SELECT id FROM (SELECT * FROM first_pending UNION ALL SELECT * FROM named_expired) c
    ORDER BY ranked_at
    LIMIT 1
),
claimed AS (
    UPDATE training_programs tp
    SET generation_status = 'processing',
        attempts = tp.attempts + 1,
        lease_expires_at = now() + make_interval(secs => %(lease_seconds)s),
        started_at = coalesce(tp.started_at, now()), claimed_at = now(),
        stage = 'analyzing', progress = 5, dispatch_count = 0, claimed_by = %(worker)s,
        updated_at = {_TP_TOUCHED}
    FROM candidate
    -- the claimability again, not only the id: what the UPDATE re-reads after a lock wait must
    -- still be claimable (never a second claim of a row another statement just took)
    WHERE tp.id = candidate.id AND tp.attempts < tp.max_attempts
      AND (tp.generation_status = 'pending'
           OR (tp.generation_status = 'processing' AND tp.lease_expires_at < now()))
    RETURNING {_TP_STATE_COLUMNS}, tp.name, tp.request, tp.attempts, tp.max_attempts, tp.created_at,
              tp.priority, extract(epoch FROM now() - tp.queued_at)::float AS waited_seconds, tp.batch_id
)
SELECT c.*,
       p.birth_year, p.sex, p.height_cm, p.weight_kg,
       o.goal, o.experience, o.training_months, o.days_per_week, o.session_minutes,
       o.equipment, o.injuries, o.lifts, o.notes,
       o.injury_details, o.conditions, o.medical_clearance, o.pregnancy_weeks, o.postpartum_weeks,
       o.refused_exercises, o.max_dumbbell_kg, o.event_date
FROM claimed c
JOIN profiles p ON p.id = c.user_id
LEFT JOIN onboarding_responses o ON o.user_id = c.user_id
"""


def claim_generation(
    db: Database, program_id: UUID, *, lease_seconds: int, worker: str | None
) -> ClaimedJob | None:
    """Claim the most urgent claimable row (`program_id` names the event's row: also claimable when
    its lease ran out). None: nothing to claim."""
    row = db.fetch_one(_CLAIM, {"id": program_id, "lease_seconds": lease_seconds, "worker": worker})
    if row is None:
        return None
    return ClaimedJob(
        program_id=row["id"],
        attempt=row["attempts"],
        max_attempts=row["max_attempts"],
        name=row["name"],
        created_at=row["created_at"],
        request=JobRequest.from_json(row["request"]),
        profile=ProfileRow.from_row(row),
        priority=row["priority"],
        waited_seconds=max(0.0, row["waited_seconds"]),
        state=JobState.from_row(row),
        batch_id=row["batch_id"],
    )


def expire_lease_of(db: Database, worker: str) -> UUID | None:
    """The invocation `worker` died (on-failure record): end its lease now, so the sweeper
    reclaims its row (attempts left), fails it (none left) or, when a cancel was asked, records
    it cancelled, without waiting for the lease. The row is found by the invocation that claimed
    it, whichever row its event named. Returns that row's id (None: nothing in flight)."""
    row = db.fetch_one(
        f"UPDATE training_programs SET lease_expires_at = now(), updated_at = {_TOUCHED}"
        f" WHERE claimed_by = %(worker)s AND generation_status IN ('processing', '{CANCELLING}')"
        " RETURNING id",
        {"worker": worker},
    )
    return row["id"] if row else None


def release_claim(db: Database, worker: str) -> JobState | None:
    """A worker that is being stopped on purpose (`tpg serve` shutting down) hands its row back:
    pending at once, and the attempt it used is given back by raising `max_attempts` (attempts
    stay monotonic, so the stopped worker's writes stay fenced, as a retry does). It keeps its
    place in the queue. A row being cancelled is left to the sweeper, which records it cancelled."""
    row = db.fetch_one(
        "UPDATE training_programs SET generation_status = 'pending', stage = 'queued', progress = 0,"
        " lease_expires_at = NULL, dispatched_at = NULL, max_attempts = max_attempts + 1,"
        f" queued_at = now(), updated_at = {_TOUCHED}"
        " WHERE claimed_by = %(worker)s AND generation_status = 'processing'"
        f" RETURNING {_STATE_COLUMNS}",
        {"worker": worker},
    )
    return JobState.from_row(row) if row else None


# A checkpoint of the worker: the row is still its own (same attempt, processing or cancelling).
# On a processing row the progress is written; a cancelling one is only reported (the worker stops).
_RECORD_PROGRESS = f"""
UPDATE training_programs
SET stage = CASE WHEN generation_status = 'processing' THEN %(stage)s ELSE stage END,
    progress = CASE WHEN generation_status = 'processing' THEN %(progress)s ELSE progress END,
    updated_at = CASE WHEN generation_status = 'processing' THEN {_TOUCHED} ELSE updated_at END
WHERE id = %(id)s AND attempts = %(attempt)s AND generation_status IN ('processing', '{CANCELLING}')
RETURNING {_STATE_COLUMNS}
"""


def record_progress(
    db: Database, program_id: UUID, attempt: int, *, stage: str, progress: int
) -> JobState | None:
    """Write the stage and progress of attempt `attempt`. Returns the row's state (its
    `cancel_requested` tells the worker to stop), or None when the row is no longer this attempt's."""
    row = db.fetch_one(
        _RECORD_PROGRESS, {"id": program_id, "attempt": attempt, "stage": stage, "progress": progress}
    )
    return JobState.from_row(row) if row else None


def check_claim(db: Database, program_id: UUID, attempt: int) -> JobState | None:
    """A checkpoint that writes nothing: the row's state while it is still attempt `attempt`'s, else None."""
    row = db.fetch_one(
        f"SELECT {_STATE_COLUMNS} FROM training_programs"  # noqa: S608 - constant columns
        " WHERE id = %(id)s AND attempts = %(attempt)s"
        f" AND generation_status IN ('processing', '{CANCELLING}')",
        {"id": program_id, "attempt": attempt},
    )
    return JobState.from_row(row) if row else None


def finish_cancelled(db: Database, program_id: UUID, attempt: int) -> tuple[JobState, float] | None:
    """Attempt `attempt` stopped for a cancel: cancelling -> cancelled. Returns the new state and
    the seconds since the cancel was asked, or None when the row was not this attempt's to change."""
    row = db.fetch_one(
        "UPDATE training_programs SET generation_status = 'cancelled', stage = NULL, progress = 0,"
        " lease_expires_at = NULL, error_code = 'CANCELLED', generation_error = %(message)s,"
        f" updated_at = {_TOUCHED}"
        f" WHERE id = %(id)s AND attempts = %(attempt)s AND generation_status = '{CANCELLING}'"
        f" RETURNING {_STATE_COLUMNS},"
        " extract(epoch FROM now() - cancel_requested_at)::float AS cancel_seconds",
        {"id": program_id, "attempt": attempt, "message": CANCELLED_MESSAGE},
    )
    return (JobState.from_row(row), max(0.0, row["cancel_seconds"])) if row else None


@dataclass(frozen=True, slots=True)
class LlmRecord:
    """What the LLM pipeline records beside the program: cache key, prompt version, cost."""

    request_fingerprint: str | None = None
    prompt_version: str | None = None
    llm_requests: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    llm_latency_ms: int | None = None
    thinking_tokens: int | None = None
    llm_cost_usd: float | None = None  # at the configured list prices


def complete_generation(
    db: Database,
    program_id: UUID,
    attempt: int,
    *,
    program: dict[str, Any],
    provider: str,
    model: str | None,
    fallback_tier: str,
    validation_report: dict[str, Any],
    usage: dict[str, Any],
    llm: LlmRecord | None = None,
) -> JobState | None:
    """Store attempt `attempt`'s program: processing -> completed. None when the row is no longer
    this attempt's, or a cancel was asked meanwhile (`finish_cancelled` then applies)."""
    llm = llm or LlmRecord()
    row = db.fetch_one(
        f"""
        UPDATE training_programs
        SET generation_status = 'completed', program = %(program)s, stage = NULL, progress = 100,
            provider = %(provider)s, model = %(model)s, fallback_tier = %(fallback_tier)s,
            validation_report = %(report)s, usage = %(usage)s,
            request_fingerprint = %(request_fingerprint)s, prompt_version = %(prompt_version)s,
            llm_requests = %(llm_requests)s, input_tokens = %(input_tokens)s,
            output_tokens = %(output_tokens)s, cache_read_tokens = %(cache_read_tokens)s,
            cache_write_tokens = %(cache_write_tokens)s, llm_latency_ms = %(llm_latency_ms)s,
            thinking_tokens = %(thinking_tokens)s, llm_cost_usd = %(llm_cost_usd)s,
            error_code = NULL, generation_error = NULL, lease_expires_at = NULL,
            completed_at = now(), updated_at = {_TOUCHED}
        WHERE id = %(id)s AND generation_status = 'processing' AND attempts = %(attempt)s
        RETURNING {_STATE_COLUMNS}
        """,
        {
            "id": program_id,
            "attempt": attempt,
            "program": Jsonb(program),
            "provider": provider,
            "model": model,
            "fallback_tier": fallback_tier,
            "report": Jsonb(validation_report),
            "usage": Jsonb(usage),
            "request_fingerprint": llm.request_fingerprint,
            "prompt_version": llm.prompt_version,
            "llm_requests": llm.llm_requests,
            "input_tokens": llm.input_tokens,
            "output_tokens": llm.output_tokens,
            "cache_read_tokens": llm.cache_read_tokens,
            "cache_write_tokens": llm.cache_write_tokens,
            "llm_latency_ms": llm.llm_latency_ms,
            "thinking_tokens": llm.thinking_tokens,
            "llm_cost_usd": llm.llm_cost_usd,
        },
    )
    return JobState.from_row(row) if row else None


# The result cache: the newest program the first LLM tier completed (never a degraded tier's, an
# offline fallback or an earlier cache hit) for the same request fingerprint within the TTL; the
# caller names that tier (`LLM_TIERS`' first). Uses training_programs_result_cache_idx.
_FIND_CACHED = """
SELECT id, program, model, fallback_tier FROM training_programs
WHERE request_fingerprint = %(fingerprint)s
  AND generation_status = 'completed'
  AND completed_at > now() - make_interval(secs => %(ttl_seconds)s)
  AND provider = %(provider)s AND fallback_tier = %(tier)s
  AND program IS NOT NULL
  AND id <> %(exclude_id)s
ORDER BY completed_at DESC
LIMIT 1
"""


def find_cached_program(
    db: Database,
    fingerprint: str,
    *,
    ttl_seconds: int,
    exclude_id: UUID,
    provider: str = "anthropic",
    tier: str = "compact",
) -> CachedProgramRow | None:
    row = db.fetch_one(
        _FIND_CACHED,
        {
            "tier": tier,
            "fingerprint": fingerprint,
            "ttl_seconds": ttl_seconds,
            "provider": provider,
            "exclude_id": exclude_id,
        },
    )
    if row is None:
        return None
    return CachedProgramRow(
        program_id=row["id"], program=row["program"], model=row["model"], fallback_tier=row["fallback_tier"]
    )


def finish_with_error(
    db: Database, program_id: UUID, attempt: int, *, error_code: str, message: str, retry: bool
) -> JobState | None:
    """Record a failed attempt: back to pending when `retry` and attempts remain, else failed.

    Returns the new state, or None when the row was no longer this worker's to change (or a
    cancel was asked meanwhile: `finish_cancelled` then applies). A released row keeps its place
    in the queue and is re-dispatched by the sweeper (it leaves `dispatched_at` empty).
    """
    row = db.fetch_one(
        f"""
        UPDATE training_programs
        SET generation_status = CASE WHEN %(retry)s AND attempts < max_attempts
                                     THEN 'pending' ELSE 'failed' END,
            stage = CASE WHEN %(retry)s AND attempts < max_attempts THEN 'queued' END,
            progress = 0, error_code = %(code)s, generation_error = %(message)s,
            lease_expires_at = NULL, dispatched_at = NULL, queued_at = now(), updated_at = {_TOUCHED}
        WHERE id = %(id)s AND generation_status = 'processing' AND attempts = %(attempt)s
        RETURNING {_STATE_COLUMNS}
        """,
        {"id": program_id, "attempt": attempt, "retry": retry, "code": error_code, "message": message},
    )
    return JobState.from_row(row) if row else None


# --- The sweeper's statements ------------------------------------------------------------------

# The wait before re-dispatching a pending row doubles with each unanswered dispatch (capped):
# while generate is throttled its queued events are kept for up to an hour, and every extra
# dispatch would add one more copy to that queue. Dispatch counts decide only when to dispatch
# again, never whether a row fails: waiting is bounded in time (below).
_REDISPATCH_WAIT = (
    "make_interval(secs => least(%(max_interval)s,"
    " %(redispatch_after)s * power(2, greatest(dispatch_count - 1, 0))))"
)

GENERIC_FAILURE_MESSAGE = "We could not generate your program. Please try again."
QUEUE_TIMEOUT_MESSAGE = "We are busier than usual and could not start your program in time. Please try again."

# I5. A pending row is waiting, not lost, as long as it is within its tier's wait bound
# (max_wait_seconds since it was last queued), however many dispatches it took. Past the bound it
# fails: QUEUE_TIMEOUT when generate claimed other rows meanwhile (it waited behind other work),
# NEVER_CLAIMED when nothing at all was claimed (generate is not running: the events are lost).
_FAIL_EXHAUSTED = f"""
UPDATE training_programs tp
SET generation_status = 'failed', stage = NULL, progress = 0, lease_expires_at = NULL,
    error_code = CASE WHEN tp.generation_status = 'processing' THEN 'WORKER_LOST'
                      WHEN tp.attempts >= tp.max_attempts THEN coalesce(tp.error_code, 'ATTEMPTS_EXHAUSTED')
                      WHEN last_claim.at > tp.queued_at THEN 'QUEUE_TIMEOUT'
                      ELSE 'NEVER_CLAIMED' END,
    generation_error = CASE WHEN tp.generation_status = 'pending' AND tp.attempts < tp.max_attempts
                                 AND last_claim.at > tp.queued_at
                            THEN %(queue_timeout_message)s ELSE %(message)s END,
    updated_at = {_TP_TOUCHED}
FROM (SELECT max(claimed_at) AS at FROM training_programs) last_claim
WHERE tp.generation_status IN ('pending', 'processing')
  AND (
        -- a worker's lease ran out on its last attempt
        (tp.generation_status = 'processing' AND tp.lease_expires_at < now()
         AND tp.attempts >= tp.max_attempts)
        -- no attempt left to claim
     OR (tp.generation_status = 'pending' AND tp.attempts >= tp.max_attempts)
        -- waited longer than its tier allows
     OR (tp.generation_status = 'pending'
         AND tp.queued_at < now() - make_interval(secs => tp.max_wait_seconds))
  )
RETURNING {_TP_STATE_COLUMNS}
"""

# I4: a dead worker's lease expires; the row goes back to pending (keeping its place in the queue)
# and is re-dispatched below.
_RECLAIM_EXPIRED = f"""
UPDATE training_programs
SET generation_status = 'pending', stage = 'queued', progress = 0, lease_expires_at = NULL,
    error_code = 'LEASE_EXPIRED', dispatched_at = NULL, queued_at = now(), updated_at = {_TOUCHED}
WHERE generation_status = 'processing' AND lease_expires_at < now() AND attempts < max_attempts
RETURNING {_STATE_COLUMNS}
"""

# A cancel its worker did not honour: the worker died (lease over) or has not reached a checkpoint
# within the grace period. Its later writes are fenced (the row is no longer `cancelling`).
_FINISH_ABANDONED_CANCELS = f"""
UPDATE training_programs
SET generation_status = 'cancelled', stage = NULL, progress = 0, lease_expires_at = NULL,
    error_code = 'CANCELLED', generation_error = %(message)s, updated_at = {_TOUCHED}
WHERE generation_status = '{CANCELLING}'
  AND (lease_expires_at < now() OR cancel_requested_at < now() - make_interval(secs => %(grace)s))
RETURNING {_STATE_COLUMNS}, extract(epoch FROM now() - cancel_requested_at)::float AS cancel_seconds
"""

# I5: pending rows whose event was lost (never dispatched, dispatch failed, or event dropped), most
# urgent first. SKIP LOCKED lets two sweepers run at once without dispatching the same row twice in
# a sweep. An extra event is harmless: it claims the most urgent row, or nothing.
_MARK_FOR_REDISPATCH = f"""
UPDATE training_programs
SET dispatched_at = now(), dispatch_count = dispatch_count + 1, updated_at = {_TOUCHED}
WHERE id IN (
    SELECT id FROM training_programs
    WHERE generation_status = 'pending'
      AND (dispatched_at IS NULL OR dispatched_at < now() - {_REDISPATCH_WAIT})
    ORDER BY ranked_at
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
)
RETURNING id
"""


def fail_exhausted(db: Database) -> list[JobState]:
    rows = db.fetch_all(
        _FAIL_EXHAUSTED, {"message": GENERIC_FAILURE_MESSAGE, "queue_timeout_message": QUEUE_TIMEOUT_MESSAGE}
    )
    return [JobState.from_row(r) for r in rows]


def reclaim_expired_leases(db: Database) -> list[JobState]:
    return [JobState.from_row(r) for r in db.fetch_all(_RECLAIM_EXPIRED)]


def finish_abandoned_cancels(db: Database, *, grace_seconds: int) -> list[tuple[JobState, float]]:
    """Each cancel recorded, with the seconds since it was asked (`CancellationLatency`)."""
    rows = db.fetch_all(_FINISH_ABANDONED_CANCELS, {"message": CANCELLED_MESSAGE, "grace": grace_seconds})
    return [(JobState.from_row(r), max(0.0, r["cancel_seconds"] or 0.0)) for r in rows]


def mark_for_redispatch(
    db: Database, *, redispatch_after_seconds: int, max_interval_seconds: int, batch: int
) -> list[UUID]:
    rows = db.fetch_all(
        _MARK_FOR_REDISPATCH,
        {"redispatch_after": redispatch_after_seconds, "max_interval": max_interval_seconds, "batch": batch},
    )
    return [r["id"] for r in rows]


# The queue as the sweeper reports it, in one round trip:
# - stuck: in flight with no state change for `older_than_seconds`: under normal operation every
#   in-flight row changes at least once per lease (progress, reclaim, re-dispatch), so these are rows
#   the reconciler is not moving (the StuckGenerations metric and alarm, `tpg stats`);
# - waiting: pending rows, and how long the longest-waiting one has waited since it was queued
#   (GenerationsWaiting, OldestWaitingGeneration): a backlog, not a fault, while within the bound.
_QUEUE_FIGURES = f"""
SELECT
    count(*) FILTER (WHERE updated_at < now() - make_interval(secs => %(older_than)s)) AS stuck,
    count(*) FILTER (WHERE generation_status = 'pending') AS waiting,
    coalesce(extract(epoch FROM now() - min(queued_at) FILTER (WHERE generation_status = 'pending')),
             0)::float AS oldest_wait_seconds
FROM training_programs
WHERE generation_status IN ('pending', 'processing', '{CANCELLING}')
"""


@dataclass(frozen=True, slots=True)
class QueueFigures:
    stuck: int
    waiting: int
    oldest_wait_seconds: float


def queue_figures(db: Database, *, older_than_seconds: int) -> QueueFigures:
    row = db.fetch_one(_QUEUE_FIGURES, {"older_than": older_than_seconds})
    assert row is not None  # an aggregate always yields one row
    return QueueFigures(
        stuck=row["stuck"], waiting=row["waiting"], oldest_wait_seconds=max(0.0, row["oldest_wait_seconds"])
    )


def count_stuck(db: Database, *, older_than_seconds: int) -> int:
    return queue_figures(db, older_than_seconds=older_than_seconds).stuck
