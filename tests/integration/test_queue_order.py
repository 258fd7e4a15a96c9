"""Priority by tier and waiting bounded in time, on a real PostgreSQL: a generate invocation claims
the most urgent program (priority, then age), a low-priority program is never starved, and a
backlog many times the generate concurrency waits instead of failing."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest

from tests.support import RecordingDispatcher, http_event, invoke_generate, invoke_trigger, new_user
from tpg.api import service
from tpg.api.models import CreateProgramRequest
from tpg.generation.offline import OfflineProvider
from tpg.store import repository
from tpg_local.seed import seed_user


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


def _accept(token: str) -> uuid.UUID:
    status, _, body = invoke_trigger(http_event("POST", "/programs", token=token), RecordingDispatcher())
    assert status == 202, body
    return uuid.UUID(body["programId"])


def _row(sql, program_id):
    return sql.execute("SELECT * FROM training_programs WHERE id = %s", (program_id,)).fetchone()


def test_the_tiers_priority_is_stored_at_accept_and_ranks_the_claim(sql, handlers) -> None:
    _, standard = new_user(sql)
    _, premium = new_user(sql, tier="premium")
    first, second = _accept(standard), _accept(premium)
    s, p = _row(sql, first), _row(sql, second)
    assert (s["priority"], p["priority"]) == (0, 10)
    assert (s["max_wait_seconds"], p["max_wait_seconds"]) == (7200, 7200)
    assert s["ranked_at"] == s["created_at"]
    assert p["ranked_at"] == p["created_at"] - timedelta(seconds=600)  # 10 points x 60 s
    # the invocation for the standard program's event runs the premium one: it is more urgent
    assert invoke_generate(first) == "completed"
    assert (_row(sql, second)["generation_status"], _row(sql, first)["generation_status"]) == (
        "completed",
        "pending",
    )
    # the premium program's event, arriving later, runs the standard one
    assert invoke_generate(second) == "completed"
    assert _row(sql, first)["generation_status"] == "completed"


def test_priority_is_data_and_a_retry_takes_the_tiers_current_one(sql, handlers) -> None:
    _, token = new_user(sql)
    program_id = _accept(token)
    sql.execute(
        "UPDATE training_programs SET generation_status = 'failed', error_code = 'X' WHERE id = %s",
        (program_id,),
    )
    sql.execute("UPDATE subscription_tiers SET priority = 30, max_wait_seconds = 600 WHERE tier = 'standard'")
    status, _, _ = invoke_trigger(
        http_event("POST", f"/programs/{program_id}/retry", token=token), RecordingDispatcher()
    )
    assert status == 202
    row = _row(sql, program_id)
    assert (row["priority"], row["max_wait_seconds"]) == (30, 600)
    # ranked as if queued 30 minutes earlier (priority 30 x 60 s of aging), queued now
    assert row["ranked_at"] == row["queued_at"] - timedelta(seconds=30 * 60)


def test_a_row_released_for_another_attempt_keeps_its_place_in_the_queue(sql, handlers) -> None:
    from tests.support import process
    from tpg.generation.ports import GenerationError

    class Busy(OfflineProvider):
        def generate(self, *args, **kwargs):
            raise GenerationError("LLM_UNAVAILABLE", "busy", retryable=True)

    _, token = new_user(sql)
    older = _accept(token)
    ranked = _row(sql, older)["ranked_at"]
    _, other = new_user(sql)
    newer = _accept(other)
    assert process({"programId": str(older)}, provider=Busy()) == "released"
    row = _row(sql, older)
    assert (row["generation_status"], row["ranked_at"]) == ("pending", ranked)
    assert row["queued_at"] > row["created_at"]  # its wait bound starts again
    assert invoke_generate(newer) == "completed"  # any event: the older row goes first
    assert _row(sql, older)["generation_status"] == "completed"
    assert _row(sql, newer)["generation_status"] == "pending"


def test_under_a_sustained_premium_overload_a_standard_program_is_not_starved(sql, handlers) -> None:
    """Premium requests arrive faster than programs are claimed, before and after a standard one.
    With a premium head start of H (compressed here to 0.5 s), the standard program is claimed
    after every premium program that arrived before its own arrival + H, and before those that
    arrived later: it waits at most H longer than it would in arrival order. Without aging (strict
    priority) it would wait until the premium stream stopped."""
    aging = 0.05  # premium's 10 points: a head start of 0.5 s
    handlers.update(settings=handlers.settings.model_copy(update={"priority_aging_seconds": aging}))
    head_start = timedelta(seconds=10 * aging)
    deps = replace(handlers.trigger, dispatcher=RecordingDispatcher())
    premium = [seed_user(sql, tier="premium") for _ in range(400)]
    standard = seed_user(sql)
    for user in premium[:20]:  # a backlog already waiting
        service.request_generation(deps, user, CreateProgramRequest())
    standard_id = service.request_generation(deps, standard, CreateProgramRequest())

    claimed: list[uuid.UUID] = []
    done = threading.Event()

    def produce() -> None:
        for user in premium[20:]:
            if done.is_set():
                return
            service.request_generation(deps, user, CreateProgramRequest())

    producer = threading.Thread(target=produce)
    producer.start()
    db = handlers.generate.db
    try:
        deadline = time.monotonic() + 60
        while standard_id not in claimed and time.monotonic() < deadline:
            job = repository.claim_generation(db, uuid.uuid4(), lease_seconds=60, worker="consumer")
            if job is not None:
                claimed.append(job.program_id)
            time.sleep(0.04)  # slower than the premium arrivals: capacity is short
    finally:
        done.set()
        producer.join(timeout=30)

    assert standard_id in claimed, "the standard program was starved"
    s = _row(sql, standard_id)
    before = claimed[: claimed.index(standard_id)]
    arrived = {
        r["id"]: r["created_at"]
        for r in sql.execute("SELECT id, created_at FROM training_programs WHERE priority = 10").fetchall()
    }
    # never overtaken by a premium program that arrived more than the head start after it ...
    assert all(arrived[p] < s["created_at"] + head_start for p in before)
    # ... and it overtook the premium programs that did: they were still waiting when it started
    overtaken = [p for p, at in arrived.items() if at > s["created_at"] + head_start and p not in before]
    assert overtaken, "no premium program was waiting: the test did not overload the queue"
    assert len(before) >= 20


def test_a_backlog_of_ten_times_the_generate_concurrency_waits_and_nothing_fails(sql, handlers) -> None:
    """40 requests on 4 generate workers (20 s of work), with re-dispatching compressed to 1 s
    (doubling, capped at 2 s) and the sweeper running all the while: the last rows are dispatched
    more than 8 times while they only wait their turn (8 unanswered dispatches failed a row as
    NEVER_CLAIMED before 2026-12-02), and none is failed: the bound is the tier's time, 60 s here."""
    from tpg_local.server import LocalStack

    sql.execute("UPDATE subscription_tiers SET max_wait_seconds = 60")
    settings = handlers.settings.model_copy(
        update={"pending_redispatch_after_seconds": 1, "redispatch_max_interval_seconds": 2}
    )
    users = [seed_user(sql, tier="premium" if n % 10 == 0 else "standard") for n in range(40)]
    dispatches: Counter[uuid.UUID] = Counter()

    class Counting:
        def __init__(self, inner) -> None:
            self.inner = inner
            self.lock = threading.Lock()

        def dispatch(self, program_id, *, reason):
            with self.lock:
                dispatches[program_id] += 1
            self.inner.dispatch(program_id, reason=reason)

    with LocalStack(
        port=0, generate_concurrency=4, sweep_interval=0.2, settings=settings, realtime_port=None
    ) as stack:
        stack.wiring.update(
            dispatcher=Counting(stack.dispatcher), providers=lambda: OfflineProvider(latency_seconds=2.0)
        )
        deps = stack.wiring.trigger
        accepted = [service.request_generation(deps, user, CreateProgramRequest()) for user in users]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            left = sql.execute(
                "SELECT count(*) AS n FROM training_programs"
                " WHERE generation_status IN ('pending', 'processing')"
            ).fetchone()["n"]
            if left == 0:
                break
            time.sleep(0.2)
    rows = sql.execute(
        "SELECT generation_status, count(*) AS n FROM training_programs WHERE id = ANY(%s) GROUP BY 1",
        (accepted,),
    ).fetchall()
    assert {r["generation_status"]: r["n"] for r in rows} == {"completed": 40}
    assert max(dispatches.values()) > 8  # dispatched again and again while it only waited
    # premium programs started first: they were accepted among the others, yet waited least
    waits = sql.execute(
        "SELECT priority, max(extract(epoch FROM started_at - created_at)) AS longest"
        " FROM training_programs GROUP BY 1"
    ).fetchall()
    longest = {r["priority"]: float(r["longest"]) for r in waits}
    assert longest[10] < longest[0]
    from tpg_local.stats import collect_stats

    stats = collect_stats(sql, stuck_after_seconds=1800)
    assert list(stats.wait_by_priority) == ["10", "0"]  # most urgent first
    assert stats.wait_by_priority["10"]["n"] == 4 and stats.wait_by_priority["0"]["n"] == 36
    assert stats.oldest_wait is None  # nothing waits any more


def _plan_nodes(node: dict) -> list[dict]:
    return [node] + [n for child in node.get("Plans", []) for n in _plan_nodes(child)]


def test_the_claim_walks_its_index_in_rank_order_on_a_large_table(sql, handlers) -> None:
    """repository._CLAIM itself, planned on 20,000 rows of which 1,000 pending (statistics
    gathered): the pending row ranked first comes from the partial index in order, never from
    sorting the pending rows."""
    sql.execute(
        "INSERT INTO profiles (id, sex, birth_year, height_cm, weight_kg)"
        " SELECT gen_random_uuid(), 'male', 1990, 180, 80 FROM generate_series(1, 20000)"
    )
    sql.execute(
        """
        WITH u AS (SELECT id, row_number() OVER () AS n FROM profiles)
        INSERT INTO training_programs (user_id, name, generation_status, program, completed_at,
                                       created_at, ranked_at, queued_at, priority, attempts)
        SELECT id, 'p', CASE WHEN n <= 1000 THEN 'pending' ELSE 'completed' END,
               CASE WHEN n > 1000 THEN '{}'::jsonb END, CASE WHEN n > 1000 THEN now() END,
               now() - make_interval(secs => n), now() - make_interval(secs => n + (n % 2) * 600),
               now() - make_interval(secs => n), (n % 2) * 10, CASE WHEN n <= 1000 THEN 0 ELSE 1 END
        FROM u
        """
    )
    sql.execute("ANALYZE training_programs")
    params = {"id": uuid.uuid4(), "lease_seconds": 60, "worker": "explain"}
    with sql.transaction(force_rollback=True):  # EXPLAIN ANALYZE runs the UPDATE: undone
        (row,) = sql.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + repository._CLAIM, params).fetchall()
    plan = row["QUERY PLAN"][0]["Plan"]
    (first_pending,) = [n for n in _plan_nodes(plan) if n.get("Subplan Name") == "CTE first_pending"]
    nodes = _plan_nodes(first_pending)
    assert any(
        n["Node Type"] == "Index Scan" and n.get("Index Name") == "training_programs_claim_order_idx"
        for n in nodes
    ), nodes
    assert not [n for n in nodes if n["Node Type"] in ("Sort", "Incremental Sort", "Seq Scan")], nodes
    # it read the first row of the index, not the thousand pending ones
    (scan,) = [n for n in nodes if n["Node Type"] == "Index Scan"]
    assert scan["Actual Rows"] == 1


def test_concurrent_claims_take_each_row_exactly_once(sql, handlers) -> None:
    """8 workers claiming until nothing is left, on 40 pending rows: every row claimed once, by
    one worker, at attempt 1."""
    programs = set()
    for n in range(40):
        _, token = new_user(sql, tier="premium" if n % 3 == 0 else "standard")
        programs.add(_accept(token))
    db = handlers.generate.db
    claims: list[tuple[uuid.UUID, int, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def work(n: int) -> None:
        start.wait()
        while (
            job := repository.claim_generation(db, uuid.uuid4(), lease_seconds=60, worker=f"w{n}")
        ) is not None:
            with lock:
                claims.append((job.program_id, job.attempt, f"w{n}"))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    claimed = [c[0] for c in claims]
    assert sorted(claimed) == sorted(programs) and len(set(claimed)) == 40
    assert {c[1] for c in claims} == {1}
    rows = sql.execute(
        "SELECT id, attempts, claimed_by FROM training_programs WHERE id = ANY(%s)", (list(programs),)
    ).fetchall()
    by_worker = {c[0]: c[2] for c in claims}
    assert all(r["attempts"] == 1 and r["claimed_by"] == by_worker[r["id"]] for r in rows)


def test_a_failed_invocation_is_logged_with_the_row_it_claimed_not_its_events(sql, handlers) -> None:
    """The claim ran the premium row for the standard row's event; the invocation then died: the
    on-failure record names the event's row, the log names the row whose lease it ended."""
    import io
    import json
    import logging

    from tpg.platform.observability import logger
    from tpg.worker.sweeper import consume_failed_invocations

    _, standard = new_user(sql)
    _, premium = new_user(sql, tier="premium")
    event_row, urgent = _accept(standard), _accept(premium)
    job = repository.claim_generation(handlers.generate.db, event_row, lease_seconds=600, worker="req-9")
    assert job is not None and job.program_id == urgent
    record = {
        "messageId": "m-1",
        "body": json.dumps(
            {
                "requestContext": {"requestId": "req-9", "condition": "RetriesExhausted"},
                "requestPayload": {"programId": str(event_row)},
            }
        ),
    }
    # the service's logger writes JSON lines to its own handler: read them from a buffer
    previous = logger.log_level
    logger.setLevel(logging.INFO)
    buffer = io.StringIO()
    stream = logger.registered_handler.setStream(buffer)
    try:
        assert consume_failed_invocations(handlers.generate.db, [record]) == []
    finally:
        logger.registered_handler.setStream(stream)
        logger.setLevel(previous)
    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    (logged,) = [line for line in lines if line.get("message") == "generate invocation failed"]
    assert (logged["program_id"], logged["event_program_id"], logged["lease_ended"]) == (
        str(urgent),
        str(event_row),
        True,
    )
    assert _row(sql, urgent)["lease_expires_at"] <= _row(sql, urgent)["updated_at"]
