"""CORS on the local stack, as API Gateway's `CorsConfiguration` does it in AWS (template.yaml).

A web app on its own dev server (Vite on :5173, Next.js on :3000, another port of this machine)
calls the local API from another origin: the browser sends a preflight (OPTIONS) first, without the
bearer token, and reads an answer only if it names the app's origin. So preflights are answered
here, before anything authenticates, and the API's answers carry `Access-Control-Allow-Origin`
for an allowed origin.

Allowed origins: `CORS_ALLOW_ORIGINS` (comma-separated exact origins, or `*`); unset, any origin
on this machine (`http(s)://localhost`, `127.0.0.1` or `[::1]`, any port). Methods, headers and
max age are the template's (tests/unit/test_local_cors.py keeps them in step).
"""

from __future__ import annotations

import re

ALLOW_METHODS = ("GET", "POST", "OPTIONS")
ALLOW_HEADERS = ("authorization", "content-type")
EXPOSE_HEADERS = ("location", "retry-after")
MAX_AGE_SECONDS = 600
_LOCAL_ORIGIN = re.compile(r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?", re.IGNORECASE)


class CorsPolicy:
    """Which origins may call the API from a browser, and the headers that say so."""

    def __init__(self, allow_origins: str | None = None) -> None:
        self.origins = frozenset(o.strip().rstrip("/") for o in (allow_origins or "").split(",") if o.strip())

    def allows(self, origin: str) -> bool:
        if not self.origins:
            return bool(_LOCAL_ORIGIN.fullmatch(origin))
        return "*" in self.origins or origin in self.origins

    def describe(self) -> str:
        return ", ".join(sorted(self.origins)) if self.origins else "any localhost origin"

    @staticmethod
    def is_preflight(method: str, origin: str | None, requested_method: str | None) -> bool:
        return method == "OPTIONS" and bool(origin) and bool(requested_method)

    def preflight_headers(self, origin: str) -> dict[str, str]:
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ", ".join(ALLOW_METHODS),
            "Access-Control-Allow-Headers": ", ".join(ALLOW_HEADERS),
            "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
            "Vary": "Origin",
        }

    def response_headers(self, origin: str) -> dict[str, str]:
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Expose-Headers": ", ".join(EXPOSE_HEADERS),
            "Vary": "Origin",
        }
