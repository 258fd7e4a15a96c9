"""Migrations on a real server: ordered, idempotent, and the seed migration's backfill."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tpg_local.embedded_db import create_database, drop_database
from tpg_local.migrate import load_migrations, migrate

SEED_VERSION = "20250801125658"


@pytest.fixture
def scratch_database(database_server_url: str):
    name = f"tpg_mig_{uuid.uuid4().hex[:10]}"
    url = create_database(database_server_url, name)
    yield url
    drop_database(database_server_url, name)


def test_the_seed_migration_is_present_under_its_name() -> None:
    names = [f"{m.version}_{m.name}" for m in load_migrations()]
    assert f"{SEED_VERSION}_add_generation_status_to_training_programs" in names
    assert names == sorted(names)


def test_migrate_twice_is_a_no_op(scratch_database: str) -> None:
    first = migrate(scratch_database)
    assert len(first) == len(load_migrations())
    assert migrate(scratch_database) == []
    with psycopg.connect(scratch_database) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(first)


def test_existing_programs_are_backfilled_to_completed(scratch_database: str) -> None:
    migrate(scratch_database, target="20250701000000")  # the base schema only
    user_id = uuid.uuid4()
    with psycopg.connect(scratch_database, autocommit=True) as conn:
        conn.execute("INSERT INTO profiles (id) VALUES (%s)", (user_id,))
        conn.execute(
            "INSERT INTO training_programs (user_id, name, program) VALUES (%s, 'old', '{}')", (user_id,)
        )
    migrate(scratch_database)
    with psycopg.connect(scratch_database, autocommit=True) as conn:
        old = conn.execute("SELECT generation_status, completed_at FROM training_programs").fetchone()
        assert old[0] == "completed" and old[1] is not None
        conn.execute("INSERT INTO training_programs (user_id, name) VALUES (%s, 'new')", (user_id,))
        assert (
            conn.execute("SELECT generation_status FROM training_programs WHERE name = 'new'").fetchone()[0]
            == "pending"
        )
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("UPDATE training_programs SET generation_status = 'done'")


def test_one_generation_in_flight_per_user_is_enforced_by_the_database(scratch_database: str) -> None:
    migrate(scratch_database)
    user_id = uuid.uuid4()
    with psycopg.connect(scratch_database, autocommit=True) as conn:
        conn.execute("INSERT INTO profiles (id) VALUES (%s)", (user_id,))
        conn.execute("INSERT INTO training_programs (user_id, name) VALUES (%s, 'a')", (user_id,))
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                "INSERT INTO training_programs (user_id, name, generation_status, attempts, lease_expires_at)"
                " VALUES (%s, 'b', 'processing', 1, now() + interval '1 hour')",
                (user_id,),
            )
        # finished programs do not count
        conn.execute(
            "INSERT INTO training_programs (user_id, name, generation_status, error_code)"
            " VALUES (%s, 'c', 'failed', 'X')",
            (user_id,),
        )


def test_an_edited_applied_migration_is_refused(scratch_database: str, tmp_path) -> None:
    (tmp_path / "20990101000000_one.sql").write_text("CREATE TABLE one (id int);")
    migrate(scratch_database, directory=tmp_path)
    (tmp_path / "20990101000000_one.sql").write_text("CREATE TABLE one (id bigint);")
    with pytest.raises(RuntimeError, match="was edited"):
        migrate(scratch_database, directory=tmp_path)


def test_rows_from_before_the_coherence_checks_are_made_coherent(scratch_database: str) -> None:
    migrate(scratch_database, target="20251128141000")  # everything before the state constraints
    user_id = uuid.uuid4()
    with psycopg.connect(scratch_database, autocommit=True) as conn:
        conn.execute("INSERT INTO profiles (id) VALUES (%s)", (user_id,))
        # an old app row without a program, a failure without a code, an unleased worker
        for name, status in (("empty", "completed"), ("silent", "failed"), ("held", "processing")):
            conn.execute(
                "INSERT INTO training_programs (user_id, name, generation_status) VALUES (%s, %s, %s)",
                (user_id, name, status),
            )
    migrate(scratch_database)
    with psycopg.connect(scratch_database, autocommit=True) as conn:
        found = conn.execute(
            "SELECT name, generation_status, error_code, lease_expires_at IS NOT NULL FROM training_programs"
        ).fetchall()
    rows = {name: (status, code, leased) for name, status, code, leased in found}
    assert rows == {
        "empty": ("failed", "INTERNAL_ERROR", False),
        "silent": ("failed", "INTERNAL_ERROR", False),
        "held": ("processing", None, True),
    }


def test_rows_waiting_at_the_job_control_migration_keep_their_age_and_get_their_tiers_rank(
    scratch_database: str,
) -> None:
    migrate(scratch_database, target="20261202120000")  # everything before job control
    standard, premium = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(scratch_database, autocommit=True) as conn:
        for user_id, tier in ((standard, "standard"), (premium, "premium")):
            conn.execute("INSERT INTO profiles (id) VALUES (%s)", (user_id,))
            conn.execute(
                "INSERT INTO subscriptions (user_id, status, tier) VALUES (%s, 'active', %s)", (user_id, tier)
            )
            conn.execute(
                "INSERT INTO training_programs (user_id, name, created_at)"
                " VALUES (%s, %s, now() - interval '1 hour')",
                (user_id, tier),
            )
    migrate(scratch_database)
    with psycopg.connect(scratch_database, autocommit=True) as conn:
        found = conn.execute(
            "SELECT name, priority, extract(epoch FROM created_at - ranked_at)::int,"
            " queued_at = created_at FROM training_programs"
        ).fetchall()
    assert {name: rest for name, *rest in found} == {"standard": [0, 0, True], "premium": [10, 600, True]}
