"""Trigger: API Gateway HTTP API -> verify, check, insert pending, dispatch, 202."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from tpg.api.routes import handle
from tpg.api.service import ApiDependencies
from tpg.platform.observability import logger, metrics
from tpg.platform.settings import Settings
from tpg.platform.wiring import Lazy


def compose() -> ApiDependencies:
    """The composition root: settings, database access and the dispatcher, once per environment."""
    return ApiDependencies.from_settings(Settings.from_environment())


dependencies = Lazy(compose)  # built on the first invocation (never at import: SnapStart)


# The event is never logged (its Authorization header holds the bearer token): False here, not the
# default, which POWERTOOLS_LOGGER_LOG_EVENT=true would turn on.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle(event, context, dependencies())
