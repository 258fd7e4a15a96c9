"""`tpg stats` figures from a real PostgreSQL database."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.support import RecordingDispatcher, http_event, invoke_generate, invoke_trigger, new_user
from tpg_local.stats import Stats, collect_stats, format_stats


def _program(
    sql: psycopg.Connection,
    status: str,
    *,
    created_ago: float = 600,
    started_ago: float | None = None,
    completed_ago: float | None = None,
    updated_ago: float = 0,
    error_code: str | None = None,
    fallback_tier: str | None = None,
    usage: dict | None = None,
) -> uuid.UUID:
    user_id, _ = new_user(sql)  # one in-flight row per user (I1): a user per row
    # Times relative to the server's now(), as the stats query's own now() is.
    row = sql.execute(
        "INSERT INTO training_programs (user_id, name, generation_status, program, attempts,"
        " lease_expires_at, created_at, started_at, completed_at, updated_at, error_code, fallback_tier,"
        " usage)"
        " VALUES (%(user)s, 'p', %(status)s,"
        " CASE WHEN %(status)s = 'completed' THEN '{}'::jsonb END,"
        " CASE WHEN %(status)s = 'pending' THEN 0 ELSE 1 END,"
        " CASE WHEN %(status)s = 'processing' THEN now() + interval '1 hour' END,"
        " now() - make_interval(secs => %(created)s),"
        " now() - make_interval(secs => %(started)s), now() - make_interval(secs => %(completed)s),"
        " now() - make_interval(secs => %(updated)s), %(code)s, %(tier)s, %(usage)s) RETURNING id",
        {
            "user": user_id,
            "status": status,
            "created": created_ago,
            "started": started_ago,
            "completed": completed_ago,
            "updated": updated_ago,
            "code": error_code,
            "tier": fallback_tier,
            "usage": Jsonb(usage) if usage is not None else None,
        },
    ).fetchone()
    return row["id"]


def test_an_empty_database(sql) -> None:
    stats = collect_stats(sql, stuck_after_seconds=1800)
    assert stats == Stats(
        total=0, completed=0, failed=0, pending=0, processing=0, stuck=0, stuck_after_seconds=1800
    )
    assert stats.success_rate is None
    assert "success rate" in format_stats(stats) and "(none)" in format_stats(stats)


def test_the_figures(sql) -> None:
    # generation times 10, 20, 30, 40 s; delivery 5 s more each (created 5 s before the claim)
    for seconds, tier in ((10, "claude-full"), (20, "claude-full"), (30, "claude-simple"), (40, "offline")):
        _program(
            sql,
            "completed",
            created_ago=1000 + seconds + 5,
            started_ago=1000 + seconds,
            completed_ago=1000,
            fallback_tier=tier,
            usage={"input_tokens": 1000, "output_tokens": 250, "requests": 1, "latency_ms": 9, "model": "m"},
        )
    _program(sql, "failed", error_code="LLM_UNAVAILABLE")
    _program(sql, "failed", error_code="LLM_UNAVAILABLE")
    _program(sql, "failed", error_code="WORKER_LOST")
    _program(sql, "pending", updated_ago=10)
    _program(sql, "processing", updated_ago=60)
    _program(sql, "processing", updated_ago=4000)  # stuck: unchanged for over an hour

    stats = collect_stats(sql, stuck_after_seconds=1800)

    assert (stats.total, stats.completed, stats.failed) == (10, 4, 3)
    assert (stats.pending, stats.processing, stats.in_flight, stats.stuck) == (1, 2, 3, 1)
    assert stats.success_rate == pytest.approx(4 / 7)
    assert stats.generation_p50 == pytest.approx(25, abs=0.01)  # percentile_cont interpolates
    assert stats.generation_p95 == pytest.approx(38.5, abs=0.01)
    assert stats.generation_avg == pytest.approx(25, abs=0.01)
    assert stats.delivery_p50 == pytest.approx(30, abs=0.01)
    assert stats.errors_by_code == {"LLM_UNAVAILABLE": 2, "WORKER_LOST": 1}
    assert stats.fallback_tiers == {"claude-full": 2, "claude-simple": 1, "offline": 1}
    assert stats.usage_totals == {"input_tokens": 4000, "output_tokens": 1000, "requests": 4}

    table = format_stats(stats)
    for expected in ("57.1%", "LLM_UNAVAILABLE", "claude-simple", "4,000", "25.0", "38.5"):
        assert expected in table


def test_since_limits_the_rows_by_creation_time(sql) -> None:
    _program(sql, "failed", created_ago=7200, error_code="OLD")
    _program(sql, "completed", created_ago=60, started_ago=50, completed_ago=10)
    since = sql.execute("SELECT now() - interval '1 hour' AS t").fetchone()["t"]
    stats = collect_stats(sql, since=since, stuck_after_seconds=1800)
    assert (stats.total, stats.completed, stats.failed, stats.errors_by_code) == (1, 1, 0, {})
    assert "since" in format_stats(stats)


def test_the_stuck_threshold_defaults_to_twice_the_lease(sql, monkeypatch) -> None:
    monkeypatch.setenv("GENERATION_LEASE_SECONDS", "100")  # `tpg stats` reads the environment
    _program(sql, "pending", updated_ago=150)
    _program(sql, "processing", updated_ago=250)
    stats = collect_stats(sql)
    assert (stats.stuck_after_seconds, stats.stuck) == (200, 1)


def test_a_real_generation_is_counted(sql) -> None:
    _, token = new_user(sql)
    _, _, body = invoke_trigger(http_event("POST", "/programs", token=token), RecordingDispatcher())
    before = collect_stats(sql)
    assert (before.pending, before.completed) == (1, 0)

    assert invoke_generate(body["programId"]) == "completed"

    after = collect_stats(sql)
    assert (after.completed, after.in_flight, after.success_rate) == (1, 0, 1.0)
    assert after.generation_p50 is not None and after.generation_p50 >= 0
    assert after.fallback_tiers == {"offline": 1}


def test_one_round_trip(sql) -> None:
    queries: list[str] = []

    class Counting(psycopg.Cursor):
        def execute(self, query, params=None, **kwargs):  # type: ignore[override]
            queries.append(str(query))
            return super().execute(query, params, **kwargs)

    sql.cursor_factory = Counting
    collect_stats(sql, stuck_after_seconds=60)
    assert len(queries) == 1


def test_the_tpg_stats_command(sql, capsys) -> None:
    import json

    from tpg_local.cli import main

    _program(sql, "failed", error_code="LLM_AUTH")
    assert main(["stats"]) == 0
    assert "LLM_AUTH" in capsys.readouterr().out
    assert main(["stats", "--json", "--hours", "1"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert (figures["failed"], figures["success_rate"]) == (1, 0.0)
    assert figures["errors_by_code"] == {"LLM_AUTH": 1}
