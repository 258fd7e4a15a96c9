"""A real PostgreSQL server for local use when DATABASE_URL is not set (the `pgserver` package).

Its data lives outside the repository, under the user's data directory (override with
TPG_DATA_DIR). The server keeps running after the command exits, so the next run starts fast.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import psycopg
from psycopg import sql

from tpg.platform.settings import get_settings

DATABASE_NAME = "tpg"


def data_dir() -> Path:
    configured = os.environ.get("TPG_DATA_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tpg"


def start_embedded_server() -> str:
    """Start (or reuse) the embedded server; return a URL to its maintenance database."""
    try:
        import pgserver
    except ImportError as exc:  # pragma: no cover - only without the local extra
        raise SystemExit(
            "DATABASE_URL is not set and pgserver is not installed (pip install '.[local]')"
        ) from exc
    pgdata = data_dir() / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_pid_file(pgdata)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here
        warnings.simplefilter("ignore")
        server = pgserver.get_server(pgdata, cleanup_mode=None)
    return server.get_uri()


def _remove_stale_pid_file(pgdata: Path) -> None:
    """A server killed outright (a CI runner or a session ending) leaves postmaster.pid behind,
    and pgserver then takes the dead server for a running one. Remove it if nothing runs."""
    pid_file = pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    if not _is_postgres_process(pid):
        pid_file.unlink(missing_ok=True)


def _is_postgres_process(pid: int) -> bool:
    cmdline = Path(f"/proc/{pid}/cmdline")
    if Path("/proc/self").exists():  # Linux: also rules out a reused pid
        return cmdline.exists() and b"postgres" in cmdline.read_bytes()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user's process
    return True


def create_database(admin_url: str, name: str) -> str:
    """Create database `name` if missing; return the URL that points at it."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return psycopg.conninfo.make_conninfo(admin_url, dbname=name)


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def ensure_database_url() -> str:
    """DATABASE_URL when set; otherwise the embedded server, exported as DATABASE_URL."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        return configured
    url = create_database(start_embedded_server(), DATABASE_NAME)
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    return url
