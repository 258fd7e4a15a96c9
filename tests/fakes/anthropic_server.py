"""A fake Anthropic Messages API: a real HTTP server on 127.0.0.1 for the real SDK to talk to.

`POST /v1/messages` answers JSON or, when the body asks for `stream`, server-sent events with the
same event sequence and usage fields the API sends. Each request takes the next scripted behaviour
(`FakeAnthropic.script(...)`), or `default` when the script is empty; every request is recorded
(headers, parsed body, time) so tests can assert the system prompt, cache_control, headers, counts.
`POST /v1/messages/batches` (+ retrieve, cancel, results as JSONL) runs a Message Batch through the
same answers, each request taking the next scripted behaviour (a `Status` makes it `errored`). A batch
ends at once by default; `batch_seconds` keeps it `in_progress` that long, `hold_batches` until
`end_batch` (or `expire_batch`: what is left expires); a cancel ends what is left as `canceled`;
`cut_results_after` drops the results connection after that many lines (a poller losing it mid-file).

What it does like the real API, so that what is measured against it means something:

- **Answers for the ask requested** (the response schema says which): the compact week or the full
  program. `Good()` answers the rules engine's own choices (a valid plan: plumbing tests).
  `Realistic()` answers a plausible plan of its own, varied from those choices, with the slips a
  model makes at stated rates (`SlipRates`): values past a bound, far out of range, too much volume,
  a contraindicated or unavailable pick, an unknown id (only where the schema has no enum:
  structured outputs cannot produce an id outside one). A repair turn fixes what was listed, most
  of the time. The rates are assumptions for the evaluation's plumbing, not measurements of a model.
- **A latency model** (`Latency`): time to first token, then output tokens at a steady rate,
  thinking included; scaled by `time_scale` for benchmarks. Defaults from published figures:
  Sonnet-class 1.8 s and 63 tokens/s (Artificial Analysis, Claude Sonnet 4.5), Haiku-class 1.3 s
  and 97 tokens/s (LMSpeed, Claude Haiku 4.5); none is published for the 5.5 models yet.
- **Thinking**: with `thinking.type` adaptive or enabled, a thinking block (summarised text,
  a signature) comes first; its tokens are billed as output and reported in
  `usage.output_tokens_details.thinking_tokens`: its own assumption per effort level
  (`THINKING_TOKENS`, deliberately not the client's `EXPECTED_THINKING_TOKENS`), spread log-normally
  per request with a tail (`thinking_spread`), so that a fit-the-time-left or max_tokens check
  tuned to the client's expectation meets answers that think longer.
- **`max_tokens`**: thinking plus answer beyond it is cut, `stop_reason: max_tokens`.
- **Prompt caching**: the key is the model, the answer schema (`output_config.format`) and the
  system text up to its breakpoint; a breakpoint on the first user turn extends it. The first
  request with a key reports `cache_creation_input_tokens` (split by TTL), later ones reads.
  Input counts every message's text (a repair turn's quoted answer included), as the API bills it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import re
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tpg.generation.claude.prompt import estimate_tokens
from tpg.generation.claude.schemas import compact_from_week
from tpg.platform.settings import Settings
from tpg.training.analysis import EnhancedUserData, RepScheme, analyse
from tpg.training.catalog import ALL_EXERCISES, CATALOG, Exercise
from tpg.training.engine import plan_week, program_from_week
from tpg.training.user_data import UserData

_CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def _rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


# --- What the fake can be told to do ---------------------------------------------------------


@dataclass(frozen=True)
class Good:
    """A program that passes enhanced validation for the user in the request."""

    delay_seconds: float = 0.0


@dataclass(frozen=True)
class SlipRates:
    """How often a `Realistic` answer has each slip (per answer; several may coincide)."""

    trivial_overflow: float = 0.15  # a value just past a bound, a note a little long: code clamps
    out_of_range: float = 0.05  # a value far past a bound: the schema refuses, a repair round
    too_much_volume: float = 0.12  # sets piled on one session: validation refuses
    contraindicated: float = 0.08  # an exercise the user's injuries or equipment rule out
    unknown_id: float = 0.08  # an id that is not in the catalog (impossible under an enum)
    repair_fixes: float = 0.85  # a repair round answers a plan without slips


@dataclass(frozen=True)
class Realistic:
    """A plausible plan of the fake's own, with slips at `rates` (seeded: reproducible)."""

    rates: SlipRates = field(default_factory=SlipRates)
    seed: int = 0


@dataclass(frozen=True)
class Status:
    """An HTTP error: 429 with retry-after, 500, 529 overloaded, 400, 401..."""

    status: int
    error_type: str = "api_error"
    headers: dict[str, str] = field(default_factory=dict)


def rate_limited(retry_after: str = "1") -> Status:
    return Status(429, "rate_limit_error", {"retry-after": retry_after})


def overloaded() -> Status:
    return Status(529, "overloaded_error")


@dataclass(frozen=True)
class OverloadedMidStream:
    """200, a few deltas, then an SSE `error` event (overloaded_error)."""


@dataclass(frozen=True)
class Trickle:
    """A good answer streamed slowly: this long between two deltas (12 deltas in all)."""

    chunk_delay: float


@dataclass(frozen=True)
class Slow:
    """Wait this long before answering at all (past the client's read timeout)."""

    seconds: float


@dataclass(frozen=True)
class Truncated:
    """Half the JSON, stop_reason max_tokens."""


@dataclass(frozen=True)
class Malformed:
    """Prose with broken JSON, stop_reason end_turn."""


@dataclass(frozen=True)
class OutOfRange:
    """Well-formed JSON the schema refuses (sets far past 10): what a repair round can fix."""


@dataclass(frozen=True)
class Refusal:
    """stop_reason refusal."""


@dataclass(frozen=True)
class Unsafe:
    """Schema-valid, but grossly unsafe: 10 sets to failure of everything, plus a contraindicated or
    unavailable exercise."""


Behaviour = (
    Good
    | Realistic
    | Status
    | OverloadedMidStream
    | Trickle
    | Slow
    | Truncated
    | Malformed
    | OutOfRange
    | Refusal
    | Unsafe
)


@dataclass(frozen=True)
class Latency:
    """Time to first token and output speed of one model (thinking streams at the same speed)."""

    first_token_seconds: float
    tokens_per_second: float


SONNET_LATENCY = Latency(first_token_seconds=1.8, tokens_per_second=63.0)
HAIKU_LATENCY = Latency(first_token_seconds=1.3, tokens_per_second=97.0)


def published_latency(model: str) -> Latency:
    return HAIKU_LATENCY if "haiku" in model else SONNET_LATENCY


# Median thinking tokens per answer by effort with adaptive thinking: the fake's own assumption
# (no figure is published; `make llm-eval` against the real API measures them), set apart from the
# client's EXPECTED_THINKING_TOKENS on purpose. A repair turn thinks half as much.
THINKING_TOKENS = {"low": 400, "medium": 1200, "high": 3000, "xhigh": 5000, "max": 8000}
# Each answer's thinking is the median x a log-normal factor (sigma 0.5: p95 ~2.3x), and one answer
# in TAIL_SHARE thinks TAIL_FACTOR times longer again (a hard case the model keeps revisiting).
THINKING_SIGMA = 0.5
TAIL_SHARE = 0.05
TAIL_FACTOR = 3.0


def thinking_spread(seed: str) -> float:
    """The factor one answer's thinking takes over the median (reproducible per request)."""
    rng = random.Random(hashlib.sha256(seed.encode()).digest())
    factor = rng.lognormvariate(0.0, THINKING_SIGMA)
    if rng.random() < TAIL_SHARE:
        factor *= TAIL_FACTOR
    return factor


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float
    # The latency model's waits while answering, as slept (scaled by time_scale).
    modelled_seconds: float = 0.0
    # A streamed answer: its output tokens in all, those written before the client closed the stream
    # (a cancelled job), and whether it was written to the end.
    output_tokens: int = 0
    streamed_tokens: float = 0.0
    finished: bool = False
    # The usage the fake answered with (its cache split, thinking tokens), for tests to price.
    reported_usage: dict[str, Any] = field(default_factory=dict)

    @property
    def system_text(self) -> str:
        system = self.body.get("system") or []
        if isinstance(system, str):
            return system
        return "".join(block.get("text", "") for block in system)

    @property
    def user_texts(self) -> list[str]:
        texts = []
        for message in self.body.get("messages", []):
            content = message["content"]
            if message["role"] != "user":
                continue
            if isinstance(content, str):
                texts.append(content)
            else:
                texts.extend(block.get("text", "") for block in content)
        return texts

    @property
    def message_texts(self) -> list[str]:
        """The text of every message, whatever its role (all of it is billed as input)."""
        texts = []
        for message in self.body.get("messages", []):
            content = message["content"]
            if isinstance(content, str):
                texts.append(content)
            else:
                texts.extend(block.get("text", "") for block in content)
        return texts

    @property
    def schema(self) -> dict[str, Any]:
        return self.body.get("output_config", {}).get("format", {}).get("schema", {})

    @property
    def ask(self) -> str:
        return "full" if "schedule" in self.schema.get("properties", {}) else "compact"

    @property
    def is_repair(self) -> bool:
        return len(self.body.get("messages", [])) > 1

    @property
    def id_enum(self) -> bool:
        """Whether the schema restricts exercise ids to an enum (constrained decoding keeps to it)."""
        return '"exerciseId": {"enum"' in json.dumps(self.schema) or "enum" in json.dumps(
            self.schema.get("$defs", {}).get("CompactExercise", {})
        )


# --- Programs -----------------------------------------------------------------------------------


def _user_data_from_request(request: RecordedRequest) -> tuple[UserData, int]:
    text = request.user_texts[0]
    start = text.index("<user_data>") + len("<user_data>")
    payload = json.loads(text[start : text.index("</user_data>")])
    profile = dict(payload["profile"])
    profile["experience"] = profile.pop("declared_experience")
    # An injury without rules of its own comes as a label ("injury #1 without specific rules"): any
    # unknown site gets the same rule, so a stand-in site rebuilds the same analysis.
    profile["injuries"] = [
        f"unlisted site {site.split('#')[1].split()[0]}" if "#" in site else site
        for site in profile.get("injuries", [])
    ]
    user = UserData.model_validate({**profile, "user_id": uuid.uuid4()})
    return user, payload["weeks"]


Week = list[list[tuple[Exercise, int, RepScheme]]]
_PLANS: dict[str, tuple[EnhancedUserData, Week, int]] = {}
_PLANS_LOCK = threading.Lock()


def _plan(request: RecordedRequest) -> tuple[EnhancedUserData, Week, int]:
    """The analysis and the engine's week for the user in the request (memoised per user data)."""
    text = request.user_texts[0]
    key = text[: text.index("</user_data>")]
    with _PLANS_LOCK:
        cached = _PLANS.get(key)
    if cached is None:
        user, weeks = _user_data_from_request(request)
        data = analyse(user)
        cached = (data, plan_week(data), weeks)
        with _PLANS_LOCK:
            _PLANS[key] = cached
    return cached


def _render(
    request: RecordedRequest, data: EnhancedUserData, week: Week, weeks: int, notes: list[str]
) -> str:
    if request.ask == "full":
        program = program_from_week(data, week, weeks=weeks)
        program = program.model_copy(update={"name": f"Fake Claude: {program.name}"[:100]})
        return program.model_dump_json(by_alias=True)
    plan = compact_from_week(week).model_copy(update={"notes": notes})
    return plan.model_dump_json(by_alias=True)


def good_answer(request: RecordedRequest) -> str:
    data, week, weeks = _plan(request)
    return _render(request, data, week, weeks, ["Fake Claude: keep a training log."])


def _excluded_pick(data: EnhancedUserData) -> Exercise:
    """A catalog exercise this user must not do: contraindicated, or needing missing equipment."""
    allowed = set(data.allowed_exercise_ids)
    return next(e for e in ALL_EXERCISES if e.id not in allowed)


def unsafe_answer(request: RecordedRequest) -> str:
    data, week, weeks = _plan(request)
    banned = _excluded_pick(data)
    unsafe: Week = []
    for day in week:
        items = [
            (e, 10, RepScheme(reps_min=s.reps_min, reps_max=s.reps_max, rir=0, rest_seconds=30))
            for e, _, s in day
        ]
        items[0] = (banned, 10, items[0][2])
        unsafe.append(items)
    return _render(request, data, unsafe, weeks, [])


def out_of_range_answer(request: RecordedRequest) -> str:
    document = json.loads(good_answer(request))
    days = document["days"] if "days" in document else [d for w in document["schedule"] for d in w["days"]]
    days[0]["exercises"][0]["sets"] = 25
    return json.dumps(document)


def realistic_answer(request: RecordedRequest, behaviour: Realistic) -> tuple[str, list[str]]:
    """A plausible answer and the slips it carries (for the evaluation's ground truth)."""
    data, week, weeks = _plan(request)
    seed = hashlib.sha256(
        f"{behaviour.seed}\x00{request.ask}\x00{request.is_repair}\x00{request.user_texts[0]}".encode()
    ).digest()
    rng = random.Random(seed)
    rates = behaviour.rates
    if request.is_repair and rng.random() < rates.repair_fixes:
        return good_answer(request), []
    allowed = [CATALOG[i] for i in data.allowed_exercise_ids]
    chosen = [list(day) for day in week]
    # A model's own taste: one exercise swapped for a near equivalent, one set more or less somewhere.
    day = rng.choice(chosen)
    index = rng.randrange(len(day))
    exercise, sets, scheme = day[index]
    today = {e.id for e, _, _ in day}
    twins = [
        e
        for e in allowed
        if e.pattern == exercise.pattern
        and e.primary_muscles == exercise.primary_muscles
        and e.id not in today
    ]
    if twins:
        day[index] = (rng.choice(twins), sets, scheme)
    day = rng.choice(chosen)
    index = rng.randrange(len(day))
    exercise, sets, scheme = day[index]
    day[index] = (exercise, max(1, min(data.max_sets_per_exercise, sets + rng.choice((-1, 1)))), scheme)

    slips: list[str] = []
    notes = ["Log every session; add load only when all sets reach the top of the range."]
    if rng.random() < rates.too_much_volume:
        slips.append("too_much_volume")
        target = max(chosen, key=len)
        for i, (e, s, sch) in enumerate(target):
            target[i] = (e, min(10, s + 3), sch)
    if rng.random() < rates.contraindicated:
        slips.append("contraindicated")
        target = rng.choice(chosen)
        e, s, sch = target[0]
        target[0] = (_excluded_pick(data), s, sch)
    text = _render(request, data, chosen, weeks, notes)
    document = json.loads(text)
    days = document["days"] if "days" in document else document["schedule"][0]["days"]
    if rng.random() < rates.trivial_overflow:
        slips.append("trivial_overflow")
        days[0]["exercises"][-1]["restSeconds"] = 10
        if "notes" in document and document["notes"]:
            document["notes"][0] = (document["notes"][0] + " ") * 4
    if rng.random() < rates.out_of_range:
        slips.append("out_of_range")
        days[-1]["exercises"][0]["sets"] = 25
    if rng.random() < rates.unknown_id and not request.id_enum:
        slips.append("unknown_id")
        first = days[0]["exercises"][0]
        first["exerciseId"] = first["exerciseId"] + "_variation"
    return json.dumps(document), slips


# --- The server ---------------------------------------------------------------------------------


class FakeAnthropic:
    def __init__(self, *, latency: dict[str, Latency] | bool | None = None, time_scale: float = 1.0) -> None:
        """`latency`: None/False answers at once; True uses the published figures per model; a dict
        maps a model name to its own. `time_scale` multiplies every modelled wait (benchmarks)."""
        self.requests: list[RecordedRequest] = []
        self.default: Behaviour = Good()
        self.latency = latency
        self.time_scale = time_scale
        self.slips: list[list[str]] = []  # per Realistic answer, in order
        self._script: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._cached_prefixes: set[str] = set()
        self.batches: dict[str, dict[str, Any]] = {}
        # Message Batches: None ends each at its creation; seconds keep it in progress that long;
        # hold_batches keeps it in progress until end_batch/expire_batch.
        self.batch_seconds: float | None = None
        self.hold_batches = False
        self.cut_results_after: int | None = None
        # cancel: how many calls it got, and a status to refuse each with (None: accepted)
        self.cancel_calls = 0
        self.refuse_cancel: int | None = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, *behaviours: Behaviour) -> FakeAnthropic:
        with self._lock:
            self._script.extend(behaviours)
        return self

    def end_batch(self, batch_id: str, *, expire: bool = False) -> None:
        """End a held Message Batch now: each request answered (or, with `expire`, expired)."""
        self._finish_batch(batch_id, outcome="expired" if expire else None)

    def expire_batch(self, batch_id: str) -> None:
        self.end_batch(batch_id, expire=True)

    def _finish_batch(self, batch_id: str, *, outcome: str | None = None) -> None:
        """Answer a batch's requests (or end them as `outcome`: expired, canceled), once."""
        with self._lock:
            entry = self.batches[batch_id]
            if entry.get("finishing"):
                return
            entry["finishing"] = True
        results = []
        for item in entry["requests"]:
            if outcome is not None:
                results.append({"custom_id": item["custom_id"], "result": {"type": outcome}})
                continue
            request = RecordedRequest(
                path="/v1/messages", headers={}, body=item["params"], at=time.monotonic()
            )
            behaviour = self._next(request)
            if isinstance(behaviour, Status):
                result: dict[str, Any] = {
                    "type": "errored",
                    "error": {"type": "error", "error": {"type": behaviour.error_type, "message": "fake"}},
                }
            else:
                result = {"type": "succeeded", "message": self.message(behaviour, request)}
            results.append({"custom_id": item["custom_id"], "result": result})
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for line in results:
            counts[line["result"]["type"]] += 1
        now = _rfc3339(time.time())
        with self._lock:
            entry["results"] = results
            entry["batch"].update(
                processing_status="ended",
                ended_at=now,
                request_counts=counts,
                results_url=f"{self.url}/v1/messages/batches/{batch_id}/results",
            )

    def _batch_view(self, batch_id: str) -> dict[str, Any] | None:
        """The batch as retrieve answers it (ended once its time is up)."""
        entry = self.batches.get(batch_id)
        if entry is None:
            return None
        due = entry.get("due")
        if due is not None and time.monotonic() >= due and not self.hold_batches:
            self._finish_batch(batch_id)
        with self._lock:
            return dict(entry["batch"])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeAnthropic:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next(self, request: RecordedRequest) -> Behaviour:
        with self._lock:
            self.requests.append(request)
            return self._script.popleft() if self._script else self.default

    def latency_of(self, model: str) -> Latency | None:
        if not self.latency:
            return None
        if self.latency is True:
            return published_latency(model)
        return self.latency.get(model) or published_latency(model)

    def answer_text(self, behaviour: Behaviour, request: RecordedRequest) -> tuple[str, str]:
        """(text, stop_reason) a behaviour answers with, before max_tokens."""
        match behaviour:
            case Truncated():
                text = good_answer(request)
                return text[: len(text) // 2], "max_tokens"
            case Malformed():
                return 'Here is your program: {"name": "Strong", "weeks": [', "end_turn"
            case Refusal():
                return "", "refusal"
            case Unsafe():
                return unsafe_answer(request), "end_turn"
            case OutOfRange():
                return out_of_range_answer(request), "end_turn"
            case Realistic():
                text, slips = realistic_answer(request, behaviour)
                with self._lock:
                    self.slips.append(slips)
                return text, "end_turn"
        return good_answer(request), "end_turn"

    def thinking_tokens(self, request: RecordedRequest) -> int:
        thinking = request.body.get("thinking") or {}
        if thinking.get("type") not in ("adaptive", "enabled"):
            return 0
        effort = (request.body.get("output_config") or {}).get("effort") or "high"
        seed = json.dumps(request.body.get("messages", []), sort_keys=True)
        tokens = round(THINKING_TOKENS.get(effort, THINKING_TOKENS["high"]) * thinking_spread(seed))
        if thinking.get("type") == "enabled":
            tokens = min(tokens, int(thinking.get("budget_tokens") or tokens))
        return tokens // 2 if request.is_repair else tokens

    def usage(self, request: RecordedRequest, output_text: str, thinking: int) -> dict[str, Any]:
        system = request.body.get("system") or []
        schema_text = json.dumps(request.schema, sort_keys=True)
        # Structured outputs put the schema in front of the prompt: it is input, and in the prefix.
        prefix_tokens = estimate_tokens(request.system_text) + estimate_tokens(schema_text)
        prompt_tokens = sum(estimate_tokens(t) for t in request.message_texts)
        usage: dict[str, Any] = {
            "input_tokens": prompt_tokens,
            "output_tokens": estimate_tokens(output_text) + thinking,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens_details": {"thinking_tokens": thinking},
        }
        marked = (
            [b for b in system if isinstance(b, dict) and "cache_control" in b]
            if isinstance(system, list)
            else []
        )
        if not marked:
            usage["input_tokens"] += prefix_tokens
            return usage
        key = f"{request.body.get('model')}\x00{schema_text}\x00{request.system_text}"
        segments = [(key, prefix_tokens, marked[-1]["cache_control"].get("ttl", "5m"))]
        first = (request.body.get("messages") or [{}])[0]
        content = first.get("content")
        if isinstance(content, list) and content and "cache_control" in content[-1]:
            first_text = "".join(b.get("text", "") for b in content)
            first_tokens = estimate_tokens(first_text)
            usage["input_tokens"] -= first_tokens
            segments.append(
                (key + "\x00" + first_text, first_tokens, content[-1]["cache_control"].get("ttl", "5m"))
            )
        for segment, tokens, ttl in segments:
            digest = hashlib.sha256(segment.encode()).hexdigest()
            with self._lock:
                hit = digest in self._cached_prefixes
                self._cached_prefixes.add(digest)
            if hit:
                usage["cache_read_input_tokens"] += tokens
            else:
                usage["cache_creation_input_tokens"] += tokens
                usage["cache_creation"][f"ephemeral_{ttl}_input_tokens"] += tokens
        return usage

    def message(self, behaviour: Behaviour, request: RecordedRequest) -> dict[str, Any]:
        """The complete Message a request is answered with (batches; the stream is built from it)."""
        text, stop_reason = self.answer_text(behaviour, request)
        thinking = self.thinking_tokens(request) if stop_reason != "refusal" else 0
        max_tokens = int(request.body.get("max_tokens") or 0)
        if max_tokens and thinking + estimate_tokens(text) > max_tokens:
            thinking = min(thinking, max_tokens)
            room = max(0, max_tokens - thinking)
            text = text[: int(room * 4 / 1.3)]
            stop_reason = "max_tokens"
        content: list[dict[str, Any]] = []
        if thinking:
            summary = _thinking_summary(thinking)
            content.append({"type": "thinking", "thinking": summary, "signature": "fake-signature"})
        if text:
            content.append({"type": "text", "text": text})
        usage = self.usage(request, text, thinking)
        request.reported_usage = usage
        return {
            "id": f"msg_fake_{uuid.uuid4().hex[:12]}",
            "type": "message",
            "role": "assistant",
            "model": request.body.get("model", "claude-sonnet-5-5"),
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }


def _thinking_summary(tokens: int) -> str:
    line = "Checking the split, each muscle's weekly sets, the session time and the safety notes. "
    return (line * (tokens // 30 + 1))[: max(40, tokens)]


def _handler_for(fake: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = self.path.split("?")[0]
            parts = path.strip("/").split("/")
            if len(parts) in (4, 5) and parts[:3] == ["v1", "messages", "batches"]:
                view = fake._batch_view(parts[3])
                if view is None:
                    self._error(404, "not_found_error")
                elif len(parts) == 5 and parts[4] == "results":
                    if view["processing_status"] != "ended":
                        self._error(400, "invalid_request_error")
                        return
                    self._results(fake.batches[parts[3]]["results"])
                elif len(parts) == 4:
                    self._json(200, view)
                else:
                    self._error(404, "not_found_error")
                return
            self._error(404, "not_found_error")

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            request = RecordedRequest(
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                at=time.monotonic(),
            )
            path = self.path.split("?")[0]
            if path == "/v1/messages/batches":
                self._create_batch(body)
                return
            parts = path.strip("/").split("/")
            if len(parts) == 5 and parts[:3] == ["v1", "messages", "batches"] and parts[4] == "cancel":
                self._cancel_batch(parts[3])
                return
            if path != "/v1/messages":
                self._error(404, "not_found_error")
                return
            behaviour = fake._next(request)
            # The client may have given up already (a timeout test).
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._respond(behaviour, request)

        def _create_batch(self, body: dict[str, Any]) -> None:
            requests = body.get("requests")
            ids = [item.get("custom_id") for item in requests or []]
            # The API's own checks: 1 to 100,000 requests, unique custom ids of the allowed form.
            if (
                not requests
                or len(requests) > 100_000
                or len(set(ids)) != len(ids)
                or not all(isinstance(i, str) and _CUSTOM_ID.fullmatch(i) for i in ids)
                or any("stream" in item.get("params", {}) for item in requests)
            ):
                self._error(400, "invalid_request_error")
                return
            batch_id = f"msgbatch_fake_{uuid.uuid4().hex[:12]}"
            created = time.time()
            batch = {
                "id": batch_id,
                "type": "message_batch",
                "processing_status": "in_progress",
                "created_at": _rfc3339(created),
                "ended_at": None,
                "expires_at": _rfc3339(created + 24 * 3600),
                "cancel_initiated_at": None,
                "archived_at": None,
                "request_counts": {
                    "processing": len(requests),
                    "succeeded": 0,
                    "errored": 0,
                    "canceled": 0,
                    "expired": 0,
                },
                "results_url": None,
            }
            due = None if fake.batch_seconds is None else time.monotonic() + fake.batch_seconds
            with fake._lock:
                fake.batches[batch_id] = {"batch": batch, "requests": requests, "results": [], "due": due}
            if due is None and not fake.hold_batches:
                fake._finish_batch(batch_id)
            self._json(200, fake._batch_view(batch_id) or batch)

        def _cancel_batch(self, batch_id: str) -> None:
            fake.cancel_calls += 1
            if fake.refuse_cancel is not None:
                self._error(fake.refuse_cancel, "api_error")
                return
            view = fake._batch_view(batch_id)
            if view is None:
                self._error(404, "not_found_error")
                return
            if view["processing_status"] != "ended":
                fake.batches[batch_id]["batch"]["cancel_initiated_at"] = _rfc3339(time.time())
                fake._finish_batch(batch_id, outcome="canceled")
            self._json(200, fake._batch_view(batch_id) or view)

        def _results(self, results: list[dict[str, Any]]) -> None:
            lines = [(json.dumps(r) + "\n").encode() for r in results]
            payload = b"".join(lines)
            self.send_response(200)
            self.send_header("content-type", "application/binary")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            cut = fake.cut_results_after
            if cut is not None and cut < len(lines):
                # The connection drops after `cut` lines: the reader sees a short body.
                self.wfile.write(b"".join(lines[:cut]))
                self.wfile.flush()
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(payload)

        def _respond(self, behaviour: Behaviour, request: RecordedRequest) -> None:
            match behaviour:
                case Good(delay_seconds=delay):
                    time.sleep(delay)
                    self._message(request, behaviour)
                case Status(status=status, error_type=error_type, headers=headers):
                    self._error(status, error_type, headers)
                case Trickle(chunk_delay=chunk_delay):
                    self._message(request, Good(), chunk_delay=chunk_delay)
                case Slow(seconds=seconds):
                    time.sleep(seconds)
                    self._message(request, Good())
                case OverloadedMidStream():
                    self._message(request, Good(), fail_after=3)
                case _:
                    self._message(request, behaviour)

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            self._raw(status, "application/json", json.dumps(payload).encode())

        def _raw(self, status: int, content_type: str, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(payload)))
            self.send_header("request-id", f"req_fake_{uuid.uuid4().hex[:8]}")
            self.end_headers()
            self.wfile.write(payload)

        def _error(self, status: int, error_type: str, headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(
                {"type": "error", "error": {"type": error_type, "message": f"fake {status}"}}
            ).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.send_header("request-id", f"req_fake_{uuid.uuid4().hex[:8]}")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def _message(
            self,
            request: RecordedRequest,
            behaviour: Behaviour,
            fail_after: int | None = None,
            chunk_delay: float = 0.0,
        ) -> None:
            message = fake.message(behaviour, request)
            if not request.body.get("stream"):
                self._json(200, message)
                return
            latency = fake.latency_of(message["model"])
            scale = fake.time_scale

            def pace(tokens: float) -> None:
                if latency is not None and tokens > 0:
                    wait = tokens / latency.tokens_per_second * scale
                    request.modelled_seconds += wait
                    time.sleep(wait)

            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("request-id", f"req_fake_{uuid.uuid4().hex[:8]}")
            self.end_headers()
            usage = message["usage"]
            request.output_tokens = usage["output_tokens"]
            start_usage = {k: v for k, v in usage.items() if k != "output_tokens_details"} | {
                "output_tokens": 1
            }
            self._event(
                "message_start",
                {
                    "type": "message_start",
                    "message": {**message, "content": [], "stop_reason": None, "usage": start_usage},
                },
            )
            if latency is not None:
                request.modelled_seconds += latency.first_token_seconds * scale
                time.sleep(latency.first_token_seconds * scale)
            deltas = 0
            for index, block in enumerate(message["content"]):
                if block["type"] == "thinking":
                    self._event(
                        "content_block_start",
                        {
                            "type": "content_block_start",
                            "index": index,
                            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                        },
                    )
                    text, parts = block["thinking"], 8 if latency is None else 40
                    per_chunk = usage["output_tokens_details"]["thinking_tokens"] / parts
                    size = max(1, len(text) // parts)
                    for start in range(0, len(text), size):
                        pace(per_chunk)
                        self._event(
                            "content_block_delta",
                            {
                                "type": "content_block_delta",
                                "index": index,
                                "delta": {"type": "thinking_delta", "thinking": text[start : start + size]},
                            },
                        )
                        request.streamed_tokens += per_chunk
                    self._event(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "signature_delta", "signature": block["signature"]},
                        },
                    )
                    self._event("content_block_stop", {"type": "content_block_stop", "index": index})
                    continue
                self._event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
                self._event("ping", {"type": "ping"})
                text = block["text"]
                # Paced streams come in ~50-token chunks (as the API's do), so a client that gives up
                # stops the modelled time within a chunk.
                size = max(1, len(text) // 12) if latency is None else 160
                for start in range(0, len(text), size):
                    if fail_after is not None and deltas == fail_after:
                        self._event(
                            "error",
                            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
                        )
                        return
                    deltas += 1
                    time.sleep(chunk_delay)
                    chunk = text[start : start + size]
                    pace(estimate_tokens(chunk))
                    self._event(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "text_delta", "text": chunk},
                        },
                    )
                    request.streamed_tokens += estimate_tokens(chunk)
                self._event("content_block_stop", {"type": "content_block_stop", "index": index})
            self._event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                    "usage": {
                        "output_tokens": usage["output_tokens"],
                        "output_tokens_details": usage["output_tokens_details"],
                    },
                },
            )
            self._event("message_stop", {"type": "message_stop"})
            request.finished = True

        def _event(self, name: str, data: dict[str, Any]) -> None:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()

    return Handler


def settings_for(fake: FakeAnthropic, **overrides: Any) -> Settings:
    """Settings that point the real SDK at `fake`, with test-sized waits and timeouts."""
    values: dict[str, Any] = {
        "llm_provider": "anthropic",
        "anthropic_api_key": "test-key",
        "anthropic_base_url": fake.url,
        "llm_backoff_initial_seconds": 0.01,
        "llm_backoff_max_seconds": 0.05,
        "llm_read_timeout_seconds": 5,
        **overrides,
    }
    return Settings.model_validate(values)
