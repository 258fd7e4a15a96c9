"""Shared fixtures: environment isolation, a real PostgreSQL database per test session, and the
handlers wired to it.

The database is created on the server named by DATABASE_URL when it is set (CI points it at
the machine's PostgreSQL), else on the embedded server; it is dropped at the end. With
TPG_TEST_POOLER_PORT set (`make test-pgbouncer`, `tpg_local.pgbouncer`), the `database` fixture hands
the code under test the same database through the transaction-mode PgBouncer on that port, while
creating, migrating, truncating and dropping it, and the `sql` fixture, stay direct.
With TPG_TEST_APP_ROLE=1 (`make test-app-role`), the `database` fixture hands the code a URL that logs
in as a throwaway LOGIN role IN ROLE tpg_app (the application role, not the owner; trust auth on
127.0.0.1, no password); the admin work and the `sql` fixture stay the owner's.

The handlers get their collaborators the way they get them in Lambda, through their composition
roots (`functions/*/app.py`, `dependencies`): the `handlers` fixture installs explicit settings (the
test database, the test signing secret) and lets a test change them, the dispatcher, the event
publisher or the providers (`handlers.update(...)`). Nothing under test reads the environment; it
is only isolated here for the local tooling run in subprocesses.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.fakes.jwks_server import JwksServer, SigningKey, TokenKit, generate_keys
from tpg.api import jwks
from tpg.api.auth import issue_token
from tpg.platform.settings import Settings
from tpg.store import db
from tpg_local.wiring import Wiring, reset_handlers

TEST_JWT_SECRET = "test-secret-for-the-suite-0123456789abcdef"
_ADMIN_URL = os.environ.get("DATABASE_URL")  # read once, before any test changes the environment
POOLER_PORT = os.environ.get("TPG_TEST_POOLER_PORT")  # set: the code under test goes through PgBouncer
APP_ROLE = os.environ.get("TPG_TEST_APP_ROLE") == "1"  # set: the code under test logs in as tpg_app's member
needs_owner = pytest.mark.skipif(APP_ROLE, reason="the code under test needs the owner's rights here")


def through_pooler(url: str) -> str:
    """`url` through the test PgBouncer (same database and user) when one runs, else `url`."""
    if not POOLER_PORT:
        return url
    return psycopg.conninfo.make_conninfo(url, host="127.0.0.1", hostaddr=None, port=POOLER_PORT)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in (
        "ANTHROPIC_API_KEY",
        "LLM_PROVIDER",
        "AWS_LAMBDA_FUNCTION_NAME",
        "GENERATE_FUNCTION_NAME",
        "JWT_ISSUER",
        "JWT_JWKS_URL",
        "JWT_MAX_LIFETIME_SECONDS",
        "OFFLINE_LATENCY_SECONDS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JWT_SECRET", TEST_JWT_SECRET)
    monkeypatch.setenv("DISPATCH_MODE", "local")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    yield
    reset_handlers()  # the handler modules back to their own composition roots
    jwks.forget_key_sets()  # no key set cached by one test is seen by the next


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


@pytest.fixture(scope="session")
def app_role_url(database_url: str) -> Iterator[str]:
    """`database_url` logging in as a new LOGIN role IN ROLE tpg_app (dropped at the end)."""
    from psycopg import sql as pgsql

    role = f"tpg_app_login_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE ROLE {} LOGIN IN ROLE tpg_app").format(pgsql.Identifier(role)))
    yield psycopg.conninfo.make_conninfo(database_url, user=role, password=None)
    db.close_all()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(pgsql.SQL("DROP ROLE IF EXISTS {}").format(pgsql.Identifier(role)))


@pytest.fixture(scope="session")
def code_url(request: pytest.FixtureRequest, database_url: str) -> str:
    """The URL the code under test connects with: the owner's, or the app role's (TPG_TEST_APP_ROLE)."""
    return request.getfixturevalue("app_role_url") if APP_ROLE else database_url


@pytest.fixture
def database(database_url: str, code_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated, empty database (DATABASE_URL points at it for the local tooling's subprocesses)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE profiles, onboarding_responses, subscriptions, training_programs,"
            " generation_batches CASCADE"
        )
    url = through_pooler(code_url)
    monkeypatch.setenv("DATABASE_URL", url)
    db.close_all()
    yield url
    db.close_all()


def settings_for_tests(database_url: str | None = None, **values: object) -> Settings:
    """The settings tests run the service with: the test signing secret, local dispatch."""
    return Settings.model_validate({"jwt_secret": TEST_JWT_SECRET, "database_url": database_url, **values})


@pytest.fixture
def handlers(database: str) -> Iterator[Wiring]:
    """The three handlers wired to the test database through their composition roots. Without a
    dispatcher given (`handlers.update(dispatcher=...)`), none is configured, as in local mode."""
    wiring = Wiring(settings_for_tests(database)).install()
    yield wiring
    wiring.uninstall()


@pytest.fixture
def sql(database_url: str, handlers: Wiring) -> Iterator[psycopg.Connection]:
    """A separate connection for tests to arrange and inspect rows (direct, never through a pooler)."""
    from psycopg.rows import dict_row

    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture(scope="session")
def signing_keys() -> dict[str, SigningKey]:
    """Key-set signing keys, generated once per session (RSA key generation is not free)."""
    return generate_keys()


@pytest.fixture
def jwks_server(signing_keys: dict[str, SigningKey]) -> Iterator[JwksServer]:
    """A JWKS endpoint on 127.0.0.1 publishing the ES256, RS256 and weak RSA keys."""
    with JwksServer() as server:
        server.publish(signing_keys["es256"], signing_keys["rs256"], signing_keys["weak_rsa"])
        yield server


def token_kit(secret: str, signing_keys: dict[str, SigningKey]) -> TokenKit:
    return TokenKit(secret=secret, **signing_keys)


def token_for(user_id: uuid.UUID | str, **kwargs: object) -> str:
    return issue_token(user_id, secret=TEST_JWT_SECRET, **kwargs)  # type: ignore[arg-type]
