"""A throwaway PgBouncer in transaction-pooling mode in front of a PostgreSQL server (CI, `make
test-pgbouncer`): proves the service works behind a transaction pooler.

    python -m tpg_local.pgbouncer [--upstream URL] -- COMMAND...

writes a pgbouncer.ini in a temporary directory (pool_mode = transaction, 127.0.0.1 on a free port,
trust auth, `ignore_startup_parameters` left unset so startup options are refused, a wildcard
database entry so every per-test database is reachable), starts Debian's `pgbouncer` (as `postgres`
when run as root: it refuses to run as root), waits until it answers, runs COMMAND with
TPG_TEST_POOLER_PORT set to its port (tests/conftest.py then hands the code under test URLs through
the pooler, while creating, migrating and dropping the test databases stays direct), stops it and
exits with COMMAND's status.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

POOLER_PORT_VARIABLE = "TPG_TEST_POOLER_PORT"
DEFAULT_UPSTREAM = "postgresql://postgres@127.0.0.1:5432/postgres"

_INI = """\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen_port}
unix_socket_dir =
pool_mode = transaction
auth_type = trust
auth_file = {auth_file}
max_client_conn = 1000
default_pool_size = 20
max_db_connections = 40
server_login_retry = 1
logfile = {logfile}
pidfile = {pidfile}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def pgbouncer(upstream_url: str = DEFAULT_UPSTREAM, *, timeout: float = 10.0) -> Iterator[int]:
    """Run a transaction-mode PgBouncer in front of `upstream_url`'s server; yield its port."""
    binary = shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
    )
    if binary is None:
        raise RuntimeError("pgbouncer is not installed; apt-get install pgbouncer")
    upstream = psycopg.conninfo.conninfo_to_dict(upstream_url)
    host, port = str(upstream.get("host") or "127.0.0.1"), str(upstream.get("port") or "5432")
    user = str(upstream.get("user") or "postgres")
    listen_port = _free_port()
    with tempfile.TemporaryDirectory(prefix="tpg-pgbouncer-") as tmp:
        directory = Path(tmp)
        auth_file = directory / "userlist.txt"
        auth_file.write_text(f'"{user}" ""\n')
        ini = directory / "pgbouncer.ini"
        ini.write_text(
            _INI.format(
                host=host,
                port=port,
                listen_port=listen_port,
                auth_file=auth_file,
                logfile=directory / "pgbouncer.log",
                pidfile=directory / "pgbouncer.pid",
            )
        )
        command = [binary, "-q", str(ini)]
        if os.geteuid() == 0:  # pgbouncer refuses to run as root
            account = pwd.getpwnam("postgres")
            os.chown(directory, account.pw_uid, account.pw_gid)
            for path in directory.iterdir():
                os.chown(path, account.pw_uid, account.pw_gid)
            command[1:1] = ["-u", "postgres"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
        try:
            pooled = psycopg.conninfo.make_conninfo(upstream_url, host="127.0.0.1", port=str(listen_port))
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    error = process.stderr.read().decode(errors="replace") if process.stderr else ""
                    raise RuntimeError(f"pgbouncer exited with {process.returncode}: {error.strip()}")
                try:
                    with psycopg.connect(pooled, connect_timeout=2, prepare_threshold=None) as conn:
                        conn.execute("SELECT 1")
                    break
                except psycopg.OperationalError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            yield listen_port
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tpg_local.pgbouncer", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--upstream", default=os.environ.get("DATABASE_URL") or DEFAULT_UPSTREAM)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND... to run with the pooler up")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("a command to run is required")
    with pgbouncer(args.upstream) as port:
        print(f"pgbouncer (transaction pooling) on 127.0.0.1:{port} in front of the server", flush=True)
        return subprocess.call(command, env={**os.environ, POOLER_PORT_VARIABLE: str(port)})  # noqa: S603


if __name__ == "__main__":
    sys.exit(main())
