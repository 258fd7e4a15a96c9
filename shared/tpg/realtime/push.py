"""Pushes: each committed state change of a program, posted to its owner's open WebSocket connections.

Called by whoever committed the change (the generate worker, the sweeper, the API's retry and cancel)
with the state its statement returned (`JobState`: the row as committed, `updated_at` included), never
before the commit. The owner's open connections are looked up (`tpg.store.realtime.open_connections`)
and the message (`tpg.realtime.messages`) posted to each through the API Gateway Management API
(`post_to_connection`). Best effort: a failure is counted and logged, never raised, since the row is
the source of truth and a client reconciles with a GET whenever it (re)connects. A connection
answered 410 (gone) is removed.

The management client is boto3's `apigatewaymanagementapi` on the stack's endpoint
(REALTIME_MANAGEMENT_ENDPOINT), created on first use with bounded timeouts (`tpg.platform.aws`); the
local stack gives its own object with the same `post_to_connection` (infra/tpg_local/realtime.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from tpg.platform import aws
from tpg.platform.clock import Clock, SystemClock
from tpg.platform.observability import Metric, count, describe_unexpected, logger
from tpg.platform.settings import Settings
from tpg.realtime.messages import ProgramUpdated
from tpg.store import realtime as store
from tpg.store.db import Database
from tpg.store.rows import JobState

# A 410 within this long after $connect is the management API not knowing the connection yet
# (`tpg.store.realtime.remove_gone_connection`), not a closed socket: the row stays.
GONE_GRACE_SECONDS = 10
# A job looks its owner's connections up again at most this often (its final push always does): a
# page opened mid-job gets progress within this long, and the completion at once.
CONNECTIONS_REFRESH_SECONDS = 10.0


@dataclass(slots=True)
class PushReport:
    programs: int = 0  # states posted to at least one connection
    connections: int = 0  # posts attempted
    delivered: int = 0
    gone: list[str] = field(default_factory=list)  # connections answered 410
    failed: int = 0


def management_client_factory(endpoint: str) -> Callable[[], Any]:
    def build() -> Any:
        return aws.client("apigatewaymanagementapi", endpoint_url=endpoint)

    return build


def _answer(exc: Exception) -> tuple[str | None, int | None]:
    """The error code and HTTP status of a botocore ClientError (None, None for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None, None
    return response.get("Error", {}).get("Code"), response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _is_gone(exc: Exception) -> bool:
    """The management API's 410: botocore raises it as a ClientError (`GoneException`)."""
    code, status = _answer(exc)
    return code == "GoneException" or status == 410


class ProgramUpdates:
    """Posts committed program states to their owners' connections. Without a database and a
    management client (realtime not configured) every push is a no-op."""

    def __init__(
        self,
        db: Database | None = None,
        *,
        client: Any = None,
        client_factory: Callable[[], Any] | None = None,
        clock: Clock | None = None,
        gone_grace_seconds: int = GONE_GRACE_SECONDS,
        refresh_seconds: float = CONNECTIONS_REFRESH_SECONDS,
    ) -> None:
        self._db = db
        self._client = client
        self._client_factory = client_factory
        self._lock = threading.Lock()
        self.clock: Clock = clock or SystemClock()
        self.gone_grace_seconds = gone_grace_seconds
        self.refresh_seconds = refresh_seconds

    @classmethod
    def from_settings(cls, settings: Settings, db: Database) -> ProgramUpdates:
        endpoint = settings.realtime_management_endpoint
        if endpoint is None:
            return cls()
        return cls(db, client_factory=management_client_factory(endpoint))

    @property
    def enabled(self) -> bool:
        return self._db is not None and (self._client is not None or self._client_factory is not None)

    def for_job(self) -> JobUpdates:
        """The pushes of one generate job, which looks its owner's connections up once in a while."""
        return JobUpdates(self)

    def publish(self, states: Iterable[JobState | None]) -> PushReport:
        """Post each state to its owner's open connections: one lookup for all the owners, then one
        post per connection. Never raises."""
        report = PushReport()
        changed = [state for state in states if state is not None]
        if not self.enabled or not changed:
            return report
        connections = self.connections_of(list(dict.fromkeys(state.user_id for state in changed)))
        if connections is None:
            report.failed = len(changed)
            return report
        for state in changed:
            self.deliver(state, connections.get(state.user_id, ()), report)
        return report

    def connections_of(self, user_ids: list[UUID]) -> dict[UUID, tuple[str, ...]] | None:
        """The users' open connections; None when they could not be read (counted as failures)."""
        assert self._db is not None
        try:
            return store.open_connections(self._db, user_ids)
        except Exception as exc:  # the database: the client's next GET reconciles
            logger.warning("could not look up realtime connections", extra=describe_unexpected(exc))
            count(Metric.REALTIME_PUSH_FAILURES, len(user_ids))
            return None

    def deliver(
        self, state: JobState, connection_ids: Iterable[str], report: PushReport | None = None
    ) -> PushReport:
        """Post `state`'s message to each connection (its owner's); a gone one is removed."""
        report = report if report is not None else PushReport()
        targets = list(connection_ids)
        if not targets:
            return report
        report.programs += 1
        data = ProgramUpdated.from_state(state).encode()
        delivered, gone, failed = report.delivered, len(report.gone), report.failed
        for connection_id in targets:
            report.connections += 1
            self._post(connection_id, data, report)
        _count(report.delivered - delivered, len(report.gone) - gone, report.failed - failed)
        return report

    def _post(self, connection_id: str, data: bytes, report: PushReport) -> None:
        try:
            self._management().post_to_connection(ConnectionId=connection_id, Data=data)
        except Exception as exc:  # botocore raises many unrelated types; only a 410 is told apart
            if _is_gone(exc):
                report.gone.append(connection_id)
                self._remove(connection_id)
                return
            report.failed += 1
            code, status = _answer(exc)  # e.g. ForbiddenException 403: the role; codes only, never messages
            logger.warning(
                "could not push a program update",
                extra={**describe_unexpected(exc), "error_code": code, "http_status": status},
            )
            return
        report.delivered += 1

    def _remove(self, connection_id: str) -> None:
        assert self._db is not None
        try:
            store.remove_gone_connection(self._db, connection_id, grace_seconds=self.gone_grace_seconds)
        except Exception as exc:  # it expires anyway: the sweeper deletes it then
            logger.warning("could not remove a gone connection", extra=describe_unexpected(exc))

    def _management(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    assert self._client_factory is not None
                    self._client = self._client_factory()
        return self._client


def _count(delivered: int, gone: int, failed: int) -> None:
    if delivered:
        count(Metric.REALTIME_PUSHES, delivered)
    if gone:
        count(Metric.REALTIME_GONE_CONNECTIONS, gone)
    if failed:
        count(Metric.REALTIME_PUSH_FAILURES, failed)


@dataclass(slots=True)
class JobUpdates:
    """A running job's pushes (its claim and progress). The state each push sends is the one its
    transition returned (no read); the owner's connections are looked up at the first push and again
    at most every `refresh_seconds`, so a page opened mid-job gets progress within that, and a job
    costs a few lookups, not one per push. Its final state goes through `ProgramUpdates.publish`,
    which always looks them up."""

    updates: ProgramUpdates
    _connections: tuple[str, ...] = ()
    _looked_up_at: float = field(default=float("-inf"), repr=False)

    def publish(self, state: JobState | None) -> PushReport:
        if state is None or not self.updates.enabled:
            return PushReport()
        now = self.updates.clock.monotonic()
        if now - self._looked_up_at >= self.updates.refresh_seconds:
            found = self.updates.connections_of([state.user_id])
            if found is None:
                return PushReport(failed=1)
            self._connections, self._looked_up_at = found.get(state.user_id, ()), now
        report = self.updates.deliver(state, self._connections)
        if report.gone:
            self._connections = tuple(c for c in self._connections if c not in report.gone)
        return report
