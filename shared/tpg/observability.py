"""The Powertools singletons and every metric name, in one place.

Logs are JSON with the program id as correlation id; no token, secret or connection string is
ever logged (errors are logged by class, not by message, where a message could carry one).
"""

from __future__ import annotations

from enum import StrEnum

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

SERVICE_NAME = "training-program-generation"
METRICS_NAMESPACE = "TrainingPrograms"

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


def count(metric: Metric, value: float = 1) -> None:
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=value)


def milliseconds(metric: Metric, value: float) -> None:
    metrics.add_metric(name=metric, unit=MetricUnit.Milliseconds, value=value)
