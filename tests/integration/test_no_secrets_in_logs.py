"""Everything the service logs, on the happy path and on every error path, at DEBUG level:
no token, signing secret, API key, password or connection string appears in it."""

from __future__ import annotations

import io
import uuid

import psycopg
import pytest

from tests.conftest import TEST_JWT_SECRET, token_for
from tests.support import RecordingDispatcher, http_event, invoke_generate, invoke_trigger, new_user
from tpg.api.auth import issue_token
from tpg.generation.offline import OfflineProvider
from tpg.platform.observability import logger
from tpg.platform.settings import get_settings
from tpg.store import db
from tpg.worker import generation

DB_PASSWORD = "db-pass-5ecret-value"  # noqa: S105 - a marker, trust auth ignores it
API_KEY = "sk-ant-api03-" + "k" * 40


@pytest.fixture
def debug_logs(monkeypatch, database):
    """Every line the service logs, at DEBUG level, into a buffer."""
    previous = logger.log_level
    logger.setLevel("DEBUG")
    buffer = io.StringIO()
    stream = logger.registered_handler.setStream(buffer)
    # a password in the URL: trust authentication ignores it, and it must never be logged
    monkeypatch.setenv("DATABASE_URL", psycopg.conninfo.make_conninfo(database, password=DB_PASSWORD))
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("LLM_PROVIDER", "offline")
    get_settings.cache_clear()
    db.close_all()
    yield buffer
    logger.registered_handler.setStream(stream)
    logger.setLevel(previous)


def test_nothing_secret_is_logged(debug_logs, sql) -> None:
    user_id, token = new_user(sql)
    dispatcher = RecordingDispatcher()
    tokens = [token]

    # happy path
    _, _, body = invoke_trigger(http_event("POST", "/programs", token=token, body={"notes": "x"}), dispatcher)
    program_id = body["programId"]
    assert invoke_generate(program_id) == "completed"
    invoke_trigger(http_event("GET", f"/programs/{program_id}", token=token))
    # error paths
    expired = token_for(user_id, ttl_seconds=-30)
    forged = issue_token(user_id, secret="another-secret-0123456789abcdef")
    tokens += [expired, forged]
    for bad in (expired, forged, "garbage", token + "x"):
        invoke_trigger(http_event("GET", "/programs", token=bad))
    invoke_trigger(http_event("POST", "/programs", token=token, raw_body=b"{oops"), dispatcher)
    invoke_trigger(http_event("POST", "/programs", token=token, raw_body=b"x" * 50_000), dispatcher)
    invoke_trigger(http_event("GET", f"/programs/{uuid.uuid4()}", token=token))
    invoke_trigger(http_event("POST", "/programs", token=token), RecordingDispatcher(fail=True))

    class Crashing(OfflineProvider):
        def generate(self, *args, **kwargs):
            raise RuntimeError(f"upstream said: key={API_KEY} dsn={get_settings().database_url_value}")

    # the request whose dispatch failed left a pending program: a crashing attempt on it
    pending = sql.execute(
        "SELECT id FROM training_programs WHERE generation_status = 'pending' AND user_id = %s", (user_id,)
    ).fetchone()["id"]
    generation.process_generation_event({"programId": str(pending)}, provider=Crashing())
    # a dropped connection on the request path
    sql.execute("SELECT pg_terminate_backend(%s)", (db.get_connection().info.backend_pid,))
    invoke_trigger(http_event("GET", "/programs", token=token))

    logs = debug_logs.getvalue()
    assert '"message":"completed"' in logs and '"level":"WARNING"' in logs  # the logs were captured
    for secret in [*tokens, TEST_JWT_SECRET, DB_PASSWORD, API_KEY, "Bearer ", "postgresql://", "host="]:
        assert secret not in logs, f"leaked: {secret[:12]}..."


def test_the_claude_path_logs_no_api_key(debug_logs, sql, monkeypatch) -> None:
    """The real SDK against the fake Messages API, through retries and a bad answer."""
    from tests.fakes.anthropic_server import FakeAnthropic, Malformed, Status

    with FakeAnthropic() as fake:
        monkeypatch.setenv("LLM_PROVIDER", "anthropic")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        monkeypatch.setenv("LLM_BACKOFF_INITIAL_SECONDS", "0.01")
        monkeypatch.setenv("LLM_BACKOFF_MAX_SECONDS", "0.05")
        get_settings.cache_clear()
        fake.script(Status(529, "overloaded_error"), Malformed())
        _, token = new_user(sql)
        _, _, body = invoke_trigger(http_event("POST", "/programs", token=token), RecordingDispatcher())
        assert invoke_generate(body["programId"]) == "completed"
        assert fake.requests and fake.requests[0].headers.get("authorization", "").endswith(API_KEY)

    logs = debug_logs.getvalue()
    assert '"message":"completed"' in logs
    for secret in (API_KEY, token, "Bearer ", DB_PASSWORD):
        assert secret not in logs, f"leaked: {secret[:12]}..."
