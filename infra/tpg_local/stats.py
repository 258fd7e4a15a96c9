"""`tpg stats`: the dashboard's figures computed from the database, for local use.

One SQL statement (one round trip) over `training_programs`, optionally limited to rows created
since a given time. Definitions match the CloudWatch metrics where the database can say:

- success rate: completed / (completed + failed) among finished rows (a cancel is the user's
  choice, not a failure: cancelled rows are counted apart);
- generation time: first claim (`started_at`) to completion, retries included; request to
  delivery: creation to completion (the RequestToDeliveryTime metric);
- stuck: in flight with no change for 2x the lease, the sweeper's StuckGenerations gauge;
- waiting: pending rows and the longest wait since a row was queued (the sweeper's
  GenerationsWaiting and OldestWaitingGeneration); wait to start: creation to first claim, by
  the priority stored with the row (the GenerationQueueWait metric counts every claim);
- cancelled, and cancelling (a processing row whose worker is stopping, shown to its owner as
  processing with cancelRequested); cancel to stop: the cancel request to the worker's stop, for
  programs cancelled while running (the CancellationLatency metric);
- batches: members (rows with a batch id), batched (waiting on their Message Batch: in flight),
  their LLM tokens and cost (batch answers at the batch price, fallbacks at the list price) per
  completed member, beside the same for the other (interactive) programs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

_STATS = """
WITH scope AS (
    SELECT generation_status, error_code, fallback_tier, usage, created_at, started_at,
           completed_at, updated_at, llm_cost_usd, priority, queued_at, cancel_requested_at,
           batch_id, input_tokens, output_tokens
    FROM training_programs
    WHERE %(since)s::timestamptz IS NULL OR created_at >= %(since)s::timestamptz
),
done AS (
    SELECT extract(epoch FROM completed_at - started_at) AS generation_s,
           extract(epoch FROM completed_at - created_at) AS delivery_s
    FROM scope
    WHERE generation_status = 'completed' AND completed_at IS NOT NULL
),
stopped AS (
    -- cancelled while running: the cancel was asked before the row's last change (the stop)
    SELECT extract(epoch FROM updated_at - cancel_requested_at) AS cancel_s
    FROM scope
    WHERE generation_status = 'cancelled' AND updated_at > cancel_requested_at
),
started AS (
    SELECT priority, extract(epoch FROM started_at - created_at) AS wait_s
    FROM scope WHERE started_at IS NOT NULL
)
SELECT
    (SELECT count(*) FROM scope) AS total,
    (SELECT count(*) FROM scope WHERE generation_status = 'completed') AS completed,
    (SELECT count(*) FROM scope WHERE generation_status = 'failed') AS failed,
    (SELECT count(*) FROM scope WHERE generation_status = 'pending') AS pending,
    (SELECT count(*) FROM scope WHERE generation_status = 'processing') AS processing,
    (SELECT count(*) FROM scope WHERE generation_status = 'cancelling') AS cancelling,
    (SELECT count(*) FROM scope WHERE generation_status = 'cancelled') AS cancelled,
    (SELECT extract(epoch FROM now() - min(queued_at)) FROM scope
      WHERE generation_status = 'pending') AS oldest_wait,
    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY cancel_s) FROM stopped) AS cancel_p50,
    (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY cancel_s) FROM stopped) AS cancel_p95,
    (SELECT coalesce(jsonb_object_agg(priority, jsonb_build_object('n', n, 'p50', p50, 'p95', p95)),
                     '{}'::jsonb) FROM (
        SELECT priority, count(*) AS n,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY wait_s) AS p50,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY wait_s) AS p95
        FROM started GROUP BY priority) w) AS wait_by_priority,
    (SELECT count(*) FROM scope
      WHERE generation_status IN ('pending', 'processing', 'cancelling')
        AND updated_at < now() - make_interval(secs => %(stuck_after)s)) AS stuck,
    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY generation_s) FROM done) AS generation_p50,
    (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY generation_s) FROM done) AS generation_p95,
    (SELECT avg(generation_s) FROM done) AS generation_avg,
    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY delivery_s) FROM done) AS delivery_p50,
    (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY delivery_s) FROM done) AS delivery_p95,
    (SELECT avg(delivery_s) FROM done) AS delivery_avg,
    (SELECT coalesce(jsonb_object_agg(code, n), '{}'::jsonb) FROM (
        SELECT coalesce(error_code, 'UNKNOWN') AS code, count(*) AS n
        FROM scope WHERE generation_status = 'failed' GROUP BY 1) e) AS errors_by_code,
    (SELECT coalesce(jsonb_object_agg(tier, n), '{}'::jsonb) FROM (
        SELECT coalesce(fallback_tier, 'unknown') AS tier, count(*) AS n
        FROM scope WHERE generation_status = 'completed' GROUP BY 1) t) AS fallback_tiers,
    (SELECT coalesce(jsonb_object_agg(key, n), '{}'::jsonb) FROM (
        SELECT u.key, sum(u.value::numeric) AS n
        FROM scope, jsonb_each(coalesce(scope.usage, '{}'::jsonb)) AS u
        WHERE jsonb_typeof(u.value) = 'number' AND (u.key LIKE '%%tokens' OR u.key = 'requests')
        GROUP BY u.key) k) AS usage_totals,
    (SELECT sum(llm_cost_usd) FROM scope) AS llm_cost_usd,
    (SELECT count(*) FROM scope WHERE generation_status = 'batched') AS batched,
    (SELECT coalesce(jsonb_object_agg(kind, figures), '{}'::jsonb) FROM (
        SELECT CASE WHEN batch_id IS NULL THEN 'interactive' ELSE 'batch' END AS kind,
               jsonb_build_object(
                   'programs', count(*),
                   'completed', count(*) FILTER (WHERE generation_status = 'completed'),
                   'input_tokens', coalesce(sum(input_tokens), 0),
                   'output_tokens', coalesce(sum(output_tokens), 0),
                   'llm_cost_usd', coalesce(sum(llm_cost_usd), 0)) AS figures
        FROM scope GROUP BY 1) b) AS by_kind
"""


@dataclass(frozen=True, slots=True)
class Stats:
    total: int
    completed: int
    failed: int
    pending: int
    processing: int
    stuck: int
    stuck_after_seconds: int
    # seconds; None when nothing completed yet
    generation_p50: float | None = None
    generation_p95: float | None = None
    generation_avg: float | None = None
    delivery_p50: float | None = None
    delivery_p95: float | None = None
    delivery_avg: float | None = None
    errors_by_code: dict[str, int] = field(default_factory=dict)
    fallback_tiers: dict[str, int] = field(default_factory=dict)
    # LLM requests and tokens by kind, summed from the `usage` column (cache hits count 0)
    usage_totals: dict[str, float] = field(default_factory=dict)
    # USD at the list prices configured when each ran (failed attempts' calls included); None: no cost
    llm_cost_usd: float | None = None
    since: datetime | None = None
    cancelled: int = 0
    cancelling: int = 0  # processing rows whose worker is stopping (cancel requested)
    # seconds the longest-waiting pending row has waited since it was queued; None: none waits
    oldest_wait: float | None = None
    # the cancel request to the worker's stop, for programs cancelled while running
    cancel_p50: float | None = None
    cancel_p95: float | None = None
    # creation to first claim by priority, most urgent first: {"10": {"n", "p50", "p95"}, ...}
    wait_by_priority: dict[str, dict[str, float]] = field(default_factory=dict)
    batched: int = 0  # batch members waiting on their Message Batch (shown as pending)
    # batch members and the other (interactive) programs apart: {"batch": {"programs", "completed",
    # "input_tokens", "output_tokens", "llm_cost_usd", "llm_cost_per_completed_usd"}, "interactive": ...}
    by_kind: dict[str, dict[str, float | None]] = field(default_factory=dict)

    @property
    def in_flight(self) -> int:
        return self.pending + self.processing + self.cancelling + self.batched

    @property
    def llm_cost_per_completed_usd(self) -> float | None:
        """What the LLM cost per completed program (cache hits and offline programs count, at 0)."""
        return None if self.llm_cost_usd is None or not self.completed else self.llm_cost_usd / self.completed

    @property
    def success_rate(self) -> float | None:
        finished = self.completed + self.failed
        return self.completed / finished if finished else None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            in_flight=self.in_flight,
            success_rate=self.success_rate,
            llm_cost_per_completed_usd=self.llm_cost_per_completed_usd,
        )
        data["since"] = self.since.isoformat() if self.since else None
        return data


def collect_stats(
    conn: psycopg.Connection, *, since: datetime | None = None, stuck_after_seconds: int | None = None
) -> Stats:
    """The figures for rows created since `since` (all rows when None), in one round trip.
    `stuck_after_seconds` defaults to the sweeper's threshold: twice the lease."""
    if stuck_after_seconds is None:
        from tpg.platform.settings import Settings

        stuck_after_seconds = 2 * Settings.from_environment().lease_seconds
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_STATS, {"since": since, "stuck_after": stuck_after_seconds}).fetchone()
    assert row is not None  # an aggregate query always yields one row

    def seconds(key: str) -> float | None:
        return None if row[key] is None else float(row[key])

    return Stats(
        total=row["total"],
        completed=row["completed"],
        failed=row["failed"],
        pending=row["pending"],
        processing=row["processing"],
        stuck=row["stuck"],
        stuck_after_seconds=stuck_after_seconds,
        generation_p50=seconds("generation_p50"),
        generation_p95=seconds("generation_p95"),
        generation_avg=seconds("generation_avg"),
        delivery_p50=seconds("delivery_p50"),
        delivery_p95=seconds("delivery_p95"),
        delivery_avg=seconds("delivery_avg"),
        errors_by_code={k: int(v) for k, v in sorted(row["errors_by_code"].items())},
        fallback_tiers={k: int(v) for k, v in sorted(row["fallback_tiers"].items())},
        usage_totals={k: float(v) for k, v in sorted(row["usage_totals"].items())},
        llm_cost_usd=None if row["llm_cost_usd"] is None else float(row["llm_cost_usd"]),
        since=since,
        cancelled=row["cancelled"],
        cancelling=row["cancelling"],
        oldest_wait=seconds("oldest_wait"),
        cancel_p50=seconds("cancel_p50"),
        cancel_p95=seconds("cancel_p95"),
        wait_by_priority={
            priority: {k: float(v) for k, v in figures.items()}
            for priority, figures in sorted(row["wait_by_priority"].items(), key=lambda kv: -int(kv[0]))
        },
        batched=row["batched"],
        by_kind={kind: _kind_figures(figures) for kind, figures in sorted(row["by_kind"].items())},
    )


def _kind_figures(figures: dict[str, Any]) -> dict[str, float | None]:
    values: dict[str, float | None] = {k: float(v) for k, v in figures.items()}
    completed, cost = values["completed"] or 0, values["llm_cost_usd"] or 0.0
    values["llm_cost_per_completed_usd"] = cost / completed if completed else None
    return values


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def format_stats(stats: Stats) -> str:
    """A readable table for a terminal."""
    rate = "-" if stats.success_rate is None else f"{stats.success_rate:.1%}"
    scope = f"since {stats.since.isoformat(timespec='seconds')}" if stats.since else "all time"
    lines = [
        f"Generations ({scope})",
        f"  {'total':<22}{stats.total:>10}",
        f"  {'completed':<22}{stats.completed:>10}",
        f"  {'failed':<22}{stats.failed:>10}",
        f"  {'success rate':<22}{rate:>10}",
        f"  {'cancelled':<22}{stats.cancelled:>10}",
        f"  {'in flight':<22}{stats.in_flight:>10}   pending {stats.pending}, processing {stats.processing},"
        f" cancelling {stats.cancelling}, batched {stats.batched}",
        f"  {'stuck':<22}{stats.stuck:>10}   in flight, unchanged for {stats.stuck_after_seconds} s",
        f"  {'longest wait (s)':<22}{_seconds(stats.oldest_wait):>10}   of the pending rows, since queued",
        "",
        f"{'Time (s)':<24}{'p50':>10}{'p95':>10}{'avg':>10}",
        f"  {'generation':<22}{_seconds(stats.generation_p50):>10}"
        f"{_seconds(stats.generation_p95):>10}{_seconds(stats.generation_avg):>10}",
        f"  {'request to delivery':<22}{_seconds(stats.delivery_p50):>10}"
        f"{_seconds(stats.delivery_p95):>10}{_seconds(stats.delivery_avg):>10}",
        f"  {'cancel to stop':<22}{_seconds(stats.cancel_p50):>10}{_seconds(stats.cancel_p95):>10}",
    ]
    for priority, waits in stats.wait_by_priority.items():
        label = f"wait to start, prio {priority}"
        lines.append(
            f"  {label:<22}{_seconds(waits['p50']):>10}{_seconds(waits['p95']):>10}"
            f"{'':>10}   n={waits['n']:.0f}"
        )
    for title, figures in (
        ("Failures by error code", stats.errors_by_code),
        ("Fallback tiers (completed)", stats.fallback_tiers),
        ("LLM usage (sum)", stats.usage_totals),
    ):
        lines += ["", title]
        if not figures:
            lines.append("  (none)")
        lines += [f"  {name:<22}{_number(value):>10}" for name, value in figures.items()]
    per_program = stats.llm_cost_per_completed_usd
    lines += [
        "",
        "LLM cost (USD, list prices)",
        f"  {'total':<22}{'-' if stats.llm_cost_usd is None else f'{stats.llm_cost_usd:.4f}':>10}",
        f"  {'per completed program':<22}{'-' if per_program is None else f'{per_program:.4f}':>10}",
    ]
    if "batch" in stats.by_kind:
        lines += [
            "",
            f"{'Batches vs interactive':<24}{'programs':>10}{'completed':>10}{'USD':>10}{'USD each':>10}",
        ]
        for kind, of_kind in stats.by_kind.items():
            each = of_kind["llm_cost_per_completed_usd"]
            lines.append(
                f"  {kind:<22}{of_kind['programs'] or 0:>10.0f}{of_kind['completed'] or 0:>10.0f}"
                f"{of_kind['llm_cost_usd'] or 0:>10.4f}{'-' if each is None else f'{each:.4f}':>10}"
            )
    return "\n".join(lines)
