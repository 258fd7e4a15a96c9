"""Operational signals: the StuckGenerations gauge and the EventBridge completion/failure events."""

from __future__ import annotations

import json

from tests.support import RecordingDispatcher, new_user, sweeper_dependencies
from tpg.platform.observability import Metric
from tpg.worker.events import EventPublisher
from tpg.worker.sweeper import sweep


class Client:
    """EventBridge, recording what is put."""

    def __init__(self) -> None:
        self.put: list[dict] = []

    def put_events(self, Entries):  # noqa: N803
        self.put.extend(Entries)
        return {"FailedEntryCount": 0}


def test_each_sweep_reports_rows_unchanged_for_twice_the_lease(sql, handlers, monkeypatch) -> None:
    handlers.update(settings=handlers.settings.model_copy(update={"lease_seconds": 100}))
    emitted: list[tuple[str, float]] = []
    monkeypatch.setattr(
        "tpg.worker.sweeper.count", lambda metric, value=1, dimensions=None: emitted.append((metric, value))
    )
    assert sweep(sweeper_dependencies(RecordingDispatcher())).stuck == 0
    assert (Metric.STUCK_GENERATIONS, 0) in emitted  # emitted at 0 too: silence means no sweeper

    user_id, _ = new_user(sql)
    # processing with a live lease but no change for 250 s (> 2 x 100): nothing moves it
    sql.execute(
        "INSERT INTO training_programs"
        " (user_id, name, generation_status, attempts, lease_expires_at, updated_at)"
        " VALUES (%s, 'p', 'processing', 1, now() + interval '1 hour', now() - interval '250 seconds')",
        (user_id,),
    )
    assert sweep(sweeper_dependencies(RecordingDispatcher())).stuck == 1


def test_rows_the_sweeper_fails_are_announced(sql, handlers) -> None:
    client = Client()
    handlers.update(events=EventPublisher("default", client=client))
    user_id, _ = new_user(sql)
    program_id = sql.execute(
        "INSERT INTO training_programs (user_id, name, generation_status, attempts, max_attempts)"
        " VALUES (%s, 'p', 'pending', 3, 3) RETURNING id",
        (user_id,),
    ).fetchone()["id"]
    report = sweep(sweeper_dependencies(RecordingDispatcher()))
    assert report.failed == [program_id]
    assert [json.loads(e["Detail"]) for e in client.put] == [
        {"programId": str(program_id), "status": "failed", "errorCode": None}
    ]


def test_a_completed_generation_is_announced_once(sql, handlers) -> None:
    from tests.support import http_event, invoke_generate, invoke_trigger

    client = Client()
    handlers.update(events=EventPublisher("default", client=client))
    _, token = new_user(sql)
    _, _, body = invoke_trigger(http_event("POST", "/programs", token=token), RecordingDispatcher())
    assert invoke_generate(body["programId"]) == "completed"
    assert invoke_generate(body["programId"]) == "not_claimed"  # a redelivered event: no second event
    assert [(e["DetailType"], json.loads(e["Detail"])["programId"]) for e in client.put] == [
        ("Program generation completed", body["programId"])
    ]
