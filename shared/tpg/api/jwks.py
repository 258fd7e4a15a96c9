"""The JSON Web Key Set behind asymmetric bearer tokens (ES256, RS256): fetched, cached, refreshed.

`tpg.api.auth` imports this module only when an ES256/RS256 token arrives and `JWT_JWKS_URL` is set,
so `cryptography` and `urllib.request` stay off the trigger's cold path.

- Cache: one `KeySet` per URL per execution environment; a fetched set is used for `TTL_SECONDS`.
- Refresh: a `kid` the cached set does not name refetches the set (a key was rotated in), but no two
  fetches, whatever their reason, are less than `MIN_FETCH_INTERVAL_SECONDS` apart: a stream of
  made-up kids costs the endpoint at most one request per interval. A fetched set replaces the old
  one whole, so a key removed from the set stops verifying at the next fetch.
- Failure: a fetch has `TIMEOUT_SECONDS` to connect and per read, `DEADLINE_SECONDS` in all, at
  most `MAX_DOCUMENT_BYTES`, and no redirects. When it fails, the keys already cached keep verifying
  for up to `MAX_STALE_SECONDS` past their TTL; a token only the endpoint could decide raises
  `ServiceUnavailable` (503): the service, not the token, is at fault.
- Keys: EC P-256 keys verify ES256 and RSA keys of 2048 bits or more RS256, each only its own
  algorithm (its `alg`, or its `kty` when `alg` is absent). Entries that are symmetric, carry private
  parts, are not for signatures, or are of another kind are skipped; a kid listed twice is dropped.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tpg.platform.errors import ServiceUnavailable
from tpg.platform.observability import describe_unexpected, logger

TTL_SECONDS = 600.0
MIN_FETCH_INTERVAL_SECONDS = 10.0
MAX_STALE_SECONDS = 3600.0
TIMEOUT_SECONDS = 2.0
DEADLINE_SECONDS = 3.0
MAX_DOCUMENT_BYTES = 64 * 1024
MAX_KEYS = 32
MIN_RSA_BITS = 2048
MAX_KID_LENGTH = 256
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


class KeySetError(Exception):
    """The key set could not be fetched or read."""


@dataclass(frozen=True, slots=True)
class PublicKey:
    kid: str
    algorithm: str  # ES256 or RS256: the only one this key verifies
    key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        try:
            if isinstance(self.key, ec.EllipticCurvePublicKey):
                if len(signature) != 64:  # JWS ES256: r and s, 32 bytes each (RFC 7518 3.4), not DER
                    return False
                r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
                self.key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
            else:
                if len(signature) != (self.key.key_size + 7) // 8:
                    return False
                self.key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True


class KeySet:
    """The keys of one JWKS URL, cached (see the module's docstring). Thread-safe: one fetch at a time."""

    def __init__(
        self,
        url: str,
        *,
        ttl_seconds: float = TTL_SECONDS,
        min_fetch_interval_seconds: float = MIN_FETCH_INTERVAL_SECONDS,
        max_stale_seconds: float = MAX_STALE_SECONDS,
        timeout_seconds: float = TIMEOUT_SECONDS,
        deadline_seconds: float = DEADLINE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError("a JWKS URL is http(s)")
        self.url = url
        self.ttl_seconds = ttl_seconds
        self.min_fetch_interval_seconds = min_fetch_interval_seconds
        self.max_stale_seconds = max_stale_seconds
        self.timeout_seconds = timeout_seconds
        self.deadline_seconds = deadline_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, PublicKey] | None = None
        self._fetched_at = 0.0  # when `_keys` was fetched
        self._attempted_at: float | None = None  # the last fetch, successful or not
        self._last_failed = False

    def key(self, kid: str) -> PublicKey | None:
        """The key `kid` names; None when the set (fetched now or recently) has no such key.
        `ServiceUnavailable` when the set could not be fetched and no cached key decides."""
        with self._lock:
            now = self._clock()
            if not self._fresh_with(kid, now) and self._may_fetch(now):
                self._fetch(now)
            keys = self._keys if self._usable(now) else None
            if keys is not None and kid in keys:
                return keys[kid]
            if keys is None or self._last_failed:
                raise ServiceUnavailable()
            return None

    def _fresh_with(self, kid: str, now: float) -> bool:
        return self._keys is not None and now - self._fetched_at < self.ttl_seconds and kid in self._keys

    def _usable(self, now: float) -> bool:
        return self._keys is not None and now - self._fetched_at < self.ttl_seconds + self.max_stale_seconds

    def _may_fetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self.min_fetch_interval_seconds

    def _fetch(self, now: float) -> None:
        self._attempted_at = now
        try:
            keys = parse_key_set(self._download())
        except Exception as exc:  # any failure: the cached keys (if any) still decide what they can
            self._last_failed = True
            logger.warning(
                "JWKS fetch failed", extra={**describe_unexpected(exc), "keys_cached": self._keys is not None}
            )
            return
        self._keys, self._fetched_at, self._last_failed = keys, now, False
        logger.info("JWKS fetched", extra={"keys": len(keys)})

    def _download(self) -> bytes:
        deadline = time.monotonic() + self.deadline_seconds
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked in __init__)
            self.url, headers={"Accept": "application/json", "User-Agent": "tpg-jwks"}
        )
        with _OPENER.open(request, timeout=self.timeout_seconds) as response:
            if response.status != 200:
                raise KeySetError(f"status {response.status}")
            body = b""
            while chunk := response.read1(16 * 1024):
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise KeySetError("document too large")
                if time.monotonic() > deadline:
                    raise KeySetError("too slow")
            return body


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError for the 3xx: the configured URL must answer itself


# Only http(s): no file:, ftp: or data: handlers; proxies from the environment as usual.
_OPENER = urllib.request.OpenerDirector()
for _handler in (
    urllib.request.ProxyHandler(),
    urllib.request.HTTPHandler(),
    urllib.request.HTTPSHandler(),
    urllib.request.HTTPDefaultErrorHandler(),
    urllib.request.HTTPErrorProcessor(),
    _NoRedirects(),
):
    _OPENER.add_handler(_handler)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_key_set(document: bytes) -> dict[str, PublicKey]:
    """The usable keys of a JWKS document by kid; `KeySetError` when it is not a key set at all."""
    try:
        data = json.loads(document.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise KeySetError("not JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise KeySetError("no keys list")
    entries = [entry for entry in data["keys"][:MAX_KEYS] if isinstance(entry, dict)]
    kids = [entry.get("kid") for entry in entries]
    found: dict[str, PublicKey] = {}
    for entry in entries:
        if kids.count(entry.get("kid")) == 1 and (key := public_key(entry)) is not None:
            found[key.kid] = key
    return found


def _b64_int(value: Any, *, length: int | None = None) -> int:
    if not isinstance(value, str) or not _BASE64URL.fullmatch(value):
        raise ValueError("not base64url")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc
    if length is not None and len(raw) != length:
        raise ValueError("wrong length")
    return int.from_bytes(raw, "big")


def public_key(entry: dict[str, Any]) -> PublicKey | None:
    """The verification key of one JWK, or None when it is not one this service will use."""
    kid, kty, algorithm = entry.get("kid"), entry.get("kty"), entry.get("alg")
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
        return None
    if _PRIVATE_MEMBERS & entry.keys() or entry.get("use", "sig") != "sig":
        return None
    operations = entry.get("key_ops")
    if operations is not None and not (isinstance(operations, list) and "verify" in operations):
        return None
    try:
        if kty == "EC" and algorithm in (None, "ES256") and entry.get("crv") == "P-256":
            x, y = _b64_int(entry.get("x"), length=32), _b64_int(entry.get("y"), length=32)
            # from_public_numbers checks that the point is on the curve
            return PublicKey(kid, "ES256", ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key())
        if kty == "RSA" and algorithm in (None, "RS256"):
            numbers = rsa.RSAPublicNumbers(_b64_int(entry.get("e")), _b64_int(entry.get("n")))
            key = numbers.public_key()
            return PublicKey(kid, "RS256", key) if key.key_size >= MIN_RSA_BITS else None
    except ValueError:
        return None
    return None


_key_sets: dict[str, KeySet] = {}
_key_sets_lock = threading.Lock()


def key_set(url: str) -> KeySet:
    """The `KeySet` of `url`, created on first use and kept for the life of the execution environment."""
    with _key_sets_lock:
        found = _key_sets.get(url)
        if found is None:
            found = _key_sets[url] = KeySet(url)
        return found


def register(keys: KeySet) -> KeySet:
    """Use `keys` for its URL from now on (tests: a set with its own clock or intervals)."""
    with _key_sets_lock:
        _key_sets[keys.url] = keys
    return keys


def forget_key_sets() -> None:
    """Drop every cached set (tests)."""
    with _key_sets_lock:
        _key_sets.clear()
