"""Row Level Security is a second wall: API statements run as the caller, so even a query that
forgot its user filter sees and changes only the caller's rows."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.support import RecordingDispatcher, http_event, invoke_trigger, new_user
from tpg.store.db import API_ROLE, Database


@pytest.fixture
def db(handlers) -> Database:
    """The database access the handlers use."""
    return handlers.trigger.db


@pytest.fixture
def two_users_with_programs(sql):
    users = []
    for _ in range(2):
        user_id, token = new_user(sql)
        invoke_trigger(http_event("POST", "/programs", token=token), RecordingDispatcher())
        users.append(user_id)
    return users


def test_a_query_without_a_user_filter_sees_only_the_callers_rows(two_users_with_programs, db) -> None:
    alice, bob = two_users_with_programs
    for table, owner_column in [
        ("training_programs", "user_id"),
        ("profiles", "id"),
        ("onboarding_responses", "user_id"),
        ("subscriptions", "user_id"),
        ("generation_requests", "user_id"),
    ]:
        rows = db.fetch_all(f"SELECT {owner_column} AS owner FROM {table}", as_user=alice)  # noqa: S608
        assert {r["owner"] for r in rows} == {alice}, table
    # the service's own connection (worker, sweeper) is not bound by the policies
    assert {r["user_id"] for r in db.fetch_all("SELECT user_id FROM training_programs")} == {alice, bob}


def test_an_unfiltered_update_changes_only_the_callers_rows(two_users_with_programs, sql, db) -> None:
    alice, bob = two_users_with_programs
    changed = db.fetch_all("UPDATE training_programs SET name = 'renamed' RETURNING user_id", as_user=alice)
    assert [r["user_id"] for r in changed] == [alice]
    names = {r["user_id"]: r["name"] for r in sql.execute("SELECT user_id, name FROM training_programs")}
    assert names[bob] != "renamed"


def test_a_row_for_another_user_cannot_be_inserted(two_users_with_programs, db) -> None:
    alice, bob = two_users_with_programs
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.fetch_one(
            "INSERT INTO training_programs (user_id, name, generation_status)"
            " VALUES (%(u)s, 'x', 'completed')",
            {"u": bob},
            as_user=alice,
        )


def test_without_claims_the_api_role_sees_nothing(two_users_with_programs, db) -> None:
    assert db.fetch_all("SELECT id FROM training_programs", as_user=uuid.uuid4()) == []


def test_the_role_does_not_outlive_the_statement(two_users_with_programs, db) -> None:
    alice, _ = two_users_with_programs
    db.fetch_all("SELECT 1", as_user=alice)
    row = db.fetch_one("SELECT current_user AS who, current_setting('request.jwt.claims', true) AS claims")
    assert row["who"] != API_ROLE and not row["claims"]
