"""`tpg serve` stopped by SIGTERM or Ctrl-C while a generation runs: it stops accepting, lets the
generation finish within --grace-seconds, else releases its row back to pending; never a row left
`processing` under a lease of many minutes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import needs_owner
from tests.support import new_user
from tpg_local.client import call

pytestmark = needs_owner  # `tpg serve` migrates at start: local tooling, run with the owner's URL

LEASE_SECONDS = 960  # the default lease: what a killed server would leave behind


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(port: int, latency: float, grace: float) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "LLM_PROVIDER")}
    env.update({"OFFLINE_LATENCY_SECONDS": str(latency), "GENERATION_LEASE_SECONDS": str(LEASE_SECONDS)})
    command = [
        sys.executable,
        "-m",
        "tpg_local.cli",
        "serve",
        "--port",
        str(port),
        "--realtime-port",
        str(_free_port()),
        "--grace-seconds",
        str(grace),
    ]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_until_up(process: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            if call(url, "GET", "/health", timeout=1).status == 200:
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail("tpg serve did not answer within 60 s")


def _wait_status(sql, program_id: str, status: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        row = sql.execute(
            "SELECT generation_status FROM training_programs WHERE id = %s", (program_id,)
        ).fetchone()
        if row["generation_status"] == status:
            return
        time.sleep(0.05)
    pytest.fail(f"{program_id} never reached {status}")


@pytest.mark.parametrize(
    ("latency", "grace", "stop_signal", "final"),
    [
        (30.0, 2.0, signal.SIGTERM, "pending"),  # cannot finish in time: released
        (2.0, 20.0, signal.SIGTERM, "completed"),  # finishes within the grace period
        (2.0, 20.0, signal.SIGINT, "completed"),  # Ctrl-C: the same
    ],
)
def test_a_stop_signal_finishes_or_releases_the_running_generation(
    database, sql, latency, grace, stop_signal, final
) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = _serve(port, latency, grace)
    try:
        _wait_until_up(process, url)
        _, token = new_user(sql)
        accepted = call(url, "POST", "/programs", token=token, body={"name": "Interrupted"})
        assert accepted.status == 202
        program_id = accepted.body["programId"]
        _wait_status(sql, program_id, "processing")

        process.send_signal(stop_signal)
        started = time.monotonic()
        out, err = process.communicate(timeout=grace + 30)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err[-2000:]
    assert took < (grace if final == "pending" else latency) + 5, (took, out)
    assert "Traceback" not in err, err[-2000:]
    assert "stopping" in out and "stopped" in out

    row = sql.execute(
        "SELECT generation_status, lease_expires_at, attempts, max_attempts FROM training_programs"
        " WHERE id = %s",
        (program_id,),
    ).fetchone()
    assert row["generation_status"] == final
    if final == "pending":
        assert row["lease_expires_at"] is None
        # the interrupted attempt is given back: as many attempts left as before the claim
        assert row["max_attempts"] - row["attempts"] == 3
        assert f"released 1 unfinished generation(s) back to pending: {program_id}" in out
    with pytest.raises(OSError):  # nothing listens any more
        call(url, "GET", "/health", timeout=1)


def test_a_second_ctrl_c_releases_at_once(database, sql) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = _serve(port, latency=30.0, grace=60.0)
    try:
        _wait_until_up(process, url)
        _, token = new_user(sql)
        program_id = call(url, "POST", "/programs", token=token).body["programId"]
        _wait_status(sql, program_id, "processing")
        process.send_signal(signal.SIGINT)
        time.sleep(1.0)
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0 and took < 5, (took, err[-2000:])
    status = sql.execute(
        "SELECT generation_status FROM training_programs WHERE id = %s", (program_id,)
    ).fetchone()["generation_status"]
    assert status == "pending"
