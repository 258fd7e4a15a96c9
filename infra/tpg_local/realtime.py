"""The local stack's WebSocket API: what API Gateway's WebSocket API and its Management API do in AWS,
on the stack's own port, with the same realtime handler (`functions/realtime/app.py`).

`websockets` (asyncio, on its own thread) serves the sockets:

- a handshake becomes a `$connect` event (its query string, the ticket, included) for the handler;
  200 opens the socket, any other status refuses the handshake with it, as API Gateway does;
- each text message becomes a `$default` event; a body in the answer is sent back (the route
  response); a binary frame closes the socket (1003) and a frame over 32 KB too (1009), as API
  Gateway does;
- a closed socket becomes a `$disconnect` event;
- like API Gateway, a socket silent for `idle_seconds` (10 min) and any socket after
  `max_lifetime_seconds` (2 h) is closed (1001); permessage-deflate is not offered.

The server's own log (`websockets`, its request lines with the ticket in the query string at DEBUG)
is kept at INFO and above, whatever the process's log level.

`LocalManagementApi` is the Management API the pushers post through (`tpg.realtime.push`): the same
`post_to_connection(ConnectionId=..., Data=...)` as boto3's client, sending one text frame, and the
same `ClientError` botocore raises for a 410 (`GoneException`) when the connection is not open (not
yet, or no more).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tpg.platform.observability import logger
from tpg_local.lambda_context import LocalLambdaContext, invocation_log_keys

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

API_GATEWAY_IDLE_SECONDS = 10 * 60
API_GATEWAY_MAX_LIFETIME_SECONDS = 2 * 3600
# API Gateway's frame limit (32 KB): a larger frame closes the socket (1009). (API Gateway takes a
# message of up to 128 KB in 32 KB frames; no client of ours fragments, so the frame is the message.)
MAX_FRAME_BYTES = 32 * 1024
_POST_TIMEOUT_SECONDS = 2.0  # a client that does not read: a failed post (not a hung API)
# The server's log: its DEBUG lines hold request lines, `GET /?ticket=...`.
_SERVER_LOG = logging.getLogger("tpg_local.realtime.websockets")
_SERVER_LOG.setLevel(logging.INFO)


def connection_id() -> str:
    """An id shaped like API Gateway's (e.g. `L0SM9cOFvHcCIhw=`)."""
    return base64.b64encode(secrets.token_bytes(11)).decode()


def websocket_event(
    route: str,
    connection: str,
    *,
    request: Request | None = None,
    source_ip: str = "127.0.0.1",
    body: str | bytes | None = None,
    connected_at: float | None = None,
    disconnect: tuple[int, str] | None = None,
) -> dict[str, Any]:
    """The event API Gateway's WebSocket API sends the integration for `route`."""
    now = datetime.now(UTC)
    event_type = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE")
    context: dict[str, Any] = {
        "routeKey": route,
        "eventType": event_type,
        "messageDirection": "IN",
        "stage": "local",
        "apiId": "local",
        "domainName": "localhost",
        "connectionId": connection,
        "connectedAt": int((connected_at or time.time()) * 1000),
        "requestId": str(uuid.uuid4()),
        "extendedRequestId": str(uuid.uuid4()),
        "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": int(now.timestamp() * 1000),
        "identity": {"sourceIp": source_ip},
    }
    event: dict[str, Any] = {"requestContext": context, "isBase64Encoded": False}
    if request is not None:
        headers: dict[str, str] = {}
        for name, value in request.headers.raw_items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        context["identity"]["userAgent"] = headers.get("user-agent", "")
        context["domainName"] = headers.get("host", "localhost")
        event["headers"] = headers
        query = dict(parse_qsl(urlsplit(request.path).query, keep_blank_values=True))
        if query:
            event["queryStringParameters"] = query
    if disconnect is not None:
        context["disconnectStatusCode"], context["disconnectReason"] = disconnect
    if isinstance(body, bytes):
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    elif body is not None:
        event["body"] = body
        context["messageId"] = secrets.token_urlsafe(12)
    return event


class RealtimeBindError(OSError):
    """The WebSocket API's port could not be bound (`tpg serve` names --realtime-port)."""


def gone(connection: str) -> Exception:
    """What botocore raises for the Management API's 410."""
    from botocore.exceptions import ClientError

    return ClientError(
        {
            "Error": {"Code": "GoneException", "Message": f"Connection {connection} is gone"},
            "ResponseMetadata": {"HTTPStatusCode": 410},
        },
        "PostToConnection",
    )


class LocalWebSocketApi:
    """The WebSocket API on (host, port): binds in the constructor (an OSError when the port is in
    use), serves from `start()` on its own thread, `close()` ends every socket ($disconnect each)."""

    def __init__(
        self,
        handler: Handler,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        idle_seconds: float = API_GATEWAY_IDLE_SECONDS,
        max_lifetime_seconds: float = API_GATEWAY_MAX_LIFETIME_SECONDS,
        handler_threads: int = 8,
    ) -> None:
        self._handler = handler
        self._idle_seconds = idle_seconds
        self._max_lifetime_seconds = max_lifetime_seconds
        self._invocations = ThreadPoolExecutor(max_workers=handler_threads, thread_name_prefix="realtime")
        self._open: dict[str, ServerConnection] = {}  # touched on the loop's thread only
        # (id, connected at) of each socket $connect accepted: weak, a handshake may still fail after
        self._ids: weakref.WeakKeyDictionary[ServerConnection, tuple[str, float]] = (
            weakref.WeakKeyDictionary()
        )
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        try:
            self._server: Server = self._loop.run_until_complete(self._bind(host, port))
        except BaseException as exc:
            self._loop.close()
            self._invocations.shutdown(wait=False)
            if isinstance(exc, OSError):
                raise RealtimeBindError(exc.errno, exc.strerror) from exc
            raise
        address = next(iter(self._server.sockets)).getsockname()
        self.address: tuple[str, int] = (str(address[0]), int(address[1]))
        self.management = LocalManagementApi(self)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"ws://[{host}]:{port}/" if ":" in host else f"ws://{host}:{port}/"

    async def _bind(self, host: str, port: int) -> Server:
        return await serve(
            self._serve,
            host,
            port,
            process_response=self._connect,
            compression=None,  # API Gateway does not negotiate permessage-deflate
            max_size=MAX_FRAME_BYTES,
            backlog=2048,
            logger=_SERVER_LOG,
        )

    def start(self) -> LocalWebSocketApi:
        self._thread = threading.Thread(target=self._loop.run_forever, name="realtime", daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Close every socket (1001, each gets its $disconnect) and stop serving."""

        async def shut() -> None:
            self._server.close()
            await self._server.wait_closed()

        if self._thread is None:  # never started: only the listening socket to close
            if not self._loop.is_closed():
                self._loop.run_until_complete(shut())
                self._loop.close()
                self._invocations.shutdown(wait=False)
            return
        try:
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout=timeout)
        except Exception as exc:  # sockets that would not close: the process is ending anyway
            logger.warning("realtime server did not close cleanly", extra={"error_type": type(exc).__name__})
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._invocations.shutdown(wait=True, cancel_futures=True)
        self._thread = None
        if not self._loop.is_running():
            self._loop.close()

    @property
    def open_connections(self) -> int:
        return len(self._open)

    # -------------------------------------------------------------------------- the three routes

    async def _invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """The realtime handler on a worker thread, as a Lambda invocation (never on the loop)."""
        return await self._loop.run_in_executor(self._invocations, self._call, event)

    def _call(self, event: dict[str, Any]) -> dict[str, Any]:
        context = LocalLambdaContext("realtime", timeout_seconds=10)
        correlation_id = event["requestContext"]["connectionId"]
        with invocation_log_keys("realtime", context=context, correlation_id=correlation_id):
            try:
                return self._handler(event, context)
            except Exception as exc:  # API Gateway's answer when the function fails
                logger.error("realtime invocation raised", extra={"error_type": type(exc).__name__})
                return {"statusCode": 500}

    async def _connect(
        self, connection: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        # After websockets has checked the handshake (API Gateway, too, calls $connect only for a
        # valid one), before the answer goes out: the handler's status decides it.
        if response.status_code != 101:
            return None
        identifier = connection_id()
        source_ip = str(connection.remote_address[0]) if connection.remote_address else "127.0.0.1"
        event = websocket_event("$connect", identifier, request=request, source_ip=source_ip)
        answer = await self._invoke(event)
        status = int(answer.get("statusCode", 200))
        if status != 200:
            return connection.respond(status, json.dumps({"message": _reason(status)}) + "\n")
        self._ids[connection] = (identifier, time.time())
        return None

    async def _serve(self, connection: ServerConnection) -> None:
        identifier, connected_at = self._ids[connection]
        self._open[identifier] = connection
        deadline = time.monotonic() + self._max_lifetime_seconds
        disconnect = (1000, "")
        try:
            while True:
                wait = min(self._idle_seconds, deadline - time.monotonic())
                if wait <= 0:
                    await connection.close(1001, "Going away")
                    break
                try:
                    async with asyncio.timeout(wait):
                        message = await connection.recv()
                except TimeoutError:
                    await connection.close(1001, "Going away")
                    break
                if isinstance(message, bytes):  # API Gateway takes text frames only
                    await connection.close(1003, "Unsupported data")
                    disconnect = (1003, "Unsupported data")
                    break
                event = websocket_event("$default", identifier, body=message, connected_at=connected_at)
                body = (await self._invoke(event)).get("body")
                if body:
                    await connection.send(str(body))
        except ConnectionClosed as closed:
            received = closed.rcvd
            disconnect = (received.code, received.reason) if received else (1006, "")
        finally:
            self._open.pop(identifier, None)
            self._ids.pop(connection, None)
            event = websocket_event(
                "$disconnect", identifier, connected_at=connected_at, disconnect=disconnect
            )
            await self._invoke(event)

    async def send(self, connection: str, data: bytes) -> None:
        socket = self._open.get(connection)
        if socket is None:
            raise gone(connection)
        try:
            async with asyncio.timeout(_POST_TIMEOUT_SECONDS):
                await socket.send(data.decode())
        except ConnectionClosed:
            raise gone(connection) from None
        except TimeoutError:  # this client does not read: its post fails, the API is fine
            raise _error("InternalServerErrorException", 500) from None

    def post(self, connection: str, data: bytes) -> None:
        # A TimeoutError here is the whole server not answering: a hung API, as boto3 would say.
        asyncio.run_coroutine_threadsafe(self.send(connection, data), self._loop).result(
            timeout=_POST_TIMEOUT_SECONDS + 1
        )


def _error(code: str, status: int) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError(
        {"Error": {"Code": code, "Message": ""}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PostToConnection",
    )


def _reason(status: int) -> str:
    """The `message` API Gateway's handshake answer carries for the route's status."""
    known = {401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests", 500: "Internal server error"}
    if status in known:
        return known[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Forbidden"


class LocalManagementApi:
    """The API Gateway Management API of the local WebSocket API, as boto3's client is called."""

    def __init__(self, api: LocalWebSocketApi) -> None:
        self._api = api

    def post_to_connection(self, *, ConnectionId: str, Data: bytes | str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        data = Data.encode() if isinstance(Data, str) else Data
        self._api.post(ConnectionId, data)
        return {"ResponseMetadata": {"HTTPStatusCode": 200}}
