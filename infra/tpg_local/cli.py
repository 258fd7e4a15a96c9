"""`tpg`: the local stack and its tools (see the architecture's CLI contract)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
import warnings
from collections.abc import Sequence


def _local_defaults(command: str) -> None:
    """Environment defaults for local runs, set before any module creates its logger."""
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # EMF is for CloudWatch, not a terminal
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO" if command == "serve" else "WARNING")
    os.environ.setdefault("DISPATCH_MODE", "local")
    if "JWT_SECRET_ARN" not in os.environ:
        from tpg.platform.settings import DEV_JWT_SECRET

        os.environ.setdefault("JWT_SECRET", DEV_JWT_SECRET)
    # platformdirs (under pgserver) warns when XDG_RUNTIME_DIR is unset, as in containers
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    from tpg.platform.observability import logger

    logger.registered_handler.setStream(sys.stderr)  # stdout carries the command's own output


def _prepare() -> str:
    """The database (embedded unless DATABASE_URL), migrated. Returns its URL."""
    from tpg_local.embedded_db import ensure_database_url
    from tpg_local.migrate import migrate

    url = ensure_database_url()
    migrate(url)
    return url


def _token_for(user_id: uuid.UUID | str, ttl: int = 3600) -> str:
    from tpg.platform.settings import Settings
    from tpg_local.seed import token_for

    return token_for(user_id, Settings.from_environment(), ttl_seconds=ttl)


def cmd_migrate(args: argparse.Namespace) -> int:
    from tpg_local.embedded_db import ensure_database_url
    from tpg_local.migrate import migrate

    applied = migrate(ensure_database_url())
    print("\n".join(f"applied {name}" for name in applied) or "database is up to date")
    return 0


def cmd_seed_user(args: argparse.Namespace) -> int:
    import psycopg

    from tpg_local.seed import seed_user

    url = _prepare()
    with psycopg.connect(url, autocommit=True) as conn:
        user_id = seed_user(
            conn,
            persona=args.persona,
            user_id=args.user_id,
            subscribed=not args.no_subscription,
            onboarded=not args.no_onboarding,
        )
    print(json.dumps({"userId": str(user_id), "token": _token_for(user_id)}))
    return 0


def _signs_with_dev_secret() -> bool:
    from tpg.platform.settings import DEV_JWT_SECRET

    return os.environ.get("JWT_SECRET") == DEV_JWT_SECRET


def cmd_token(args: argparse.Namespace) -> int:
    if _signs_with_dev_secret():
        print("signing with the local development secret (set JWT_SECRET to use another)", file=sys.stderr)
    print(_token_for(args.user_id, args.ttl))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from tpg.platform.settings import Settings
    from tpg.worker.sweeper import SweeperDependencies, sweep
    from tpg_local.dispatcher import LocalDispatcher

    _prepare()
    from functions.generate.app import lambda_handler

    dispatcher = LocalDispatcher(lambda_handler)
    report = sweep(SweeperDependencies.from_settings(Settings.from_environment(), dispatcher=dispatcher))
    dispatcher.drain(timeout=600)
    dispatcher.shutdown()
    print(json.dumps(report.as_dict()))
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    import psycopg

    from tpg_local.embedded_db import ensure_database_url
    from tpg_local.stats import collect_stats, format_stats

    # Read-only against a given DATABASE_URL (never migrates a deployed database).
    url = ensure_database_url() if os.environ.get("DATABASE_URL") else _prepare()
    since = datetime.now(UTC) - timedelta(hours=args.hours) if args.hours else None
    with psycopg.connect(url, autocommit=True) as conn:
        stats = collect_stats(conn, since=since)
    print(json.dumps(stats.as_dict()) if args.json else format_stats(stats))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from tpg.platform.settings import DEV_JWT_SECRET
    from tpg_local.server import LocalStack

    _prepare()
    # The persona picker mints tokens: only for a stack that listens on this machine alone.
    loopback = args.host in ("127.0.0.1", "localhost", "::1")
    stack = LocalStack(
        host=args.host, port=args.port, sweep_interval=args.sweep_interval, dev_sessions=loopback
    ).start()
    if _signs_with_dev_secret():
        print(f"JWT secret (local development): {DEV_JWT_SECRET}")
    print(f"local stack on {stack.url}")
    print(f"  demo page   {stack.url}/        API docs  {stack.url}/docs")
    print("  tpg seed-user prints a user and a token; Ctrl-C stops")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping")
    finally:
        stack.stop()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from tpg_local.demo import run_demo

    embedded = not os.environ.get("DATABASE_URL")
    _prepare()
    return run_demo(persona=args.persona, timeout=args.timeout, embedded_database=embedded)


def build_parser() -> argparse.ArgumentParser:
    from tpg_local.personas import PERSONAS

    parser = argparse.ArgumentParser(prog="tpg", description="Training-program generation: local tools")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="the main job end to end on the embedded defaults")
    demo.add_argument("--persona", default=None, choices=sorted(PERSONAS))
    demo.add_argument("--timeout", type=float, default=120.0)
    demo.set_defaults(func=cmd_demo)

    serve = sub.add_parser("serve", help="the local stack (HTTP API, dispatcher, sweeper)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--sweep-interval", type=float, default=30.0)
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="apply pending migrations").set_defaults(func=cmd_migrate)

    seed = sub.add_parser("seed-user", help="create a user; prints {userId, token}")
    seed.add_argument("--user-id", type=uuid.UUID, default=None)
    seed.add_argument("--persona", default=None, choices=sorted(PERSONAS))
    seed.add_argument("--no-subscription", action="store_true")
    seed.add_argument("--no-onboarding", action="store_true")
    seed.set_defaults(func=cmd_seed_user)

    token = sub.add_parser("token", help="print a JWT for a user")
    token.add_argument("--user-id", type=uuid.UUID, required=True)
    token.add_argument("--ttl", type=int, default=3600)
    token.set_defaults(func=cmd_token)

    sub.add_parser("sweep", help="run the reconciler once").set_defaults(func=cmd_sweep)

    stats = sub.add_parser("stats", help="success rate, generation time, errors, tiers, in flight, stuck")
    stats.add_argument("--hours", type=float, default=None, help="only programs created in the last N hours")
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stats.set_defaults(func=cmd_stats)

    from tpg_local.program_lab import add_program_parser

    add_program_parser(sub)  # tpg program generate | validate | profile-schema
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _local_defaults(args.command)
    if getattr(args, "persona", "unset") is None:
        from tpg_local.seed import DEFAULT_PERSONA

        args.persona = DEFAULT_PERSONA
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
