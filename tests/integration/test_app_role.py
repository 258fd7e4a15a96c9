"""The application role is not the owner: a login role IN ROLE tpg_app (what the Lambdas log in as,
docs/architecture.md "Database roles") can run the service's statements but not change the schema,
empty or drop tables, delete rows, or escape Row Level Security."""

from __future__ import annotations

from typing import LiteralString

import psycopg
import pytest

from tests.conftest import settings_for_tests
from tests.support import RecordingDispatcher, http_event, invoke_trigger, new_user
from tpg.store.db import Database

OWNER_THINGS: list[LiteralString] = [
    "ALTER TABLE training_programs ADD COLUMN zz_app_role text",
    "ALTER TABLE training_programs DISABLE ROW LEVEL SECURITY",
    "DROP TABLE generation_requests",
    "TRUNCATE training_programs CASCADE",
    "DELETE FROM training_programs RETURNING id",
    "INSERT INTO profiles (id) VALUES (gen_random_uuid()) RETURNING id",
    "CREATE TABLE zz_app_role (id int)",
    "CREATE INDEX zz_app_role_idx ON training_programs (name)",
    "DROP POLICY training_programs_own ON training_programs",
    "UPDATE schema_migrations SET checksum = 'x'",
    "GRANT SELECT ON schema_migrations TO PUBLIC",
    "SET ROLE postgres",
]


@pytest.fixture
def app_db(app_role_url: str, database: str) -> Database:
    """The service's database access logged in as the application role, whatever the suite's mode."""
    return Database(settings_for_tests(app_role_url))


def test_the_app_role_is_neither_owner_nor_privileged(app_db: Database) -> None:
    row = app_db.fetch_one(
        "SELECT r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb,"
        " current_user <> (SELECT tableowner FROM pg_tables WHERE tablename = 'training_programs')"
        " AS not_owner,"
        " pg_has_role(current_user, 'tpg_app', 'MEMBER') AS in_app,"
        " pg_has_role(current_user, 'tpg_api_user', 'MEMBER') AS in_api"
        " FROM pg_roles r WHERE r.rolname = current_user"
    )
    assert row == {
        "rolsuper": False,
        "rolbypassrls": False,
        "rolcreaterole": False,
        "rolcreatedb": False,
        "not_owner": True,
        "in_app": True,
        "in_api": True,
    }


@pytest.mark.parametrize("statement", OWNER_THINGS)
def test_the_app_role_cannot_do_owner_things(
    app_db: Database, sql: psycopg.Connection, statement: LiteralString
) -> None:
    new_user(sql)  # a row for DELETE/TRUNCATE to find
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_db.fetch_all(statement)
    assert sql.execute("SELECT count(*) AS n FROM profiles").fetchone() == {"n": 1}


def test_under_the_api_role_the_app_role_sees_only_the_callers_rows(
    app_db: Database, sql: psycopg.Connection
) -> None:
    users = []
    for _ in range(2):
        user_id, token = new_user(sql)
        invoke_trigger(http_event("POST", "/programs", token=token), RecordingDispatcher())
        users.append(user_id)
    alice, bob = users
    seen = app_db.fetch_all("SELECT user_id FROM training_programs", as_user=alice)
    assert [r["user_id"] for r in seen] == [alice]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        app_db.fetch_one("DELETE FROM training_programs RETURNING id", as_user=alice)
    # as itself (the worker, the sweeper) it reads every row, as the service must
    assert {r["user_id"] for r in app_db.fetch_all("SELECT user_id FROM training_programs")} == {alice, bob}
