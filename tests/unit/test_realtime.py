"""The realtime contract without a database: the message, the ticket's form, the routes that never
reach SQL, and what counts as a gone connection."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from tpg.platform.settings import Settings
from tpg.realtime import tickets
from tpg.realtime.handler import RealtimeDependencies, handle_websocket_event
from tpg.realtime.messages import ProgramUpdated, is_ping
from tpg.realtime.push import ProgramUpdates, _is_gone
from tpg.store.db import Database
from tpg.store.rows import GenerationStatus, JobState, Stage

CONTRACT_KEYS = {
    "type",
    "version",
    "programId",
    "status",
    "stage",
    "progress",
    "error",
    "cancelRequested",
    "updatedAt",
    "programUrl",
}


def _state(**changes: object) -> JobState:
    values: dict[str, object] = {
        "program_id": uuid.UUID("6f1c0000-0000-4000-8000-000000000001"),
        "user_id": uuid.uuid4(),
        "status": GenerationStatus.PROCESSING,
        "cancel_requested": False,
        "stage": Stage.GENERATING,
        "progress": 45,
        "error_code": None,
        "error_message": None,
        "updated_at": datetime(2026, 12, 2, 12, 0, 0, 120, tzinfo=UTC),
    }
    values.update(changes)
    return JobState(**values)  # type: ignore[arg-type]


def _message(**changes: object) -> dict:
    return json.loads(ProgramUpdated.from_state(_state(**changes)).encode())


def test_a_processing_update_is_the_documented_message() -> None:
    assert _message() == {
        "type": "program.updated",
        "version": 1,
        "programId": "6f1c0000-0000-4000-8000-000000000001",
        "status": "processing",
        "stage": "generating",
        "progress": 45,
        "error": None,
        "cancelRequested": False,
        "updatedAt": "2026-12-02T12:00:00.000120Z",
        "programUrl": "/programs/6f1c0000-0000-4000-8000-000000000001",
    }


@pytest.mark.parametrize(
    ("updated_at", "text"),
    [
        (datetime(2026, 12, 2, 12, 0, tzinfo=UTC), "2026-12-02T12:00:00.000000Z"),  # never shortened
        (
            datetime(2026, 12, 2, 13, 0, 0, 5, tzinfo=timezone(timedelta(hours=1))),
            "2026-12-02T12:00:00.000005Z",
        ),
    ],
)
def test_updated_at_is_utc_with_six_digits_so_equal_instants_are_equal_strings(updated_at, text) -> None:
    assert _message(updated_at=updated_at)["updatedAt"] == text


@pytest.mark.parametrize(
    ("status", "code", "message", "expected"),
    [
        ("failed", "WORKER_LOST", "We could not.", {"code": "WORKER_LOST", "message": "We could not."}),
        (
            "failed",
            None,
            None,
            {"code": "GENERATION_FAILED", "message": "We could not generate your program. Please try again."},
        ),
        (
            "cancelled",
            "CANCELLED",
            "Cancelled at your request.",
            {"code": "CANCELLED", "message": "Cancelled at your request."},
        ),
        ("cancelled", None, None, {"code": "CANCELLED", "message": "Cancelled at your request."}),
        # a released attempt keeps its error code in the row; the status body shows none, nor does this
        ("pending", "LEASE_EXPIRED", None, None),
        ("completed", None, None, None),
    ],
)
def test_only_a_final_failure_carries_an_error(status, code, message, expected) -> None:
    sent = _message(status=GenerationStatus(status), error_code=code, error_message=message, stage=None)
    assert sent["error"] == expected
    assert set(sent) == CONTRACT_KEYS


def test_the_message_never_carries_the_program_and_always_its_url() -> None:
    sent = _message(status=GenerationStatus.COMPLETED, stage=None, progress=100)
    assert "program" not in sent
    assert sent["programUrl"] == f"/programs/{sent['programId']}"
    assert len(ProgramUpdated.from_state(_state()).encode()) < 512  # API Gateway frames are 32 KB


@pytest.mark.parametrize(
    ("body", "ping"),
    [
        ('{"type":"ping"}', True),
        ('{"type": "ping", "at": 1}', True),
        ('{"type":"pong"}', False),
        ('["ping"]', False),
        ("ping", False),
        ("", False),
        (None, False),
        ('{"type":"ping","pad":"' + "x" * 2000 + '"}', False),  # too long to be one
        ("[" * 1000, False),
        ('{"type": NaN}', False),
    ],
)
def test_only_a_ping_is_a_ping(body, ping) -> None:
    assert is_ping(body) is ping


def test_a_ticket_is_256_random_bits_its_form_checked_before_any_lookup() -> None:
    ticket = tickets.new_ticket()
    assert tickets.looks_like_ticket(ticket)
    assert ticket != tickets.new_ticket()
    assert len(tickets.ticket_hash(ticket)) == 32
    for other in (None, 42, "", ticket[:-1], ticket + "A", ticket[:-1] + "=", ticket[:-1] + "é"):
        assert not tickets.looks_like_ticket(other), other


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        (
            "wss://abc.execute-api.eu-west-1.amazonaws.com/dev",
            "wss://abc.execute-api.eu-west-1.amazonaws.com/dev?ticket=T",
        ),
        ("ws://127.0.0.1:3001/", "ws://127.0.0.1:3001/?ticket=T"),
        ("ws://127.0.0.1:3001", "ws://127.0.0.1:3001/?ticket=T"),
        ("wss://rt.example.com/live?v=1", "wss://rt.example.com/live?v=1&ticket=T"),
    ],
)
def test_the_ticket_goes_in_the_urls_query(base, expected) -> None:
    assert tickets.url_with_ticket(base, "T") == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REALTIME_WEBSOCKET_URL", "ws://rt.example.com/dev"),  # a ticket in clear over the network
        ("REALTIME_WEBSOCKET_URL", "https://rt.example.com/dev"),
        ("REALTIME_MANAGEMENT_ENDPOINT", "http://abc.execute-api.eu-west-1.amazonaws.com/dev"),
        ("REALTIME_TICKET_SECONDS", "1"),
        ("REALTIME_MAX_CONNECTIONS_PER_USER", "0"),
        ("REALTIME_IDLE_SECONDS", "5"),
        ("REALTIME_PUSH_DEADLINE_SECONDS", "0"),
        ("REALTIME_PUSH_DEADLINE_SECONDS", "61"),
    ],
)
def test_realtime_settings_refuse_unsafe_values(name, value) -> None:
    with pytest.raises(ValueError, match=name.lower()):
        Settings.from_environment({name: value})


def test_in_aws_tickets_need_the_endpoint_pushes_go_to() -> None:
    # Sockets opened with them would never receive anything (a client polls only without one).
    url = "wss://abc.execute-api.eu-west-1.amazonaws.com/dev"
    endpoint = "https://abc.execute-api.eu-west-1.amazonaws.com/dev"
    in_lambda = {"AWS_LAMBDA_FUNCTION_NAME": "tpg-dev-trigger", "REALTIME_WEBSOCKET_URL": url}
    with pytest.raises(ValueError, match="REALTIME_WEBSOCKET_URL needs REALTIME_MANAGEMENT_ENDPOINT"):
        Settings.from_environment(in_lambda)
    assert Settings.from_environment({**in_lambda, "REALTIME_MANAGEMENT_ENDPOINT": endpoint})
    # the endpoint alone is generate's and the sweeper's configuration: they push, issue nothing
    assert Settings.from_environment(
        {"AWS_LAMBDA_FUNCTION_NAME": "tpg-dev-generate", "REALTIME_MANAGEMENT_ENDPOINT": endpoint}
    )
    # locally the stack pushes through its own management API, which has no endpoint
    assert Settings.from_environment({"REALTIME_WEBSOCKET_URL": "ws://127.0.0.1:3001/"})


@pytest.mark.parametrize(
    ("handler", "event", "secret"),
    [
        (
            "functions.realtime.app",
            {
                "requestContext": {"routeKey": "$connect", "connectionId": "abc="},
                "queryStringParameters": {"ticket": "T" * 43},
            },
            "T" * 43,
        ),
        (
            "functions.trigger.app",
            {
                "version": "2.0",
                "routeKey": "GET /programs",
                "rawPath": "/programs",
                "headers": {"authorization": "Bearer eyJ.secret-token.sig"},
                "requestContext": {"http": {"method": "GET", "path": "/programs"}, "requestId": "r"},
            },
            "secret-token",
        ),
    ],
)
def test_the_handlers_never_log_their_event_even_when_told_to(handler, event, secret) -> None:
    # POWERTOOLS_LOGGER_LOG_EVENT=true logs every event unless the handler says False: the
    # realtime event holds the ticket, the trigger's the bearer token.
    import os
    import subprocess
    import sys

    script = (
        "import json, sys\n"
        f"from {handler} import lambda_handler\n"
        "from tpg_local.lambda_context import LocalLambdaContext\n"
        "answer = lambda_handler(json.loads(sys.argv[1]), LocalLambdaContext('x'))\n"
        "print('answered', answer['statusCode'])\n"
    )
    env = {
        **os.environ,
        "POWERTOOLS_LOGGER_LOG_EVENT": "true",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
        "JWT_SECRET": "a-long-test-secret-that-verifies-nothing-0123456789",
    }
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script, json.dumps(event)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert "answered" in done.stdout, done.stderr[-2000:]
    assert secret not in done.stdout + done.stderr


# The database is unreachable: a route that reached SQL would answer 503, not what is asserted.
_NO_DATABASE = RealtimeDependencies(
    settings=Settings(), db=Database(Settings(database_url="postgresql://nobody@127.0.0.1:9/none"))
)


def _event(route: str, **extra: object) -> dict:
    return {"requestContext": {"routeKey": route, "connectionId": "abc="}, **extra}


@pytest.mark.parametrize(
    "query",
    [None, {}, {"ticket": ""}, {"ticket": "x" * 42}, {"ticket": ["a"]}, {"other": tickets.new_ticket()}],
)
def test_connect_without_a_well_formed_ticket_is_refused_without_a_lookup(query) -> None:
    event = _event("$connect", queryStringParameters=query)
    assert handle_websocket_event(event, _NO_DATABASE) == {"statusCode": 401}


def test_a_well_formed_ticket_with_the_database_down_is_a_503_never_a_raise() -> None:
    event = _event("$connect", queryStringParameters={"ticket": tickets.new_ticket()})
    assert handle_websocket_event(event, _NO_DATABASE) == {"statusCode": 503}


def test_disconnect_with_the_database_down_still_answers() -> None:
    assert handle_websocket_event(_event("$disconnect"), _NO_DATABASE) == {"statusCode": 200}


def test_ping_is_answered_without_the_database() -> None:
    answer = handle_websocket_event(_event("$default", body='{"type":"ping"}'), _NO_DATABASE)
    assert answer == {"statusCode": 200, "body": '{"type":"pong"}'}
    binary = _event("$default", body="eyJ0eXBlIjoicGluZyJ9", isBase64Encoded=True)
    assert handle_websocket_event(binary, _NO_DATABASE) == {"statusCode": 200}


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PostToConnection",
    )


def test_only_a_410_counts_as_gone() -> None:
    assert _is_gone(_client_error("GoneException", 410))
    assert not _is_gone(_client_error("LimitExceededException", 429))
    assert not _is_gone(_client_error("ForbiddenException", 403))
    assert not _is_gone(_client_error("InternalServerError", 500))
    assert not _is_gone(EndpointConnectionError(endpoint_url="https://x"))
    assert not _is_gone(TimeoutError())


def test_without_a_management_endpoint_nothing_is_pushed() -> None:
    updates = ProgramUpdates.from_settings(Settings(), _NO_DATABASE.db)
    assert not updates.enabled
    assert updates.publish([_state()]).connections == 0
    assert updates.for_job().publish(_state()).connections == 0
    assert ProgramUpdates.from_settings(
        Settings(realtime_management_endpoint="https://abc.execute-api.eu-west-1.amazonaws.com/dev"),
        _NO_DATABASE.db,
    ).enabled
