"""Sweeper: on a schedule, re-dispatches lost events, reclaims dead workers' rows, fails exhausted ones."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from tpg.dispatch import get_dispatcher
from tpg.observability import logger, metrics
from tpg.sweeper import sweep


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return sweep(get_dispatcher()).as_dict()
