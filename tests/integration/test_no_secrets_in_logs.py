"""Everything the service logs, on the happy path and on every error path, at DEBUG level:
no token, signing secret, API key, password or connection string appears in it."""

from __future__ import annotations

import io
import uuid

import psycopg
import pytest

from tests.conftest import TEST_JWT_SECRET, settings_for_tests, token_for
from tests.support import RecordingDispatcher, http_event, invoke_generate, invoke_trigger, new_user, process
from tpg.api.auth import issue_token
from tpg.generation.offline import OfflineProvider
from tpg.platform.observability import logger
from tpg.store import db

DB_PASSWORD = "db-pass-5ecret-value"  # noqa: S105 - a marker, trust auth ignores it
API_KEY = "sk-ant-api03-" + "k" * 40


def _settings(database: str, **values: object):
    # a password in the URL: trust authentication ignores it, and it must never be logged
    url = psycopg.conninfo.make_conninfo(database, password=DB_PASSWORD)
    return settings_for_tests(url, **{"anthropic_api_key": API_KEY, "llm_provider": "offline", **values})


@pytest.fixture
def debug_logs(database, handlers):
    """Every line the service logs, at DEBUG level, into a buffer."""
    previous = logger.log_level
    logger.setLevel("DEBUG")
    buffer = io.StringIO()
    stream = logger.registered_handler.setStream(buffer)
    handlers.update(settings=_settings(database))
    db.close_all()
    yield buffer
    logger.registered_handler.setStream(stream)
    logger.setLevel(previous)


def test_nothing_secret_is_logged(debug_logs, sql, handlers) -> None:
    dsn = handlers.settings.database_url_value
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
            raise RuntimeError(f"upstream said: key={API_KEY} dsn={dsn}")

    # the request whose dispatch failed left a pending program: a crashing attempt on it
    pending = sql.execute(
        "SELECT id FROM training_programs WHERE generation_status = 'pending' AND user_id = %s", (user_id,)
    ).fetchone()["id"]
    process({"programId": str(pending)}, provider=Crashing())
    # a dropped connection on the request path
    sql.execute("SELECT pg_terminate_backend(%s)", (handlers.trigger.db.connection().info.backend_pid,))
    invoke_trigger(http_event("GET", "/programs", token=token))

    logs = debug_logs.getvalue()
    assert '"message":"completed"' in logs and '"level":"WARNING"' in logs  # the logs were captured
    for secret in [*tokens, TEST_JWT_SECRET, DB_PASSWORD, API_KEY, "Bearer ", "postgresql://", "host="]:
        assert secret not in logs, f"leaked: {secret[:12]}..."


def test_the_claude_path_logs_no_api_key(debug_logs, sql, database, handlers) -> None:
    """The real SDK against the fake Messages API, through retries and a bad answer."""
    from tests.fakes.anthropic_server import FakeAnthropic, Malformed, Status

    with FakeAnthropic() as fake:
        handlers.update(
            settings=_settings(
                database,
                llm_provider="anthropic",
                anthropic_base_url=fake.url,
                llm_backoff_initial_seconds=0.01,
                llm_backoff_max_seconds=0.05,
            )
        )
        fake.script(Status(529, "overloaded_error"), Malformed())
        _, token = new_user(sql)
        _, _, body = invoke_trigger(http_event("POST", "/programs", token=token), RecordingDispatcher())
        assert invoke_generate(body["programId"]) == "completed"
        assert fake.requests and fake.requests[0].headers.get("authorization", "").endswith(API_KEY)

    logs = debug_logs.getvalue()
    assert '"message":"completed"' in logs
    for secret in (API_KEY, token, "Bearer ", DB_PASSWORD):
        assert secret not in logs, f"leaked: {secret[:12]}..."
