"""Statement settings travel with each statement, never as startup options or session SETs: RDS
Proxy refuses startup options (and pins sessions on SET), a transaction-mode PgBouncer forgets
session state between statements. Checked on a real server, and through a real transaction-mode
PgBouncer under `make test-pgbouncer`."""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import POOLER_PORT
from tpg.platform.settings import Settings
from tpg.store.db import Database


@pytest.fixture
def db(database: str) -> Database:
    settings = Settings.from_environment({"DATABASE_URL": database, "DB_STATEMENT_TIMEOUT_MS": "300"})
    database_access = Database(settings)
    yield database_access
    database_access.close()


def test_the_timeout_binds_each_statement_and_nothing_else(db: Database) -> None:
    row = db.fetch_one("SELECT current_setting('statement_timeout') AS timeout")
    assert row == {"timeout": "300ms"}
    # the session itself carries no setting: nothing was sent at startup or with a session SET
    session = db.connection().execute("SELECT current_setting('statement_timeout') AS timeout").fetchone()
    assert session == {"timeout": "0"}
    assert "statement_timeout" not in (db.connection().info.dsn or "")


def test_a_slow_statement_is_cancelled_and_the_connection_stays_usable(db: Database) -> None:
    with pytest.raises(psycopg.errors.QueryCanceled):
        db.fetch_one("SELECT pg_sleep(2)")
    assert db.fetch_one("SELECT 1 AS one") == {"one": 1}


def test_no_connection_carries_startup_options(db: Database) -> None:
    conn = db.connection()
    assert "options" not in conn.info.get_parameters()
    assert "options" not in psycopg.conninfo.conninfo_to_dict(conn.info.dsn)


@pytest.mark.skipif(not POOLER_PORT, reason="needs the test PgBouncer (make test-pgbouncer)")
def test_pgbouncer_refuses_startup_options_and_our_connections_work(database: str, db: Database) -> None:
    assert psycopg.conninfo.conninfo_to_dict(database)["port"] == POOLER_PORT  # the code goes through it
    with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter: options"):
        psycopg.connect(database, options="-c statement_timeout=1000", connect_timeout=5)
    assert db.fetch_one("SELECT current_setting('statement_timeout') AS timeout") == {"timeout": "300ms"}
