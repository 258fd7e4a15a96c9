"""The token table: every way a token can be wrong is a 401 (Unauthorized), never a crash; and the
key set behind ES256/RS256 tokens (a real JWKS server on 127.0.0.1): cache, refresh, rotation,
throttle, failure (503 only when no cached key can decide).

Each table entry builds its token from a `TokenKit` (the HS256 secret and the key-set keys), so the
handler tests (tests/integration/test_hostile_auth.py) send the same table signed with the keys the
handler trusts: every entry is wrong in exactly the way its name says.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwt

from tests.conftest import token_kit
from tests.fakes.jwks_server import (
    JwksServer,
    SigningKey,
    TokenKit,
    b64,
    hs256,
    segment,
    signed,
    unreachable_url,
)
from tpg.api import jwks
from tpg.api.auth import AuthenticatedUser, bearer_token, issue_token, verify_token
from tpg.platform.errors import ServiceUnavailable, Unauthorized

SECRET = "unit-test-secret-0123456789abcdef0123"
AUD = "authenticated"
USER = uuid.UUID("8d3f1f4e-9a51-4c1b-8f0e-3d2a6b7c8e90")
HS_HEADER = {"alg": "HS256", "typ": "JWT"}
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(**overrides: object) -> dict:
    now = int(time.time())
    claims = {"sub": str(USER), "aud": AUD, "role": "authenticated", "iat": now, "exp": now + 600}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _raw_claims(base: dict | None = None, **members: str) -> str:
    """The claims as JSON text, `members` spelled as given (what a dict cannot hold: NaN, 1e400, a
    name twice): each replaces the claim of its name in `base` (default: valid claims)."""
    claims = {k: v for k, v in (base or _claims()).items() if k not in members}
    return json.dumps(claims)[:-1] + "".join(f', "{k}": {v}' for k, v in members.items()) + "}"


def _sign(claims: dict, secret: str = SECRET, headers: dict | None = None) -> str:
    return jwt.encode(claims, secret, algorithm="HS256", headers=headers)


def _good(k: TokenKit) -> str:
    return hs256(k.secret, HS_HEADER, _claims())


def _with_signature(token: str, signature: str) -> str:
    return token.rsplit(".", 1)[0] + "." + signature


def _non_canonical(token: str) -> str:
    """The same signature bytes spelled with spare bits set in its last character."""
    signature = token.rsplit(".", 1)[1]
    last = _ALPHABET.index(signature[-1])
    return _with_signature(token, signature[:-1] + _ALPHABET[last | 1])


def _standard_alphabet(k: TokenKit) -> str:
    """A valid token whose signature holds '-' or '_', re-spelled in base64's '+' and '/'."""
    for n in range(100):
        token = hs256(k.secret, HS_HEADER, _claims(jti=str(n)))
        signature = token.rsplit(".", 1)[1]
        if "-" in signature or "_" in signature:
            return _with_signature(token, signature.replace("-", "+").replace("_", "/"))
    raise AssertionError("no signature with '-' or '_' in 100 tries")


def _padded(k: TokenKit, part: str) -> str:
    """A token whose header or claims segment carries '=' padding, signed exactly as sent."""
    header, claims = json.dumps(HS_HEADER) + " ", json.dumps(_claims())
    for extra in ("", " ", "  "):  # one of three lengths needs padding
        text = header + extra if part == "header" else claims + extra
        padded = base64.urlsafe_b64encode(text.encode()).decode()
        if padded.endswith("="):
            break
    segments = (padded, segment(claims)) if part == "header" else (segment(header), padded)
    return _hs_exact(k.secret, *segments)


def _hs_exact(secret: str, header_segment: str, claims_segment: str) -> str:
    signing_input = f"{header_segment}.{claims_segment}"
    return (
        f"{signing_input}.{b64(hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest())}"
    )


def _der_signature(k: TokenKit) -> str:
    header = {"alg": "ES256", "typ": "JWT", "kid": k.es256.kid}
    signing_input = f"{segment(header)}.{segment(_claims())}"
    der = k.es256.private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    return f"{signing_input}.{b64(der)}"


def _tampered(token: str) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{segment(_claims(sub=str(uuid.uuid4())))}.{signature}"


HOSTILE_TOKENS: dict[str, Callable[[TokenKit], str]] = {
    # -- the original table (HS256 with the secret)
    "expired": lambda k: _sign(_claims(exp=int(time.time()) - 5), k.secret),
    "missing exp": lambda k: _sign({k_: v for k_, v in _claims().items() if k_ != "exp"}, k.secret),
    "missing aud": lambda k: _sign({k_: v for k_, v in _claims().items() if k_ != "aud"}, k.secret),
    "missing sub": lambda k: _sign({k_: v for k_, v in _claims().items() if k_ != "sub"}, k.secret),
    "wrong audience": lambda k: _sign(_claims(aud="anon"), k.secret),
    "wrong secret": lambda k: _sign(_claims(), secret="another-secret-0123456789abcdef0123"),
    "not yet valid": lambda k: _sign(_claims(nbf=int(time.time()) + 600), k.secret),
    "issued in the future": lambda k: _sign(_claims(iat=int(time.time()) + 600), k.secret),
    "anon role (project api key)": lambda k: _sign(_claims(role="anon"), k.secret),
    "service_role key": lambda k: _sign(
        {"role": "service_role", "iss": "supabase", "iat": int(time.time()), "exp": int(time.time()) + 600},
        k.secret,
    ),
    "missing role": lambda k: _sign({k_: v for k_, v in _claims().items() if k_ != "role"}, k.secret),
    "sub not a uuid": lambda k: _sign(_claims(sub="admin"), k.secret),
    "alg none": lambda k: _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(_claims()) + ".",
    "alg None (case variant)": lambda k: _b64({"alg": "None", "typ": "JWT"}) + "." + _b64(_claims()) + ".",
    "alg HS512 with the same secret": lambda k: jwt.encode(_claims(), k.secret, algorithm="HS512"),
    "jku header": lambda k: _sign(_claims(), k.secret, headers={"jku": "https://evil.example/jwks.json"}),
    "jwk header": lambda k: _sign(_claims(), k.secret, headers={"jwk": {"kty": "oct", "k": "AAAA"}}),
    "five-part (JWE-shaped)": lambda k: "a.b.c.d.e",
    "garbage": lambda k: "not-a-token",
    "empty": lambda k: "",
    "tampered payload": lambda k: _tampered(_sign(_claims(), k.secret)),
    "huge": lambda k: "a" * 5000 + "." + "b" * 5000 + ".c",
    "bad base64 header": lambda k: "%%%." + _b64(_claims()) + ".sig",
    "header not json": lambda k: base64.urlsafe_b64encode(b"[1,2").decode() + "." + _b64(_claims()) + ".sig",
    # -- exact compact serialization (python-jose's base64 would accept each of these)
    "junk after the signature": lambda k: _good(k) + "!!",
    "a fourth segment after the signature": lambda k: _good(k) + ".e30",
    "a trailing dot": lambda k: _good(k) + ".",
    "padding after the signature": lambda k: _good(k) + "=",
    "padded header segment, signed as sent": lambda k: _padded(k, "header"),
    "padded claims segment, signed as sent": lambda k: _padded(k, "claims"),
    "trailing newline": lambda k: _good(k) + "\n",
    "leading space": lambda k: " " + _good(k),
    "newline inside the signature": lambda k: (lambda t: t[:-10] + "\n" + t[-10:])(_good(k)),
    "tab inside the claims": lambda k: (lambda t: t.replace(".", ".\t", 1))(_good(k)),
    "NUL byte inside the header": lambda k: (lambda t: t[:5] + "\x00" + t[5:])(_good(k)),
    "standard base64 alphabet (+ /) in the signature": _standard_alphabet,
    "non-canonical base64 (spare bits set) in the signature": lambda k: _non_canonical(_good(k)),
    "empty signature": lambda k: _good(k).rsplit(".", 1)[0] + ".",
    "header a JSON array": lambda k: hs256(k.secret, '["HS256"]', _claims()),
    "claims a JSON array": lambda k: hs256(k.secret, HS_HEADER, "[1, 2]"),
    "claims not UTF-8 (UTF-16)": lambda k: hs256(k.secret, HS_HEADER, json.dumps(_claims()).encode("utf-16")),
    "claims with a byte-order mark": lambda k: hs256(
        k.secret, HS_HEADER, b"\xef\xbb\xbf" + json.dumps(_claims()).encode()
    ),
    "duplicate header member (alg none, then HS256)": lambda k: hs256(
        k.secret, '{"alg": "none", "alg": "HS256", "typ": "JWT"}', _claims()
    ),
    "duplicate claim (exp expired, then valid)": lambda k: hs256(
        k.secret,
        HS_HEADER,
        json.dumps(_claims(exp=int(time.time()) - 60))[:-1] + f', "exp": {int(time.time()) + 60}}}',
    ),
    # -- header
    "typ JOSE+JSON": lambda k: hs256(k.secret, {"alg": "HS256", "typ": "JOSE+JSON"}, _claims()),
    "typ at+jwt": lambda k: hs256(k.secret, {"alg": "HS256", "typ": "at+jwt"}, _claims()),
    "typ not a string": lambda k: hs256(k.secret, {"alg": "HS256", "typ": 1}, _claims()),
    "alg a list": lambda k: hs256(k.secret, {"alg": ["HS256"], "typ": "JWT"}, _claims()),
    "crit header": lambda k: hs256(k.secret, {**HS_HEADER, "crit": ["exp"]}, _claims()),
    "b64 false header": lambda k: hs256(k.secret, {**HS_HEADER, "b64": False}, _claims()),
    "x5u header": lambda k: hs256(k.secret, {**HS_HEADER, "x5u": "https://evil.example/cert"}, _claims()),
    "x5c header": lambda k: hs256(k.secret, {**HS_HEADER, "x5c": ["MIIB"]}, _claims()),
    "zip header": lambda k: hs256(k.secret, {**HS_HEADER, "zip": "DEF"}, _claims()),
    # -- NumericDate claims: integers only, sane range
    "exp as a string": lambda k: hs256(k.secret, HS_HEADER, _claims(exp=str(int(time.time()) + 600))),
    "exp with a fraction": lambda k: hs256(k.secret, HS_HEADER, _claims(exp=time.time() + 600.5)),
    "exp true": lambda k: hs256(k.secret, HS_HEADER, _claims(exp=True)),
    "exp NaN": lambda k: hs256(k.secret, HS_HEADER, _raw_claims(exp="NaN")),
    "exp Infinity": lambda k: hs256(k.secret, HS_HEADER, _raw_claims(exp="Infinity")),
    "exp 1e400 (infinite as a float)": lambda k: hs256(k.secret, HS_HEADER, _raw_claims(exp="1e400")),
    "exp after the year 2100": lambda k: hs256(k.secret, HS_HEADER, _claims(exp=10**12)),
    "exp a list": lambda k: hs256(k.secret, HS_HEADER, _claims(exp=[int(time.time()) + 600])),
    "missing iat": lambda k: hs256(k.secret, HS_HEADER, {**_claims(), "iat": None}),
    "iat as a string": lambda k: hs256(k.secret, HS_HEADER, _claims(iat=str(int(time.time())))),
    "iat with a fraction": lambda k: hs256(k.secret, HS_HEADER, _claims(iat=time.time() - 0.5)),
    "iat false": lambda k: hs256(k.secret, HS_HEADER, _claims(iat=False)),
    "iat before the year 2000": lambda k: hs256(k.secret, HS_HEADER, _claims(iat=1)),
    "iat beyond the clock skew": lambda k: hs256(k.secret, HS_HEADER, _claims(iat=int(time.time()) + 90)),
    "nbf as a string": lambda k: hs256(k.secret, HS_HEADER, _claims(nbf=str(int(time.time()) - 60))),
    "nbf beyond the clock skew": lambda k: hs256(k.secret, HS_HEADER, _claims(nbf=int(time.time()) + 90)),
    "lifetime over 24 h": lambda k: hs256(
        k.secret, HS_HEADER, _claims(iat=int(time.time()) - 10, exp=int(time.time()) + 24 * 3600)
    ),
    "exp before iat": lambda k: hs256(
        k.secret, HS_HEADER, _claims(iat=int(time.time()) + 50, exp=int(time.time()) + 40)
    ),
    # -- other claims
    "aud a list without ours": lambda k: hs256(k.secret, HS_HEADER, _claims(aud=["anon", "service"])),
    "aud a number": lambda k: hs256(k.secret, HS_HEADER, _claims(aud=1)),
    "aud a list with a non-string": lambda k: hs256(k.secret, HS_HEADER, _claims(aud=[AUD, 1])),
    "sub a number": lambda k: hs256(k.secret, HS_HEADER, _claims(sub=int(USER))),
    # -- asymmetric keys (the key set the verifier is given)
    "ES256 without kid": lambda k: signed(k.es256, _claims(), kid=None),
    "RS256 without kid": lambda k: signed(k.rs256, _claims(), kid=None),
    "kid a number": lambda k: signed(k.es256, _claims(), kid=7),
    "kid empty": lambda k: signed(k.es256, _claims(), kid=""),
    "kid over 256 characters": lambda k: signed(k.es256, _claims(), kid="k" * 300),
    "unknown kid": lambda k: signed(k.stranger, _claims(), kid="no-such-kid"),
    "kid of a key rotated out of the set": lambda k: signed(k.retired, _claims()),
    "ES256 signed by another key under a published kid": lambda k: signed(k.stranger, _claims()),
    "alg confusion: HS256 signed with the ES256 public key (PEM)": lambda k: hs256(
        k.es256.public_pem(), {**HS_HEADER, "kid": k.es256.kid}, _claims()
    ),
    "alg confusion: HS256 signed with the RS256 public key (PEM)": lambda k: hs256(
        k.rs256.public_pem(), {**HS_HEADER, "kid": k.rs256.kid}, _claims()
    ),
    "alg confusion: HS256 signed with the ES256 JWK as the secret": lambda k: hs256(
        json.dumps(k.es256.jwk()), {**HS_HEADER, "kid": k.es256.kid}, _claims()
    ),
    "RS256 token naming an ES256 key": lambda k: signed(k.rs256, _claims(), kid=k.es256.kid),
    "ES256 token naming an RS256 key": lambda k: signed(k.es256, _claims(), kid=k.rs256.kid),
    "RS256 with a published 1024-bit key": lambda k: signed(k.weak_rsa, _claims()),
    "alg ES384 with the ES256 key": lambda k: signed(k.es256, _claims(), alg="ES384"),
    "alg PS256 with the RS256 key": lambda k: signed(k.rs256, _claims(), alg="PS256"),
    "alg RS512 with the RS256 key": lambda k: signed(k.rs256, _claims(), alg="RS512"),
    "alg EdDSA": lambda k: signed(k.es256, _claims(), alg="EdDSA"),
    "alg none with a published kid": lambda k: signed(k.es256, _claims(), alg="none").rsplit(".", 1)[0] + ".",
    "ES256 signature DER-encoded": _der_signature,
    "ES256 signature truncated": lambda k: (lambda t: t[:-4])(signed(k.es256, _claims())),
    "ES256 tampered payload": lambda k: _tampered(signed(k.es256, _claims())),
    "RS256 tampered payload": lambda k: _tampered(signed(k.rs256, _claims())),
    "ES256 with a jku header": lambda k: signed(k.stranger, _claims(), jku="https://evil.example/jwks.json"),
    "ES256 with its own jwk header": lambda k: signed(k.stranger, _claims(), jwk=k.stranger.jwk()),
    "ES256 expired": lambda k: signed(k.es256, _claims(exp=int(time.time()) - 5)),
    "RS256 wrong audience": lambda k: signed(k.rs256, _claims(aud="anon")),
    "ES256 exp as a string": lambda k: signed(k.es256, _claims(exp=str(int(time.time()) + 600))),
    "ES256 anon role": lambda k: signed(k.es256, _claims(role="anon")),
}

# Whitespace around the token: verify_token refuses it, but in a request it is the header value's
# optional whitespace (RFC 9110 section 5.5), trimmed before the token is read (`bearer_token`).
AROUND_THE_TOKEN = frozenset({"trailing newline", "leading space"})


@pytest.fixture
def kit(signing_keys: dict[str, SigningKey]) -> TokenKit:
    return token_kit(SECRET, signing_keys)


def verify(token: str, **kwargs: object) -> AuthenticatedUser:
    return verify_token(token, secret=SECRET, audience=AUD, **kwargs)  # type: ignore[arg-type]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _keys_at(server: JwksServer, clock: FakeClock, **options: float) -> jwks.KeySet:
    """The verifier's key set for `server`, on `clock` (registered: verify_token uses it)."""
    return jwks.register(jwks.KeySet(server.url, clock=clock, **options))


# ---------------------------------------------------------------------------- what passes


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
    with pytest.raises(Unauthorized):  # required when configured
        verify(_sign(_claims()), issuer="https://ref.supabase.co/auth/v1")


@pytest.mark.parametrize(
    "header",
    [{"alg": "HS256"}, {"alg": "HS256", "typ": "jwt"}, {"alg": "HS256", "typ": "JWT", "kid": "legacy"}],
    ids=["no typ", "typ lower case", "kid ignored for HS256"],
)
def test_hs256_headers_that_pass(header: dict) -> None:
    assert verify(hs256(SECRET, header, _claims())).user_id == USER


def test_integral_numbers_an_audience_list_and_a_past_nbf_pass() -> None:
    now = int(time.time())
    claims = _claims(exp=float(now + 600), iat=float(now), nbf=now - 5, aud=["other", AUD])
    assert verify(hs256(SECRET, HS_HEADER, claims)).user_id == USER


def test_the_maximum_lifetime_is_configurable() -> None:
    now = int(time.time())
    two_hours = hs256(SECRET, HS_HEADER, _claims(iat=now, exp=now + 7200))
    assert verify(two_hours).user_id == USER  # default: 24 h
    with pytest.raises(Unauthorized):
        verify(two_hours, max_lifetime_seconds=3600)
    assert verify(hs256(SECRET, HS_HEADER, _claims(iat=now, exp=now + 3600)), max_lifetime_seconds=3600)


@pytest.mark.parametrize("key", ["es256", "rs256"])
def test_a_valid_asymmetric_token_yields_the_user(kit: TokenKit, jwks_server: JwksServer, key: str) -> None:
    token = signed(getattr(kit, key), _claims(iss="https://ref.supabase.co/auth/v1"))
    user = verify(token, jwks_url=jwks_server.url, issuer="https://ref.supabase.co/auth/v1")
    assert user == AuthenticatedUser(user_id=USER)


def test_hs256_keeps_working_with_a_key_set_configured(jwks_server: JwksServer) -> None:
    assert verify(_sign(_claims()), jwks_url=jwks_server.url).user_id == USER
    assert jwks_server.requests == 0  # HS256 never reads the key set


def test_asymmetric_tokens_are_refused_without_a_key_set(kit: TokenKit) -> None:
    with pytest.raises(Unauthorized):
        verify(signed(kit.es256, _claims()))


# ---------------------------------------------------------------------------- the table


def test_the_table_covers_every_way_in() -> None:
    assert len(HOSTILE_TOKENS) >= 100


@pytest.mark.parametrize("name", sorted(HOSTILE_TOKENS))
def test_hostile_tokens_are_unauthorized(name: str, kit: TokenKit, jwks_server: JwksServer) -> None:
    with pytest.raises(Unauthorized):
        verify(HOSTILE_TOKENS[name](kit), jwks_url=jwks_server.url)


def test_the_asymmetric_cases_are_refused_on_their_fault_not_for_want_of_a_key_set(
    kit: TokenKit, jwks_server: JwksServer
) -> None:
    # The set was reachable throughout: nothing above was refused because a fetch failed.
    for name in ("unknown kid", "RS256 token naming an ES256 key", "ES256 tampered payload"):
        with pytest.raises(Unauthorized):
            verify(HOSTILE_TOKENS[name](kit), jwks_url=jwks_server.url)
    assert 1 <= jwks_server.requests <= 2


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


# ---------------------------------------------------------------------------- the key set


def test_the_key_set_is_fetched_once_and_cached(kit: TokenKit, jwks_server: JwksServer) -> None:
    for _ in range(5):
        verify(signed(kit.es256, _claims()), jwks_url=jwks_server.url)
        verify(signed(kit.rs256, _claims()), jwks_url=jwks_server.url)
    assert jwks_server.requests == 1


def test_the_cache_expires_after_its_ttl(kit: TokenKit, jwks_server: JwksServer, clock: FakeClock) -> None:
    _keys_at(jwks_server, clock, ttl_seconds=600)
    token = signed(kit.es256, _claims())
    verify(token, jwks_url=jwks_server.url)
    clock.now += 599
    verify(token, jwks_url=jwks_server.url)
    assert jwks_server.requests == 1
    clock.now += 1
    verify(token, jwks_url=jwks_server.url)
    assert jwks_server.requests == 2


def test_rotated_keys_old_kid_removed_new_kid_added(
    kit: TokenKit, jwks_server: JwksServer, clock: FakeClock
) -> None:
    old, new = kit.es256, SigningKey.es256("es256-next")
    _keys_at(jwks_server, clock)
    assert verify(signed(old, _claims()), jwks_url=jwks_server.url).user_id == USER
    jwks_server.publish(new, kit.rs256)  # the server rotates: the old kid is gone, a new one added
    clock.now += jwks.MIN_FETCH_INTERVAL_SECONDS
    # the new kid is unknown to the cache: one refetch, and it verifies at once (no TTL wait)
    assert verify(signed(new, _claims()), jwks_url=jwks_server.url).user_id == USER
    assert jwks_server.requests == 2
    # the refetched set replaced the old one: the removed key no longer verifies
    with pytest.raises(Unauthorized):
        verify(signed(old, _claims()), jwks_url=jwks_server.url)
    clock.now += jwks.TTL_SECONDS
    with pytest.raises(Unauthorized):
        verify(signed(old, _claims()), jwks_url=jwks_server.url)


def test_unknown_kids_refresh_at_most_once_per_interval(
    kit: TokenKit, jwks_server: JwksServer, clock: FakeClock
) -> None:
    _keys_at(jwks_server, clock, min_fetch_interval_seconds=10)
    verify(signed(kit.es256, _claims()), jwks_url=jwks_server.url)
    assert jwks_server.requests == 1

    def spray(count: int) -> None:
        for _ in range(count):
            with pytest.raises(Unauthorized):
                verify(signed(kit.stranger, _claims(), kid=uuid.uuid4().hex), jwks_url=jwks_server.url)

    spray(50)  # within the interval of the first fetch: no refetch at all
    assert jwks_server.requests == 1
    clock.now += 10
    spray(50)  # one refetch for the first made-up kid, then none until the interval has passed
    assert jwks_server.requests == 2
    clock.now += 9
    spray(20)
    assert jwks_server.requests == 2
    clock.now += 1
    spray(20)
    assert jwks_server.requests == 3
    # known keys kept verifying throughout
    assert verify(signed(kit.rs256, _claims()), jwks_url=jwks_server.url).user_id == USER


def test_an_unreachable_key_set_with_nothing_cached_is_503_not_401(kit: TokenKit) -> None:
    url = unreachable_url()
    with pytest.raises(ServiceUnavailable):
        verify(signed(kit.es256, _claims()), jwks_url=url)
    # what can be decided without a key still is: 401, and HS256 is unaffected
    with pytest.raises(Unauthorized):
        verify(HOSTILE_TOKENS["ES256 expired"](kit), jwks_url=url)
    with pytest.raises(Unauthorized):
        verify(HOSTILE_TOKENS["ES256 without kid"](kit), jwks_url=url)
    assert verify(_sign(_claims()), jwks_url=url).user_id == USER


def test_a_failing_fetch_is_retried_at_most_once_per_interval(
    kit: TokenKit, jwks_server: JwksServer, clock: FakeClock
) -> None:
    _keys_at(jwks_server, clock, min_fetch_interval_seconds=10)
    jwks_server.fail_with(500)
    for _ in range(5):
        with pytest.raises(ServiceUnavailable):
            verify(signed(kit.es256, _claims()), jwks_url=jwks_server.url)
    assert jwks_server.requests == 1
    jwks_server.fail_with(None)
    clock.now += 10
    assert verify(signed(kit.es256, _claims()), jwks_url=jwks_server.url).user_id == USER
    assert jwks_server.requests == 2


def test_cached_keys_decide_while_the_endpoint_is_down(
    kit: TokenKit, jwks_server: JwksServer, clock: FakeClock
) -> None:
    _keys_at(jwks_server, clock, ttl_seconds=600, max_stale_seconds=3600)
    verify(signed(kit.es256, _claims()), jwks_url=jwks_server.url)
    jwks_server.fail_with(503)
    clock.now += 600 + 10  # the TTL passed: a refetch is due, and fails
    assert verify(signed(kit.es256, _claims()), jwks_url=jwks_server.url).user_id == USER
    assert jwks_server.requests == 2
    with pytest.raises(ServiceUnavailable):  # a kid the cache does not know: only the endpoint could tell
        verify(signed(kit.stranger, _claims(), kid="rotated-in"), jwks_url=jwks_server.url)
    with pytest.raises(Unauthorized):  # a cached key that does not verify the token decides: 401
        verify(
            HOSTILE_TOKENS["ES256 signed by another key under a published kid"](kit), jwks_url=jwks_server.url
        )
    clock.now += 3600  # beyond the staleness bound the cached keys decide nothing any more
    with pytest.raises(ServiceUnavailable):
        verify(signed(kit.es256, _claims()), jwks_url=jwks_server.url)


@pytest.mark.parametrize("failure", [500, 404, "redirect", "hang", "keys not a list", "keys null"])
def test_every_kind_of_fetch_failure_is_503(
    kit: TokenKit, jwks_server: JwksServer, clock: FakeClock, failure: int | str
) -> None:
    _keys_at(jwks_server, clock, timeout_seconds=0.3, deadline_seconds=0.5)
    if failure == "keys not a list":
        jwks_server.keys = "{"  # type: ignore[assignment]
    elif failure == "keys null":
        jwks_server.keys = None  # type: ignore[assignment]
    else:
        jwks_server.fail_with(failure)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        verify(signed(kit.es256, _claims()), jwks_url=jwks_server.url)
    assert time.monotonic() - started < 0.9  # bounded by the timeouts


def test_the_key_set_url_must_be_https_outside_loopback() -> None:
    from pydantic import ValidationError

    from tpg.platform.settings import Settings

    assert Settings(jwt_jwks_url="https://ref.supabase.co/auth/v1/.well-known/jwks.json").jwt_jwks_url
    assert Settings(jwt_jwks_url="http://127.0.0.1:9999/jwks.json").jwt_jwks_url
    for url in ("http://ref.supabase.co/jwks.json", "file:///etc/passwd", "ftp://x/jwks.json", "jwks.json"):
        with pytest.raises(ValidationError):
            Settings(jwt_jwks_url=url)
    assert Settings.from_environment({"JWT_MAX_LIFETIME_SECONDS": "3600"}).jwt_max_lifetime_seconds == 3600


# ---------------------------------------------------------------------------- reading a key set


def _parsed(*entries: dict) -> set[str]:
    return set(jwks.parse_key_set(json.dumps({"keys": list(entries)}).encode()))


def test_only_public_signature_keys_of_the_right_kind_are_loaded(signing_keys: dict[str, SigningKey]) -> None:
    es, rs, weak = signing_keys["es256"], signing_keys["rs256"], signing_keys["weak_rsa"]
    assert _parsed(es.jwk(), rs.jwk()) == {es.kid, rs.kid}
    assert _parsed(es.jwk(alg=None), rs.jwk(alg=None)) == {es.kid, rs.kid}  # alg from kty
    rejected = [
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0", "alg": "HS256"},  # symmetric
        es.jwk(kid="with-private", d="AAAA"),  # private parts published: anyone could sign
        es.jwk(kid="enc", use="enc"),
        es.jwk(kid="ops", key_ops=["encrypt"]),
        es.jwk(kid="es-as-rs", alg="RS256"),  # an EC key claiming RSA
        rs.jwk(kid="rs-as-es", alg="ES256"),
        rs.jwk(kid="ps", alg="PS256"),
        weak.jwk(),  # 1024 bits
        {"kty": "EC", "crv": "P-384", "kid": "p384", "x": "AA", "y": "AA"},
        es.jwk(kid="not-on-curve", y=es.jwk()["x"]),
        es.jwk(kid="short-x", x="AAAA"),
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "AAAA"},
        "not an object",
    ]
    assert _parsed(*rejected) == set()  # type: ignore[arg-type]
    # a kid listed twice is ambiguous: dropped
    assert _parsed(es.jwk(), rs.jwk(kid=es.kid), rs.jwk()) == {rs.kid}


@pytest.mark.parametrize("document", [b"", b"[]", b'{"keys": {}}', b"\xff", b'{"keys": NaN}'])
def test_a_document_that_is_not_a_key_set_is_an_error(document: bytes) -> None:
    with pytest.raises(jwks.KeySetError):
        jwks.parse_key_set(document)


# ---------------------------------------------------------------------------- the cold path


def test_the_trigger_imports_no_crypto_library_and_hs256_needs_none() -> None:
    root = Path(__file__).resolve().parents[2]
    code = (
        "import sys, uuid, time, hmac, hashlib, base64, json\n"
        "import functions.trigger.app\n"
        "from tpg.api.auth import verify_token\n"
        "e = lambda v: base64.urlsafe_b64encode(json.dumps(v).encode()).decode().rstrip('=')\n"
        "now = int(time.time())\n"
        "s = e({'alg': 'HS256'}) + '.' + e({'sub': str(uuid.uuid4()), 'aud': 'authenticated',"
        " 'role': 'authenticated', 'iat': now, 'exp': now + 60})\n"
        "sig = hmac.new(b'k', s.encode(), hashlib.sha256).digest()\n"
        "verify_token(s + '.' + base64.urlsafe_b64encode(sig).decode().rstrip('='), secret='k',"
        " audience='authenticated', jwks_url='https://ref.supabase.co/auth/v1/.well-known/jwks.json')\n"
        "heavy = ('cryptography', 'jose', 'ecdsa', 'rsa', 'httpx', 'urllib.request', 'tpg.api.jwks')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
