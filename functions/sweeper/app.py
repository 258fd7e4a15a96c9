"""Sweeper: on a schedule, re-dispatches lost events, reclaims dead workers' rows, fails exhausted
ones; also consumes generate's on-failure destination queue (SQS), then sweeps at once."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from tpg.platform.observability import logger, metrics, trace_handler
from tpg.worker.dispatch import get_dispatcher
from tpg.worker.sweeper import consume_failed_invocations, sweep, sweep_soon


@logger.inject_lambda_context
@trace_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if "Records" in event:
        retry = consume_failed_invocations(event["Records"])
        sweep_soon(get_dispatcher())  # a failed sweep must not send handled records back
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in retry]}
    return sweep(get_dispatcher()).as_dict()
