// Test doubles for the client: a scripted API behind a fake fetch, a fake WebSocket the test
// drives, a storage, and a helper that moves node:test's mocked clock while promises settle.
import { mock } from "node:test";

/** `2026-12-02T10:00:00.000123Z` for n = 123: microsecond timestamps that sort like n. */
export function ts(n) {
  return `2026-12-02T10:00:${String(Math.floor(n / 1e6)).padStart(2, "0")}.${String(n % 1e6).padStart(6, "0")}Z`;
}

export function status(state, progress, at, extra = {}) {
  return {
    programId: "p1",
    name: "Block one",
    status: state,
    stage: state === "processing" ? "generating" : state === "pending" ? "queued" : null,
    progress,
    error: state === "failed" ? { code: "INVALID_PROGRAM", message: "No program passed." } : null,
    program: state === "completed" ? { name: "Block one", schedule: [] } : null,
    createdAt: ts(0),
    updatedAt: ts(at),
    completedAt: state === "completed" ? ts(at) : null,
    cancelRequested: false,
    ...extra,
  };
}

function jsonResponse(statusCode, body, headers = {}) {
  const text = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
  return {
    ok: statusCode >= 200 && statusCode < 300,
    status: statusCode,
    headers: new Headers(headers),
    text: async () => text,
  };
}

export function apiError(statusCode, code, extra = {}, headers = {}) {
  return [statusCode, { error: { code, message: `${code} message`, ...extra } }, headers];
}

/**
 * A fake API: `routes` maps "METHOD /path" to a handler (call) => [status, body, headers] or a
 * list of those answered in turn (the last repeats). Every call is recorded with the time on the
 * (mocked) clock, its headers and its signal. `hold: true` on a route keeps its answer until
 * `release()`, so a test can abort a request in flight (`ignoreAbort: true`: it answers all the same).
 */
export class FakeApi {
  constructor(routes = {}) {
    this.routes = routes;
    this.calls = [];
    this.held = [];
    this.fetch = this.fetch.bind(this);
  }

  on(route, answer) {
    this.routes[route] = answer;
    return this;
  }

  callsTo(route) {
    return this.calls.filter((c) => `${c.method} ${c.path}` === route);
  }

  async fetch(url, init) {
    const path = url.replace(/^https?:\/\/[^/]+/, "");
    const call = {
      method: init.method,
      path,
      at: Date.now(),
      auth: init.headers.Authorization || null,
      body: init.body === undefined ? undefined : JSON.parse(init.body),
      signal: init.signal,
      init,
    };
    this.calls.push(call);
    if (init.signal && init.signal.aborted) throw init.signal.reason;
    const route = this.routes[`${init.method} ${path}`];
    if (route === undefined) return jsonResponse(404, { error: { code: "NOT_FOUND", message: "Not found." } });
    if (route && route.hold) {
      return new Promise((resolve, reject) => {
        // ignoreAbort: a fetch that answers anyway (some polyfills do); the client must not show it.
        if (!route.ignoreAbort) init.signal?.addEventListener("abort", () => reject(init.signal.reason), { once: true });
        this.held.push(() => resolve(jsonResponse(...route.answer)));
      });
    }
    if (typeof route === "function") {
      const answer = route(call);
      if (answer instanceof Error) throw answer;
      return jsonResponse(...answer);
    }
    if (Array.isArray(route) && Array.isArray(route[0])) {
      const index = Math.min(this.callsTo(`${init.method} ${path}`).length - 1, route.length - 1);
      return jsonResponse(...route[index]);
    }
    return jsonResponse(...route);
  }

  release() {
    for (const resolve of this.held.splice(0)) resolve();
  }
}

/** A WebSocket the test drives: `open()`, `push(message)`, `drop()`, `refuse()`, `fail()`;
 * `FakeSocket.opened` lists them. */
export class FakeSocket {
  static opened = [];

  constructor(url) {
    this.url = url;
    this.closed = false;
    this.sent = [];
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    FakeSocket.opened.push(this);
  }

  open() {
    this.onopen?.({});
  }

  push(message) {
    this.onmessage?.({ data: typeof message === "string" ? message : JSON.stringify(message) });
  }

  send(data) {
    this.sent.push(JSON.parse(data));
  }

  /** The handshake fails (a refused ticket): closed without ever opening. */
  refuse() {
    this.closed = true;
    this.onclose?.({ code: 1006 });
  }

  drop() {
    this.closed = true;
    this.onerror?.({});
    this.onclose?.({ code: 1006 });
  }

  /** Node 20's WebSocket on a refused connection: an error event, no close, still CONNECTING. */
  fail() {
    this.onerror?.({ message: "Received network error or non-101 status code." });
  }

  close() {
    this.closed = true;
  }
}

export function message(state, progress, at, extra = {}) {
  return {
    type: "program.updated",
    version: 1,
    programId: "p1",
    status: state,
    stage: state === "processing" ? "generating" : null,
    progress,
    error: null,
    cancelRequested: false,
    updatedAt: ts(at),
    programUrl: "/programs/p1",
    ...extra,
  };
}

export function memoryStorage() {
  const items = new Map();
  return {
    getItem: (k) => (items.has(k) ? items.get(k) : null),
    setItem: (k, v) => items.set(k, String(v)),
    removeItem: (k) => items.delete(k),
  };
}

/** Let every settled promise run (several rounds: fetch -> text() -> JSON -> the next step). */
export async function settle(rounds = 10) {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Move the mocked clock by `ms` in steps, letting promises settle between them. */
export async function advance(ms, step = 50) {
  for (let passed = 0; passed < ms; passed += step) {
    mock.timers.tick(Math.min(step, ms - passed));
    await settle(3);
  }
  await settle();
}

export function useMockClock(t) {
  mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: Date.parse("2026-12-02T10:00:00Z") });
  FakeSocket.opened = [];
  t.after(() => mock.timers.reset());
}
