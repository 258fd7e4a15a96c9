"""PostgreSQL access: one lazily created connection per execution environment.

In Lambda an execution environment runs one invocation at a time on one thread, so a
thread-local connection is exactly "one per environment, reused across warm invocations".
The local stack runs several handlers concurrently on threads, and each thread then behaves
like its own environment.

Every operation the service performs is a single SQL statement in autocommit mode: one round
trip, atomic by itself. Because each write is conditional (the claim, the fenced finish) or
guarded by a unique index (the accept insert), repeating a statement after the connection was
lost is safe, so `fetch_one`/`fetch_all` retry once on a fresh connection.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable
from typing import Any, LiteralString
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from tpg.platform.errors import DatabaseUnavailable
from tpg.platform.settings import get_settings

Row = dict[str, Any]

_local = threading.local()
_all_connections: weakref.WeakSet[psycopg.Connection] = weakref.WeakSet()


def database_url() -> str:
    """DATABASE_URL locally; in AWS the secret named by DATABASE_URL_SECRET_ARN (cached, rotatable)."""
    url = get_settings().database_url_value
    if url is None:
        raise DatabaseUnavailable("DATABASE_URL is not configured")
    return url


def connect(url: str | None = None) -> psycopg.Connection:
    settings = get_settings()
    try:
        conn = psycopg.connect(
            url or database_url(),
            autocommit=True,
            row_factory=dict_row,
            connect_timeout=5,
            # Server-side prepared statements break behind transaction-mode poolers (RDS Proxy, Supavisor).
            prepare_threshold=None,
            options=(
                f"-c statement_timeout={settings.db_statement_timeout_ms}"
                " -c idle_in_transaction_session_timeout=10000"
            ),
            application_name="tpg",
        )
    except psycopg.OperationalError as exc:
        # The driver's message may carry the host or user: log the class, never the text.
        raise DatabaseUnavailable() from exc
    _all_connections.add(conn)
    return conn


def get_connection() -> psycopg.Connection:
    conn: psycopg.Connection | None = getattr(_local, "conn", None)
    if conn is None or conn.closed or conn.broken:
        conn = connect()
        _local.conn = conn
    return conn


def _discard_connection() -> None:
    conn = getattr(_local, "conn", None)
    _local.conn = None
    if conn is not None:
        conn.close()


def close_all() -> None:
    """Close every connection this process opened (tests, shutdown of the local stack)."""
    for conn in list(_all_connections):
        conn.close()
    _local.conn = None


# The non-owner role the API's statements run as, so Row Level Security binds them
# (migrations/20251128122000_row_level_security.sql).
API_ROLE = "tpg_api_user"
_AS_USER = (
    "SELECT set_config('role', %(_tpg_role)s, true),"
    " set_config('request.jwt.claims', %(_tpg_claims)s, true); "
)


def _execute(
    query: LiteralString, params: dict[str, Any] | None, fetch: Callable[[Any], Any], as_user: UUID | None
) -> Any:
    for attempt in (1, 2):
        conn = get_connection()
        try:
            if as_user is None:
                return fetch(conn.execute(query, params))
            # The role and claims, then the statement, as ONE simple-protocol query: PostgreSQL
            # runs a multi-statement query as one implicit transaction, so the transaction-local
            # settings bind the statement and end with it. One round trip (a pipelined
            # BEGIN/.../COMMIT costs five). Client-side binding quotes the parameters.
            claims = json.dumps({"sub": str(as_user), "role": "authenticated"})
            with psycopg.ClientCursor(conn) as cur:
                cur.execute(
                    _AS_USER + query, {**(params or {}), "_tpg_role": API_ROLE, "_tpg_claims": claims}
                )
                cur.nextset()
                return fetch(cur)
        except psycopg.OperationalError as exc:
            if not conn.broken:
                raise  # e.g. a statement timeout: the connection is fine, the query is not
            _discard_connection()
            if attempt == 2:
                raise DatabaseUnavailable() from exc
    raise AssertionError("unreachable")


def fetch_one(
    query: LiteralString, params: dict[str, Any] | None = None, *, as_user: UUID | None = None
) -> Row | None:
    """Run one statement and return its first row; `as_user` runs it under Row Level Security."""
    return _execute(query, params, lambda cur: cur.fetchone(), as_user)


def fetch_all(
    query: LiteralString, params: dict[str, Any] | None = None, *, as_user: UUID | None = None
) -> list[Row]:
    return _execute(query, params, lambda cur: cur.fetchall(), as_user)
