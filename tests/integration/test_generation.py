"""The generate handler and the sweeper on a real PostgreSQL: claims, leases, attempts (I2-I5)."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import POOLER_PORT
from tests.support import (
    RecordingDispatcher,
    http_event,
    invoke_generate,
    invoke_trigger,
    new_user,
    process,
    sweeper_dependencies,
)
from tpg.generation.offline import OfflineProvider
from tpg.generation.ports import GenerationError
from tpg.worker import generation
from tpg.worker.sweeper import SweepReport, sweep


def _sweep(dispatcher) -> SweepReport:
    return sweep(sweeper_dependencies(dispatcher))


class CountingProvider(OfflineProvider):
    """The offline engine, counting calls (and optionally failing or pausing them)."""

    def __init__(self, error: GenerationError | None = None, gate: threading.Event | None = None) -> None:
        super().__init__()
        self.calls = 0
        self.error = error
        self.gate = gate
        self._lock = threading.Lock()

    def generate(self, data, request, *, on_progress):
        with self._lock:
            self.calls += 1
        if self.gate is not None:
            self.gate.wait(10)
        if self.error is not None:
            raise self.error
        return super().generate(data, request, on_progress=on_progress)


@pytest.fixture
def accepted(sql):
    """A user with one accepted (pending) program; returns (program_id, token)."""
    _, token = new_user(sql)
    _, _, body = invoke_trigger(http_event("POST", "/programs", token=token), RecordingDispatcher())
    return uuid.UUID(body["programId"]), token


def _deliver_concurrently(program_id, provider, times: int = 20) -> list[str]:
    """The same event delivered `times` times at once, as Lambda's at-least-once delivery may."""
    event = {"programId": str(program_id)}
    with ThreadPoolExecutor(max_workers=times) as pool:
        return list(pool.map(lambda _: process(event, provider=provider), range(times)))


def _row(sql, program_id):
    return sql.execute("SELECT * FROM training_programs WHERE id = %s", (program_id,)).fetchone()


def test_a_generation_completes_with_a_valid_program(sql, accepted) -> None:
    program_id, token = accepted
    assert invoke_generate(program_id) == "completed"
    row = _row(sql, program_id)
    assert row["generation_status"] == "completed" and row["progress"] == 100
    assert row["attempts"] == 1 and row["provider"] == "offline" and row["completed_at"] is not None
    assert row["validation_report"]["ok"] is True
    status, _, body = invoke_trigger(http_event("GET", f"/programs/{program_id}", token=token))
    assert status == 200 and body["status"] == "completed"
    assert body["program"]["weeks"] == 4 and body["program"]["schedule"]


def test_the_same_event_twenty_times_concurrently_runs_one_generation(sql, accepted) -> None:
    program_id, _ = accepted
    provider = CountingProvider()
    outcomes = _deliver_concurrently(program_id, provider)
    assert sorted(outcomes) == sorted(["completed"] + ["not_claimed"] * 19)
    assert provider.calls == 1
    assert _row(sql, program_id)["attempts"] == 1


def test_redelivery_after_completion_changes_nothing(sql, accepted) -> None:
    program_id, _ = accepted
    assert invoke_generate(program_id) == "completed"
    before = _row(sql, program_id)
    provider = CountingProvider()
    outcomes = _deliver_concurrently(program_id, provider)
    assert outcomes == ["not_claimed"] * 20
    assert provider.calls == 0 and _row(sql, program_id) == before


@pytest.mark.parametrize("event", [{}, {"programId": "nope"}, {"programId": None}, {"other": 1}])
def test_malformed_events_are_ignored(event, handlers) -> None:
    assert process(event) == "invalid_event"


def test_an_event_for_an_unknown_program_does_nothing(handlers) -> None:
    assert invoke_generate(uuid.uuid4()) == "not_claimed"


def test_a_retryable_error_releases_the_row_to_pending_for_the_sweeper(sql, accepted) -> None:
    program_id, _ = accepted
    provider = CountingProvider(GenerationError("LLM_UNAVAILABLE", "busy", retryable=True))
    assert process({"programId": str(program_id)}, provider=provider) == "released"
    row = _row(sql, program_id)
    assert (row["generation_status"], row["attempts"], row["error_code"]) == ("pending", 1, "LLM_UNAVAILABLE")
    assert row["dispatched_at"] is None

    dispatcher = RecordingDispatcher()
    report = _sweep(dispatcher)
    assert report.redispatched == [program_id] and dispatcher.dispatched == [(program_id, "sweeper")]
    assert invoke_generate(program_id) == "completed"
    assert _row(sql, program_id)["attempts"] == 2


def test_a_non_retryable_error_fails_at_once_with_a_safe_message(sql, accepted) -> None:
    program_id, token = accepted
    provider = CountingProvider(
        GenerationError("INVALID_PROGRAM", "Could not make a safe program.", retryable=False)
    )
    assert process({"programId": str(program_id)}, provider=provider) == "failed"
    _, _, body = invoke_trigger(http_event("GET", f"/programs/{program_id}", token=token))
    assert body["status"] == "failed"
    assert body["error"] == {"code": "INVALID_PROGRAM", "message": "Could not make a safe program."}


def test_retryable_errors_stop_after_the_last_attempt(sql, accepted) -> None:
    program_id, _ = accepted
    provider = CountingProvider(GenerationError("LLM_UNAVAILABLE", "busy", retryable=True))
    outcomes = [process({"programId": str(program_id)}, provider=provider) for _ in range(5)]
    assert outcomes == ["released", "released", "failed", "not_claimed", "not_claimed"]
    assert provider.calls == 3
    assert _row(sql, program_id)["generation_status"] == "failed"


def test_an_unexpected_crash_is_recorded_as_a_retryable_internal_error(sql, accepted) -> None:
    program_id, _ = accepted

    class Broken(OfflineProvider):
        def generate(self, *args, **kwargs):
            raise ZeroDivisionError("password=hunter2")  # the message must not reach the row or the logs

    assert process({"programId": str(program_id)}, provider=Broken()) == "released"
    row = _row(sql, program_id)
    assert row["error_code"] == "INTERNAL_ERROR" and "hunter2" not in (row["generation_error"] or "")


def test_an_expired_lease_is_reclaimed_once_with_attempts_counted(sql, accepted) -> None:
    program_id, _ = accepted
    # A worker claimed the row and died: processing with a lease that has run out.
    sql.execute(
        "UPDATE training_programs SET generation_status = 'processing', attempts = 1,"
        " lease_expires_at = now() - interval '1 second' WHERE id = %s",
        (program_id,),
    )
    provider = CountingProvider()
    outcomes = _deliver_concurrently(program_id, provider)
    assert outcomes.count("completed") == 1 and provider.calls == 1
    assert _row(sql, program_id)["attempts"] == 2


def test_the_sweeper_reclaims_a_dead_workers_row_and_redispatches_it(sql, accepted) -> None:
    program_id, _ = accepted
    sql.execute(
        "UPDATE training_programs SET generation_status = 'processing', attempts = 1,"
        " lease_expires_at = now() - interval '1 second' WHERE id = %s",
        (program_id,),
    )
    dispatcher = RecordingDispatcher()
    report = _sweep(dispatcher)
    assert report.reclaimed == [program_id] and report.redispatched == [program_id]
    row = _row(sql, program_id)
    assert (row["generation_status"], row["attempts"], row["error_code"]) == ("pending", 1, "LEASE_EXPIRED")
    assert _sweep(dispatcher).redispatched == []  # not again before the redispatch delay


def test_a_dead_worker_on_its_last_attempt_leaves_a_failed_row(sql, accepted) -> None:
    program_id, _ = accepted
    sql.execute(
        "UPDATE training_programs SET generation_status = 'processing', attempts = 3,"
        " lease_expires_at = now() - interval '1 second' WHERE id = %s",
        (program_id,),
    )
    report = _sweep(RecordingDispatcher())
    assert report.failed == [program_id]
    row = _row(sql, program_id)
    assert (row["generation_status"], row["error_code"]) == ("failed", "WORKER_LOST")


def test_a_worker_whose_lease_was_taken_over_cannot_write(sql, accepted) -> None:
    program_id, _ = accepted
    gate = threading.Event()
    slow = CountingProvider(gate=gate)
    first = ThreadPoolExecutor(max_workers=1).submit(process, {"programId": str(program_id)}, provider=slow)
    # While the first worker is inside the provider, its lease expires and a second worker wins.
    for _ in range(100):
        if slow.calls:
            break
        threading.Event().wait(0.02)
    sql.execute(
        "UPDATE training_programs SET lease_expires_at = now() - interval '1 second' WHERE id = %s",
        (program_id,),
    )
    assert invoke_generate(program_id) == "completed"
    gate.set()
    assert first.result(timeout=10) == "lease_lost"
    assert _row(sql, program_id)["attempts"] == 2


def test_a_committed_row_whose_dispatch_failed_completes_after_a_sweep(sql, handlers) -> None:
    from functions.generate.app import lambda_handler
    from tpg_local.dispatcher import LocalDispatcher

    handlers.update(settings=handlers.settings.model_copy(update={"pending_redispatch_after_seconds": 1}))
    _, token = new_user(sql)
    _, _, body = invoke_trigger(http_event("POST", "/programs", token=token), RecordingDispatcher(fail=True))
    program_id = uuid.UUID(body["programId"])
    sql.execute(
        "UPDATE training_programs SET dispatched_at = now() - interval '5 seconds' WHERE id = %s",
        (program_id,),
    )
    dispatcher = LocalDispatcher(lambda_handler)
    try:
        assert _sweep(dispatcher).redispatched == [program_id]
        dispatcher.drain()
    finally:
        dispatcher.shutdown()
    assert _row(sql, program_id)["generation_status"] == "completed"


def _waited(sql, program_id, seconds: int, *, dispatches: int = 8) -> None:
    """The row has been pending for `seconds`, dispatched `dispatches` times, never claimed."""
    sql.execute(
        "UPDATE training_programs SET queued_at = now() - make_interval(secs => %s),"
        " dispatch_count = %s, dispatched_at = now() - interval '1 hour' WHERE id = %s",
        (seconds, dispatches, program_id),
    )


def test_a_pending_row_is_failed_only_past_its_tiers_wait_bound_never_for_dispatches(sql, accepted) -> None:
    """I5 in time, not in dispatch counts (the bound was 8 dispatches before 2026-12-02): a row
    dispatched 30 times is still waiting within its bound; past it, nothing having been claimed
    at all meanwhile, it is lost: NEVER_CLAIMED."""
    program_id, _ = accepted
    bound = _row(sql, program_id)["max_wait_seconds"]
    assert bound == 7200  # the standard tier's, stored at accept
    _waited(sql, program_id, bound - 60, dispatches=30)
    report = _sweep(RecordingDispatcher())
    assert report.failed == [] and report.redispatched == [program_id]
    _waited(sql, program_id, bound + 1)
    assert _sweep(RecordingDispatcher()).failed == [program_id]
    row = _row(sql, program_id)
    assert (row["generation_status"], row["error_code"]) == ("failed", "NEVER_CLAIMED")


def test_a_row_that_waited_behind_other_work_past_its_bound_fails_queue_timeout(sql, accepted) -> None:
    """Waiting, not lost: generate claimed other rows while this one waited (capacity was busy)."""
    program_id, _ = accepted
    _, other_token = new_user(sql)
    _, _, body = invoke_trigger(http_event("POST", "/programs", token=other_token), RecordingDispatcher())
    other = uuid.UUID(body["programId"])
    _waited(sql, program_id, 7201)
    # the other row was claimed after this one was queued
    sql.execute("UPDATE training_programs SET ranked_at = now() - interval '1 day' WHERE id = %s", (other,))
    assert invoke_generate(other) == "completed"
    assert _sweep(RecordingDispatcher()).failed == [program_id]
    row = _row(sql, program_id)
    assert (row["generation_status"], row["error_code"]) == ("failed", "QUEUE_TIMEOUT")
    assert "busier than usual" in row["generation_error"]


def test_redispatch_backs_off_so_a_throttled_backlog_waits_instead_of_failing(sql, accepted) -> None:
    """Defaults: 120 s, doubling per unanswered dispatch, capped at 900 s; the count never fails a row."""
    program_id, _ = accepted

    def after(count: int, seconds_ago: int) -> SweepReport:
        sql.execute(
            "UPDATE training_programs SET dispatch_count = %s,"
            " dispatched_at = now() - make_interval(secs => %s) WHERE id = %s",
            (count, seconds_ago, program_id),
        )
        return _sweep(RecordingDispatcher())

    assert after(1, 100).redispatched == []  # the first wait is 120 s
    assert after(1, 130).redispatched == [program_id]
    assert after(3, 400).redispatched == []  # the third waits 480 s
    assert after(3, 500).redispatched == [program_id]
    assert after(6, 890).redispatched == []  # capped at 900 s
    assert after(6, 910).redispatched == [program_id]
    # however many dispatches a backlog takes, a row within its wait bound is waiting, not lost
    assert after(50, 910).failed == []
    assert _row(sql, program_id)["generation_status"] == "pending"


def test_the_worker_reconnects_after_its_connection_is_killed(sql, accepted, handlers) -> None:
    db = handlers.generate.db
    program_id, _ = accepted
    assert db.fetch_one("SELECT 1 AS one") == {"one": 1}
    pid = db.connection().info.backend_pid
    if POOLER_PORT:  # through PgBouncer that pid is the pooler's key: kill the server connections behind it
        # (PgBouncer drops them and serves the next statement on a new one)
        killed = sql.execute(
            "SELECT count(*) AS n FROM pg_stat_activity, pg_terminate_backend(pid)"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        ).fetchone()
        assert killed["n"] >= 1
    else:
        sql.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert invoke_generate(program_id) == "completed"
    if not POOLER_PORT:
        assert db.connection().info.backend_pid != pid


def test_a_failed_final_write_is_raised_without_the_drivers_message(sql, accepted, monkeypatch) -> None:
    """Lambda then records a failed invocation (-> on-failure record -> reclaim); the driver's
    message, which can quote the row's data, is neither chained nor logged."""
    import psycopg

    from tpg.store import repository

    program_id, _ = accepted

    def refuse(*args, **kwargs):
        raise psycopg.errors.UntranslatableCharacter("CONTEXT: JSON data, line 1: secret note of user")

    monkeypatch.setattr(repository, "complete_generation", refuse)
    with pytest.raises(generation.ResultNotStored) as raised:
        process({"programId": str(program_id)})
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert "secret note" not in str(raised.value)
    assert _row(sql, program_id)["generation_status"] == "processing"  # the lease will expire


def test_a_retry_never_reuses_an_attempt_number_so_an_old_worker_stays_fenced(
    sql, accepted, handlers
) -> None:
    from dataclasses import replace

    from tpg.api import service
    from tpg.store import repository

    db = handlers.generate.db
    program_id, _ = accepted
    user_id = _row(sql, program_id)["user_id"]
    first = repository.claim_generation(db, program_id, lease_seconds=60, worker="worker-a")
    assert first is not None and first.attempt == 1
    # worker A hangs; its row is failed meanwhile, and the user retries
    sql.execute(
        "UPDATE training_programs SET generation_status = 'failed', error_code = 'X' WHERE id = %s",
        (program_id,),
    )
    service.retry_generation(replace(handlers.trigger, dispatcher=RecordingDispatcher()), user_id, program_id)
    second = repository.claim_generation(db, program_id, lease_seconds=60, worker="worker-b")
    assert second is not None and second.attempt == 2
    # worker A wakes up: none of its writes lands
    assert not repository.record_progress(db, program_id, 1, stage="generating", progress=50)
    assert repository.finish_with_error(db, program_id, 1, error_code="X", message="x", retry=False) is None
    assert _row(sql, program_id)["claimed_by"] == "worker-b"
