"""Capacity model: what N generations per hour need, and which limit binds first.

    python -m tests.perf.capacity [--per-hour 1000] [--llm-median 22 --llm-p95 35] [...]

Arrivals are Poisson; each generation holds one generate environment for the pipeline overhead
plus one or more LLM calls (log-normal latency fitted to the median and p95). A generate
environment is a server of an M/G/inf system, so its concurrency is Poisson with mean
lambda x E[duration] whatever the latency distribution; the script simulates an hour to show the
peak second and the peak minute, and uses the Poisson quantile to find, for each limit, the
largest N it allows. Every input is a flag; the defaults are the figures in docs/performance.md
(measured where the code exists, stated assumptions where it does not yet).
"""

from __future__ import annotations

import argparse
import math
import random
from dataclasses import dataclass
from statistics import NormalDist

# Prices (USD) and limits: example values to replace with the organisation's own; see the doc.
LAMBDA_GB_SECOND_ARM = 0.0000133334
LAMBDA_PER_REQUEST = 0.20 / 1e6
HTTP_API_PER_REQUEST = 1.00 / 1e6
WEBSOCKET_PER_MESSAGE = 1.00 / 1e6  # API Gateway WebSocket messages (32 KB units), both ways
WEBSOCKET_PER_CONNECTION_MINUTE = 0.25 / 1e6
WEBSOCKET_NEW_CONNECTIONS_PER_S = 500  # API Gateway's default quota, per account and region
REALTIME_PING_MINUTES = 5  # docs/frontend.md: a socket sends {"type":"ping"} this often (idle: 10 min)


@dataclass
class Inputs:
    per_hour: float
    llm_median: float
    llm_p95: float
    calls_per_generation: float  # 1 + retries + repair calls, on average
    overhead_s: float  # pipeline overhead beyond the LLM call (bench: "overhead beyond the LLM call")
    prompt_static: int  # cached prefix (system prompt, catalog, rules), tokens
    prompt_user: int  # per-user part, tokens
    output_tokens: int
    cache_hit_rate: float  # share of calls that read the static prefix from the prompt cache
    price_in: float  # $/MTok uncached input
    price_cache_read: float
    price_cache_write: float
    price_out: float
    rpm: int
    itpm: int  # input tokens per minute; cache reads assumed not to count (flag below)
    otpm: int
    cache_reads_count: bool
    reserved_concurrency: int
    account_concurrency: int
    max_connections: int  # the database's, minus superuser reserve
    idle_minutes: float  # how long an idle Lambda environment (and its connection) lingers
    poll_seconds: float  # clients poll GET /programs/{id} this often while generating
    trigger_seconds: float  # one trigger invocation (accept or poll), in Lambda
    generate_memory_gb: float
    trigger_memory_gb: float
    statements_per_generation: float  # claim + complete + progress writes
    statement_seconds: float  # one statement's time on a backend connection
    quantile: float
    # Realtime (docs/architecture.md, "Realtime"): the share of generations a client watches over a
    # WebSocket (the rest poll), sockets per watching user (tabs), how long a socket stays open, and
    # the updates pushed per generation (one per committed state change: as many as the writes).
    realtime_share: float = 0.9
    sockets_per_watcher: float = 1.2
    connection_minutes: float = 10.0
    pushes_per_generation: float = 1 + 4 + 15 + 1
    # The realtime function (RealtimeReservedConcurrency; 0: none reserved) and one event's time
    # ($connect, $disconnect, a ping: one statement each).
    realtime_reserved_concurrency: int = 0
    realtime_event_seconds: float = 0.02


def lognormal(median: float, p95: float) -> tuple[float, float]:
    sigma = math.log(p95 / median) / 1.6449 if p95 > median else 1e-9
    return math.log(median), sigma


def mean_duration(i: Inputs) -> float:
    mu, sigma = lognormal(i.llm_median, i.llm_p95)
    return i.overhead_s + i.calls_per_generation * math.exp(mu + sigma * sigma / 2)


def poisson_quantile(mean: float, q: float) -> int:
    """Smallest k with P(X <= k) >= q for X ~ Poisson(mean) (normal approximation when large)."""
    if mean > 500:
        return math.ceil(mean + NormalDist().inv_cdf(q) * math.sqrt(mean))
    k, term = 0, math.exp(-mean)
    total = term
    while total < q:
        k += 1
        term *= mean / k
        total += term
    return k


def simulate(i: Inputs, seed: int = 7) -> dict[str, float]:
    """One hour of Poisson arrivals: peak generate concurrency (per second), peak minute's arrivals."""
    rng = random.Random(seed)
    mu, sigma = lognormal(i.llm_median, i.llm_p95)
    rate = i.per_hour / 3600
    t, starts, ends = 0.0, [], []
    while rate > 0:
        t += rng.expovariate(rate)
        if t >= 3600:
            break
        calls = 1 + (rng.random() < i.calls_per_generation - 1)
        duration = i.overhead_s + sum(rng.lognormvariate(mu, sigma) for _ in range(calls))
        starts.append(t)
        ends.append(t + duration)
    per_minute = [0] * 60
    for s in starts:
        per_minute[int(s // 60)] += 1
    events = sorted([(s, 1) for s in starts] + [(e, -1) for e in ends])
    level = peak = 0
    for _, delta in events:
        level += delta
        peak = max(peak, level)
    return {"arrivals": len(starts), "peak_concurrency": peak, "peak_minute": max(per_minute, default=0)}


def tokens_per_call(i: Inputs) -> dict[str, float]:
    cached = i.prompt_static * i.cache_hit_rate
    written = i.prompt_static * (1 - i.cache_hit_rate)
    return {"uncached_in": i.prompt_user + written, "cache_read": cached, "cache_write": written}


def itpm_per_call(i: Inputs) -> float:
    t = tokens_per_call(i)
    return t["uncached_in"] + (t["cache_read"] if i.cache_reads_count else 0)


def cost_per_program(i: Inputs) -> dict[str, float]:
    t = tokens_per_call(i)
    llm = (
        i.calls_per_generation
        * (
            t["uncached_in"] * i.price_in
            + t["cache_read"] * i.price_cache_read
            + t["cache_write"] * (i.price_cache_write - i.price_in)  # the write premium on top of input
            + i.output_tokens * i.price_out
        )
        / 1e6
    )
    duration = mean_duration(i)
    polls = duration / i.poll_seconds
    lam = (
        i.generate_memory_gb * duration * LAMBDA_GB_SECOND_ARM
        + (1 + polls) * i.trigger_memory_gb * i.trigger_seconds * LAMBDA_GB_SECOND_ARM
        + (2 + polls) * LAMBDA_PER_REQUEST
    )
    api = (1 + polls) * HTTP_API_PER_REQUEST
    return {"llm": llm, "lambda": lam, "api_gateway": api, "total": llm + lam + api}


def realtime(i: Inputs) -> dict[str, float]:
    """What the WebSocket API carries for `i.per_hour` generations, and the polls it replaces."""
    duration = mean_duration(i)
    rate = i.per_hour / 3600
    sockets_per_s = rate * i.realtime_share * i.sockets_per_watcher
    polls = duration / i.poll_seconds
    pings = i.connection_minutes / REALTIME_PING_MINUTES * 2  # the ping and its pong
    messages = i.pushes_per_generation + pings
    # the realtime function's invocations: $connect, $disconnect and each ping
    events_per_s = sockets_per_s * (2 + i.connection_minutes / REALTIME_PING_MINUTES)
    return {
        "connections_open": poisson_quantile(sockets_per_s * i.connection_minutes * 60, i.quantile),
        "connects_per_s": sockets_per_s,
        "connects_peak_second": poisson_quantile(sockets_per_s, i.quantile),
        "pushes_per_s": sockets_per_s * i.pushes_per_generation,
        "function_events_per_s": events_per_s,
        "function_concurrency": poisson_quantile(events_per_s * i.realtime_event_seconds, i.quantile),
        "polls_per_s_left": rate * polls * (1 - i.realtime_share),
        "polls_per_s_saved": rate * polls * i.realtime_share,
        # at most one lookup of the owner's connections per push: a job looks again when its last
        # lookup is over 1 s old (its progress writes come every 2 s), and at its final state
        "connection_lookups_per_s": rate * i.pushes_per_generation,
        # per generation (watched or not), at the share watched
        "cost_websocket": i.realtime_share
        * i.sockets_per_watcher
        * (messages * WEBSOCKET_PER_MESSAGE + i.connection_minutes * WEBSOCKET_PER_CONNECTION_MINUTE),
        "cost_polls_saved": i.realtime_share
        * (polls - 2)  # a watcher still asks for a ticket and GETs the completed program
        * (
            HTTP_API_PER_REQUEST
            + LAMBDA_PER_REQUEST
            + i.trigger_memory_gb * i.trigger_seconds * LAMBDA_GB_SECOND_ARM
        ),
    }


def needs(i: Inputs) -> dict[str, float]:
    duration = mean_duration(i)
    rate = i.per_hour / 3600
    generate = poisson_quantile(rate * duration, i.quantile)
    polls_per_s = rate * duration / i.poll_seconds
    trigger = poisson_quantile((rate + polls_per_s) * i.trigger_seconds, i.quantile)
    backends = poisson_quantile(
        rate * i.statements_per_generation * i.statement_seconds + (rate + polls_per_s) * i.statement_seconds,
        i.quantile,
    )
    return {
        "mean_duration_s": duration,
        "generate_concurrency": generate,
        "trigger_concurrency": trigger,
        "requests_per_s": rate + polls_per_s,
        # One connection per warm environment; environments linger after the peak.
        "client_connections": generate + trigger + 1,
        "backend_connections_via_pooler": max(1, backends),
        "llm_rpm": rate * 60 * i.calls_per_generation,
        "llm_itpm": rate * 60 * i.calls_per_generation * itpm_per_call(i),
        "llm_otpm": rate * 60 * i.calls_per_generation * i.output_tokens,
    }


def max_per_hour(i: Inputs) -> list[tuple[str, float, str]]:
    """For each limit, the largest N per hour it allows (at the chosen quantile), and its knob."""
    duration = mean_duration(i)
    calls = i.calls_per_generation

    def by_concurrency(limit: int, extra: int = 0) -> float:
        lo, hi = 0.0, 1e7
        for _ in range(60):
            mid = (lo + hi) / 2
            mean = mid / 3600 * duration
            if poisson_quantile(mean, i.quantile) + extra <= limit:
                lo = mid
            else:
                hi = mid
        return lo

    return sorted(
        [
            (
                "Anthropic output tokens/min",
                i.otpm * 60 / (calls * i.output_tokens),
                "usage tier / a higher OTPM limit; shorter programs (fewer output tokens)",
            ),
            (
                "Anthropic input tokens/min",
                i.itpm * 60 / (calls * max(1.0, itpm_per_call(i))),
                "prompt caching (cache reads do not count), a smaller per-user part",
            ),
            ("Anthropic requests/min", i.rpm * 60 / calls, "usage tier; fewer retries"),
            (
                "generate reserved concurrency",
                by_concurrency(i.reserved_concurrency),
                "GenerateReservedConcurrency (template parameter)",
            ),
            (
                "Lambda account concurrency",
                by_concurrency(i.account_concurrency, extra=5),
                "Service Quotas: concurrent executions",
            ),
            (
                "PostgreSQL connections without a pooler",
                by_concurrency(i.max_connections, extra=3),
                "RDS Proxy / pooler in front (then backends, not clients, count)",
            ),
        ],
        key=lambda item: item[1],
    )


LAMBDA_MIN_UNRESERVED = 100  # Lambda keeps this much of the account's concurrency unreserved


def peak_per_hour(per_day: float, peak_factor: float) -> float:
    """The peak hour's generations: the day's mean hourly rate times the peak factor."""
    return per_day / 24 * peak_factor


def consumption_at_concurrency(i: Inputs, concurrency: int) -> dict[str, float]:
    """Per minute, what `concurrency` generate environments all busy ask of Anthropic: the most the
    reserved concurrency lets through whatever the arrival rate (so the limits to request)."""
    calls_per_minute = concurrency / mean_duration(i) * 60 * i.calls_per_generation
    return {
        "llm_rpm": calls_per_minute,
        "llm_itpm": calls_per_minute * itpm_per_call(i),
        "llm_otpm": calls_per_minute * i.output_tokens,
    }


def sizing(i: Inputs) -> dict[str, float]:
    """What a deployment sized for `i.per_hour` at its peak needs, with `i.reserved_concurrency` as set:
    the bounds each setting must meet, the pooler's size and the Anthropic limits to request."""
    n = needs(i)
    at_cap = consumption_at_concurrency(i, i.reserved_concurrency)
    return {
        "generate_concurrency_needed": n["generate_concurrency"],
        # Lambda keeps 100 unreserved; the trigger and the sweeper (+ its queue consumer) share them.
        # The realtime function's reservation is carved out of the account too.
        "reserved_concurrency_max": i.account_concurrency
        - i.realtime_reserved_concurrency
        - max(LAMBDA_MIN_UNRESERVED, n["trigger_concurrency"] + 3),
        "account_concurrency_needed": i.reserved_concurrency
        + i.realtime_reserved_concurrency
        + max(LAMBDA_MIN_UNRESERVED, n["trigger_concurrency"] + 3),
        "trigger_concurrency": n["trigger_concurrency"],
        "api_requests_per_s": n["requests_per_s"],
        "api_accepts_per_s": i.per_hour / 3600,
        # the busiest second's accepts (Poisson at the chosen quantile): what the accept burst must take
        "api_accepts_peak_second": poisson_quantile(i.per_hour / 3600, i.quantile),
        "api_polls_per_s": n["requests_per_s"] - i.per_hour / 3600,
        # every generation the reserved concurrency lets run, polled every poll_seconds
        "api_polls_per_s_at_cap": i.reserved_concurrency / i.poll_seconds,
        # one client connection per warm environment: generate and realtime at their caps, trigger,
        # sweeper + consumer
        "pooler_client_connections": i.reserved_concurrency
        + i.realtime_reserved_concurrency
        + n["trigger_concurrency"]
        + 3,
        "pooler_backend_connections": n["backend_connections_via_pooler"],
        "llm_rpm_peak": n["llm_rpm"],
        "llm_itpm_peak": n["llm_itpm"],
        "llm_otpm_peak": n["llm_otpm"],
        "llm_rpm_at_cap": at_cap["llm_rpm"],
        "llm_itpm_at_cap": at_cap["llm_itpm"],
        "llm_otpm_at_cap": at_cap["llm_otpm"],
    }


def parse(argv: list[str] | None = None) -> Inputs:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    a("--per-hour", type=float, default=1000, help="generations per hour (N)")
    # The compact ask at effort low (docs/performance.md, "The Claude path": the fake's latency
    # model, published speeds; its per-call figures): a call's modelled time, calls per generation
    # (1 + repair rounds at the realistic fake's assumed slip rates), tokens per call.
    a("--llm-median", type=float, default=22.0, help="seconds, one LLM call (bench: compact ask)")
    a("--llm-p95", type=float, default=35.0)
    a("--calls-per-generation", type=float, default=1.27, help="1 + retries/repairs on average")
    a("--overhead-s", type=float, default=0.012, help="bench: overhead beyond the LLM call")
    a("--prompt-static", type=int, default=11_800, help="tokens, cached prefix: system + answer schema")
    a("--prompt-user", type=int, default=1500, help="tokens, per-user part (bench)")
    a("--output-tokens", type=int, default=1260, help="per call, thinking included (bench: compact ask)")
    a("--cache-hit-rate", type=float, default=0.95)
    # Sonnet 5.5 list prices (LLM_PRICES' default): input $2, output $10; a cache read 0.1x (some
    # Anthropic pages say $0.10, not $0.20: check), a 1-hour write (LLM_CACHE_TTL) 2x.
    a("--price-in", type=float, default=2.0, help="$/MTok")
    a("--price-cache-read", type=float, default=0.20)
    a("--price-cache-write", type=float, default=4.00)
    a("--price-out", type=float, default=10.0)
    a("--rpm", type=int, default=4000)
    a("--itpm", type=int, default=2_000_000)
    a("--otpm", type=int, default=400_000)
    a("--cache-reads-count", action="store_true", help="count cache reads toward ITPM")
    a("--reserved-concurrency", type=int, default=5, help="template.yaml default")
    a("--account-concurrency", type=int, default=1000)
    a("--max-connections", type=int, default=400)
    a("--idle-minutes", type=float, default=10)
    a("--poll-seconds", type=float, default=2.0)
    a("--trigger-seconds", type=float, default=0.03)
    a("--generate-memory-gb", type=float, default=1.0)
    a("--trigger-memory-gb", type=float, default=0.5)
    # claim + complete, 4 stage changes, a progress write every 2 s of a ~30 s generation
    a("--statements-per-generation", type=float, default=2 + 4 + 15)
    a("--statement-seconds", type=float, default=0.003)
    a("--quantile", type=float, default=0.99)
    a("--realtime-share", type=float, default=0.9, help="generations watched over a WebSocket")
    a("--sockets-per-watcher", type=float, default=1.2, help="open tabs per watching user")
    a("--connection-minutes", type=float, default=10.0, help="how long a socket stays open")
    a("--pushes-per-generation", type=float, default=1 + 4 + 15 + 1, help="claim, stages, progress, final")
    a("--realtime-reserved-concurrency", type=int, default=0, help="RealtimeReservedConcurrency")
    a("--realtime-event-seconds", type=float, default=0.02, help="one $connect, $disconnect or ping")
    return Inputs(**vars(p.parse_args(argv)))


def report(i: Inputs) -> str:
    n, sim, cost = needs(i), simulate(i), cost_per_program(i)
    lines = [
        f"N = {i.per_hour:g} generations/hour; LLM call median {i.llm_median:g} s, p95 {i.llm_p95:g} s;"
        f" {i.calls_per_generation:g} calls per generation; quantile {i.quantile:g}",
        "",
        "| Need | Value |",
        "|---|---|",
        f"| mean time a generation holds a generate environment | {n['mean_duration_s']:.1f} s |",
        f"| generate concurrency (Poisson q{i.quantile:g}; simulated hour's peak) |"
        f" {n['generate_concurrency']} ({sim['peak_concurrency']}) |",
        f"| trigger concurrency (accepts + polls every {i.poll_seconds:g} s) | {n['trigger_concurrency']} |",
        f"| API requests per second (accepts + polls) | {n['requests_per_s']:.1f} |",
        f"| PostgreSQL client connections (one per warm environment) | {n['client_connections']} |",
        f"| PostgreSQL backend connections through RDS Proxy / a pooler |"
        f" {n['backend_connections_via_pooler']} |",
        f"| Anthropic requests/min (mean; simulated peak minute) | {n['llm_rpm']:.0f}"
        f" ({sim['peak_minute'] * i.calls_per_generation:.0f}) |",
        f"| Anthropic input tokens/min counted toward ITPM (mean) | {n['llm_itpm']:,.0f} |",
        f"| Anthropic output tokens/min (mean; peak minute) | {n['llm_otpm']:,.0f}"
        f" ({sim['peak_minute'] * i.calls_per_generation * i.output_tokens:,.0f}) |",
        f"| cost per program: LLM / Lambda / API Gateway / total | ${cost['llm']:.4f} /"
        f" ${cost['lambda']:.5f} / ${cost['api_gateway']:.5f} / **${cost['total']:.4f}** |",
        "",
        "| Limit (first to bind at the top) | Max generations/hour | Setting that moves it |",
        "|---|---|---|",
    ]
    for name, limit, knob in max_per_hour(i):
        lines.append(f"| {name} | {limit:,.0f} | {knob} |")
    r = realtime(i)
    lines += [
        "",
        f"Realtime: {i.realtime_share:.0%} of generations watched over a WebSocket,"
        f" {i.sockets_per_watcher:g} sockets each, open {i.connection_minutes:g} min,"
        f" {i.pushes_per_generation:g} updates per generation",
        "",
        "| Realtime | Value |",
        "|---|---|",
        f"| WebSocket connections open at once (Poisson q{i.quantile:g}) | {r['connections_open']:,} |",
        f"| new connections/s: mean (busiest second) | {r['connects_per_s']:.2f}"
        f" ({r['connects_peak_second']}) |",
        f"| pushes/s (Management API posts) | {r['pushes_per_s']:,.1f} |",
        f"| owner-connection lookups/s (one statement each) | {r['connection_lookups_per_s']:,.1f} |",
        f"| status polls/s: left (clients without a socket); saved | {r['polls_per_s_left']:,.1f};"
        f" {r['polls_per_s_saved']:,.1f} |",
        f"| cost per program: WebSocket messages and minutes; polls saved | ${r['cost_websocket']:.6f};"
        f" ${r['cost_polls_saved']:.6f} |",
    ]
    return "\n".join(lines)


def round_up(value: float, digits: int = 2) -> int:
    """`value` rounded up to `digits` significant figures (a limit to request)."""
    if value <= 0:
        return 0
    step = 10 ** max(0, math.floor(math.log10(value)) + 1 - digits)
    return math.ceil(value / step) * step


def _ask(limit: str, need: float, assumed: int) -> str:
    """The quota cell: the limit to request, or that the assumed one covers it."""
    if need <= assumed:
        return f"{limit} >= {round_up(need):,} (the assumed {assumed:,} covers it)"
    return f"**request {limit} >= {round_up(need):,}** (assumed {assumed:,})"


def sizing_table(i: Inputs, per_day: float, peak_factor: float, params: dict[str, str]) -> str:
    """docs/operations.md's sizing table: the model at the peak hour of `per_day` with `peak_factor`,
    next to the deployment's parameters (`params`: samconfig.toml's overrides) and the quotas to ask."""
    n, sim, z, r = needs(i), simulate(i), sizing(i), realtime(i)

    def throttle(prefix: str) -> str:
        rate, burst = params.get(f"{prefix}RateLimit"), params.get(f"{prefix}BurstLimit")
        return f"`{prefix}RateLimit={rate}`, `{prefix}BurstLimit={burst}`" if rate else ""

    rows = [
        (
            "generations in the peak hour",
            f"{per_day:,.0f}/day / 24 x {peak_factor:g} = {i.per_hour:,.0f}",
            "",
            "",
        ),
        (
            f"generate concurrency (Poisson q{i.quantile:g}; simulated peak)",
            f"{n['generate_concurrency']} ({sim['peak_concurrency']})",
            f"`GenerateReservedConcurrency={i.reserved_concurrency}`",
            "",
        ),
        (
            f"Lambda concurrency: reserved (generate + realtime) + {LAMBDA_MIN_UNRESERVED} unreserved"
            f" (trigger needs {n['trigger_concurrency']})",
            f"{z['account_concurrency_needed']:,.0f}",
            "",
            f"Service Quotas, Lambda concurrent executions >= {z['account_concurrency_needed']:,.0f}"
            f" (the default is {i.account_concurrency:,}; new accounts: 10)",
        ),
        (
            f"accepts/s, `POST /programs`: peak hour (busiest second, q{i.quantile:g})",
            f"{z['api_accepts_per_s']:.1f} ({z['api_accepts_peak_second']:.0f})",
            throttle("ApiAcceptThrottling"),
            "",
        ),
        (
            f"polls/s, `GET /programs/{{id}}` every {i.poll_seconds:g} s: peak hour; generate at its cap",
            f"{z['api_polls_per_s']:.0f}; {z['api_polls_per_s_at_cap']:.0f}",
            throttle("ApiPollThrottling"),
            "",
        ),
        (
            "API requests/s, every route (the other routes are not modelled)",
            f"{n['requests_per_s']:.0f}",
            throttle("ApiThrottling") + " (the other routes)" if params.get("ApiThrottlingRateLimit") else "",
            "none (the account's 10,000 requests/s per region)",
        ),
        (
            "PostgreSQL clients of the pooler (generate and realtime at their caps + trigger + sweeper)",
            f"{z['pooler_client_connections']:,.0f}",
            "the pooler's URL in `DatabaseUrlSecretArn`",
            f"a pooler that accepts >= {z['pooler_client_connections']:,.0f} clients",
        ),
        (
            "PostgreSQL backends through the pooler",
            f"{z['pooler_backend_connections']:,.0f}",
            "",
            "pool size >= 10 (ample)",
        ),
        (
            f"WebSocket connections open at once ({i.realtime_share:.0%} of generations watched,"
            f" {i.sockets_per_watcher:g} sockets, {i.connection_minutes:g} min); new connections/s,"
            f" busiest second",
            f"{r['connections_open']:,}; {r['connects_peak_second']:,}",
            throttle("ApiThrottling") + " (the WebSocket stage)"
            if params.get("ApiThrottlingRateLimit")
            else "",
            f"none (API Gateway's {WEBSOCKET_NEW_CONNECTIONS_PER_S} new connections/s per account covers it)"
            if r["connects_peak_second"] <= WEBSOCKET_NEW_CONNECTIONS_PER_S
            else f"**request new WebSocket connections/s >= {round_up(r['connects_peak_second']):,}**",
        ),
        (
            f"realtime function: events/s ($connect, $disconnect, a ping every {REALTIME_PING_MINUTES} min),"
            f" peak hour; concurrency (q{i.quantile:g}, {i.realtime_event_seconds * 1000:g} ms each)",
            f"{r['function_events_per_s']:,.0f}; {r['function_concurrency']:,}",
            f"`RealtimeReservedConcurrency={params['RealtimeReservedConcurrency']}` (a cap: a reconnect storm"
            " is throttled, the trigger keeps the unreserved pool)"
            if params.get("RealtimeReservedConcurrency")
            else "",
            "",
        ),
        (
            "realtime pushes/s (Management API posts): peak hour; status polls/s they save",
            f"{r['pushes_per_s']:,.0f}; {r['polls_per_s_saved']:,.0f}",
            "",
            "none (far under API Gateway's account throttle, 10,000 requests/s per region)",
        ),
        (
            "Anthropic requests/min: peak hour; generate at its cap",
            f"{z['llm_rpm_peak']:,.0f}; {z['llm_rpm_at_cap']:,.0f}",
            "",
            _ask("RPM", z["llm_rpm_at_cap"], i.rpm),
        ),
        (
            "Anthropic input tokens/min (cache reads not counted): peak hour; at the cap",
            f"{z['llm_itpm_peak']:,.0f}; {z['llm_itpm_at_cap']:,.0f}",
            "",
            _ask("ITPM", z["llm_itpm_at_cap"], i.itpm),
        ),
        (
            "Anthropic output tokens/min: peak hour; at the cap",
            f"{z['llm_otpm_peak']:,.0f}; {z['llm_otpm_at_cap']:,.0f}",
            "",
            _ask("OTPM", z["llm_otpm_at_cap"], i.otpm),
        ),
    ]
    lines = [
        "| need | model | prod (`samconfig.toml`) | quota to request |",
        "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    # --per-day N [--peak-factor F]: size for N a day whose peak hour is F x the mean (the sizing table).
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--per-day", type=float, default=None)
    extra.add_argument("--peak-factor", type=float, default=3.0)
    known, rest = extra.parse_known_args(argv)
    if known.per_day is None:
        print(report(parse(argv)))
        return 0
    i = parse([*rest, "--per-hour", str(peak_per_hour(known.per_day, known.peak_factor))])
    print(report(i))
    print()
    print(sizing_table(i, known.per_day, known.peak_factor, {}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
