"""The schema as a document: a normalised dump of the database the migrations build.

`migrations/snapshot/schema.sql` is this dump, committed beside the migrations; the test
tests/integration/test_schema_snapshot.py migrates an empty database and compares. Regenerate it
after adding a migration (`make schema`):

    python -m tpg_local.schema --write   # rewrite the snapshot
    python -m tpg_local.schema --check   # exit 1 with a diff when it is stale
    python -m tpg_local.schema           # print the dump

The dump is built from catalog queries, not pg_dump: no client binary whose version must match the
server's, no `SET` preamble or owner lines that vary between servers. Objects are sorted by name
(columns keep their order), expressions are deparsed by the server with an empty search_path (so
every name is schema-qualified), and nothing owner- or cluster-specific is included: no owners, no
role memberships, no privileges an object's owner holds implicitly. Objects that belong to an
extension are left out (the extension is listed instead). The server is the one DATABASE_URL names,
else the embedded one; the dump is taken from a scratch database created and dropped for it.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import uuid
import warnings
from collections import defaultdict
from pathlib import Path

import psycopg

# Not `migrations/schema.sql`: the runner reads every *.sql directly in migrations/ as a migration.
SNAPSHOT = Path(__file__).resolve().parents[2] / "migrations" / "snapshot" / "schema.sql"

HEADER = """\
-- The schema the migrations build, as a document. Generated: do not edit.
-- After adding a migration run `make schema` and commit both (migrations/README.md);
-- tests/integration/test_schema_snapshot.py fails while this file is stale.
"""

# Namespaces the migrations may create objects in: everything but the system's.
_SCHEMAS = """
SELECT n.oid FROM pg_namespace n
WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
"""

# Not created by an extension (those are represented by CREATE EXTENSION).
_NOT_FROM_EXTENSION = """
NOT EXISTS (SELECT 1 FROM pg_depend d
            WHERE d.classid = {catalog}::regclass AND d.objid = {oid} AND d.deptype = 'e')
"""


def _own(catalog: str, oid: str) -> str:
    return _NOT_FROM_EXTENSION.format(catalog=f"'{catalog}'", oid=oid)


def dump_schema(conn: psycopg.Connection) -> str:
    """The normalised schema of the database `conn` is connected to."""
    conn.execute("SELECT set_config('search_path', '', false)")
    sections = [
        _schemas(conn),
        _extensions(conn),
        _types(conn),
        _sequences(conn),
        _tables(conn),
        _views(conn),
        _functions(conn),
        _triggers(conn),
        _policies(conn),
        _grants(conn),
    ]
    return HEADER + "".join(f"\n{section}\n" for section in sections if section)


def _rows(conn: psycopg.Connection, query: str) -> list[tuple]:
    return conn.execute(query).fetchall()  # type: ignore[arg-type]


def _schemas(conn: psycopg.Connection) -> str:
    names = _rows(
        conn,
        f"SELECT quote_ident(nspname) FROM pg_namespace WHERE oid IN ({_SCHEMAS})"
        f" AND nspname <> 'public' AND {_own('pg_namespace', 'oid')} ORDER BY 1",
    )
    return "\n".join(f"CREATE SCHEMA {name};" for (name,) in names)


def _extensions(conn: psycopg.Connection) -> str:
    names = _rows(conn, "SELECT quote_ident(extname) FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1")
    return "\n".join(f"CREATE EXTENSION {name};" for (name,) in names)


def _types(conn: psycopg.Connection) -> str:
    rows = _rows(
        conn,
        f"""
        SELECT t.oid::regtype::text, t.typtype,
               (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                FROM pg_enum e WHERE e.enumtypid = t.oid),
               format_type(t.typbasetype, t.typtypmod), t.typnotnull,
               pg_get_expr(t.typdefaultbin, 0),
               (SELECT string_agg(pg_get_constraintdef(c.oid, true), ' ' ORDER BY c.conname)
                FROM pg_constraint c WHERE c.contypid = t.oid)
        FROM pg_type t
        WHERE t.typnamespace IN ({_SCHEMAS}) AND t.typtype IN ('e', 'd') AND {_own("pg_type", "t.oid")}
        ORDER BY 1
        """,
    )
    out = []
    for name, kind, labels, base, not_null, default, checks in rows:
        if kind == "e":
            out.append(f"CREATE TYPE {name} AS ENUM ({labels or ''});")
        else:
            parts = [f"CREATE DOMAIN {name} AS {base}"]
            parts += [f"DEFAULT {default}"] if default else []
            parts += ["NOT NULL"] if not_null else []
            parts += [checks] if checks else []
            out.append(" ".join(parts) + ";")
    return "\n".join(out)


def _sequences(conn: psycopg.Connection) -> str:
    rows = _rows(
        conn,
        f"""
        SELECT c.oid::regclass::text, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
               s.seqmin, s.seqmax, s.seqcache, s.seqcycle
        FROM pg_class c JOIN pg_sequence s ON s.seqrelid = c.oid
        WHERE c.relnamespace IN ({_SCHEMAS}) AND {_own("pg_class", "c.oid")}
        ORDER BY 1
        """,
    )
    return "\n".join(
        f"CREATE SEQUENCE {name} AS {kind} START {start} INCREMENT {step} MINVALUE {low}"
        f" MAXVALUE {high} CACHE {cache}{' CYCLE' if cycle else ''};"
        for name, kind, start, step, low, high, cache, cycle in rows
    )


def _tables(conn: psycopg.Connection) -> str:
    tables = _rows(
        conn,
        f"""
        SELECT c.oid, c.oid::regclass::text, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
               pg_get_partkeydef(c.oid), obj_description(c.oid, 'pg_class')
        FROM pg_class c
        WHERE c.relnamespace IN ({_SCHEMAS}) AND c.relkind IN ('r', 'p') AND {_own("pg_class", "c.oid")}
        ORDER BY 2
        """,
    )
    blocks = []
    for oid, name, _kind, rls, force_rls, partition_key, comment in tables:
        columns = _rows(
            conn,
            f"""
            SELECT quote_ident(a.attname), format_type(a.atttypid, a.atttypmod),
                   CASE WHEN a.attcollation <> t.typcollation
                        THEN (SELECT quote_ident(collname) FROM pg_collation WHERE oid = a.attcollation) END,
                   a.attidentity, a.attgenerated, pg_get_expr(d.adbin, d.adrelid), a.attnotnull,
                   col_description(a.attrelid, a.attnum)
            FROM pg_attribute a
            JOIN pg_type t ON t.oid = a.atttypid
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE a.attrelid = {oid} AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """,
        )
        lines, comments = [], []
        for column, type_, collation, identity, generated, default, not_null, column_comment in columns:
            parts = [column, type_]
            parts += [f"COLLATE {collation}"] if collation else []
            if generated == "s":
                parts.append(f"GENERATED ALWAYS AS ({default}) STORED")
            elif default is not None:
                parts.append(f"DEFAULT {default}")
            if identity:
                parts.append(f"GENERATED {'ALWAYS' if identity == 'a' else 'BY DEFAULT'} AS IDENTITY")
            parts += ["NOT NULL"] if not_null else []
            lines.append("    " + " ".join(parts))
            if column_comment is not None:
                comments.append(f"COMMENT ON COLUMN {name}.{column} IS {_literal(conn, column_comment)};")
        statements = [f"CREATE TABLE {name} (\n" + ",\n".join(lines) + "\n)"]
        statements[0] += f" PARTITION BY {partition_key};" if partition_key else ";"
        # NOT NULL is a column property above (PostgreSQL 18 also lists it as a constraint, 'n').
        constraints = _rows(
            conn,
            f"SELECT quote_ident(conname), pg_get_constraintdef(oid, true) FROM pg_constraint"
            f" WHERE conrelid = {oid} AND contype IN ('p', 'u', 'f', 'c', 'x') ORDER BY conname",
        )
        statements += [f"ALTER TABLE {name} ADD CONSTRAINT {c} {d};" for c, d in constraints]
        indexes = _rows(
            conn,
            f"""
            SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = {oid}
              AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                              AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))
            ORDER BY c.relname
            """,
        )
        statements += [f"{d};" for (d,) in indexes]
        if rls:
            statements.append(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;")
        if force_rls:
            statements.append(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY;")
        if comment is not None:
            statements.append(f"COMMENT ON TABLE {name} IS {_literal(conn, comment)};")
        blocks.append("\n".join(statements + comments))
    return "\n\n".join(blocks)


def _views(conn: psycopg.Connection) -> str:
    rows = _rows(
        conn,
        f"""
        SELECT c.oid::regclass::text, c.relkind, pg_get_viewdef(c.oid, true) FROM pg_class c
        WHERE c.relnamespace IN ({_SCHEMAS}) AND c.relkind IN ('v', 'm') AND {_own("pg_class", "c.oid")}
        ORDER BY 1
        """,
    )
    return "\n\n".join(
        f"CREATE {'MATERIALIZED ' if kind == 'm' else ''}VIEW {name} AS\n{body.rstrip().rstrip(';')};"
        for name, kind, body in rows
    )


def _functions(conn: psycopg.Connection) -> str:
    rows = _rows(
        conn,
        f"""
        SELECT pg_get_functiondef(p.oid) FROM pg_proc p
        WHERE p.pronamespace IN ({_SCHEMAS}) AND p.prokind IN ('f', 'p') AND {_own("pg_proc", "p.oid")}
        ORDER BY p.oid::regproc::text, pg_get_function_identity_arguments(p.oid)
        """,
    )
    return "\n\n".join(f"{d.strip()};" for (d,) in rows)


def _triggers(conn: psycopg.Connection) -> str:
    rows = _rows(
        conn,
        f"""
        SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace IN ({_SCHEMAS}) AND NOT t.tgisinternal
        ORDER BY c.oid::regclass::text, t.tgname
        """,
    )
    return "\n".join(f"{d};" for (d,) in rows)


_COMMANDS = {"*": "ALL", "r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE"}


def _policies(conn: psycopg.Connection) -> str:
    rows = _rows(
        conn,
        f"""
        SELECT quote_ident(p.polname), p.polrelid::regclass::text, p.polpermissive, p.polcmd::text,
               (SELECT string_agg(role, ', ' ORDER BY role)
                FROM (SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE r::regrole::text END AS role
                      FROM unnest(p.polroles) AS r) AS roles),
               pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
        FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
        WHERE c.relnamespace IN ({_SCHEMAS})
        ORDER BY 2, 1
        """,
    )
    out = []
    for name, table, permissive, command, roles, using, check in rows:
        text = (
            f"CREATE POLICY {name} ON {table} AS {'PERMISSIVE' if permissive else 'RESTRICTIVE'}"
            f" FOR {_COMMANDS[command]} TO {roles}"
        )
        text += f"\n    USING ({using})" if using is not None else ""
        text += f"\n    WITH CHECK ({check})" if check is not None else ""
        out.append(text + ";")
    return "\n".join(out)


def _grants(conn: psycopg.Connection) -> str:
    """Privileges granted to roles other than the object's owner (the owner's are implicit)."""
    rows = _rows(
        conn,
        f"""
        WITH objects AS (
            SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind,
                   c.oid::regclass::text AS name, c.relowner AS owner,
                   coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char",
                                                 c.relowner)) AS acl
            FROM pg_class c
            WHERE c.relnamespace IN ({_SCHEMAS}) AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
              AND {_own("pg_class", "c.oid")}
            UNION ALL
            SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
                   p.oid::regproc::text || '(' || pg_get_function_identity_arguments(p.oid) || ')',
                   p.proowner, coalesce(p.proacl, acldefault('f', p.proowner))
            FROM pg_proc p
            WHERE p.pronamespace IN ({_SCHEMAS}) AND p.prokind IN ('f', 'p') AND {_own("pg_proc", "p.oid")}
        )
        SELECT o.kind, o.name,
               CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END,
               a.privilege_type, a.is_grantable
        FROM objects o, aclexplode(o.acl) a
        WHERE a.grantee <> o.owner
        """,
    )
    # Column privileges (GRANT UPDATE (column) ON ...): written as the table's, with the column named.
    rows += _rows(
        conn,
        f"""
        SELECT 'TABLE', c.oid::regclass::text || ' (' || quote_ident(att.attname) || ')',
               CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END,
               a.privilege_type, a.is_grantable
        FROM pg_class c JOIN pg_attribute att ON att.attrelid = c.oid, aclexplode(att.attacl) a
        WHERE c.relnamespace IN ({_SCHEMAS}) AND {_own("pg_class", "c.oid")}
          AND att.attacl IS NOT NULL AND NOT att.attisdropped AND a.grantee <> c.relowner
        """,
    )
    grouped: dict[tuple[str, str, str, bool], list[str]] = defaultdict(list)
    for kind, name, grantee, privilege, grantable in rows:
        grouped[(kind, name, grantee, grantable)].append(privilege)
    return "\n".join(
        _grant(kind, name, grantee, sorted(privileges), grantable)
        for (kind, name, grantee, grantable), privileges in sorted(grouped.items(), key=lambda i: i[0][1:])
    )


def _grant(kind: str, name: str, grantee: str, privileges: list[str], grantable: bool) -> str:
    table, _, column = name.partition(" (")
    on = f"({column} ON {kind} {table}" if column else f"ON {kind} {name}"
    return f"GRANT {', '.join(privileges)} {on} TO {grantee}{' WITH GRANT OPTION' if grantable else ''};"


def _literal(conn: psycopg.Connection, text: str) -> str:
    row = conn.execute("SELECT quote_literal(%s)", (text,)).fetchone()
    assert row is not None
    return row[0]


def migrated_schema(server_url: str, *, directory: Path | None = None) -> str:
    """Apply every migration to a new, empty database on `server_url`; dump it; drop it."""
    from tpg_local.embedded_db import create_database, drop_database
    from tpg_local.migrate import migrate

    name = f"tpg_schema_{uuid.uuid4().hex[:12]}"
    url = create_database(server_url, name)
    try:
        migrate(url, directory=directory)
        with psycopg.connect(url, autocommit=True) as conn:
            return dump_schema(conn)
    finally:
        drop_database(server_url, name)


def diff(expected: str, actual: str) -> str:
    """A unified diff from the committed snapshot to the migrated database ('' when equal)."""
    return "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            fromfile="migrations/snapshot/schema.sql (committed)",
            tofile="the schema the migrations build",
        )
    )


def _server_url() -> str:
    configured = os.environ.get("DATABASE_URL")
    if configured:
        return configured
    from tpg_local.embedded_db import start_embedded_server

    return start_embedded_server()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tpg_local.schema", description=__doc__.split("\n")[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help=f"rewrite {SNAPSHOT.name} from the migrations")
    action.add_argument("--check", action="store_true", help="exit 1 with a diff when the snapshot is stale")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")  # platformdirs, under pgserver

    actual = migrated_schema(_server_url())
    if args.write:
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(actual)
        print(f"wrote {SNAPSHOT}", file=sys.stderr)
        return 0
    if args.check:
        changes = diff(SNAPSHOT.read_text() if SNAPSHOT.exists() else "", actual)
        if changes:
            print(changes + "\nthe snapshot is stale: run `make schema` and commit it", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(actual)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
