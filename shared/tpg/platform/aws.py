"""AWS clients, created on first use with bounded timeouts.

Both callers (the async invoke and the EventBridge put) run on a request or a worker path with a
deadline, and both treat a failure as recoverable (the sweeper re-dispatches; events are best
effort), so a slow AWS API must fail fast rather than hold the function until it times out.
"""

from __future__ import annotations

from typing import Any


def client(service: str) -> Any:
    import boto3  # imported on first use, off the cold-start path
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 2, "mode": "standard"})
    return boto3.client(service, config=config)
