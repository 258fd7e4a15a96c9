"""Shared fixtures: environment isolation, a real PostgreSQL database per test session.

The database is created on the server named by DATABASE_URL when it is set (CI points it at
the machine's PostgreSQL), else on the embedded server; it is dropped at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tpg.api.auth import issue_token
from tpg.platform.settings import get_settings
from tpg.store import db
from tpg.worker import dispatch

TEST_JWT_SECRET = "test-secret-for-the-suite-0123456789abcdef"
_ADMIN_URL = os.environ.get("DATABASE_URL")  # read once, before any test changes the environment


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in (
        "ANTHROPIC_API_KEY",
        "LLM_PROVIDER",
        "AWS_LAMBDA_FUNCTION_NAME",
        "GENERATE_FUNCTION_NAME",
        "JWT_ISSUER",
        "OFFLINE_LATENCY_SECONDS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JWT_SECRET", TEST_JWT_SECRET)
    monkeypatch.setenv("DISPATCH_MODE", "local")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    get_settings.cache_clear()
    yield
    dispatch.install_dispatcher(None)
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def database_server_url() -> str:
    if _ADMIN_URL:
        return _ADMIN_URL
    from tpg_local.embedded_db import start_embedded_server

    return start_embedded_server()


@pytest.fixture(scope="session")
def database_url(database_server_url: str) -> Iterator[str]:
    from tpg_local.embedded_db import create_database, drop_database
    from tpg_local.migrate import migrate

    name = f"tpg_test_{uuid.uuid4().hex[:12]}"
    url = create_database(database_server_url, name)
    migrate(url)
    yield url
    db.close_all()
    drop_database(database_server_url, name)


@pytest.fixture
def database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated, empty database; DATABASE_URL points at it for the code under test."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE profiles, onboarding_responses, subscriptions, training_programs CASCADE")
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    db.close_all()
    yield database_url
    db.close_all()


@pytest.fixture
def sql(database: str) -> Iterator[psycopg.Connection]:
    """A separate connection for tests to arrange and inspect rows."""
    from psycopg.rows import dict_row

    with psycopg.connect(database, autocommit=True, row_factory=dict_row) as conn:
        yield conn


def token_for(user_id: uuid.UUID | str, **kwargs: object) -> str:
    return issue_token(user_id, secret=TEST_JWT_SECRET, **kwargs)  # type: ignore[arg-type]
