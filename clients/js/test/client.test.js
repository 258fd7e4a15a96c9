// The client's calls: tokens (async, refreshed after a 401), abort, errors and their codes.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  TpgApiError,
  TpgClient,
  compareTimestamps,
  isAbortError,
  parseRetryAfter,
} from "../src/index.js";
import { FakeApi, apiError, memoryStorage, status } from "./fakes.js";

function clientFor(api, options = {}) {
  return new TpgClient({ fetch: api.fetch, storage: memoryStorage(), realtime: false, ...options });
}

describe("tokens", () => {
  test("an async token provider's token is sent, awaited", async () => {
    const api = new FakeApi({ "GET /programs/p1": [200, status("processing", 10, 1)] });
    const client = clientFor(api, { getToken: async () => "t0k" });
    await client.getProgram("p1");
    assert.equal(api.calls[0].auth, "Bearer t0k");
  });

  test("a 401 asks for a fresh token and sends the request once more", async () => {
    const asked = [];
    let token = "old";
    const api = new FakeApi({
      "POST /programs": (call) =>
        call.auth === "Bearer new" ? [202, { programId: "p1", status: "pending", statusUrl: "/programs/p1" }] : apiError(401, "UNAUTHORIZED"),
    });
    const client = clientFor(api, {
      getToken: async ({ forceRefresh }) => {
        asked.push(forceRefresh);
        if (forceRefresh) token = "new";
        return token;
      },
    });
    const accepted = await client.createProgram({ weeks: 4 });
    assert.equal(accepted.programId, "p1");
    assert.deepEqual(api.calls.map((c) => c.auth), ["Bearer old", "Bearer new"]);
    assert.deepEqual(api.calls[1].body, { weeks: 4 });
    assert.deepEqual(asked, [false, false, true]); // the current one first: it may have changed meanwhile
  });

  test("concurrent 401s share one refresh", async () => {
    let refreshes = 0;
    let token = "old";
    const api = new FakeApi({
      "GET /programs/p1": (call) => (call.auth === "Bearer new" ? [200, status("processing", 10, 1)] : apiError(401, "UNAUTHORIZED")),
    });
    const client = clientFor(api, {
      getToken: async ({ forceRefresh }) => {
        if (forceRefresh) {
          refreshes += 1;
          await new Promise((resolve) => setTimeout(resolve, 5));
          token = "new";
        }
        return token;
      },
    });
    await Promise.all([client.getProgram("p1"), client.getProgram("p1"), client.getProgram("p1")]);
    assert.equal(refreshes, 1);
  });

  test("a 401 that a fresh token does not cure is UNAUTHORIZED, reported once", async () => {
    const reported = [];
    let n = 0;
    const api = new FakeApi({ "GET /programs/p1": apiError(401, "UNAUTHORIZED") });
    const client = clientFor(api, {
      getToken: async () => `t${n++}`,
      onUnauthorized: (error) => reported.push(error.code),
    });
    await assert.rejects(client.getProgram("p1"), { name: "TpgApiError", status: 401, code: "UNAUTHORIZED" });
    assert.equal(api.calls.length, 2);
    assert.deepEqual(reported, ["UNAUTHORIZED"]);
  });

  test("no new token after a 401: the request is not sent again", async () => {
    const api = new FakeApi({ "GET /programs/p1": apiError(401, "UNAUTHORIZED") });
    const client = clientFor(api, { getToken: () => "same" });
    await assert.rejects(client.getProgram("p1"), { code: "UNAUTHORIZED" });
    assert.equal(api.calls.length, 1);
  });
});

describe("abort", () => {
  test("the signal reaches fetch and an abort in flight rejects with AbortError", async () => {
    const api = new FakeApi({ "GET /programs/p1": { hold: true, answer: [200, status("processing", 10, 1)] } });
    const client = clientFor(api, { getToken: () => "t" });
    const controller = new AbortController();
    const pending = client.getProgram("p1", { signal: controller.signal });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(api.calls[0].signal, controller.signal);
    controller.abort();
    await assert.rejects(pending, (error) => isAbortError(error));
  });

  test("an abort while the token is fetched sends nothing", async () => {
    const api = new FakeApi({ "GET /programs/p1": [200, status("processing", 10, 1)] });
    const controller = new AbortController();
    const client = clientFor(api, { getToken: () => new Promise(() => {}) }); // never resolves
    const pending = client.getProgram("p1", { signal: controller.signal });
    controller.abort();
    await assert.rejects(pending, (error) => isAbortError(error));
    assert.equal(api.calls.length, 0);
  });

  test("an abort with a reason of the app's rejects with it, and isAbortError recognises it", async () => {
    const api = new FakeApi({ "GET /programs/p1": { hold: true, answer: [200, status("processing", 10, 1)] } });
    const client = clientFor(api, { getToken: () => "t" });
    const controller = new AbortController();
    const reason = new Error("the user left the page");
    const pending = client.getProgram("p1", { signal: controller.signal });
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort(reason);
    const error = await pending.catch((e) => e);
    assert.equal(error, reason);
    assert.equal(isAbortError(error), true);
    assert.equal(isAbortError(new Error("the user left the page")), false); // only what an abort rejected with
  });

  test("an already aborted signal rejects at once", async () => {
    const api = new FakeApi();
    const client = clientFor(api);
    await assert.rejects(client.getProgram("p1", { signal: AbortSignal.abort() }), (e) => isAbortError(e));
    assert.equal(api.calls.length, 0);
  });
});

describe("errors", () => {
  test("a network failure is NETWORK_ERROR, transient, with its cause", async () => {
    const cause = new TypeError("Failed to fetch");
    const client = clientFor({ fetch: async () => Promise.reject(cause) });
    const error = await client.getProgram("p1").catch((e) => e);
    assert.ok(error instanceof TpgApiError);
    assert.equal(error.status, 0);
    assert.equal(error.code, "NETWORK_ERROR");
    assert.equal(error.cause, cause);
    assert.equal(error.isTransient(), true);
  });

  test("Retry-After as seconds and as an HTTP date", async () => {
    const inTwoMinutes = new Date(Date.now() + 120_000).toUTCString();
    const api = new FakeApi({
      "POST /programs": [
        apiError(429, "QUOTA_EXCEEDED", {}, { "Retry-After": "3600" }),
        apiError(503, "SERVICE_UNAVAILABLE", {}, { "Retry-After": inTwoMinutes }),
      ],
    });
    const client = clientFor(api);
    const quota = await client.createProgram().catch((e) => e);
    assert.equal(quota.retryAfterSeconds, 3600);
    assert.equal(quota.isTransient(), false); // a daily quota is not waited out by polling
    const busy = await client.createProgram().catch((e) => e);
    assert.ok(busy.retryAfterSeconds >= 118 && busy.retryAfterSeconds <= 120, String(busy.retryAfterSeconds));
    assert.equal(busy.isTransient(), true);
  });

  test("API Gateway's own answers have no code: HTTP_ERROR with their message", async () => {
    const api = new FakeApi({ "GET /programs/p1": [429, { message: "Too Many Requests" }] });
    const error = await clientFor(api).getProgram("p1").catch((e) => e);
    assert.equal(error.code, "HTTP_ERROR");
    assert.equal(error.message, "Too Many Requests");
    assert.equal(error.isTransient(), true);
  });

  test("a success that is not JSON is INVALID_RESPONSE", async () => {
    const api = new FakeApi({ "GET /programs/p1": [200, "<html>proxy</html>"] });
    const error = await clientFor(api).getProgram("p1").catch((e) => e);
    assert.equal(error.code, "INVALID_RESPONSE");
    assert.ok(error.cause instanceof SyntaxError);
  });
});

describe("calls", () => {
  test("start resumes the program a 409 GENERATION_IN_FLIGHT names, with its real status", async () => {
    const api = new FakeApi({
      "POST /programs": apiError(409, "GENERATION_IN_FLIGHT", { programId: "p9" }),
      "GET /programs/p9": [200, { ...status("processing", 40, 3), programId: "p9" }],
    });
    const client = clientFor(api);
    assert.deepEqual(await client.start({ weeks: 4 }), { programId: "p9", status: "processing", resumed: true });
    assert.equal(client.remembered(), "p9");
  });

  test("the list's query string is written without URLSearchParams (React Native's throws on set)", async (t) => {
    const original = globalThis.URLSearchParams;
    globalThis.URLSearchParams = class {
      constructor() {
        throw new Error("not implemented");
      }
    };
    t.after(() => {
      globalThis.URLSearchParams = original;
    });
    const api = new FakeApi({ "GET /programs?limit=5&cursor=a%2Bb%3D": [200, { items: [], nextCursor: null }] });
    const page = await clientFor(api).listPrograms({ limit: 5, cursor: "a+b=" });
    assert.deepEqual(page, { items: [], nextCursor: null });
  });

  test("cancel posts to the program's cancel route; a final program is a 409", async () => {
    const api = new FakeApi({
      "POST /programs/p1/cancel": [
        [202, { programId: "p1", status: "processing", cancelRequested: true }],
        apiError(409, "PROGRAM_ALREADY_FINAL"),
      ],
    });
    const client = clientFor(api);
    assert.deepEqual(await client.cancel("p1"), { programId: "p1", status: "processing", cancelRequested: true });
    assert.deepEqual(api.calls[0].body, {});
    await assert.rejects(client.cancel("p1"), { status: 409, code: "PROGRAM_ALREADY_FINAL" });
  });

  test("current: a remembered program that is gone falls back to the one in flight", async () => {
    const api = new FakeApi({
      "GET /programs/gone": apiError(404, "NOT_FOUND"),
      "GET /programs?limit=20": [200, { items: [status("completed", 100, 1), status("processing", 30, 2)], nextCursor: null }],
    });
    const client = clientFor(api);
    client.remember("gone");
    const found = await client.current();
    assert.equal(found.status, "processing");
    assert.equal(client.remembered(), null);
  });
});

describe("helpers", () => {
  test("timestamps compare to the microsecond, across offsets", () => {
    assert.ok(compareTimestamps("2026-12-02T10:00:00.000001Z", "2026-12-02T10:00:00.000002Z") < 0);
    assert.ok(compareTimestamps("2026-12-02T10:00:00.5Z", "2026-12-02T10:00:00.499999Z") > 0);
    assert.equal(compareTimestamps("2026-12-02T11:00:00.000001+01:00", "2026-12-02T10:00:00.000001Z"), 0);
    assert.ok(compareTimestamps(null, "2026-12-02T10:00:00Z") < 0);
  });

  test("Retry-After parsing", () => {
    assert.equal(parseRetryAfter("7"), 7);
    assert.equal(parseRetryAfter(null), null);
    assert.equal(parseRetryAfter("soon"), null);
    assert.equal(parseRetryAfter("Wed, 02 Dec 2026 10:01:00 GMT", Date.parse("2026-12-02T10:00:00Z")), 60);
    assert.equal(parseRetryAfter("Wed, 02 Dec 2026 09:00:00 GMT", Date.parse("2026-12-02T10:00:00Z")), 0);
  });
});
