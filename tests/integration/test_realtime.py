"""Realtime against real parts: tickets through the trigger handler, the realtime handler's routes
($connect, $disconnect, $default) on the test database, and pushes through boto3's
`apigatewaymanagementapi` client, to moto (delivery) and to a fake Management API over HTTP (410, 500).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from typing import Any

import psycopg
import pytest
from moto import mock_aws
from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
from moto.core import DEFAULT_ACCOUNT_ID

from tests.conftest import settings_for_tests
from tests.fakes.management_api import FakeManagementApi
from tests.support import http_event, invoke_trigger, new_user
from tpg.platform.observability import Metric
from tpg.realtime.connections import expire_connections
from tpg.realtime.push import POST_THREADS, ProgramUpdates, management_client_factory
from tpg.store import realtime as store
from tpg.store import repository
from tpg.store.db import Database
from tpg.store.rows import JobState
from tpg_local.lambda_context import LocalLambdaContext

REGION = "eu-west-1"
WEBSOCKET_URL = "wss://rt123.execute-api.eu-west-1.amazonaws.com/dev"
MANAGEMENT_ENDPOINT = "https://rt123.execute-api.eu-west-1.amazonaws.com/dev"


@pytest.fixture
def realtime(handlers, database):
    """The handlers with realtime configured as the template configures it."""
    handlers.update(
        settings=settings_for_tests(
            database,
            realtime_websocket_url=WEBSOCKET_URL,
            realtime_management_endpoint=MANAGEMENT_ENDPOINT,
            realtime_max_connections_per_user=5,
        )
    )
    return handlers


@pytest.fixture
def aws_credentials(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def _ticket(token: str | None) -> tuple[int, dict[str, str], Any]:
    return invoke_trigger(http_event("POST", "/realtime/tickets", token=token))


def _ws(route: str, connection_id: str, *, ticket: str | None = None, body: str | None = None) -> dict:
    """Call the realtime function's real handler with the event API Gateway's WebSocket API sends."""
    from functions.realtime.app import lambda_handler

    event: dict[str, Any] = {
        "requestContext": {
            "routeKey": route,
            "eventType": {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE"),
            "connectionId": connection_id,
            "apiId": "rt123",
            "stage": "dev",
            "requestId": str(uuid.uuid4()),
        },
        "isBase64Encoded": False,
    }
    if ticket is not None:
        event["queryStringParameters"] = {"ticket": ticket}
    if body is not None:
        event["body"] = body
    result: dict = lambda_handler(event, LocalLambdaContext("realtime"))
    return result


def _connect(sql: psycopg.Connection, connection_id: str) -> uuid.UUID:
    """A user with a ticket turned into the connection `connection_id`; returns the user."""
    user_id, token = new_user(sql)
    status, _, body = _ticket(token)
    assert status == 201, body
    assert _ws("$connect", connection_id, ticket=body["ticket"])["statusCode"] == 200
    return user_id


def _rows(sql: psycopg.Connection, user_id: uuid.UUID) -> list[dict]:
    return sql.execute(
        "SELECT * FROM realtime_connections WHERE user_id = %s ORDER BY created_at", (user_id,)
    ).fetchall()


def _program(sql: psycopg.Connection, user_id: uuid.UUID, **columns: Any) -> uuid.UUID:
    values = {"generation_status": "pending", "stage": "queued", **columns}
    names = ", ".join(values)
    placeholders = ", ".join(f"%({name})s" for name in values)
    row = sql.execute(
        f"INSERT INTO training_programs (user_id, name, {names}) VALUES (%(user_id)s, 'p', {placeholders})"  # noqa: S608
        " RETURNING id",
        {"user_id": user_id, **values},
    ).fetchone()
    return row["id"]


# ------------------------------------------------------------------------------------ tickets


def test_a_ticket_is_bound_to_the_caller_short_lived_stored_hashed_and_in_the_url(realtime, sql) -> None:
    user_id, token = new_user(sql)
    status, headers, body = _ticket(token)
    assert status == 201
    assert set(body) == {"ticket", "url", "expiresIn"}
    assert body["url"] == f"{WEBSOCKET_URL}?ticket={body['ticket']}"
    assert body["expiresIn"] == 60
    assert headers["Cache-Control"] == "no-store"
    (row,) = _rows(sql, user_id)
    assert bytes(row["ticket_hash"]) == hashlib.sha256(body["ticket"].encode()).digest()
    assert row["connection_id"] is None
    assert 55 <= (row["expires_at"] - row["created_at"]).total_seconds() <= 65
    assert body["ticket"] not in json.dumps({k: str(v) for k, v in row.items()})  # only its hash


def test_a_ticket_opens_exactly_one_connection(realtime, sql) -> None:
    user_id, token = new_user(sql)
    ticket = _ticket(token)[2]["ticket"]
    assert _ws("$connect", "first=", ticket=ticket) == {"statusCode": 200}
    assert _ws("$connect", "second=", ticket=ticket) == {"statusCode": 401}
    (row,) = _rows(sql, user_id)
    assert row["connection_id"] == "first="
    # the connection counts as open for API Gateway's idle limit (10 min) and a minute more
    assert (row["expires_at"] - row["connected_at"]).total_seconds() == 660


def test_an_expired_ticket_opens_nothing(realtime, sql) -> None:
    user_id, token = new_user(sql)
    ticket = _ticket(token)[2]["ticket"]
    sql.execute("UPDATE realtime_connections SET expires_at = now() - interval '1 second'")
    assert _ws("$connect", "late=", ticket=ticket) == {"statusCode": 401}
    assert _rows(sql, user_id)[0]["connection_id"] is None


@pytest.mark.parametrize(
    "ticket",
    [None, "", "short", "!" * 43, "a" * 44, "A" * 43, "' OR 1=1 --" + "a" * 32, "a" * 100_000],
)
def test_anything_but_a_live_ticket_is_a_401_handshake(realtime, sql, ticket) -> None:
    assert _ws("$connect", "x=", ticket=ticket) == {"statusCode": 401}
    assert sql.execute("SELECT count(*) AS n FROM realtime_connections").fetchone()["n"] == 0


def test_a_ticket_needs_a_token_and_a_deployment_with_realtime(handlers, sql) -> None:
    _, token = new_user(sql)
    status, _, body = _ticket(None)
    assert (status, body["error"]["code"]) == (401, "UNAUTHORIZED")
    status, _, body = _ticket(token)  # the handlers fixture configures no realtime
    assert (status, body["error"]["code"]) == (404, "REALTIME_UNAVAILABLE")
    assert sql.execute("SELECT count(*) AS n FROM realtime_connections").fetchone()["n"] == 0


def test_a_user_without_a_profile_gets_no_ticket(realtime, sql) -> None:
    from tests.conftest import token_for

    status, _, body = _ticket(token_for(uuid.uuid4()))
    assert (status, body["error"]["code"]) == (404, "REALTIME_UNAVAILABLE")


def test_a_user_holds_at_most_the_maximum_of_tickets_and_connections(realtime, sql) -> None:
    user_id, token = new_user(sql)
    tickets = [_ticket(token)[2]["ticket"] for _ in range(5)]
    assert _ws("$connect", "c1=", ticket=tickets[0])["statusCode"] == 200
    status, headers, body = _ticket(token)
    assert (status, body["error"]["code"]) == (429, "TOO_MANY_CONNECTIONS")
    assert headers["Retry-After"] == "60"
    assert len(_rows(sql, user_id)) == 5
    _ws("$disconnect", "c1=")
    assert _ticket(token)[0] == 201
    # another user is not limited by this one's connections
    assert _ticket(new_user(sql)[1])[0] == 201


# ------------------------------------------------------------------------------- the routes


def test_disconnect_removes_the_connection_and_is_idempotent(realtime, sql) -> None:
    user_id = _connect(sql, "gone-soon=")
    assert _ws("$disconnect", "gone-soon=") == {"statusCode": 200}
    assert _rows(sql, user_id) == []
    assert _ws("$disconnect", "gone-soon=") == {"statusCode": 200}


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        ('{"type": "ping"}', {"statusCode": 200, "body": '{"type":"pong"}'}),
        ('{"type": "ping", "id": 7}', {"statusCode": 200, "body": '{"type":"pong"}'}),
        ('{"type": "subscribe", "programId": "x"}', {"statusCode": 200}),
        ("ping", {"statusCode": 200}),
        ("[" * 5000 + "]" * 5000, {"statusCode": 200}),
        (None, {"statusCode": 200}),
    ],
)
def test_default_answers_a_ping_and_ignores_anything_else(realtime, sql, body, answer) -> None:
    _connect(sql, "talker=")
    assert _ws("$default", "talker=", body=body) == answer


def test_an_event_without_a_connection_id_is_a_400(realtime) -> None:
    from functions.realtime.app import lambda_handler

    assert lambda_handler({"requestContext": {"routeKey": "$connect"}}, LocalLambdaContext("rt")) == {
        "statusCode": 400
    }


# ------------------------------------------------------------------------------------- pushes


def _delivered(connection_id: str) -> list[dict]:
    """The messages moto's Management API received for `connection_id`, parsed."""
    backend = apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID][REGION]
    data = b"".join(c.data for key, c in backend.connections.items() if key in (connection_id,))
    decoder, text, messages, at = json.JSONDecoder(), data.decode(), [], 0
    while at < len(text):
        message, at = decoder.raw_decode(text, at)
        messages.append(message)
    return messages


def test_a_push_reaches_only_the_owners_connections_with_the_contract_message(
    realtime, sql, aws_credentials
) -> None:
    with mock_aws():
        alice = _connect(sql, "alice-1")
        bob = _connect(sql, "bob-1")
        # a second socket of alice's (another tab), and a ticket not used yet (no connection)
        status, _, body = invoke_trigger(
            http_event("POST", "/realtime/tickets", token=_token_of(alice)),
        )
        assert _ws("$connect", "alice-2", ticket=body["ticket"])["statusCode"] == 200
        _ticket(_token_of(alice))
        alices = _program(
            sql,
            alice,
            generation_status="processing",
            stage="generating",
            progress=45,
            attempts=1,
            lease_expires_at=_in(600),
        )
        bobs = _program(sql, bob)

        report = realtime.updates.publish([_state(realtime, alices), _state(realtime, bobs)])

        assert (report.programs, report.connections, report.delivered, report.gone, report.failed) == (
            2,
            3,
            3,
            [],
            0,
        )
        updated_at = sql.execute(
            "SELECT updated_at FROM training_programs WHERE id = %s", (alices,)
        ).fetchone()
        expected = {
            "type": "program.updated",
            "version": 1,
            "programId": str(alices),
            "status": "processing",
            "stage": "generating",
            "progress": 45,
            "error": None,
            "cancelRequested": False,
            "updatedAt": updated_at["updated_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "programUrl": f"/programs/{alices}",
        }
        assert _delivered("alice-1") == [expected]
        assert _delivered("alice-2") == [expected]
        assert [m["programId"] for m in _delivered("bob-1")] == [str(bobs)]


def test_a_failed_program_pushes_its_error_and_nobody_watching_costs_no_post(
    realtime, sql, aws_credentials
) -> None:
    with mock_aws():
        watcher = _connect(sql, "watcher")
        unwatched_user, _ = new_user(sql)
        failed = _program(
            sql,
            watcher,
            generation_status="failed",
            stage=None,
            error_code="WORKER_LOST",
            generation_error="We could not generate your program. Please try again.",
        )
        unwatched = _program(sql, unwatched_user)
        report = realtime.updates.publish([_state(realtime, failed), _state(realtime, unwatched), None])
        assert (report.programs, report.connections, report.delivered) == (1, 1, 1)
        (message,) = _delivered("watcher")
        assert message["status"] == "failed"
        assert message["error"] == {
            "code": "WORKER_LOST",
            "message": "We could not generate your program. Please try again.",
        }


class _Clock:
    def __init__(self) -> None:
        self.seconds = 0.0

    def now(self) -> Any:
        return _in(0)

    def monotonic(self) -> float:
        return self.seconds


def test_a_job_looks_connections_up_at_its_start_every_refresh_and_its_end_always(
    realtime, sql, aws_credentials
) -> None:
    with mock_aws():
        user_id = _connect(sql, "early")
        program = _program(sql, user_id)
        clock = _Clock()
        client = management_client_factory(MANAGEMENT_ENDPOINT)()
        updates = ProgramUpdates(realtime.realtime.db, client=client, clock=clock, refresh_seconds=10)
        job = updates.for_job()
        state = _state(realtime, program)

        job.publish(state)  # the claim: looks up
        _connect_more(sql, user_id, "late")
        job.publish(state)  # progress 2 s later: the connections it knows
        clock.seconds = 10
        job.publish(state)  # 10 s on: looks again
        _connect_more(sql, user_id, "last")
        clock.seconds = 11
        updates.publish([state])  # completed: the final push looks up

        assert [len(_delivered(c)) for c in ("early", "late", "last")] == [4, 2, 1]


def _connect_more(sql: psycopg.Connection, user_id: uuid.UUID, connection_id: str) -> None:
    body = _ticket(_token_of(user_id))[2]
    assert _ws("$connect", connection_id, ticket=body["ticket"])["statusCode"] == 200


def test_a_gone_connection_is_removed_a_failing_one_kept(realtime, sql, database, aws_credentials) -> None:
    with FakeManagementApi() as fake:
        settings = settings_for_tests(database, realtime_management_endpoint=fake.endpoint)
        updates = ProgramUpdates.from_settings(settings, Database(settings))
        user_id = _connect(sql, "closed-tab")
        for connection in ("flaky-tab", "new-tab", "open-tab"):
            body = _ticket(_token_of(user_id))[2]
            assert _ws("$connect", connection, ticket=body["ticket"])["statusCode"] == 200
        # API Gateway answers 410 for a socket closed without $disconnect, and while $connect runs
        sql.execute(
            "UPDATE realtime_connections SET connected_at = now() - interval '1 minute'"
            " WHERE connection_id <> 'new-tab'"
        )
        fake.gone.update({"closed-tab", "new-tab"})
        fake.failing.add("flaky-tab")
        program = _program(sql, user_id)

        report = updates.publish([_state(realtime, program)])

        assert (report.connections, report.delivered, sorted(report.gone), report.failed) == (
            4,
            1,
            ["closed-tab", "new-tab"],
            1,
        )
        assert {r["connection_id"] for r in _rows(sql, user_id)} == {"flaky-tab", "new-tab", "open-tab"}
        (message,) = fake.received["open-tab"]
        assert json.loads(message)["programId"] == str(program)


def test_a_push_never_raises(realtime, sql, monkeypatch) -> None:
    user_id = _connect(sql, "tab")
    program = _program(sql, user_id)
    # no AWS credentials: boto3 cannot sign the post
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert realtime.updates.publish([_state(realtime, program)]).failed == 1
    # the database unreachable
    broken = ProgramUpdates(
        Database(settings_for_tests("postgresql://nobody@127.0.0.1:9/none")), client=object()
    )
    assert broken.publish([_state(realtime, program)]).failed == 1


def test_without_realtime_a_push_does_nothing(handlers, sql) -> None:
    user_id, _ = new_user(sql)
    program = _program(sql, user_id)
    updates = handlers.updates
    assert not updates.enabled
    assert updates.publish([_state(handlers, program)]).connections == 0


def test_the_sweeper_pushes_what_it_reclaims_and_fails(realtime, sql, aws_credentials) -> None:
    from tests.support import RecordingDispatcher, sweeper_dependencies
    from tpg.worker.sweeper import sweep

    with mock_aws():
        user_id = _connect(sql, "sweeper-watch")
        other, _ = new_user(sql)
        _connect_more(sql, other, "other-watch")
        dead = _program(
            sql,
            user_id,
            generation_status="processing",
            stage="generating",
            progress=40,
            attempts=1,
            lease_expires_at=_in(-60),
        )
        exhausted = _program(
            sql,
            other,
            generation_status="processing",
            stage="generating",
            progress=40,
            attempts=3,
            max_attempts=3,
            lease_expires_at=_in(-60),
        )
        report = sweep(sweeper_dependencies(RecordingDispatcher()))
        assert (report.reclaimed, report.failed) == ([dead], [exhausted])
        (reclaimed,) = _delivered("sweeper-watch")
        assert (reclaimed["programId"], reclaimed["status"], reclaimed["stage"]) == (
            str(dead),
            "pending",
            "queued",
        )
        (failed,) = _delivered("other-watch")
        assert (failed["programId"], failed["status"], failed["error"]["code"]) == (
            str(exhausted),
            "failed",
            "WORKER_LOST",
        )


def test_a_retry_is_pushed_to_the_owner(realtime, sql, aws_credentials) -> None:
    from tests.support import RecordingDispatcher

    with mock_aws():
        user_id = _connect(sql, "retry-watch")
        program = _program(
            sql,
            user_id,
            generation_status="failed",
            stage=None,
            error_code="INTERNAL_ERROR",
            generation_error="Something went wrong on our side.",
        )
        status, _, _ = invoke_trigger(
            http_event("POST", f"/programs/{program}/retry", token=_token_of(user_id)), RecordingDispatcher()
        )
        assert status == 202
        (message,) = _delivered("retry-watch")
        assert (message["status"], message["stage"], message["error"]) == ("pending", "queued", None)


# ------------------------------------------------------------------------------- expiry


def test_expired_tickets_and_connections_are_deleted_and_open_ones_counted(realtime, sql) -> None:
    user_id = _connect(sql, "stale")
    _connect(sql, "fresh")
    _ticket(_token_of(user_id))  # an unused ticket, still valid
    sql.execute(
        "UPDATE realtime_connections SET expires_at = now() - interval '1 s' WHERE connection_id = 'stale'"
    )
    report = store.delete_expired_connections(realtime.realtime.db, batch=100)
    assert (report.removed, report.open) == (1, 1)
    assert sql.execute("SELECT count(*) AS n FROM realtime_connections").fetchone()["n"] == 2


# ----------------------------------------------------------------------------------- helpers


def _state(wiring, program_id: uuid.UUID) -> JobState:
    """The program's committed state, as a transition's RETURNING gives it."""
    state = repository.program_state(wiring.realtime.db, program_id)
    assert state is not None
    return state


def _token_of(user_id: uuid.UUID) -> str:
    from tests.conftest import token_for

    return token_for(user_id)


def _in(seconds: int) -> Any:
    from datetime import datetime, timedelta

    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_the_boto3_client_is_bounded_and_addressed_at_the_stack_endpoint(aws_credentials) -> None:
    client = management_client_factory(MANAGEMENT_ENDPOINT)()
    config = client.meta.config
    assert client.meta.endpoint_url == MANAGEMENT_ENDPOINT
    # each post short, and no retry: the publish has a deadline of its own (1 s)
    assert (config.connect_timeout, config.read_timeout) == (0.5, 1.0)
    assert client.meta.service_model.service_name == "apigatewaymanagementapi"
    assert client.meta.config.retries == {"total_max_attempts": 1, "mode": "standard"}
    assert config.max_pool_connections == POST_THREADS


# ----------------------------------------------------------------- bounded pushes (the deadline)


def _sockets(sql: psycopg.Connection, user_id: uuid.UUID, count: int) -> list[str]:
    """`count` open connections of the user's (a minute old: past the 410 grace)."""
    ids = [f"tab-{n}-{uuid.uuid4().hex[:6]}=" for n in range(count)]
    for connection_id in ids:
        sql.execute(
            "INSERT INTO realtime_connections (user_id, ticket_hash, expires_at, connection_id, connected_at)"
            " VALUES (%s, %s, now() + interval '10 minutes', %s, now() - interval '1 minute')",
            (user_id, hashlib.sha256(connection_id.encode()).digest(), connection_id),
        )
    return ids


def test_a_publish_to_a_hung_management_api_ends_at_its_deadline_then_pauses(
    realtime, sql, database, aws_credentials
) -> None:
    with FakeManagementApi() as fake:
        fake.stalled = True  # accepts the connection, never answers
        settings = settings_for_tests(database, realtime_management_endpoint=fake.endpoint)
        updates = ProgramUpdates.from_settings(settings, Database(settings))
        user_id, _ = new_user(sql)
        _sockets(sql, user_id, 10)
        state = _state(realtime, _program(sql, user_id))

        started = time.monotonic()
        report = updates.publish([state])
        took = time.monotonic() - started

        # the deadline (1 s), not 10 posts one after another (each up to its read timeout, retried)
        assert took < 1.8, took
        assert (report.connections, report.delivered, report.failed, report.skipped) == (10, 0, 10, 0)
        assert updates.circuit_open
        tried = fake.requests
        assert tried <= POST_THREADS  # the rest never started
        # paused: the next publish tries nothing and returns at once
        started = time.monotonic()
        again = updates.publish([state])
        assert time.monotonic() - started < 0.5
        assert (again.connections, again.skipped, again.failed) == (10, 10, 0)
        assert fake.requests == tried


def test_pushes_resume_once_the_pause_is_over(realtime, sql, database, aws_credentials) -> None:
    with FakeManagementApi() as fake:
        fake.stalled = True
        settings = settings_for_tests(database, realtime_management_endpoint=fake.endpoint)
        updates = ProgramUpdates.from_settings(settings, Database(settings))
        updates.circuit_open_seconds = 0.3
        user_id, _ = new_user(sql)
        (socket,) = _sockets(sql, user_id, 1)
        state = _state(realtime, _program(sql, user_id))
        assert updates.publish([state]).failed == 1
        fake.stalled = False
        time.sleep(0.4)
        assert updates.publish([state]).delivered == 1
        assert len(fake.received[socket]) == 1


def test_a_users_connections_are_posted_to_in_parallel(realtime, sql, database, aws_credentials) -> None:
    with FakeManagementApi() as fake:
        fake.delay_seconds = 0.25  # a slow Management API, not a hung one
        settings = settings_for_tests(database, realtime_management_endpoint=fake.endpoint)
        updates = ProgramUpdates.from_settings(settings, Database(settings))
        user_id, _ = new_user(sql)
        sockets = _sockets(sql, user_id, 8)
        state = _state(realtime, _program(sql, user_id))
        started = time.monotonic()
        report = updates.publish([state])
        took = time.monotonic() - started
        # 8 x 0.25 s one after another is 2 s; on 4 threads, 0.5 s
        assert (report.delivered, report.failed) == (8, 0)
        assert took < 1.0, took
        assert all(len(fake.received[s]) == 1 for s in sockets)
        assert not updates.circuit_open


def test_a_cancel_answers_in_time_when_the_management_api_hangs(
    handlers, sql, database, aws_credentials
) -> None:
    from tests.support import RecordingDispatcher

    with FakeManagementApi() as fake:
        fake.stalled = True
        handlers.update(
            settings=settings_for_tests(
                database, realtime_websocket_url=WEBSOCKET_URL, realtime_management_endpoint=fake.endpoint
            )
        )
        user_id, token = new_user(sql)
        status, _, body = invoke_trigger(
            http_event("POST", "/programs", token=token, body={"weeks": 2}), RecordingDispatcher()
        )
        assert status == 202, body
        _sockets(sql, user_id, 10)
        started = time.monotonic()
        status, _, body = invoke_trigger(
            http_event("POST", f"/programs/{body['programId']}/cancel", token=token)
        )
        took = time.monotonic() - started
        # committed, and answered well inside the trigger's 10 s timeout (it took 21.7 s unbounded)
        assert (status, body["status"]) == (202, "cancelled")
        assert took < 2.5, took


# --------------------------------------------------------------------- the per-user maximum


def test_concurrent_ticket_requests_never_exceed_the_maximum(realtime, sql) -> None:
    # Count-then-insert raced under READ COMMITTED: 40 requests at once made 40 rows.
    user_id, _ = new_user(sql)
    db = realtime.realtime.db  # one connection per thread, as concurrent invocations have
    barrier = threading.Barrier(40)

    def ask(_: int) -> bool:
        barrier.wait()
        outcome = store.issue_ticket(
            db, user_id, ticket_hash=secrets.token_bytes(32), ttl_seconds=60, max_live=10
        )
        return outcome.issued

    with ThreadPoolExecutor(max_workers=40) as pool:
        issued = list(pool.map(ask, range(40)))
    assert issued.count(True) == 10
    assert len(_rows(sql, user_id)) == 10


# ---------------------------------------------------------------- a connection's life in the table


def _expiry(sql: psycopg.Connection, connection_id: str) -> tuple[float, float]:
    """(seconds the row still counts as open, seconds from $connect to its expiry)."""
    row = sql.execute(
        "SELECT extract(epoch FROM expires_at - now())::float AS left_s,"
        " extract(epoch FROM expires_at - connected_at)::float AS span_s"
        " FROM realtime_connections WHERE connection_id = %s",
        (connection_id,),
    ).fetchone()
    return row["left_s"], row["span_s"]


def test_a_client_message_keeps_the_connection_another_idle_period_never_past_two_hours(
    realtime, sql
) -> None:
    _connect(sql, "talker=")
    # half an hour on, a minute of its idle period left: a ping (any message) renews it
    sql.execute(
        "UPDATE realtime_connections SET connected_at = now() - interval '30 minutes',"
        " expires_at = now() + interval '1 minute' WHERE connection_id = 'talker='"
    )
    assert _ws("$default", "talker=", body='{"type":"ping"}')["body"] == '{"type":"pong"}'
    left, _ = _expiry(sql, "talker=")
    assert 650 <= left <= 661
    assert _ws("$default", "talker=", body="not a ping") == {"statusCode": 200}
    # near API Gateway's 2 h limit: renewed only up to it
    sql.execute(
        "UPDATE realtime_connections SET connected_at = now() - interval '7150 seconds'"
        " WHERE connection_id = 'talker='"
    )
    _ws("$default", "talker=", body='{"type":"ping"}')
    left, span = _expiry(sql, "talker=")
    assert span == 7200 and left <= 51


def test_a_connection_whose_disconnect_was_missed_stops_counting_after_the_idle_period(realtime, sql) -> None:
    # five sockets closed without $disconnect (a killed browser): eleven minutes on they no longer
    # hold the user's maximum (5 here), nor receive pushes
    user_id = _connect(sql, "lost-1=")
    for n in range(2, 6):
        _connect_more(sql, user_id, f"lost-{n}=")
    assert _ticket(_token_of(user_id))[0] == 429
    sql.execute(
        "UPDATE realtime_connections SET connected_at = connected_at - interval '11 minutes',"
        " expires_at = expires_at - interval '11 minutes'"
    )
    assert store.open_connections(realtime.realtime.db, [user_id]) == {}
    assert _ticket(_token_of(user_id))[0] == 201


def test_expiry_works_off_a_backlog_larger_than_a_batch_within_its_bound(realtime, sql) -> None:
    user_id, _ = new_user(sql)
    sql.execute(
        "INSERT INTO realtime_connections (user_id, ticket_hash, expires_at)"
        " SELECT %s, sha256(n::text::bytea), now() - interval '1 minute' FROM generate_series(1, 250) n",
        (user_id,),
    )
    db = realtime.realtime.db
    # at most two statements of 100: 200 this sweep, the rest the next
    assert store.delete_expired_connections(db, batch=100, max_batches=2).removed == 200
    assert expire_connections(db, batch=100).removed == 50
    assert _rows(sql, user_id) == []


def test_a_sweep_expires_connections_and_emits_its_gauges_before_it_publishes(
    realtime, sql, monkeypatch
) -> None:
    from tests.support import RecordingDispatcher, sweeper_dependencies
    from tpg.worker import sweeper

    user_id = _connect(sql, "stale=")
    sql.execute("UPDATE realtime_connections SET expires_at = now() - interval '1 second'")
    _program(
        sql,
        user_id,
        generation_status="processing",
        stage="generating",
        progress=40,
        attempts=1,
        lease_expires_at=_in(-60),
    )
    counted: list[str] = []
    real_count = sweeper.count
    monkeypatch.setattr(
        sweeper, "count", lambda metric, *a, **k: (counted.append(metric), real_count(metric, *a, **k))
    )
    seen: dict[str, Any] = {}

    class Watching(ProgramUpdates):
        def publish(self, states):  # type: ignore[override]
            states = list(states)
            if states:  # the sweep's own publish (what it failed, cancelled, reclaimed)
                seen["expired_left"] = len(_rows(sql, user_id))
                seen["counted"] = list(counted)
            return super().publish(states)

    report = sweeper.sweep(sweeper_dependencies(RecordingDispatcher(), updates=Watching()))
    assert report.connections_expired == 1 and len(report.reclaimed) == 1
    assert seen["expired_left"] == 0
    assert {Metric.STUCK_GENERATIONS, Metric.GENERATIONS_WAITING, Metric.OLDEST_WAIT} <= set(seen["counted"])


# ------------------------------------------------------------------------------ ordering


@pytest.mark.parametrize("writer", ["cancel", "progress"])
def test_a_write_that_waited_for_a_row_lock_commits_a_later_updated_at(
    handlers, sql, database_url, writer
) -> None:
    """Clients keep the greatest `updatedAt`: a write committed after another must carry a greater
    one, even when it began (its transaction's now()) before the write it waited for."""
    user_id, _ = new_user(sql)
    program = _program(
        sql,
        user_id,
        generation_status="processing",
        stage="generating",
        progress=40,
        attempts=1,
        lease_expires_at=_in(600),
    )
    db = handlers.realtime.db
    write = {
        "cancel": lambda: repository.cancel_program(db, program, user_id).state,
        "progress": lambda: repository.record_progress(db, program, 1, stage="generating", progress=60),
    }[writer]
    with psycopg.connect(database_url) as holder, ThreadPoolExecutor(max_workers=1) as pool:
        holder.execute("SELECT 1 FROM training_programs WHERE id = %s FOR UPDATE", (program,))
        waiting = pool.submit(write)
        deadline = time.monotonic() + 10
        while not sql.execute(
            "SELECT count(*) AS n FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()["n"]:
            assert time.monotonic() < deadline, "the write never waited"
            time.sleep(0.02)
        # the holder stands for a write that began after the waiting one: its time is later
        committed = holder.execute(
            "UPDATE training_programs SET progress = 50, updated_at = clock_timestamp() WHERE id = %s"
            " RETURNING updated_at",
            (program,),
        ).fetchone()[0]
        holder.commit()
        state = waiting.result(timeout=10)
    assert state is not None
    assert state.updated_at > committed
