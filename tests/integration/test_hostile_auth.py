"""Hostile tokens and headers through the trigger's real handler: each one a 401, never a 500,
and nothing written. The handler trusts the test secret (HS256) and a real JWKS endpoint on
127.0.0.1 (ES256, RS256); the unit table (tests/unit/test_auth.py) is signed with exactly those keys,
so each entry is wrong only in the way its name says. Valid ES256 and RS256 tokens pass (202, 200);
a key set that cannot be read, with nothing cached, is a 503, not a 401."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

import pytest
from jose import jwt

from tests.conftest import TEST_JWT_SECRET, settings_for_tests, token_kit
from tests.fakes.jwks_server import JwksServer, SigningKey, signed, unreachable_url
from tests.support import RecordingDispatcher, http_event, invoke_trigger, new_user
from tests.unit.test_auth import AROUND_THE_TOKEN, HOSTILE_TOKENS
from tpg_local.wiring import Wiring

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


def _cases(
    valid_token: str, signing_keys: dict[str, SigningKey]
) -> list[tuple[str, list[tuple[str, str]], str]]:
    kit = token_kit(TEST_JWT_SECRET, signing_keys)
    cases = [
        (f"token: {name}", [("Authorization", f"Bearer {make(kit)}")], "/programs")
        for name, make in HOSTILE_TOKENS.items()
        if name not in AROUND_THE_TOKEN
    ]
    now = int(time.time())
    kid_trick = jwt.encode(
        {
            "sub": "8d3f1f4e-9a51-4c1b-8f0e-3d2a6b7c8e90",
            "aud": "authenticated",
            "role": "authenticated",
            "iat": now,
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


def _claims(user_id: UUID, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "aud": "authenticated",
        "role": "authenticated",
        "iat": now,
        "exp": now + 3600,
    }
    return {**claims, **overrides}


def _with_key_set(handlers: Wiring, database: str, url: str, **settings: Any) -> None:
    handlers.update(settings=settings_for_tests(database, jwt_jwks_url=url, **settings))


def test_every_hostile_token_and_header_is_a_401_and_writes_nothing(
    sql, handlers, database, jwks_server: JwksServer, signing_keys
) -> None:
    _with_key_set(handlers, database, jwks_server.url)
    _, valid = new_user(sql)
    cases = _cases(valid, signing_keys)
    assert len(cases) >= 110
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
    assert jwks_server.requests >= 1  # the key set was read: the asymmetric cases met real keys


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_valid_token_itself_is_accepted(sql, scheme) -> None:
    _, valid = new_user(sql)
    status, _, _ = invoke_trigger(
        http_event("GET", "/programs", headers={"Authorization": f"{scheme} {valid}"})
    )
    assert status == 200


@pytest.mark.parametrize("key", ["es256", "rs256"])
def test_valid_asymmetric_tokens_are_accepted(
    sql, handlers, database, jwks_server: JwksServer, signing_keys, key: str
) -> None:
    _with_key_set(handlers, database, jwks_server.url)
    user_id, hs256_token = new_user(sql)
    token = signed(signing_keys[key], _claims(user_id))
    dispatcher = RecordingDispatcher()
    status, _, body = invoke_trigger(http_event("POST", "/programs", token=token), dispatcher)
    assert status == 202, body
    assert dispatcher.dispatched == [(UUID(body["programId"]), "accepted")]
    status, _, program = invoke_trigger(http_event("GET", f"/programs/{body['programId']}", token=token))
    assert (status, program["programId"]) == (200, body["programId"])
    # the same user's HS256 token sees the same program: one identity, whichever key signed
    status, _, listing = invoke_trigger(http_event("GET", "/programs", token=hs256_token))
    assert status == 200 and [item["programId"] for item in listing["items"]] == [body["programId"]]


def test_an_unreachable_key_set_with_nothing_cached_is_a_503_and_writes_nothing(
    sql, handlers, database, signing_keys
) -> None:
    _with_key_set(handlers, database, unreachable_url())
    user_id, hs256_token = new_user(sql)
    token = signed(signing_keys["es256"], _claims(user_id))
    for method in ("POST", "GET"):
        status, _, body = invoke_trigger(http_event(method, "/programs", token=token), RecordingDispatcher())
        assert (status, body["error"]["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert sql.execute("SELECT count(*) AS n FROM training_programs").fetchone()["n"] == 0
    # what needs no key set is still decided: an expired ES256 token is a 401, HS256 works
    expired = signed(signing_keys["es256"], _claims(user_id, exp=int(time.time()) - 1))
    status, _, _ = invoke_trigger(http_event("GET", "/programs", token=expired))
    assert status == 401
    status, _, _ = invoke_trigger(http_event("GET", "/programs", token=hs256_token))
    assert status == 200


def test_the_maximum_lifetime_setting_reaches_the_handler(sql, handlers, database) -> None:
    handlers.update(settings=settings_for_tests(database, jwt_max_lifetime_seconds=3600))
    user_id, _ = new_user(sql)
    now = int(time.time())
    two_hours = jwt.encode(_claims(user_id, iat=now, exp=now + 7200), TEST_JWT_SECRET, algorithm="HS256")
    one_hour = jwt.encode(_claims(user_id, iat=now, exp=now + 3600), TEST_JWT_SECRET, algorithm="HS256")
    assert invoke_trigger(http_event("GET", "/programs", token=two_hours))[0] == 401
    assert invoke_trigger(http_event("GET", "/programs", token=one_hour))[0] == 200
