"""A fake Anthropic Messages API: a real HTTP server on 127.0.0.1 for the real SDK to talk to.

`POST /v1/messages` answers JSON or, when the body asks for `stream`, server-sent events with the
same event sequence and usage fields the API sends. Each request takes the next scripted behaviour
(`FakeAnthropic.script(...)`), or `default` when the script is empty; every request is recorded
(headers, parsed body, time) so tests can assert the system prompt, cache_control, headers, counts.

A *good* answer is a real program for the user in the request: the fake reads the `<user_data>`
JSON from the user message, rebuilds the user, runs the analysis and the offline engine, and
answers the full program or one template week, depending on the response schema requested. It
emulates prompt caching: the first request with a given cache_control'd system prompt (per model)
reports a cache write, later ones a cache read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tpg.generation.claude.prompt import estimate_tokens
from tpg.generation.claude.schemas import TemplateWeekPlan
from tpg.platform.settings import Settings
from tpg.training.analysis import analyse
from tpg.training.catalog import ALL_EXERCISES
from tpg.training.engine import generate_offline_program
from tpg.training.user_data import UserData

# --- What the fake can be told to do ---------------------------------------------------------


@dataclass(frozen=True)
class Good:
    """A program that passes enhanced validation for the user in the request."""

    delay_seconds: float = 0.0


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
class Refusal:
    """stop_reason refusal."""


@dataclass(frozen=True)
class Unsafe:
    """Schema-valid, but grossly unsafe: 10 sets to failure of everything, plus a contraindicated or
    unavailable exercise."""


Behaviour = Good | Status | OverloadedMidStream | Slow | Truncated | Malformed | Refusal | Unsafe


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float

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
    def ask(self) -> str:
        schema = self.body.get("output_config", {}).get("format", {}).get("schema", {})
        return "full" if "schedule" in schema.get("properties", {}) else "template"


# --- Programs -----------------------------------------------------------------------------------


def _user_data_from_request(request: RecordedRequest) -> tuple[UserData, int]:
    text = request.user_texts[0]
    start = text.index("<user_data>") + len("<user_data>")
    payload = json.loads(text[start : text.index("</user_data>")])
    profile = dict(payload["profile"])
    profile["experience"] = profile.pop("declared_experience")
    user = UserData.model_validate({**profile, "user_id": uuid.uuid4()})
    return user, payload["weeks"]


_ANSWERS: dict[tuple[str, str], str] = {}
_ANSWERS_LOCK = threading.Lock()


def good_answer(request: RecordedRequest) -> str:
    """Memoised per (user data, ask): the fake answers repeated requests in microseconds."""
    text = request.user_texts[0]
    key = (text[: text.index("</user_data>")], request.ask)
    with _ANSWERS_LOCK:
        cached = _ANSWERS.get(key)
    if cached is None:
        cached = _good_answer(request)
        with _ANSWERS_LOCK:
            _ANSWERS[key] = cached
    return cached


def _good_answer(request: RecordedRequest) -> str:
    user, weeks = _user_data_from_request(request)
    data = analyse(user)
    if request.ask == "full":
        program = generate_offline_program(data, weeks=weeks)
        program = program.model_copy(update={"name": f"Fake Claude: {program.name}"[:100]})
        return program.model_dump_json(by_alias=True)
    two_weeks = generate_offline_program(data, weeks=2)  # week 2 is a plain loading week
    plan = TemplateWeekPlan(
        name=f"Fake Claude template: {two_weeks.split}"[:100],
        split=two_weeks.split,
        progression=two_weeks.progression,
        days=two_weeks.schedule[1].days,
        notes=two_weeks.notes,
    )
    return plan.model_dump_json(by_alias=True)


def unsafe_answer(request: RecordedRequest) -> str:
    user, _ = _user_data_from_request(request)
    document = json.loads(good_answer(request))
    # A contraindicated exercise for an injured user, else one needing equipment they lack, else a
    # made-up id: each is an enhanced-validation error.
    banned_id, banned_name = "behind_the_neck_press_to_failure", "Behind-the-neck press"
    for exercise in ALL_EXERCISES:
        if exercise.contraindications & user.injury_sites or not exercise.equipment <= (
            user.equipment | {"bodyweight"}
        ):
            banned_id, banned_name = exercise.id, exercise.name
            break
    days = document["days"] if "days" in document else [d for w in document["schedule"] for d in w["days"]]
    for day in days:
        for exercise in day["exercises"]:
            exercise.update(sets=10, rir=0, restSeconds=30)
        day["exercises"][0].update(exerciseId=banned_id, name=banned_name[:80])
    return json.dumps(document)


# --- The server ---------------------------------------------------------------------------------


class FakeAnthropic:
    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.default: Behaviour = Good()
        self._script: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._cached_prefixes: set[str] = set()
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

    def _usage(self, request: RecordedRequest, output_text: str) -> dict[str, int]:
        system = request.body.get("system") or []
        cached = isinstance(system, list) and any("cache_control" in block for block in system)
        prompt_tokens = sum(estimate_tokens(t) for t in request.user_texts)
        system_tokens = estimate_tokens(request.system_text)
        usage = {"input_tokens": prompt_tokens, "output_tokens": estimate_tokens(output_text)}
        usage["cache_creation_input_tokens"] = usage["cache_read_input_tokens"] = 0
        if not cached:
            usage["input_tokens"] += system_tokens
            return usage
        key = hashlib.sha256(f"{request.body.get('model')}\x00{request.system_text}".encode()).hexdigest()
        with self._lock:
            hit = key in self._cached_prefixes
            self._cached_prefixes.add(key)
        usage["cache_read_input_tokens" if hit else "cache_creation_input_tokens"] = system_tokens
        return usage


def _handler_for(fake: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            request = RecordedRequest(
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                at=time.monotonic(),
            )
            if self.path.split("?")[0] != "/v1/messages":
                self._error(404, "not_found_error")
                return
            behaviour = fake._next(request)
            # The client may have given up already (a timeout test).
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._respond(behaviour, request)

        def _respond(self, behaviour: Behaviour, request: RecordedRequest) -> None:
            match behaviour:
                case Good(delay_seconds=delay):
                    time.sleep(delay)
                    self._message(request, good_answer(request), "end_turn")
                case Status(status=status, error_type=error_type, headers=headers):
                    self._error(status, error_type, headers)
                case Trickle(chunk_delay=chunk_delay):
                    self._message(request, good_answer(request), "end_turn", chunk_delay=chunk_delay)
                case Slow(seconds=seconds):
                    time.sleep(seconds)
                    self._message(request, good_answer(request), "end_turn")
                case OverloadedMidStream():
                    self._message(request, good_answer(request), "end_turn", fail_after=3)
                case Truncated():
                    text = good_answer(request)
                    self._message(request, text[: len(text) // 2], "max_tokens")
                case Malformed():
                    self._message(request, 'Here is your program: {"name": "Strong", "weeks": [', "end_turn")
                case Refusal():
                    self._message(request, "", "refusal")
                case Unsafe():
                    self._message(request, unsafe_answer(request), "end_turn")

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
            text: str,
            stop_reason: str,
            fail_after: int | None = None,
            chunk_delay: float = 0.0,
        ) -> None:
            usage = fake._usage(request, text)
            message_id = f"msg_fake_{uuid.uuid4().hex[:12]}"
            model = request.body.get("model", "claude-sonnet-5-5")
            content = [{"type": "text", "text": text}] if text else []
            if not request.body.get("stream"):
                payload = json.dumps(
                    {
                        "id": message_id,
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": content,
                        "stop_reason": stop_reason,
                        "stop_sequence": None,
                        "usage": usage,
                    }
                ).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return

            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("request-id", f"req_fake_{uuid.uuid4().hex[:8]}")
            self.end_headers()
            start_usage = {**usage, "output_tokens": 1}
            self._event(
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": message_id,
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": start_usage,
                    },
                },
            )
            if text:
                self._event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
                self._event("ping", {"type": "ping"})
                size = max(1, len(text) // 12)
                for n, start in enumerate(range(0, len(text), size)):
                    if fail_after is not None and n == fail_after:
                        self._event(
                            "error",
                            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
                        )
                        return
                    time.sleep(chunk_delay)
                    self._event(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": 0,
                            "delta": {"type": "text_delta", "text": text[start : start + size]},
                        },
                    )
                self._event("content_block_stop", {"type": "content_block_stop", "index": 0})
            self._event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": usage["output_tokens"]},
                },
            )
            self._event("message_stop", {"type": "message_stop"})

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
