"""The context object the Lambda runtime passes to a handler, for the local stack, and the log keys
of one invocation on a thread."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tpg.platform.observability import logger


@dataclass
class LocalLambdaContext:
    function_name: str
    timeout_seconds: int = 900
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# ------------------------------------------------------------------------------------ log keys

_started: set[str] = set()
_started_lock = threading.Lock()


def _cold_start(function_name: str) -> bool:
    """True for the first invocation of `function_name` in this process (its cold start)."""
    with _started_lock:
        if function_name in _started:
            return False
        _started.add(function_name)
        return True


@contextmanager
def invocation_log_keys(
    function_name: str, *, context: LocalLambdaContext | None = None, correlation_id: str | None = None
) -> Iterator[None]:
    """This thread's log keys while it runs one invocation (or one local request).

    Powertools' `inject_lambda_context` and `set_correlation_id` write the logger's keys, which are
    shared by every thread: right in Lambda (one invocation per environment at a time), wrong in the
    local stack, which runs the handlers on threads. Thread-local keys (`thread_safe_append_keys`,
    a ContextVar per thread) win over the shared ones when a line is formatted, so every line a
    thread logs here carries its own function, request id and correlation id. None hides a shared
    key that does not apply (a local route has no Lambda request id)."""
    keys: dict[str, object] = {
        "function_name": function_name,
        "function_memory_size": context.memory_limit_in_mb if context else None,
        "function_arn": context.invoked_function_arn if context else None,
        "function_request_id": context.aws_request_id if context else None,
        "cold_start": _cold_start(function_name) if context else None,
        "correlation_id": correlation_id,
    }
    logger.thread_safe_append_keys(**keys)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(list(keys))
