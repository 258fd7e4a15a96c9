"""`GET /health?deep=true`, the readiness check, through the trigger's real handler."""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest
from moto import mock_aws

from tests.conftest import TEST_JWT_SECRET, settings_for_tests
from tests.support import http_event, invoke_trigger
from tpg.store import db

READY = {"status": "ok", "checks": {"database": "ok", "auth": "ok"}}


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _deep() -> tuple[int, dict[str, str], dict, str]:
    status, headers, body = invoke_trigger(http_event("GET", "/health?deep=true"))
    return status, headers, body, json.dumps(body)


def test_a_ready_stack_answers_200_with_each_check(handlers, sql) -> None:
    status, headers, body, _ = _deep()
    assert (status, body) == (200, READY)
    assert headers["Cache-Control"] == "no-store"
    # the shallow check is unchanged: nothing checked, nothing added
    assert invoke_trigger(http_event("GET", "/health"))[::2] == (200, {"status": "ok"})
    assert invoke_trigger(http_event("GET", "/health?deep=false"))[::2] == (200, {"status": "ok"})


def test_an_unreachable_database_is_503_naming_it_quickly_and_nothing_else(handlers, caplog) -> None:
    port = _closed_port()
    password = "db-password-never-shown"  # noqa: S105
    url = f"postgresql://tpg_user:{password}@127.0.0.1:{port}/tpg_prod"
    handlers.update(settings=settings_for_tests(url))
    db.close_all()
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    status, headers, body, text = _deep()
    assert time.monotonic() - started < 5  # refused at once; the connect timeout bounds the rest
    assert status == 503
    assert body == {
        "error": {"code": "SERVICE_UNAVAILABLE", "message": "Not ready: database."},
        "checks": {"database": "failed", "auth": "ok"},
    }
    assert headers["Cache-Control"] == "no-store"
    for secret in (password, "127.0.0.1", str(port), "tpg_user", "tpg_prod", TEST_JWT_SECRET):
        assert secret not in text
        assert not any(secret in record.getMessage() for record in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # liveness does not touch the database
    assert invoke_trigger(http_event("GET", "/health"))[0] == 200


def test_an_unreadable_signing_secret_is_503_naming_auth(handlers, sql, monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    missing = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tpg/prod/jwt-AbCdEf"
    with mock_aws():
        handlers.update(
            settings=settings_for_tests(
                handlers.settings.database_url, jwt_secret=None, jwt_secret_arn=missing
            )
        )
        status, _, body, text = _deep()
    assert status == 503
    assert body == {
        "error": {"code": "SERVICE_UNAVAILABLE", "message": "Not ready: auth."},
        "checks": {"database": "ok", "auth": "failed"},
    }
    assert "arn:" not in text and "tpg/prod" not in text and "123456789012" not in text


@pytest.mark.parametrize("secret", [None, ""])
def test_a_missing_or_empty_signing_secret_is_503_naming_auth(handlers, sql, secret) -> None:
    handlers.update(settings=settings_for_tests(handlers.settings.database_url, jwt_secret=secret))
    status, _, body, _ = _deep()
    assert (status, body["checks"]) == (503, {"database": "ok", "auth": "failed"})


def test_both_failing_are_both_named(handlers) -> None:
    handlers.update(
        settings=settings_for_tests(f"postgresql://u:p@127.0.0.1:{_closed_port()}/x", jwt_secret=None)
    )
    db.close_all()
    status, _, body, _ = _deep()
    assert status == 503
    assert body["error"]["message"] == "Not ready: database, auth."
    assert body["checks"] == {"database": "failed", "auth": "failed"}


def test_deep_takes_a_boolean(handlers) -> None:
    status, _, body = invoke_trigger(http_event("GET", "/health?deep=maybe"))
    assert (status, body["error"]["code"]) == (422, "INVALID_REQUEST")


def test_the_openapi_document_declares_deep_and_its_503(handlers) -> None:
    _, _, document = invoke_trigger(http_event("GET", "/openapi.json"))
    operation = document["paths"]["/health"]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["deep"]
    assert {"200", "422", "503"} <= set(operation["responses"])
    assert "security" not in operation
    schema = document["components"]["schemas"]["NotReadyResponse"]
    assert {"error", "checks"} <= set(schema["properties"])
