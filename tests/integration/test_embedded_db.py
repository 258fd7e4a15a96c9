"""The embedded server recovers from a hard kill: a stale postmaster.pid must not make it look
as if a dead server were still running (CI ends every process of a session outright)."""

from __future__ import annotations

import os

import pytest

from tpg_local.embedded_db import _remove_stale_pid_file


def _pid_file(tmp_path, pid: int):
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    (pgdata / "postmaster.pid").write_text(f"{pid}\n/some/dir\n1700000000\n5432\n")
    return pgdata


def test_a_pid_file_of_a_dead_server_is_removed(tmp_path) -> None:
    pgdata = _pid_file(tmp_path, 2**22 + 12345)  # above Linux's default pid_max: no such process
    _remove_stale_pid_file(pgdata)
    assert not (pgdata / "postmaster.pid").exists()


def test_a_pid_reused_by_another_program_counts_as_dead(tmp_path) -> None:
    pgdata = _pid_file(tmp_path, os.getpid())  # alive, but it is this Python, not PostgreSQL
    _remove_stale_pid_file(pgdata)
    assert not (pgdata / "postmaster.pid").exists()


def test_the_pid_file_of_a_running_server_is_kept(database_server_url) -> None:
    from tpg_local.embedded_db import data_dir

    pgdata = data_dir() / "pgdata"
    if "DATABASE_URL" in os.environ or not (pgdata / "postmaster.pid").exists():
        pytest.skip("the suite runs against an external server, not the embedded one")
    _remove_stale_pid_file(pgdata)
    assert (pgdata / "postmaster.pid").exists()
