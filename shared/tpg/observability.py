"""The Powertools singletons and every metric name, in one place.

Logs are JSON with the program id as correlation id; no token, secret or connection string is
ever logged (errors are logged by class, not by message, where a message could carry one).
"""

from __future__ import annotations

import warnings
from enum import StrEnum

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE_NAME = "training-program-generation"
METRICS_NAMESPACE = "TrainingPrograms"

# Most API requests (polls) emit no metric; Powertools would warn about it on every one.
warnings.filterwarnings("ignore", message="No application metrics to publish")

# Powertools reads POWERTOOLS_* environment variables when these are first used, not here.
logger = Logger(service=SERVICE_NAME)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)


class Metric(StrEnum):
    GENERATIONS_REQUESTED = "GenerationsRequested"
    GENERATIONS_STARTED = "GenerationsStarted"
    GENERATIONS_COMPLETED = "GenerationsCompleted"
    GENERATIONS_FAILED = "GenerationsFailed"
    GENERATION_RETRIED = "GenerationAttemptsReleased"
    GENERATION_DURATION = "GenerationDuration"
    REQUEST_TO_DELIVERY = "RequestToDeliveryTime"
    DUPLICATE_EVENTS = "DuplicateEventsIgnored"
    DISPATCH_FAILURES = "DispatchFailures"
    SWEEPER_REDISPATCHED = "SweeperRedispatched"
    SWEEPER_RECLAIMED = "SweeperReclaimed"
    SWEEPER_FAILED = "SweeperFailed"
    FAILED_INVOCATIONS = "GenerateInvocationsFailed"
    # The pipeline: which tier produced the program, what validation rejected, what the LLM cost.
    FALLBACK_TIER_USED = "FallbackTierUsed"  # dimension: Tier
    VALIDATION_FAILURES = "ValidationFailures"  # dimension: Level (basic / enhanced)
    LLM_REQUESTS = "LlmRequests"
    LLM_RETRIES = "LlmRetries"
    LLM_TOKENS = "LlmTokens"  # dimension: Kind (input / output / cache_read / cache_write)
    LLM_LATENCY = "LlmLatency"
    RESULT_CACHE_HITS = "ResultCacheHits"


def count(metric: Metric, value: float = 1, dimensions: dict[str, str] | None = None) -> None:
    _add(metric, MetricUnit.Count, value, dimensions)


def milliseconds(metric: Metric, value: float, dimensions: dict[str, str] | None = None) -> None:
    _add(metric, MetricUnit.Milliseconds, value, dimensions)


def _add(metric: Metric, unit: MetricUnit, value: float, dimensions: dict[str, str] | None) -> None:
    if not dimensions:
        metrics.add_metric(name=metric, unit=unit, value=value)
        return
    # A dimensioned data point is its own EMF document, so it does not split the shared set.
    with single_metric(name=metric, unit=unit, value=value, namespace=METRICS_NAMESPACE) as point:
        point.add_dimension(name="service", value=SERVICE_NAME)
        for name, dimension_value in dimensions.items():
            point.add_dimension(name=name, value=dimension_value)
