"""PostgreSQL access: `Database`, one lazily created connection per thread.

A handler builds one `Database` per execution environment (its composition root). In Lambda an
execution environment runs one invocation at a time on one thread, so a thread-local connection is
exactly "one per environment, reused across warm invocations". The local stack runs several
handlers concurrently on threads, and each thread then behaves like its own environment.

Every operation the service performs is a single SQL statement in autocommit mode: one round
trip, atomic by itself (one query puts a lock statement before its statement, in the same implicit
transaction: `tpg.store.realtime`'s ticket). Its settings travel with it, transaction-local, in the
same simple-protocol query (a statement timeout always; the role and claims under Row Level
Security), never as startup options or session SETs: RDS Proxy refuses startup options and pins a
session on SET, and a transaction-mode PgBouncer drops session state between statements.

Because each write is conditional (the claim, the fenced finish) or guarded by a unique index (the
accept insert), repeating a statement after the connection was lost is safe, so
`fetch_one`/`fetch_all` retry once on a fresh connection.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable
from typing import Any, LiteralString, TypeVar
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from tpg.platform.errors import DatabaseUnavailable
from tpg.platform.settings import Settings

Row = dict[str, Any]
Connection = psycopg.Connection[Row]
_T = TypeVar("_T")

# Every connection this process opened, whichever `Database` opened it (tests, shutdown).
_all_connections: weakref.WeakSet[Connection] = weakref.WeakSet()

# The non-owner role the API's statements run as, so Row Level Security binds them
# (migrations/20251128122000_row_level_security.sql).
API_ROLE = "tpg_api_user"
_SETTINGS = "SELECT set_config('statement_timeout', %(_tpg_timeout)s, true); "
_AS_USER = (
    "SELECT set_config('statement_timeout', %(_tpg_timeout)s, true),"
    " set_config('role', %(_tpg_role)s, true),"
    " set_config('request.jwt.claims', %(_tpg_claims)s, true); "
)


class Database:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._local = threading.local()

    def url(self) -> str:
        """DATABASE_URL locally; in AWS the secret named by DATABASE_URL_SECRET_ARN (cached, rotatable)."""
        url = self._settings.database_url_value
        if url is None:
            raise DatabaseUnavailable("DATABASE_URL is not configured")
        return url

    def connect(self) -> Connection:
        try:
            conn = psycopg.connect(
                self.url(),
                autocommit=True,
                row_factory=dict_row,
                connect_timeout=5,
                # Server-side prepared statements break behind transaction-mode poolers
                # (RDS Proxy, Supavisor).
                prepare_threshold=None,
                # No startup `options` (RDS Proxy refuses them): the statement timeout travels with
                # each statement (`_execute`).
                application_name="tpg",
            )
        except psycopg.OperationalError as exc:
            # The driver's message may carry the host or user: log the class, never the text.
            raise DatabaseUnavailable() from exc
        _all_connections.add(conn)
        return conn

    def connection(self) -> Connection:
        """This thread's connection, (re)opened if there is none or it was closed or broken."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self.connect()
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection (the next statement opens another)."""
        conn: Connection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def fetch_one(
        self, query: LiteralString, params: dict[str, Any] | None = None, *, as_user: UUID | None = None
    ) -> Row | None:
        """Run one statement and return its first row; `as_user` runs it under Row Level Security."""
        return self._execute(query, params, lambda cur: cur.fetchone(), as_user)

    def fetch_all(
        self, query: LiteralString, params: dict[str, Any] | None = None, *, as_user: UUID | None = None
    ) -> list[Row]:
        return self._execute(query, params, lambda cur: cur.fetchall(), as_user)

    def _execute(
        self,
        query: LiteralString,
        params: dict[str, Any] | None,
        fetch: Callable[[psycopg.Cursor[Row]], _T],
        as_user: UUID | None,
    ) -> _T:
        for attempt in (1, 2):
            conn = self.connection()
            try:
                # The settings, then the statement, as ONE simple-protocol query: PostgreSQL runs a
                # multi-statement query as one implicit transaction, so the transaction-local
                # settings bind the statement and end with it. One round trip (a pipelined
                # BEGIN/.../COMMIT costs five). Client-side binding quotes the parameters.
                values = {**(params or {}), "_tpg_timeout": str(self._settings.db_statement_timeout_ms)}
                prefix: LiteralString = _SETTINGS
                if as_user is not None:
                    prefix = _AS_USER
                    values["_tpg_role"] = API_ROLE
                    values["_tpg_claims"] = json.dumps({"sub": str(as_user), "role": "authenticated"})
                with psycopg.ClientCursor(conn) as cur:
                    cur.execute(prefix + query, values)
                    # The statement's rows are the last result: after the settings' (and those of a
                    # lock statement a query may put first, e.g. tpg.store.realtime's tickets).
                    while cur.nextset():
                        pass
                    return fetch(cur)
            except psycopg.OperationalError as exc:
                if not conn.broken:
                    raise  # e.g. a statement timeout: the connection is fine, the query is not
                self.close()
                if attempt == 2:
                    raise DatabaseUnavailable() from exc
        raise AssertionError("unreachable")


def close_all() -> None:
    """Close every connection this process opened (tests, shutdown of the local stack); each
    `Database` opens a new one on its next statement."""
    for conn in list(_all_connections):
        conn.close()
