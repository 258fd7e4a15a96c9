"""The four handlers wired with other collaborators, through their own composition roots.

Each handler module (`functions/*/app.py`) holds its dependencies in a `Lazy` that Lambda builds
from the environment on the first invocation. The local stack (and the tests, the chaos campaign,
the benchmarks) install theirs instead with `Wiring(...).install()`: the same handler code runs,
with explicit settings, one database access shared by the four, the local dispatcher and, for
realtime, the local stack's Management API (`tpg_local.realtime`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from tpg.api.service import ApiDependencies
from tpg.generation.ports import ResultCache
from tpg.platform.clock import Clock, SystemClock
from tpg.platform.settings import Settings
from tpg.realtime.handler import RealtimeDependencies
from tpg.realtime.push import ProgramUpdates
from tpg.store.db import Database
from tpg.worker.dispatch import Dispatcher, dispatcher_for
from tpg.worker.events import EventPublisher
from tpg.worker.generation import GenerateDependencies, Providers
from tpg.worker.sweeper import SweeperDependencies


def _handler_modules() -> tuple[Any, Any, Any, Any]:
    # imported as the Lambda runtime would import them, on first use
    from functions.generate import app as generate_app
    from functions.realtime import app as realtime_app
    from functions.sweeper import app as sweeper_app
    from functions.trigger import app as trigger_app

    return trigger_app, generate_app, sweeper_app, realtime_app


@dataclass
class Wiring:
    """Collaborators for the four handlers; None: what the settings say, as in Lambda.
    `realtime_client`: the Management API the pushes are posted through (the local stack's)."""

    settings: Settings
    dispatcher: Dispatcher | None = None
    events: EventPublisher | None = None
    clock: Clock = field(default_factory=SystemClock)
    providers: Callable[[], Providers] | None = None
    cache: Callable[[UUID], ResultCache | None] | None = None
    db: Database | None = None
    realtime_client: Any = None
    _previous: tuple[Any, Any, Any, Any] | None = field(default=None, repr=False)
    _built: dict[str, Any] = field(default_factory=dict, repr=False)  # what the settings gave

    @property
    def trigger(self) -> ApiDependencies:
        db = self._database()
        return ApiDependencies(
            settings=self.settings,
            db=db,
            dispatcher=self._dispatcher(),
            events=self._events(),
            updates=self.updates,
        )

    @property
    def generate(self) -> GenerateDependencies:
        return GenerateDependencies(
            settings=self.settings,
            db=self._database(),
            events=self._events(),
            clock=self.clock,
            providers=self.providers,
            cache=self.cache,
            updates=self.updates,
        )

    @property
    def sweeper(self) -> SweeperDependencies:
        return SweeperDependencies(
            settings=self.settings,
            db=self._database(),
            events=self._events(),
            dispatcher=self._dispatcher(),
            updates=self.updates,
        )

    @property
    def realtime(self) -> RealtimeDependencies:
        return RealtimeDependencies(settings=self.settings, db=self._database())

    @property
    def updates(self) -> ProgramUpdates:
        """The pushes: through `realtime_client` when given, else as the settings say."""
        if self.realtime_client is not None:
            return ProgramUpdates(
                self._database(),
                client=self.realtime_client,
                deadline_seconds=self.settings.realtime_push_deadline_seconds,
            )
        return ProgramUpdates.from_settings(self.settings, self._database())

    def install(self) -> Wiring:
        """Give the handler modules these dependencies (until `uninstall`)."""
        trigger_app, generate_app, sweeper_app, realtime_app = _handler_modules()
        previous = (
            trigger_app.dependencies.override(self.trigger),
            generate_app.dependencies.override(self.generate),
            sweeper_app.dependencies.override(self.sweeper),
            realtime_app.dependencies.override(self.realtime),
        )
        if self._previous is None:
            self._previous = previous
        return self

    def update(self, **changes: Any) -> Wiring:
        """Change collaborators and install again (what came from the old settings is rebuilt)."""
        for name, value in changes.items():
            setattr(self, name, value)
        if "settings" in changes:
            self._built.clear()
        return self.install()

    def uninstall(self) -> None:
        """Give the handler modules back what they had before `install`."""
        if self._previous is None:
            return
        for module, value in zip(_handler_modules(), self._previous, strict=True):
            module.dependencies.override(value)
        self._previous = None

    def _database(self) -> Database:
        if self.db is not None:
            return self.db
        db: Database = self._built.setdefault("db", Database(self.settings))
        return db

    def _dispatcher(self) -> Dispatcher:
        if self.dispatcher is not None:
            return self.dispatcher
        dispatcher: Dispatcher = self._built.setdefault("dispatcher", dispatcher_for(self.settings))
        return dispatcher

    def _events(self) -> EventPublisher:
        if self.events is not None:
            return self.events
        events: EventPublisher = self._built.setdefault("events", EventPublisher.from_settings(self.settings))
        return events


def reset_handlers() -> None:
    """Every handler module back to its own composition root (built from the environment)."""
    for module in _handler_modules():
        module.dependencies.reset()
