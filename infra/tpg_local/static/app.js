// The demo page: a persona's dev session, onboarding review, generation with live status, the
// program rendered, retry on failure, resume after a reload or a 409. All API calls go through
// tpg-client.js; only /dev/* (local stack only) is called directly.
(function () {
  "use strict";

  var SESSION_KEY = "tpg.session";
  var STAGES = ["queued", "analyzing", "generating", "validating", "saving"];
  var STAGE_TEXT = {
    queued: "Queued: waiting for a worker",
    analyzing: "Analyzing your profile and onboarding",
    generating: "Generating your program",
    validating: "Checking the program against our training and safety rules",
    saving: "Saving your program"
  };
  // What to tell the user for each API error code (see docs/frontend.md).
  var API_ERROR_TEXT = {
    UNAUTHORIZED: "Your session has expired. Choose a persona to sign in again.",
    SUBSCRIPTION_REQUIRED: "An active subscription is needed to generate a program.",
    ONBOARDING_INCOMPLETE: "Finish onboarding before generating a program.",
    QUOTA_EXCEEDED: "You have reached today's limit of new programs. Please try again later.",
    NOT_FOUND: "That program no longer exists.",
    PAYLOAD_TOO_LARGE: "That is too much text. Shorten the notes and try again.",
    MALFORMED_JSON: "Something went wrong sending your request. Please reload the page.",
    SERVICE_UNAVAILABLE: "The service is busy right now. Please try again in a moment.",
    INTERNAL_ERROR: "Something went wrong on our side. Please try again.",
    NETWORK_ERROR: "Could not reach the server. Check your connection and try again."
  };
  // A hint under a failed generation's message, by its error code.
  var GENERATION_HINT = {
    INVALID_USER_DATA: "Update your onboarding answers, then retry.",
    INVALID_PROGRAM: "Retrying usually produces a program that passes.",
    ATTEMPTS_EXHAUSTED: "We tried several times without success. Retrying starts over.",
    WORKER_LOST: "The generation was interrupted. Retrying starts it again.",
    INTERNAL_ERROR: "Something went wrong on our side. Retrying usually works."
  };

  var $ = function (id) { return document.getElementById(id); };
  var params = new URLSearchParams(location.search);
  var pollMs = Math.max(100, parseInt(params.get("pollMs") || "1000", 10) || 1000);

  var session = loadSession();
  var personas = [];
  var client = new TpgClient({
    baseUrl: "",
    getToken: function () { return session && session.token; },
    poll: { intervalMs: pollMs, maxIntervalMs: Math.max(5000, pollMs) }
  });
  var watching = null; // {programId, controller}
  var lastAnnounced = "";

  // --- Session (dev token) ------------------------------------------------------------------

  function loadSession() {
    try { return JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null"); } catch (e) { return null; }
  }

  function saveSession(value) {
    session = value;
    try {
      if (value) sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
      else sessionStorage.removeItem(SESSION_KEY);
    } catch (e) { /* storage blocked: the session lasts until reload */ }
  }

  function loadPersonas() {
    return fetch("/dev/personas", { cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error("status " + r.status);
        return r.json();
      })
      .then(function (body) {
        personas = body.personas;
        var select = $("persona-select");
        select.textContent = "";
        select.appendChild(option("", "Choose a persona…"));
        personas.forEach(function (p) {
          var o = p.onboarding;
          select.appendChild(option(p.name, p.label + " · " + words(o.goal) + ", " + o.experience));
        });
        if (session) select.value = session.persona;
        describePersona();
      })
      .catch(function () {
        $("persona-error").textContent =
          "Could not load the personas. Is this page served by `tpg serve`?";
      });
  }

  function describePersona() {
    var p = personas.find(function (x) { return x.name === $("persona-select").value; });
    $("persona-summary").textContent = p
      ? p.onboarding.daysPerWeek + " days a week, " + p.onboarding.sessionMinutes + " minutes a session; " +
        (p.onboarding.notes || "")
      : "";
  }

  function signIn(event) {
    event.preventDefault();
    var persona = $("persona-select").value;
    $("persona-error").textContent = "";
    if (!persona) {
      $("persona-error").textContent = "Choose a persona first.";
      $("persona-select").focus();
      return;
    }
    var button = $("persona-submit");
    button.disabled = true;
    fetch("/dev/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ persona: persona })
    })
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error((body.error && body.error.message) || "status " + r.status);
          return body;
        });
      })
      .then(function (created) {
        stopWatching();
        client.forget();
        saveSession(created);
        showSession();
        hide("status-step");
        hide("program-step");
        $("onboarding-heading").focus();
      })
      .catch(function (error) {
        $("persona-error").textContent = "Could not sign in: " + error.message;
      })
      .finally(function () { button.disabled = false; });
  }

  function switchPersona() {
    stopWatching();
    client.forget();
    saveSession(null);
    ["onboarding-step", "status-step", "program-step", "session-info"].forEach(hide);
    show("persona-form");
    $("persona-select").focus();
  }

  function showSession() {
    $("session-label").textContent = session.label;
    $("session-user").textContent = session.userId;
    hide("persona-form");
    show("session-info");
    renderOnboarding(session.onboarding);
    show("onboarding-step");
  }

  function renderOnboarding(o) {
    var lifts = o.lifts.length
      ? o.lifts.map(function (l) { return words(l.exerciseId) + ": " + l.weightKg + " kg × " + l.reps; })
          .join("; ")
      : "none recorded";
    facts($("onboarding-data"), [
      ["Goal", words(o.goal)],
      ["Experience", words(o.experience) + " (" + plural(o.trainingMonths, "month") + " of training)"],
      ["Schedule", o.daysPerWeek + " days a week, " + o.sessionMinutes + " minutes a session"],
      ["Body", o.age + " years, " + o.sex + ", " + o.heightCm + " cm, " + o.weightKg + " kg"],
      ["Equipment", o.equipment.map(words).join(", ")],
      ["Injuries", o.injuries.length ? o.injuries.map(words).join(", ") : "none"],
      ["Recent lifts", lifts],
      ["Notes", o.notes || "none"]
    ]);
  }

  // --- Generation ---------------------------------------------------------------------------

  function generate(event) {
    event.preventDefault();
    var body = { weeks: parseInt($("program-weeks").value, 10) };
    var name = $("program-name").value.trim();
    var notes = $("program-notes").value.trim();
    if (name) body.name = name;
    if (notes) body.notes = notes;
    $("generate-button").disabled = true;
    hide("program-step");
    client.start(body)
      .then(function (started) {
        follow(started.programId, {
          focus: true,
          message: started.resumed ? "A program was already being generated for you: showing its progress." : ""
        });
      })
      .catch(function (error) {
        $("generate-button").disabled = false;
        showApiError(error);
      });
  }

  function retry() {
    var programId = watching && watching.programId;
    if (!programId) return;
    $("retry-button").disabled = true;
    client.retry(programId)
      .catch(function (error) {
        if (error.code !== "NOT_RETRYABLE") throw error; // already retried elsewhere: just follow it
      })
      .then(function () { follow(programId, { focus: true }); })
      .catch(showApiError)
      .finally(function () { $("retry-button").disabled = false; });
  }

  /** Poll one program, rendering each status, until it is completed or failed. */
  function follow(programId, options) {
    options = options || {};
    stopWatching();
    var controller = new AbortController();
    watching = { programId: programId, controller: controller };
    lastAnnounced = "";
    hide("error-panel");
    hide("wait-panel");
    show("status-step");
    $("generate-button").disabled = true;
    $("status-note").textContent = options.message || "";
    if (options.focus) $("status-heading").focus();

    var sawInFlight = false;
    client.watch(programId, {
      signal: controller.signal,
      onUpdate: function (program) {
        sawInFlight = sawInFlight || TpgClient.isInFlight(program);
        renderStatus(program);
      },
      onError: function (error, willRetry) {
        if (willRetry) announce("Connection problem; still checking… (" + error.message + ")");
      }
    })
      .then(function (program) {
        $("generate-button").disabled = false;
        // Move focus to the outcome when the user watched it happen, not on a reload's restore.
        var moveFocus = options.focus || sawInFlight;
        if (program.status === "completed") {
          renderProgram(program);
          if (moveFocus) $("program-heading").focus();
        } else {
          renderFailure(program);
          if (moveFocus) $("error-heading").focus();
        }
      })
      .catch(function (error) {
        if (error.name === "AbortError") return;
        if (error.code === "POLL_TIMEOUT") {
          announce(error.message);
          show("wait-panel");
          return;
        }
        $("generate-button").disabled = false;
        if (error.code === "NOT_FOUND") hide("status-step");
        showApiError(error);
      });
  }

  function stopWatching() {
    if (watching) watching.controller.abort();
    watching = null;
  }

  function renderStatus(program) {
    var step = $("status-step");
    step.dataset.status = program.status;
    step.dataset.stage = program.stage || "";
    $("status-heading").textContent = "3. Generation: " + program.name;
    $("progress-bar").value = program.progress;
    $("progress-bar").setAttribute("aria-valuetext", program.progress + "%");
    $("progress-value").textContent = program.progress + "%";

    var current = program.status === "pending" ? "queued" : program.stage;
    var reached = program.status === "completed" ? STAGES.length : STAGES.indexOf(current);
    Array.prototype.forEach.call($("stage-list").children, function (item, index) {
      var state = index < reached ? "done" : index === reached ? "current" : "todo";
      item.className = state;
      if (state === "current" && program.status !== "failed") item.setAttribute("aria-current", "step");
      else item.removeAttribute("aria-current");
    });

    // Announce changes of status or stage, not every percent.
    var text;
    if (program.status === "completed") text = "Your program is ready.";
    else if (program.status === "failed") text = "Generation failed.";
    else text = (STAGE_TEXT[current] || "Working") + "…";
    if (text !== lastAnnounced) announce(text);
  }

  function announce(text) {
    lastAnnounced = text;
    $("status-text").textContent = text;
  }

  function renderFailure(program) {
    var error = program.error || { code: "GENERATION_FAILED", message: "We could not generate your program." };
    $("error-message").textContent = error.message + " " + (GENERATION_HINT[error.code] || "");
    $("error-code").textContent = error.code;
    show("error-panel");
  }

  function showApiError(error) {
    if (error.code === "UNAUTHORIZED") {
      switchPersona();
      $("persona-error").textContent = API_ERROR_TEXT.UNAUTHORIZED;
      return;
    }
    // INVALID_REQUEST messages name the field; the rest have a fixed text.
    var text = API_ERROR_TEXT[error.code] || error.message;
    if (error.code === "INVALID_REQUEST") text = error.message;
    show("status-step");
    $("status-step").dataset.status = "error";
    announce(text);
  }

  // --- The program ----------------------------------------------------------------------------

  function renderProgram(response) {
    var p = response.program;
    $("program-heading").textContent = p.name;
    facts($("program-facts"), [
      ["Goal", words(p.goal)],
      ["Level", words(p.level)],
      ["Length", plural(p.weeks, "week")],
      ["Sessions", p.daysPerWeek + " a week, about " + p.sessionMinutes + " minutes each"],
      ["Split", p.split]
    ]);
    $("program-progression").textContent = "";
    var strong = document.createElement("strong");
    strong.textContent = "Progression (" + p.progression.model + "): ";
    $("program-progression").append(strong, p.progression.description);

    var notes = $("program-notes-list");
    notes.textContent = "";
    (p.notes || []).forEach(function (n) { notes.appendChild(el("li", n)); });

    var weeks = $("program-weeks-list");
    weeks.textContent = "";
    p.schedule.forEach(function (week, index) {
      var details = document.createElement("details");
      details.className = "week";
      details.open = index === 0;
      var summary = el("summary", "Week " + week.week + (week.isDeload ? " · deload (lighter week)" : ""));
      details.appendChild(summary);
      week.days.forEach(function (day) { details.appendChild(renderDay(week, day)); });
      weeks.appendChild(details);
    });
    show("program-step");
  }

  function renderDay(week, day) {
    var section = document.createElement("section");
    section.className = "day";
    var headingId = "w" + week.week + "d" + day.day;
    var heading = el("h4", "Day " + day.day + ": " + day.name);
    heading.id = headingId;
    section.appendChild(heading);
    section.appendChild(el("p", day.focus + " · about " + day.estimatedMinutes + " minutes", "muted"));

    var withNotes = day.exercises.some(function (x) { return !!x.notes; });
    var table = document.createElement("table");
    table.className = withNotes ? "exercises with-notes" : "exercises";
    table.setAttribute("aria-labelledby", headingId);
    var head = table.createTHead().insertRow();
    var labels = ["Exercise", "Sets", "Reps", "Effort", "Rest"];
    if (withNotes) labels.push("Notes");
    labels.forEach(function (label) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = label;
      head.appendChild(th);
    });
    var body = table.createTBody();
    day.exercises.forEach(function (x) {
      var row = body.insertRow();
      var name = document.createElement("th");
      name.scope = "row";
      name.textContent = x.name;
      row.appendChild(name);
      cell(row, String(x.sets), "num");
      cell(row, x.repsMin === x.repsMax ? String(x.repsMin) : x.repsMin + "–" + x.repsMax, "num");
      var effort = cell(row, "", "effort");
      var abbr = el("abbr", x.rir + " RIR");
      abbr.title = plural(x.rir, "rep") + " in reserve";
      effort.appendChild(abbr);
      cell(row, duration(x.restSeconds), "num");
      if (withNotes) cell(row, x.notes || "", "notes");
    });
    section.appendChild(table);
    return section;
  }

  // --- Small helpers ----------------------------------------------------------------------------

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function cell(row, text, className) {
    var td = row.insertCell();
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function option(value, text) {
    var o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    return o;
  }

  function facts(dl, pairs) {
    dl.textContent = "";
    pairs.forEach(function (pair) {
      var div = document.createElement("div");
      div.append(el("dt", pair[0]), el("dd", String(pair[1])));
      dl.appendChild(div);
    });
  }

  function words(id) {
    var text = String(id).replace(/_/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function plural(n, unit) { return n + " " + unit + (n === 1 ? "" : "s"); }

  function duration(seconds) {
    if (seconds < 60) return seconds + " s";
    var m = Math.floor(seconds / 60);
    var s = seconds % 60;
    return m + " min" + (s ? " " + s + " s" : "");
  }

  function show(id) { $(id).hidden = false; }
  function hide(id) { $(id).hidden = true; }

  // --- Start ----------------------------------------------------------------------------------

  function init() {
    var weeks = $("program-weeks");
    for (var w = 1; w <= 12; w++) weeks.appendChild(option(String(w), plural(w, "week")));
    weeks.value = "4";

    $("persona-form").addEventListener("submit", signIn);
    $("persona-select").addEventListener("change", describePersona);
    $("switch-persona").addEventListener("click", switchPersona);
    $("generate-form").addEventListener("submit", generate);
    $("retry-button").addEventListener("click", retry);
    $("keep-waiting").addEventListener("click", function () {
      if (watching) follow(watching.programId);
    });
    $("new-program").addEventListener("click", function () {
      hide("program-step");
      hide("status-step");
      $("program-name").focus();
    });

    loadPersonas();
    if (!session) return;
    showSession();
    // After a reload: pick up the program we were showing, or the one in flight.
    client.current()
      .then(function (program) { if (program) follow(program.programId); })
      .catch(showApiError);
  }

  init();
})();
