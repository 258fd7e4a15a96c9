"""Realtime benchmarks (part of `make bench`): the local stack over real WebSockets.

- Push latency: from a committed state change (its row's `updated_at`, the statement's transaction
  time, on the same machine's clock) to the client holding the parsed message.
- Status requests per program: clients that poll as docs/frontend.md says (at once, 1 s while
  something changes, x1.5 up to 5 s when nothing does) beside clients that take a ticket, open a
  socket and GET once on `completed`, on the same stack and the same generations, at the same time.
- 1,000 sockets: 1,000 users, each with a socket open on the local stack at once, and one update
  pushed to every one; each must receive its own program's update and nothing else.

Every socket here is a real WebSocket client (`websockets`, asyncio, on its own thread and loop).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from tests.perf.measure import Row, median, p95

Seed = Callable[[str, int], list[UUID]]
Token = Callable[[UUID], str]
MakeFake = Callable[[float], Any]

FINAL = ("completed", "failed", "cancelled")
POLL_FIRST, POLL_INTERVAL, POLL_BACKOFF, POLL_MAX = 0.0, 1.0, 1.5, 5.0  # docs/frontend.md


class Sockets:
    """Many WebSocket clients on one event loop of their own: each socket's messages, with the wall
    time each was received at."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ws-clients", daemon=True)
        self._thread.start()
        self._sockets: list[Any] = []
        self._readers: list[asyncio.Future[None]] = []
        self.received: list[list[tuple[float, dict[str, Any]]]] = []
        self.lock = threading.Lock()

    def _run(self, coroutine: Coroutine[Any, Any, Any], timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def open(self, urls: list[str], *, concurrency: int = 100, timeout: float = 120) -> float:
        """Open a socket per URL (`concurrency` handshakes at a time); returns the seconds it took."""
        from websockets.asyncio.client import connect

        started = time.perf_counter()
        gate = asyncio.Semaphore(concurrency)

        async def one(url: str) -> Any:
            async with gate:
                return await connect(url, open_timeout=30, compression=None, max_queue=None)

        async def every() -> list[Any]:
            return list(await asyncio.gather(*(one(url) for url in urls)))

        opened = self._run(every(), timeout)
        base = len(self._sockets)
        for index, socket in enumerate(opened):
            self._sockets.append(socket)
            self.received.append([])
            reader = asyncio.run_coroutine_threadsafe(self._read(base + index, socket), self._loop)
            self._readers.append(asyncio.wrap_future(reader, loop=self._loop))
        return time.perf_counter() - started

    async def _read(self, index: int, socket: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for message in socket:
                received = time.time()
                parsed = json.loads(message)
                with self.lock:
                    self.received[index].append((received, parsed))
        except ConnectionClosed:
            return

    def wait_until(
        self, done: Callable[[list[list[tuple[float, dict[str, Any]]]]], bool], timeout: float
    ) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if done(self.received):
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        async def every() -> None:
            await asyncio.gather(*(socket.close() for socket in self._sockets), return_exceptions=True)

        try:
            self._run(every(), 60)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)


def _ticket_url(base: str, token: str) -> str:
    from tpg_local.client import call

    answer = call(base, "POST", "/realtime/tickets", token=token, timeout=30)
    assert answer.status == 201, answer.body
    return str(answer.body["url"])


def _lag_seconds(received: float, message: dict[str, Any]) -> float:
    return received - datetime.fromisoformat(message["updatedAt"]).timestamp()


def _final(messages: list[tuple[float, dict[str, Any]]]) -> bool:
    return any(m["status"] in FINAL for _, m in messages)


def push_latency(
    url: str, settings: Any, seed: Seed, token: Token, make_fake: MakeFake, programs: int
) -> list[Row]:
    from tpg_local.client import call
    from tpg_local.server import LocalStack

    users = seed(url, programs)
    fake = make_fake(2.0)
    sockets = Sockets()
    with LocalStack(port=0, generate_concurrency=programs, sweep_interval=None, settings=settings) as stack:
        stack.wiring.update(providers=lambda: fake)
        sockets.open([_ticket_url(stack.url, token(u)) for u in users])
        with ThreadPoolExecutor(max_workers=8) as clients:
            list(clients.map(lambda u: call(stack.url, "POST", "/programs", token=token(u), body={}), users))
        finished = sockets.wait_until(lambda got: all(_final(m) for m in got), timeout=120)
        sockets.close()
    lags = [_lag_seconds(at, message) for messages in sockets.received for at, message in messages]
    per_program = [len(messages) for messages in sockets.received] or [0]
    completed = sum(
        1 for messages in sockets.received if messages and messages[-1][1]["status"] == "completed"
    )
    note = (
        f"n={len(lags)} updates of {programs} programs ({completed} completed by push; "
        f"{median([float(n) for n in per_program]):.0f} updates each: claim, stage changes, "
        "progress every 2 s, completion); fake LLM 2 s"
    )
    return [
        Row(
            "Realtime",
            "push latency: committed state change (row's updated_at) to the client's receipt, local stack",
            median(lags) if lags else None,
            p95(lags) if lags else None,
            goal="p95 < 1 s (polling's shortest interval)",
            met=finished and bool(lags) and p95(lags) < 1.0,
            note=note
            if finished
            else "NOT every program reached a final state by push within 120 s; " + note,
        )
    ]


def _poll_until_final(base: str, token: str, program_id: str) -> int:
    """GET the status as docs/frontend.md says a client polls; returns the GETs it took."""
    from tpg_local.client import call

    gets, wait, last = 0, POLL_FIRST, None
    while True:
        time.sleep(wait)
        body = call(base, "GET", f"/programs/{program_id}", token=token, timeout=30).body
        gets += 1
        if body["status"] in FINAL:
            return gets
        seen = (body["status"], body["stage"], body["progress"])
        wait = POLL_INTERVAL if seen != last else min(POLL_MAX, max(POLL_INTERVAL, wait) * POLL_BACKOFF)
        last = seen


def requests_per_program(
    url: str, settings: Any, seed: Seed, token: Token, make_fake: MakeFake, programs: int, latency: float
) -> list[Row]:
    from tpg_local.client import call
    from tpg_local.server import LocalStack

    pollers, listeners = seed(url, programs), seed(url, programs)
    fake = make_fake(latency)
    sockets = Sockets()
    requests: dict[str, list[int]] = {"poll": [], "push": []}
    with LocalStack(
        port=0, generate_concurrency=2 * programs, sweep_interval=None, settings=settings
    ) as stack:
        stack.wiring.update(providers=lambda: fake)
        sockets.open([_ticket_url(stack.url, token(u)) for u in listeners])  # 1 request each: the ticket

        def poll(user: UUID) -> None:
            accepted = call(stack.url, "POST", "/programs", token=token(user), body={})
            requests["poll"].append(_poll_until_final(stack.url, token(user), accepted.body["programId"]))

        def listen(index: int) -> None:
            user = listeners[index]
            accepted = call(stack.url, "POST", "/programs", token=token(user), body={})
            sockets.wait_until(lambda got: _final(got[index]), timeout=latency + 60)
            with sockets.lock:
                final = sockets.received[index][-1][1]
            assert final["programId"] == accepted.body["programId"]
            call(stack.url, "GET", final["programUrl"], token=token(user))  # the one status request
            requests["push"].append(1)

        with ThreadPoolExecutor(max_workers=2 * programs) as clients:
            done = [clients.submit(poll, u) for u in pollers] + [
                clients.submit(listen, i) for i in range(programs)
            ]
            for future in done:
                future.result()
        sockets.close()
    pushed = [len(messages) for messages in sockets.received]
    polls = [float(n) for n in requests["poll"]]
    return [
        Row(
            "Realtime",
            f"status requests per program, polling (fake LLM {latency:g} s)",
            median(polls),
            max(polls),
            unit="",
            note=f"{programs} programs; p95 column = max; the documented pattern "
            "(1 s while changing, x1.5 to 5 s)",
        ),
        Row(
            "Realtime",
            "status requests per program, realtime (same generations, at the same time)",
            median([float(n) for n in requests["push"]]),
            max(requests["push"]),
            "polling",
            median([float(n) for n in requests["push"]]) / median(polls),
            "1 (the GET on completed)",
            all(n == 1 for n in requests["push"]),
            unit="",
            note=f"+1 POST /realtime/tickets per socket; "
            f"{median([float(n) for n in pushed]):.0f} pushes received each",
        ),
    ]


def thousand_sockets(url: str, settings: Any, token: Token, count: int) -> list[Row]:
    from tpg.store.rows import JobState
    from tpg_local.server import LocalStack

    with psycopg.connect(url, autocommit=True) as conn:
        users = [
            r[0]
            for r in conn.execute(
                "INSERT INTO profiles (id) SELECT gen_random_uuid() FROM generate_series(1, %s) RETURNING id",
                (count,),
            )
        ]
        conn.execute("INSERT INTO training_programs (user_id, name) SELECT unnest(%s::uuid[]), 'p'", (users,))
    sockets = Sockets()
    # One publish to a thousand users at once (the sweeper's kind of publish, with its own deadline):
    # measured whole, not cut at the API's 1 s.
    bulk = settings.model_copy(update={"realtime_push_deadline_seconds": 30.0})
    with LocalStack(port=0, sweep_interval=None, settings=bulk, http_threads=8) as stack:
        with ThreadPoolExecutor(max_workers=8) as clients:
            started = time.perf_counter()
            urls = list(clients.map(lambda u: _ticket_url(stack.url, token(u)), users))
            tickets_s = time.perf_counter() - started
        open_s = sockets.open(urls)
        held = stack.realtime.open_connections if stack.realtime else 0
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            rows = conn.execute(
                "SELECT id, user_id, generation_status, stage, progress, error_code, generation_error,"
                " updated_at FROM training_programs WHERE user_id = ANY(%s)",
                (users,),
            ).fetchall()
        states = [JobState.from_row(row) for row in rows]
        program_of = {state.user_id: str(state.program_id) for state in states}
        started = time.perf_counter()
        sent_at = time.time()
        report = stack.wiring.updates.publish(states)
        publish_s = time.perf_counter() - started
        everyone = sockets.wait_until(lambda got: all(len(m) >= 1 for m in got), timeout=60)
        all_s = max(at for messages in sockets.received for at, _ in messages) - sent_at
        sockets.close()
    own = sum(
        1
        for user, messages in zip(users, sockets.received, strict=True)
        if [m["programId"] for _, m in messages] == [program_of[user]]
    )
    lags = [at - sent_at for messages in sockets.received for at, _ in messages]
    return [
        Row(
            "Realtime",
            f"{count} sockets held by the local stack at once",
            open_s,
            None,
            unit="s",
            goal=f"{count} open",
            met=held == count,
            note=f"{held} open on the server at once; {count} tickets over HTTP in {tickets_s:.1f} s, "
            f"then {count} handshakes ($connect each: the ticket consumed) in {open_s:.1f} s",
        ),
        Row(
            "Realtime",
            f"  one update pushed to each of the {count}: all received",
            all_s,
            None,
            unit="s",
            goal=f"{count}/{count}, each its own",
            met=everyone and own == count and report.delivered == count,
            note=f"{own}/{count} got exactly their own program's update; publish {publish_s:.2f} s "
            f"(1 connection lookup + {report.connections} posts); per socket "
            f"p50 {median(lags) * 1000:.0f} ms, p95 {p95(lags) * 1000:.0f} ms",
        ),
    ]


def realtime_rows(
    url: str, settings: Any, seed: Seed, token: Token, make_fake: MakeFake, *, quick: bool = False
) -> list[Row]:
    rows = push_latency(url, settings, seed, token, make_fake, programs=8 if quick else 24)
    rows += requests_per_program(
        url, settings, seed, token, make_fake, programs=4 if quick else 8, latency=12.0 if quick else 30.0
    )
    rows += thousand_sockets(url, settings, token, count=200 if quick else 1000)
    return rows
