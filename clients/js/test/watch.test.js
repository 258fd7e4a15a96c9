// watch(): the polling pattern, the realtime channel and its fallbacks, ordering, abort. On
// node:test's mocked clock, so the waits are exact.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { TpgClient, isAbortError } from "../src/index.js";
import { FakeApi, FakeSocket, advance, apiError, memoryStorage, message, settle, status, useMockClock } from "./fakes.js";

const POLL = { intervalMs: 100, maxIntervalMs: 800, backoff: 2, timeoutMs: 60_000, realtimeCheckMs: 10_000, reconnectMs: 500 };
const TICKET = [201, { ticket: "tk", url: "ws://127.0.0.1:3001/?ticket=tk", expiresIn: 60 }];

function clientFor(api, options = {}) {
  return new TpgClient({ fetch: api.fetch, storage: memoryStorage(), poll: POLL, getToken: () => "t", ...options });
}

function gaps(calls) {
  return calls.slice(1).map((call, i) => call.at - calls[i].at);
}

/** Start watching; collect updates and transports; `result` settles with {value} or {error}. */
function watching(client, options = {}) {
  const seen = { updates: [], transports: [], errors: [] };
  seen.result = client
    .watch("p1", {
      onUpdate: (p) => seen.updates.push(`${p.status}:${p.progress}`),
      onTransport: (t) => seen.transports.push(t),
      onError: (e, willRetry) => seen.errors.push(`${e.code}:${willRetry}`),
      ...options,
    })
    .then(
      (value) => ({ value }),
      (error) => ({ error }),
    );
  return seen;
}

describe("polling", () => {
  test("unchanged answers back off to the cap; a change resets the interval", async (t) => {
    useMockClock(t);
    const same = [200, status("processing", 30, 1)];
    const api = new FakeApi({
      "GET /programs/p1": [same, same, same, same, same, [200, status("processing", 50, 2)], [200, status("completed", 100, 3)]],
    });
    const seen = watching(clientFor(api, { realtime: false }));
    await advance(3000);
    const { value } = await seen.result;
    assert.equal(value.status, "completed");
    assert.deepEqual(seen.transports, ["polling"]);
    // 100 (the first answer is a change), then x2 while unchanged up to the 800 cap, 100 after the change.
    assert.deepEqual(gaps(api.calls), [100, 200, 400, 800, 800, 100]);
    assert.deepEqual(seen.updates.slice(-2), ["processing:50", "completed:100"]);
  });

  test("transient errors double the wait and honour Retry-After; 8 in a row give up", async (t) => {
    useMockClock(t);
    const busy = apiError(503, "SERVICE_UNAVAILABLE", {}, { "Retry-After": "2" });
    const api = new FakeApi({ "GET /programs/p1": [busy, [200, status("completed", 100, 1)]] });
    const seen = watching(clientFor(api, { realtime: false }));
    await advance(3000);
    assert.equal((await seen.result).value.status, "completed");
    assert.deepEqual(gaps(api.calls), [2000]); // above the 800 ms cap: the server said 2 s
    assert.deepEqual(seen.errors, ["SERVICE_UNAVAILABLE:true"]);

    const down = new FakeApi({ "GET /programs/p1": apiError(503, "SERVICE_UNAVAILABLE") });
    const failing = watching(clientFor(down, { realtime: false }));
    await advance(20_000);
    assert.equal((await failing.result).error.code, "SERVICE_UNAVAILABLE");
    assert.equal(down.calls.length, 8);
    assert.equal(failing.errors.at(-1), "SERVICE_UNAVAILABLE:false");
  });

  test("404 stops at once and forgets the program; the deadline is POLL_TIMEOUT, not transient", async (t) => {
    useMockClock(t);
    const gone = new FakeApi({ "GET /programs/p1": apiError(404, "NOT_FOUND") });
    const client = clientFor(gone, { realtime: false });
    client.remember("p1");
    const seen = watching(client);
    await advance(100);
    assert.equal((await seen.result).error.code, "NOT_FOUND");
    assert.equal(gone.calls.length, 1);
    assert.equal(client.remembered(), null);

    const slow = new FakeApi({ "GET /programs/p1": [200, status("processing", 30, 1)] });
    const waiting = watching(clientFor(slow, { realtime: false }), { timeoutMs: 2000 });
    await advance(3000);
    const { error } = await waiting.result;
    assert.equal(error.code, "POLL_TIMEOUT");
    assert.equal(error.isTransient(), false);
    assert.equal(error.programId, "p1");
  });

  test("a tab shown again polls at once", async (t) => {
    useMockClock(t);
    const page = new EventTarget();
    page.visibilityState = "hidden";
    globalThis.document = page;
    t.after(() => delete globalThis.document);
    const api = new FakeApi({ "GET /programs/p1": [200, status("processing", 30, 1)] });
    const seen = watching(clientFor(api, { realtime: false }));
    await advance(100);
    assert.equal(api.calls.length, 1); // hidden: the next poll is 800 ms away
    page.visibilityState = "visible";
    page.dispatchEvent(new Event("visibilitychange"));
    await settle();
    assert.equal(api.calls.length, 2);
    api.on("GET /programs/p1", [200, status("completed", 100, 2)]);
    await advance(500);
    assert.equal((await seen.result).value.status, "completed");
  });
});

describe("abort", () => {
  test("aborting stops everything: no update after it, the request in flight is aborted", async (t) => {
    useMockClock(t);
    const api = new FakeApi({ "GET /programs/p1": [[200, status("processing", 30, 1)]] });
    const controller = new AbortController();
    const seen = watching(clientFor(api, { realtime: false }), { signal: controller.signal });
    await advance(100);
    api.on("GET /programs/p1", { hold: true, ignoreAbort: true, answer: [200, status("completed", 100, 2)] });
    await advance(200);
    const inFlight = api.calls.at(-1);
    controller.abort();
    api.release();
    await advance(2000);
    const { error } = await seen.result;
    assert.ok(isAbortError(error), String(error));
    assert.equal(inFlight.signal.aborted, true);
    assert.deepEqual(seen.updates, ["processing:30"]); // the completed answer never reached onUpdate
    const calls = api.calls.length;
    await advance(5000);
    assert.equal(api.calls.length, calls);
  });
});

describe("realtime", () => {
  test("updates arrive over the socket; a GET reconciles after it opens; final means a GET for the program", async (t) => {
    useMockClock(t);
    const api = new FakeApi({
      "POST /realtime/tickets": TICKET,
      "GET /programs/p1": [
        [200, status("pending", 0, 1)],
        [200, status("processing", 10, 2)],
        [200, status("completed", 100, 5)],
      ],
    });
    const seen = watching(clientFor(api, { WebSocket: FakeSocket }));
    await settle();
    const socket = FakeSocket.opened[0];
    assert.equal(socket.url, "ws://127.0.0.1:3001/?ticket=tk");
    socket.open();
    await settle();
    assert.equal(api.callsTo("GET /programs/p1").length, 2); // the first GET, then the one after open
    socket.push(message("processing", 40, 3));
    socket.push(message("processing", 30, 2.5)); // older: never shown over the newer one
    socket.push(message("processing", 60, 4));
    socket.push({ ...message("processing", 99, 9), programId: "other" }); // not ours
    await settle();
    assert.equal(api.callsTo("GET /programs/p1").length, 2); // no polling while the socket is open
    socket.push(message("completed", 100, 5));
    await settle();
    const { value } = await seen.result;
    assert.equal(value.status, "completed");
    assert.deepEqual(value.program, { name: "Block one", schedule: [] });
    assert.deepEqual(seen.updates, ["pending:0", "processing:10", "processing:40", "processing:60", "completed:100"]);
    assert.deepEqual(seen.transports, ["realtime"]);
    assert.equal(socket.closed, true);
  });

  test("a refused ticket (404 REALTIME_UNAVAILABLE) means polling, and no ticket is asked for again", async (t) => {
    useMockClock(t);
    const api = new FakeApi({
      "POST /realtime/tickets": apiError(404, "REALTIME_UNAVAILABLE"),
      "GET /programs/p1": [[200, status("processing", 30, 1)], [200, status("completed", 100, 2)]],
    });
    const client = clientFor(api, { WebSocket: FakeSocket });
    const first = watching(client);
    await advance(500);
    assert.equal((await first.result).value.status, "completed");
    assert.deepEqual(first.transports, ["polling"]);
    assert.equal(FakeSocket.opened.length, 0);

    api.on("GET /programs/p1", [200, status("completed", 100, 2)]);
    const second = watching(client);
    await advance(100);
    assert.equal((await second.result).value.status, "completed");
    assert.equal(api.callsTo("POST /realtime/tickets").length, 1);
  });

  test("a lost socket falls back to polling at once, reconnects with a new ticket and reconciles", async (t) => {
    useMockClock(t);
    const api = new FakeApi({ "POST /realtime/tickets": TICKET, "GET /programs/p1": [200, status("processing", 20, 1)] });
    const seen = watching(clientFor(api, { WebSocket: FakeSocket }));
    await settle();
    FakeSocket.opened[0].open();
    await settle();
    const before = api.callsTo("GET /programs/p1").length;
    FakeSocket.opened[0].drop();
    await settle();
    assert.equal(api.callsTo("GET /programs/p1").length, before + 1); // polled at once
    assert.deepEqual(seen.transports, ["realtime", "polling"]);
    await advance(300);
    assert.ok(api.callsTo("GET /programs/p1").length >= before + 3, "polling at the polling pace");

    await advance(300); // the reconnect wait (500 ms) has passed: a new ticket, a new socket
    assert.equal(api.callsTo("POST /realtime/tickets").length, 2);
    assert.equal(FakeSocket.opened.length, 2);
    api.on("GET /programs/p1", [200, status("processing", 70, 2)]);
    FakeSocket.opened[1].open();
    await settle();
    assert.equal(seen.updates.at(-1), "processing:70"); // reconciled after the reconnect
    assert.deepEqual(seen.transports, ["realtime", "polling", "realtime"]);
    FakeSocket.opened[1].push(message("processing", 75, 2.5));
    await advance(300); // the poll already waiting (100 ms) goes out; then the socket is trusted
    const polls = api.callsTo("GET /programs/p1").length;
    await advance(5000);
    assert.equal(api.callsTo("GET /programs/p1").length, polls); // the socket again: no polling

    api.on("GET /programs/p1", [200, status("failed", 0, 3)]);
    FakeSocket.opened[1].push(message("failed", 0, 3));
    await settle();
    assert.equal((await seen.result).value.error.code, "INVALID_PROGRAM");
  });

  test("an open socket is trusted only once it carries this program's update: until then, polling", async (t) => {
    // The normal flow: the job started before the socket opened, and the server may not push to
    // a new connection at once. Polling goes on at its pace until the first push arrives.
    useMockClock(t);
    const api = new FakeApi({ "POST /realtime/tickets": TICKET, "GET /programs/p1": [200, status("processing", 20, 1)] });
    const seen = watching(clientFor(api, { WebSocket: FakeSocket }), { backoff: 1 });
    await settle();
    const socket = FakeSocket.opened[0];
    socket.open();
    await settle();
    const opened = api.callsTo("GET /programs/p1").length;
    socket.push({ ...message("processing", 99, 9), programId: "other" }); // another program's: not ours
    await advance(1000);
    assert.equal(api.callsTo("GET /programs/p1").length, opened + 10); // every 100 ms (intervalMs)
    assert.deepEqual(seen.transports, ["realtime"]);

    socket.push(message("processing", 45, 2));
    await advance(150); // the poll already waiting goes out
    const heard = api.callsTo("GET /programs/p1").length;
    await advance(9000);
    assert.equal(api.callsTo("GET /programs/p1").length, heard); // trusted: a GET every 10 s only
    await advance(1000);
    assert.equal(api.callsTo("GET /programs/p1").length, heard + 1);
    assert.deepEqual(seen.updates, ["processing:20", "processing:45"]);
  });

  test("the same state from a push and a GET is delivered once", async (t) => {
    useMockClock(t);
    const api = new FakeApi({ "POST /realtime/tickets": TICKET, "GET /programs/p1": [200, status("processing", 20, 1)] });
    const seen = watching(clientFor(api, { WebSocket: FakeSocket }));
    await settle();
    FakeSocket.opened[0].open();
    await settle();
    FakeSocket.opened[0].push(message("processing", 20, 1)); // what the GETs said, pushed
    api.on("GET /programs/p1", [200, status("processing", 50, 2)]);
    FakeSocket.opened[0].push(message("processing", 50, 2));
    await advance(500); // polls answer the pushed state again
    assert.ok(api.callsTo("GET /programs/p1").length >= 3);
    assert.deepEqual(seen.updates, ["processing:20", "processing:50"]);
  });

  test("a connection refused with only an error event (Node 20) is a failed socket: polling, then a new ticket", async (t) => {
    useMockClock(t);
    const api = new FakeApi({ "POST /realtime/tickets": TICKET, "GET /programs/p1": [200, status("processing", 20, 1)] });
    const seen = watching(clientFor(api, { WebSocket: FakeSocket }));
    await settle();
    FakeSocket.opened[0].fail();
    await settle();
    assert.equal(FakeSocket.opened[0].closed, true); // closed by the client: it would stay CONNECTING
    assert.deepEqual(seen.transports, ["polling"]);
    await advance(600); // the reconnect wait (500 ms): a second ticket, a second socket
    assert.equal(api.callsTo("POST /realtime/tickets").length, 2);
    FakeSocket.opened[1].fail();
    await advance(1100);
    FakeSocket.opened[2].fail();
    await advance(40_000); // 3 in a row: polls to its end, no more tickets
    assert.equal(api.callsTo("POST /realtime/tickets").length, 3);
    api.on("GET /programs/p1", [200, status("completed", 100, 2)]);
    await advance(1000);
    assert.equal((await seen.result).value.status, "completed");
  });

  test("a message before the first GET answers is shown only if newer than that answer", async (t) => {
    useMockClock(t);
    const api = new FakeApi({
      "POST /realtime/tickets": TICKET,
      "GET /programs/p1": { hold: true, answer: [200, status("processing", 20, 2)] },
    });
    const seen = watching(clientFor(api, { WebSocket: FakeSocket }));
    await settle();
    FakeSocket.opened[0].open();
    FakeSocket.opened[0].push(message("processing", 10, 1)); // older than the GET's answer
    FakeSocket.opened[0].push(message("processing", 45, 3)); // newer
    api.on("GET /programs/p1", [200, status("processing", 20, 2)]); // the reconcile GET: older still
    api.release();
    await settle();
    assert.deepEqual(seen.updates, ["processing:45"]);
    assert.equal(FakeSocket.opened[0].closed, false);
    api.on("GET /programs/p1", [200, status("cancelled", 45, 4)]);
    FakeSocket.opened[0].push(message("cancelled", 45, 4));
    await settle();
    assert.equal((await seen.result).value.status, "cancelled");
  });

  test("without a WebSocket (or realtime: false) no ticket is asked for", async (t) => {
    useMockClock(t);
    const api = new FakeApi({ "GET /programs/p1": [200, status("completed", 100, 1)] });
    const seen = watching(clientFor(api, { WebSocket: undefined }));
    await settle();
    assert.equal((await seen.result).value.status, "completed");
    assert.equal(api.callsTo("POST /realtime/tickets").length, 0);
  });

  test("an open socket is kept alive with a ping; messages of another kind or version are ignored", async (t) => {
    useMockClock(t);
    const api = new FakeApi({ "POST /realtime/tickets": TICKET, "GET /programs/p1": [200, status("processing", 20, 1)] });
    const seen = watching(clientFor(api, { WebSocket: FakeSocket }), { pingMs: 1000, realtimeCheckMs: 60_000 });
    await settle();
    const socket = FakeSocket.opened[0];
    socket.open();
    await settle();
    await advance(3000);
    assert.deepEqual(socket.sent, [{ type: "ping" }, { type: "ping" }, { type: "ping" }]);
    socket.push({ type: "pong" });
    socket.push({ ...message("processing", 90, 5), version: 2 });
    await settle();
    assert.deepEqual(seen.updates, ["processing:20"]);
    socket.drop();
    await advance(3000);
    assert.equal(socket.sent.length, 3); // no ping on a closed socket
  });

  test("after 3 failed tickets or refused sockets in a row, the watch polls to its end", async (t) => {
    useMockClock(t);
    const api = new FakeApi({
      "POST /realtime/tickets": [apiError(503, "SERVICE_UNAVAILABLE"), TICKET],
      "GET /programs/p1": [200, status("processing", 20, 1)],
    });
    const seen = watching(clientFor(api, { WebSocket: FakeSocket }));
    await advance(700); // the first ticket failed; the second comes after 500 ms
    assert.equal(api.callsTo("POST /realtime/tickets").length, 2);
    FakeSocket.opened[0].refuse(); // its handshake is refused (a used or expired ticket)
    await advance(1200); // the third after 1 s
    assert.equal(api.callsTo("POST /realtime/tickets").length, 3);
    FakeSocket.opened[1].refuse();
    await advance(40_000); // past the longest reconnect wait (30 s): nothing more is asked for
    assert.equal(api.callsTo("POST /realtime/tickets").length, 3);
    assert.deepEqual(seen.transports, ["polling"]);
    api.on("GET /programs/p1", [200, status("completed", 100, 2)]);
    await advance(1000);
    assert.equal((await seen.result).value.status, "completed");
  });

  test("aborting closes the socket and a pending reconnect never happens", async (t) => {
    useMockClock(t);
    const api = new FakeApi({ "POST /realtime/tickets": TICKET, "GET /programs/p1": [200, status("processing", 20, 1)] });
    const controller = new AbortController();
    const seen = watching(clientFor(api, { WebSocket: FakeSocket }), { signal: controller.signal });
    await settle();
    FakeSocket.opened[0].open();
    FakeSocket.opened[0].drop();
    await settle();
    controller.abort();
    await advance(5000);
    assert.ok(isAbortError((await seen.result).error));
    assert.equal(FakeSocket.opened.length, 1);
    assert.equal(api.callsTo("POST /realtime/tickets").length, 1);
  });

  test("a watch aborted with the app's own reason rejects with it, recognised by isAbortError", async (t) => {
    useMockClock(t);
    const api = new FakeApi({ "POST /realtime/tickets": TICKET, "GET /programs/p1": [200, status("processing", 20, 1)] });
    const controller = new AbortController();
    const seen = watching(clientFor(api, { WebSocket: FakeSocket }), { signal: controller.signal });
    await settle();
    const reason = new Error("unmounted");
    controller.abort(reason);
    await advance(100);
    const { error } = await seen.result;
    assert.equal(error, reason);
    assert.equal(isAbortError(error), true);
  });
});
