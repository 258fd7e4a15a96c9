"""Fault-injection campaign: many generations through the local stack while things break.

Faults, each drawn at random per event or per attempt:
- LLM: a retryable provider error (overload, timeout) or garbage (an unsafe program, which
  validation must refuse);
- the worker's database connection killed between the claim and the finish;
- the worker dying mid-attempt (its lease must expire and the sweeper must reclaim the row);
- duplicate and late events; failed dispatches (the trigger still answers 202);
- cancellations: the owner cancels at a random moment (`POST /programs/{id}/cancel`), while the
  program waits, runs, or has just finished;
- sweepers running concurrently with the workers, on two threads.

It reports what the invariants promise: every accepted request final (stuck = 0), never more than
one LLM call per claimed attempt, and no cancel answered 202 on a program that then completed.
Run: `python -m tests.chaos.campaign --generations 300`.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import threading
import time
import uuid
import warnings
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from tpg.generation.offline import OfflineProvider
from tpg.generation.ports import GenerationError
from tpg.platform.errors import DispatchError
from tpg.platform.settings import Settings
from tpg.store import db
from tpg.store.db import Database

FAULTS = (
    "llm_error",
    "llm_garbage",
    "db_killed",
    "worker_died",
    "duplicate",
    "late",
    "dispatch_failed",
    "cancelled",
)


class WorkerDied(BaseException):  # noqa: N818 - models a crash, not an error the worker handles
    """Ends the invocation the way a timeout or a crash does: nothing is written after it."""


@dataclass
class Tally:
    faults: Counter[str] = field(default_factory=Counter)
    llm_calls: Counter[UUID] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fault(self, name: str) -> None:
        with self.lock:
            self.faults[name] += 1


class ChaosProvider(OfflineProvider):
    """The offline engine with faults injected where an LLM call would be."""

    def __init__(self, rng: random.Random, rate: float, tally: Tally, admin_url: str) -> None:
        super().__init__(latency_seconds=0.02)
        self.rng, self.rate, self.tally, self.admin_url = rng, rate, tally, admin_url
        self.database: Database | None = None  # the workers' database access (the stack's)

    def generate(self, data: Any, request: Any, *, on_progress: Any) -> Any:
        with self.tally.lock:
            self.tally.llm_calls[data.user.user_id] += 1
            roll = self.rng.random()
            kind = self.rng.choice(("llm_error", "llm_garbage", "db_killed", "worker_died"))
        if roll < self.rate:
            self.tally.fault(kind)
            if kind == "llm_error":
                raise GenerationError("LLM_UNAVAILABLE", "The model is overloaded.", retryable=True)
            if kind == "worker_died":
                raise WorkerDied()
            if kind == "db_killed":
                assert self.database is not None
                pid = self.database.connection().info.backend_pid
                with psycopg.connect(self.admin_url, autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        result = super().generate(data, request, on_progress=on_progress)
        if roll < self.rate and kind == "llm_garbage":
            # schema-valid but unsafe: every exercise replaced by one the catalog does not know
            program = result.program.model_copy(deep=True)
            for week in program.schedule:
                for day in week.days:
                    for exercise in day.exercises:
                        exercise.exercise_id = "made_up_exercise"
            return type(result)(program=program, model=result.model, usage=result.usage)
        return result


class ChaosDispatcher:
    """Wraps the local dispatcher: fails, duplicates or delays hand-offs at random."""

    def __init__(self, inner: Any, rng: random.Random, rate: float, tally: Tally) -> None:
        self.inner, self.rng, self.rate, self.tally = inner, rng, rate, tally
        self._timers: list[threading.Timer] = []

    def dispatch(self, program_id: UUID, *, reason: str) -> None:
        roll, kind = self.rng.random(), self.rng.choice(("duplicate", "late", "dispatch_failed"))
        if roll >= self.rate:
            return self.inner.dispatch(program_id, reason=reason)
        self.tally.fault(kind)
        if kind == "dispatch_failed":
            raise DispatchError("chaos")
        self.inner.dispatch(program_id, reason=reason)
        if kind == "duplicate":
            self.inner.dispatch(program_id, reason=reason)
        else:  # a late copy of the same event arrives after the first one was handled
            timer = threading.Timer(self.rng.uniform(0.5, 3.0), self._late, (program_id, reason))
            timer.daemon = True
            self._timers.append(timer)
            timer.start()
        return None

    def _late(self, program_id: UUID, reason: str) -> None:
        with suppress(DispatchError):
            self.inner.dispatch(program_id, reason=reason)


class Canceller:
    """Cancels accepted programs at random moments through the API, as their owners would, and
    keeps each answer (status, and `status` of a 202) by program."""

    def __init__(self, url: str, rng: random.Random, rate: float, tally: Tally) -> None:
        self.url, self.rng, self.rate, self.tally = url, rng, rate, tally
        self.answers: dict[str, tuple[int, str | None]] = {}
        self._timers: list[threading.Timer] = []
        self._lock = threading.Lock()

    def maybe_cancel(self, program_id: str, token: str) -> None:
        if self.rng.random() >= self.rate:
            return
        self.tally.fault("cancelled")
        # within a generation's usual life here (under a second): waiting, running or just done
        timer = threading.Timer(self.rng.uniform(0.0, 0.6), self._cancel, (program_id, token))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _cancel(self, program_id: str, token: str) -> None:
        from tpg_local.client import call

        try:
            response = call(self.url, "POST", f"/programs/{program_id}/cancel", token=token)
        except OSError:
            return
        body = response.body if isinstance(response.body, dict) else {}
        with self._lock:
            self.answers[program_id] = (response.status, body.get("status"))

    def join(self) -> None:
        for timer in self._timers:
            timer.join(timeout=10)


@dataclass
class Report:
    generations: int
    seconds: float
    accepted: int
    completed: int
    failed_by_code: dict[str, int]
    stuck: int
    extra_llm_calls: int
    faults: dict[str, int]
    longest_to_final: float
    median_to_final: float
    cancelled: int = 0
    # the cancel requests' answers: "202 cancelled" (it was pending), "202 processing" (its worker
    # was asked to stop), "409" (already final)
    cancel_answers: dict[str, int] = field(default_factory=dict)
    # a cancel answered 202 on a program that completed all the same (must be 0)
    cancelled_yet_completed: int = 0

    def render(self) -> str:
        lines = [
            f"fault-injection campaign: {self.generations} generations in {self.seconds:.1f} s",
            f"  accepted (202)            {self.accepted}",
            f"  completed                 {self.completed}",
            f"  failed                    {sum(self.failed_by_code.values())}  {dict(self.failed_by_code)}",
            f"  cancelled                 {self.cancelled}"
            f"  cancel answers {dict(sorted(self.cancel_answers.items()))}",
            f"  stuck (must be 0)         {self.stuck}",
            f"  cancel answered 202, program completed anyway (must be 0)  {self.cancelled_yet_completed}",
            f"  LLM calls beyond one per claimed attempt (must be 0)  {self.extra_llm_calls}",
            f"  faults injected           {sum(self.faults.values())}  {dict(sorted(self.faults.items()))}",
            f"  time to final status      median {self.median_to_final:.2f} s,"
            f" longest {self.longest_to_final:.2f} s",
        ]
        return "\n".join(lines)


def _campaign_settings(database_url: str, lease_seconds: int) -> Settings:
    return Settings.model_validate(
        {
            "database_url": database_url,
            "jwt_secret": "chaos-campaign-secret-0123456789abcdef",
            "lease_seconds": lease_seconds,
            "pending_redispatch_after_seconds": 1,
            "redispatch_max_interval_seconds": 2,
            "max_attempts": 3,
            "default_daily_quota": 1000,
            "llm_provider": "offline",
        }
    )


def run_campaign(
    database_url: str,
    *,
    generations: int,
    fault_rate: float = 0.3,
    seed: int = 7,
    concurrency: int = 8,
    deadline_seconds: float = 240.0,
    lease_seconds: int = 2,
) -> Report:
    """Run the campaign against `database_url` (migrated; its users and programs are added to)."""
    from tpg.api.auth import issue_token
    from tpg.platform.observability import logger
    from tpg_local.client import call
    from tpg_local.seed import seed_user
    from tpg_local.server import LocalStack

    rng = random.Random(seed)
    tally = Tally()
    provider = ChaosProvider(random.Random(seed + 1), fault_rate, tally, database_url)
    logger.setLevel("CRITICAL")
    settings = _campaign_settings(database_url, lease_seconds)
    started = time.monotonic()
    try:
        with psycopg.connect(database_url, autocommit=True, prepare_threshold=None) as conn:  # poolers
            users = [seed_user(conn, persona="hypertrophy_hannah") for _ in range(generations)]
        secret = settings.jwt_signing_secret
        with LocalStack(
            port=0, generate_concurrency=concurrency, sweep_interval=None, settings=settings
        ) as stack:
            chaos = ChaosDispatcher(stack.dispatcher, rng, fault_rate, tally)
            # the handlers' seams: every attempt gets the faults, every hand-off goes through chaos
            stack.wiring.update(dispatcher=chaos, providers=lambda: provider)
            provider.database = stack.wiring.generate.db
            canceller = Canceller(stack.url, random.Random(seed + 2), fault_rate / 2, tally)
            stop = threading.Event()
            sweepers = [
                threading.Thread(target=_sweep_until, args=(stop, stack), daemon=True) for _ in range(2)
            ]
            for sweeper in sweepers:
                sweeper.start()
            accepted: list[str] = []
            for user_id in users:
                token = issue_token(user_id, secret=secret)
                response = call(stack.url, "POST", "/programs", token=token)
                if response.status == 202:
                    accepted.append(response.body["programId"])
                    canceller.maybe_cancel(response.body["programId"], token)
            canceller.join()
            final = _wait_all_final(database_url, accepted, deadline_seconds)
            stop.set()
            for sweeper in sweepers:
                sweeper.join(timeout=5)
            stack.dispatcher.drain(timeout=30)
    finally:
        db.close_all()

    rows = {str(r["id"]): r for r in final}
    by_user_attempts: Counter[UUID] = Counter()
    for row in final:
        by_user_attempts[row["user_id"]] += row["attempts"]
    extra = sum(max(0, calls - by_user_attempts[user]) for user, calls in tally.llm_calls.items())
    durations = [r["seconds_to_final"] for r in final if r["seconds_to_final"] is not None]
    return Report(
        generations=generations,
        seconds=time.monotonic() - started,
        accepted=len(accepted),
        completed=sum(1 for r in rows.values() if r["generation_status"] == "completed"),
        failed_by_code=dict(
            Counter(r["error_code"] for r in rows.values() if r["generation_status"] == "failed")
        ),
        stuck=sum(
            1 for r in rows.values() if r["generation_status"] in ("pending", "processing", "cancelling")
        ),
        extra_llm_calls=extra,
        faults=dict(tally.faults),
        longest_to_final=max(durations, default=0.0),
        median_to_final=statistics.median(durations) if durations else 0.0,
        cancelled=sum(1 for r in rows.values() if r["generation_status"] == "cancelled"),
        cancel_answers=dict(
            Counter(
                f"{status} {shown}" if status == 202 else str(status)
                for status, shown in canceller.answers.values()
            )
        ),
        cancelled_yet_completed=sum(
            1
            for program_id, (status, _) in canceller.answers.items()
            if status == 202 and rows[program_id]["generation_status"] == "completed"
        ),
    )


def _sweep_until(stop: threading.Event, stack: Any) -> None:
    from tpg.worker.sweeper import sweep

    while not stop.wait(0.2):
        try:
            sweep(stack.wiring.sweeper)
        except Exception:  # noqa: S112 - a sweep racing a killed connection retries on the next tick
            continue


def _wait_all_final(url: str, program_ids: list[str], deadline_seconds: float) -> list[dict[str, Any]]:
    query = (
        "SELECT id, user_id, generation_status, error_code, attempts,"
        " CASE WHEN generation_status IN ('completed', 'failed', 'cancelled')"
        "      THEN extract(epoch FROM coalesce(completed_at, updated_at) - created_at)::float END"
        "      AS seconds_to_final"
        " FROM training_programs WHERE id = ANY(%s::uuid[])"
    )
    deadline = time.monotonic() + deadline_seconds
    with psycopg.connect(
        url, autocommit=True, row_factory=dict_row, prepare_threshold=None
    ) as conn:  # poolers
        while True:
            rows = conn.execute(query, (program_ids,)).fetchall()
            in_flight = [r for r in rows if r["generation_status"] in ("pending", "processing", "cancelling")]
            if not in_flight or time.monotonic() > deadline:
                return rows
            time.sleep(0.25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=300)
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # Powertools' own switch: no EMF here

    from tpg_local.embedded_db import create_database, drop_database, start_embedded_server
    from tpg_local.migrate import migrate

    server = os.environ.get("DATABASE_URL") or start_embedded_server()
    name = f"tpg_chaos_{uuid.uuid4().hex[:8]}"
    url = create_database(server, name)
    try:
        migrate(url)
        report = run_campaign(url, generations=args.generations, fault_rate=args.fault_rate, seed=args.seed)
    finally:
        drop_database(server, name)
    print(report.render())
    healthy = (
        report.accepted == report.generations
        and report.stuck == 0
        and report.extra_llm_calls == 0
        and report.cancelled_yet_completed == 0
    )
    raise SystemExit(0 if healthy else 1)


if __name__ == "__main__":
    main()
