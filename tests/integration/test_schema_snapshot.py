"""The schema as a document, and the database's own guard on coherent generation states.

`migrations/snapshot/schema.sql` must be exactly what the migrations build from an empty database
(`make schema` regenerates it); the CHECK constraints of 20261202100000 refuse incoherent rows.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql as pgsql
from psycopg.types.json import Jsonb

from tests.support import new_user
from tpg_local.migrate import migrations_dir
from tpg_local.schema import SNAPSHOT, diff, migrated_schema


def test_the_migrations_build_exactly_the_committed_schema(database_server_url: str) -> None:
    changes = diff(SNAPSHOT.read_text(), migrated_schema(database_server_url))
    if changes:
        pytest.fail(
            "migrations/snapshot/schema.sql is not what the migrations build: run `make schema` and"
            f" commit it with the migration (migrations/README.md)\n\n{changes}",
            pytrace=False,
        )


def test_a_migration_the_snapshot_does_not_know_shows_as_a_diff(
    database_server_url: str, tmp_path: Path
) -> None:
    for migration in migrations_dir().glob("*.sql"):
        shutil.copy(migration, tmp_path)
    before = migrated_schema(database_server_url, directory=tmp_path)
    (tmp_path / "29991231000000_unrecorded.sql").write_text(
        "CREATE TABLE zz_unrecorded (id integer PRIMARY KEY, note text);\n"
        "CREATE INDEX zz_unrecorded_note_idx ON zz_unrecorded (note);\n"
    )
    changes = diff(before, migrated_schema(database_server_url, directory=tmp_path))
    added = [line for line in changes.splitlines() if line.startswith("+") and not line.startswith("+++")]
    removed = [line for line in changes.splitlines() if line.startswith("-") and not line.startswith("---")]
    assert removed == []
    assert [line for line in added if line != "+"] == [
        "+CREATE TABLE public.zz_unrecorded (",
        "+    id integer NOT NULL,",
        "+    note text",
        "+);",
        "+ALTER TABLE public.zz_unrecorded ADD CONSTRAINT zz_unrecorded_pkey PRIMARY KEY (id);",
        "+CREATE INDEX zz_unrecorded_note_idx ON public.zz_unrecorded USING btree (note);",
    ]


# --- Coherent states (migrations/20261202100000_coherent_generation_states.sql) -------------------


def _insert(sql: psycopg.Connection, user_id: Any, **columns: Any) -> None:
    columns = {"user_id": user_id, "name": "p", **columns}
    sql.execute(
        pgsql.SQL("INSERT INTO training_programs ({}) VALUES ({})").format(
            pgsql.SQL(", ").join(pgsql.Identifier(c) for c in columns),
            pgsql.SQL(", ").join(pgsql.Placeholder(c) for c in columns),
        ),
        {c: Jsonb(v) if isinstance(v, dict) else v for c, v in columns.items()},
    )


PROGRAM = {"weeks": []}
COMPLETED = {"generation_status": "completed", "program": PROGRAM, "completed_at": "2026-12-01T00:00:00Z"}
PROCESSING = {"generation_status": "processing", "attempts": 1, "lease_expires_at": "2099-01-01T00:00:00Z"}

INCOHERENT = {
    "a pending row with a program": (
        {"generation_status": "pending", "program": PROGRAM},
        "training_programs_program_only_when_completed",
    ),
    "a processing row with a program": (
        {**PROCESSING, "program": PROGRAM},
        "training_programs_program_only_when_completed",
    ),
    "a failed row with a program": (
        {"generation_status": "failed", "error_code": "X", "program": PROGRAM},
        "training_programs_program_only_when_completed",
    ),
    "a completed row with an error code": (
        {**COMPLETED, "error_code": "LLM_UNAVAILABLE"},
        "training_programs_completed_has_no_error",
    ),
    "a completed row with an error message": (
        {**COMPLETED, "generation_error": "boom"},
        "training_programs_completed_has_no_error",
    ),
    "a completed row without a program": (
        {"generation_status": "completed", "completed_at": "2026-12-01T00:00:00Z"},
        "training_programs_completed_has_program",
    ),
    "a completed row without its completion time": (
        {"generation_status": "completed", "program": PROGRAM},
        "training_programs_completed_has_program",
    ),
    "a failed row without an error code": (
        {"generation_status": "failed", "generation_error": "boom"},
        "training_programs_failed_has_error",
    ),
    "a processing row without a lease": (
        {"generation_status": "processing", "attempts": 1},
        "training_programs_processing_holds_a_lease",
    ),
    "a processing row without an attempt": (
        {**PROCESSING, "attempts": 0},
        "training_programs_processing_holds_a_lease",
    ),
    "more attempts than allowed": (
        {**PROCESSING, "attempts": 4, "max_attempts": 3},
        "training_programs_attempts_within_max",
    ),
    "negative attempts": ({"attempts": -1}, "training_programs_attempts_check"),
    "no attempt allowed": ({"max_attempts": 0}, "training_programs_max_attempts_check"),
    "a negative dispatch count": ({"dispatch_count": -1}, "training_programs_dispatch_count_check"),
    "progress over 100": ({**PROCESSING, "progress": 101}, "training_programs_progress_check"),
    "negative progress": ({**PROCESSING, "progress": -1}, "training_programs_progress_check"),
    "an unknown status": ({"generation_status": "done"}, "training_programs_generation_status_check"),
}


@pytest.mark.parametrize("columns, constraint", INCOHERENT.values(), ids=INCOHERENT.keys())
def test_an_incoherent_row_is_refused(sql, columns: dict[str, Any], constraint: str) -> None:
    user_id, _ = new_user(sql)
    with pytest.raises(psycopg.errors.CheckViolation) as refused:
        _insert(sql, user_id, **columns)
    assert refused.value.diag.constraint_name == constraint


def test_an_update_that_would_make_a_row_incoherent_is_refused(sql) -> None:
    user_id, _ = new_user(sql)
    _insert(sql, user_id, generation_status="completed", program=PROGRAM, completed_at="2026-12-01T00:00:00Z")
    with pytest.raises(psycopg.errors.CheckViolation) as refused:
        sql.execute(
            "UPDATE training_programs SET generation_status = 'pending' WHERE user_id = %s", (user_id,)
        )
    assert refused.value.diag.constraint_name == "training_programs_program_only_when_completed"


COHERENT = {
    "pending": {"generation_status": "pending", "stage": "queued", "dispatch_count": 1},
    "pending after a failed attempt": {
        "generation_status": "pending",
        "attempts": 1,
        "error_code": "LLM_TIMEOUT",
    },
    "processing": {**PROCESSING, "stage": "generating", "progress": 40},
    "completed": {**COMPLETED, "progress": 100, "attempts": 1},
    "failed": {
        "generation_status": "failed",
        "attempts": 3,
        "error_code": "WORKER_LOST",
        "generation_error": "x",
    },
    "retried: attempts kept, more granted": {
        "generation_status": "pending",
        "attempts": 3,
        "max_attempts": 6,
    },
}


@pytest.mark.parametrize("columns", COHERENT.values(), ids=COHERENT.keys())
def test_the_states_the_service_writes_are_accepted(sql, columns: dict[str, Any]) -> None:
    user_id, _ = new_user(sql)
    _insert(sql, user_id, **columns)
