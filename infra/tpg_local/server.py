"""The local stack: an HTTP server that turns requests into API Gateway HTTP API (payload 2.0)
events for the trigger's `lambda_handler`, the local dispatcher that runs the generate handler,
and the sweeper on a timer. Only the transport differs from AWS.

A few routes exist only here, never in a Lambda handler: the demo page (`/`, `/static/...`),
Swagger UI for `/openapi.json` (`/docs`, assets from the installed Powertools package, so it
works offline), and development sessions (`GET /dev/personas`, `POST /dev/session`) that seed a
persona's user and hand the page a token. Every other request goes through the trigger handler.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tpg.platform.observability import logger
from tpg.platform.settings import Settings
from tpg_local.dispatcher import LocalDispatcher
from tpg_local.lambda_context import LocalLambdaContext
from tpg_local.wiring import Wiring

# API Gateway refuses payloads above 10 MB before any function runs; so does the local stack.
API_GATEWAY_MAX_PAYLOAD = 10 * 1024 * 1024
_TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded")

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

STATIC_DIR = Path(__file__).parent / "static"
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
# The demo page loads nothing from elsewhere and runs no inline script.
_PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# Swagger UI sets inline styles on its elements.
_DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_SWAGGER_ASSETS = ("swagger-ui-bundle.min.js", "swagger-ui.min.css")
_DEV_SESSION_MAX_BODY = 1024


@cache
def swagger_ui_dir() -> Path:
    """Swagger UI as Powertools ships it (its own `enable_swagger` serves these files inline)."""
    import aws_lambda_powertools.event_handler as event_handler

    return Path(event_handler.__file__).parent / "openapi" / "swagger_ui"


def _json(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json", "Cache-Control": "no-store"}
    return status, headers, json.dumps(body).encode()


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    return _json(status, {"error": {"code": code, "message": message}})


def _file(path: Path, csp: str | None = None) -> tuple[int, dict[str, str], bytes]:
    headers = {
        "Content-Type": _CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    if csp:
        headers["Content-Security-Policy"] = csp
    return 200, headers, path.read_bytes()


def _static(name: str) -> Path | None:
    """A file directly inside static/ (no sub-paths, so no traversal), or None."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    path = STATIC_DIR / name
    return path if path.is_file() else None


def persona_catalog() -> list[dict[str, Any]]:
    """The seeded personas as the page lists them: name, a readable label, the onboarding data."""
    from tpg_local.personas import PERSONAS

    return [
        {"name": name, "label": name.replace("_", " ").title(), "onboarding": _onboarding(data)}
        for name, data in sorted(PERSONAS.items())
    ]


def _onboarding(data: dict[str, Any]) -> dict[str, Any]:
    """A persona's profile and onboarding answers, camelCase like the API's bodies."""
    return {
        "age": data["age"],
        "sex": data["sex"],
        "heightCm": data["height_cm"],
        "weightKg": data["weight_kg"],
        "goal": data["goal"],
        "experience": data["experience"],
        "trainingMonths": data.get("training_months", 0),
        "daysPerWeek": data["days_per_week"],
        "sessionMinutes": data["session_minutes"],
        "equipment": list(data["equipment"]),
        "injuries": list(data.get("injuries", [])),
        "lifts": [
            {"exerciseId": lift["exercise_id"], "weightKg": lift["weight_kg"], "reps": lift["reps"]}
            for lift in data.get("lifts", [])
        ],
        "notes": data.get("notes"),
    }


def create_dev_session(persona: str, settings: Settings) -> dict[str, Any]:
    """Seed a new subscribed, onboarded user from `persona`; return it with a token (local only)."""
    import psycopg

    from tpg_local.personas import PERSONAS
    from tpg_local.seed import seed_user, token_for

    url = settings.database_url_value
    if not url:
        raise RuntimeError("DATABASE_URL is not set")
    with psycopg.connect(url, autocommit=True) as conn:
        user_id = seed_user(conn, persona=persona)
    token = token_for(user_id, settings, ttl_seconds=8 * 3600)
    return {
        "userId": str(user_id),
        "token": token,
        "persona": persona,
        "label": persona.replace("_", " ").title(),
        "onboarding": _onboarding(PERSONAS[persona]),
    }


def api_gateway_event(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str = "127.0.0.1"
) -> dict[str, Any]:
    """Build the event API Gateway HTTP API sends for this request (payload format 2.0)."""
    parts = urlsplit(target)
    merged: dict[str, str] = {}
    for name, value in headers:  # API Gateway joins repeated headers with commas
        key = name.lower()
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    content_type = merged.get("content-type", "")
    is_text = not body or content_type.startswith(_TEXT_TYPES)
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path or "/",
        "rawQueryString": parts.query,
        "headers": merged,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": merged.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": parts.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": not is_text,
    }
    if query:
        event["queryStringParameters"] = query
    if body:
        event["body"] = body.decode("utf-8", errors="replace") if is_text else base64.b64encode(body).decode()
    return event


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > API_GATEWAY_MAX_PAYLOAD:
            self._send(413, {"Content-Type": "application/json"}, b'{"message":"Request Entity Too Large"}')
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        local = self._local_route(body)
        if local is not None:
            self._send(*local)
            return
        event = api_gateway_event(
            self.command, self.path, list(self.headers.items()), body, self.client_address[0]
        )
        response = self.server.trigger(event, LocalLambdaContext("trigger", timeout_seconds=30))
        payload = response.get("body") or ""
        raw = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
        self._send(response.get("statusCode", 200), response.get("headers") or {}, raw)

    def _local_route(self, body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        """The local stack's own routes (page, docs, dev sessions); None: the trigger's."""
        path = urlsplit(self.path).path
        method = self.command
        if method == "GET" and path in ("/", "/index.html"):
            return _file(STATIC_DIR / "index.html", _PAGE_CSP)
        if method == "GET" and path.startswith("/static/"):
            found = _static(path.removeprefix("/static/"))
            return _file(found) if found else _error(404, "NOT_FOUND", "Not found.")
        if method == "GET" and path in ("/docs", "/docs/"):
            return _file(STATIC_DIR / "docs.html", _DOCS_CSP)
        if method == "GET" and path.startswith("/docs/") and path.removeprefix("/docs/") in _SWAGGER_ASSETS:
            return _file(swagger_ui_dir() / path.removeprefix("/docs/"))
        if path.startswith("/dev/"):
            if not self.server.dev_sessions:
                return _error(404, "NOT_FOUND", "Not found.")
            return self._dev_route(method, path, body)
        return None

    def _dev_route(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if method == "GET" and path == "/dev/personas":
            return _json(200, {"personas": persona_catalog()})
        if method == "POST" and path == "/dev/session":
            if len(body) > _DEV_SESSION_MAX_BODY:
                return _error(413, "PAYLOAD_TOO_LARGE", "The request body is too large.")
            try:
                persona = json.loads(body or b"{}").get("persona")
            except (ValueError, AttributeError):
                return _error(400, "MALFORMED_JSON", "The request body is not valid JSON.")
            if persona not in {p["name"] for p in persona_catalog()}:
                return _error(422, "INVALID_REQUEST", "Invalid request: persona: unknown persona")
            try:
                return _json(201, create_dev_session(persona, self.server.settings))
            except Exception as exc:  # a local tool: say it failed, log what, keep serving
                logger.error("dev session failed", extra={"error_type": type(exc).__name__})
                return _error(503, "SERVICE_UNAVAILABLE", "Could not seed a user. Is the database up?")
        return _error(404, "NOT_FOUND", "Not found.")

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.debug("http", extra={"request": format % args})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's listen backlog is 5: a burst of concurrent clients would see resets.
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], trigger: Handler, settings: Settings, *, dev_sessions: bool = True
    ) -> None:
        super().__init__(address, _RequestHandler)
        self._trigger = trigger
        self.settings = settings
        # A Lambda execution environment serves one invocation at a time, and the handler's module
        # state (the Powertools resolver's current event and context) relies on it. The HTTP
        # server is threaded, so the trigger invocations take turns, as in one environment.
        self._trigger_lock = threading.Lock()
        self.dev_sessions = dev_sessions

    def trigger(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self._trigger_lock:
            return self._trigger(event, context)


class LocalStack:
    """Trigger behind HTTP, generate behind the local dispatcher, sweeper on a timer.

    The handlers run with the stack's collaborators, given through their composition roots
    (`self.wiring`): `settings` (default: read from the environment, as `tpg serve` sets it up),
    one database access, and the local dispatcher. `self.wiring.update(...)` changes them while
    the stack runs.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        generate_concurrency: int = 4,
        sweep_interval: float | None = 30.0,
        dev_sessions: bool = True,
        settings: Settings | None = None,
    ) -> None:
        """`dev_sessions`: serve /dev/personas and /dev/session (seed a user, mint a token)."""
        # The handler modules are imported here, as the Lambda runtime would import them.
        from functions.generate.app import lambda_handler as generate_handler
        from functions.sweeper.app import lambda_handler as sweeper_handler
        from functions.trigger.app import lambda_handler as trigger_handler

        settings = settings or Settings.from_environment()
        self.dispatcher = LocalDispatcher(generate_handler, max_workers=generate_concurrency)
        self.wiring = Wiring(settings, dispatcher=self.dispatcher)
        self._sweeper_handler = sweeper_handler
        self._sweep_interval = sweep_interval
        self._stop = threading.Event()
        self._server = _Server((host, port), trigger_handler, settings, dev_sessions=dev_sessions)
        self._threads: list[threading.Thread] = []

    @property
    def settings(self) -> Settings:
        return self.wiring.settings

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LocalStack:
        self.wiring.install()
        self._threads.append(threading.Thread(target=self._server.serve_forever, name="http", daemon=True))
        if self._sweep_interval:
            self._threads.append(threading.Thread(target=self._sweep_forever, name="sweeper", daemon=True))
        for thread in self._threads:
            thread.start()
        return self

    def sweep_once(self) -> dict[str, Any]:
        result: dict[str, Any] = self._sweeper_handler(
            {"source": "local.timer"}, LocalLambdaContext("sweeper", timeout_seconds=60)
        )
        return result

    def _sweep_forever(self) -> None:
        while not self._stop.wait(self._sweep_interval):
            try:
                self.sweep_once()
            except Exception as exc:  # keep the timer alive; the next tick retries
                logger.error("sweep failed", extra={"error_type": type(exc).__name__})

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self.dispatcher.shutdown(wait=True)
        self.wiring.uninstall()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
