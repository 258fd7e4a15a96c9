"""Strict verification of Supabase-style HS256 access tokens.

python-jose is permissive by default (a token without `aud` passes when an audience is given;
`exp`/`sub` are optional), so every requirement is spelled out here, and this is the only module
that imports it. One algorithm family per key: the shared secret only ever verifies HS256.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from jose import jwt
from jose.exceptions import JOSEError

from tpg.platform.errors import Unauthorized

ALGORITHM = "HS256"
MAX_TOKEN_LENGTH = 4096
CLOCK_SKEW_SECONDS = 60
# Header parameters that would let a token choose its own key (RFC 8725 section 3.10): never honoured.
_FORBIDDEN_HEADER_PARAMS = frozenset({"jku", "jwk", "x5u", "x5c", "crit", "zip", "enc"})
_DECODE_OPTIONS = {
    "verify_signature": True,
    "verify_aud": True,
    "verify_iss": True,
    "verify_exp": True,
    "verify_nbf": True,
    "verify_iat": True,
    "verify_sub": True,
    "require_aud": True,
    "require_exp": True,
    "require_sub": True,
    "leeway": 0,
}


@dataclass(frozen=True, slots=True)
class AuthenticatedUser:
    user_id: UUID
    is_anonymous: bool = False


def bearer_token(authorization: str | None) -> str:
    """Extract the token from an `Authorization: Bearer <token>` header value."""
    if not authorization:
        raise Unauthorized()
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token or "," in token:
        raise Unauthorized()
    return token


def verify_token(token: str, *, secret: str, audience: str, issuer: str | None = None) -> AuthenticatedUser:
    """Return the caller if `token` is a valid user access token; raise `Unauthorized` otherwise."""
    # Compact JWS only: three dot-separated parts (a JWE has five).
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise Unauthorized()
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != ALGORITHM or _FORBIDDEN_HEADER_PARAMS & header.keys():
            raise Unauthorized()
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            options=_DECODE_OPTIONS,
        )
    except (JOSEError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise Unauthorized() from exc
    # python-jose accepts an `iat` in the future; a token minted after "now" is forged or skewed.
    issued_at = claims.get("iat")
    if isinstance(issued_at, int | float) and issued_at > time.time() + CLOCK_SKEW_SECONDS:
        raise Unauthorized()
    # The project's anon/service_role keys are signed with the same secret: only user tokens pass.
    if claims.get("role") != "authenticated":
        raise Unauthorized()
    try:
        user_id = UUID(str(claims["sub"]))
    except (KeyError, ValueError) as exc:
        raise Unauthorized() from exc
    return AuthenticatedUser(user_id=user_id, is_anonymous=claims.get("is_anonymous") is True)


def issue_token(
    user_id: UUID | str,
    *,
    secret: str,
    audience: str = "authenticated",
    ttl_seconds: int = 3600,
    issuer: str | None = None,
    now: int | None = None,
) -> str:
    """Mint a user access token (local development and tests; production tokens come from the IdP)."""
    issued_at = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "aud": audience,
        "role": "authenticated",
        "iat": issued_at,
        "exp": issued_at + ttl_seconds,
    }
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm=ALGORITHM)
