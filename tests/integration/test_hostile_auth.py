"""Hostile tokens and headers through the trigger's real handler: each one a 401, never a 500,
and nothing written."""

from __future__ import annotations

import time

import pytest
from jose import jwt

from tests.support import RecordingDispatcher, http_event, invoke_trigger, new_user
from tests.unit.test_auth import HOSTILE_TOKENS

_HEADER_CASES = {
    "no authorization header": [],
    "empty header": [("Authorization", "")],
    "basic scheme": [("Authorization", "Basic dXNlcjpwYXNzd29yZA==")],
    "bearer without token": [("Authorization", "Bearer")],
    "token without scheme": [("Authorization", "{token}")],
    "two authorization headers": [("Authorization", "Bearer {token}"), ("Authorization", "Bearer {token}")],
    "huge header": [("Authorization", "Bearer " + "a" * 60_000)],
    "control characters": [("Authorization", "Bearer \x00{token}")],
    "token in a cookie only": [("Cookie", "sb-access-token={token}")],
    "token in the query only": [],  # see the path below
}


def _cases(valid_token: str) -> list[tuple[str, list[tuple[str, str]], str]]:
    cases = [
        (f"token: {name}", [("Authorization", f"Bearer {make()}")], "/programs")
        for name, make in HOSTILE_TOKENS.items()
    ]
    now = int(time.time())
    kid_trick = jwt.encode(
        {
            "sub": "8d3f1f4e-9a51-4c1b-8f0e-3d2a6b7c8e90",
            "aud": "authenticated",
            "role": "authenticated",
            "exp": now + 600,
        },
        "",  # signed with an empty key, pointing the key id at an empty file
        algorithm="HS256",
        headers={"kid": "../../../../dev/null"},
    )
    cases.append(("token: kid path traversal", [("Authorization", f"Bearer {kid_trick}")], "/programs"))
    for name, headers in _HEADER_CASES.items():
        path = f"/programs?access_token={valid_token}" if name == "token in the query only" else "/programs"
        cases.append((f"header: {name}", [(k, v.format(token=valid_token)) for k, v in headers], path))
    return cases


def test_every_hostile_token_and_header_is_a_401_and_writes_nothing(sql) -> None:
    _, valid = new_user(sql)
    cases = _cases(valid)
    assert len(cases) >= 30
    dispatcher = RecordingDispatcher()
    for name, headers, path in cases:
        for method in ("POST", "GET"):
            event = http_event(method, path)
            event["headers"] = {k: v for k, v in event["headers"].items() if k != "authorization"}
            for key, value in headers:
                key = key.lower()
                event["headers"][key] = (
                    f"{event['headers'][key]},{value}" if key in event["headers"] else value
                )
            status, _, body = invoke_trigger(event, dispatcher)
            assert (status, body["error"]["code"]) == (401, "UNAUTHORIZED"), name
    assert sql.execute("SELECT count(*) AS n FROM training_programs").fetchone()["n"] == 0
    assert dispatcher.dispatched == []


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_valid_token_itself_is_accepted(sql, scheme) -> None:
    _, valid = new_user(sql)
    status, _, _ = invoke_trigger(
        http_event("GET", "/programs", headers={"Authorization": f"{scheme} {valid}"})
    )
    assert status == 200
