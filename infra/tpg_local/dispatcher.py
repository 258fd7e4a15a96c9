"""The local stand-in for `InvocationType="Event"`: runs the generate handler on a bounded pool
with the event the Lambda service would deliver (the JSON payload, decoded) and a fresh context."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from uuid import UUID

from tpg.platform.errors import DispatchError
from tpg.platform.observability import logger
from tpg.worker.dispatch import generation_event
from tpg_local.lambda_context import LocalLambdaContext

Handler = Callable[[dict[str, Any], Any], Any]


class LocalDispatcher:
    def __init__(self, handler: Handler, *, max_workers: int = 4, function_name: str = "generate") -> None:
        self._handler = handler
        self._function_name = function_name
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=function_name)
        self._lock = threading.Lock()
        self._in_flight: set[Future[Any]] = set()
        self._closed = False
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
        try:
            return self._handler(json.loads(payload), LocalLambdaContext(self._function_name))
        except Exception as exc:  # Lambda records a function error; so do we, by type only
            logger.error("generate invocation raised", extra={"error_type": type(exc).__name__})
            return None

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

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=wait)
