"""The `tpg` command as a person runs it, in a subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid

import pytest

from tests.conftest import needs_owner


def _tpg(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tpg_local.cli", *args], capture_output=True, text=True, timeout=180, env=env
    )


def _env(database: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "LLM_PROVIDER")}
    env.update({"DATABASE_URL": database, "OFFLINE_LATENCY_SECONDS": "1"})
    return env


@needs_owner  # `tpg demo` migrates and seeds: local tooling, run with the owner's URL
def test_demo_shows_the_status_changing_and_a_program(database) -> None:
    result = _tpg("demo", env=_env(database))
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "202 pending" in out
    assert out.index("processing") < out.index("completed")
    assert "Week 1" in out and "Day 1" in out


@needs_owner  # `tpg migrate` and `tpg seed` need the owner's URL
def test_migrate_seed_and_token(database) -> None:
    env = _env(database)
    assert _tpg("migrate", env=env).stdout.strip() == "database is up to date"
    seeded = json.loads(_tpg("seed-user", env=env).stdout)
    assert set(seeded) == {"userId", "token"}
    token = _tpg("token", "--user-id", seeded["userId"], env=env).stdout.strip()
    assert token.count(".") == 2
    swept = json.loads(_tpg("sweep", env=env).stdout)
    assert swept["failed"] == 0


# ------------------------------------------------------------------- errors: one line, an exit code

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/postgres"


def _one_line_error(result: subprocess.CompletedProcess, code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    "args", [("migrate",), ("stats",), ("seed-user",), ("sweep",), ("demo",), ("serve", "--port", "3999")]
)
def test_an_unreachable_database_is_one_line_exit_1(args) -> None:
    line = _one_line_error(_tpg(*args, env={**_env(UNREACHABLE), "PGCONNECT_TIMEOUT": "5"}), 1)
    assert line.startswith("tpg: cannot connect to the database at 127.0.0.1:1/postgres (DATABASE_URL)")
    assert "DATABASE_URL" in line and "embedded" in line  # what to do


def test_the_traceback_is_there_with_tpg_debug() -> None:
    result = _tpg("migrate", env={**_env(UNREACHABLE), "TPG_DEBUG": "1"})
    assert result.returncode != 0 and "Traceback" in result.stderr


@needs_owner  # `tpg serve` migrates before it binds: the owner's URL
def test_a_port_in_use_is_one_line_exit_1(database) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", _free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        realtime = str(_free_port())
        line = _one_line_error(
            _tpg("serve", "--port", str(port), "--realtime-port", realtime, env=_env(database)), 1
        )
    assert (
        line
        == f"tpg: port {port} on 127.0.0.1 is already in use; "
        + "stop what listens there or choose another --port"
    )


@needs_owner  # `tpg serve` migrates before it binds: the owner's URL
def test_a_realtime_port_in_use_is_one_line_naming_its_option(database) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", _free_port()))
        taken.listen()
        port = taken.getsockname()[1]
        args = ("serve", "--port", str(_free_port()), "--realtime-port", str(port))
        line = _one_line_error(_tpg(*args, env=_env(database)), 1)
    assert line == (
        f"tpg: port {port} on 127.0.0.1 is already in use; "
        + "stop what listens there or choose another --realtime-port"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("stats", "--hours", "-5"), "tpg stats: error: argument --hours: must be > 0 hours, not -5"),
        (("stats", "--hours", "0"), "argument --hours: must be > 0 hours, not 0"),
        (("stats", "--hours", "soon"), "argument --hours: must be > 0 hours, not 'soon'"),
        (("serve", "--port", "70000"), "argument --port: must be a TCP port from 1 to 65535, not 70000"),
        (("serve", "--port", "0"), "argument --port: must be a TCP port from 1 to 65535, not 0"),
        (
            ("serve", "--realtime-port", "0"),
            "argument --realtime-port: must be a TCP port from 1 to 65535, not 0",
        ),
        (("serve", "--grace-seconds", "-1"), "argument --grace-seconds: must be >= 0 seconds, not -1"),
        (
            ("token", "--user-id", str(uuid.uuid4()), "--ttl", "0"),
            "argument --ttl: must be > 0 whole seconds",
        ),
        (("token", "--user-id", "me"), "argument --user-id: invalid UUID value: 'me'"),
        (("stats", "--days", "1"), "unrecognized arguments: --days 1"),
        (("nonsense",), "argument command: invalid choice: 'nonsense'"),
    ],
)
def test_a_bad_argument_is_one_line_exit_2(args, expected) -> None:
    line = _one_line_error(_tpg(*args, env=_env(UNREACHABLE)), 2)
    assert expected in line and line.endswith("--help)")


def test_an_invalid_environment_variable_is_one_line_exit_2(database) -> None:
    env = {**_env(database), "OFFLINE_LATENCY_SECONDS": "500"}
    line = _one_line_error(_tpg("token", "--user-id", str(uuid.uuid4()), env=env), 2)
    assert line.startswith("tpg: invalid configuration: OFFLINE_LATENCY_SECONDS:")


def test_help_documents_the_exit_codes() -> None:
    result = _tpg("--help", env=_env(UNREACHABLE))
    assert result.returncode == 0
    assert "exit codes:" in result.stdout and "TPG_DEBUG=1" in result.stdout
    for code in ("0", "1", "2", "3", "130"):
        assert f"\n  {code}  " in result.stdout, result.stdout
    serve = _tpg("serve", "--help", env=_env(UNREACHABLE)).stdout
    assert "--grace-seconds SECONDS" in serve and "1-65535" in serve
