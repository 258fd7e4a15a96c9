"""The client package (clients/js) in Chromium against the local stack: the React hook, abort,
refresh-and-retry after a 401, and CORS from another origin. Its rules on a scripted fetch and
WebSocket (polling pace, ordering, fallbacks) are Node tests (clients/js/test)."""

from __future__ import annotations

import contextlib
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


def test_the_react_hook_follows_a_generation_and_stops_when_unmounted(
    page: Any, stack: Any, sql: Any, app_origin: str, generation_latency: Any
) -> None:
    generation_latency(1.5)
    _, token = _user(sql)
    _harness(page, app_origin)
    page.evaluate(
        """async ({ api, token }) => {
          const { TpgClient } = await import("/client/index.js");
          const { useProgramGeneration } = await import("/client/react.js");
          const client = new TpgClient({
            baseUrl: api, getToken: async () => token, storage: null, poll: { intervalMs: 200 },
          });
          window.__states = [];
          function App({ resume }) {
            const g = useProgramGeneration(client, { resume });
            window.__states.push([g.phase, g.status, g.progress, g.transport]);
            window.__generation = g;
            const text = `${g.phase}:${g.status}:${g.progress}:${g.isWorking}`;
            return React.createElement("p", { id: "out" }, text);
          }
          window.__mount = (resume) => {
            window.__root = ReactDOM.createRoot(document.getElementById("root"));
            const app = React.createElement(App, { resume });
            window.__root.render(React.createElement(React.StrictMode, null, app));
          };
          window.__mount(false);
        }""",
        {"api": stack.url, "token": token},
    )
    page.locator("#out", has_text="idle:null:0:false").wait_for()
    page.evaluate("window.__generation.start({ weeks: 2, name: 'From React' })")
    page.locator("#out", has_text="done:completed:100:false").wait_for(timeout=20_000)
    states = page.evaluate("window.__states")
    progress = [p for phase, status, p, _ in states if status == "processing"]
    assert progress and progress == sorted(progress) and any(0 < p < 100 for p in progress), states
    assert ["starting", None, 0, None] in states
    transports = {t for *_, t in states if t}
    expected = "realtime" if getattr(stack, "realtime_url", None) else "polling"
    assert expected in transports, (expected, transports)

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
    page.evaluate("window.__mount(true)")
    page.locator("#out", has_text="done:completed:100").wait_for(timeout=20_000)


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
    page: Any, stack: Any, sql: Any, app_origin: str
) -> None:
    """The preflight is answered before authentication (an authorized JSON POST needs one), the
    answers carry the app's origin, and the headers the client reads (Location) are exposed."""
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
                   origin: location.origin };
        }""",
        {"api": stack.url, "token": token},
    )
    assert result["origin"] == app_origin and result["status"] == 202
    assert result["location"] == result["expected"]
    assert result["resumed"] is True and result["same"] is True
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
