"""Operational signals: the StuckGenerations gauge and the EventBridge completion/failure events."""

from __future__ import annotations

import json

from tests.support import RecordingDispatcher, new_user
from tpg.platform.observability import Metric
from tpg.worker import events
from tpg.worker.sweeper import sweep


def test_each_sweep_reports_rows_unchanged_for_twice_the_lease(sql, monkeypatch) -> None:
    from tpg.platform.settings import get_settings

    monkeypatch.setenv("GENERATION_LEASE_SECONDS", "100")
    get_settings.cache_clear()
    emitted: list[tuple[str, float]] = []
    monkeypatch.setattr(
        "tpg.worker.sweeper.count", lambda metric, value=1, dimensions=None: emitted.append((metric, value))
    )
    assert sweep(RecordingDispatcher()).stuck == 0
    assert (Metric.STUCK_GENERATIONS, 0) in emitted  # emitted at 0 too: silence means no sweeper

    user_id, _ = new_user(sql)
    # processing with a live lease but no change for 250 s (> 2 x 100): nothing moves it
    sql.execute(
        "INSERT INTO training_programs"
        " (user_id, name, generation_status, attempts, lease_expires_at, updated_at)"
        " VALUES (%s, 'p', 'processing', 1, now() + interval '1 hour', now() - interval '250 seconds')",
        (user_id,),
    )
    assert sweep(RecordingDispatcher()).stuck == 1


def test_rows_the_sweeper_fails_are_announced(sql, monkeypatch) -> None:
    monkeypatch.setenv("EVENT_BUS_NAME", "default")
    put: list[dict] = []

    class Client:
        def put_events(self, Entries):  # noqa: N803
            put.extend(Entries)
            return {"FailedEntryCount": 0}

    monkeypatch.setattr(events, "_events_client", lambda: Client())
    user_id, _ = new_user(sql)
    program_id = sql.execute(
        "INSERT INTO training_programs (user_id, name, generation_status, attempts, max_attempts)"
        " VALUES (%s, 'p', 'pending', 3, 3) RETURNING id",
        (user_id,),
    ).fetchone()["id"]
    report = sweep(RecordingDispatcher())
    assert report.failed == [program_id]
    assert [json.loads(e["Detail"]) for e in put] == [
        {"programId": str(program_id), "status": "failed", "errorCode": None}
    ]


def test_a_completed_generation_is_announced_once(sql, monkeypatch) -> None:
    from tests.support import http_event, invoke_generate, invoke_trigger

    monkeypatch.setenv("EVENT_BUS_NAME", "default")
    put: list[dict] = []

    class Client:
        def put_events(self, Entries):  # noqa: N803
            put.extend(Entries)
            return {"FailedEntryCount": 0}

    monkeypatch.setattr(events, "_events_client", lambda: Client())
    _, token = new_user(sql)
    _, _, body = invoke_trigger(http_event("POST", "/programs", token=token), RecordingDispatcher())
    assert invoke_generate(body["programId"]) == "completed"
    assert invoke_generate(body["programId"]) == "not_claimed"  # a redelivered event: no second event
    assert [(e["DetailType"], json.loads(e["Detail"])["programId"]) for e in put] == [
        ("Program generation completed", body["programId"])
    ]
