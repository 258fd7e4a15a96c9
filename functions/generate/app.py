"""Generate: invoked asynchronously with {"programId": ...}; claims the row and runs the pipeline."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from tpg.platform.observability import annotate, logger, metrics, trace_handler
from tpg.worker.generation import process_generation_event


@logger.inject_lambda_context
@trace_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    annotate("program_id", str(event.get("programId")))  # X-Ray search: annotation.program_id = "..."
    # Handled outcomes return normally: a raised error would make Lambda redeliver the event,
    # and attempts are already counted and retried through the database.
    return {"outcome": process_generation_event(event, request_id=context.aws_request_id).value}
