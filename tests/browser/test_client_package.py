"""The client package (clients/js) in Chromium against the local stack: the React hook, abort,
refresh-and-retry after a 401, and CORS from another origin. Its rules on a scripted fetch and
WebSocket (polling pace, ordering, fallbacks) are Node tests (clients/js/test)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import node_module
from tests.conftest import token_for
from tpg_local.client import call
from tpg_local.seed import seed_user
from tpg_local.server import CLIENT_DIR

# A web app's page on its own dev server (another origin than the API's), with React (its UMD
# build, as window.React) behind an import map, so the package's `import ... from "react"`
# resolves without a bundler, as a bundler would resolve it.
HARNESS = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>client harness</title><link rel="icon" href="data:,">
<script type="importmap">{"imports": {"react": "/react-shim.js"}}</script>
<script src="/react.development.js"></script>
<script src="/react-dom.development.js"></script>
</head><body><main id="root"></main></body></html>"""
REACT_SHIM = """const React = window.React;
export default React;
export const { useCallback, useEffect, useReducer, useRef, useState, createElement, StrictMode } = React;
"""


class _AppServer(ThreadingHTTPServer):
    files: dict[str, tuple[bytes, str]]


class _AppHandler(BaseHTTPRequestHandler):
    server: _AppServer

    def do_GET(self) -> None:  # noqa: N802 - the http.server interface
        found = self.server.files.get(urlsplit(self.path).path)
        body, kind = found or (b"not found", "text/plain")
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def app_origin() -> Iterator[str]:
    """A second origin on this machine, like a dev server (Vite's): the harness, React, and the
    package's modules as an app would load them."""
    js = "text/javascript"
    files = {
        "/harness.html": (HARNESS.encode(), "text/html"),
        "/react-shim.js": (REACT_SHIM.encode(), js),
        "/react.development.js": (node_module("react/umd/react.development.js").read_bytes(), js),
        "/react-dom.development.js": (node_module("react-dom/umd/react-dom.development.js").read_bytes(), js),
    }
    for module in CLIENT_DIR.glob("*.js"):
        files[f"/client/{module.name}"] = (module.read_bytes(), js)
    server = _AppServer(("127.0.0.1", 0), _AppHandler)
    server.files = files
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _harness(page: Any, origin: str) -> None:
    page.goto(f"{origin}/harness.html")


def _user(sql: Any) -> tuple[str, str]:
    user_id = seed_user(sql)
    return str(user_id), token_for(user_id)


def _api_calls(page: Any, program_id: str = "") -> list[tuple[float, str, str]]:
    """Record (time, method, path) of every request the page makes to the API (preflights aside)."""
    seen: list[tuple[float, str, str]] = []

    def record(request: Any) -> None:
        path = urlsplit(request.url).path
        if request.method != "OPTIONS" and path.startswith(("/programs", "/realtime")) and program_id in path:
            seen.append((time.monotonic(), request.method, path))

    page.on("request", record)
    return seen


# The hook on a page of its own: `window.__mount(props)` renders <App> under StrictMode, as a dev
# build does. App records every state it renders; `makeClient` gives it a new TpgClient on every
# render when `inline` (what an app that writes useProgramGeneration(new TpgClient(...)) does), and
# `autoStart` starts a generation from a child's effect, which runs before the hook's own effects.
HOOK_APP = """async ({ api, token }) => {
  const { TpgClient } = await import("/client/index.js");
  const { useProgramGeneration } = await import("/client/react.js");
  const options = { baseUrl: api, getToken: async () => token, storage: null, poll: { intervalMs: 200 } };
  const shared = new TpgClient(options);
  window.__client = shared;
  window.__states = [];
  window.__renders = 0;
  function AutoStart({ generation }) {
    React.useEffect(() => { generation.start({ weeks: 1, name: "Auto" }); }, []);
    return null;
  }
  function App({ resume, programId, inline, autoStart }) {
    window.__renders += 1;
    const g = useProgramGeneration(inline ? new TpgClient(options) : shared, { resume, programId });
    window.__states.push([g.phase, g.status, g.progress, g.transport]);
    window.__generation = g;
    const text = `${g.phase}:${g.status}:${g.progress}:${g.isWorking}`;
    const cancelError = g.cancelError ? g.cancelError.code : "";
    return React.createElement(React.Fragment, null,
      React.createElement("p", { id: "out" }, text),
      React.createElement("p", { id: "errors" }, `${g.error ? g.error.code : ""}|${cancelError}`),
      autoStart ? React.createElement(AutoStart, { generation: g }) : null);
  }
  window.__mount = (props) => {
    window.__root = ReactDOM.createRoot(document.getElementById("root"));
    window.__root.render(React.createElement(React.StrictMode, null, React.createElement(App, props)));
  };
}"""


def _mount_hook(page: Any, stack: Any, token: str, app_origin: str, **props: Any) -> None:
    _harness(page, app_origin)
    page.evaluate(HOOK_APP, {"api": stack.url, "token": token})
    page.evaluate("(props) => window.__mount(props)", {"resume": False, **props})


def _pushed_progress(page: Any) -> list[tuple[str, str, int]]:
    """Record (program, status, progress) of every program.updated frame the page's sockets receive."""
    pushed: list[tuple[str, str, int]] = []

    def on_frame(payload: Any) -> None:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            message = json.loads(payload)
            if message.get("type") == "program.updated":
                pushed.append((message["programId"], message["status"], message["progress"]))

    page.on("websocket", lambda socket: socket.on("framereceived", on_frame))
    return pushed


def _wait_until_processing(stack: Any, token: str, program_id: str) -> None:
    for _ in range(100):
        if call(stack.url, "GET", f"/programs/{program_id}", token=token).body["status"] == "processing":
            return
        time.sleep(0.05)
    raise AssertionError("the generation was never claimed")


def test_the_react_hook_follows_a_generation_live_and_stops_when_unmounted(
    page: Any, stack: Any, sql: Any, app_origin: str, generation_latency: Any
) -> None:
    # The normal flow: the job runs before the page's socket opens (the claim's push is long gone),
    # and the socket must still carry its progress, not only its end. Long enough for several
    # progress writes.
    generation_latency(4.0)
    _, token = _user(sql)
    pushed = _pushed_progress(page)
    program_id = call(stack.url, "POST", "/programs", token=token).body["programId"]
    _wait_until_processing(stack, token, program_id)
    _mount_hook(page, stack, token, app_origin, programId=program_id)
    page.locator("#out", has_text="done:completed:100:false").wait_for(timeout=20_000)
    states = page.evaluate("window.__states")
    progress = [p for phase, status, p, _ in states if status == "processing"]
    assert progress and progress == sorted(progress) and any(0 < p < 100 for p in progress), states
    transports = {t for *_, t in states if t}
    if getattr(stack, "realtime_url", None):
        assert "realtime" in transports, transports
        live = {progress for _, status, progress in pushed if status in ("pending", "processing")}
        assert len(live) >= 2, pushed  # progress pushed while it ran, not only its end
    else:
        assert "polling" in transports, transports

    # Started from the hook: starting, then followed to the end.
    generation_latency(1.0)
    page.evaluate("window.__generation.start({ weeks: 2, name: 'From React' })")
    page.locator("#out", has_text="done:completed:100:false").wait_for(timeout=20_000)
    assert ["starting", None, 0, None] in page.evaluate("window.__states")

    # Unmounted mid-generation: the watch is aborted, nothing more is asked for.
    generation_latency(4.0)
    page.evaluate("window.__generation.start({ weeks: 2 })")
    page.locator("#out", has_text="watching:processing").wait_for(timeout=10_000)
    calls = _api_calls(page)
    page.evaluate("window.__root.unmount()")
    unmounted = time.monotonic()
    page.wait_for_timeout(1500)
    assert [c for c in calls if c[0] > unmounted + 0.1] == []

    # Mounted again, it resumes the generation in flight and follows it to the end.
    page.evaluate("window.__mount({ resume: true })")
    page.locator("#out", has_text="done:completed:100").wait_for(timeout=20_000)


def test_the_hook_under_strict_mode_finishes_a_start_made_before_its_effects_ran(
    page: Any, stack: Any, sql: Any, app_origin: str, generation_latency: Any
) -> None:
    """A child's effect starts a generation before the hook's own effects run; StrictMode then
    unmounts and remounts everything at once. The start must go on and be followed to the end,
    not abandoned in `starting`."""
    generation_latency(1.0)
    user_id, token = _user(sql)
    _mount_hook(page, stack, token, app_origin, resume=True, autoStart=True)
    page.locator("#out", has_text="done:completed:100:false").wait_for(timeout=20_000)
    assert page.locator("#errors").inner_text() == "|"
    rows = sql.execute("SELECT generation_status FROM training_programs WHERE user_id = %s", (user_id,))
    assert [r["generation_status"] for r in rows.fetchall()] == ["completed"]
    page.errors.clear()  # StrictMode's second start meets the first: a 409 (resumed), logged by Chromium


def test_a_client_created_in_render_causes_no_request_storm(
    page: Any, stack: Any, sql: Any, app_origin: str, generation_latency: Any
) -> None:
    generation_latency(4.0)
    _, token = _user(sql)
    program_id = call(stack.url, "POST", "/programs", token=token).body["programId"]
    calls = _api_calls(page, program_id)
    _mount_hook(page, stack, token, app_origin, resume=True, inline=True)
    page.locator("#out", has_text="watching:processing").wait_for(timeout=10_000)
    started = time.monotonic()
    page.wait_for_timeout(2000)
    gets = [c for c in calls if c[0] > started and c[1] == "GET"]
    # Polling at 200 ms at most until the socket carries an update: about 10 in 2 s, not hundreds.
    assert len(gets) <= 14, len(gets)
    assert page.evaluate("window.__renders") < 100
    page.locator("#out", has_text="done:completed:100").wait_for(timeout=20_000)


def test_a_failed_cancel_is_reported_apart_and_the_watch_goes_on(
    page: Any, stack: Any, sql: Any, app_origin: str, generation_latency: Any
) -> None:
    generation_latency(2.0)
    _, token = _user(sql)
    page.route(
        f"{stack.url}/programs/*/cancel",
        lambda route: route.fulfill(
            status=503,
            content_type="application/json",
            body='{"error": {"code": "SERVICE_UNAVAILABLE", "message": "Busy."}}',
        ),
    )
    _mount_hook(page, stack, token, app_origin)
    page.evaluate("window.__generation.start({ weeks: 1 })")
    page.locator("#out", has_text="watching:processing").wait_for(timeout=10_000)
    assert page.evaluate("window.__generation.cancel()") is None
    page.locator("#errors", has_text="|SERVICE_UNAVAILABLE").wait_for()
    out = page.locator("#out").inner_text()
    assert out.startswith("watching:") and out.endswith(":true"), out  # still working
    page.locator("#out", has_text="done:completed:100:false").wait_for(timeout=20_000)
    assert page.locator("#errors").inner_text() == "|"  # nothing stale beside the result
    page.errors.clear()  # Chromium logs the 503: expected here


def test_the_hook_retrying_while_another_generation_runs_follows_that_one(
    page: Any, stack: Any, sql: Any, app_origin: str, generation_latency: Any
) -> None:
    generation_latency(6.0)
    _, token = _user(sql)
    _mount_hook(page, stack, token, app_origin)
    page.evaluate("window.__generation.start({ weeks: 1 })")
    page.locator("#out", has_text="watching:processing").wait_for(timeout=10_000)
    page.evaluate("window.__generation.cancel()")
    page.locator("#out", has_text="done:cancelled").wait_for(timeout=15_000)
    generation_latency(0.5)
    other = call(stack.url, "POST", "/programs", token=token, body={"name": "Other tab"}).body["programId"]
    assert page.evaluate("window.__generation.retry()") == other
    page.locator("#out", has_text="done:completed:100").wait_for(timeout=20_000)
    assert page.evaluate("window.__generation.programId") == other
    assert page.locator("#errors").inner_text() == "|"
    page.errors.clear()  # Chromium logs the 409: expected here


def test_abort_stops_watching_at_once_and_cancels_the_request_in_flight(
    page: Any, stack: Any, sql: Any, app_origin: str, generation_latency: Any
) -> None:
    generation_latency(5.0)
    _, token = _user(sql)
    program_id = call(stack.url, "POST", "/programs", token=token).body["programId"]
    _harness(page, app_origin)
    calls = _api_calls(page, program_id)
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.failure or ""))
    polls = {"n": 0}

    def hold_the_third_poll(route: Any) -> None:
        if route.request.method == "GET":
            polls["n"] += 1
            if polls["n"] == 3:
                time.sleep(1.0)  # the page aborts while this request waits for its answer
        # The browser may have cancelled it meanwhile (that is the point): continuing then fails.
        with contextlib.suppress(Exception):
            route.continue_()

    page.route(f"{stack.url}/programs/{program_id}", hold_the_third_poll)
    result = page.evaluate(
        """async ({ api, token, programId }) => {
          const { TpgClient } = await import("/client/index.js");
          const client = new TpgClient({ baseUrl: api, getToken: () => token, realtime: false,
                                         storage: null, poll: { intervalMs: 150, backoff: 1 } });
          const controller = new AbortController();
          const updates = [];
          let aborted = false, lateUpdates = 0;
          const watched = client.watch(programId, {
            signal: controller.signal,
            onUpdate: (p) => { updates.push(p.status); if (aborted) lateUpdates += 1; },
          });
          setTimeout(() => { aborted = true; controller.abort(); }, 600);
          let error = null;
          try { await watched; } catch (e) { error = e.name; }
          await new Promise((r) => setTimeout(r, 1200));
          return { error, updates: updates.length, lateUpdates };
        }""",
        {"api": stack.url, "token": token, "programId": program_id},
    )
    assert result["error"] == "AbortError" and result["lateUpdates"] == 0 and result["updates"] >= 1, result
    assert any("ERR_ABORTED" in reason for reason in failed), failed  # the held poll was cancelled
    assert len(calls) == 3, calls  # and none was sent after the abort


def test_a_401_refreshes_the_token_and_sends_the_request_again(
    page: Any, stack: Any, sql: Any, app_origin: str
) -> None:
    user_id, fresh = _user(sql)
    expired = token_for(user_id, now=int(time.time()) - 7200, ttl_seconds=3600)
    _harness(page, app_origin)
    statuses: list[tuple[str, int]] = []
    page.on(
        "response",
        lambda r: r.request.method == "POST" and "/programs" in r.url and statuses.append(r.status),
    )
    result = page.evaluate(
        """async ({ api, expired, fresh }) => {
          const { TpgClient } = await import("/client/index.js");
          const asked = [];
          const client = new TpgClient({
            baseUrl: api,
            storage: null,
            getToken: async ({ forceRefresh }) => {
              asked.push(forceRefresh);
              return forceRefresh ? fresh : expired;
            },
          });
          const accepted = await client.createProgram({ weeks: 1 });
          return { status: accepted.status, asked };
        }""",
        {"api": stack.url, "expired": expired, "fresh": fresh},
    )
    assert result == {"status": "pending", "asked": [False, False, True]}
    assert statuses == [401, 202]
    count = sql.execute("SELECT count(*) AS n FROM training_programs WHERE user_id = %s", (user_id,))
    assert count.fetchone()["n"] == 1
    page.errors.clear()  # Chromium logs the 401 of a cross-origin fetch: expected here


def test_an_app_on_another_origin_calls_the_api_through_cors(
    page: Any, stack: Any, sql: Any, app_origin: str, generation_latency: Any
) -> None:
    """The preflight is answered before authentication (an authorized JSON POST needs one), the
    answers carry the app's origin, and the headers the client reads (Location) are exposed."""
    generation_latency(3.0)  # still in flight at the second POST: a 409 to resume
    _, token = _user(sql)
    _harness(page, app_origin)
    result = page.evaluate(
        """async ({ api, token }) => {
          const { TpgClient } = await import("/client/index.js");
          const client = new TpgClient({
            baseUrl: api, getToken: () => token, storage: null, realtime: false,
          });
          const raw = await fetch(api + "/programs", { method: "POST", headers: {
            Authorization: "Bearer " + token, "Content-Type": "application/json" }, body: "{}" });
          const accepted = await raw.json();
          const started = await client.start({ weeks: 1 });  // a 409: the one in flight, resumed
          const status = await client.getProgram(started.programId);
          return { status: raw.status, location: raw.headers.get("Location"),
                   expected: "/programs/" + accepted.programId, resumed: started.resumed,
                   same: started.programId === accepted.programId && status.programId === accepted.programId,
                   startedStatus: started.status, gotStatus: status.status,
                   origin: location.origin };
        }""",
        {"api": stack.url, "token": token},
    )
    assert result["origin"] == app_origin and result["status"] == 202
    assert result["location"] == result["expected"]
    assert result["resumed"] is True and result["same"] is True
    assert result["startedStatus"] in ("pending", "processing")  # the program's own, from a GET
    page.errors.clear()  # Chromium logs the 409 of a cross-origin fetch: expected here


def test_an_origin_not_allowed_is_refused(page: Any, stack: Any, sql: Any, app_origin: str) -> None:
    _, token = _user(sql)
    stack.wiring.update(
        settings=stack.settings.model_copy(update={"cors_allow_origins": "https://app.example.com"})
    )
    _harness(page, app_origin)
    result = page.evaluate(
        """async ({ api, token }) => {
          const { TpgClient } = await import("/client/index.js");
          const client = new TpgClient({
            baseUrl: api, getToken: () => token, storage: null, realtime: false,
          });
          try { await client.createProgram({ weeks: 1 }); return null; }
          catch (e) { return { code: e.code, status: e.status, cause: String(e.cause) }; }
        }""",
        {"api": stack.url, "token": token},
    )
    assert result is not None and result["code"] == "NETWORK_ERROR" and "TypeError" in result["cause"], result
    page.errors.clear()  # Chromium logs the CORS refusal itself: expected here
