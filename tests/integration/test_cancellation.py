"""Cancellation on a real PostgreSQL: `POST /programs/{id}/cancel`, the worker's checkpoints, the
races with the claim and the completion, concurrent cancels, the sweeper's part, and the Claude
stream closed by a cancel (the real SDK against the fake Messages API)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from tests.fakes.anthropic_server import FakeAnthropic, Status, Trickle
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
from tpg.store import repository
from tpg.worker.events import EventPublisher
from tpg.worker.sweeper import sweep

CANCELLED_ERROR = {"code": "CANCELLED", "message": "Cancelled at your request."}


@pytest.fixture(autouse=True)
def _tiers_restored(sql):
    """subscription_tiers is data the suite's truncation keeps: what a test changes is put back."""
    saved = sql.execute("SELECT * FROM subscription_tiers").fetchall()
    yield
    for tier in saved:
        sql.execute(
            "UPDATE subscription_tiers SET daily_generation_quota = %(daily_generation_quota)s,"
            " priority = %(priority)s, max_wait_seconds = %(max_wait_seconds)s WHERE tier = %(tier)s",
            tier,
        )


class Events:
    """EventBridge, recording what is put."""

    def __init__(self) -> None:
        self.put: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        with self._lock:
            self.put.extend(Entries)
        return {"FailedEntryCount": 0}

    def cancelled(self) -> list[str]:
        return [
            json.loads(e["Detail"])["programId"]
            for e in self.put
            if e["DetailType"] == "Program generation cancelled"
        ]


class Paced(OfflineProvider):
    """The rules engine paced like an LLM call (progress every 0.25 s), counting its reports."""

    def __init__(self, seconds: float) -> None:
        super().__init__(latency_seconds=seconds)
        self.reports = 0
        self.finished = 0

    def generate(self, data, request, *, on_progress):
        def report(pct: int) -> None:
            self.reports += 1
            on_progress(pct)

        result = super().generate(data, request, on_progress=report)
        self.finished += 1
        return result


@pytest.fixture
def events(handlers) -> Events:
    client = Events()
    handlers.update(events=EventPublisher("default", client=client))
    return client


def _accept(token: str) -> uuid.UUID:
    status, _, body = invoke_trigger(http_event("POST", "/programs", token=token), RecordingDispatcher())
    assert status == 202, body
    return uuid.UUID(body["programId"])


def _cancel(program_id: uuid.UUID | str, token: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    status, _, answer = invoke_trigger(
        http_event("POST", f"/programs/{program_id}/cancel", token=token, body=body)
    )
    return status, answer


def _get(program_id: uuid.UUID, token: str) -> dict[str, Any]:
    status, _, body = invoke_trigger(http_event("GET", f"/programs/{program_id}", token=token))
    assert status == 200
    return body


def _row(sql, program_id) -> dict[str, Any]:
    return sql.execute("SELECT * FROM training_programs WHERE id = %s", (program_id,)).fetchone()


def _wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _generating(sql, program_id) -> bool:
    row = _row(sql, program_id)
    return row["generation_status"] == "processing" and row["stage"] == "generating"


# --- The API -----------------------------------------------------------------------------------


def test_a_pending_program_is_cancelled_at_once_and_its_request_given_back(sql, events) -> None:
    sql.execute("UPDATE subscription_tiers SET daily_generation_quota = 1 WHERE tier = 'standard'")
    _, token = new_user(sql)
    first = _accept(token)
    status, body = _cancel(first, token, body={})
    assert (status, body) == (202, {"programId": str(first), "status": "cancelled", "cancelRequested": True})
    shown = _get(first, token)
    assert (shown["status"], shown["stage"], shown["error"], shown["cancelRequested"]) == (
        "cancelled",
        None,
        CANCELLED_ERROR,
        True,
    )
    assert events.cancelled() == [str(first)]
    assert invoke_generate(first) == "not_claimed"  # its event finds nothing to run
    # nothing was spent on it: the quota of 1 still allows a request, and the slot is free
    second = _accept(token)
    assert invoke_generate(second) == "completed"
    status, _, refused = invoke_trigger(http_event("POST", "/programs", token=token), RecordingDispatcher())
    assert (status, refused["error"]["code"]) == (429, "QUOTA_EXCEEDED")


def test_a_processing_program_stops_at_its_next_checkpoint_and_frees_the_slot_at_once(sql, events) -> None:
    sql.execute("UPDATE subscription_tiers SET daily_generation_quota = 2 WHERE tier = 'standard'")
    _, token = new_user(sql)
    program_id = _accept(token)
    slow = Paced(seconds=8.0)
    with ThreadPoolExecutor(max_workers=1) as pool:
        worker = pool.submit(process, {"programId": str(program_id)}, provider=slow)
        _wait_until(lambda: _generating(sql, program_id))
        asked = time.monotonic()
        status, body = _cancel(program_id, token)
        assert (status, body) == (
            202,
            {"programId": str(program_id), "status": "processing", "cancelRequested": True},
        )
        shown = _get(program_id, token)
        assert (shown["status"], shown["cancelRequested"], shown["error"]) == ("processing", True, None)
        # the one-in-flight slot is free while the worker winds down
        again = _accept(token)
        assert again != program_id
        # asked again while it winds down: the same answer (or final, once it has stopped)
        status, body = _cancel(program_id, token)
        assert (status, body.get("status") or body["error"]["code"]) in {
            (202, "processing"),
            (409, "PROGRAM_ALREADY_FINAL"),
        }
        assert worker.result(timeout=10) == "cancelled"
        stopped = time.monotonic() - asked
    assert stopped < 4.0  # a checkpoint about every second (reports every 0.25 s); room for a busy machine
    assert slow.finished == 0 and slow.reports < 32  # 8 s of work would report 32 times
    row = _row(sql, program_id)
    assert (row["generation_status"], row["error_code"], row["program"], row["lease_expires_at"]) == (
        "cancelled",
        "CANCELLED",
        None,
        None,
    )
    shown = _get(program_id, token)
    assert (shown["status"], shown["error"], shown["cancelRequested"]) == ("cancelled", CANCELLED_ERROR, True)
    assert events.cancelled() == [str(program_id)]
    # it had started: its request counts (2 requests, quota 2)
    status, _, refused = invoke_trigger(http_event("POST", "/programs", token=token), RecordingDispatcher())
    assert status == 409 and refused["error"]["programId"] == str(again)  # the second is in flight


@pytest.mark.parametrize("final", ["completed", "failed", "cancelled"])
def test_cancelling_a_final_program_is_a_409(sql, handlers, final) -> None:
    _, token = new_user(sql)
    program_id = _accept(token)
    if final == "completed":
        assert invoke_generate(program_id) == "completed"
    elif final == "failed":
        sql.execute(
            "UPDATE training_programs SET generation_status = 'failed', error_code = 'X' WHERE id = %s",
            (program_id,),
        )
    else:
        assert _cancel(program_id, token)[0] == 202
    before = _row(sql, program_id)
    status, body = _cancel(program_id, token)
    assert (status, body["error"]["code"]) == (409, "PROGRAM_ALREADY_FINAL")
    assert _row(sql, program_id) == before


def test_only_the_owner_can_cancel_and_a_bad_id_names_no_program(sql, handlers) -> None:
    _, token = new_user(sql)
    program_id = _accept(token)
    _, stranger = new_user(sql)
    for target, caller in ((program_id, stranger), (uuid.uuid4(), token), ("not-a-uuid", token)):
        status, body = _cancel(target, caller)
        assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    assert _row(sql, program_id)["generation_status"] == "pending"
    status, _ = _cancel(program_id, None)  # type: ignore[arg-type]
    assert status == 401


def test_a_cancelled_program_can_be_retried_and_the_retry_counts(sql, handlers) -> None:
    _, token = new_user(sql)
    program_id = _accept(token)
    assert _cancel(program_id, token)[0] == 202
    status, _, body = invoke_trigger(
        http_event("POST", f"/programs/{program_id}/retry", token=token), RecordingDispatcher()
    )
    assert (status, body["status"]) == (202, "pending")
    shown = _get(program_id, token)
    assert (shown["status"], shown["error"], shown["cancelRequested"]) == ("pending", None, False)
    assert invoke_generate(program_id) == "completed"
    kinds = sql.execute(
        "SELECT kind, refunded FROM generation_requests WHERE program_id = %s ORDER BY requested_at",
        (program_id,),
    ).fetchall()
    assert [(k["kind"], k["refunded"]) for k in kinds] == [("new", True), ("retry", False)]


def test_a_retry_cancelled_before_it_starts_refunds_the_retrys_request_only(sql, events) -> None:
    """The first request ran (started) and failed: it counts. Its retry, cancelled while still
    pending, never started (the retry cleared `started_at`): that latest request goes back."""
    _, token = new_user(sql)
    program_id = _accept(token)
    sql.execute(
        "UPDATE training_programs SET generation_status = 'failed', attempts = 1, started_at = now(),"
        " error_code = 'X', generation_error = 'x', completed_at = now() WHERE id = %s",
        (program_id,),
    )
    status, _, body = invoke_trigger(
        http_event("POST", f"/programs/{program_id}/retry", token=token), RecordingDispatcher()
    )
    assert status == 202, body
    assert _row(sql, program_id)["started_at"] is None
    assert _cancel(program_id, token)[1]["status"] == "cancelled"
    kinds = sql.execute(
        "SELECT kind, refunded FROM generation_requests WHERE program_id = %s ORDER BY requested_at",
        (program_id,),
    ).fetchall()
    assert [(k["kind"], k["refunded"]) for k in kinds] == [("new", False), ("retry", True)]


def test_only_the_attempt_that_was_cancelled_records_the_cancel(sql, handlers) -> None:
    """A stale worker (attempt 1) finishing a cancel of a row now at attempt 2 changes nothing."""
    _, token = new_user(sql)
    program_id = _accept(token)
    sql.execute(
        "UPDATE training_programs SET generation_status = 'cancelling', attempts = 2, started_at = now(),"
        " lease_expires_at = now() + interval '10 minutes', cancel_requested_at = now() WHERE id = %s",
        (program_id,),
    )
    db = handlers.generate.db
    assert repository.finish_cancelled(db, program_id, 1) is None
    assert _row(sql, program_id)["generation_status"] == "cancelling"
    finished = repository.finish_cancelled(db, program_id, 2)
    assert finished is not None and finished[0].status.value == "cancelled"


# --- Races -------------------------------------------------------------------------------------


def _hold_row(database_url: str, statement: str, program_id) -> psycopg.Connection:
    """A transaction that has changed the row and not committed: it holds the row's lock."""
    conn = psycopg.connect(database_url)
    conn.execute(statement, (program_id,))
    return conn


def _blocked(future, seconds: float = 0.3) -> bool:
    time.sleep(seconds)
    return not future.done()


def test_cancel_racing_the_claim_that_commits_first_asks_the_worker_to_stop(
    sql, handlers, database_url
) -> None:
    _, token = new_user(sql)
    program_id = _accept(token)
    claim = _hold_row(
        database_url,
        "UPDATE training_programs SET generation_status = 'processing', attempts = attempts + 1,"
        " lease_expires_at = now() + interval '1 minute', claimed_by = 'held' WHERE id = %s",
        program_id,
    )
    with ThreadPoolExecutor(max_workers=1) as pool:
        cancel = pool.submit(_cancel, program_id, token)
        assert _blocked(cancel)  # the cancel waits for the claim's row lock ...
        claim.commit()
        claim.close()
        # ... and then applies to the row the claim left: processing -> stopping, not cancelled
        assert cancel.result(timeout=5) == (
            202,
            {"programId": str(program_id), "status": "processing", "cancelRequested": True},
        )
    assert _row(sql, program_id)["generation_status"] == "cancelling"
    # the claimed worker's next checkpoint stops it, fenced by its attempt
    state = repository.record_progress(handlers.generate.db, program_id, 1, stage="generating", progress=40)
    assert state is not None and state.cancel_requested
    assert repository.finish_cancelled(handlers.generate.db, program_id, 1) is not None
    assert _row(sql, program_id)["generation_status"] == "cancelled"


def test_a_claim_racing_a_cancel_that_commits_first_skips_the_row_and_never_runs_it(
    sql, handlers, database_url
) -> None:
    _, token = new_user(sql)
    program_id = _accept(token)
    cancel = _hold_row(
        database_url,
        "UPDATE training_programs SET generation_status = 'cancelled', error_code = 'CANCELLED',"
        " stage = NULL, cancel_requested_at = now() WHERE id = %s",
        program_id,
    )
    provider = Paced(seconds=0.0)
    # SKIP LOCKED: the claim neither waits for nor takes a row a cancel holds
    assert process({"programId": str(program_id)}, provider=provider) == "not_claimed"
    cancel.commit()
    cancel.close()
    assert process({"programId": str(program_id)}, provider=provider) == "not_claimed"
    assert provider.finished == 0 and _row(sql, program_id)["attempts"] == 0


def test_cancel_and_claim_raced_many_times_always_agree(sql, handlers) -> None:
    """Real races, no lock held by the test: whichever commits first, the answer and the worker
    agree and the program ends cancelled without ever completing."""
    outcomes = set()
    for _ in range(15):
        _, token = new_user(sql)
        program_id = _accept(token)
        provider = Paced(seconds=1.0)
        start = threading.Barrier(2)

        def work(provider=provider, program_id=program_id, start=start):
            start.wait()
            return process({"programId": str(program_id)}, provider=provider)

        def cancel(program_id=program_id, token=token, start=start):
            start.wait()
            return _cancel(program_id, token)

        with ThreadPoolExecutor(max_workers=2) as pool:
            worker, answer = pool.submit(work), pool.submit(cancel)
            outcome, (status, body) = worker.result(timeout=15), answer.result(timeout=15)
        assert status == 202
        assert (body["status"], outcome) in {("cancelled", "not_claimed"), ("processing", "cancelled")}
        assert _row(sql, program_id)["generation_status"] == "cancelled" and provider.finished == 0
        outcomes.add(outcome)
    print("orders seen:", sorted(outcomes))


def test_a_completion_that_commits_first_wins_and_the_cancel_is_a_409(sql, handlers, database_url) -> None:
    _, token = new_user(sql)
    program_id = _accept(token)
    sql.execute(
        "UPDATE training_programs SET generation_status = 'processing', attempts = 1,"
        " lease_expires_at = now() + interval '1 minute' WHERE id = %s",
        (program_id,),
    )
    completion = _hold_row(
        database_url,
        "UPDATE training_programs SET generation_status = 'completed', program = '{}', stage = NULL,"
        " progress = 100, lease_expires_at = NULL, completed_at = now() WHERE id = %s",
        program_id,
    )
    with ThreadPoolExecutor(max_workers=1) as pool:
        cancel = pool.submit(_cancel, program_id, token)
        assert _blocked(cancel)
        completion.commit()
        completion.close()
        status, body = cancel.result(timeout=5)
    assert (status, body["error"]["code"]) == (409, "PROGRAM_ALREADY_FINAL")
    assert _row(sql, program_id)["generation_status"] == "completed"


def test_a_cancel_that_lands_just_before_the_completion_wins(sql, events, monkeypatch) -> None:
    """The worker passed its last checkpoint; the cancel commits before its final write: that
    write stores nothing, and the worker records the cancel."""
    _, token = new_user(sql)
    program_id = _accept(token)
    at_final_write, go_on = threading.Event(), threading.Event()
    complete = repository.complete_generation

    def complete_after_the_cancel(*args, **kwargs):
        at_final_write.set()
        assert go_on.wait(10)
        return complete(*args, **kwargs)

    monkeypatch.setattr(repository, "complete_generation", complete_after_the_cancel)
    with ThreadPoolExecutor(max_workers=1) as pool:
        worker = pool.submit(process, {"programId": str(program_id)})
        assert at_final_write.wait(10)
        assert _cancel(program_id, token)[1]["status"] == "processing"
        go_on.set()
        assert worker.result(timeout=10) == "cancelled"
    row = _row(sql, program_id)
    assert (row["generation_status"], row["program"], row["completed_at"]) == ("cancelled", None, None)
    assert events.cancelled() == [str(program_id)]
    assert not [e for e in events.put if e["DetailType"] == "Program generation completed"]


@pytest.mark.parametrize("running", [False, True], ids=["pending", "processing"])
def test_twenty_concurrent_cancels_cancel_once(sql, events, running) -> None:
    _, token = new_user(sql)
    program_id = _accept(token)
    with ThreadPoolExecutor(max_workers=21) as pool:
        worker = None
        if running:
            worker = pool.submit(process, {"programId": str(program_id)}, provider=Paced(seconds=8.0))
            _wait_until(lambda: _generating(sql, program_id))
        start = threading.Barrier(20)

        def cancel():
            start.wait()
            status, body = _cancel(program_id, token)
            # read after the answer: a 409 may only come once the worker has written `cancelled`
            return status, body, _get(program_id, token)["status"]

        answers = list(pool.map(lambda _: cancel(), range(20)))
        if worker is not None:
            assert worker.result(timeout=10) == "cancelled"
    statuses = [(status, body.get("status") or body["error"]["code"]) for status, body, _ in answers]
    if running:
        # each asks the worker to stop (the same answer again), until it has stopped (then final)
        assert set(statuses) <= {(202, "processing"), (409, "PROGRAM_ALREADY_FINAL")}
        assert (202, "processing") in statuses
        assert all(after == "cancelled" for status, _, after in answers if status == 409)
    else:
        assert sorted(statuses) == [(202, "cancelled")] + [(409, "PROGRAM_ALREADY_FINAL")] * 19
    assert _row(sql, program_id)["generation_status"] == "cancelled"
    assert events.cancelled() == [str(program_id)]  # announced once
    refunds = sql.execute(
        "SELECT count(*) FILTER (WHERE refunded) AS n FROM generation_requests WHERE program_id = %s",
        (program_id,),
    ).fetchone()["n"]
    assert refunds == (0 if running else 1)


def test_a_cancel_queued_behind_another_cancel_answers_202_while_the_program_stops(sql, database_url) -> None:
    """The second cancel waits on the first one's row lock; it must judge the row it then sees
    (`cancelling`: still stopping), not the `processing` it read before waiting."""
    _, token = new_user(sql)
    program_id = _accept(token)
    sql.execute(
        "UPDATE training_programs SET generation_status = 'processing', attempts = 1,"
        " lease_expires_at = now() + interval '10 minutes', started_at = now() WHERE id = %s",
        (program_id,),
    )
    first = _hold_row(
        database_url,
        "UPDATE training_programs SET generation_status = 'cancelling', cancel_requested_at = now()"
        " WHERE id = %s",
        program_id,
    )
    with ThreadPoolExecutor(max_workers=1) as pool:
        second = pool.submit(_cancel, program_id, token)
        assert _blocked(second)
        first.commit()
        first.close()
        status, body = second.result(timeout=5)
    assert _row(sql, program_id)["generation_status"] == "cancelling"
    assert (status, body) == (
        202,
        {"programId": str(program_id), "status": "processing", "cancelRequested": True},
    )


def test_a_cancel_is_honoured_after_the_answer_passes_its_expected_length(sql, handlers, monkeypatch) -> None:
    """Past its estimate the percentage stays at 99; the stream still reaches the checkpoint (at
    least every half second), so the worker stops long before the answer's end."""
    from tpg.generation.claude import client as claude_client

    real = claude_client.expected_answer_tokens
    monkeypatch.setattr(claude_client, "expected_answer_tokens", lambda *a, **k: max(1, real(*a, **k) // 10))
    with FakeAnthropic() as fake:
        fake.default = Trickle(chunk_delay=0.5)  # 12 deltas over 6 s
        _claude(handlers, fake)
        _, token = new_user(sql)
        program_id = _accept(token)
        with ThreadPoolExecutor(max_workers=1) as pool:
            worker = pool.submit(invoke_generate, program_id)
            _wait_until(
                lambda: (
                    bool(fake.requests)
                    and fake.requests[0].streamed_tokens > 0.3 * fake.requests[0].output_tokens
                )
            )
            asked = time.monotonic()
            assert _cancel(program_id, token)[0] == 202
            assert worker.result(timeout=20) == "cancelled"
            took = time.monotonic() - asked
        (request,) = fake.requests
    assert request.streamed_tokens < 0.8 * request.output_tokens  # not the whole answer paid for
    assert took < 2.5  # a checkpoint read (once a second) and a delta (every 0.5 s), with slack


# --- The sweeper -------------------------------------------------------------------------------


def test_the_sweeper_records_a_cancel_its_worker_never_honoured(sql, events, handlers, monkeypatch) -> None:
    latencies: list[tuple[str, float]] = []
    monkeypatch.setattr(
        "tpg.worker.sweeper.milliseconds",
        lambda metric, value, dimensions=None: latencies.append((metric, value)),
    )
    handlers.update(settings=handlers.settings.model_copy(update={"cancel_grace_seconds": 30}))
    _, token = new_user(sql)
    dead, alive = _accept(token), None
    sql.execute(
        "UPDATE training_programs SET generation_status = 'processing', attempts = 1,"
        " lease_expires_at = now() + interval '10 minutes' WHERE id = %s",
        (dead,),
    )
    assert _cancel(dead, token)[1]["status"] == "processing"
    _, other = new_user(sql)
    alive = _accept(other)
    sql.execute(
        "UPDATE training_programs SET generation_status = 'processing', attempts = 1,"
        " lease_expires_at = now() + interval '10 minutes' WHERE id = %s",
        (alive,),
    )
    assert _cancel(alive, other)[1]["status"] == "processing"
    # the first's worker died (its lease ran out); the second's has not reached a checkpoint for 40 s
    sql.execute(
        "UPDATE training_programs SET lease_expires_at = now() - interval '1 second' WHERE id = %s", (dead,)
    )
    sql.execute(
        "UPDATE training_programs SET cancel_requested_at = now() - interval '40 seconds' WHERE id = %s",
        (alive,),
    )
    report = sweep(sweeper_dependencies(RecordingDispatcher()))
    assert sorted(report.cancelled) == sorted([dead, alive]) and report.reclaimed == report.failed == []
    assert {_row(sql, p)["generation_status"] for p in (dead, alive)} == {"cancelled"}
    assert sorted(events.cancelled()) == sorted([str(dead), str(alive)])
    # CancellationLatency counts these too: the one asked 40 s ago among them
    assert [m for m, _ in latencies] == ["CancellationLatency"] * 2
    assert max(v for _, v in latencies) >= 40_000
    # the slow worker wakes up: its checkpoint finds the row no longer its own
    assert repository.record_progress(handlers.generate.db, alive, 1, stage="generating", progress=50) is None


def test_a_cancel_within_its_grace_period_is_left_to_the_worker(sql, handlers) -> None:
    _, token = new_user(sql)
    program_id = _accept(token)
    sql.execute(
        "UPDATE training_programs SET generation_status = 'processing', attempts = 1,"
        " lease_expires_at = now() + interval '10 minutes' WHERE id = %s",
        (program_id,),
    )
    _cancel(program_id, token)
    assert sweep(sweeper_dependencies(RecordingDispatcher())).cancelled == []
    assert _row(sql, program_id)["generation_status"] == "cancelling"


# --- The Claude stream -------------------------------------------------------------------------


def _claude(handlers, fake: FakeAnthropic, **overrides: Any) -> None:
    from tests.fakes.anthropic_server import settings_for

    claude = settings_for(fake, **overrides).model_dump(
        include={
            "llm_provider",
            "anthropic_api_key",
            "anthropic_base_url",
            "llm_backoff_initial_seconds",
            "llm_backoff_max_seconds",
            "llm_read_timeout_seconds",
            *overrides,
        }
    )
    handlers.update(
        settings=handlers.settings.model_copy(update=claude), providers=None, cache=lambda _: None
    )


def test_a_cancel_closes_the_running_llm_stream_so_no_more_tokens_are_generated(sql, handlers) -> None:
    with FakeAnthropic() as fake:
        fake.default = Trickle(chunk_delay=0.5)  # 12 deltas over 6 s
        _claude(handlers, fake)
        _, token = new_user(sql)
        program_id = _accept(token)
        with ThreadPoolExecutor(max_workers=1) as pool:
            worker = pool.submit(invoke_generate, program_id)
            _wait_until(lambda: bool(fake.requests) and fake.requests[0].streamed_tokens > 0)
            _cancel(program_id, token)
            assert worker.result(timeout=10) == "cancelled"
        (request,) = fake.requests  # no fallback tier, no retry
        assert not request.finished
        assert request.streamed_tokens < 0.5 * request.output_tokens
    assert _row(sql, program_id)["generation_status"] == "cancelled"


def test_a_cancel_during_a_retrying_llm_calls_back_off_sends_no_further_request(sql, handlers) -> None:
    """The back-off is a checkpoint: the cancel is seen while waiting (before the 1.5 s the API
    asked for), and the retry is never sent; nor is the cancel turned into a tier failure."""
    with FakeAnthropic() as fake:
        overloaded = Status(529, "overloaded_error", {"retry-after": "1.5"})
        fake.script(overloaded, overloaded)
        fake.default = Trickle(chunk_delay=0.5)
        _claude(handlers, fake, llm_max_attempts=4)
        _, token = new_user(sql)
        program_id = _accept(token)
        with ThreadPoolExecutor(max_workers=1) as pool:
            worker = pool.submit(invoke_generate, program_id)
            _wait_until(lambda: len(fake.requests) == 1)  # the first answer was a 529: waiting to retry
            assert _cancel(program_id, token)[1]["status"] == "processing"
            assert worker.result(timeout=15) == "cancelled"
        assert len(fake.requests) == 1
    row = _row(sql, program_id)
    assert (row["generation_status"], row["provider"]) == ("cancelled", None)


def test_tpg_stats_counts_cancellations_and_the_time_to_stop(sql, handlers) -> None:
    from tpg_local.stats import collect_stats, format_stats

    _, token = new_user(sql)
    at_once = _accept(token)
    _cancel(at_once, token)  # cancelled while pending: no time to stop
    _, other = new_user(sql)
    stopping = _accept(other)
    sql.execute(
        "UPDATE training_programs SET generation_status = 'processing', attempts = 1,"
        " lease_expires_at = now() + interval '1 minute' WHERE id = %s",
        (stopping,),
    )
    _cancel(stopping, other)
    _, third = new_user(sql)
    stopped = _accept(third)
    sql.execute(
        "UPDATE training_programs SET generation_status = 'cancelled', error_code = 'CANCELLED',"
        " stage = NULL, cancel_requested_at = now() - interval '3 seconds',"
        " updated_at = now() - interval '1 second' WHERE id = %s",
        (stopped,),
    )
    stats = collect_stats(sql, stuck_after_seconds=1800)
    assert (stats.cancelled, stats.cancelling, stats.in_flight) == (2, 1, 1)
    assert stats.cancel_p50 == pytest.approx(2.0, abs=0.01)  # only the one stopped while running
    assert stats.success_rate is None  # a cancel is not a failure
    text = format_stats(stats)
    assert "cancel to stop" in text and "cancelling 1" in text
    assert stats.as_dict()["cancelled"] == 2
