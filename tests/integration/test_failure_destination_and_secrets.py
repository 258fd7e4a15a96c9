"""Generate's on-failure destination records, and secrets read from Secrets Manager (moto)."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from moto import mock_aws

from tests.conftest import TEST_JWT_SECRET, settings_for_tests
from tests.support import RecordingDispatcher, http_event, invoke_trigger, new_user, process
from tpg.store import db
from tpg_local.lambda_context import LocalLambdaContext


def _failure_record(program_id, request_id: str, condition: str = "RetriesExhausted") -> dict:
    body = {
        "version": "1.0",
        "requestContext": {"requestId": request_id, "condition": condition, "approximateInvokeCount": 1},
        "requestPayload": {"programId": str(program_id)},
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
    }
    return {"messageId": str(uuid.uuid4()), "body": json.dumps(body)}


@pytest.fixture
def claimed(sql):
    """A program claimed by invocation 'req-1' whose worker then died (lease still valid)."""
    _, token = new_user(sql)
    _, _, body = invoke_trigger(http_event("POST", "/programs", token=token), RecordingDispatcher())
    program_id = uuid.UUID(body["programId"])
    sql.execute(
        "UPDATE training_programs SET generation_status = 'processing', attempts = 1, claimed_by = 'req-1',"
        " lease_expires_at = now() + interval '10 minutes' WHERE id = %s",
        (program_id,),
    )
    return program_id


def _sweeper(event: dict) -> dict:
    from dataclasses import replace

    from functions.sweeper import app

    app.dependencies.override(replace(app.dependencies(), dispatcher=RecordingDispatcher()))
    return app.lambda_handler(event, LocalLambdaContext("sweeper"))


def test_the_claim_records_the_invocation(sql, claimed) -> None:
    sql.execute(
        "UPDATE training_programs SET generation_status = 'pending', attempts = 0 WHERE id = %s", (claimed,)
    )
    process({"programId": str(claimed)}, request_id="req-7")
    assert sql.execute("SELECT claimed_by FROM training_programs").fetchone()["claimed_by"] == "req-7"


def test_a_crashed_invocation_is_reclaimed_at_once(sql, claimed) -> None:
    result = _sweeper({"Records": [_failure_record(claimed, "req-1")]})
    assert result == {"batchItemFailures": []}
    row = sql.execute("SELECT * FROM training_programs WHERE id = %s", (claimed,)).fetchone()
    assert (row["generation_status"], row["error_code"]) == ("pending", "LEASE_EXPIRED")


def test_a_crash_on_the_last_attempt_fails_the_row(sql, claimed) -> None:
    sql.execute("UPDATE training_programs SET attempts = 3 WHERE id = %s", (claimed,))
    _sweeper({"Records": [_failure_record(claimed, "req-1")]})
    row = sql.execute("SELECT * FROM training_programs WHERE id = %s", (claimed,)).fetchone()
    assert (row["generation_status"], row["error_code"]) == ("failed", "WORKER_LOST")


def test_a_failed_duplicate_invocation_does_not_end_the_live_workers_lease(sql, claimed) -> None:
    _sweeper({"Records": [_failure_record(claimed, "req-duplicate")]})
    row = sql.execute("SELECT * FROM training_programs WHERE id = %s", (claimed,)).fetchone()
    assert row["generation_status"] == "processing"


def test_unreadable_records_are_dropped_not_retried_forever(handlers) -> None:
    records = [{"messageId": "m1", "body": "not json"}, {"messageId": "m2", "body": json.dumps({"x": 1})}]
    assert _sweeper({"Records": records}) == {"batchItemFailures": []}


def test_scheduled_ticks_sweep(handlers) -> None:
    assert set(_sweeper({"source": "aws.events"})) == {
        "failed",
        "reclaimed",
        "redispatched",
        "cancelled",
        "dispatchFailures",
        # the batch step's, run by the same tick
        "batchSubmitted",
        "batchCompleted",
        "batchToQueue",
        "batchQueued",
        "batchWaiting",
    }


def test_secrets_are_read_from_secrets_manager_by_arn(sql, monkeypatch, database, handlers) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        secrets = boto3.client("secretsmanager")
        db_arn = secrets.create_secret(Name="tpg/test/database-url", SecretString=database)["ARN"]
        jwt_arn = secrets.create_secret(Name="tpg/test/jwt", SecretString=TEST_JWT_SECRET)["ARN"]
        handlers.update(
            settings=settings_for_tests(
                jwt_secret=None, database_url_secret_arn=db_arn, jwt_secret_arn=jwt_arn
            )
        )
        db.close_all()
        _, token = new_user(sql)
        status, _, _ = invoke_trigger(http_event("POST", "/programs", token=token), RecordingDispatcher())
        assert status == 202


def test_a_failing_sweep_does_not_send_handled_records_back(sql, claimed, monkeypatch) -> None:
    from tpg.store import repository

    def broken(*_: object, **__: object) -> list:
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(repository, "reclaim_expired_leases", broken)
    assert _sweeper({"Records": [_failure_record(claimed, "req-1")]}) == {"batchItemFailures": []}
