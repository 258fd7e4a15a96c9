"""Service-role tokens (the batch routes' callers): verified exactly like user tokens, and only
accepted where the caller asks for them."""

from __future__ import annotations

import time
import uuid

import pytest
from jose import jwt

from tpg.api.auth import (
    AuthenticatedUser,
    ServiceCaller,
    issue_service_token,
    issue_token,
    verify_caller,
    verify_token,
)
from tpg.platform.errors import Unauthorized

SECRET = "unit-test-secret-0123456789abcdef0123"
AUD = "authenticated"
SERVICE_AUD = "tpg-service"  # SERVICE_TOKEN_AUDIENCE's default


def _service(**overrides: object) -> str:
    now = int(time.time())
    claims = {"sub": "backend", "aud": SERVICE_AUD, "role": "service_role", "iat": now, "exp": now + 600}
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, SECRET, algorithm="HS256")


def test_a_service_token_is_a_service_caller_and_a_user_token_a_user() -> None:
    assert verify_caller(_service(), secret=SECRET, audience=AUD) == ServiceCaller(subject="backend")
    assert verify_caller(_service(sub=None), secret=SECRET, audience=AUD) == ServiceCaller(subject=None)
    user = uuid.uuid4()
    assert verify_caller(issue_token(user, secret=SECRET), secret=SECRET, audience=AUD) == AuthenticatedUser(
        user_id=user
    )
    minted = issue_service_token("tpg-cli", secret=SECRET, issuer="https://issuer.example")
    caller = verify_caller(minted, secret=SECRET, audience=AUD, issuer="https://issuer.example")
    assert caller == ServiceCaller(subject="tpg-cli")


def test_service_tokens_have_their_own_audience() -> None:
    # a service token minted for the users' audience is refused, and a user token for the service's
    with pytest.raises(Unauthorized):
        verify_caller(_service(aud=AUD), secret=SECRET, audience=AUD)
    user_claims = {"sub": str(uuid.uuid4()), "aud": SERVICE_AUD, "role": "authenticated"}
    now = int(time.time())
    for_service = jwt.encode({**user_claims, "iat": now, "exp": now + 600}, SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized):
        verify_caller(for_service, secret=SECRET, audience=AUD)
    # the audience is a setting, and never the users'
    custom = _service(aud="batch-callers")
    assert verify_caller(
        custom, secret=SECRET, audience=AUD, service_audience="batch-callers"
    ) == ServiceCaller(subject="backend")
    with pytest.raises(Unauthorized):
        verify_caller(custom, secret=SECRET, audience=AUD)
    from pydantic import ValidationError

    from tpg.platform.settings import Settings

    assert Settings.from_environment({}).service_token_audience == SERVICE_AUD
    assert Settings.from_environment({"SERVICE_TOKEN_AUDIENCE": "x"}).service_token_audience == "x"
    with pytest.raises(ValidationError):
        Settings.from_environment({"SERVICE_TOKEN_AUDIENCE": "authenticated"})


def test_the_user_verifier_never_takes_a_service_token() -> None:
    with pytest.raises(Unauthorized):
        verify_token(_service(), secret=SECRET, audience=AUD)
    with pytest.raises(Unauthorized):
        verify_caller(_service(), secret=SECRET, audience=AUD, service=False)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: _service(exp=int(time.time()) - 5), id="expired"),
        pytest.param(lambda: _service(aud=None), id="no audience (Supabase's service_role key)"),
        pytest.param(lambda: _service(aud="anon"), id="another audience"),
        pytest.param(lambda: _service(exp=int(time.time()) + 10 * 365 * 86400), id="ten-year lifetime"),
        pytest.param(lambda: _service(iat=None), id="no iat"),
        pytest.param(lambda: _service(sub=42), id="sub not a string"),
        pytest.param(lambda: _service(sub=""), id="empty sub"),
        pytest.param(lambda: _service(sub="x" * 201), id="sub too long"),
        pytest.param(lambda: _service(role="anon"), id="anon role"),
        pytest.param(lambda: _service(role="SERVICE_ROLE"), id="role in capitals"),
        pytest.param(
            lambda: jwt.encode(
                {"role": "service_role"}, "another-secret-0123456789abcdef", algorithm="HS256"
            ),
            id="another secret",
        ),
    ],
)
def test_a_service_token_is_verified_like_any_other(token) -> None:
    with pytest.raises(Unauthorized):
        verify_caller(token(), secret=SECRET, audience=AUD)


def test_a_service_token_names_the_configured_issuer() -> None:
    with pytest.raises(Unauthorized):
        verify_caller(_service(), secret=SECRET, audience=AUD, issuer="https://issuer.example")
