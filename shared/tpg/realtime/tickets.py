"""Connect tickets: how a browser authenticates a WebSocket without putting its token in a URL.

A browser cannot set headers on a WebSocket, and a URL's query string ends up in logs. So the client
asks the HTTP API (bearer-authenticated) for a ticket and opens the URL it is given, ticket included.
A ticket is 256 random bits, bound to the user, good for `REALTIME_TICKET_SECONDS` (60) and for one
$connect only: it becomes the connection (`tpg.store.realtime`). Only its SHA-256 is stored, so the
table alone cannot open a connection; a ticket read from a log afterwards opens nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import TypeGuard
from urllib.parse import urlencode, urlsplit, urlunsplit
from uuid import UUID

from tpg.platform.errors import RealtimeUnavailable, TooManyConnections
from tpg.platform.observability import logger
from tpg.platform.settings import Settings
from tpg.store import realtime as store
from tpg.store.db import Database

TICKET_BYTES = 32
# secrets.token_urlsafe(32): 43 characters of the URL-safe base64 alphabet, no padding.
_TICKET = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True, slots=True)
class IssuedTicket:
    ticket: str
    url: str  # the WebSocket URL to open as it is, the ticket in its query string
    expires_in: int  # seconds


def new_ticket() -> str:
    return secrets.token_urlsafe(TICKET_BYTES)


def looks_like_ticket(value: object) -> TypeGuard[str]:
    """What `new_ticket` makes; anything else is refused without a database round trip."""
    return isinstance(value, str) and _TICKET.fullmatch(value) is not None


def ticket_hash(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode("ascii")).digest()


def url_with_ticket(websocket_url: str, ticket: str) -> str:
    parts = urlsplit(websocket_url)
    query = "&".join(q for q in (parts.query, urlencode({"ticket": ticket})) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, ""))


def issue_ticket(db: Database, user_id: UUID, settings: Settings) -> IssuedTicket:
    """A ticket for `user_id`: RealtimeUnavailable when the deployment has no realtime (or the caller
    no profile, so no programs), TooManyConnections when the caller holds its maximum already."""
    websocket_url = settings.realtime_websocket_url
    if websocket_url is None:
        raise RealtimeUnavailable()
    ticket = new_ticket()
    outcome = store.issue_ticket(
        db,
        user_id,
        ticket_hash=ticket_hash(ticket),
        ttl_seconds=settings.realtime_ticket_seconds,
        max_live=settings.realtime_max_connections_per_user,
    )
    if not outcome.known_user:
        raise RealtimeUnavailable()
    if not outcome.issued:
        logger.warning("realtime ticket refused: too many live connections", extra={"live": outcome.live})
        raise TooManyConnections(retry_after_seconds=settings.realtime_ticket_seconds)
    return IssuedTicket(
        ticket=ticket,
        url=url_with_ticket(websocket_url, ticket),
        expires_in=settings.realtime_ticket_seconds,
    )
