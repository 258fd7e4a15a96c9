"""Sweeper: on a schedule, re-dispatches lost events, reclaims dead workers' rows, fails exhausted
ones; also consumes generate's on-failure destination queue (SQS), then sweeps at once."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from tpg.platform.observability import logger, metrics, trace_handler
from tpg.platform.settings import Settings
from tpg.platform.wiring import Lazy
from tpg.worker.sweeper import SweeperDependencies, consume_failed_invocations, sweep, sweep_soon


def compose() -> SweeperDependencies:
    """The composition root: settings, database access, the dispatcher and the event publisher,
    once per environment."""
    return SweeperDependencies.from_settings(Settings.from_environment())


dependencies = Lazy(compose)  # built on the first invocation (never at import)


@logger.inject_lambda_context
@trace_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    deps = dependencies()
    if "Records" in event:
        retry = consume_failed_invocations(deps.db, event["Records"])
        sweep_soon(deps)  # a failed sweep must not send handled records back
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in retry]}
    return sweep(deps).as_dict()
