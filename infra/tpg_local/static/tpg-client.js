/*
 * tpg-client.js: a small client for the training-program API, with status polling.
 *
 * No dependencies, no build step. In a page: <script src="tpg-client.js"></script> defines
 * window.TpgClient; with a bundler or Node 18+: const TpgClient = require("./tpg-client.js").
 *
 *   const client = new TpgClient({ baseUrl: "", getToken: () => token });
 *   const started = await client.start({ weeks: 4 });        // 202, or resumes a 409 in-flight
 *   const final = await client.watch(started.programId, {
 *     onUpdate: (p) => render(p),                            // every status the server returned
 *   });                                                      // resolves when completed or failed
 *   if (final.status === "failed") await client.retry(final.programId);  // then watch again
 *   const last = await client.current();                    // after a reload: what to show
 *
 * Polling: the first GET at once, then every `intervalMs` while something changes (status,
 * stage or progress); each unchanged answer stretches the wait by `backoff`, up to
 * `maxIntervalMs`; a hidden tab polls at `maxIntervalMs`. 429 and 5xx answers and network
 * errors are waited out (Retry-After honoured) up to `maxConsecutiveErrors` in a row. Polling
 * stops at `completed` or `failed`, on 401/404 (nothing to wait for), after `timeoutMs`
 * (code POLL_TIMEOUT: the generation goes on server side; call watch again), or on `signal`.
 */
(function (root, factory) {
  "use strict";
  if (typeof module === "object" && module.exports) module.exports = factory();
  else root.TpgClient = factory();
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  var POLL_DEFAULTS = {
    intervalMs: 1000,
    maxIntervalMs: 5000,
    backoff: 1.5,
    timeoutMs: 5 * 60 * 1000,
    maxConsecutiveErrors: 8
  };
  var FINAL = { completed: true, failed: true };
  var IN_FLIGHT = { pending: true, processing: true };

  /** An API error: HTTP status, the body's error.code and message (status 0: network). */
  function TpgApiError(status, code, message, details) {
    var error = new Error(message || code);
    Object.setPrototypeOf(error, TpgApiError.prototype);
    error.name = "TpgApiError";
    error.status = status;
    error.code = code;
    error.programId = (details && details.programId) || null;
    error.retryAfterSeconds = (details && details.retryAfterSeconds) || null;
    return error;
  }
  TpgApiError.prototype = Object.create(Error.prototype);
  TpgApiError.prototype.constructor = TpgApiError;
  /** Worth waiting out and asking again (rate limit, server side, network). */
  TpgApiError.prototype.isTransient = function () {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  };

  function sessionStorageOrNull() {
    try {
      return typeof sessionStorage !== "undefined" ? sessionStorage : null;
    } catch (e) {
      return null; // storage blocked (privacy settings): resume falls back to GET /programs
    }
  }

  function sleep(ms, signal) {
    return new Promise(function (resolve, reject) {
      if (signal && signal.aborted) return reject(abortError());
      var timer = setTimeout(done, ms);
      function done() {
        if (signal) signal.removeEventListener("abort", onAbort);
        resolve();
      }
      function onAbort() {
        clearTimeout(timer);
        reject(abortError());
      }
      if (signal) signal.addEventListener("abort", onAbort);
    });
  }

  function abortError() {
    var error = new Error("polling stopped");
    error.name = "AbortError";
    return error;
  }

  function pageHidden() {
    return typeof document !== "undefined" && document.visibilityState === "hidden";
  }

  /**
   * options.baseUrl    the API's origin and stage ("" for the same origin)
   * options.getToken   () => the user's access token (called on every request, so refreshes work)
   * options.storage    where the last program id is remembered (default sessionStorage; null: nowhere)
   * options.poll       overrides of POLL_DEFAULTS for every watch()
   * options.fetch      a fetch implementation (tests, older runtimes)
   */
  function TpgClient(options) {
    options = options || {};
    this.baseUrl = (options.baseUrl || "").replace(/\/+$/, "");
    this.getToken = options.getToken || function () { return options.token || null; };
    this.storage = options.storage === undefined ? sessionStorageOrNull() : options.storage;
    this.storageKey = options.storageKey || "tpg.programId";
    this.pollOptions = Object.assign({}, POLL_DEFAULTS, options.poll || {});
    this._fetch = options.fetch || (typeof fetch !== "undefined" ? fetch.bind(globalThis) : null);
  }

  TpgClient.TpgApiError = TpgApiError;
  TpgClient.POLL_DEFAULTS = POLL_DEFAULTS;
  TpgClient.isFinal = function (program) { return !!(program && FINAL[program.status]); };
  TpgClient.isInFlight = function (program) { return !!(program && IN_FLIGHT[program.status]); };

  /** One API call: resolves with the parsed body, rejects with a TpgApiError. */
  TpgClient.prototype.request = function (method, path, body) {
    var headers = { Accept: "application/json" };
    var token = this.getToken();
    if (token) headers.Authorization = "Bearer " + token;
    var init = { method: method, headers: headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return this._fetch(this.baseUrl + path, init).then(
      function (response) {
        return response.text().then(function (text) {
          var parsed = null;
          try {
            parsed = text ? JSON.parse(text) : null;
          } catch (e) {
            parsed = null;
          }
          if (response.ok) return parsed;
          var error = (parsed && parsed.error) || {};
          var retryAfter = parseInt(response.headers.get("Retry-After") || "", 10);
          throw new TpgApiError(
            response.status,
            error.code || "HTTP_" + response.status,
            error.message || "The server answered " + response.status + ".",
            { programId: error.programId, retryAfterSeconds: isNaN(retryAfter) ? null : retryAfter }
          );
        });
      },
      function (cause) {
        throw new TpgApiError(0, "NETWORK_ERROR", "Could not reach the server. Check your connection.", {
          cause: cause
        });
      }
    );
  };

  /** POST /programs: 202 {programId, status, statusUrl}; remembers the id. */
  TpgClient.prototype.createProgram = function (options) {
    var self = this;
    return this.request("POST", "/programs", options || {}).then(function (accepted) {
      self.remember(accepted.programId);
      return accepted;
    });
  };

  /**
   * Start a generation, or pick up the one already in flight: a 409 GENERATION_IN_FLIGHT names it.
   * Resolves with {programId, status, resumed}; other errors reject as TpgApiError.
   */
  TpgClient.prototype.start = function (options) {
    var self = this;
    return this.createProgram(options).then(
      function (accepted) {
        return { programId: accepted.programId, status: accepted.status, resumed: false };
      },
      function (error) {
        if (error.code === "GENERATION_IN_FLIGHT" && error.programId) {
          self.remember(error.programId);
          return { programId: error.programId, status: "pending", resumed: true };
        }
        throw error;
      }
    );
  };

  TpgClient.prototype.getProgram = function (programId) {
    return this.request("GET", "/programs/" + encodeURIComponent(programId));
  };

  TpgClient.prototype.listPrograms = function (options) {
    options = options || {};
    var query = ["limit=" + encodeURIComponent(options.limit || 20)];
    if (options.cursor) query.push("cursor=" + encodeURIComponent(options.cursor));
    return this.request("GET", "/programs?" + query.join("&"));
  };

  /** POST /programs/{id}/retry: a failed generation back to pending (409 NOT_RETRYABLE otherwise). */
  TpgClient.prototype.retry = function (programId) {
    this.remember(programId);
    return this.request("POST", "/programs/" + encodeURIComponent(programId) + "/retry", {});
  };

  /** The program in flight from the caller's newest programs, or null. */
  TpgClient.prototype.findInFlight = function () {
    return this.listPrograms({ limit: 20 }).then(function (page) {
      var items = (page && page.items) || [];
      for (var i = 0; i < items.length; i++) if (IN_FLIGHT[items[i].status]) return items[i];
      return null;
    });
  };

  /**
   * What to show after a reload: the remembered program in any status (a failed one keeps its
   * retry button), else the one in flight, else null.
   */
  TpgClient.prototype.current = function () {
    var self = this;
    var remembered = this.remembered();
    var fromList = function () { return self.findInFlight(); };
    if (!remembered) return fromList();
    return this.getProgram(remembered).catch(function (error) {
      if (error.status === 404) {
        self.forget();
        return fromList();
      }
      throw error;
    });
  };

  TpgClient.prototype.remember = function (programId) {
    if (!this.storage || !programId) return;
    try { this.storage.setItem(this.storageKey, programId); } catch (e) { /* full or blocked */ }
  };

  TpgClient.prototype.remembered = function () {
    if (!this.storage) return null;
    try { return this.storage.getItem(this.storageKey); } catch (e) { return null; }
  };

  TpgClient.prototype.forget = function () {
    if (!this.storage) return;
    try { this.storage.removeItem(this.storageKey); } catch (e) { /* blocked */ }
  };

  /**
   * Poll GET /programs/{id} until completed or failed; resolves with that final body.
   * options: onUpdate(program), onError(error, willRetry), signal (AbortSignal), and any of
   * intervalMs, maxIntervalMs, backoff, timeoutMs, maxConsecutiveErrors.
   */
  TpgClient.prototype.watch = function (programId, options) {
    var self = this;
    options = options || {};
    var settings = Object.assign({}, this.pollOptions);
    Object.keys(POLL_DEFAULTS).forEach(function (key) {
      if (options[key] !== undefined) settings[key] = options[key];
    });
    var signal = options.signal;
    var deadline = Date.now() + settings.timeoutMs;
    var delay = settings.intervalMs;
    var errors = 0;
    var last = null;

    function fingerprint(p) { return p.status + "|" + p.stage + "|" + p.progress; }

    function nextDelay(proposed) {
      return pageHidden() ? settings.maxIntervalMs : Math.min(proposed, settings.maxIntervalMs);
    }

    function once() {
      if (signal && signal.aborted) return Promise.reject(abortError());
      return self.getProgram(programId).then(
        function (program) {
          errors = 0;
          if (options.onUpdate) options.onUpdate(program);
          if (FINAL[program.status]) return program;
          var changed = last === null || fingerprint(program) !== last;
          last = fingerprint(program);
          delay = changed ? settings.intervalMs : delay * settings.backoff;
          return wait(nextDelay(delay));
        },
        function (error) {
          if (error.name === "AbortError") throw error;
          var willRetry = error.isTransient && error.isTransient() &&
            ++errors < settings.maxConsecutiveErrors;
          if (options.onError) options.onError(error, willRetry);
          if (error.status === 404) self.forget();
          if (!willRetry) throw error;
          delay = nextDelay(delay * 2);
          // The server's Retry-After wins over the cap: asking sooner would only be refused again.
          return wait(Math.max((error.retryAfterSeconds || 0) * 1000, delay));
        }
      );
    }

    function wait(ms) {
      if (Date.now() + ms > deadline) {
        return Promise.reject(
          new TpgApiError(0, "POLL_TIMEOUT", "This is taking longer than usual. It is still running.", {
            programId: programId
          })
        );
      }
      return sleep(ms, signal).then(once);
    }

    return once();
  };

  return TpgClient;
});
