"""End to end over HTTP through the local stack: the same handlers, only the transport differs."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.conftest import token_for
from tests.support import new_user
from tpg_local.client import call
from tpg_local.server import LocalStack


@pytest.fixture
def stack(handlers):
    with LocalStack(port=0, sweep_interval=0.5, settings=handlers.settings) as running:
        yield running


def _wait_final(stack: LocalStack, token: str, program_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        body = call(stack.url, "GET", f"/programs/{program_id}", token=token).body
        seen.append(body["status"])
        if body["status"] in ("completed", "failed"):
            body["_seen"] = seen
            return body
        time.sleep(0.05)
    raise AssertionError(f"not final after {timeout}s: {seen[-5:]}")


def test_request_poll_and_read_the_program(stack, sql) -> None:
    _, token = new_user(sql)
    accepted = call(stack.url, "POST", "/programs", token=token, body={"name": "Block one", "weeks": 3})
    assert accepted.status == 202 and accepted.headers["location"] == accepted.body["statusUrl"]
    final = _wait_final(stack, token, accepted.body["programId"])
    assert final["status"] == "completed" and final["error"] is None and final["completedAt"]
    assert final["program"]["name"] == "Block one" and final["program"]["weeks"] == 3
    listed = call(stack.url, "GET", "/programs", token=token).body
    assert [item["programId"] for item in listed["items"]] == [accepted.body["programId"]]


def test_a_failed_generation_can_be_retried_after_the_user_fixes_onboarding(stack, sql) -> None:
    user_id, token = new_user(sql)
    # Lift history the database stores but the pipeline cannot use: the attempt fails for good.
    sql.execute(
        "UPDATE onboarding_responses SET lifts = %s::jsonb WHERE user_id = %s",
        ('[{"exercise_id": "barbell_back_squat", "weight_kg": -20, "reps": 5}]', user_id),
    )
    program_id = call(stack.url, "POST", "/programs", token=token).body["programId"]
    failed = _wait_final(stack, token, program_id)
    assert failed["status"] == "failed" and failed["error"]["code"] == "INVALID_USER_DATA"

    sql.execute("UPDATE onboarding_responses SET lifts = '[]' WHERE user_id = %s", (user_id,))
    retried = call(stack.url, "POST", f"/programs/{program_id}/retry", token=token)
    assert retried.status == 202 and retried.body["status"] == "pending"
    assert _wait_final(stack, token, program_id)["status"] == "completed"
    assert call(stack.url, "POST", f"/programs/{program_id}/retry", token=token).status == 409


def test_error_paths_over_http(stack, sql) -> None:
    _, token = new_user(sql)
    _, unsubscribed = new_user(sql, subscribed=False)
    assert call(stack.url, "POST", "/programs").status == 401
    assert call(stack.url, "POST", "/programs", token=token_for(uuid.uuid4(), ttl_seconds=-1)).status == 401
    assert call(stack.url, "POST", "/programs", token=unsubscribed).status == 402
    assert call(stack.url, "GET", f"/programs/{uuid.uuid4()}", token=token).status == 404
    too_big = call(stack.url, "POST", "/programs", token=token, raw_body=b"{" + b" " * 40_000 + b"}")
    assert too_big.status == 413 and too_big.body["error"]["code"] == "PAYLOAD_TOO_LARGE"
    first = call(stack.url, "POST", "/programs", token=token)
    second = call(stack.url, "POST", "/programs", token=token)
    if second.status == 409:  # the first may already have completed on a fast machine
        assert second.body["error"]["programId"] == first.body["programId"]
    _wait_final(stack, token, first.body["programId"])
    assert call(stack.url, "GET", "/health").status == 200


def test_every_accepted_request_reaches_a_final_status(stack, sql) -> None:
    users = [new_user(sql) for _ in range(10)]
    accepted = [call(stack.url, "POST", "/programs", token=token).body["programId"] for _, token in users]
    finals = [
        _wait_final(stack, token, pid)["status"] for (_, token), pid in zip(users, accepted, strict=True)
    ]
    assert finals == ["completed"] * 10
