"""The async hand-off from the trigger (and the sweeper) to the generate function.

In AWS: a Lambda `invoke` with `InvocationType="Event"`. Locally: the local stack installs a
dispatcher that runs the same generate handler on a thread pool (`tpg_local.dispatcher`).
`DISPATCH_MODE` chooses; callers receive the dispatcher as a parameter with this default.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Protocol
from uuid import UUID

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from tpg.platform import aws
from tpg.platform.errors import DispatchError
from tpg.platform.settings import get_settings


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


_installed: Dispatcher | None = None


def install_dispatcher(dispatcher: Dispatcher | None) -> None:
    """Used by the local stack (and tests) to provide the `local` dispatcher."""
    global _installed
    _installed = dispatcher
    _lambda_dispatcher.cache_clear()


@lru_cache(maxsize=1)
def _lambda_dispatcher(function_name: str) -> LambdaDispatcher:
    return LambdaDispatcher(function_name)


def get_dispatcher() -> Dispatcher:
    if _installed is not None:
        return _installed
    settings = get_settings()
    if settings.dispatch_mode == "lambda":
        if not settings.generate_function_name:
            raise DispatchError("GENERATE_FUNCTION_NAME is not configured")
        return _lambda_dispatcher(settings.generate_function_name)
    raise DispatchError("DISPATCH_MODE=local needs the local stack (tpg serve) to install a dispatcher")
