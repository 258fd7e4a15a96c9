"""tpg-client.js on its own, in the browser, against a scripted fake fetch: the polling pattern
that docs/frontend.md promises (backoff, reset on change, Retry-After, stop rules, 409 resume)."""

from __future__ import annotations

from typing import Any

# Runs in the page: a fake fetch answering from a script of (status, body, headers) steps and
# recording when each call came, then the scenario's result.
_HARNESS = """async ({ steps, action, poll }) => {
  const calls = [];
  const started = performance.now();
  let i = 0;
  const fakeFetch = async (url, init) => {
    calls.push({ url, method: init.method, at: Math.round(performance.now() - started),
                 auth: init.headers.Authorization || null });
    const [status, body, headers] = steps[Math.min(i++, steps.length - 1)];
    return new Response(body === null ? "" : JSON.stringify(body), { status, headers: headers || {} });
  };
  const store = new Map();
  const storage = { getItem: k => store.get(k) ?? null, setItem: (k, v) => store.set(k, v),
                    removeItem: k => store.delete(k) };
  const client = new TpgClient({ fetch: fakeFetch, getToken: () => "t0k", storage, poll });
  const updates = [];
  let result, error = null;
  try {
    if (action === "start") result = await client.start({ weeks: 4 });
    else result = await client.watch("p1", { onUpdate: p => updates.push(p.progress) });
  } catch (e) {
    error = { name: e.name, code: e.code, status: e.status };
  }
  return { result, error, calls, updates, remembered: client.remembered() };
}"""


def _status(status: str, progress: int, stage: str | None = "generating") -> dict[str, Any]:
    return {"programId": "p1", "status": status, "stage": stage, "progress": progress, "error": None}


def _run(page: Any, steps: list, action: str = "watch", **poll: Any) -> dict[str, Any]:
    page.goto("/?pollMs=100000")  # the page's own polling stays idle
    poll = {"intervalMs": 50, "maxIntervalMs": 400, "backoff": 2, **poll}
    return page.evaluate(_HARNESS, {"steps": steps, "action": action, "poll": poll})


def _gaps(calls: list[dict[str, Any]]) -> list[int]:
    return [b["at"] - a["at"] for a, b in zip(calls, calls[1:], strict=False)]


def test_unchanged_answers_back_off_to_the_cap_and_a_change_resets_the_interval(page: Any) -> None:
    same = [200, _status("processing", 30)]
    steps = [same, same, same, same, same, [200, _status("processing", 50)], [200, _status("completed", 100)]]
    run = _run(page, steps)
    assert run["error"] is None and run["result"]["status"] == "completed"
    assert run["updates"] == [30, 30, 30, 30, 30, 50, 100]
    assert all(call["auth"] == "Bearer t0k" and call["url"] == "/programs/p1" for call in run["calls"])
    gaps = _gaps(run["calls"])
    # Planned: 50 (the first answer counts as a change), 100, 200, 400, 400 (the cap), then 50
    # after the change. Timers are only ever late, so compare the gaps with each other.
    assert gaps[0] < gaps[2] < gaps[3] and gaps[1] < gaps[3], gaps
    assert gaps[3] >= 400 and abs(gaps[4] - gaps[3]) < 150, gaps
    assert gaps[5] < gaps[4] / 2, gaps


def test_transient_errors_are_waited_out_and_retry_after_is_honoured(page: Any) -> None:
    busy = [503, {"error": {"code": "SERVICE_UNAVAILABLE", "message": "busy"}}, {"Retry-After": "1"}]
    run = _run(page, [busy, [200, _status("failed", 0)]])
    assert run["error"] is None and run["result"]["status"] == "failed"
    assert _gaps(run["calls"])[0] >= 950  # Retry-After: 1 s, above the 400 ms cap


def test_polling_stops_on_a_final_error_and_on_the_deadline(page: Any) -> None:
    gone = _run(page, [[404, {"error": {"code": "NOT_FOUND", "message": "Program not found."}}]])
    assert gone["error"] == {"name": "TpgApiError", "code": "NOT_FOUND", "status": 404}
    assert len(gone["calls"]) == 1

    slow = _run(page, [[200, _status("processing", 30)]], timeoutMs=500)
    assert slow["error"]["code"] == "POLL_TIMEOUT" and 2 <= len(slow["calls"]) <= 5


def test_start_resumes_the_program_a_409_names(page: Any) -> None:
    conflict = [409, {"error": {"code": "GENERATION_IN_FLIGHT", "message": "busy", "programId": "p9"}}]
    run = _run(page, [conflict], action="start")
    assert run["result"] == {"programId": "p9", "status": "pending", "resumed": True}
    assert run["remembered"] == "p9" and run["calls"][0]["method"] == "POST"
