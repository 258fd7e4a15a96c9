"""Fakes of external services for tests: real servers speaking the real protocols."""

from tests.fakes.anthropic_server import FakeAnthropic, settings_for

__all__ = ["FakeAnthropic", "settings_for"]
