"""The one composition root of each handler: its dependencies, built once per execution environment.

A handler module (`functions/*/app.py`) holds `dependencies = Lazy(compose)`, where `compose` reads
the settings (`Settings.from_environment()`) and builds the database access, the dispatcher, the
event publisher and the clock, and passes the result to the layer on every invocation. `Lazy` builds
on the first invocation, never at import (so no secret, client or connection is created before a
SnapStart snapshot or while a cold start imports), then reuses it while the environment is warm.

The local stack and the tests replace a handler's dependencies through the same object
(`override`), so they run the handler exactly as Lambda does with other collaborators.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Lazy(Generic[T]):
    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._lock = threading.Lock()

    def __call__(self) -> T:
        value = self._value
        if value is None:
            with self._lock:  # the local stack runs one handler on several threads
                if self._value is None:
                    self._value = self._build()
                value = self._value
        return value

    @property
    def built(self) -> bool:
        return self._value is not None

    def override(self, value: T | None) -> T | None:
        """Use `value` from now on (the local stack, tests); None: build anew on the next call.
        Returns what was in use (None if nothing was built yet), to restore it later."""
        previous, self._value = self._value, value
        return previous

    def reset(self) -> None:
        """Forget the current value: the next call builds it anew."""
        self._value = None
