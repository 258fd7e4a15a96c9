"""The realtime statements: tickets, WebSocket connections, and whose sockets an update goes to.

Table `realtime_connections` (migrations/20261202140000_realtime_connections.sql): a row is a ticket
(`connection_id` NULL) until API Gateway's $connect presents it, then that connection. Each function
is one round trip; the ticket is issued as the caller under Row Level Security, the rest run for the
service (the realtime function, the pushers, the sweeper).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from tpg.store.db import Database

# The caller's live rows (unused tickets and open connections) bound what it may add: a client that
# leaks sockets or loops on tickets is refused (429) instead of growing every push's fan-out.
# Count-then-insert is a race under READ COMMITTED (40 concurrent requests made 40 rows), so the
# caller's requests are serialised on an advisory lock on its id, taken by a statement of its own
# in the same query: PostgreSQL runs the query as one transaction (the lock is held until it ends)
# and gives each statement a fresh snapshot, so the count runs after the lock is granted and sees
# the rows of the request that held it. (Taken in a CTE of the counting statement, the lock comes
# too late: that statement's snapshot predates it.) Still one round trip.
_TICKET_LOCK_CLASS = 7_420_140  # identifies "realtime tickets of one user" among advisory locks
_ISSUE_TICKET = """
SELECT pg_advisory_xact_lock(%(lock_class)s, hashtext(%(user_id)s::text));
WITH caller AS (
    SELECT EXISTS (SELECT 1 FROM profiles WHERE id = %(user_id)s) AS known,
           (SELECT count(*) FROM realtime_connections
            WHERE user_id = %(user_id)s AND expires_at > now()) AS live
),
inserted AS (
    INSERT INTO realtime_connections (user_id, ticket_hash, expires_at)
    SELECT %(user_id)s, %(ticket_hash)s, now() + make_interval(secs => %(ttl_seconds)s)
    FROM caller
    WHERE caller.known AND caller.live < %(max_live)s
    RETURNING id
)
SELECT caller.known, caller.live, (SELECT count(*) FROM inserted) = 1 AS issued FROM caller
"""


@dataclass(frozen=True, slots=True)
class TicketOutcome:
    issued: bool
    known_user: bool  # the caller has a profile (programs can only be theirs if so)
    live: int  # the caller's live tickets and connections before this one


def issue_ticket(
    db: Database, user_id: UUID, *, ticket_hash: bytes, ttl_seconds: int, max_live: int
) -> TicketOutcome:
    row = db.fetch_one(
        _ISSUE_TICKET,
        {
            "user_id": user_id,
            "ticket_hash": ticket_hash,
            "ttl_seconds": ttl_seconds,
            "max_live": max_live,
            "lock_class": _TICKET_LOCK_CLASS,
        },
        as_user=user_id,
    )
    assert row is not None  # the caller CTE always yields one row
    return TicketOutcome(issued=row["issued"], known_user=row["known"], live=int(row["live"]))


# $connect: the ticket is consumed by becoming the connection, so it is single use by the WHERE
# clause (a second $connect with it, even a concurrent one, finds `connection_id` already set).
# The connection counts as open for `idle_seconds` (API Gateway closes a socket idle for 10 min,
# and its $disconnect is best effort); each client message extends that (`touch_connection`).
_OPEN_CONNECTION = """
UPDATE realtime_connections
SET connection_id = %(connection_id)s, connected_at = now(),
    expires_at = now() + make_interval(secs => %(idle_seconds)s)
WHERE ticket_hash = %(ticket_hash)s AND connection_id IS NULL AND expires_at > now()
RETURNING user_id
"""


def open_connection(
    db: Database, *, ticket_hash: bytes, connection_id: str, idle_seconds: int
) -> UUID | None:
    """The user the ticket was issued to, now bound to `connection_id`; None: unknown, used or expired."""
    row = db.fetch_one(
        _OPEN_CONNECTION,
        {"ticket_hash": ticket_hash, "connection_id": connection_id, "idle_seconds": idle_seconds},
    )
    return row["user_id"] if row else None


# A client message: API Gateway keeps the socket another idle period, so does the row, but never
# past API Gateway's 2 h limit from $connect.
_TOUCH_CONNECTION = """
UPDATE realtime_connections
SET expires_at = least(now() + make_interval(secs => %(idle_seconds)s),
                       connected_at + make_interval(secs => %(max_seconds)s))
WHERE connection_id = %(connection_id)s
RETURNING id
"""


def touch_connection(db: Database, connection_id: str, *, idle_seconds: int, max_seconds: int) -> bool:
    """The connection's client spoke: it counts as open another `idle_seconds` (at most `max_seconds`
    after $connect). False: no such connection (removed: expired, gone, disconnected)."""
    row = db.fetch_one(
        _TOUCH_CONNECTION,
        {"connection_id": connection_id, "idle_seconds": idle_seconds, "max_seconds": max_seconds},
    )
    return row is not None


def close_connection(db: Database, connection_id: str) -> bool:
    row = db.fetch_one(
        "DELETE FROM realtime_connections WHERE connection_id = %(connection_id)s RETURNING id",
        {"connection_id": connection_id},
    )
    return row is not None


def remove_gone_connections(db: Database, connection_ids: Sequence[str], *, grace_seconds: int) -> int:
    """Pushes were answered 410: remove those connections, except any opened within `grace_seconds`.
    The management API answers 410 while $connect is still running (the row is written, the socket
    not yet open); removing it then would leave a live socket that never receives anything. Returns
    how many were removed."""
    if not connection_ids:
        return 0
    rows = db.fetch_all(
        "DELETE FROM realtime_connections WHERE connection_id = ANY(%(connection_ids)s)"
        " AND connected_at < now() - make_interval(secs => %(grace_seconds)s) RETURNING id",
        {"connection_ids": list(connection_ids), "grace_seconds": grace_seconds},
    )
    return len(rows)


# The users' open connections, oldest first: where their programs' updates go. The caller passes
# each state's owner, so an update can only reach that user's sockets.
_OPEN_CONNECTIONS = """
SELECT user_id, array_agg(connection_id ORDER BY connected_at) AS connections
FROM realtime_connections
WHERE user_id = ANY(%(user_ids)s) AND connection_id IS NOT NULL AND expires_at > now()
GROUP BY user_id
"""


def open_connections(db: Database, user_ids: Sequence[UUID]) -> dict[UUID, tuple[str, ...]]:
    """Each user's open connections (a user without one is absent)."""
    if not user_ids:
        return {}
    rows = db.fetch_all(_OPEN_CONNECTIONS, {"user_ids": list(user_ids)})
    return {row["user_id"]: tuple(row["connections"]) for row in rows}


# Expired tickets and connections (API Gateway has closed them; $disconnect is best effort), at most
# `batch` a sweep, and the connections still open (the OpenConnections gauge), in one round trip.
_EXPIRE = """
WITH expired AS (
    DELETE FROM realtime_connections
    WHERE id IN (SELECT id FROM realtime_connections WHERE expires_at < now() LIMIT %(batch)s)
    RETURNING connection_id
)
SELECT (SELECT count(*) FROM expired) AS removed,
       (SELECT count(*) FROM realtime_connections
        WHERE connection_id IS NOT NULL AND expires_at >= now()) AS open
"""


@dataclass(frozen=True, slots=True)
class ExpiryReport:
    removed: int
    open: int


def delete_expired_connections(db: Database, *, batch: int, max_batches: int = 1) -> ExpiryReport:
    """Expired rows, `batch` a statement, again while a batch comes back full, at most `max_batches`
    statements (a sweep stays bounded; the next one goes on). `open` is counted by the last."""
    removed, still_open = 0, 0
    for _ in range(max(1, max_batches)):
        row = db.fetch_one(_EXPIRE, {"batch": batch})
        assert row is not None
        removed, still_open = removed + int(row["removed"]), int(row["open"])
        if int(row["removed"]) < batch:
            break
    return ExpiryReport(removed=removed, open=still_open)
