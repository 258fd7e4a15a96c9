"""`tpg demo`: the main job end to end over the local HTTP API, narrated for a person: the status
followed by push over the local WebSocket API (polling if the socket cannot be had)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import psycopg

from tpg.platform.settings import Settings
from tpg_local.client import call
from tpg_local.personas import PERSONAS
from tpg_local.seed import seed_user, token_for
from tpg_local.server import LocalStack

FINAL = ("completed", "failed", "cancelled")


def run_demo(*, persona: str, timeout: float = 120.0, embedded_database: bool = True) -> int:
    # Pace the offline engine like an LLM so the stages can be watched (OFFLINE_LATENCY_SECONDS).
    settings = Settings.from_environment({"OFFLINE_LATENCY_SECONDS": "3", **os.environ})
    url = settings.database_url_value
    if url is None:
        raise RuntimeError("DATABASE_URL is not set")

    with psycopg.connect(url, autocommit=True) as conn:
        user_id = seed_user(conn, persona=persona)
    token = token_for(user_id, settings)
    profile = PERSONAS[persona]

    print("Training-program generation: local demo")
    print(f"  database  {'embedded PostgreSQL (no DATABASE_URL)' if embedded_database else 'DATABASE_URL'}")
    provider = "offline rules engine" if settings.llm_provider == "offline" else "anthropic"
    print(f"  provider  {provider}")
    print(
        f"  user      {persona}: {profile['age']} y, {profile['sex']}, goal {profile['goal']},"
        f" {profile['experience']}, {profile['days_per_week']} days x {profile['session_minutes']} min,"
        f" equipment {', '.join(profile['equipment'])}"
        + (f", injuries {', '.join(profile['injuries'])}" if profile.get("injuries") else "")
    )

    with LocalStack(port=0, sweep_interval=5.0, settings=settings) as stack:
        print(f"  local API {stack.url}")
        socket = _live_updates(stack.url, token)
        print(f"  updates   {'pushed over ' + str(stack.realtime_url) if socket else 'polled'}\n")
        started = time.monotonic()
        accepted = call(stack.url, "POST", "/programs", token=token, body={"weeks": 4})
        if accepted.status != 202:
            print(f"POST /programs -> {accepted.status}: {accepted.body}")
            return 1
        program_id = accepted.body["programId"]
        print(
            f"POST /programs -> 202 {accepted.body['status']} in {_ms(started)} ms  (programId {program_id})"
        )
        if socket is not None:
            with socket:
                final = _follow(stack.url, token, program_id, started, timeout, socket)
        else:
            final = _poll(stack.url, token, program_id, started, timeout)
    if final is None:
        print(f"gave up after {timeout:.0f} s")
        return 1
    if final["status"] != "completed":
        print(f"\ngeneration failed: {final['error']}")
        return 1
    print()
    print(summarise(final["program"]))
    return 0


def _ms(since: float) -> int:
    return round((time.monotonic() - since) * 1000)


def _live_updates(base_url: str, token: str) -> Any:
    """A WebSocket receiving the user's updates (a ticket, then its URL), or None: poll instead."""
    from websockets.exceptions import WebSocketException
    from websockets.sync.client import connect

    ticket = call(base_url, "POST", "/realtime/tickets", token=token)
    if ticket.status != 201:
        return None
    try:
        return connect(ticket.body["url"], open_timeout=5)
    except (OSError, WebSocketException):
        return None


def _show(started: float, status: str, stage: str | None, progress: int, how: str) -> None:
    print(f"  {time.monotonic() - started:6.2f} s  {status:<10} {stage or '':<10} {progress:>3}%  {how}")


def _follow(
    base_url: str, token: str, program_id: str, started: float, timeout: float, socket: Any
) -> dict[str, Any] | None:
    """Show each pushed update until the final one, then GET the program: the one status request.
    The socket lost, polling takes over."""
    from websockets.exceptions import ConnectionClosed

    while (left := timeout - (time.monotonic() - started)) > 0:
        try:
            message = json.loads(socket.recv(timeout=left))
        except TimeoutError:
            return None
        except ConnectionClosed:
            print("  (live updates lost: polling)")
            return _poll(base_url, token, program_id, started, timeout)
        if message.get("type") != "program.updated" or message.get("programId") != program_id:
            continue  # another kind of message, or another program of the user's
        _show(started, message["status"], message["stage"], message["progress"], "pushed")
        if message["status"] in FINAL:
            return call(base_url, "GET", message["programUrl"], token=token).body  # type: ignore[no-any-return]
    return None


def _poll(
    base_url: str, token: str, program_id: str, started: float, timeout: float
) -> dict[str, Any] | None:
    last = None
    while time.monotonic() - started < timeout:
        response = call(base_url, "GET", f"/programs/{program_id}", token=token)
        body = response.body
        shown = (body["status"], body["stage"], body["progress"])
        if shown != last:
            _show(started, body["status"], body["stage"], body["progress"], "polled")
            last = shown
        if body["status"] in FINAL:
            return body
        time.sleep(0.1)
    return None


def summarise(program: dict[str, Any]) -> str:
    """A readable summary of a program (camelCase JSON as the API returns it)."""
    lines = [
        f"{program['name']}",
        f"  {program['weeks']} weeks, {program['daysPerWeek']} sessions/week"
        f" of ~{program['sessionMinutes']} min, {program['split']} split;"
        f" goal {program['goal']}, level {program['level']}",
        f"  progression: {program['progression']['model']}: {program['progression']['description']}",
    ]
    deloads = [str(w["week"]) for w in program["schedule"] if w["isDeload"]]
    if deloads:
        lines.append(f"  deload week(s): {', '.join(deloads)}")
    lines.append("")
    lines.append("  Week 1")
    for day in program["schedule"][0]["days"]:
        lines.append(f"    Day {day['day']}: {day['name']} ({day['focus']}, ~{day['estimatedMinutes']} min)")
        for ex in day["exercises"]:
            reps = (
                f"{ex['repsMin']}" if ex["repsMin"] == ex["repsMax"] else f"{ex['repsMin']}-{ex['repsMax']}"
            )
            lines.append(
                f"      {ex['name']:<34} {ex['sets']} x {reps:<6} RIR {ex['rir']}  rest {ex['restSeconds']} s"
            )
    for note in program.get("notes", []):
        lines.append(f"  note: {note}")
    return "\n".join(lines)
