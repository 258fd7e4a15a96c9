"""The async hand-off from the trigger (and the sweeper) to the generate function.

In AWS: a Lambda `invoke` with `InvocationType="Event"`. Locally: the local stack gives the
handlers a dispatcher that runs the same generate handler on a thread pool (`tpg_local.dispatcher`).
The trigger's and the sweeper's composition roots build theirs with `dispatcher_for(settings)`
(`DISPATCH_MODE` chooses) and pass it down.
"""

from __future__ import annotations

import json
from typing import Any, Protocol
from uuid import UUID

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from tpg.platform import aws
from tpg.platform.errors import DispatchError
from tpg.platform.settings import Settings


class Dispatcher(Protocol):
    def dispatch(self, program_id: UUID, *, reason: str) -> None:
        """Hand the program to the generate function; raise `DispatchError` if that failed."""


class GenerationEvent(BaseModel):
    """The event the generate function receives: the program to work on (other keys are ignored)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    program_id: UUID


def generation_event(program_id: UUID, *, reason: str) -> dict[str, Any]:
    """The event `GenerationEvent` parses, as the dispatcher sends it."""
    return {"programId": str(program_id), "reason": reason}


class LambdaDispatcher:
    def __init__(self, function_name: str, client: Any = None) -> None:
        self._function_name = function_name
        self._client = client

    def _lambda_client(self) -> Any:
        if self._client is None:
            # bounded timeouts: a slow Lambda API ends as a failed dispatch (the row is committed
            # and the sweeper re-dispatches), well inside the trigger's own timeout
            self._client = aws.client("lambda")
        return self._client

    def dispatch(self, program_id: UUID, *, reason: str) -> None:
        try:
            response = self._lambda_client().invoke(
                FunctionName=self._function_name,
                InvocationType="Event",
                Payload=json.dumps(generation_event(program_id, reason=reason)).encode(),
            )
        except Exception as exc:  # botocore raises many unrelated types; all mean "not handed off"
            raise DispatchError(type(exc).__name__) from exc
        if response.get("StatusCode") != 202:
            raise DispatchError(f"unexpected status {response.get('StatusCode')}")


class UnavailableDispatcher:
    """What a handler gets when the settings name no dispatcher: every hand-off fails. The routes
    and the sweep check for it first (`ensure_available`), so nothing is written that could not be
    handed off, as when the dispatcher could not be built."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def dispatch(self, program_id: UUID, *, reason: str) -> None:
        raise DispatchError(self.reason)


def dispatcher_for(settings: Settings) -> Dispatcher:
    """The dispatcher `DISPATCH_MODE` names: Lambda's async invoke of GENERATE_FUNCTION_NAME; in
    `local` mode the local stack (tpg serve) provides its own, so none is built here."""
    if settings.dispatch_mode == "lambda":
        if not settings.generate_function_name:
            return UnavailableDispatcher("GENERATE_FUNCTION_NAME is not configured")
        return LambdaDispatcher(settings.generate_function_name)
    return UnavailableDispatcher(
        "DISPATCH_MODE=local needs the local stack (tpg serve) to provide a dispatcher"
    )


def ensure_available(dispatcher: Dispatcher) -> Dispatcher:
    """`dispatcher`, or the `DispatchError` saying why there is none."""
    if isinstance(dispatcher, UnavailableDispatcher):
        raise DispatchError(dispatcher.reason)
    return dispatcher
