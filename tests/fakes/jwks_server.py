"""A JSON Web Key Set endpoint for the tests: a real HTTP server on 127.0.0.1, signing keys generated
with `cryptography` at test time, and a token encoder independent of the code under test.

`JwksServer.publish(...)` replaces the keys served (a rotation), `fail_with(...)` makes it answer an
error status, hang or redirect, and `requests` counts the fetches it answered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

JWKS_PATH = "/auth/v1/.well-known/jwks.json"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def segment(value: Any) -> str:
    """One token segment: a JSON value (or raw bytes / JSON text as given), base64url."""
    if isinstance(value, bytes):
        return b64(value)
    return b64((value if isinstance(value, str) else json.dumps(value)).encode())


def _int_b64(number: int, length: int | None = None) -> str:
    return b64(number.to_bytes(length or (number.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True)
class SigningKey:
    """A private key and the public JWK the server publishes for it."""

    kid: str
    alg: str  # ES256 or RS256
    private: Any

    @classmethod
    def es256(cls, kid: str) -> SigningKey:
        return cls(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def rs256(cls, kid: str, bits: int = 2048) -> SigningKey:
        return cls(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=bits))

    def jwk(self, **overrides: Any) -> dict[str, Any]:
        numbers = self.private.public_key().public_numbers()
        if self.alg == "ES256":
            jwk = {"kty": "EC", "crv": "P-256", "x": _int_b64(numbers.x, 32), "y": _int_b64(numbers.y, 32)}
        else:
            jwk = {"kty": "RSA", "n": _int_b64(numbers.n), "e": _int_b64(numbers.e)}
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig", **overrides}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, signing_input: bytes) -> bytes:
        if self.alg == "ES256":
            r, s = decode_dss_signature(self.private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return self.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())


def hs256(secret: str | bytes, header: Any, claims: Any) -> str:
    """An HS256 token with exactly this header and these claims (dicts, or JSON text / bytes as is)."""
    signing_input = f"{segment(header)}.{segment(claims)}"
    key = secret if isinstance(secret, bytes) else secret.encode()
    return f"{signing_input}.{b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())}"


def signed(key: SigningKey, claims: Any, *, alg: str | None = None, **header: Any) -> str:
    """A token signed by `key` (header: its alg and kid unless overridden; None drops a member)."""
    full = {"alg": alg or key.alg, "typ": "JWT", "kid": key.kid, **header}
    signing_input = f"{segment({k: v for k, v in full.items() if v is not None})}.{segment(claims)}"
    return f"{signing_input}.{b64(key.sign(signing_input.encode()))}"


@dataclass
class JwksServer:
    """Serves `keys` at `url`; `fail_with(status | "hang" | "redirect" | None)`; `requests` counts."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    failure: int | str | None = None
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{JWKS_PATH}"

    def publish(self, *keys: SigningKey | dict[str, Any]) -> None:
        self.keys = [key.jwk() if isinstance(key, SigningKey) else key for key in keys]

    def fail_with(self, failure: int | str | None) -> None:
        self.failure = failure

    def __enter__(self) -> JwksServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                with owner._lock:
                    owner.requests += 1
                if owner.failure == "hang":
                    time.sleep(1.0)  # longer than the client waits: it has gone, answer nothing
                    return
                if owner.failure == "redirect":
                    self.send_response(302)
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere.json")
                    self.end_headers()
                    return
                if isinstance(owner.failure, int):
                    self.send_response(owner.failure)
                    self.end_headers()
                    return
                body = json.dumps({"keys": owner.keys}).encode()
                self.send_response(200 if self.path == JWKS_PATH else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


def unreachable_url() -> str:
    """A loopback URL nothing listens on (a port just released)."""
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as probe:
        port = probe.server_address[1]
    return f"http://127.0.0.1:{port}{JWKS_PATH}"


@dataclass(frozen=True)
class TokenKit:
    """What a hostile-token table entry signs with: the HS256 secret and the key-set keys."""

    secret: str
    es256: SigningKey  # published
    rs256: SigningKey  # published
    weak_rsa: SigningKey  # published, 1024 bits: never used
    retired: SigningKey  # ES256, rotated out: no longer published
    stranger: SigningKey  # ES256, never published, signs with a published key's kid

    def published(self) -> list[SigningKey]:
        return [self.es256, self.rs256, self.weak_rsa]


def generate_keys() -> dict[str, SigningKey]:
    return {
        "es256": SigningKey.es256("es256-current"),
        "rs256": SigningKey.rs256("rs256-current"),
        "weak_rsa": SigningKey.rs256("rs256-weak", bits=1024),
        "retired": SigningKey.es256("es256-retired"),
        "stranger": SigningKey.es256("es256-current"),
    }
