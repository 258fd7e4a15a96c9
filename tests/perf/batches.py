"""Batch benchmark (run by `tests.perf.bench`, `make bench`): a batch of 1,000 members with 20
interactive requests arriving meanwhile, against the same run without the batch.

The local stack (HTTP, generate concurrency 20, the sweeper every second, the batch step in it),
the real SDK against the fake Messages API (its latency model, time-scaled, and its realistic
answers: a share of them fail validation and take the normal queue with a repair round), the fake
run in its own process, as Anthropic's servers are not ours. Interactive requests arrive one every
0.5 s; in the batch run they start once the batch's first answers are being collected, so they
meet the collection and the members' fallbacks in generate.

Reported: interactive 202 -> completed (the row's created_at -> completed_at) p50/p95 with and
without the batch (p95 ratio goal <= 1.2), the batch's wall time to every member final, where its
members' programs came from, and the LLM cost per completed member against the cost per interactive
program (estimated from the stored tokens at the configured list prices, the batch price for batch
answers).
"""

from __future__ import annotations

import contextlib
import itertools
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from tests.perf.measure import Row, median, p95

ROOT = Path(__file__).resolve().parents[2]
CONCURRENCY = 20
SLOTS = 10
TIME_SCALE = 0.05
ARRIVAL_INTERVAL = 0.5
BATCH_SECONDS = 3.0  # how long the fake's Message Batches take to end


@contextlib.contextmanager
def fake_in_its_own_process(*, time_scale: float, batch_seconds: float) -> Iterator[str]:
    """The fake Messages API (realistic answers, latency model) in a subprocess; yields its URL."""
    process = subprocess.Popen(  # noqa: S603 - this interpreter, this module
        [sys.executable, "-m", "tests.perf.batches", "--serve-fake", str(time_scale), str(batch_seconds)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://"), url
        yield url
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)


def _serve_fake(time_scale: float, batch_seconds: float) -> None:
    from tests.fakes.anthropic_server import FakeAnthropic, Realistic

    with FakeAnthropic(latency=True, time_scale=time_scale) as fake:
        fake.default = Realistic()
        fake.batch_seconds = batch_seconds
        print(fake.url, flush=True)
        sys.stdin.read()  # until the parent closes it


def _settings(base: Any, fake_url: str) -> Any:
    from tests.perf.bench import _claude_settings

    values = _claude_settings(SimpleNamespace(url=fake_url), today=False, scale=TIME_SCALE)
    values.update(
        batch_chunk_size=500,
        batch_queue_slots=SLOTS,
        batch_step_seconds=5,
        priority_aging_seconds=60,
    )
    return type(base).model_validate({**base.model_dump(), **values})  # validated: the key is a secret


def _seed(url: str, n: int) -> list[UUID]:
    from tpg_local.personas import PERSONAS
    from tpg_local.seed import seed_user

    personas = itertools.cycle(sorted(PERSONAS))
    with psycopg.connect(url, autocommit=True) as conn:
        return [seed_user(conn, persona=next(personas)) for _ in range(n)]


def _interactive(stack: Any, settings: Any, users: list[UUID]) -> list[str]:
    """One request per user, one every ARRIVAL_INTERVAL seconds, each on its own thread."""
    from tpg_local.client import call
    from tpg_local.seed import token_for

    ids: list[str] = []
    lock = threading.Lock()

    def post(user: UUID) -> None:
        answer = call(stack.url, "POST", "/programs", token=token_for(user, settings), body={}, timeout=30)
        assert answer.status == 202, answer.body
        with lock:
            ids.append(answer.body["programId"])

    threads = []
    for user in users:
        thread = threading.Thread(target=post, args=(user,))
        thread.start()
        threads.append(thread)
        time.sleep(ARRIVAL_INTERVAL)
    for thread in threads:
        thread.join()
    return ids


def _wait_final(url: str, where: str, args: tuple[Any, ...], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM training_programs WHERE "  # noqa: S608 - constant condition
                + where
                + " AND generation_status IN ('pending', 'batched', 'processing', 'cancelling')",
                args,
            ).fetchone()
            if row is not None and row[0] == 0:
                return
            time.sleep(0.2)
    raise TimeoutError("programs still in flight")


def _programs(url: str, where: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT generation_status, fallback_tier, llm_cost_usd, usage, created_at, completed_at,"  # noqa: S608
            " extract(epoch FROM completed_at - created_at)::float AS seconds FROM training_programs WHERE "
            + where,
            args,
        ).fetchall()


def _first_member_completed(url: str, batch_id: str, timeout: float) -> float:
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() - started < timeout:
            row = conn.execute(
                "SELECT count(*) FROM training_programs"
                " WHERE batch_id = %s AND generation_status = 'completed'",
                (batch_id,),
            ).fetchone()
            if row is not None and row[0] > 0:
                return time.monotonic() - started
            time.sleep(0.05)
    raise TimeoutError("no batch member completed")


def rows(url: str, base_settings: Any, *, quick: bool) -> list[Row]:
    from tpg.api.auth import issue_service_token
    from tpg_local.client import call
    from tpg_local.personas import PERSONAS
    from tpg_local.server import LocalStack

    members, interactive = (200, 10) if quick else (1000, 20)
    baseline_users, batch_users, roster = (
        _seed(url, interactive),
        _seed(url, interactive),
        _seed(url, members),
    )
    with fake_in_its_own_process(time_scale=TIME_SCALE, batch_seconds=BATCH_SECONDS) as fake_url:
        settings = _settings(base_settings, fake_url)
        with LocalStack(
            port=0,
            generate_concurrency=CONCURRENCY,
            sweep_interval=1.0,
            settings=settings,
            realtime_port=None,
        ) as stack:
            # Warm the process (imports, connections) and the fake's plan of each persona (the
            # interactive users of both runs are the same personas in the same order).
            _interactive(stack, settings, _seed(url, len(PERSONAS)))
            baseline = _interactive(stack, settings, baseline_users)
            _wait_final(url, "id = ANY(%s::uuid[])", (baseline,), timeout=120)

            service = issue_service_token("bench", secret=settings.jwt_signing_secret)
            started = time.monotonic()
            created = call(
                stack.url,
                "POST",
                "/batches",
                token=service,
                body={"userIds": [str(u) for u in roster]},
                timeout=60,
            )
            assert created.status == 202, created.body
            batch_id = created.body["batchId"]
            first_answer = _first_member_completed(url, batch_id, timeout=300)
            during = _interactive(stack, settings, batch_users)
            _wait_final(url, "id = ANY(%s::uuid[])", (during,), timeout=300)
            _wait_final(url, "batch_id = %s", (batch_id,), timeout=900)
            batch_wall = time.monotonic() - started
    return _report(url, baseline, during, batch_id, batch_wall, first_answer, members, interactive)


def _report(
    url: str,
    baseline: list[str],
    during: list[str],
    batch_id: str,
    batch_wall: float,
    first_answer: float,
    members: int,
    interactive: int,
) -> list[Row]:
    alone = [r["seconds"] for r in _programs(url, "id = ANY(%s::uuid[])", (baseline,))]
    meanwhile = [r["seconds"] for r in _programs(url, "id = ANY(%s::uuid[])", (during,))]
    stored = _programs(url, "batch_id = %s", (batch_id,))
    interactive_rows = _programs(url, "id = ANY(%s::uuid[])", (baseline + during,))
    statuses = Counter(r["generation_status"] for r in stored)
    tiers = Counter(r["fallback_tier"] for r in stored if r["generation_status"] == "completed")
    member_cost = [float(r["llm_cost_usd"] or 0) for r in stored if r["generation_status"] == "completed"]
    answer_only = [
        float(r["llm_cost_usd"] or 0)
        for r in stored
        if r["fallback_tier"] == "batch"
        and len(r["usage"].get("tiers", [])) == 1
        and not r["usage"]["tiers"][0].get("repaired")
    ]
    interactive_cost = [
        float(r["llm_cost_usd"] or 0) for r in interactive_rows if r["generation_status"] == "completed"
    ]
    ratio = p95(meanwhile) / p95(alone)
    per_member, per_interactive = (
        sum(member_cost) / len(member_cost),
        sum(interactive_cost) / len(interactive_cost),
    )
    setup = f"concurrency {CONCURRENCY}, BATCH_QUEUE_SLOTS {SLOTS}, fake LLM x{TIME_SCALE:g}"
    return [
        Row(
            "Batches",
            f"{interactive} interactive requests, 1 per {ARRIVAL_INTERVAL:g} s, during a batch of {members}:"
            " 202 -> completed",
            median(meanwhile),
            p95(meanwhile),
            f"without the batch p95 {p95(alone):.2f} s",
            ratio,
            "p95 <= 1.2x",
            ratio <= 1.2,
            f"{setup}; without: p50 {median(alone):.2f} s",
        ),
        Row(
            "Batches",
            f"  the batch of {members}: POST /batches -> every member final",
            batch_wall,
            unit="s",
            note=f"{dict(statuses)}; first answer stored after {first_answer:.1f} s (Message Batches end"
            f" after {BATCH_SECONDS:g} s); programs by tier {dict(tiers)}",
        ),
        Row(
            "Batches",
            "  LLM cost per completed member vs per interactive program (list prices)",
            per_member,
            None,
            f"interactive ${per_interactive:.5f}",
            per_member / per_interactive,
            "< 1x",
            per_member < per_interactive,
            f"answers valid at once (batch price only, never in generate): {len(answer_only)} of"
            f" {len(member_cost)}, ${sum(answer_only) / max(1, len(answer_only)):.5f} each; the rest add a"
            " live repair or tier (the fake's slip rates)",
            unit="USD",
        ),
    ]


def main(argv: list[str]) -> int:
    """This section alone, printed (`python -m tests.perf.batches [--quick]`); `make bench` runs it too."""
    import os

    from tests.perf import bench
    from tests.perf.measure import markdown_table

    os.environ.update(JWT_SECRET=bench.JWT_SECRET, DISPATCH_MODE="local", POWERTOOLS_METRICS_DISABLED="true")
    for name in ("ANTHROPIC_API_KEY", "LLM_PROVIDER", "OFFLINE_LATENCY_SECONDS"):
        os.environ.pop(name, None)
    with bench.quiet_stdout() as report, bench.fresh_database() as (_, url):
        bench.use_database(url)
        table = markdown_table(rows(url, bench.wiring().settings, quick="--quick" in argv))
        print(table, file=report)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve-fake"]:
        _serve_fake(float(sys.argv[2]), float(sys.argv[3]))
    else:
        raise SystemExit(main(sys.argv[1:]))
