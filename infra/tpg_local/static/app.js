// The demo page: a persona's dev session, onboarding review, generation with live status (the
// realtime channel where the stack has one, else polling), cancel, the program rendered, a state
// for each error code, resume after a reload or a 409. Every API call goes through the client
// package (clients/js, served at /client/); only /dev/* (local stack only) is called directly.
import { TpgApiError, TpgClient, isAbortError, isInFlight } from "/client/index.js";

const SESSION_KEY = "tpg.session";
const STAGES = ["queued", "analyzing", "generating", "validating", "saving"];
const STAGE_TEXT = {
  queued: "Queued: waiting for a worker",
  analyzing: "Analyzing your profile and onboarding",
  generating: "Generating your program",
  validating: "Checking the program against our training and safety rules",
  saving: "Saving your program",
};

// Why a generation could not start, by API error code (docs/frontend.md): a title, what to say
// when the API's message is not the best words, and what the user can do.
const START_PROBLEMS = {
  SUBSCRIPTION_REQUIRED: {
    kind: "subscribe",
    title: "A subscription is needed",
    text: "Generating a program is part of the subscription. In your app, this is where the paywall opens.",
    actions: ["persona"],
  },
  ONBOARDING_INCOMPLETE: {
    kind: "profile",
    title: "Complete your profile first",
    text: "A program is built from your onboarding answers, and some are missing. In your app, this links to onboarding.",
    actions: ["persona"],
  },
  QUOTA_EXCEEDED: { kind: "quota", title: "Today's limit is reached", actions: [] },
  INVALID_REQUEST: { kind: "fix", title: "Check the form", actions: [] },
  PAYLOAD_TOO_LARGE: { kind: "fix", title: "That is too much text", text: "Shorten the notes and try again.", actions: [] },
  SERVICE_UNAVAILABLE: { kind: "retry", title: "The service is busy", text: "Please try again in a moment.", actions: ["again"] },
  NETWORK_ERROR: { kind: "retry", title: "Could not reach the server", text: "Check your connection and try again.", actions: ["again"] },
};
// API Gateway's own throttle answers 429 without a code (the client's HTTP_ERROR): busy, not broken.
const THROTTLED = { kind: "retry", title: "Too many requests right now", text: "Please wait a moment and try again.", actions: ["again"] };
const RETRYABLE_START = { kind: "retry", title: "Something went wrong", text: "Please try again.", actions: ["again"] };

// How a generation ended, by its error code: a title, our own words where they say more than the
// API's generic message (which is shown otherwise, once), and whether Retry helps: errors only
// the user's data can fix offer a way to fix it instead.
const FAILURES = {
  INVALID_USER_DATA: {
    kind: "fix",
    title: "Your data needs fixing",
    text: "Some of your profile or onboarding answers cannot be used. Review them, then retry.",
    fix: true,
    retry: "Retry after fixing",
  },
  MEDICAL_CLEARANCE_REQUIRED: {
    kind: "fix",
    title: "Ask your doctor first",
    after: "Once your doctor has cleared you, update your profile to generate a program.",
    fix: true,
    retry: null,
  },
  CANCELLED: { kind: "cancelled", title: "Generation cancelled", text: "You cancelled this generation.", retry: "Start it again" },
};
const RETRYABLE_FAILURE = { kind: "retry", title: "Generation failed", retry: "Retry" };

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const pollMs = Math.max(100, parseInt(params.get("pollMs") || "1000", 10) || 1000);
const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;

let session = loadSession();
let personas = [];
let watching = null; // {programId, controller}
let lastAnnounced = "";
let lastStart = null; // the body of the last POST /programs, for "Try again"

const client = new TpgClient({
  baseUrl: "",
  getToken: () => session && session.token, // a dev session's token lasts 8 h: nothing to refresh
  onUnauthorized: () => signedOut(),
  poll: { intervalMs: pollMs, maxIntervalMs: Math.max(5000, pollMs) },
});

// --- Session (dev token) ----------------------------------------------------------------------

function loadSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
  } catch {
    return null;
  }
}

function saveSession(value) {
  session = value;
  try {
    if (value) sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
    else sessionStorage.removeItem(SESSION_KEY);
  } catch {
    /* storage blocked: the session lasts until reload */
  }
}

async function loadPersonas() {
  try {
    const response = await fetch("/dev/personas", { cache: "no-store" });
    if (!response.ok) throw new Error(`status ${response.status}`);
    personas = (await response.json()).personas;
  } catch {
    $("persona-error").textContent = "Could not load the personas. Is this page served by `tpg serve`?";
    return;
  }
  const select = $("persona-select");
  select.textContent = "";
  select.append(option("", "Choose a persona…"));
  for (const p of personas) {
    select.append(option(p.name, `${p.label} · ${words(p.onboarding.goal)}, ${p.onboarding.experience}`));
  }
  if (session) select.value = session.persona;
  describePersona();
}

function describePersona() {
  const p = personas.find((x) => x.name === $("persona-select").value);
  $("persona-summary").textContent = p
    ? `${p.onboarding.daysPerWeek} days a week, ${p.onboarding.sessionMinutes} minutes a session; ${p.onboarding.notes || ""}`
    : "";
}

async function signIn(event) {
  event.preventDefault();
  const persona = $("persona-select").value;
  $("persona-error").textContent = "";
  if (!persona) {
    $("persona-error").textContent = "Choose a persona first.";
    $("persona-select").focus();
    return;
  }
  const button = $("persona-submit");
  button.disabled = true;
  try {
    const response = await fetch("/dev/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ persona }),
    });
    const body = await response.json();
    if (!response.ok) throw new Error((body.error && body.error.message) || `status ${response.status}`);
    stopWatching();
    client.forget();
    saveSession(body);
    showSession();
    ["status-step", "program-step"].forEach(hide);
    reveal($("onboarding-step"), $("onboarding-heading"));
  } catch (error) {
    $("persona-error").textContent = `Could not sign in: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

function switchPersona() {
  stopWatching();
  client.forget();
  saveSession(null);
  ["onboarding-step", "status-step", "program-step", "session-info"].forEach(hide);
  show("persona-form");
  $("persona-select").focus();
}

function signedOut() {
  switchPersona();
  $("persona-error").textContent = "Your session has expired. Choose a persona to sign in again.";
}

function showSession() {
  $("session-label").textContent = session.label;
  $("session-user").textContent = session.userId;
  hide("persona-form");
  show("session-info");
  renderOnboarding(session.onboarding);
  hide("start-problem");
  show("onboarding-step");
}

function renderOnboarding(o) {
  const lifts = o.lifts.length
    ? o.lifts.map((l) => `${words(l.exerciseId)}: ${l.weightKg} kg × ${l.reps}`).join("; ")
    : "none recorded";
  facts($("onboarding-data"), [
    ["Goal", words(o.goal)],
    ["Experience", `${words(o.experience)} (${plural(o.trainingMonths, "month")} of training)`],
    ["Schedule", `${o.daysPerWeek} days a week, ${o.sessionMinutes} minutes a session`],
    ["Body", `${o.age} years, ${o.sex}, ${o.heightCm} cm, ${o.weightKg} kg`],
    ["Equipment", o.equipment.map(words).join(", ")],
    ["Injuries", o.injuries.length ? o.injuries.map(words).join(", ") : "none"],
    ["Recent lifts", lifts],
    ["Notes", o.notes || "none"],
  ]);
}

// --- Starting a generation --------------------------------------------------------------------

function generate(event) {
  event.preventDefault();
  const body = { weeks: parseInt($("program-weeks").value, 10) };
  const name = $("program-name").value.trim();
  const notes = $("program-notes").value.trim();
  if (name) body.name = name;
  if (notes) body.notes = notes;
  start(body);
}

async function start(body) {
  lastStart = body;
  $("generate-button").disabled = true;
  hide("start-problem");
  hide("program-step");
  try {
    const started = await client.start(body);
    follow(started.programId, {
      focus: true,
      message: started.resumed ? "A program was already being generated for you: showing its progress." : "",
    });
  } catch (error) {
    $("generate-button").disabled = false;
    if (error instanceof TpgApiError && error.code === "UNAUTHORIZED") return; // onUnauthorized handled it
    showStartProblem(error);
  }
}

/** Why the generation did not start: its own panel by the form, with what the user can do. */
function showStartProblem(error) {
  const view = START_PROBLEMS[error.code] || (error.status === 429 ? THROTTLED : RETRYABLE_START);
  let text = view.text || error.message;
  if (error.code === "INVALID_REQUEST") text = error.message; // names the field
  if (error.code === "QUOTA_EXCEEDED") text = quotaText(error.retryAfterSeconds);
  const panel = $("start-problem");
  panel.dataset.kind = view.kind;
  $("start-problem-heading").textContent = view.title;
  $("start-problem-message").textContent = text;
  $("start-problem-code").textContent = error.code === "HTTP_ERROR" ? `HTTP ${error.status}` : error.code;
  const actions = $("start-problem-actions");
  actions.textContent = "";
  for (const action of view.actions) {
    if (action === "persona") actions.append(button("Choose another persona", switchPersona, "secondary"));
    if (action === "again") actions.append(button("Try again", () => start(lastStart || {})));
  }
  hide("status-step");
  show("start-problem");
  reveal(panel, $("start-problem-heading"));
}

function quotaText(seconds) {
  if (!seconds) return "You have reached today's limit of new programs. Please try again later.";
  const at = new Date(Date.now() + seconds * 1000);
  const time = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return `You have reached today's limit of new programs. You can generate the next one at ${time}.`;
}

// --- Following a generation -------------------------------------------------------------------

/** Follow one program, rendering each update, until it is completed, failed or cancelled. */
async function follow(programId, options = {}) {
  stopWatching();
  const controller = new AbortController();
  watching = { programId, controller };
  lastAnnounced = "";
  ["error-panel", "wait-panel", "start-problem"].forEach(hide);
  show("progress-area");
  show("status-step");
  $("status-step").dataset.status = "pending";
  $("generate-button").disabled = true;
  $("status-note").textContent = options.message || "";
  $("transport-note").textContent = "";
  if (options.focus) reveal($("status-step"), $("status-heading"));

  let sawInFlight = false;
  let shown = false;
  try {
    const program = await client.watch(programId, {
      signal: controller.signal,
      onUpdate: (update) => {
        sawInFlight = sawInFlight || isInFlight(update);
        renderStatus(update);
        // The card has grown (status, Cancel): keep all of it in view once, if the user asked.
        if (options.focus && !shown) $("status-step").scrollIntoView({ block: "nearest" });
        shown = true;
      },
      onTransport: (transport) => {
        $("transport-note").textContent =
          transport === "realtime" ? "Live updates (realtime channel)" : "Checking for updates every few seconds";
      },
      onError: (error, willRetry) => {
        if (willRetry) $("status-note").textContent = "Connection problem; still checking…";
      },
    });
    if (controller.signal.aborted) return;
    $("generate-button").disabled = false;
    $("status-note").textContent = "";
    // Move focus to the outcome when the user watched it happen, not on a reload's restore.
    const moveFocus = options.focus || sawInFlight;
    $("transport-note").textContent = "";
    if (program.status === "completed") {
      renderProgram(program);
      if (moveFocus) reveal($("program-step"), $("program-heading"));
    } else {
      renderFailure(program);
      if (moveFocus) reveal($("error-panel"), $("error-heading"));
    }
  } catch (error) {
    if (isAbortError(error) || controller.signal.aborted) return;
    watchFailed(error);
  } finally {
    if (watching && watching.controller === controller) $("cancel-button").hidden = true;
  }
}

function watchFailed(error) {
  if (error.code === "POLL_TIMEOUT") {
    announce(error.message);
    show("wait-panel");
    return;
  }
  $("generate-button").disabled = false;
  if (error.code === "UNAUTHORIZED") return; // onUnauthorized has signed out
  if (error.code === "NOT_FOUND") {
    hide("status-step");
    showStartProblem(new TpgApiError(404, "NOT_FOUND", "That program no longer exists."));
    return;
  }
  // Transient errors that did not stop: offer to keep checking.
  $("status-note").textContent = "";
  announce(`${error.message} Your program is still being generated.`);
  show("wait-panel");
}

function stopWatching() {
  if (watching) watching.controller.abort();
  watching = null;
}

function renderStatus(program) {
  const step = $("status-step");
  step.dataset.status = program.status;
  step.dataset.stage = program.stage || "";
  $("status-heading").textContent = `3. Generation: ${program.name}`;
  $("progress-bar").value = program.progress;
  $("progress-bar").setAttribute("aria-valuetext", `${program.progress}%`);
  $("progress-value").textContent = `${program.progress}%`;

  const current = program.status === "pending" ? "queued" : program.stage;
  const reached = program.status === "completed" ? STAGES.length : STAGES.indexOf(current);
  Array.from($("stage-list").children).forEach((item, index) => {
    const state = index < reached ? "done" : index === reached ? "current" : "todo";
    item.className = state;
    if (state === "current" && isInFlight(program)) item.setAttribute("aria-current", "step");
    else item.removeAttribute("aria-current");
  });

  const cancelling = isInFlight(program) && program.cancelRequested;
  $("cancel-button").hidden = !isInFlight(program) || cancelling;
  // Announce changes of status or stage, not every percent.
  let text;
  if (program.status === "completed") text = "Your program is ready.";
  else if (cancelling) text = "Cancelling: the generator stops at its next step…";
  else if (isInFlight(program)) text = `${STAGE_TEXT[current] || "Working"}…`;
  else text = "";
  if (text && text !== lastAnnounced) announce(text);
}

function announce(text) {
  lastAnnounced = text;
  $("status-text").textContent = text;
}

/** A generation that ended without a program: one message, and what the user can do. */
function renderFailure(program) {
  const error = program.error || { code: "GENERATION_FAILED", message: "We could not generate your program." };
  const view = program.status === "cancelled" ? FAILURES.CANCELLED : FAILURES[error.code] || RETRYABLE_FAILURE;
  hide("progress-area"); // no empty bar next to a failure
  const panel = $("error-panel");
  panel.dataset.kind = view.kind;
  $("error-heading").textContent = view.title;
  $("error-message").textContent = [view.text || error.message, view.after].filter(Boolean).join(" ");
  $("error-code").textContent = error.code;
  $("fix-button").hidden = !view.fix;
  $("retry-button").hidden = !view.retry;
  $("retry-button").textContent = view.retry || "Retry";
  announce("");
  show("error-panel");
}

async function retry() {
  const programId = watching && watching.programId;
  if (!programId) return;
  $("retry-button").disabled = true;
  try {
    await client.retry(programId);
  } catch (error) {
    $("retry-button").disabled = false;
    if (error instanceof TpgApiError && error.code === "GENERATION_IN_FLIGHT" && error.programId) {
      // Another generation runs (another tab started one): that is the one to show.
      const message = "Another program was already being generated for you: showing its progress.";
      follow(error.programId, { focus: true, message });
      return;
    }
    // Already retried elsewhere (another tab): just follow it.
    if (!(error instanceof TpgApiError && error.code === "NOT_RETRYABLE")) {
      if (error.code !== "UNAUTHORIZED") showStartProblem(error);
      return;
    }
  }
  $("retry-button").disabled = false;
  follow(programId, { focus: true });
}

async function cancel() {
  const programId = watching && watching.programId;
  if (!programId) return;
  const button = $("cancel-button");
  button.disabled = true;
  try {
    const answer = await client.cancel(programId);
    if (answer.status === "processing") announce("Cancelling: the generator stops at its next step…");
    button.hidden = true;
  } catch (error) {
    if (error instanceof TpgApiError && error.code === "PROGRAM_ALREADY_FINAL") {
      $("status-note").textContent = "It had already finished.";
      button.hidden = true; // the watch shows how it ended
    } else if (error.code !== "UNAUTHORIZED") {
      $("status-note").textContent = `Could not cancel: ${error.message}`;
    }
  } finally {
    button.disabled = false;
  }
}

function reviewOnboarding() {
  reveal($("onboarding-step"), $("onboarding-heading"));
}

// --- The program --------------------------------------------------------------------------------

function renderProgram(response) {
  const p = response.program;
  $("program-heading").textContent = p.name;
  facts($("program-facts"), [
    ["Goal", words(p.goal)],
    ["Level", words(p.level)],
    ["Length", plural(p.weeks, "week")],
    ["Sessions", `${p.daysPerWeek} a week, about ${p.sessionMinutes} minutes each`],
    ["Split", p.split],
  ]);
  const progression = $("program-progression");
  progression.textContent = "";
  progression.append(el("strong", `Progression (${p.progression.model}): `), p.progression.description);

  const notes = $("program-notes-list");
  notes.textContent = "";
  for (const note of p.notes || []) notes.append(el("li", note));

  const weeks = $("program-weeks-list");
  weeks.textContent = "";
  p.schedule.forEach((week, index) => {
    const details = document.createElement("details");
    details.className = "week";
    details.open = index === 0;
    details.append(el("summary", `Week ${week.week}${week.isDeload ? " · deload (lighter week)" : ""}`));
    for (const day of week.days) details.append(renderDay(week, day));
    weeks.append(details);
  });
  show("program-step");
}

const COLUMNS = ["Exercise", "Sets", "Reps", "Effort", "Rest", "Notes"];

/** A day's exercises as a table (on a narrow screen, CSS turns each row into a card: every
 * cell carries its column's name in data-label, and the explicit roles keep the table's
 * semantics when its display changes). */
function renderDay(week, day) {
  const section = document.createElement("section");
  section.className = "day";
  const headingId = `w${week.week}d${day.day}`;
  const heading = el("h4", `Day ${day.day}: ${day.name}`);
  heading.id = headingId;
  section.append(heading, el("p", `${day.focus} · about ${day.estimatedMinutes} minutes`, "muted"));

  const withNotes = day.exercises.some((x) => !!x.notes);
  const columns = withNotes ? COLUMNS : COLUMNS.slice(0, 5);
  const table = document.createElement("table");
  table.className = withNotes ? "exercises with-notes" : "exercises";
  table.setAttribute("role", "table");
  table.setAttribute("aria-labelledby", headingId);
  const head = table.createTHead();
  head.setAttribute("role", "rowgroup");
  const headRow = head.insertRow();
  headRow.setAttribute("role", "row");
  for (const label of columns) {
    const th = document.createElement("th");
    th.scope = "col";
    th.setAttribute("role", "columnheader");
    th.textContent = label;
    headRow.append(th);
  }
  const body = table.createTBody();
  body.setAttribute("role", "rowgroup");
  for (const x of day.exercises) {
    const row = body.insertRow();
    row.setAttribute("role", "row");
    const name = document.createElement("th");
    name.scope = "row";
    name.setAttribute("role", "rowheader");
    name.textContent = x.name;
    row.append(name);
    cell(row, "Sets", String(x.sets), "num");
    cell(row, "Reps", x.repsMin === x.repsMax ? String(x.repsMin) : `${x.repsMin}–${x.repsMax}`, "num");
    const effort = cell(row, "Effort", "", "effort");
    const abbr = el("abbr", `${x.rir} RIR`);
    abbr.title = `${plural(x.rir, "rep")} in reserve`;
    effort.append(abbr);
    cell(row, "Rest", duration(x.restSeconds), "num rest");
    if (withNotes) cell(row, "Notes", x.notes || "", x.notes ? "notes" : "notes empty");
  }
  section.append(table);
  return section;
}

// --- Small helpers ------------------------------------------------------------------------------

/** Bring `section` to the top of the view (not its bottom edge) and focus `target` there. */
function reveal(section, target) {
  section.scrollIntoView({ block: "start", behavior: reducedMotion ? "auto" : "smooth" });
  target.focus({ preventScroll: true });
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function cell(row, label, text, className) {
  const td = row.insertCell();
  td.setAttribute("role", "cell");
  td.dataset.label = label;
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function button(text, onClick, className) {
  const b = el("button", text, className);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

function option(value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  return o;
}

function facts(dl, pairs) {
  dl.textContent = "";
  for (const [term, value] of pairs) {
    const div = document.createElement("div");
    div.append(el("dt", term), el("dd", String(value)));
    dl.append(div);
  }
}

function words(id) {
  const text = String(id).replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function plural(n, unit) {
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}

function duration(seconds) {
  if (seconds < 60) return `${seconds} s`;
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return `${m} min${s ? ` ${s} s` : ""}`;
}

function show(id) {
  $(id).hidden = false;
}

function hide(id) {
  $(id).hidden = true;
}

// --- Start --------------------------------------------------------------------------------------

function init() {
  const weeks = $("program-weeks");
  for (let w = 1; w <= 12; w++) weeks.append(option(String(w), plural(w, "week")));
  weeks.value = "4";

  $("persona-form").addEventListener("submit", signIn);
  $("persona-select").addEventListener("change", describePersona);
  $("switch-persona").addEventListener("click", switchPersona);
  $("generate-form").addEventListener("submit", generate);
  $("retry-button").addEventListener("click", retry);
  $("cancel-button").addEventListener("click", cancel);
  $("fix-button").addEventListener("click", reviewOnboarding);
  $("keep-waiting").addEventListener("click", () => {
    if (watching) follow(watching.programId);
  });
  $("new-program").addEventListener("click", () => {
    hide("program-step");
    hide("status-step");
    reveal($("onboarding-step"), $("program-name"));
  });

  loadPersonas();
  if (!session) return;
  showSession();
  // After a reload: pick up the program we were showing, or the one in flight.
  client.current().then(
    (program) => {
      if (program) follow(program.programId);
    },
    (error) => {
      if (error.code !== "UNAUTHORIZED") showStartProblem(error);
    },
  );
}

init();
