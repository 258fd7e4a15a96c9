"""Generate: invoked asynchronously with {"programId": ...}; claims the row and runs the pipeline."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from tpg.platform.observability import annotate, logger, metrics, trace_handler
from tpg.platform.settings import Settings
from tpg.platform.wiring import Lazy
from tpg.worker.generation import GenerateDependencies, process_generation_event


def compose() -> GenerateDependencies:
    """The composition root: settings, database access, the event publisher and the clock, once
    per environment (the LLM tiers are built per job, from these settings)."""
    return GenerateDependencies.from_settings(Settings.from_environment())


dependencies = Lazy(compose)  # built on the first invocation (never at import)


@logger.inject_lambda_context
@trace_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    # the event's row; the worker annotates `program_id` with the row it claims (maybe another)
    annotate("event_program_id", str(event.get("programId")))
    # Handled outcomes return normally: a raised error would make Lambda redeliver the event,
    # and attempts are already counted and retried through the database.
    outcome = process_generation_event(event, dependencies(), request_id=context.aws_request_id)
    return {"outcome": outcome.value}
