"""Completion and failure events on EventBridge, for what is built on top (notifications).

The generate function puts `Program generation completed` / `Program generation failed` /
`Program generation cancelled` on the bus named by EVENT_BUS_NAME (`Settings.event_bus_name`; the
account's default bus in template.yaml) after the final status is stored; the API does for a
pending program it cancels, the sweeper for the rows it fails or cancels. Publishing is
best effort: the row is the source of truth, a put that fails is logged and counted
(EventsNotPublished) and never fails the generation. Each final transition happens once (the
writes are fenced), so each program gets at most one event. Locally (no EVENT_BUS_NAME) nothing is sent.

Event: source `tpg.generation`, detail `{"programId", "status", "errorCode"}` (errorCode null on
completion and for rows the sweeper failed, `CANCELLED` on a cancellation; the row,
`GET /programs/{id}`, has the details).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any, Literal
from uuid import UUID

from tpg.platform import aws
from tpg.platform.observability import Metric, count, logger
from tpg.platform.settings import Settings

SOURCE = "tpg.generation"
DETAIL_TYPES = {
    "completed": "Program generation completed",
    "failed": "Program generation failed",
    "cancelled": "Program generation cancelled",
}
_MAX_ENTRIES_PER_PUT = 10  # the PutEvents limit

FinalStatus = Literal["completed", "failed", "cancelled"]


def build_entry(program_id: UUID, status: FinalStatus, error_code: str | None, bus: str) -> dict[str, Any]:
    return {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPES[status],
        "Detail": json.dumps({"programId": str(program_id), "status": status, "errorCode": error_code}),
        "EventBusName": bus,
    }


def _events_client() -> Any:
    return aws.client("events")


class EventPublisher:
    """Puts the events on `bus` (None: publishes nothing). The EventBridge client is created on
    first use (after a SnapStart restore, never at import) and reused while the environment is warm;
    `client` gives one (tests)."""

    def __init__(
        self, bus: str | None, *, client: Any = None, client_factory: Callable[[], Any] = _events_client
    ) -> None:
        self.bus = bus
        self._client = client
        self._client_factory = client_factory
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> EventPublisher:
        return cls(settings.event_bus_name)

    def generation_finished(
        self, program_id: UUID, status: FinalStatus, *, error_code: str | None = None
    ) -> int:
        """Announce one program's final status. Returns how many events were put (0 or 1)."""
        return self.publish_many([(program_id, status, error_code)])

    def generations_failed(self, program_ids: Iterable[UUID]) -> int:
        """Announce rows the sweeper failed (attempts or dispatches exhausted, worker lost)."""
        return self.publish_many([(program_id, "failed", None) for program_id in program_ids])

    def generations_cancelled(self, program_ids: Iterable[UUID]) -> int:
        """Announce rows the sweeper recorded cancelled (their worker never reached a checkpoint)."""
        return self.publish_many([(program_id, "cancelled", "CANCELLED") for program_id in program_ids])

    def publish_many(self, items: list[tuple[UUID, FinalStatus, str | None]]) -> int:
        bus = self.bus
        if bus is None or not items:
            return 0
        entries = [build_entry(program_id, status, code, bus) for program_id, status, code in items]
        put = 0
        for start in range(0, len(entries), _MAX_ENTRIES_PER_PUT):
            chunk = entries[start : start + _MAX_ENTRIES_PER_PUT]
            try:
                response = self._events().put_events(Entries=chunk)
                failed = int(response.get("FailedEntryCount", 0))
            except Exception as exc:  # botocore raises many unrelated types; all mean "not put"
                logger.warning("could not put generation events", extra={"error_type": type(exc).__name__})
                failed = len(chunk)
            if failed:
                count(Metric.EVENTS_NOT_PUBLISHED, failed)
            put += len(chunk) - failed
        return put

    def _events(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._client_factory()
        return self._client
