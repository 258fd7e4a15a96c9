"""AWS clients, created on first use with bounded timeouts and retries.

Every caller (the async invoke, the EventBridge put, the Secrets Manager read) runs on a request
or a worker path with a deadline, and treats a failure as recoverable (the sweeper re-dispatches;
events are best effort; a secret that cannot be read is a 503 the client retries), so a slow AWS
API must fail fast rather than hold the function until it times out. The trigger's timeout is
10 s: one call here takes at most `ATTEMPTS x (CONNECT + READ)` plus one back-off (under 1 s).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

# In-region AWS APIs answer in tens of milliseconds: 1 s to connect and 2 s to answer, twice, is
# ~7 s at worst (a Secrets Manager read on a cold start included), so the trigger still answers
# (a 503, or the dispatch left to the sweeper) within its 10 s timeout.
CONNECT_TIMEOUT_SECONDS = 1
READ_TIMEOUT_SECONDS = 2
# botocore's `total_max_attempts` counts the first attempt (its `max_attempts` counts retries only).
ATTEMPTS = 2


def client(
    service: str,
    *,
    endpoint_url: str | None = None,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    read_timeout: float = READ_TIMEOUT_SECONDS,
    attempts: int = ATTEMPTS,
    max_pool_connections: int = 10,
) -> Any:
    """A boto3 client for `service`; `endpoint_url` for APIs without a regional default (the API
    Gateway Management API is addressed at each WebSocket API's own endpoint). Callers with a
    tighter deadline (the realtime pushes) pass shorter bounds."""
    import boto3  # imported on first use, off the cold-start path
    from botocore.config import Config

    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": attempts, "mode": "standard"},
        max_pool_connections=max_pool_connections,
    )
    return boto3.client(service, config=config, endpoint_url=endpoint_url)


@lru_cache(maxsize=1)
def secrets_provider() -> Any:
    """Powertools' Secrets Manager provider (its cache included) on a bounded client; Powertools'
    default client has botocore's 60 s timeouts and legacy retries (5 attempts)."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=client("secretsmanager"))
