"""Realtime: API Gateway WebSocket API -> $connect (ticket -> connection), $disconnect, $default (ping)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from tpg.platform.observability import logger, metrics
from tpg.platform.settings import Settings
from tpg.platform.wiring import Lazy
from tpg.realtime.handler import RealtimeDependencies, handle_websocket_event


def compose() -> RealtimeDependencies:
    """The composition root: settings and database access, once per environment."""
    return RealtimeDependencies.from_settings(Settings.from_environment())


dependencies = Lazy(compose)  # built on the first invocation (never at import)


# The event is never logged ($connect's query string holds the ticket): False here, not the default,
# which POWERTOOLS_LOGGER_LOG_EVENT=true would turn on.
@logger.inject_lambda_context(correlation_id_path="requestContext.connectionId", log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return handle_websocket_event(event, dependencies())
