"""Plain SQL migrations from `migrations/`, applied in order, one transaction each, recorded
in `schema_migrations`. Idempotent; concurrent runs serialise on an advisory lock."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import psycopg

_LOCK_KEY = 7_420_250_801  # any constant; identifies "tpg migrations" among advisory locks


def migrations_dir() -> Path:
    configured = os.environ.get("TPG_MIGRATIONS_DIR")
    # infra/tpg_local/migrate.py -> the repository root's migrations/
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "migrations"


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path | None = None) -> list[Migration]:
    found = []
    for path in sorted((directory or migrations_dir()).glob("*.sql")):
        version, _, name = path.stem.partition("_")
        if not version.isdigit():
            raise ValueError(f"migration file name must start with a timestamp: {path.name}")
        found.append(Migration(version=version, name=name, sql=path.read_text()))
    return found


def migrate(url: str, *, target: str | None = None, directory: Path | None = None) -> list[str]:
    """Apply pending migrations up to `target` (a version, inclusive); return those applied."""
    applied_now: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {v: c for v, c in conn.execute("SELECT version, checksum FROM schema_migrations")}
            for migration in load_migrations(directory):
                if target is not None and migration.version > target:
                    break
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise RuntimeError(f"applied migration {migration.version} was edited; add a new one")
                    continue
                with conn.transaction():
                    conn.execute(migration.sql)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                applied_now.append(f"{migration.version}_{migration.name}")
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now
