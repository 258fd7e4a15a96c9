"""The `tpg` command as a person runs it, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def _tpg(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tpg_local.cli", *args], capture_output=True, text=True, timeout=180, env=env
    )


def _env(database: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "LLM_PROVIDER")}
    env.update({"DATABASE_URL": database, "OFFLINE_LATENCY_SECONDS": "1"})
    return env


def test_demo_shows_the_status_changing_and_a_program(database) -> None:
    result = _tpg("demo", env=_env(database))
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "202 pending" in out
    assert out.index("processing") < out.index("completed")
    assert "Week 1" in out and "Day 1" in out


def test_migrate_seed_and_token(database) -> None:
    env = _env(database)
    assert _tpg("migrate", env=env).stdout.strip() == "database is up to date"
    seeded = json.loads(_tpg("seed-user", env=env).stdout)
    assert set(seeded) == {"userId", "token"}
    token = _tpg("token", "--user-id", seeded["userId"], env=env).stdout.strip()
    assert token.count(".") == 2
    swept = json.loads(_tpg("sweep", env=env).stdout)
    assert swept["failed"] == 0
