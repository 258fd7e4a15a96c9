"""Completion/failure events: the entries put on EventBridge, best effort, batched by 10."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tpg.worker import events
from tpg.worker.events import EventPublisher


class FakeEvents:
    def __init__(self, fail: int = 0, error: Exception | None = None) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.fail, self.error = fail, error

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.calls.append(Entries)
        if self.error is not None:
            raise self.error
        return {"FailedEntryCount": self.fail, "Entries": []}


@pytest.fixture
def bus() -> str:
    return "default"


def test_nothing_is_sent_without_a_bus() -> None:
    client = FakeEvents()
    assert EventPublisher(None, client=client).generation_finished(uuid.uuid4(), "completed") == 0
    assert client.calls == []


def test_the_bus_is_a_setting() -> None:
    from tpg.platform.settings import Settings

    assert EventPublisher.from_settings(Settings.from_environment({"EVENT_BUS_NAME": "b"})).bus == "b"
    assert EventPublisher.from_settings(Settings.from_environment({})).bus is None


def test_a_completion_event(bus: str) -> None:
    client, program_id = FakeEvents(), uuid.uuid4()
    assert EventPublisher(bus, client=client).generation_finished(program_id, "completed") == 1
    (entry,) = client.calls[0]
    assert entry["Source"] == "tpg.generation"
    assert entry["DetailType"] == "Program generation completed"
    assert entry["EventBusName"] == bus
    assert json.loads(entry["Detail"]) == {
        "programId": str(program_id),
        "status": "completed",
        "errorCode": None,
    }


def test_a_failure_event_carries_the_code(bus: str) -> None:
    client = FakeEvents()
    EventPublisher(bus, client=client).generation_finished(
        uuid.uuid4(), "failed", error_code="LLM_UNAVAILABLE"
    )
    (entry,) = client.calls[0]
    assert entry["DetailType"] == "Program generation failed"
    assert json.loads(entry["Detail"])["errorCode"] == "LLM_UNAVAILABLE"


def test_sweeper_failures_are_put_in_batches_of_ten(bus: str) -> None:
    client = FakeEvents()
    assert EventPublisher(bus, client=client).generations_failed([uuid.uuid4() for _ in range(23)]) == 23
    assert [len(call) for call in client.calls] == [10, 10, 3]


def test_a_failed_put_is_counted_never_raised(bus: str, monkeypatch: pytest.MonkeyPatch) -> None:
    counted: list[tuple[Any, float]] = []
    monkeypatch.setattr(
        events, "count", lambda metric, value=1, dimensions=None: counted.append((metric, value))
    )
    broken = EventPublisher(bus, client=FakeEvents(error=OSError()))
    assert broken.generation_finished(uuid.uuid4(), "completed") == 0
    partly = EventPublisher(bus, client=FakeEvents(fail=1))
    assert partly.generations_failed([uuid.uuid4(), uuid.uuid4()]) == 1
    assert counted == [(events.Metric.EVENTS_NOT_PUBLISHED, 1), (events.Metric.EVENTS_NOT_PUBLISHED, 1)]


def test_the_entries_are_valid_for_the_real_api(bus: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # botocore validates the request against the EventBridge model; moto answers it.
    from moto import mock_aws

    for name, value in (
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "x"),
        ("AWS_SECRET_ACCESS_KEY", "x"),
    ):
        monkeypatch.setenv(name, value)
    with mock_aws():  # the publisher creates its own client, on first use
        assert EventPublisher(bus).generations_failed([uuid.uuid4() for _ in range(12)]) == 12
