"""Every SQL statement the service runs, one function each, one round trip each. Each takes the
`Database` to run on (the handler's, from its composition root) and returns typed values only.

The API's statements (accept, status, list, retry) run as the caller under Row Level Security
(`as_user`): their user filter and the database's policies are two walls, not one.

State changes are single conditional statements: the condition lives in the WHERE clause and
the database enforces the invariants (CHECK, partial unique index, foreign keys). Writes by a
worker are fenced by the attempt number it claimed, so a worker whose lease was taken over
can no longer change the row.
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
    CachedProgramRow,
    ClaimedJob,
    GenerationStatus,
    JobRequest,
    ProfileRow,
    ProgramRow,
)

_PROGRAM_COLUMNS = """
    id, user_id, name, generation_status, stage, progress, error_code, generation_error,
    created_at, updated_at, completed_at
"""

# A user may request a program when subscribed, onboarded and under the tier's daily quota; the
# checks, the insert and its entry in generation_requests are one statement. ON CONFLICT against
# the one-in-flight index makes a concurrent second request a no-op (and so also serialises the
# quota count per user).
_ACCEPT = """
WITH quota AS (
    SELECT * FROM generation_quota(%(user_id)s, %(default_quota)s)
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
            WHERE user_id = %(user_id)s AND generation_status IN ('pending', 'processing')
        ) AS in_flight,
        quota.under_quota,
        quota.resets_in AS quota_resets_in
    FROM quota
),
inserted AS (
    INSERT INTO training_programs (user_id, name, request, max_attempts, stage, dispatched_at, dispatch_count)
    SELECT %(user_id)s, %(name)s, %(request)s, %(max_attempts)s, 'queued', now(), 1
    FROM caller
    WHERE caller.subscribed AND caller.onboarded AND caller.under_quota
    ON CONFLICT (user_id) WHERE generation_status IN ('pending', 'processing') DO NOTHING
    RETURNING id
),
logged AS (
    INSERT INTO generation_requests (user_id, program_id, kind)
    SELECT %(user_id)s, id, 'new' FROM inserted
)
SELECT caller.subscribed, caller.onboarded, caller.in_flight, caller.under_quota, caller.quota_resets_in,
       inserted.id
FROM caller LEFT JOIN inserted ON true
"""

_IN_FLIGHT_FOR_USER = """
SELECT id FROM training_programs
WHERE user_id = %(user_id)s AND generation_status IN ('pending', 'processing')
"""


@dataclass(frozen=True, slots=True)
class AcceptOutcome:
    subscribed: bool
    onboarded: bool
    in_flight: bool  # as this statement saw it; a concurrent winner shows as program_id None
    under_quota: bool
    quota_resets_in: int | None
    program_id: UUID | None


def accept_generation_request(
    db: Database, user_id: UUID, *, name: str, request: dict[str, Any], max_attempts: int, default_quota: int
) -> AcceptOutcome:
    row = db.fetch_one(
        _ACCEPT,
        {
            "user_id": user_id,
            "name": name,
            "request": Jsonb(request),
            "max_attempts": max_attempts,
            "default_quota": default_quota,
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


# failed -> pending, by its owner, with a subscription. `target` tells "not yours" from "not failed".
_RETRY = """
WITH target AS (
    SELECT id, generation_status FROM training_programs
    WHERE id = %(id)s AND user_id = %(user_id)s
),
quota AS (
    SELECT * FROM generation_quota(%(user_id)s, %(default_quota)s)
),
updated AS (
    UPDATE training_programs tp
    -- attempts only ever go up (workers' writes are fenced by them): a retry grants more
    SET generation_status = 'pending', stage = 'queued', progress = 0,
        max_attempts = tp.attempts + %(max_attempts)s, lease_expires_at = NULL,
        error_code = NULL, generation_error = NULL, completed_at = NULL, started_at = NULL,
        dispatched_at = now(), dispatch_count = 1, updated_at = now()
    FROM target, quota
    WHERE tp.id = target.id AND tp.generation_status = 'failed' AND quota.subscribed AND quota.under_quota
    RETURNING tp.id
),
logged AS (
    INSERT INTO generation_requests (user_id, program_id, kind)
    SELECT %(user_id)s, id, 'retry' FROM updated
)
SELECT target.generation_status, quota.subscribed, quota.under_quota, quota.resets_in AS quota_resets_in,
       updated.id AS retried_id
FROM target CROSS JOIN quota LEFT JOIN updated ON true
"""


@dataclass(frozen=True, slots=True)
class RetryOutcome:
    found: bool
    subscribed: bool = False
    failed: bool = False  # the program was in `failed`, the only status a retry applies to
    under_quota: bool = True
    quota_resets_in: int | None = None
    retried: bool = False
    # the user already has another generation in flight (the one-in-flight index refused it)
    in_flight_conflict: bool = False


def retry_failed_program(
    db: Database, program_id: UUID, user_id: UUID, *, max_attempts: int, default_quota: int
) -> RetryOutcome:
    try:
        row = db.fetch_one(
            _RETRY,
            {
                "id": program_id,
                "user_id": user_id,
                "max_attempts": max_attempts,
                "default_quota": default_quota,
            },
            as_user=user_id,
        )
    except UniqueViolation:
        return RetryOutcome(found=True, subscribed=True, failed=True, in_flight_conflict=True)
    if row is None:
        return RetryOutcome(found=False)
    return RetryOutcome(
        found=True,
        subscribed=row["subscribed"],
        failed=row["generation_status"] == "failed",
        under_quota=row["under_quota"],
        quota_resets_in=row["quota_resets_in"],
        retried=row["retried_id"] is not None,
    )


# --- The worker's statements -------------------------------------------------------------------

# I2: one conditional UPDATE claims the row; a duplicate or late event matches nothing. The same
# statement reads the profile and onboarding the pipeline needs (claim + read = one round trip).
_CLAIM = """
WITH claimed AS (
    UPDATE training_programs
    SET generation_status = 'processing',
        attempts = attempts + 1,
        lease_expires_at = now() + make_interval(secs => %(lease_seconds)s),
        started_at = coalesce(started_at, now()),
        stage = 'analyzing', progress = 5, dispatch_count = 0, claimed_by = %(worker)s,
        updated_at = now()
    WHERE id = %(id)s
      AND attempts < max_attempts
      AND (generation_status = 'pending'
           OR (generation_status = 'processing' AND lease_expires_at < now()))
    RETURNING id, user_id, name, request, attempts, max_attempts, created_at
)
SELECT c.id, c.user_id, c.name, c.request, c.attempts, c.max_attempts, c.created_at,
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
    )


def expire_lease_of(db: Database, program_id: UUID, worker: str) -> bool:
    """The invocation `worker` died (on-failure record): end its lease now, so the sweeper
    reclaims the row (attempts left) or fails it (none left) without waiting for the lease."""
    row = db.fetch_one(
        "UPDATE training_programs SET lease_expires_at = now(), updated_at = now()"
        " WHERE id = %(id)s AND generation_status = 'processing' AND claimed_by = %(worker)s"
        " RETURNING id",
        {"id": program_id, "worker": worker},
    )
    return row is not None


def release_claim(db: Database, program_id: UUID, worker: str) -> bool:
    """A worker that is being stopped on purpose (`tpg serve` shutting down) hands its row back:
    pending at once, and the attempt it used is given back by raising `max_attempts` (attempts
    stay monotonic, so the stopped worker's writes stay fenced, as a retry does)."""
    row = db.fetch_one(
        "UPDATE training_programs SET generation_status = 'pending', stage = 'queued', progress = 0,"
        " lease_expires_at = NULL, dispatched_at = NULL, max_attempts = max_attempts + 1,"
        " updated_at = now()"
        " WHERE id = %(id)s AND generation_status = 'processing' AND claimed_by = %(worker)s"
        " RETURNING id",
        {"id": program_id, "worker": worker},
    )
    return row is not None


def record_progress(db: Database, program_id: UUID, attempt: int, *, stage: str, progress: int) -> bool:
    row = db.fetch_one(
        "UPDATE training_programs SET stage = %(stage)s, progress = %(progress)s, updated_at = now()"
        " WHERE id = %(id)s AND generation_status = 'processing' AND attempts = %(attempt)s"
        " RETURNING id",
        {"id": program_id, "attempt": attempt, "stage": stage, "progress": progress},
    )
    return row is not None


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
) -> bool:
    llm = llm or LlmRecord()
    row = db.fetch_one(
        """
        UPDATE training_programs
        SET generation_status = 'completed', program = %(program)s, stage = NULL, progress = 100,
            provider = %(provider)s, model = %(model)s, fallback_tier = %(fallback_tier)s,
            validation_report = %(report)s, usage = %(usage)s,
            request_fingerprint = %(request_fingerprint)s, prompt_version = %(prompt_version)s,
            llm_requests = %(llm_requests)s, input_tokens = %(input_tokens)s,
            output_tokens = %(output_tokens)s, cache_read_tokens = %(cache_read_tokens)s,
            cache_write_tokens = %(cache_write_tokens)s, llm_latency_ms = %(llm_latency_ms)s,
            error_code = NULL, generation_error = NULL, lease_expires_at = NULL,
            completed_at = now(), updated_at = now()
        WHERE id = %(id)s AND generation_status = 'processing' AND attempts = %(attempt)s
        RETURNING id
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
        },
    )
    return row is not None


# The result cache: the newest program the first LLM tier completed (never a degraded tier's, an
# offline fallback or an earlier cache hit) for the same request fingerprint within the TTL.
# Uses training_programs_result_cache_idx.
_FIND_CACHED = """
SELECT id, program, model, fallback_tier FROM training_programs
WHERE request_fingerprint = %(fingerprint)s
  AND generation_status = 'completed'
  AND completed_at > now() - make_interval(secs => %(ttl_seconds)s)
  AND provider = %(provider)s AND fallback_tier = 'full'
  AND program IS NOT NULL
  AND id <> %(exclude_id)s
ORDER BY completed_at DESC
LIMIT 1
"""


def find_cached_program(
    db: Database, fingerprint: str, *, ttl_seconds: int, exclude_id: UUID, provider: str = "anthropic"
) -> CachedProgramRow | None:
    row = db.fetch_one(
        _FIND_CACHED,
        {
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
) -> str | None:
    """Record a failed attempt: back to pending when `retry` and attempts remain, else failed.

    Returns the new status, or None when the row was no longer this worker's to change.
    A released row is re-dispatched by the sweeper (it leaves `dispatched_at` empty).
    """
    row = db.fetch_one(
        """
        UPDATE training_programs
        SET generation_status = CASE WHEN %(retry)s AND attempts < max_attempts
                                     THEN 'pending' ELSE 'failed' END,
            stage = CASE WHEN %(retry)s AND attempts < max_attempts THEN 'queued' END,
            progress = 0, error_code = %(code)s, generation_error = %(message)s,
            lease_expires_at = NULL, dispatched_at = NULL, updated_at = now()
        WHERE id = %(id)s AND generation_status = 'processing' AND attempts = %(attempt)s
        RETURNING generation_status
        """,
        {"id": program_id, "attempt": attempt, "retry": retry, "code": error_code, "message": message},
    )
    return GenerationStatus(row["generation_status"]) if row else None


# --- The sweeper's statements ------------------------------------------------------------------

# The wait before re-dispatching a pending row doubles with each unanswered dispatch (capped):
# while generate is throttled its queued events are kept for up to an hour, and every extra
# dispatch would add one more copy to that queue.
_REDISPATCH_WAIT = (
    "make_interval(secs => least(%(max_interval)s,"
    " %(redispatch_after)s * power(2, greatest(dispatch_count - 1, 0))))"
)

_FAIL_EXHAUSTED = (
    """
UPDATE training_programs
SET generation_status = 'failed', stage = NULL, progress = 0, lease_expires_at = NULL,
    error_code = CASE WHEN generation_status = 'processing' THEN 'WORKER_LOST'
                      WHEN attempts >= max_attempts THEN coalesce(error_code, 'ATTEMPTS_EXHAUSTED')
                      ELSE 'NEVER_CLAIMED' END,
    generation_error = 'We could not generate your program. Please try again.',
    updated_at = now()
WHERE generation_status IN ('pending', 'processing')
  AND (
        -- a worker's lease ran out on its last attempt
        (generation_status = 'processing' AND lease_expires_at < now() AND attempts >= max_attempts)
        -- no attempt left to claim
     OR (generation_status = 'pending' AND attempts >= max_attempts)
        -- dispatched again and again, backing off, and never claimed: generate is not running it
     OR (generation_status = 'pending' AND dispatch_count >= %(max_dispatches)s
         AND dispatched_at < now() - """
    + _REDISPATCH_WAIT
    + """)
  )
RETURNING id
"""
)

# I4: a dead worker's lease expires; the row goes back to pending and is re-dispatched below.
_RECLAIM_EXPIRED = """
UPDATE training_programs
SET generation_status = 'pending', stage = 'queued', progress = 0, lease_expires_at = NULL,
    error_code = 'LEASE_EXPIRED', dispatched_at = NULL, updated_at = now()
WHERE generation_status = 'processing' AND lease_expires_at < now() AND attempts < max_attempts
RETURNING id
"""

# I5: pending rows whose event was lost (never dispatched, dispatch failed, or event dropped).
# SKIP LOCKED lets two sweepers run at once without dispatching the same row twice in a sweep.
_MARK_FOR_REDISPATCH = (
    """
UPDATE training_programs
SET dispatched_at = now(), dispatch_count = dispatch_count + 1, updated_at = now()
WHERE id IN (
    SELECT id FROM training_programs
    WHERE generation_status = 'pending'
      AND (dispatched_at IS NULL OR dispatched_at < now() - """
    + _REDISPATCH_WAIT
    + """)
    ORDER BY created_at
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
)
RETURNING id
"""
)


def fail_exhausted(
    db: Database, *, max_dispatches: int, redispatch_after_seconds: int, max_interval_seconds: int
) -> list[UUID]:
    rows = db.fetch_all(
        _FAIL_EXHAUSTED,
        {
            "max_dispatches": max_dispatches,
            "redispatch_after": redispatch_after_seconds,
            "max_interval": max_interval_seconds,
        },
    )
    return [r["id"] for r in rows]


def reclaim_expired_leases(db: Database) -> list[UUID]:
    return [r["id"] for r in db.fetch_all(_RECLAIM_EXPIRED)]


def mark_for_redispatch(
    db: Database, *, redispatch_after_seconds: int, max_interval_seconds: int, batch: int
) -> list[UUID]:
    rows = db.fetch_all(
        _MARK_FOR_REDISPATCH,
        {"redispatch_after": redispatch_after_seconds, "max_interval": max_interval_seconds, "batch": batch},
    )
    return [r["id"] for r in rows]


# In flight with no state change for `older_than_seconds`: under normal operation every in-flight
# row changes at least once per lease (progress, reclaim, re-dispatch), so these are rows the
# reconciler is not moving (the StuckGenerations metric and alarm, `tpg stats`).
_COUNT_STUCK = """
SELECT count(*) AS stuck FROM training_programs
WHERE generation_status IN ('pending', 'processing')
  AND updated_at < now() - make_interval(secs => %(older_than)s)
"""


def count_stuck(db: Database, *, older_than_seconds: int) -> int:
    row = db.fetch_one(_COUNT_STUCK, {"older_than": older_than_seconds})
    return row["stuck"] if row else 0
