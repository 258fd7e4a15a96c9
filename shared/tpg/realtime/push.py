"""Pushes: each committed state change of a program, posted to its owner's open WebSocket connections.

Called by whoever committed the change (the generate worker, the sweeper, the API's retry and cancel)
with the state its statement returned (`JobState`: the row as committed, `updated_at` included), never
before the commit. The owner's open connections are looked up (`tpg.store.realtime.open_connections`)
and the message (`tpg.realtime.messages`) posted to each through the API Gateway Management API
(`post_to_connection`). Best effort: a failure is counted and logged, never raised, since the row is
the source of truth and a client reconciles with a GET whenever it (re)connects. Connections
answered 410 (gone) are removed, in one statement.

Bounded in time, because the callers answer users (the trigger has 10 s, and a cancel is committed
before it pushes): the posts of one publish run in parallel on a few threads, each with short
connect/read timeouts and no retry, and the publish returns at its deadline
(REALTIME_PUSH_DEADLINE_SECONDS, 1 s) whatever is still running; what did not finish counts as
failed. A timeout (or the deadline) opens a circuit: the execution environment then skips every post
for `CIRCUIT_OPEN_SECONDS` (longer than a trigger invocation), so a Management API that hangs costs one
deadline, not one per push; a skipped post is counted as a failure (RealtimePushFailures).

The management client is boto3's `apigatewaymanagementapi` on the stack's endpoint
(REALTIME_MANAGEMENT_ENDPOINT), created on first use (`tpg.platform.aws`); the local stack gives its
own object with the same `post_to_connection` (infra/tpg_local/realtime.py).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
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
# (`tpg.store.realtime.remove_gone_connections`), not a closed socket: the row stays.
GONE_GRACE_SECONDS = 10
# A job looks its owner's connections up again at most this often (its final push always does): a
# page opened mid-job gets its next progress push (progress is written at most every 2 s), not one
# 10 s later, and the completion at once.
CONNECTIONS_REFRESH_SECONDS = 1.0
# The whole publish (all its posts) ends within this; Settings.realtime_push_deadline_seconds.
DEADLINE_SECONDS = 1.0
# One post: the Management API answers in tens of milliseconds in-region. No retry: the next state
# change pushes again, and a client checks with a GET.
POST_CONNECT_TIMEOUT_SECONDS = 0.5
POST_READ_TIMEOUT_SECONDS = 1.0
# Posts in parallel per execution environment: a user has at most 10 connections
# (REALTIME_MAX_CONNECTIONS_PER_USER), so one publish is at most three rounds of this.
POST_THREADS = 4
# After a timeout no post is tried for this long (per execution environment): longer than a trigger
# invocation (10 s), short enough that one slow answer costs a running job few updates.
CIRCUIT_OPEN_SECONDS = 15.0


@dataclass(slots=True)
class PushReport:
    programs: int = 0  # states posted to at least one connection
    connections: int = 0  # posts to make
    delivered: int = 0
    gone: list[str] = field(default_factory=list)  # connections answered 410
    failed: int = 0  # answered with an error, timed out, or unfinished at the deadline
    skipped: int = 0  # not tried: the circuit was open


def management_client_factory(endpoint: str) -> Callable[[], Any]:
    def build() -> Any:
        return aws.client(
            "apigatewaymanagementapi",
            endpoint_url=endpoint,
            connect_timeout=POST_CONNECT_TIMEOUT_SECONDS,
            read_timeout=POST_READ_TIMEOUT_SECONDS,
            attempts=1,
            max_pool_connections=POST_THREADS,
        )

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


def _is_timeout(exc: Exception) -> bool:
    """A connect or read timeout: the endpoint hangs, so the next post would too."""
    if isinstance(exc, TimeoutError):  # the local stack's management API
        return True
    try:
        from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError
    except ImportError:  # pragma: no cover - boto3 is in every Lambda runtime and the dev install
        return False
    return isinstance(exc, ConnectTimeoutError | ReadTimeoutError)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What one post came to, decided on its thread, recorded on the caller's."""

    connection_id: str
    kind: str  # delivered | gone | timeout | failed
    error: tuple[str, str | None, int | None] | None = None  # (error_type, error_code, http_status)


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
        deadline_seconds: float = DEADLINE_SECONDS,
        threads: int = POST_THREADS,
        circuit_open_seconds: float = CIRCUIT_OPEN_SECONDS,
    ) -> None:
        self._db = db
        self._client = client
        self._client_factory = client_factory
        self._lock = threading.Lock()
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._circuit_open_until = float("-inf")  # time.monotonic()
        self.clock: Clock = clock or SystemClock()
        self.gone_grace_seconds = gone_grace_seconds
        self.refresh_seconds = refresh_seconds
        self.deadline_seconds = deadline_seconds
        self.circuit_open_seconds = circuit_open_seconds

    @classmethod
    def from_settings(cls, settings: Settings, db: Database) -> ProgramUpdates:
        endpoint = settings.realtime_management_endpoint
        if endpoint is None:
            return cls()
        return cls(
            db,
            client_factory=management_client_factory(endpoint),
            deadline_seconds=settings.realtime_push_deadline_seconds,
        )

    @property
    def enabled(self) -> bool:
        return self._db is not None and (self._client is not None or self._client_factory is not None)

    @property
    def circuit_open(self) -> bool:
        return time.monotonic() < self._circuit_open_until

    def for_job(self) -> JobUpdates:
        """The pushes of one generate job, which looks its owner's connections up once in a while."""
        return JobUpdates(self)

    def publish(self, states: Iterable[JobState | None]) -> PushReport:
        """Post each state to its owner's open connections: one lookup for all the owners, then the
        posts, in parallel, within the deadline. Never raises."""
        report = PushReport()
        changed = [state for state in states if state is not None]
        if not self.enabled or not changed:
            return report
        connections = self.connections_of(list(dict.fromkeys(state.user_id for state in changed)))
        if connections is None:
            report.failed = len(changed)
            return report
        return self._send([(state, connections.get(state.user_id, ())) for state in changed], report)

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
        """Post `state`'s message to each connection (its owner's); gone ones are removed."""
        return self._send([(state, tuple(connection_ids))], report if report is not None else PushReport())

    def _send(self, batches: list[tuple[JobState, Iterable[str]]], report: PushReport) -> PushReport:
        posts: list[tuple[str, bytes]] = []
        for state, connection_ids in batches:
            targets = list(connection_ids)
            if targets:
                report.programs += 1
                data = ProgramUpdated.from_state(state).encode()
                posts += [(connection_id, data) for connection_id in targets]
        if not posts:
            return report
        report.connections += len(posts)
        if self.circuit_open:
            report.skipped += len(posts)
            _count(0, 0, len(posts))
            return report
        deadline = time.monotonic() + self.deadline_seconds
        pool = self._executor()
        futures: list[Future[_Outcome]] = [pool.submit(self._post, c, data) for c, data in posts]
        done, unfinished = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
        for future in unfinished:
            future.cancel()  # not started yet: never starts; running: ends at its own timeouts
        outcomes = [future.result() for future in futures if future in done]
        gone = [o.connection_id for o in outcomes if o.kind == "gone"]
        delivered = sum(1 for o in outcomes if o.kind == "delivered")
        failed = len(posts) - delivered - len(gone)
        report.delivered += delivered
        report.gone += gone
        report.failed += failed
        _log_failures([o for o in outcomes if o.error is not None], len(unfinished))
        if unfinished or any(o.kind == "timeout" for o in outcomes):
            self._open_circuit("the deadline passed" if unfinished else "a post timed out")
        self._remove(gone)
        _count(delivered, len(gone), failed)
        return report

    def _post(self, connection_id: str, data: bytes) -> _Outcome:
        """One post, on a pool thread: never raises, never touches the database or the metrics."""
        try:
            self._management().post_to_connection(ConnectionId=connection_id, Data=data)
        except Exception as exc:  # botocore raises many unrelated types; 410 and timeouts told apart
            if _is_gone(exc):
                return _Outcome(connection_id, "gone")
            code, status = _answer(exc)  # e.g. ForbiddenException 403: the role; codes, never messages
            kind = "timeout" if _is_timeout(exc) else "failed"
            return _Outcome(connection_id, kind, (type(exc).__name__, code, status))
        return _Outcome(connection_id, "delivered")

    def _open_circuit(self, reason: str) -> None:
        self._circuit_open_until = time.monotonic() + self.circuit_open_seconds
        logger.warning(
            "realtime pushes paused", extra={"reason": reason, "seconds": self.circuit_open_seconds}
        )

    def _remove(self, gone: list[str]) -> None:
        if not gone:
            return
        assert self._db is not None
        try:
            store.remove_gone_connections(self._db, gone, grace_seconds=self.gone_grace_seconds)
        except Exception as exc:  # they expire anyway: the sweeper deletes them then
            logger.warning("could not remove gone connections", extra=describe_unexpected(exc))

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="push")
        return self._pool

    def _management(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    assert self._client_factory is not None
                    self._client = self._client_factory()
        return self._client


def _log_failures(failures: list[_Outcome], unfinished: int) -> None:
    """One warning per kind of failure (not one per connection): a sweep may post hundreds."""
    kinds = Counter(o.error for o in failures if o.error is not None)
    for (error_type, code, status), n in kinds.items():
        logger.warning(
            "could not push a program update",
            extra={"error_type": error_type, "error_code": code, "http_status": status, "connections": n},
        )
    if unfinished:
        logger.warning(
            "could not push a program update",
            extra={"error_type": "DeadlinePassed", "connections": unfinished},
        )


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
    at most every `refresh_seconds` (1 s: about once per progress write, which come at most every
    2 s; a burst of stage changes shares one), so a page opened mid-job gets the next push. Its final
    state goes through `ProgramUpdates.publish`, which always looks them up."""

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
