"""The AWS hand-off: boto3 `invoke(InvocationType="Event")` against moto's Lambda."""

from __future__ import annotations

import io
import json
import uuid
import zipfile

import boto3
import pytest
from moto import mock_aws

from tests.conftest import settings_for_tests
from tests.support import http_event, invoke_trigger, new_user
from tpg.platform.errors import DispatchError
from tpg.platform.settings import Settings
from tpg.worker.dispatch import LambdaDispatcher, UnavailableDispatcher, dispatcher_for

REGION = "eu-west-1"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context):\n    return event\n")
    return buffer.getvalue()


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws(config={"lambda": {"use_docker": False}}):
        role = boto3.client("iam").create_role(
            RoleName="generate-role", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
        )["Role"]["Arn"]
        client = boto3.client("lambda")
        client.create_function(
            FunctionName="generate",
            Runtime="python3.12",
            Role=role,
            Handler="app.lambda_handler",
            Code={"ZipFile": _zip()},
        )
        yield client


def test_dispatch_is_an_async_invoke_of_the_generate_function(aws) -> None:
    sent = []
    aws.meta.events.register("provide-client-params.lambda.Invoke", lambda params, **_: sent.append(params))
    program_id = uuid.uuid4()
    LambdaDispatcher("generate", client=aws).dispatch(program_id, reason="accepted")
    assert sent[0]["FunctionName"] == "generate"
    assert sent[0]["InvocationType"] == "Event"
    assert json.loads(sent[0]["Payload"]) == {"programId": str(program_id), "reason": "accepted"}


def test_an_unreachable_lambda_service_is_a_dispatch_error(monkeypatch) -> None:
    from botocore.config import Config

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client(
        "lambda",
        region_name=REGION,
        endpoint_url="http://127.0.0.1:9",  # nothing listens on the discard port
        config=Config(retries={"max_attempts": 0}, connect_timeout=1),
    )
    with pytest.raises(DispatchError):
        LambdaDispatcher("generate", client=client).dispatch(uuid.uuid4(), reason="accepted")


def test_lambda_mode_is_chosen_by_the_environment() -> None:
    settings = Settings.from_environment({"DISPATCH_MODE": "lambda", "GENERATE_FUNCTION_NAME": "generate"})
    assert isinstance(dispatcher_for(settings), LambdaDispatcher)
    in_lambda = Settings.from_environment({"AWS_LAMBDA_FUNCTION_NAME": "x", "GENERATE_FUNCTION_NAME": "g"})
    assert isinstance(dispatcher_for(in_lambda), LambdaDispatcher)
    assert isinstance(dispatcher_for(Settings.from_environment({})), UnavailableDispatcher)
    unnamed = Settings.from_environment({"DISPATCH_MODE": "lambda"})
    assert isinstance(dispatcher_for(unnamed), UnavailableDispatcher)


def test_without_a_dispatcher_a_request_fails_before_anything_is_written(sql) -> None:
    _, token = new_user(sql)
    status, _, _ = invoke_trigger(http_event("POST", "/programs", token=token))
    assert status == 500
    assert sql.execute("SELECT count(*) AS n FROM training_programs").fetchone()["n"] == 0


def test_the_accept_path_in_lambda_mode_inserts_and_dispatches(aws, sql, handlers, database) -> None:
    handlers.update(
        settings=settings_for_tests(database, dispatch_mode="lambda", generate_function_name="generate")
    )
    sent = []
    # the dispatcher creates its own boto3 client: observe every Invoke made in this process
    boto3.DEFAULT_SESSION = None
    session_events = boto3._get_default_session().events
    session_events.register("provide-client-params.lambda.Invoke", lambda params, **_: sent.append(params))
    _, token = new_user(sql)
    status, _, body = invoke_trigger(http_event("POST", "/programs", token=token))
    assert status == 202
    assert [json.loads(p["Payload"])["programId"] for p in sent] == [body["programId"]]
    assert sent[0]["InvocationType"] == "Event"
