"""The OpenAPI document against what the API answers, over HTTP on the local stack.

Every response a scenario below provokes must be documented for its operation and status, its body
must validate against the documented schema (a completed program against the full program schema,
each error against its code's), and the headers the document declares must be there. The other
way round, every status the document lists for a covered operation must be seen here, except the
ones only API Gateway (or a bug) produces, listed in NOT_REPRODUCIBLE with the reason. Schemathesis
(test_api_fuzz.py) adds generated requests on top; this is the deliberate tour.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import jsonschema_rs
import pytest
from pydantic import SecretStr

from tests.support import new_user
from tpg_local.client import ApiResponse, call
from tpg_local.server import LocalStack

# Statuses documented for every operation that no request here can provoke.
NOT_REPRODUCIBLE = {
    "500": "INTERNAL_ERROR is a bug, and API Gateway's own 500 needs a failed function",
    "429": "API Gateway's throttle (operations whose own 429 exists are covered below)",
}
NOT_REPRODUCIBLE_FOR = {
    ("createRealtimeTicket", "429"): "TOO_MANY_CONNECTIONS needs the per-user maximum of open sockets",
}
UNREACHABLE_DATABASE = SecretStr("postgresql://tpg@127.0.0.1:1/none?connect_timeout=2")


class Contract:
    """The document and what has been checked against it."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.operations: dict[str, tuple[str, str, dict[str, Any]]] = {
            op["operationId"]: (method.upper(), path, op)
            for path, item in document["paths"].items()
            for method, op in item.items()
        }
        self.seen: set[tuple[str, str]] = set()

    def check(self, operation_id: str, response: ApiResponse, status: int) -> ApiResponse:
        """`response` is the expected `status`, documented for the operation, as documented."""
        assert response.status == status, (operation_id, response.status, response.body)
        responses = self.operations[operation_id][2]["responses"]
        documented = responses.get(str(status))
        assert documented is not None, f"{operation_id} answered {status}, which its document does not list"
        schema = documented["content"]["application/json"]["schema"]
        validator = jsonschema_rs.Draft202012Validator({**schema, "components": self.document["components"]})
        errors = [e.message for e in validator.iter_errors(response.body)]
        assert errors == [], f"{operation_id} {status}: the body is not as documented: {errors[:3]}"
        for name, header in documented.get("headers", {}).items():
            if header.get("required") or _sent_with(name, response.body):
                assert name.lower() in response.headers, f"{operation_id} {status}: no {name} header"
        self.seen.add((operation_id, str(status)))
        return response

    def unseen(self, covered: set[str]) -> list[str]:
        missing = []
        for operation_id in sorted(covered):
            for status in self.operations[operation_id][2]["responses"]:
                if (operation_id, status) in self.seen or status in NOT_REPRODUCIBLE:
                    continue
                if (operation_id, status) not in NOT_REPRODUCIBLE_FOR:
                    missing.append(f"{operation_id} {status}")
        return missing


def _sent_with(header: str, body: Any) -> bool:
    """The headers an error code carries (Retry-After with QUOTA_EXCEEDED, ...): must be present."""
    code = ((body or {}).get("error") or {}).get("code") if isinstance(body, dict) else None
    expected = {
        "Retry-After": {"QUOTA_EXCEEDED", "TOO_MANY_CONNECTIONS"},
        "WWW-Authenticate": {"UNAUTHORIZED"},
    }
    return code in expected.get(header, set())


def _wait_final(stack: LocalStack, token: str, program_id: str) -> ApiResponse:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        answer = call(stack.url, "GET", f"/programs/{program_id}", token=token)
        if answer.body["status"] not in ("pending", "processing"):
            return answer
        time.sleep(0.1)
    raise AssertionError("the generation did not finish")


def _zero_quota(sql: Any, user_id: Any) -> None:
    sql.execute(
        "INSERT INTO subscription_tiers (tier, daily_generation_quota) VALUES ('contract_none', 0)"
        " ON CONFLICT (tier) DO UPDATE SET daily_generation_quota = 0"
    )
    sql.execute("UPDATE subscriptions SET tier = 'contract_none' WHERE user_id = %s", (user_id,))


def _failed_program(stack: LocalStack, sql: Any) -> tuple[str, str, Any]:
    """A user with a program that failed for good (lifts the pipeline refuses); returns it."""
    user_id, token = new_user(sql)
    sql.execute(
        "UPDATE onboarding_responses SET lifts = %s::jsonb WHERE user_id = %s",
        ('[{"exercise_id": "barbell_back_squat", "weight_kg": -20, "reps": 5}]', user_id),
    )
    program_id = call(stack.url, "POST", "/programs", token=token).body["programId"]
    assert _wait_final(stack, token, program_id).body["status"] == "failed"
    sql.execute("UPDATE onboarding_responses SET lifts = '[]' WHERE user_id = %s", (user_id,))
    return token, program_id, user_id


def _body_errors(
    contract: Contract, stack: LocalStack, token: str, operation_id: str, path: str, max_body: int
) -> None:
    """What any POST's body can be refused for before routing: 400 (not UTF-8), 413, 415."""
    contract.check(operation_id, call(stack.url, "POST", path, token=token, raw_body=b'{"a": "\xff"}'), 400)
    too_big = json.dumps({"notes": "x" * (max_body + 10)}).encode()
    contract.check(operation_id, call(stack.url, "POST", path, token=token, raw_body=too_big), 413)
    plain = {"Content-Type": "text/plain"}
    contract.check(
        operation_id, call(stack.url, "POST", path, token=token, raw_body=b"{}", headers=plain), 415
    )


def _database_down(stack: LocalStack, run: Callable[[], None]) -> None:
    settings = stack.settings
    stack.wiring.update(settings=settings.model_copy(update={"database_url": UNREACHABLE_DATABASE}))
    try:
        run()
    finally:
        stack.wiring.update(settings=settings)


def test_every_answer_is_documented_and_every_documented_answer_happens(handlers: Any, sql: Any) -> None:
    with LocalStack(port=0, sweep_interval=None, settings=handlers.settings) as stack:
        contract = Contract(call(stack.url, "GET", "/openapi.json").body)
        ops = contract.operations
        max_body = stack.settings.max_body_bytes
        user_id, token = new_user(sql)
        url = stack.url

        def check(op: str, method: str, path: str, status: int, **kwargs: Any) -> ApiResponse:
            return contract.check(op, call(url, method, path, **kwargs), status)

        # createProgram
        accepted = check("createProgram", "POST", "/programs", 202, token=token, body={"weeks": 2})
        assert accepted.headers["location"] == accepted.body["statusUrl"]
        in_flight = check("createProgram", "POST", "/programs", 409, token=token, body={})
        assert in_flight.body["error"]["programId"] == accepted.body["programId"]
        check("createProgram", "POST", "/programs", 401, body={})
        check("createProgram", "POST", "/programs", 400, token=token, raw_body=b"{nope")
        check("createProgram", "POST", "/programs", 422, token=token, body={"weeks": 99})
        _body_errors(contract, stack, token, "createProgram", "/programs", max_body)
        _, unsubscribed = new_user(sql, subscribed=False)
        check("createProgram", "POST", "/programs", 402, token=unsubscribed, body={})
        _, not_onboarded = new_user(sql, onboarded=False)
        check("createProgram", "POST", "/programs", 409, token=not_onboarded, body={})
        over_id, over_quota = new_user(sql)
        _zero_quota(sql, over_id)
        check("createProgram", "POST", "/programs", 429, token=over_quota, body={})

        # getProgram: a completed program validates against the whole program schema
        program_id = accepted.body["programId"]
        completed = _wait_final(stack, token, program_id)
        assert completed.body["status"] == "completed"
        check("getProgram", "GET", f"/programs/{program_id}", 200, token=token)
        check("getProgram", "GET", f"/programs/{program_id}", 401)
        check("getProgram", "GET", "/programs/not-a-uuid", 404, token=token)

        # listPrograms
        check("listPrograms", "GET", "/programs?limit=5", 200, token=token)
        check("listPrograms", "GET", "/programs", 401)
        check("listPrograms", "GET", "/programs?limit=0", 422, token=token)

        # retryProgram
        failed_token, failed_id, failed_user = _failed_program(stack, sql)
        retry = f"/programs/{failed_id}/retry"
        check("retryProgram", "POST", retry, 202, token=failed_token)
        check("retryProgram", "POST", retry, 409, token=failed_token)  # not failed any more
        check("retryProgram", "POST", retry, 401)
        check("retryProgram", "POST", f"/programs/{program_id}/retry", 409, token=token)
        check("retryProgram", "POST", retry, 404, token=token)  # another user's
        _body_errors(contract, stack, failed_token, "retryProgram", retry, max_body)
        quota_token, quota_program, quota_user = _failed_program(stack, sql)
        _zero_quota(sql, quota_user)
        check("retryProgram", "POST", f"/programs/{quota_program}/retry", 429, token=quota_token)
        sql.execute("DELETE FROM subscriptions WHERE user_id = %s", (quota_user,))
        check("retryProgram", "POST", f"/programs/{quota_program}/retry", 402, token=quota_token)

        # getHealth
        check("getHealth", "GET", "/health", 200)
        check("getHealth", "GET", "/health?deep=true", 200)
        check("getHealth", "GET", "/health?deep=maybe", 422)

        covered = {"createProgram", "getProgram", "listPrograms", "retryProgram", "getHealth"}

        # cancelProgram (its route lands with job control)
        if "cancelProgram" in ops:
            covered.add("cancelProgram")
            _, cancel_token = new_user(sql)
            stack.wiring.update(settings=stack.settings.model_copy(update={"offline_latency_seconds": 5.0}))
            pending = call(url, "POST", "/programs", token=cancel_token, body={}).body["programId"]
            check("cancelProgram", "POST", f"/programs/{pending}/cancel", 202, token=cancel_token)
            check("cancelProgram", "POST", f"/programs/{program_id}/cancel", 409, token=token)  # completed
            check("cancelProgram", "POST", f"/programs/{program_id}/cancel", 404, token=cancel_token)
            check("cancelProgram", "POST", f"/programs/{program_id}/cancel", 401)
            _body_errors(contract, stack, token, "cancelProgram", f"/programs/{program_id}/cancel", max_body)
            stack.wiring.update(settings=stack.settings.model_copy(update={"offline_latency_seconds": 0.0}))

        # createRealtimeTicket (the local stack serves the WebSocket API)
        if "createRealtimeTicket" in ops:
            covered.add("createRealtimeTicket")
            tickets = "/realtime/tickets"
            check("createRealtimeTicket", "POST", tickets, 201, token=token)
            check("createRealtimeTicket", "POST", tickets, 401)
            _body_errors(contract, stack, token, "createRealtimeTicket", tickets, max_body)
            settings = stack.settings
            stack.wiring.update(settings=settings.model_copy(update={"realtime_websocket_url": None}))
            check("createRealtimeTicket", "POST", tickets, 404, token=token)
            stack.wiring.update(settings=settings)

        # 503 where the database is down (deep health: its own body)
        def unavailable() -> None:
            check("getHealth", "GET", "/health?deep=true", 503)
            for op in sorted(covered - {"getHealth"}):
                method, path, _ = ops[op]
                path = path.replace("{program_id}", program_id)
                body = {} if method == "POST" else None
                check(op, method, path, 503, token=token, body=body)

        _database_down(stack, unavailable)

        missing = contract.unseen(covered)
        assert missing == [], f"documented but never seen: {missing}"
        others = sorted(set(ops) - covered)
        for op in others:  # operations without a tour yet: at least their 401 is as documented
            method, path, _ = ops[op]
            check(
                op,
                method,
                path.replace("{program_id}", program_id),
                401,
                body={} if method == "POST" else None,
            )
        print(
            f"contract: {len(contract.seen)} (operation, status) pairs seen; no tour yet: {others or 'none'}"
        )


def test_the_document_declares_no_shape_the_api_never_sends(handlers: Any) -> None:
    with LocalStack(port=0, sweep_interval=None, settings=handlers.settings) as stack:
        document = call(stack.url, "GET", "/openapi.json").body
    text = json.dumps(document)
    assert "HTTPValidationError" not in text and "ValidationError" not in document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, op in item.items():
            assert op["operationId"][0].islower() and "_" not in op["operationId"], (method, path)
            assert op.get("tags"), (method, path)
            for status, response in op["responses"].items():
                content = response["content"]["application/json"]
                assert "schema" in content, (method, path, status)
                # Its examples are what the schema says (they are what a reader copies).
                validator = jsonschema_rs.Draft202012Validator(
                    {**content["schema"], "components": document["components"]}
                )
                for name, example in content.get("examples", {}).items():
                    assert validator.is_valid(example["value"]), (method, path, status, name)


@pytest.mark.parametrize("code", ["GENERATION_IN_FLIGHT", "QUOTA_EXCEEDED", "UNAUTHORIZED", "NOT_FOUND"])
def test_each_error_code_has_its_own_schema(handlers: Any, code: str) -> None:
    from tpg.api.openapi import error_component

    with LocalStack(port=0, sweep_interval=None, settings=handlers.settings) as stack:
        schemas = call(stack.url, "GET", "/openapi.json").body["components"]["schemas"]
    assert schemas[error_component(code)]["properties"]["error"]["properties"]["code"]["enum"] == [code]
    assert code in schemas["ErrorCode"]["enum"]
