"""The local stand-in for `InvocationType="Event"`: runs the generate handler on a bounded pool
with the event the Lambda service would deliver (the JSON payload, decoded) and a fresh context.

Each invocation logs with its own function name, request id and correlation id (the program id),
although the invocations share one process (`invocation_log_keys`). `stop(grace)` is the graceful
end: no new invocations, the queued ones cancelled (their rows stay pending: the sweeper
re-dispatches them), the running ones given `grace` seconds; those still running are returned, so
their rows can be released."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from tpg.platform.errors import DispatchError
from tpg.platform.observability import logger
from tpg.worker.dispatch import generation_event
from tpg_local.lambda_context import LocalLambdaContext, invocation_log_keys

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True, slots=True)
class RunningInvocation:
    """A generate invocation still running: the program it was given and its request id (the
    `worker` its claim recorded)."""

    program_id: UUID | None
    request_id: str


class LocalDispatcher:
    def __init__(self, handler: Handler, *, max_workers: int = 4, function_name: str = "generate") -> None:
        self._handler = handler
        self._function_name = function_name
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=function_name)
        self._lock = threading.Lock()
        self._in_flight: set[Future[Any]] = set()
        self._running: dict[str, RunningInvocation] = {}
        self._closed = False
        self._abandoned = False  # stop() has returned what was running: start nothing more
        self.invocations = 0

    def dispatch(self, program_id: UUID, *, reason: str) -> None:
        payload = json.dumps(generation_event(program_id, reason=reason))
        with self._lock:
            if self._closed:
                raise DispatchError("local dispatcher is shut down")
            future = self._pool.submit(self._invoke, payload)
            self._in_flight.add(future)
            self.invocations += 1
        future.add_done_callback(self._forget)

    def _invoke(self, payload: str) -> Any:
        event = json.loads(payload)
        context = LocalLambdaContext(self._function_name)
        program_id = _program_id(event)
        with self._lock:
            if self._abandoned:
                return None  # picked up after stop() gave up on this pool: the row stays pending
            self._running[context.aws_request_id] = RunningInvocation(program_id, context.aws_request_id)
        correlation_id = str(program_id) if program_id else None
        try:
            with invocation_log_keys(self._function_name, context=context, correlation_id=correlation_id):
                try:
                    return self._handler(event, context)
                except Exception as exc:  # Lambda records a function error; so do we, by type only
                    logger.error("generate invocation raised", extra={"error_type": type(exc).__name__})
                    return None
        finally:
            with self._lock:
                self._running.pop(context.aws_request_id, None)

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._in_flight.discard(future)

    def drain(self, timeout: float | None = 30) -> None:
        """Wait until every dispatched invocation has finished (tests, shutdown)."""
        while True:
            with self._lock:
                pending = list(self._in_flight)
            if not pending:
                return
            for future in pending:
                future.result(timeout=timeout)

    def running(self) -> list[RunningInvocation]:
        with self._lock:
            return list(self._running.values())

    def stop(self, grace_seconds: float, *, hurry: threading.Event | None = None) -> list[RunningInvocation]:
        """Take no new invocations, cancel the queued ones, give the running ones `grace_seconds`
        (less if `hurry` is set); return those still running then. Their threads are not stopped
        (Python cannot): whatever they write later is fenced by the attempt they claimed."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + max(0.0, grace_seconds)
        while time.monotonic() < deadline and not (hurry is not None and hurry.is_set()):
            with self._lock:
                if not self._in_flight:
                    return []
            time.sleep(0.05)
        with self._lock:
            self._abandoned = True
            return list(self._running.values())

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=wait)


def _program_id(event: dict[str, Any]) -> UUID | None:
    try:
        return UUID(str(event.get("programId")))
    except ValueError:
        return None
