"""Realtime end to end through the local stack over real WebSockets: a ticket over HTTP, the socket
opened with it, and the program followed to `completed` by push alone; the same contract as in AWS
(the local stack builds API Gateway's WebSocket events for the realtime handler and plays its
Management API for the pushers)."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.conftest import settings_for_tests
from tests.support import http_event, invoke_trigger, new_user
from tpg.platform.observability import logger
from tpg_local.client import call
from tpg_local.realtime import LocalWebSocketApi
from tpg_local.server import LocalStack

FINAL = ("completed", "failed", "cancelled")


@pytest.fixture
def stack(handlers, database) -> Iterator[LocalStack]:
    # paced like an LLM call, so the stages and their pushes can be seen
    settings = settings_for_tests(database, offline_latency_seconds=1.5)
    with LocalStack(port=0, sweep_interval=0.5, settings=settings) as running:
        yield running


def _open(stack: LocalStack, token: str) -> ClientConnection:
    ticket = call(stack.url, "POST", "/realtime/tickets", token=token)
    assert ticket.status == 201, ticket.body
    assert ticket.body["url"].startswith(stack.realtime_url or "?")
    return connect(ticket.body["url"], open_timeout=5)


def _updates(socket: ClientConnection, program_id: str, timeout: float = 30) -> list[dict[str, Any]]:
    """Every message until the program's final one."""
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = json.loads(socket.recv(timeout=deadline - time.monotonic()))
        messages.append(message)
        if message["programId"] == program_id and message["status"] in FINAL:
            return messages
    raise AssertionError(f"no final update within {timeout} s: {messages[-3:]}")


def test_a_program_reaches_completed_by_push_alone(stack, sql) -> None:
    _, token = new_user(sql)
    with _open(stack, token) as socket:
        accepted = call(stack.url, "POST", "/programs", token=token, body={"weeks": 2})
        program_id = accepted.body["programId"]
        messages = _updates(socket, program_id)

    assert {m["programId"] for m in messages} == {program_id}
    assert all(m["type"] == "program.updated" and m["version"] == 1 for m in messages)
    statuses = [m["status"] for m in messages]
    assert statuses[0] == "processing" and statuses[-1] == "completed", statuses
    stages = [m["stage"] for m in messages if m["status"] == "processing"]
    assert stages[0] == "analyzing" and "generating" in stages, stages
    progress = [m["progress"] for m in messages]
    assert progress == sorted(progress) and progress[-1] == 100
    stamps = [m["updatedAt"] for m in messages]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # every push a new state
    last = messages[-1]
    assert last["programUrl"] == f"/programs/{program_id}" and "program" not in last
    # the one GET a client makes on completion: the same state, and the program
    program = call(stack.url, "GET", last["programUrl"], token=token).body
    assert program["status"] == "completed" and program["program"]["weeks"] == 2
    assert program["updatedAt"].rstrip("Z").ljust(26, "0") == last["updatedAt"].rstrip("Z")


def test_a_socket_only_ever_receives_its_users_programs(stack, sql) -> None:
    _, alice = new_user(sql)
    _, bob = new_user(sql)
    with _open(stack, alice) as alices, _open(stack, bob) as bobs:
        program_id = call(stack.url, "POST", "/programs", token=alice).body["programId"]
        assert _updates(alices, program_id)[-1]["status"] == "completed"
        with pytest.raises(TimeoutError):
            bobs.recv(timeout=0.5)


def test_a_cancel_is_pushed_at_once_and_its_end_after(stack, sql) -> None:
    _, token = new_user(sql)
    with _open(stack, token) as socket:
        program_id = call(stack.url, "POST", "/programs", token=token).body["programId"]
        first = json.loads(socket.recv(timeout=10))
        assert first["status"] == "processing"
        cancelled = call(stack.url, "POST", f"/programs/{program_id}/cancel", token=token)
        assert cancelled.status == 202, cancelled.body
        messages = _updates(socket, program_id)
    asked = [m for m in messages if m["cancelRequested"] and m["status"] == "processing"]
    assert asked, messages
    assert messages[-1]["status"] == "cancelled"
    assert messages[-1]["error"] == {"code": "CANCELLED", "message": "Cancelled at your request."}


def test_a_ticket_opens_one_socket_and_a_bad_one_none(stack, sql) -> None:
    _, token = new_user(sql)
    ticket = call(stack.url, "POST", "/realtime/tickets", token=token).body
    with connect(ticket["url"], open_timeout=5):
        with pytest.raises(InvalidStatus) as reused:
            connect(ticket["url"], open_timeout=5)
        assert reused.value.response.status_code == 401
    for url in (
        stack.realtime_url,
        f"{stack.realtime_url}?ticket={'A' * 43}",
        f"{stack.realtime_url}?ticket=x",
    ):
        with pytest.raises(InvalidStatus) as refused:
            connect(url, open_timeout=5)
        assert refused.value.response.status_code == 401


def test_ping_is_answered_and_a_closed_socket_is_forgotten(stack, sql) -> None:
    user_id, token = new_user(sql)
    with _open(stack, token) as socket:
        socket.send(json.dumps({"type": "ping"}))
        assert json.loads(socket.recv(timeout=5)) == {"type": "pong"}
        socket.send("anything else")  # ignored: no answer, the socket stays open
        socket.send(json.dumps({"type": "ping"}))
        assert json.loads(socket.recv(timeout=5)) == {"type": "pong"}
        assert _connections(sql, user_id) == 1
    deadline = time.monotonic() + 5
    while _connections(sql, user_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _connections(sql, user_id) == 0  # $disconnect removed it


def test_stopping_the_stack_closes_every_socket_going_away(handlers, database, sql) -> None:
    _, token = new_user(sql)
    stack = LocalStack(port=0, sweep_interval=None, settings=settings_for_tests(database)).start()
    try:
        with _open(stack, token) as socket:
            stack.stop()
            with pytest.raises(ConnectionClosed) as closed:
                socket.recv(timeout=5)
    finally:
        stack.stop()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


def test_an_idle_socket_is_closed_like_api_gateway_closes_it(handlers, database, sql) -> None:
    from functions.realtime.app import lambda_handler

    api = LocalWebSocketApi(lambda_handler, idle_seconds=0.5).start()
    try:
        handlers.update(settings=settings_for_tests(database, realtime_websocket_url=api.url))
        user_id, token = new_user(sql)
        _, _, ticket = invoke_trigger(http_event("POST", "/realtime/tickets", token=token))
        with connect(ticket["url"], open_timeout=5) as socket, pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        deadline = time.monotonic() + 5
        while _connections(sql, user_id) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _connections(sql, user_id) == 0
    finally:
        api.close()


def _connections(sql, user_id) -> int:
    row = sql.execute(
        "SELECT count(*) AS n FROM realtime_connections WHERE user_id = %s AND connection_id IS NOT NULL",
        (user_id,),
    ).fetchone()
    return int(row["n"])


# --------------------------------------------------------------------- as API Gateway answers


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b'{"type": "ping"}', 1003),  # binary: API Gateway takes text frames only
        ("x" * (32 * 1024 + 1), 1009),  # over API Gateway's 32 KB frame limit
    ],
)
def test_a_binary_or_oversized_frame_closes_the_socket_as_api_gateway_does(stack, sql, frame, code) -> None:
    user_id, token = new_user(sql)
    with _open(stack, token) as socket:
        socket.send(json.dumps({"type": "ping"}))
        assert json.loads(socket.recv(timeout=5)) == {"type": "pong"}
        socket.send(frame)
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code
    deadline = time.monotonic() + 5
    while _connections(sql, user_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _connections(sql, user_id) == 0  # its $disconnect ran


def test_a_connect_the_function_fails_is_a_500_internal_server_error(handlers, database, sql) -> None:
    def failing(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("the function crashed")

    api = LocalWebSocketApi(failing).start()
    try:
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{api.url}?ticket={'A' * 43}", open_timeout=5)
        assert refused.value.response.status_code == 500
        assert json.loads(refused.value.response.body) == {"message": "Internal server error"}
    finally:
        api.close()


@pytest.fixture
def service_logs() -> Iterator[io.StringIO]:
    """The service's own log lines at DEBUG, into a buffer (its handler keeps whatever stream it
    was created with, which an earlier test's capture may have replaced)."""
    previous = logger.log_level
    logger.setLevel("DEBUG")
    buffer = io.StringIO()
    stream = logger.registered_handler.setStream(buffer)
    yield buffer
    logger.registered_handler.setStream(stream)
    logger.setLevel(previous)


def test_the_ticket_is_in_no_log_line_even_at_debug(stack, sql, capfd, caplog, service_logs) -> None:
    import logging
    import socket as sockets
    from urllib.parse import urlsplit

    caplog.set_level(logging.DEBUG)
    _, token = new_user(sql)
    ticket = call(stack.url, "POST", "/realtime/tickets", token=token).body
    with connect(ticket["url"], open_timeout=5) as socket:
        socket.send(json.dumps({"type": "ping"}))
        socket.recv(timeout=5)
    with pytest.raises(InvalidStatus):
        connect(ticket["url"], open_timeout=5)  # used: refused
    # a handshake that is not one, the ticket in its request line
    parts = urlsplit(ticket["url"])
    with sockets.create_connection((parts.hostname, parts.port), timeout=5) as raw:
        raw.sendall(f"GET /?{parts.query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        raw.recv(300)
    time.sleep(0.3)
    out, err = capfd.readouterr()
    # every log line of the process but the test's own client (which logs what it sends)
    served = [r.getMessage() for r in caplog.records if not r.name.startswith("websockets.client")]
    service = service_logs.getvalue()
    assert "realtime connection opened" in service  # the service's logs were captured
    assert any(r.name == "tpg_local.realtime.websockets" for r in caplog.records)
    assert ticket["ticket"] not in out + err + service + "\n".join(served)
