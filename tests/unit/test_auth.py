"""The token table: every way a token can be wrong is a 401 (Unauthorized), never a crash."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from jose import jwt

from tpg.api.auth import AuthenticatedUser, bearer_token, issue_token, verify_token
from tpg.platform.errors import Unauthorized

SECRET = "unit-test-secret-0123456789abcdef0123"
AUD = "authenticated"
USER = uuid.UUID("8d3f1f4e-9a51-4c1b-8f0e-3d2a6b7c8e90")


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(**overrides: object) -> dict:
    now = int(time.time())
    claims = {"sub": str(USER), "aud": AUD, "role": "authenticated", "iat": now, "exp": now + 600}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(claims: dict, secret: str = SECRET, headers: dict | None = None) -> str:
    return jwt.encode(claims, secret, algorithm="HS256", headers=headers)


def verify(token: str, **kwargs: object) -> AuthenticatedUser:
    return verify_token(token, secret=SECRET, audience=AUD, **kwargs)  # type: ignore[arg-type]


def test_a_valid_user_token_yields_the_user() -> None:
    assert verify(_sign(_claims())) == AuthenticatedUser(user_id=USER)


def test_issue_token_round_trips() -> None:
    assert verify(issue_token(USER, secret=SECRET)).user_id == USER


def test_anonymous_users_authenticate_and_are_marked() -> None:
    assert verify(_sign(_claims(is_anonymous=True))).is_anonymous is True


def test_issuer_is_checked_when_configured() -> None:
    good = _sign(_claims(iss="https://ref.supabase.co/auth/v1"))
    assert verify(good, issuer="https://ref.supabase.co/auth/v1").user_id == USER
    with pytest.raises(Unauthorized):
        verify(_sign(_claims(iss="https://evil.example/auth/v1")), issuer="https://ref.supabase.co/auth/v1")


HOSTILE_TOKENS = {
    "expired": lambda: _sign(_claims(exp=int(time.time()) - 5)),
    "missing exp": lambda: _sign({k: v for k, v in _claims().items() if k != "exp"}),
    "missing aud": lambda: _sign({k: v for k, v in _claims().items() if k != "aud"}),
    "missing sub": lambda: _sign({k: v for k, v in _claims().items() if k != "sub"}),
    "wrong audience": lambda: _sign(_claims(aud="anon")),
    "wrong secret": lambda: _sign(_claims(), secret="another-secret-0123456789abcdef0123"),
    "not yet valid": lambda: _sign(_claims(nbf=int(time.time()) + 600)),
    "issued in the future": lambda: _sign(_claims(iat=int(time.time()) + 600)),
    "anon role (project api key)": lambda: _sign(_claims(role="anon")),
    "service_role key": lambda: _sign(
        {"role": "service_role", "iss": "supabase", "iat": int(time.time()), "exp": int(time.time()) + 600}
    ),
    "missing role": lambda: _sign({k: v for k, v in _claims().items() if k != "role"}),
    "sub not a uuid": lambda: _sign(_claims(sub="admin")),
    "alg none": lambda: _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(_claims()) + ".",
    "alg None (case variant)": lambda: _b64({"alg": "None", "typ": "JWT"}) + "." + _b64(_claims()) + ".",
    "alg HS512 with the same secret": lambda: jwt.encode(_claims(), SECRET, algorithm="HS512"),
    "jku header": lambda: _sign(_claims(), headers={"jku": "https://evil.example/jwks.json"}),
    "jwk header": lambda: _sign(_claims(), headers={"jwk": {"kty": "oct", "k": "AAAA"}}),
    "five-part (JWE-shaped)": lambda: "a.b.c.d.e",
    "garbage": lambda: "not-a-token",
    "empty": lambda: "",
    "tampered payload": lambda: (
        lambda t: t.split(".")[0] + "." + _b64(_claims(sub=str(uuid.uuid4()))) + "." + t.split(".")[2]
    )(_sign(_claims())),
    "huge": lambda: "a" * 5000 + "." + "b" * 5000 + ".c",
    "bad base64 header": lambda: "%%%." + _b64(_claims()) + ".sig",
    "header not json": lambda: base64.urlsafe_b64encode(b"[1,2").decode() + "." + _b64(_claims()) + ".sig",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_TOKENS))
def test_hostile_tokens_are_unauthorized(name: str) -> None:
    with pytest.raises(Unauthorized):
        verify(HOSTILE_TOKENS[name]())


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "Bearer a b",
        "Bearer a.b.c,Bearer d.e.f",
    ],
)
def test_malformed_authorization_headers_are_unauthorized(header: str | None) -> None:
    with pytest.raises(Unauthorized):
        bearer_token(header)


def test_bearer_scheme_is_case_insensitive() -> None:
    assert bearer_token("bearer abc.def.ghi") == "abc.def.ghi"
