"""`tpg batch create|status|cancel`, `tpg token --service` and the batch figures of `tpg stats`,
in a subprocess."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import psycopg

from tests.conftest import needs_owner
from tests.e2e.test_cli import _env, _one_line_error, _tpg
from tpg_local.seed import seed_user


@needs_owner  # the batch commands migrate first: the owner's URL
def test_a_batch_created_swept_and_followed_from_the_command_line(
    database, database_url, tmp_path: Path
) -> None:
    env = _env(database)
    with psycopg.connect(database_url, autocommit=True) as conn:
        first, second = seed_user(conn), seed_user(conn)
    unknown = uuid.uuid4()
    users_file = tmp_path / "users.txt"
    users_file.write_text(f"# the roster\n{second}\n\n{unknown}  # left the club\n")

    created = _tpg(
        "batch", "create", "--user-id", str(first), "--users-file", str(users_file), "--weeks", "6", env=env
    )
    assert created.returncode == 0, created.stderr[-2000:]
    answer = json.loads(created.stdout)
    assert (answer["accepted"], answer["rejected"]) == (2, 1)
    assert answer["statusUrl"] == f"/batches/{answer['batchId']}"

    swept = json.loads(_tpg("sweep", env=env).stdout)  # offline: the rules engine writes them
    assert swept["batchQueued"] == 2 and swept["failed"] == 0

    status = _tpg("batch", "status", answer["batchId"], env=env)
    assert status.returncode == 0, status.stderr[-2000:]
    body = json.loads(status.stdout)
    assert body["status"] == "ended" and body["weeks"] == 6
    assert body["counts"] == {
        "pending": 0,
        "processing": 0,
        "completed": 2,
        "failed": 0,
        "cancelled": 0,
        "rejected": 1,
    }
    assert [m["userId"] for m in body["members"]] == [str(first), str(second), str(unknown)]
    summary = json.loads(_tpg("batch", "status", answer["batchId"], "--summary", env=env).stdout)
    assert "members" not in summary and summary["counts"] == body["counts"]

    stats = json.loads(_tpg("stats", "--json", env=env).stdout)
    assert stats["batched"] == 0 and stats["by_kind"]["batch"]["completed"] == 2

    # tpg batch cancel: what is not final yet is cancelled; a batch with nothing left: one line
    waiting = json.loads(_tpg("batch", "create", "--user-id", str(first), env=env).stdout)
    cancelled = _tpg("batch", "cancel", waiting["batchId"], env=env)
    assert cancelled.returncode == 0, cancelled.stderr[-2000:]
    assert json.loads(cancelled.stdout) == {
        "batchId": waiting["batchId"],
        "status": "ended",
        "cancelRequested": True,
        "cancelled": 1,
        "stopping": 0,
    }
    line = _one_line_error(_tpg("batch", "cancel", waiting["batchId"], env=env), 1)
    assert line == f"tpg: batch {waiting['batchId']} has nothing left to cancel (every member is final)"


def test_a_service_token_from_the_command_line(database) -> None:
    token = _tpg("token", "--service", env=_env(database)).stdout.strip()
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["role"] == "service_role" and claims["exp"] - claims["iat"] == 3600
    assert claims["aud"] == "tpg-service"  # SERVICE_TOKEN_AUDIENCE, never the users' audience


@needs_owner
def test_batch_command_errors_are_one_line(database, tmp_path: Path) -> None:
    env = _env(database)
    missing = uuid.uuid4()
    line = _one_line_error(_tpg("batch", "status", str(missing), env=env), 1)
    assert line == f"tpg: no batch {missing}; check the id `tpg batch create` printed"
    bad = tmp_path / "users.txt"
    bad.write_text(f"{uuid.uuid4()}\nnot-a-user\n")
    line = _one_line_error(_tpg("batch", "create", "--users-file", str(bad), env=env), 2)
    assert line == f"tpg: {bad}:2 is not a user id (a UUID); fix the file"
    line = _one_line_error(_tpg("batch", "create", env=env), 2)
    assert line == "tpg: no user ids; give --user-id (repeatable) or --users-file"
    twice = str(uuid.uuid4())
    line = _one_line_error(_tpg("batch", "create", "--user-id", twice, "--user-id", twice, env=env), 2)
    assert line.startswith("tpg: invalid batch: user_ids:") and "once" in line
    line = _one_line_error(_tpg("token", env=env), 2)
    assert "--user-id" in line and "--service" in line
