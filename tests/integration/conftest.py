"""Fixtures shared by the integration tests of the Claude path."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.anthropic_server import FakeAnthropic


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    """A real local HTTP server speaking the Messages API, scripted per test."""
    with FakeAnthropic() as server:
        yield server
