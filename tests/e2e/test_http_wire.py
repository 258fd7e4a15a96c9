"""The local stack's HTTP parsing, byte by byte over raw sockets: malformed lengths, chunked bodies,
request smuggling, slow clients and pipelining each get a proper HTTP answer (or a closed
connection), and a refused request writes nothing."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support import new_user
from tpg_local.client import call
from tpg_local.server import LocalStack

CLIENT_TIMEOUT = 2  # seconds a stalled request may take before the stack closes its connection


@pytest.fixture
def stack(handlers) -> Iterator[LocalStack]:
    with LocalStack(
        port=0, sweep_interval=None, settings=handlers.settings, client_timeout=CLIENT_TIMEOUT
    ) as running:
        yield running


@pytest.fixture
def token(sql) -> str:
    return new_user(sql)[1]


def _connect(stack: LocalStack, timeout: float = 5) -> socket.socket:
    parts = urlsplit(stack.url)
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout)


def _read_all(conn: socket.socket, timeout: float = 5) -> bytes:
    """Everything the server sends until it closes the connection."""
    conn.settimeout(timeout)
    chunks = []
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _exchange(stack: LocalStack, raw: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    with _connect(stack) as conn:
        conn.sendall(raw)
        return _responses(_read_all(conn))


def _responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """The HTTP/1.1 responses in `data`, in order (each with a Content-Length)."""
    found = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        found.append((int(status_line.split(" ")[1]), headers, rest[:length]))
        data = rest[length:]
    return found


def _request(method: str, path: str, token: str, body: bytes = b"", **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", f"Authorization: Bearer {token}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _programs(sql) -> list[dict[str, Any]]:
    return sql.execute("SELECT id, name FROM training_programs").fetchall()


@pytest.mark.parametrize("length", ["-1", "abc", "12, 12", "+12", "0x10"])
def test_an_invalid_content_length_is_refused_at_once(stack, token, sql, length) -> None:
    body = b'{"name":"x"}'
    started = time.monotonic()
    answers = _exchange(
        stack,
        _request("POST", "/programs", token, body, Content_Type="application/json", Content_Length=length),
    )
    assert time.monotonic() - started < 2  # no thread waits for a body that never comes
    assert [status for status, _, _ in answers] == [400]
    status, headers, payload = answers[0]
    assert headers["content-type"] == "application/json" and json.loads(payload) == {"message": "Bad Request"}
    assert _programs(sql) == []


def test_a_chunked_body_is_read_and_creates_the_program(stack, token, sql) -> None:
    body = b'{"name": "Chunked block", "weeks": 3}'
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:])) + b"0\r\n\r\n"
    raw = _request(
        "POST",
        "/programs",
        token,
        chunked,
        Content_Type="application/json",
        Transfer_Encoding="chunked",
        Connection="close",
    )
    [(status, _, payload)] = _exchange(stack, raw)
    assert status == 202, payload
    assert [row["name"] for row in _programs(sql)] == ["Chunked block"]
    assert str(_programs(sql)[0]["id"]) == json.loads(payload)["programId"]


def test_content_length_with_transfer_encoding_is_refused(stack, token, sql) -> None:
    # A smuggling attempt: by Content-Length the body is `0\r\n\r\n`; by chunked, a second request follows.
    smuggled = _request(
        "POST", "/programs", token, b"{}", Content_Type="application/json", Content_Length="2"
    )
    raw = _request(
        "POST", "/programs", token, b"0\r\n\r\n" + smuggled, Content_Length="5", Transfer_Encoding="chunked"
    )
    answers = _exchange(stack, raw)
    assert [status for status, _, _ in answers] == [400]  # one answer, then the connection closes
    assert json.loads(answers[0][2]) == {"message": "Bad Request"}
    assert _programs(sql) == []


def test_an_unsupported_transfer_encoding_is_refused(stack, token, sql) -> None:
    raw = _request("POST", "/programs", token, b"{}", Transfer_Encoding="gzip, chunked, gzip")
    assert [status for status, _, _ in _exchange(stack, raw)] == [501]
    assert _programs(sql) == []


def test_a_body_over_the_api_gateway_limit_is_refused_unread(stack, token, sql) -> None:
    raw = _request("POST", "/programs", token, b"{", Content_Length=str(10 * 1024 * 1024 + 1))
    [(status, _, payload)] = _exchange(stack, raw)
    assert status == 413 and json.loads(payload) == {"message": "Request Entity Too Large"}
    assert _programs(sql) == []


def test_a_slow_client_times_out_without_blocking_other_requests(stack, token, sql) -> None:
    stalled_headers = _connect(stack)
    stalled_headers.sendall(b"POST /programs HTTP/1.1\r\nHost: localhost\r\n")  # and nothing more
    stalled_body = _connect(stack)
    stalled_body.sendall(_request("POST", "/programs", token, b'{"na', Content_Length="40"))
    crowd = [_connect(stack) for _ in range(20)]  # more stalled clients than the server has threads
    for conn in crowd:
        conn.sendall(b"GET /health HTTP/1.1\r\n")
    started = time.monotonic()
    assert call(stack.url, "GET", "/health", timeout=5).status == 200
    assert call(stack.url, "GET", "/programs", token=token, timeout=5).status == 200
    assert time.monotonic() - started < 2
    for conn in (stalled_headers, stalled_body):
        with conn:
            started = time.monotonic()
            assert _read_all(conn, timeout=CLIENT_TIMEOUT + 10) == b""  # closed by the server
            assert time.monotonic() - started < CLIENT_TIMEOUT + 5
    assert _programs(sql) == []
    for conn in crowd:
        conn.close()


def test_pipelined_requests_are_answered_in_order(stack, token, sql) -> None:
    raw = (
        _request("GET", "/health", token)
        + _request(
            "POST",
            "/programs",
            token,
            b'{"name": "Piped"}',
            Content_Type="application/json",
            Content_Length="17",
        )
        + _request("GET", "/programs", token, Connection="close")
    )
    answers = _exchange(stack, raw)
    assert [status for status, _, _ in answers] == [200, 202, 200]
    created = json.loads(answers[1][2])["programId"]
    assert [item["programId"] for item in json.loads(answers[2][2])["items"]] == [created]
    assert [row["name"] for row in _programs(sql)] == ["Piped"]


def test_keep_alive_serves_several_requests_on_one_connection(stack, token) -> None:
    with _connect(stack) as conn:
        for _ in range(3):
            conn.sendall(_request("GET", "/health", token))
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            assert head.startswith(b"HTTP/1.1 200 ")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            body = head.split(b"\r\n\r\n", 1)[1]
            while len(body) < length:
                body += conn.recv(4096)


def test_probe_findings_stay_fixed(stack) -> None:
    """From an attacker's probe: a file name the file system refuses, a HEAD answer with a body,
    dev sessions for a foreign Host or a non-JSON body, and headers on a 200."""
    long_static = call(stack.url, "GET", "/static/" + "a" * 300)
    assert long_static.status == 404
    host, port = stack.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        request = f"HEAD /health HTTP/1.1\r\nHost: {host}\r\n\r\n"
        sock.sendall((request + request.replace("HEAD", "GET", 1)).encode())
        answer = b""
        while answer.count(b"HTTP/1.1") < 2 or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, get = answer.split(b"HTTP/1.1 ")[1:3]
    assert head.split(b"\r\n\r\n", 1)[1] == b""  # headers only
    assert get.startswith(b"200")
    foreign = call(
        stack.url,
        "POST",
        "/dev/session",
        body={"persona": "hypertrophy_hannah"},
        headers={"Host": "evil.example"},
    )
    assert foreign.status == 404
    health = call(stack.url, "GET", "/health")
    assert health.headers.get("x-content-type-options") == "nosniff"
    assert health.headers.get("cache-control") == "no-store"
