"""`tpg serve` paces the offline engine so a generation's progress can be watched: about 8 s by
default, `--latency SECONDS` (or OFFLINE_LATENCY_SECONDS) to change it, and says so at start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import needs_owner
from tests.e2e.test_serve_stop import _free_port, _wait_until_up
from tests.support import new_user
from tpg_local.client import call

pytestmark = needs_owner  # `tpg serve` migrates at start: local tooling, run with the owner's URL


def _serve(*args: str, environ: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "LLM_PROVIDER")}
    env.update(environ or {})
    command = [sys.executable, "-m", "tpg_local.cli", "serve", "--port", str(port)]
    command += ["--realtime-port", str(_free_port()), *args]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    _wait_until_up(process, url)
    return process, url


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=30)
    return out


def _generation_seconds(url: str, token: str) -> float:
    started = time.monotonic()
    program_id = call(url, "POST", "/programs", token=token).body["programId"]
    while call(url, "GET", f"/programs/{program_id}", token=token).body["status"] != "completed":
        assert time.monotonic() - started < 30, "the generation did not complete"
        time.sleep(0.1)
    return time.monotonic() - started


def test_serve_paces_generation_by_default_and_says_so(database: str, sql) -> None:
    process, url = _serve()
    try:
        _, token = new_user(sql)
        took = _generation_seconds(url, token)
    finally:
        out = _stop(process)
    assert "generation  about 8 s each (offline engine; --latency SECONDS to change, 0: instant)" in out
    assert 7.5 <= took < 20, took


@pytest.mark.parametrize(
    ("args", "environ", "said"),
    [
        (("--latency", "0"), {"OFFLINE_LATENCY_SECONDS": "30"}, "about 0 s each"),  # the option wins
        ((), {"OFFLINE_LATENCY_SECONDS": "1.5"}, "about 1.5 s each"),  # the environment, when set
    ],
)
def test_the_pace_is_configurable(
    database: str, sql, args: tuple[str, ...], environ: dict[str, str], said: str
) -> None:
    process, url = _serve(*args, environ=environ)
    try:
        _, token = new_user(sql)
        took = _generation_seconds(url, token)
    finally:
        out = _stop(process)
    assert said in out
    assert took < (3.5 if said == "about 1.5 s each" else 1.5), took
