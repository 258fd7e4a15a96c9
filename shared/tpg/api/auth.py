"""Strict verification of bearer access tokens (RFC 7519, RFC 8725): HS256 tokens signed with the
project's secret, and ES256/RS256 tokens signed with a key of the project's JSON Web Key Set.

Nothing is left to a library's defaults. python-jose's base64 decoding accepts junk (padding,
whitespace, characters outside the alphabet, data after the signature) and its claim checks are
optional, so the token is parsed here, byte for byte, and every rule is spelled out: an exact
compact serialization, a header whose `alg` the key allows, integer NumericDates, `exp` and `iat`
required, a bounded lifetime, the audience, the issuer when configured, a UUID `sub` and the
`authenticated` role (or, for the batch routes only, the `service_role` role). HS256 is checked
with the standard library; the asymmetric path (`tpg.api.jwks`: the key set, `cryptography`,
`urllib`) is imported only when an ES256/RS256 token arrives and a key set is configured, so the
trigger's cold start imports neither. One algorithm per key: the secret only ever verifies HS256, a
key-set key only the algorithm it is published for.
python-jose only mints tokens (`issue_token`: local tooling and tests), imported where it does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from typing import Any, NoReturn
from uuid import UUID

from tpg.platform.errors import Unauthorized

ALGORITHM = "HS256"  # the shared secret's one algorithm
ASYMMETRIC_ALGORITHMS = frozenset({"ES256", "RS256"})  # a key-set key's, each key its own
MAX_TOKEN_LENGTH = 4096
MAX_KID_LENGTH = 256
CLOCK_SKEW_SECONDS = 60  # how far in the future `iat` and `nbf` may be (clocks differ); never `exp`
DEFAULT_MAX_LIFETIME_SECONDS = 24 * 3600  # exp - iat (JWT_MAX_LIFETIME_SECONDS)
# NumericDates outside 2000-01-01 .. 2100-01-01 belong to no real token.
_EARLIEST_DATE = 946_684_800
_LATEST_DATE = 4_102_444_800
# Header parameters that would let a token choose its own key or change how it is read (RFC 8725
# section 3.10; `crit`, and `b64` which needs it, RFC 7797): never honoured.
_FORBIDDEN_HEADER_PARAMS = frozenset({"jku", "jwk", "x5u", "x5c", "crit", "b64", "zip", "enc"})
# The compact serialization exactly: three non-empty base64url segments, nothing else (no padding,
# no whitespace, no fourth part); `fullmatch`, so not even a trailing newline.
_COMPACT_JWS = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)")


@dataclass(frozen=True, slots=True)
class AuthenticatedUser:
    user_id: UUID
    is_anonymous: bool = False


@dataclass(frozen=True, slots=True)
class ServiceCaller:
    """A token whose `role` is `service_role` (a backend, an operator's tool): the batch routes'
    caller. Verified like a user token (signature, exp, iat, lifetime, audience, issuer); `sub` is
    optional and, when present, only recorded."""

    subject: str | None = None


SERVICE_ROLE = "service_role"
SERVICE_AUDIENCE = "tpg-service"  # SERVICE_TOKEN_AUDIENCE's default (tpg.platform.settings)
MAX_SERVICE_SUBJECT_LENGTH = 200


def bearer_token(authorization: str | None) -> str:
    """Extract the token from an `Authorization: Bearer <token>` header value."""
    if not authorization:
        raise Unauthorized()
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token or "," in token:
        raise Unauthorized()
    return token


def verify_token(
    token: str,
    *,
    secret: str | None,
    audience: str,
    issuer: str | None = None,
    jwks_url: str | None = None,
    max_lifetime_seconds: int = DEFAULT_MAX_LIFETIME_SECONDS,
) -> AuthenticatedUser:
    """Return the caller if `token` is a valid user access token; raise `Unauthorized` otherwise.

    HS256 tokens are verified with `secret`; with `jwks_url`, ES256/RS256 tokens with the key its
    `kid` names in that key set. `ServiceUnavailable` (503) when the key set cannot be read and no
    cached key decides: the token may well be valid.
    """
    caller = verify_caller(
        token,
        secret=secret,
        audience=audience,
        issuer=issuer,
        jwks_url=jwks_url,
        max_lifetime_seconds=max_lifetime_seconds,
        service=False,
    )
    assert isinstance(caller, AuthenticatedUser)
    return caller


def verify_caller(
    token: str,
    *,
    secret: str | None,
    audience: str,
    issuer: str | None = None,
    jwks_url: str | None = None,
    max_lifetime_seconds: int = DEFAULT_MAX_LIFETIME_SECONDS,
    service: bool = True,
    service_audience: str = SERVICE_AUDIENCE,
) -> AuthenticatedUser | ServiceCaller:
    """`verify_token`, also accepting (with `service`) a `service_role` token, verified alike but
    for its audience (`service_audience`, never the users'). Which routes a caller may use is the
    route's business (`tpg.api.routes`)."""
    header, claims, signing_input, signature = _parse(token)
    algorithm = _algorithm(header, asymmetric=jwks_url is not None)
    # The claims first: a token that fails them is refused without fetching any key.
    user = _caller(
        claims,
        audience=audience,
        service_audience=service_audience,
        issuer=issuer,
        max_lifetime_seconds=max_lifetime_seconds,
        now=time.time(),
        service=service,
    )
    if algorithm == ALGORITHM:
        if not secret or not _hs256_matches(secret, signing_input, signature):
            _refuse()
    else:
        assert jwks_url is not None
        from tpg.api import jwks  # only here: `cryptography` and `urllib` stay off the cold path

        key = jwks.key_set(jwks_url).key(header["kid"])  # raises ServiceUnavailable if it cannot tell
        if key is None or key.algorithm != algorithm or not key.verify(signing_input, signature):
            _refuse()
    return user


def _refuse() -> NoReturn:
    raise Unauthorized()


def _parse(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """(header, claims, signing input, signature) of an exact compact JWS; `Unauthorized` otherwise."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        _refuse()
    match = _COMPACT_JWS.fullmatch(token)
    if match is None:
        _refuse()
    header_part, claims_part, signature_part = match.groups()
    return (
        _json_object(_b64decode(header_part)),
        _json_object(_b64decode(claims_part)),
        f"{header_part}.{claims_part}".encode("ascii"),
        _b64decode(signature_part),
    )


def _b64decode(segment: str) -> bytes:
    """Strict base64url without padding: the canonical encoding of its bytes, or `Unauthorized`
    (a length of 4n+1 and spare bits set in the last character are refused, so each token has
    one spelling)."""
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        _refuse()
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != segment.encode("ascii"):
        _refuse()
    return raw


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):  # RFC 7515 section 4: a duplicate name is rejected, not picked
        raise ValueError("duplicate member name")
    return found


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity, -Infinity


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=_reject_duplicates,
            parse_constant=_reject_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        _refuse()
    if not isinstance(value, dict):
        _refuse()
    return value


def _algorithm(header: dict[str, Any], *, asymmetric: bool) -> str:
    """The header's `alg` if the key it calls for may verify it; `Unauthorized` otherwise."""
    if _FORBIDDEN_HEADER_PARAMS & header.keys():
        _refuse()
    typ = header.get("typ")
    if typ is not None and not (isinstance(typ, str) and typ.isascii() and typ.lower() == "jwt"):
        _refuse()
    algorithm = header.get("alg")
    if algorithm == ALGORITHM:
        return ALGORITHM  # a `kid` never selects another key for HS256: the secret is the only one
    if asymmetric and isinstance(algorithm, str) and algorithm in ASYMMETRIC_ALGORITHMS:
        kid = header.get("kid")
        if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
            _refuse()
        return algorithm
    _refuse()


def _numeric_date(claims: dict[str, Any], name: str, *, required: bool) -> int | None:
    """A NumericDate claim as an int: a JSON number with no fraction (never a string or a bool),
    within a sane range."""
    if name not in claims:
        if required:
            _refuse()
        return None
    value = claims[name]
    if isinstance(value, float) and value.is_integer():  # 1.7e9; never NaN or infinite
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not _EARLIEST_DATE <= value <= _LATEST_DATE:
        _refuse()
    return value


def _audience_matches(claim: Any, audience: str) -> bool:
    if isinstance(claim, str):
        return claim == audience
    if isinstance(claim, list) and all(isinstance(item, str) for item in claim):
        return audience in claim
    return False


def _caller(
    claims: dict[str, Any],
    *,
    audience: str,
    service_audience: str,
    issuer: str | None,
    max_lifetime_seconds: int,
    now: float,
    service: bool,
) -> AuthenticatedUser | ServiceCaller:
    expires = _numeric_date(claims, "exp", required=True)
    issued = _numeric_date(claims, "iat", required=True)
    not_before = _numeric_date(claims, "nbf", required=False)
    assert expires is not None and issued is not None
    if now >= expires:  # RFC 7519 4.1.4: valid only *before* exp; no leeway on the expiry
        _refuse()
    if issued > now + CLOCK_SKEW_SECONDS:  # minted after "now": forged or badly skewed
        _refuse()
    if not_before is not None and not_before > now + CLOCK_SKEW_SECONDS:
        _refuse()
    if not 0 < expires - issued <= max_lifetime_seconds:
        _refuse()
    # A service token is for the service audience only, a user token for the users' only.
    is_service = service and claims.get("role") == SERVICE_ROLE
    if not _audience_matches(claims.get("aud"), service_audience if is_service else audience):
        _refuse()
    if issuer is not None and claims.get("iss") != issuer:
        _refuse()
    # The project's anon key is signed with the same secret: only user tokens pass, and service
    # tokens where the caller asked for them (Supabase's service_role key has no `aud`: refused).
    role = claims.get("role")
    if is_service:
        subject = claims.get("sub")
        if subject is not None and not (
            isinstance(subject, str) and 0 < len(subject) <= MAX_SERVICE_SUBJECT_LENGTH
        ):
            _refuse()
        return ServiceCaller(subject=subject)
    if role != "authenticated":
        _refuse()
    subject = claims.get("sub")
    if not isinstance(subject, str):
        _refuse()
    try:
        user_id = UUID(subject)
    except ValueError:
        _refuse()
    return AuthenticatedUser(user_id=user_id, is_anonymous=claims.get("is_anonymous") is True)


def _hs256_matches(secret: str, signing_input: bytes, signature: bytes) -> bool:
    expected = hmac.new(secret.encode("utf-8"), signing_input, hashlib.sha256).digest()
    return hmac.compare_digest(expected, signature)


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
    from jose import jwt  # an independent encoder: what the verifier reads is not its own output

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
    token: str = jwt.encode(claims, secret, algorithm=ALGORITHM)
    return token


def issue_service_token(
    subject: str,
    *,
    secret: str,
    audience: str = SERVICE_AUDIENCE,
    ttl_seconds: int = 3600,
    issuer: str | None = None,
) -> str:
    """Mint a service-role token (local tooling and tests; in production the IdP or a secrets
    store issues it): what the batch routes take."""
    from jose import jwt

    issued_at = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "aud": audience,
        "role": SERVICE_ROLE,
        "iat": issued_at,
        "exp": issued_at + ttl_seconds,
    }
    if issuer:
        claims["iss"] = issuer
    token: str = jwt.encode(claims, secret, algorithm=ALGORITHM)
    return token
