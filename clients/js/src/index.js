/**
 * @tpg/client: the training-program API from a browser, a React app or Node 18+.
 *
 * An ES module without dependencies and without a build step; its types are in index.d.ts,
 * generated in part from the API's OpenAPI document (openapi.d.ts).
 *
 *   import { TpgClient } from "@tpg/client";
 *   const client = new TpgClient({ baseUrl: "https://api.example.com", getToken: () => auth.token() });
 *   const { programId } = await client.start({ weeks: 4 });       // 202, or resumes a 409 in flight
 *   const final = await client.watch(programId, { onUpdate: render, signal });
 *
 * watch() follows a program until it is completed, failed or cancelled: over the realtime channel
 * when the API offers one (POST /realtime/tickets), with a GET after every (re)connection to catch
 * up and polling until the socket has carried this program's first update, and by polling when
 * there is no channel, when the ticket is refused or the socket is lost. Updates are ordered by
 * `updatedAt`: an older one never replaces a newer one, and the same one is delivered once.
 */

const POLL_DEFAULTS = Object.freeze({
  intervalMs: 1000, // between polls while something changes
  maxIntervalMs: 5000, // the cap of the backoff; a hidden tab polls at this rate
  backoff: 1.5, // each unchanged answer stretches the wait by this
  timeoutMs: 5 * 60 * 1000, // then POLL_TIMEOUT: the generation goes on server side
  maxConsecutiveErrors: 8, // transient errors in a row before giving up
  realtimeCheckMs: 15000, // once the socket has carried an update: a GET this often, in case one was lost
  reconnectMs: 1000, // first wait before reopening a lost socket (doubles, up to 30 s)
  pingMs: 5 * 60 * 1000, // a ping this often keeps the socket open (API Gateway closes it after 10 idle minutes)
});
const MAX_RECONNECT_MS = 30000;
const MAX_REALTIME_FAILURES = 3; // tickets or sockets that failed in a row: then poll for the rest of the watch
const FINAL = new Set(["completed", "failed", "cancelled"]);
const IN_FLIGHT = new Set(["pending", "processing"]);

/** Codes this client gives errors that did not come from the API's body. */
export const CLIENT_ERROR_CODES = Object.freeze([
  "NETWORK_ERROR", // no answer (status 0); `cause` holds what fetch threw
  "POLL_TIMEOUT", // watch() gave up waiting (status 0); the generation goes on
  "HTTP_ERROR", // an answer without an error code (API Gateway's own, a proxy's)
  "INVALID_RESPONSE", // a success whose body is not JSON
]);

/** An error of an API call: HTTP status (0: none), the body's error code, a message safe to show. */
export class TpgApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message || code, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "TpgApiError";
    this.status = status;
    this.code = code;
    this.programId = details.programId ?? null;
    this.retryAfterSeconds = details.retryAfterSeconds ?? null;
    this.body = details.body ?? null;
  }

  /** Worth waiting out and asking again: no answer, a server-side fault, a throttle. Not a
   * daily quota (QUOTA_EXCEEDED) and not POLL_TIMEOUT. */
  isTransient() {
    if (this.code === "NETWORK_ERROR") return true;
    if (this.status === 429) return this.code !== "QUOTA_EXCEEDED";
    return this.status >= 500;
  }
}

// The reasons this client rejected with because a signal aborted: abort(new Error("left the page"))
// rejects with that error, which isAbortError() must still recognise.
const ABORT_REASONS = new WeakSet();

/** True for the rejection of a call that was aborted through its signal (whatever the reason given
 * to abort(), if it is an object), and for fetch's own AbortError and TimeoutError. */
export function isAbortError(error) {
  if (!error) return false;
  if (typeof error === "object" && ABORT_REASONS.has(error)) return true;
  return error.name === "AbortError" || error.name === "TimeoutError";
}

export function isFinal(program) {
  return !!program && FINAL.has(program.status);
}

export function isInFlight(program) {
  return !!program && IN_FLIGHT.has(program.status);
}

/** Seconds to wait from a Retry-After value: delta-seconds or an HTTP date; null if absent or invalid. */
export function parseRetryAfter(value, now = Date.now()) {
  if (value == null || value === "") return null;
  const text = String(value).trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

/**
 * Compare two ISO-8601 timestamps to the microsecond (Date keeps milliseconds only):
 * negative when a is earlier, 0 when equal, positive when later. A missing one is the earliest.
 */
export function compareTimestamps(a, b) {
  const x = splitTimestamp(a);
  const y = splitTimestamp(b);
  if (!x || !y) return (x ? 1 : 0) - (y ? 1 : 0);
  if (x.seconds !== y.seconds) return x.seconds < y.seconds ? -1 : 1;
  return x.fraction < y.fraction ? -1 : x.fraction > y.fraction ? 1 : 0;
}

function splitTimestamp(text) {
  const match = /^(.+T\d{2}:\d{2}:\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}:?\d{2})?$/i.exec(text || "");
  if (!match) return null;
  const seconds = Date.parse(match[1] + (match[3] || "Z"));
  if (Number.isNaN(seconds)) return null;
  return { seconds, fraction: (match[2] || "").padEnd(9, "0").slice(0, 9) };
}

function abortReason(signal) {
  let reason = signal.reason;
  if (reason === undefined) {
    reason = new Error("The operation was aborted.");
    reason.name = "AbortError";
  }
  if (reason !== null && (typeof reason === "object" || typeof reason === "function")) ABORT_REASONS.add(reason);
  return reason;
}

/** Resolve with `promise`, or reject as soon as `signal` aborts. */
function raceAbort(promise, signal) {
  if (!signal) return Promise.resolve(promise);
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    Promise.resolve(promise).then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

function defaultStorage() {
  try {
    return typeof sessionStorage !== "undefined" ? sessionStorage : null;
  } catch {
    return null; // storage blocked (privacy settings): current() falls back to the list
  }
}

export class TpgClient {
  /**
   * options.baseUrl     the API's origin and stage ("" for the same origin)
   * options.getToken    ({forceRefresh, signal}) => the access token, or a promise of it; called
   *                     for every request. After a 401 it is called with forceRefresh: true and the
   *                     request is sent once more with the new token.
   * options.onUnauthorized  (error) => void: a 401 that a fresh token did not cure (sign out)
   * options.storage     where the last program id is remembered (default sessionStorage; null: nowhere)
   * options.poll        overrides of the polling defaults (TpgClient.POLL_DEFAULTS) for every watch()
   * options.realtime    false: never ask for the realtime channel (default: use it when offered)
   * options.fetch, options.WebSocket   implementations (tests, older runtimes)
   */
  constructor(options = {}) {
    this.baseUrl = (options.baseUrl || "").replace(/\/+$/, "");
    const token = options.token;
    this._getToken = options.getToken || (() => token || null);
    this._onUnauthorized = options.onUnauthorized || null;
    this.storage = options.storage === undefined ? defaultStorage() : options.storage;
    this.storageKey = options.storageKey || "tpg.programId";
    this.pollOptions = { ...POLL_DEFAULTS, ...(options.poll || {}) };
    this.realtime = options.realtime !== false;
    this._fetch = options.fetch || (typeof fetch === "function" ? fetch.bind(globalThis) : null);
    this._WebSocket = options.WebSocket || (typeof WebSocket === "function" ? WebSocket : null);
    this._refreshing = null;
    this._realtimeUnavailable = false; // a 404 REALTIME_UNAVAILABLE: this deployment has none
  }

  // --- one call ------------------------------------------------------------------------------

  /** One API call: resolves with the parsed body; rejects with a TpgApiError or the abort reason. */
  async request(method, path, { body, signal } = {}) {
    const token = await raceAbort(this._getToken({ forceRefresh: false, signal }), signal);
    try {
      return await this._send(method, path, body, token, signal);
    } catch (error) {
      if (!(error instanceof TpgApiError) || error.status !== 401) throw error;
      // An expired token: ask for a fresh one and send the request once more. Safe for every
      // call: a 401 is answered before anything is done.
      const fresh = await raceAbort(this._freshToken(token, signal), signal);
      if (!fresh || fresh === token) throw this._unauthorized(error);
      try {
        return await this._send(method, path, body, fresh, signal);
      } catch (again) {
        throw again instanceof TpgApiError && again.status === 401 ? this._unauthorized(again) : again;
      }
    }
  }

  _unauthorized(error) {
    if (this._onUnauthorized) this._onUnauthorized(error);
    return error;
  }

  /** A token other than `rejected`: the current one if it changed meanwhile, else a forced refresh
   * (one at a time: concurrent 401s share it). */
  async _freshToken(rejected, signal) {
    const current = await this._getToken({ forceRefresh: false, signal });
    if (current && current !== rejected) return current;
    if (!this._refreshing) {
      this._refreshing = Promise.resolve()
        .then(() => this._getToken({ forceRefresh: true }))
        .finally(() => {
          this._refreshing = null;
        });
    }
    return this._refreshing;
  }

  async _send(method, path, body, token, signal) {
    if (!this._fetch) throw new TpgApiError(0, "NETWORK_ERROR", "No fetch implementation is available.");
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method, headers, cache: "no-store", credentials: "omit", signal };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await this._fetch(this.baseUrl + path, init);
    } catch (cause) {
      if (signal && signal.aborted) throw abortReason(signal);
      if (isAbortError(cause)) throw cause;
      throw new TpgApiError(0, "NETWORK_ERROR", "Could not reach the server. Check your connection.", { cause });
    }
    let text;
    try {
      text = await response.text();
    } catch (cause) {
      if (signal && signal.aborted) throw abortReason(signal);
      throw new TpgApiError(0, "NETWORK_ERROR", "The connection was lost while reading the answer.", { cause });
    }
    let parsed = null;
    let parseError = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch (cause) {
      parseError = cause;
    }
    if (response.ok) {
      if (parseError) {
        throw new TpgApiError(response.status, "INVALID_RESPONSE", "The server's answer could not be read.", {
          cause: parseError,
        });
      }
      return parsed;
    }
    const error = (parsed && typeof parsed === "object" && parsed.error) || {};
    const gatewayMessage = parsed && typeof parsed === "object" ? parsed.message : null;
    throw new TpgApiError(
      response.status,
      error.code || "HTTP_ERROR",
      error.message || gatewayMessage || `The server answered ${response.status}.`,
      {
        programId: error.programId,
        retryAfterSeconds: parseRetryAfter(response.headers.get("Retry-After")),
        body: parsed,
      },
    );
  }

  // --- the routes ----------------------------------------------------------------------------

  /** POST /programs: 202 {programId, status, statusUrl}; remembers the id. */
  async createProgram(body = {}, { signal } = {}) {
    const accepted = await this.request("POST", "/programs", { body, signal });
    this.remember(accepted.programId);
    return accepted;
  }

  /** Start a generation, or pick up the one in flight (a 409 GENERATION_IN_FLIGHT names it; its
   * status, which may be processing, comes from a GET): resolves {programId, status, resumed}. */
  async start(body = {}, { signal } = {}) {
    let accepted;
    try {
      accepted = await this.createProgram(body, { signal });
    } catch (error) {
      if (error instanceof TpgApiError && error.code === "GENERATION_IN_FLIGHT" && error.programId) {
        this.remember(error.programId);
        const running = await this.getProgram(error.programId, { signal });
        return { programId: error.programId, status: running.status, resumed: true };
      }
      throw error;
    }
    return { programId: accepted.programId, status: accepted.status, resumed: false };
  }

  getProgram(programId, { signal } = {}) {
    return this.request("GET", `/programs/${encodeURIComponent(programId)}`, { signal });
  }

  listPrograms({ limit = 20, cursor, signal } = {}) {
    // Written by hand: React Native's URLSearchParams throws "not implemented" on set().
    let query = `limit=${encodeURIComponent(String(limit))}`;
    if (cursor) query += `&cursor=${encodeURIComponent(cursor)}`;
    return this.request("GET", `/programs?${query}`, { signal });
  }

  /** POST /programs/{id}/retry: a failed (or cancelled) program back to pending. */
  retry(programId, { signal } = {}) {
    this.remember(programId);
    return this.request("POST", `/programs/${encodeURIComponent(programId)}/retry`, { body: {}, signal });
  }

  /** POST /programs/{id}/cancel: {programId, status: "cancelled" | "processing", cancelRequested}.
   * "processing": the worker stops at its next checkpoint; watch() then sees "cancelled".
   * A final program rejects with 409 PROGRAM_ALREADY_FINAL. */
  cancel(programId, { signal } = {}) {
    return this.request("POST", `/programs/${encodeURIComponent(programId)}/cancel`, { body: {}, signal });
  }

  /** POST /realtime/tickets: {ticket, url, expiresIn}; 404 REALTIME_UNAVAILABLE where there is none. */
  createRealtimeTicket({ signal } = {}) {
    return this.request("POST", "/realtime/tickets", { signal });
  }

  /** The in-flight program among the caller's newest, or null. */
  async findInFlight({ signal } = {}) {
    const page = await this.listPrograms({ limit: 20, signal });
    return ((page && page.items) || []).find(isInFlight) || null;
  }

  /** What to show after a reload: the remembered program in any status, else the one in flight. */
  async current({ signal } = {}) {
    const remembered = this.remembered();
    if (remembered) {
      try {
        return await this.getProgram(remembered, { signal });
      } catch (error) {
        if (!(error instanceof TpgApiError) || error.status !== 404) throw error;
        this.forget();
      }
    }
    return this.findInFlight({ signal });
  }

  remember(programId) {
    if (!this.storage || !programId) return;
    try {
      this.storage.setItem(this.storageKey, programId);
    } catch {
      /* full or blocked */
    }
  }

  remembered() {
    if (!this.storage) return null;
    try {
      return this.storage.getItem(this.storageKey);
    } catch {
      return null;
    }
  }

  forget() {
    if (!this.storage) return;
    try {
      this.storage.removeItem(this.storageKey);
    } catch {
      /* blocked */
    }
  }

  /**
   * Follow a program until it is completed, failed or cancelled; resolves with that status body.
   * options.onUpdate(program)      every update, newest last (never an older one after a newer)
   * options.onError(error, willRetry)   a failed poll (a TpgApiError, or what getToken threw);
   *                                willRetry false: watch() rejects with it
   * options.onTransport(kind)      "realtime" or "polling", whenever that changes
   * options.signal                 abort: no more callbacks, the socket closes, rejects with the reason
   * options.realtime               false: poll only
   * and any of TpgClient.POLL_DEFAULTS.
   * Rejects with TpgApiError: NOT_FOUND, UNAUTHORIZED, POLL_TIMEOUT, or the last transient error.
   */
  watch(programId, options = {}) {
    return new Watch(this, programId, options).run();
  }
}

TpgClient.POLL_DEFAULTS = POLL_DEFAULTS;
TpgClient.TpgApiError = TpgApiError;
TpgClient.isFinal = isFinal;
TpgClient.isInFlight = isInFlight;

/** One watch(): a loop of GET, deliver, wait; the socket's messages arrive between and cut waits short. */
class Watch {
  constructor(client, programId, options) {
    this.client = client;
    this.programId = programId;
    this.options = options;
    const settings = { ...client.pollOptions };
    for (const key of Object.keys(POLL_DEFAULTS)) if (options[key] !== undefined) settings[key] = options[key];
    this.settings = settings;
    this.useRealtime = client.realtime && options.realtime !== false && !!client._WebSocket;
    this.controller = new AbortController(); // ends our requests when the watch ends
    this.latest = null;
    this.pending = null; // a message that came before the first GET answered
    this.socket = null;
    this.transport = null;
    this.reconnectMs = settings.reconnectMs;
    this.reconnectTimer = null;
    this.pingTimer = null;
    this.realtimeFailures = 0;
    this.heard = false; // the open socket has carried an update of this program: polling may stop
    this.transportChanged = false;
    this.asap = false; // something happened (the socket opened, a final message): GET at once
    this.wakeUp = null;
    this.cleanups = [];
  }

  async run() {
    const { signal } = this.options;
    if (signal) {
      if (signal.aborted) throw abortReason(signal);
      const onAbort = () => this.controller.abort(abortReason(signal));
      signal.addEventListener("abort", onAbort, { once: true });
      this.cleanups.push(() => signal.removeEventListener("abort", onAbort));
    }
    this.watchVisibility();
    try {
      return await this.loop();
    } finally {
      this.stop();
    }
  }

  get aborted() {
    return this.controller.signal.aborted;
  }

  stop() {
    this.stopped = true;
    if (!this.aborted) this.controller.abort();
    clearTimeout(this.reconnectTimer);
    clearInterval(this.pingTimer);
    this.closeSocket();
    for (const cleanup of this.cleanups.splice(0)) cleanup();
  }

  async loop() {
    const settings = this.settings;
    const deadline = Date.now() + settings.timeoutMs;
    let delay = settings.intervalMs;
    let errors = 0;
    let last = null;
    if (this.useRealtime) this.connect();
    else this.setTransport("polling");
    for (;;) {
      this.asap = false;
      let program = null;
      try {
        program = await this.client.getProgram(this.programId, { signal: this.controller.signal });
        errors = 0;
      } catch (error) {
        if (this.aborted) throw abortReason(this.controller.signal);
        const willRetry = error instanceof TpgApiError && error.isTransient() && ++errors < settings.maxConsecutiveErrors;
        if (this.options.onError) this.options.onError(error, willRetry);
        if (error instanceof TpgApiError && error.status === 404) this.client.forget();
        if (!willRetry) throw error;
        delay = Math.min(delay * 2, settings.maxIntervalMs);
        // The server's Retry-After wins over the cap: asking sooner would only be refused again.
        await this.wait(Math.max((error.retryAfterSeconds || 0) * 1000, this.pace(delay)), deadline);
        continue;
      }
      this.deliver(program);
      if (isFinal(this.latest)) return this.latest;
      const print = fingerprint(this.latest);
      // A change, or a new transport (what happened meanwhile is unknown): the short interval again.
      const changed = last === null || print !== last || this.transportChanged;
      this.transportChanged = false;
      delay = changed ? settings.intervalMs : delay * settings.backoff;
      last = print;
      // Trust the socket only once it has carried this program's update: until then (a job that
      // has not written since the socket opened, a server that is slow to see the connection)
      // polling goes on at its pace.
      const trusted = this.transport === "realtime" && this.heard;
      await this.wait(trusted ? settings.realtimeCheckMs : this.pace(delay), deadline);
    }
  }

  /** The next poll's wait: capped; a hidden tab polls at the cap. */
  pace(delay) {
    const hidden = typeof document !== "undefined" && document.visibilityState === "hidden";
    return hidden ? this.settings.maxIntervalMs : Math.min(delay, this.settings.maxIntervalMs);
  }

  /** Wait `ms`, or less if woken (a socket event, the tab shown again); reject on abort or past the deadline. */
  wait(ms, deadline) {
    const signal = this.controller.signal;
    if (signal.aborted) return Promise.reject(abortReason(signal));
    if (this.asap) return Promise.resolve(); // woken while the last GET was out
    if (Date.now() + ms > deadline) {
      return Promise.reject(
        new TpgApiError(0, "POLL_TIMEOUT", "This is taking longer than usual. It is still running.", {
          programId: this.programId,
        }),
      );
    }
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        this.wakeUp = null;
        resolve();
      };
      const onAbort = () => {
        clearTimeout(timer);
        this.wakeUp = null;
        reject(abortReason(signal));
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", onAbort, { once: true });
      this.wakeUp = done;
    });
  }

  /** GET at once: now if the loop waits, else as soon as the GET that is out has answered. */
  wake() {
    this.asap = true;
    if (this.wakeUp) this.wakeUp();
  }

  /** Show `update` unless it is not newer than what was shown (the same state, from a push and a
   * GET, is shown once); a message (no `program`) is merged. */
  deliver(update) {
    if (this.aborted || !update) return;
    if (this.latest && compareTimestamps(update.updatedAt, this.latest.updatedAt) <= 0) return;
    const merged = this.latest ? { ...this.latest, ...update } : update; // a message keeps the rest
    this.latest = merged;
    if (this.pending && compareTimestamps(this.pending.updatedAt, merged.updatedAt) > 0) {
      const newer = this.pending;
      this.pending = null;
      this.deliver(newer);
      return;
    }
    this.pending = null;
    if (this.options.onUpdate) this.options.onUpdate(merged);
  }

  setTransport(kind) {
    if (this.transport === kind || this.aborted) return;
    this.transport = kind;
    this.transportChanged = true;
    if (this.options.onTransport) this.options.onTransport(kind);
  }

  watchVisibility() {
    if (typeof document === "undefined" || !document.addEventListener) return;
    const onChange = () => {
      if (document.visibilityState === "visible") this.wake(); // back to the tab: ask at once
    };
    document.addEventListener("visibilitychange", onChange);
    this.cleanups.push(() => document.removeEventListener("visibilitychange", onChange));
  }

  // --- the realtime channel -------------------------------------------------------------------

  async connect() {
    if (this.aborted || this.client._realtimeUnavailable) {
      this.setTransport("polling");
      return;
    }
    let ticket;
    try {
      ticket = await this.client.createRealtimeTicket({ signal: this.controller.signal });
    } catch (error) {
      if (this.aborted) return;
      if (error instanceof TpgApiError && error.code === "REALTIME_UNAVAILABLE") {
        this.client._realtimeUnavailable = true; // none in this deployment: never ask again
      } else if (!(error instanceof TpgApiError) || error.status !== 401) {
        this.realtimeFailed(error.retryAfterSeconds);
      }
      this.setTransport("polling");
      return;
    }
    if (this.aborted) return;
    let socket;
    try {
      socket = new this.client._WebSocket(ticket.url);
    } catch {
      this.setTransport("polling");
      this.realtimeFailed();
      return;
    }
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      opened = true;
      this.heard = false;
      this.realtimeFailures = 0;
      this.reconnectMs = this.settings.reconnectMs;
      this.setTransport("realtime");
      this.wake(); // catch up with a GET: what changed before the socket opened was not pushed
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.ping(socket), this.settings.pingMs);
    };
    socket.onmessage = (event) => {
      if (this.socket === socket) this.onMessage(event.data);
    };
    // A close, or an error: browsers follow an error with a close, but Node 20's WebSocket fires
    // only `error` when the connection is refused, and the socket then stays CONNECTING.
    const lost = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.heard = false;
      clearInterval(this.pingTimer);
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      if (!opened) {
        try {
          socket.close();
        } catch {
          /* already closed */
        }
      }
      if (this.aborted || this.stopped) return;
      this.setTransport("polling");
      this.wake(); // poll at once, then at the polling pace
      if (opened) this.scheduleReconnect();
      else this.realtimeFailed(); // the handshake failed (a refused ticket: 401; nothing listening)
    };
    socket.onclose = lost;
    socket.onerror = lost;
  }

  /** A ticket or a socket that failed: try again later, up to MAX_REALTIME_FAILURES in a row. */
  realtimeFailed(retryAfterSeconds) {
    this.realtimeFailures += 1;
    if (this.realtimeFailures < MAX_REALTIME_FAILURES) this.scheduleReconnect(retryAfterSeconds);
  }

  ping(socket) {
    try {
      socket.send(JSON.stringify({ type: "ping" }));
    } catch {
      /* closing: its close event follows */
    }
  }

  scheduleReconnect(retryAfterSeconds) {
    if (this.aborted || this.stopped) return;
    const wait = Math.max(this.reconnectMs, (retryAfterSeconds || 0) * 1000);
    this.reconnectMs = Math.min(this.reconnectMs * 2, MAX_RECONNECT_MS);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), wait);
  }

  onMessage(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return; // not ours to understand
    }
    // Ours only: another program's updates, a pong, a kind or version this client does not know.
    if (!message || message.type !== "program.updated" || message.version !== 1) return;
    if (message.programId !== this.programId) return;
    this.heard = true;
    const update = {
      programId: message.programId,
      status: message.status,
      stage: message.stage ?? null,
      progress: message.progress,
      error: message.error ?? null,
      cancelRequested: !!message.cancelRequested,
      updatedAt: message.updatedAt,
    };
    if (this.latest && compareTimestamps(update.updatedAt, this.latest.updatedAt) <= 0) return;
    if (FINAL.has(update.status)) {
      this.wake(); // the full body (the program, the error) comes from a GET: now
      return;
    }
    if (!this.latest) {
      // Before the first GET has answered: keep the newest; it is shown if newer than that answer.
      if (!this.pending || compareTimestamps(update.updatedAt, this.pending.updatedAt) > 0) this.pending = update;
      return;
    }
    this.deliver(update);
  }

  closeSocket() {
    const socket = this.socket;
    this.socket = null;
    if (!socket) return;
    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
    try {
      socket.close(1000, "done");
    } catch {
      /* already closed */
    }
  }
}

function fingerprint(p) {
  return `${p.status}|${p.stage}|${p.progress}|${p.cancelRequested}`;
}
