"""The local stack: an HTTP server that turns requests into API Gateway HTTP API (payload 2.0)
events for the trigger's `lambda_handler`, the local dispatcher that runs the generate handler,
and the sweeper on a timer. Only the transport differs from AWS.

The HTTP server is waitress (a maintained pure-Python WSGI server): it parses HTTP, including
chunked bodies, pipelined requests and malformed lengths, and times out slow clients; `LocalApp`
is the WSGI application that emulates API Gateway in front of the trigger.

A few routes exist only here, never in a Lambda handler: the demo page (`/`, `/static/...`),
Swagger UI for `/openapi.json` (`/docs`, assets from the installed Powertools package, so it
works offline), and development sessions (`GET /dev/personas`, `POST /dev/session`) that seed a
persona's user and hand the page a token (a stack bound to loopback only). Every other request
goes through the trigger handler.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from uuid import UUID

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.server import BaseWSGIServer, MultiSocketServer, create_server
from waitress.task import ErrorTask, ThreadedTaskDispatcher

from tpg.platform.observability import logger
from tpg.platform.settings import Settings
from tpg.store import repository
from tpg_local.cors import CorsPolicy
from tpg_local.dispatcher import LocalDispatcher, RunningInvocation
from tpg_local.lambda_context import LocalLambdaContext, invocation_log_keys
from tpg_local.realtime import LocalWebSocketApi
from tpg_local.wiring import Wiring

# API Gateway refuses payloads above 10 MB before any function runs; so does the local stack.
API_GATEWAY_MAX_PAYLOAD = 10 * 1024 * 1024
_TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded")

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

STATIC_DIR = Path(__file__).parent / "static"
# The typed client package (ES modules, no build step): the demo page imports it from /client/.
CLIENT_DIR = Path(__file__).resolve().parents[2] / "clients" / "js" / "src"
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
# The demo page loads nothing from elsewhere and runs no inline script; it connects to the API and
# to the local realtime WebSocket (its own port on this machine).
_PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws://127.0.0.1:* ws://localhost:*; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
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


def _static(name: str, folder: Path = STATIC_DIR) -> Path | None:
    """A file directly inside `folder` (no sub-paths, so no traversal), or None."""
    if not name or "/" in name or "\\" in name or name.startswith(".") or len(name) > 100:
        return None
    path = folder / name
    try:
        return path if path.is_file() else None
    except OSError:  # a name the file system refuses (too long, NUL): not ours
        return None


def _header(headers: list[tuple[str, str]], name: str) -> str:
    return next((v for k, v in headers if k.lower() == name), "")


def _loopback_host(headers: list[tuple[str, str]]) -> bool:
    host = _header(headers, "host").rsplit(":", 1)[0].strip("[]").lower()
    return host in ("localhost", "127.0.0.1", "::1")


def _is_json(headers: list[tuple[str, str]]) -> bool:
    return _header(headers, "content-type").split(";")[0].strip().lower() == "application/json"


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


# ------------------------------------------------------------------------------ the WSGI app

Response = tuple[int, dict[str, str], bytes]

# Hop-by-hop headers belong to the connection, which the server owns (API Gateway drops them too).
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers"}
    | {"transfer-encoding", "upgrade", "content-length"}
)


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _request_headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
    """The request's headers from the WSGI environ (waitress has joined repeated ones with commas)."""
    headers: list[tuple[str, str]] = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers.append((key[5:].replace("_", "-").lower(), value))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers.append((key.replace("_", "-").lower(), value))
    return headers


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


class LocalApp:
    """The local stack's WSGI application: its own routes (page, docs, dev sessions), else the
    request as an API Gateway HTTP API event for the trigger handler, and its answer mapped back."""

    def __init__(
        self, trigger: Handler, settings: Callable[[], Settings], *, dev_sessions: bool = True
    ) -> None:
        self._trigger = trigger
        self._settings = settings
        # A Lambda execution environment serves one invocation at a time, and the handler's module
        # state (the Powertools resolver's current event and context) relies on it. The server
        # runs requests on threads, so the trigger invocations take turns, as in one environment.
        self._trigger_lock = threading.Lock()
        self.dev_sessions = dev_sessions
        self._refused_origins: set[str] = set()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        method = environ["REQUEST_METHOD"]
        # The raw request target, as API Gateway's rawPath/rawQueryString keep it (not decoded).
        target = environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
        body = environ["wsgi.input"].read()  # waitress has read all of it (chunked or not), within the limit
        source_ip = environ.get("REMOTE_ADDR") or "127.0.0.1"
        status, headers, payload = self.respond(method, target, _request_headers(environ), body, source_ip)
        response_headers = [(k, v) for k, v in headers.items() if k.lower() not in _HOP_BY_HOP]
        response_headers.append(("Content-Length", str(len(payload))))
        start_response(_status_line(status), response_headers)
        # A HEAD answer carries the headers only: a body would desynchronise a keep-alive client.
        return [] if method == "HEAD" else [payload]

    def respond(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> Response:
        local = self._local_route(method, urlsplit(target).path, body, source_ip, headers)
        if local is not None:
            return local
        # The API's routes, with CORS as API Gateway's CorsConfiguration adds it: a preflight is
        # answered here, before the trigger (and its authentication) runs.
        origin = _header(headers, "origin")
        cors = CorsPolicy(self._settings().cors_allow_origins)
        allowed = bool(origin) and cors.allows(origin)
        if origin and not allowed:
            self._refused_origin(origin, cors)
        if CorsPolicy.is_preflight(method, origin, _header(headers, "access-control-request-method")):
            if not allowed:
                return _error(
                    403,
                    "CORS_ORIGIN_NOT_ALLOWED",
                    "This origin may not call the API: see CORS_ALLOW_ORIGINS.",
                )
            return 204, cors.preflight_headers(origin), b""
        status, headers_out, raw = self._invoke_trigger(method, target, headers, body, source_ip)
        if allowed:
            headers_out.update(cors.response_headers(origin))
        return status, headers_out, raw

    def _refused_origin(self, origin: str, cors: CorsPolicy) -> None:
        # The browser only says "CORS error" (the client: NETWORK_ERROR); say why here, once per origin.
        if origin not in self._refused_origins:
            self._refused_origins.add(origin)
            logger.warning(
                "cross-origin call from an origin not allowed; set CORS_ALLOW_ORIGINS",
                extra={"origin": origin[:200], "allowed": cors.describe()},
            )

    def _invoke_trigger(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> Response:
        event = api_gateway_event(method, target, headers, body, source_ip)
        context = LocalLambdaContext("trigger", timeout_seconds=30)
        request_id = event["requestContext"]["requestId"]
        with invocation_log_keys("trigger", context=context, correlation_id=request_id):
            try:
                with self._trigger_lock:
                    response = self._trigger(event, context)
                payload = response.get("body") or ""
                raw = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
                headers_out = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
                status = int(response.get("statusCode", 200))
            except Exception as exc:  # API Gateway's answer when the function fails
                logger.error("trigger invocation raised", extra={"error_type": type(exc).__name__})
                return 500, {"Content-Type": "application/json"}, b'{"message":"Internal Server Error"}'
        for cookie in response.get("cookies") or []:  # payload 2.0 returns Set-Cookie values apart
            headers_out.setdefault("Set-Cookie", str(cookie))
        return status, headers_out, raw

    def _local_route(
        self, method: str, path: str, body: bytes, source_ip: str, headers: list[tuple[str, str]]
    ) -> Response | None:
        """The local stack's own routes (page, docs, dev sessions); None: the trigger's."""
        if method == "GET" and path in ("/", "/index.html"):
            return _file(STATIC_DIR / "index.html", _PAGE_CSP)
        if method == "GET" and path.startswith("/static/"):
            found = _static(path.removeprefix("/static/"))
            return _file(found) if found else _error(404, "NOT_FOUND", "Not found.")
        if method == "GET" and path.startswith("/client/"):
            found = _static(path.removeprefix("/client/"), CLIENT_DIR)
            return _file(found) if found and found.suffix == ".js" else _error(404, "NOT_FOUND", "Not found.")
        if method == "GET" and path in ("/docs", "/docs/"):
            return _file(STATIC_DIR / "docs.html", _DOCS_CSP)
        if method == "GET" and path.startswith("/docs/") and path.removeprefix("/docs/") in _SWAGGER_ASSETS:
            return _file(swagger_ui_dir() / path.removeprefix("/docs/"))
        if path.startswith("/dev/"):
            # Tokens for anyone who asks: only on a stack bound to loopback, only to loopback
            # clients, only for a loopback Host (a web page elsewhere, or DNS rebinding, cannot ask)
            # and only as JSON (a cross-site form post cannot send it without a preflight).
            if not self.dev_sessions or not _is_loopback(source_ip) or not _loopback_host(headers):
                return _error(404, "NOT_FOUND", "Not found.")
            if method == "POST" and not _is_json(headers):
                return _error(415, "UNSUPPORTED_MEDIA_TYPE", "Send the request as application/json.")
            with invocation_log_keys("local-stack", correlation_id=str(uuid.uuid4())):
                return self._dev_route(method, path, body)
        return None

    def _dev_route(self, method: str, path: str, body: bytes) -> Response:
        if method == "GET" and path == "/dev/personas":
            return _json(200, {"personas": persona_catalog()})
        if method == "POST" and path == "/dev/session":
            if len(body) > _DEV_SESSION_MAX_BODY:
                return _error(413, "PAYLOAD_TOO_LARGE", "The request body is too large.")
            try:
                persona = json.loads(body or b"{}").get("persona")
            except (ValueError, AttributeError):
                return _error(400, "MALFORMED_JSON", "The request body is not valid JSON.")
            if not isinstance(persona, str) or persona not in {p["name"] for p in persona_catalog()}:
                return _error(422, "INVALID_REQUEST", "Invalid request: persona: unknown persona")
            try:
                return _json(201, create_dev_session(persona, self._settings()))
            except Exception as exc:  # a local tool: say it failed, log what, keep serving
                logger.error("dev session failed", extra={"error_type": type(exc).__name__})
                return _error(503, "SERVICE_UNAVAILABLE", "Could not seed a user. Is the database up?")
        return _error(404, "NOT_FOUND", "Not found.")


# ------------------------------------------------------------------------- the HTTP server

# waitress parses HTTP/1.1 (chunked bodies, pipelining, Expect: 100-continue), refuses a
# Content-Length that is not digits or is too large, and keeps slow clients off the worker threads
# (it reads requests on its event loop and hands only complete ones to a thread). Three
# adjustments here: a request with both Content-Length and Transfer-Encoding is refused (RFC 7230
# 3.3.3: a smuggling attempt, "ought to be handled as an error"; waitress would ignore the
# Content-Length), and its error answers are JSON the way API Gateway's own are.


class _Parser(HTTPRequestParser):
    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        if "CONTENT_LENGTH" in self.headers and (self.chunked or "TRANSFER_ENCODING" in self.headers):
            raise ParsingError("Content-Length and Transfer-Encoding together are ambiguous")


class _ErrorTask(ErrorTask):
    """waitress's error answers (400, 413, 431, 501, 500) as API Gateway words them: JSON."""

    def execute(self) -> None:
        error: Any = self.request.error  # type: ignore[attr-defined]  # the parser (stubs say Error)
        body = json.dumps({"message": error.reason}).encode()
        logger.debug("http request refused", extra={"status": error.code, "reason": error.body})
        self.status = f"{error.code} {error.reason}"
        self.response_headers = [("Content-Type", "application/json")]
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _Channel(HTTPChannel):
    parser_class = _Parser
    error_task_class = _ErrorTask


class HttpServer:
    """waitress serving `app` on (host, port), on its own thread; `close` ends it gracefully."""

    def __init__(self, app: Any, host: str, port: int, *, threads: int = 8, client_timeout: int = 30) -> None:
        self._map: dict[int, Any] = {}
        self._tasks = ThreadedTaskDispatcher()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            created = create_server(
                app,
                map=self._map,
                _dispatcher=self._tasks,  # its threads start once the socket is bound
                host=host,
                port=port,
                # a connection idle (or a request stalled) this long is closed; checked this often
                channel_timeout=client_timeout,
                cleanup_interval=max(1, min(30, client_timeout // 2)),
                # API Gateway refuses payloads above 10 MB before any function runs; so does this
                max_request_body_size=API_GATEWAY_MAX_PAYLOAD + 1,
                asyncore_use_poll=True,  # select() stops at file descriptor 1024
                backlog=128,
                ident="tpg-local",
                expose_tracebacks=False,
            )
        except BaseException:
            wasyncore.close_all(self._map, ignore_all=True)
            raise
        self._tasks.set_thread_count(threads)
        # "Task queue depth is N" whenever requests outnumber threads: the trigger runs one at a time
        # by design, so a burst of clients queues, which is no warning.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        listeners = self._listeners()
        for listener in listeners:
            listener.channel_class = _Channel
        first = listeners[0]
        self.address: tuple[str, int] = (str(first.effective_host), int(first.effective_port))  # type: ignore[attr-defined]
        if isinstance(created, MultiSocketServer):
            host0, port0 = created.effective_listen[0]
            self.address = (str(host0), int(port0))

    def _listeners(self) -> list[BaseWSGIServer]:
        return [d for d in self._map.values() if isinstance(d, BaseWSGIServer)]

    def _channels(self) -> list[HTTPChannel]:
        return [d for d in self._map.values() if isinstance(d, HTTPChannel)]

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="http", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closing.is_set():
            wasyncore.loop(timeout=0.5, map=self._map, use_poll=True, count=1)

    def close(self, grace_seconds: float = 10.0) -> None:
        """Stop accepting at once, let the requests being answered finish (at most
        `grace_seconds`), then close every connection and the worker threads."""
        self._closing.set()
        listeners = self._listeners()
        for listener in listeners:
            listener.pull_trigger()  # wake the loop
        if self._thread is not None:
            self._thread.join(timeout=5)
        # The loop has stopped: the map is this thread's now.
        for listener in listeners:
            listener.accepting = False
            wasyncore.dispatcher.close(listener)  # the listening socket only; the wake-up trigger stays
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline and any(
            c.requests or c.total_outbufs_len for c in self._channels()
        ):
            wasyncore.loop(timeout=0.05, map=self._map, use_poll=True, count=1)
        for channel in self._channels():
            channel.handle_close()
        self._tasks.shutdown(cancel_pending=True, timeout=2)
        wasyncore.close_all(self._map, ignore_all=True)


# ------------------------------------------------------------------------------- the stack


class LocalStack:
    """Trigger behind HTTP, generate behind the local dispatcher, sweeper on a timer, and the
    realtime function behind the local WebSocket API (`tpg_local.realtime`, on `realtime_port`;
    None: none, clients poll).

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
        client_timeout: int = 30,
        http_threads: int = 8,
        realtime_port: int | None = 0,
    ) -> None:
        """`dev_sessions`: serve /dev/personas and /dev/session (seed a user, mint a token).
        `client_timeout`: seconds a connection may stay idle or a request stall before it is closed.
        Binds the port here: an OSError (the port in use) is raised by the constructor."""
        # The handler modules are imported here, as the Lambda runtime would import them.
        from functions.generate.app import lambda_handler as generate_handler
        from functions.realtime.app import lambda_handler as realtime_handler
        from functions.sweeper.app import lambda_handler as sweeper_handler
        from functions.trigger.app import lambda_handler as trigger_handler

        settings = settings or Settings.from_environment()
        # The WebSocket API binds first; the tickets the trigger issues point at it (unless the
        # environment names another URL, e.g. a TLS proxy in front of it).
        self.realtime = (
            None if realtime_port is None else LocalWebSocketApi(realtime_handler, host, realtime_port)
        )
        if self.realtime is not None and settings.realtime_websocket_url is None:
            url = self.realtime.url.replace("://0.0.0.0:", "://127.0.0.1:").replace("://[::]:", "://[::1]:")
            settings = settings.model_copy(update={"realtime_websocket_url": url})
        self.dispatcher = LocalDispatcher(generate_handler, max_workers=generate_concurrency)
        self.wiring = Wiring(
            settings,
            dispatcher=self.dispatcher,
            realtime_client=self.realtime.management if self.realtime is not None else None,
        )
        self._sweeper_handler = sweeper_handler
        self._sweep_interval = sweep_interval
        self._stop = threading.Event()
        self._hurry = threading.Event()
        self.app = LocalApp(trigger_handler, lambda: self.wiring.settings, dev_sessions=dev_sessions)
        try:
            self._http = HttpServer(self.app, host, port, threads=http_threads, client_timeout=client_timeout)
        except BaseException:
            if self.realtime is not None:
                self.realtime.close()
            raise
        self._threads: list[threading.Thread] = []
        self._stopped = False

    @property
    def settings(self) -> Settings:
        return self.wiring.settings

    @property
    def url(self) -> str:
        host, port = self._http.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def realtime_url(self) -> str | None:
        """The WebSocket URL the tickets point at (None: no realtime)."""
        return self.settings.realtime_websocket_url if self.realtime is not None else None

    def start(self) -> LocalStack:
        self.wiring.install()
        self._http.start()
        if self.realtime is not None:
            self.realtime.start()
        if self._sweep_interval:
            sweeper = threading.Thread(target=self._sweep_forever, name="sweeper", daemon=True)
            self._threads.append(sweeper)
            sweeper.start()
        return self

    def sweep_once(self) -> dict[str, Any]:
        context = LocalLambdaContext("sweeper", timeout_seconds=60)
        with invocation_log_keys("sweeper", context=context):
            result: dict[str, Any] = self._sweeper_handler({"source": "local.timer"}, context)
        return result

    def _sweep_forever(self) -> None:
        while not self._stop.wait(self._sweep_interval):
            try:
                self.sweep_once()
            except Exception as exc:  # keep the timer alive; the next tick retries
                with invocation_log_keys("sweeper"):
                    logger.error("sweep failed", extra={"error_type": type(exc).__name__})

    def hurry(self) -> None:
        """End a graceful `stop` now: release what is still running (a second Ctrl-C)."""
        self._hurry.set()

    def stop(self, grace_seconds: float | None = None) -> list[UUID]:
        """Stop accepting requests, stop the sweeper, and let the running generations finish.

        `grace_seconds=None` waits for every dispatched generation (the tests' default). A number
        gives the running ones that long and cancels the queued ones (still pending, so the
        sweeper re-dispatches them); the rows of those still running then are released: their
        lease ends now and, with attempts left, they are pending again at once (the sweeper's
        reclaim), instead of waiting for the lease. Returns the released program ids."""
        if self._stopped:
            return []
        self._stopped = True
        self._stop.set()
        self._http.close(grace_seconds=10.0 if grace_seconds is None else min(10.0, grace_seconds))
        for thread in self._threads:
            thread.join(timeout=10)
        released: list[UUID] = []
        if grace_seconds is None:
            self.dispatcher.shutdown(wait=True)
        else:
            unfinished = self.dispatcher.stop(grace_seconds, hurry=self._hurry)
            released = self._release(unfinished)
        if self.realtime is not None:  # after the generations: their last pushes still go out
            self.realtime.close()
        self.wiring.uninstall()
        return released

    def _release(self, unfinished: list[RunningInvocation]) -> list[UUID]:
        """End the leases of invocations that will not finish, then reclaim them as the sweeper
        would: pending again (attempts left) or left for the sweeper to fail (none left)."""
        with invocation_log_keys("local-stack"):
            return self._release_leases(unfinished)

    def _release_leases(self, unfinished: list[RunningInvocation]) -> list[UUID]:
        released: list[UUID] = []
        if not unfinished:
            return released
        db = self.wiring.generate.db
        try:
            for invocation in unfinished:
                # the row its invocation claimed, which may not be the one its event named
                state = repository.release_claim(db, invocation.request_id)
                if state is not None:
                    released.append(state.program_id)
        except Exception as exc:  # the database is gone: the leases will expire on their own
            logger.error("could not release unfinished generations", extra={"error_type": type(exc).__name__})
        logger.warning(
            "released unfinished generations",
            extra={"programs": [str(p) for p in released], "unfinished": len(unfinished)},
        )
        return released

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
