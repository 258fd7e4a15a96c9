"""Helpers shared by the integration and end-to-end tests."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import replace
from typing import Any
from uuid import UUID

import psycopg

from tests.conftest import token_for
from tpg.generation.ports import ProgramProvider
from tpg.platform.errors import DispatchError
from tpg.worker.dispatch import Dispatcher
from tpg.worker.generation import GenerateDependencies, Outcome, process_generation_event
from tpg.worker.sweeper import SweeperDependencies
from tpg_local.lambda_context import LocalLambdaContext
from tpg_local.seed import seed_user
from tpg_local.server import api_gateway_event


class RecordingDispatcher:
    """Our own Dispatcher interface, faked: records hand-offs, optionally fails them."""

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.dispatched: list[tuple[UUID, str]] = []
        self._lock = threading.Lock()

    def dispatch(self, program_id: UUID, *, reason: str) -> None:
        if self.fail:
            raise DispatchError("simulated outage")
        with self._lock:
            self.dispatched.append((program_id, reason))


def new_user(conn: psycopg.Connection, **kwargs: Any) -> tuple[UUID, str]:
    user_id = seed_user(conn, **kwargs)
    return user_id, token_for(user_id)


def http_event(
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    raw_body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    pairs = [("Host", "localhost"), ("User-Agent", "pytest")]
    if token is not None:
        pairs.append(("Authorization", f"Bearer {token}"))
    payload = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else b"")
    if payload:
        pairs.append(("Content-Type", "application/json"))
    pairs.extend((headers or {}).items())
    return api_gateway_event(method, path, pairs, payload)


def invoke_trigger(event: dict[str, Any], dispatcher: Any = None) -> tuple[int, dict[str, Any], Any]:
    """Call the trigger's real handler module; return (status, headers, parsed body). A dispatcher
    given replaces the trigger's (through its composition root) from then on."""
    from functions.trigger import app

    if dispatcher is not None:
        app.dependencies.override(replace(app.dependencies(), dispatcher=dispatcher))
    response = app.lambda_handler(event, LocalLambdaContext("trigger"))
    body = json.loads(response["body"]) if response.get("body") else None
    return response["statusCode"], response.get("headers") or {}, body


def invoke_generate(program_id: UUID | str) -> str:
    from functions.generate.app import lambda_handler

    return lambda_handler({"programId": str(program_id)}, LocalLambdaContext("generate"))["outcome"]


def generate_dependencies(**changes: Any) -> GenerateDependencies:
    """The generate handler's dependencies (as installed by the `handlers` fixture), changed."""
    from functions.generate import app

    return replace(app.dependencies(), **changes)


def process(
    event: dict[str, Any],
    *,
    provider: ProgramProvider | None = None,
    request_id: str | None = None,
    **changes: Any,
) -> Outcome:
    """Run the generate worker on `event` with the handler's dependencies, `provider` as its tiers."""
    if provider is not None:
        changes["providers"] = lambda: provider
    return process_generation_event(event, generate_dependencies(**changes), request_id=request_id)


def sweeper_dependencies(dispatcher: Dispatcher, **changes: Any) -> SweeperDependencies:
    """The sweeper handler's dependencies (as installed by the `handlers` fixture) with `dispatcher`."""
    from functions.sweeper import app

    return replace(app.dependencies(), dispatcher=dispatcher, **changes)


def random_id() -> str:
    return str(uuid.uuid4())
