"""The WebSocket API's routes (API Gateway WebSocket events), independent of Lambda.

- `$connect`: the `ticket` query parameter is consumed (`tpg.store.realtime.open_connection`) and
  the connection bound to its user; anything else is refused with 401 before the socket opens.
- `$disconnect`: the connection's row goes (best effort, as API Gateway's own event is).
- `$default`: `{"type": "ping"}` is answered `{"type": "pong"}` (the route's response); anything
  else is ignored. Nothing a client sends changes what it receives. Any message keeps the connection
  counted as open another idle period (API Gateway's idle timer restarts too), at most 2 h after
  $connect: a row whose socket was closed without a $disconnect stops counting (toward the user's
  maximum, and as a push target) within about 11 minutes, not 2 hours.

The answer is always a status code (and, for a pong, a body): an error is logged by type, never
raised, and never echoes the ticket or the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tpg.platform.observability import Metric, count, describe_unexpected, logger
from tpg.platform.settings import Settings
from tpg.realtime.messages import PONG, is_ping
from tpg.realtime.tickets import looks_like_ticket, ticket_hash
from tpg.store import realtime as store
from tpg.store.db import Database


@dataclass(frozen=True, slots=True)
class RealtimeDependencies:
    """What the realtime function works with, built once per execution environment by its handler
    (`functions/realtime/app.py`)."""

    settings: Settings
    db: Database

    @classmethod
    def from_settings(cls, settings: Settings) -> RealtimeDependencies:
        return cls(settings=settings, db=Database(settings))


def _answer(status: int, body: bytes | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"statusCode": status}
    if body is not None:
        answer["body"] = body.decode()
    return answer


def handle_websocket_event(event: dict[str, Any], deps: RealtimeDependencies) -> dict[str, Any]:
    context = event.get("requestContext") or {}
    route = context.get("routeKey")
    connection_id = context.get("connectionId")
    if not isinstance(connection_id, str) or not 1 <= len(connection_id) <= 128:
        logger.warning("websocket event without a connection id", extra={"route": str(route)[:20]})
        return _answer(400)
    if route == "$connect":
        return _connect(event, connection_id, deps)
    if route == "$disconnect":
        return _disconnect(connection_id, deps)
    return _message(event, connection_id, deps)


def _connect(event: dict[str, Any], connection_id: str, deps: RealtimeDependencies) -> dict[str, Any]:
    ticket = (event.get("queryStringParameters") or {}).get("ticket")
    if not looks_like_ticket(ticket):
        return _refuse("no ticket, or not one this API issued")
    try:
        user_id = store.open_connection(
            deps.db,
            ticket_hash=ticket_hash(ticket),
            connection_id=connection_id,
            idle_seconds=deps.settings.realtime_idle_seconds,
        )
    except Exception as exc:  # the database: refuse; the client polls and tries again later
        logger.error("could not open a realtime connection", extra=describe_unexpected(exc))
        return _answer(503)
    if user_id is None:
        return _refuse("ticket unknown, used or expired")
    count(Metric.REALTIME_CONNECTIONS_OPENED)
    logger.info("realtime connection opened", extra={"connection_id": connection_id})
    return _answer(200)


def _refuse(reason: str) -> dict[str, Any]:
    count(Metric.REALTIME_CONNECTIONS_REFUSED)
    logger.info("realtime connection refused", extra={"reason": reason})
    return _answer(401)


def _disconnect(connection_id: str, deps: RealtimeDependencies) -> dict[str, Any]:
    try:
        store.close_connection(deps.db, connection_id)
    except Exception as exc:  # the row expires; a push to it meets 410 and removes it
        logger.warning("could not remove a closed connection", extra=describe_unexpected(exc))
    return _answer(200)


def _message(event: dict[str, Any], connection_id: str, deps: RealtimeDependencies) -> dict[str, Any]:
    settings = deps.settings
    try:
        store.touch_connection(
            deps.db,
            connection_id,
            idle_seconds=settings.realtime_idle_seconds,
            max_seconds=settings.realtime_connection_seconds,
        )
    except Exception as exc:  # the row may expire early: pushes stop, the client's checks GET
        logger.warning("could not extend a realtime connection", extra=describe_unexpected(exc))
    body = None if event.get("isBase64Encoded") else event.get("body")
    if isinstance(body, str) and is_ping(body):
        return _answer(200, PONG)
    return _answer(200)
