"""The Powertools singletons and every metric name, in one place.

Logs are JSON with the program id as correlation id; no token, secret or connection string is
ever logged (errors are logged by class, not by message, where a message could carry one).

Tracing: every function has X-Ray active tracing (template.yaml), which records the Lambda
service's segments and propagates the trace through the async invoke (botocore sends the
`_X_AMZN_TRACE_ID` header). The Powertools Tracer adds subsegments and annotations on top; it
imports the X-Ray SDK (~0.5-1 s), so it is only on the generate and sweeper handlers, never on
the trigger's cold-start path, and only when the `aws-xray-sdk` package is installed.
"""

from __future__ import annotations

import functools
import traceback
import warnings
from collections.abc import Callable
from enum import StrEnum
from functools import lru_cache
from numbers import Number
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

SERVICE_NAME = "training-program-generation"
METRICS_NAMESPACE = "TrainingPrograms"

# Most API requests (polls) emit no metric; Powertools would warn about it on every one.
warnings.filterwarnings("ignore", message="No application metrics to publish")

# Powertools reads POWERTOOLS_* environment variables when these are first used, not here.
logger = Logger(service=SERVICE_NAME)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)


class Metric(StrEnum):
    """Every metric name. The dashboard and alarms in template.yaml name only these, and every
    one of these is on the dashboard (tests/unit/test_metrics_contract.py)."""

    GENERATIONS_REQUESTED = "GenerationsRequested"
    GENERATIONS_STARTED = "GenerationsStarted"
    GENERATIONS_COMPLETED = "GenerationsCompleted"
    GENERATIONS_FAILED = "GenerationsFailed"  # dimension: ErrorCode
    GENERATION_RETRIED = "GenerationAttemptsReleased"
    GENERATION_DURATION = "GenerationDuration"
    REQUEST_TO_DELIVERY = "RequestToDeliveryTime"
    DUPLICATE_EVENTS = "DuplicateEventsIgnored"
    DISPATCH_FAILURES = "DispatchFailures"
    SWEEPER_REDISPATCHED = "SweeperRedispatched"
    SWEEPER_RECLAIMED = "SweeperReclaimed"
    SWEEPER_FAILED = "SweeperFailed"
    # In-flight rows with no state change for 2x the lease: the reconciler is not keeping up.
    # Emitted by every sweep (0 included), so a missing value means the sweeper is not running.
    STUCK_GENERATIONS = "StuckGenerations"
    FAILED_INVOCATIONS = "GenerateInvocationsFailed"
    # Completion/failure events for EventBridge that could not be put (tpg.events).
    EVENTS_NOT_PUBLISHED = "EventsNotPublished"
    # The pipeline: which tier produced the program, what validation rejected, what the LLM cost.
    FALLBACK_TIER_USED = "FallbackTierUsed"  # dimension: Tier
    VALIDATION_FAILURES = "ValidationFailures"  # dimension: Level (basic / enhanced)
    LLM_REQUESTS = "LlmRequests"
    LLM_RETRIES = "LlmRetries"
    # LLM HTTP requests answered 429 or 5xx (529 overloaded included), or a stream's error event of
    # those kinds: the numerator of the LLM error-rate alarm (over LLM_REQUESTS).
    LLM_ERROR_RESPONSES = "LlmErrorResponses"  # dimension: Kind (rate_limited / server_error)
    LLM_TOKENS = "LlmTokens"  # dimension: Kind (input / output / cache_read / cache_write / thinking)
    LLM_LATENCY = "LlmLatency"
    # What each complete LLM answer cost at the configured list prices (LLM_PRICES), in micro-USD.
    LLM_COST = "LlmCostMicroUsd"
    RESULT_CACHE_HITS = "ResultCacheHits"
    # Job control (docs/architecture.md, "Queue order, waiting and cancellation"): queued -> claimed
    # per priority; the sweeper's backlog gauges (emitted every sweep); cancellations and the time
    # from the cancel request to the worker's stop.
    QUEUE_WAIT = "GenerationQueueWait"  # dimension: Priority
    GENERATIONS_WAITING = "GenerationsWaiting"
    OLDEST_WAIT = "OldestWaitingGeneration"  # seconds since the longest-waiting row was queued
    GENERATIONS_CANCELLED = "GenerationsCancelled"  # dimension: When (queued / running / abandoned)
    CANCELLATION_LATENCY = "CancellationLatency"
    # Realtime (tpg.realtime): WebSocket connections accepted and refused at $connect, those open (a
    # gauge, every sweep), program updates delivered, connections found gone (410) and removed, and
    # posts that failed otherwise (best effort: a client's GET after it reconnects covers them).
    REALTIME_CONNECTIONS_OPENED = "RealtimeConnectionsOpened"
    REALTIME_CONNECTIONS_REFUSED = "RealtimeConnectionsRefused"
    REALTIME_OPEN_CONNECTIONS = "RealtimeOpenConnections"
    REALTIME_PUSHES = "RealtimePushes"
    REALTIME_GONE_CONNECTIONS = "RealtimeGoneConnections"
    REALTIME_PUSH_FAILURES = "RealtimePushFailures"
    # Batches (tpg.worker.batches): members accepted, requests sent to the Message Batches API, each
    # result as the batch step judged it (valid, invalid, errored, expired, canceled,
    # missing), and the members waiting on their Message Batch (a gauge, every sweep).
    BATCH_MEMBERS_ACCEPTED = "BatchMembersAccepted"
    BATCH_REQUESTS_SUBMITTED = "BatchRequestsSubmitted"
    BATCH_RESULTS = "BatchResults"  # dimension: Result
    BATCH_MEMBERS_WAITING = "BatchMembersWaiting"
    BATCH_OLDEST_WAIT = "BatchOldestWaitSeconds"  # the oldest member still batched (B1's bound)
    # The part of LlmTokens / LlmCostMicroUsd that Message Batches answered (at the batch price)
    BATCH_LLM_TOKENS = "BatchLlmTokens"  # dimension: Kind, as LlmTokens
    BATCH_LLM_COST = "BatchLlmCostMicroUsd"


def count(metric: Metric, value: float = 1, dimensions: dict[str, str] | None = None) -> None:
    _add(metric, MetricUnit.Count, value, dimensions)


def milliseconds(metric: Metric, value: float, dimensions: dict[str, str] | None = None) -> None:
    _add(metric, MetricUnit.Milliseconds, value, dimensions)


def _add(metric: Metric, unit: MetricUnit, value: float, dimensions: dict[str, str] | None) -> None:
    # Disabled (local runs), Powertools neither prints nor clears the set, yet prints it anyway
    # once it holds 100 values: a long-running local stack would grow and then spill EMF.
    if is_metrics_disabled():
        return
    if not dimensions:
        metrics.add_metric(name=metric, unit=unit, value=value)
        return
    # A dimensioned data point is its own EMF document, so it does not split the shared set. It
    # carries two dimension sets, [service] and [service, *dimensions]: CloudWatch then keeps the
    # total (what alarms and rates use) and the breakdown (what the dashboard shows) from one
    # data point, since a CloudWatch alarm cannot sum across a dimension's values.
    point = AmazonCloudWatchEMFProvider(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)
    point.add_metric(name=metric, unit=unit, value=value)
    point.add_dimensions(service=SERVICE_NAME, **dimensions)
    point.flush_metrics()


def set_correlation_id(value: str) -> None:
    """The correlation id of the lines that follow: the logger's shared key (one invocation per
    Lambda environment) and, where the local stack gave this thread keys of its own
    (`tpg_local.lambda_context.invocation_log_keys`), this thread's, which win over the shared one."""
    logger.set_correlation_id(value)
    if "correlation_id" in logger.thread_safe_get_current_keys():
        logger.thread_safe_append_keys(correlation_id=value)


def describe_unexpected(exc: BaseException) -> dict[str, str]:
    """Log fields for an unexpected error: its type and where it was raised, never its message
    (driver messages can contain SQL or connection details)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "unknown"
    return {"error_type": type(exc).__name__, "where": where}


# ------------------------------------------------------------------------------------ tracing

_Handler = TypeVar("_Handler", bound=Callable[..., Any])


@lru_cache(maxsize=1)
def get_tracer() -> Tracer | None:
    """The Powertools Tracer, created on first use; None when aws-xray-sdk is not installed
    (then the function still has the Lambda service's segments from active tracing)."""
    try:
        import aws_xray_sdk  # noqa: F401  (the Tracer needs it; it is imported only here)
    except ModuleNotFoundError:
        logger.debug("aws-xray-sdk is not installed: no Powertools Tracer subsegments")
        return None
    from aws_lambda_powertools import Tracer

    # Patches botocore (Lambda, Secrets Manager, EventBridge calls). The Anthropic SDK 2.x speaks
    # through httpx2, which the X-Ray SDK does not patch: LLM calls show in the pipeline's own
    # metrics (LlmRequests, LlmLatency), not as subsegments.
    return Tracer(service=SERVICE_NAME, patch_modules=["botocore"])


def trace_handler(handler: _Handler) -> _Handler:
    """`Tracer.capture_lambda_handler` when the Tracer is available, else the handler itself.
    Responses and exceptions are not recorded as trace metadata (they may carry user data).

    Resolved on the first invocation, not at import: creating the Tracer imports the X-Ray SDK,
    patches botocore and creates clients, which must not happen while the module loads."""
    traced: Callable[..., Any] | None = None

    @functools.wraps(handler)
    def invoke(event: Any, context: Any) -> Any:
        nonlocal traced
        if traced is None:
            tracer = get_tracer()
            traced = (
                handler
                if tracer is None
                else tracer.capture_lambda_handler(handler, capture_response=False, capture_error=False)
            )
        return traced(event, context)

    return invoke  # type: ignore[return-value]


def annotate(key: str, value: str | Number | bool) -> None:
    """Add a searchable X-Ray annotation (e.g. program_id) to the current trace, if tracing."""
    tracer = get_tracer()
    if tracer is not None:
        tracer.put_annotation(key=key, value=value)
