"""The local stack: an HTTP server that turns requests into API Gateway HTTP API (payload 2.0)
events for the trigger's `lambda_handler`, the local dispatcher that runs the generate handler,
and the sweeper on a timer. Only the transport differs from AWS."""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tpg import dispatch
from tpg.observability import logger
from tpg_local.dispatcher import LocalDispatcher
from tpg_local.lambda_context import LocalLambdaContext

# API Gateway refuses payloads above 10 MB before any function runs; so does the local stack.
API_GATEWAY_MAX_PAYLOAD = 10 * 1024 * 1024
_TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded")

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


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
        event = api_gateway_event(
            self.command, self.path, list(self.headers.items()), body, self.client_address[0]
        )
        response = self.server.trigger(event, LocalLambdaContext("trigger", timeout_seconds=30))
        payload = response.get("body") or ""
        raw = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
        self._send(response.get("statusCode", 200), response.get("headers") or {}, raw)

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

    def __init__(self, address: tuple[str, int], trigger: Handler) -> None:
        super().__init__(address, _RequestHandler)
        self.trigger = trigger


class LocalStack:
    """Trigger behind HTTP, generate behind the local dispatcher, sweeper on a timer."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 3000,
        generate_concurrency: int = 4,
        sweep_interval: float | None = 30.0,
    ) -> None:
        # The handler modules are imported here, as the Lambda runtime would import them.
        from functions.generate.app import lambda_handler as generate_handler
        from functions.sweeper.app import lambda_handler as sweeper_handler
        from functions.trigger.app import lambda_handler as trigger_handler

        self.dispatcher = LocalDispatcher(generate_handler, max_workers=generate_concurrency)
        self._sweeper_handler = sweeper_handler
        self._sweep_interval = sweep_interval
        self._stop = threading.Event()
        self._server = _Server((host, port), trigger_handler)
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LocalStack:
        dispatch.install_dispatcher(self.dispatcher)
        self._threads.append(threading.Thread(target=self._server.serve_forever, name="http", daemon=True))
        if self._sweep_interval:
            self._threads.append(threading.Thread(target=self._sweep_forever, name="sweeper", daemon=True))
        for thread in self._threads:
            thread.start()
        return self

    def sweep_once(self) -> dict[str, Any]:
        return self._sweeper_handler(
            {"source": "local.timer"}, LocalLambdaContext("sweeper", timeout_seconds=60)
        )

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
        dispatch.install_dispatcher(None)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
