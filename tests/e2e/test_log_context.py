"""The local stack runs the handlers on threads, while Powertools' logger keys are shared by the
process: each line must still name its own function, request id and correlation id."""

from __future__ import annotations

import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import pytest

from tests.support import new_user
from tpg.platform.errors import DispatchError
from tpg.platform.observability import logger
from tpg_local.client import call
from tpg_local.server import LocalStack


class EveryOtherFails:
    """Dispatches every other program; the others fail (the trigger logs it, with the program id)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls, self._lock = inner, 0, threading.Lock()

    def dispatch(self, program_id: UUID, *, reason: str) -> None:
        with self._lock:
            self.calls += 1
            fail = self.calls % 2 == 0
        if fail:
            raise DispatchError("simulated outage")
        self.inner.dispatch(program_id, reason=reason)


@pytest.fixture
def logs(handlers):
    previous = logger.log_level
    logger.setLevel("INFO")
    buffer = io.StringIO()
    stream = logger.registered_handler.setStream(buffer)
    yield buffer
    logger.registered_handler.setStream(stream)
    logger.setLevel(previous)


def test_each_line_carries_its_own_invocation(handlers, sql, logs) -> None:
    settings = handlers.settings.model_copy(update={"offline_latency_seconds": 0.4})
    users = [new_user(sql) for _ in range(12)]
    with LocalStack(port=0, generate_concurrency=4, sweep_interval=0.05, settings=settings) as stack:
        stack.wiring.update(dispatcher=EveryOtherFails(stack.dispatcher))
        with ThreadPoolExecutor(max_workers=6) as clients:
            answers = list(
                clients.map(lambda user: call(stack.url, "POST", "/programs", token=user[1], body={}), users)
            )
        assert [a.status for a in answers] == [202] * len(users)
    rows = {
        str(r["id"]): r
        for r in sql.execute("SELECT id, generation_status, claimed_by FROM training_programs").fetchall()
    }
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]

    generate = [line for line in lines if line["message"] in ("claimed", "completed")]
    completed = {pid for pid, row in rows.items() if row["generation_status"] == "completed"}
    assert len(completed) == len(users) // 2
    assert len(generate) == 2 * len(completed)
    for line in generate:
        assert line["function_name"] == "generate", line
        assert line["correlation_id"] in completed, line
        assert line["function_request_id"] == rows[line["correlation_id"]]["claimed_by"], line

    failed_dispatches = [line for line in lines if line["message"].startswith("dispatch failed")]
    assert len(failed_dispatches) == len(users) // 2
    for line in failed_dispatches:
        assert line["function_name"] == "trigger", line
        assert line["correlation_id"] not in rows and line["function_request_id"] not in rows, line
        assert line["function_request_id"] not in {row["claimed_by"] for row in rows.values()}, line

    sweeps = [line for line in lines if line["message"] == "sweep finished"]
    assert sweeps
    for line in sweeps:
        assert line["function_name"] == "sweeper" and "correlation_id" not in line, line
