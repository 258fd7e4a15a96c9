"""`tpg`: the local stack and its tools (see the architecture's CLI contract).

Every error is one line on stderr, `tpg: <what is wrong>; <what to do>`, and a documented exit
code (`EXIT_CODES`); never a traceback, unless TPG_DEBUG=1. `tpg program` keeps its own JSON
contract (program_lab.py).
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import signal
import sys
import threading
import traceback
import uuid
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

EXIT_OK = 0
EXIT_FAILED = 1  # the command could not do its job: database unreachable, port in use, invalid result
EXIT_USAGE = 2  # bad usage or input: an unknown option, a value out of range, a missing file
EXIT_UNEXPECTED = 3  # a bug: an error nobody anticipated
EXIT_INTERRUPTED = 130  # Ctrl-C (outside `tpg serve`, where it stops gracefully)

EXIT_CODES = """exit codes:
  0    done
  1    failed: the database unreachable, the port in use, a refused or invalid program (tpg program)
  2    bad usage or input: an unknown option, a value out of range, a missing or unreadable file,
       an invalid environment variable
  3    unexpected internal error (a bug: TPG_DEBUG=1 shows its traceback)
  130  interrupted (Ctrl-C)

Errors are one line on stderr ("tpg: ..."); set TPG_DEBUG=1 for a traceback."""


class CliError(Exception):
    """A failure to report as one line with this exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message, self.code = message, code


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error reported as one line (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ------------------------------------------------------------------------ argument types


def _number(
    kind: Callable[[str], Any], unit: str, *, low: float, high: float = math.inf, low_ok: bool = False
) -> Callable[[str], Any]:
    """An argparse type: a `kind` number of `unit` above `low` (or from `low` with `low_ok`) up to `high`."""
    if math.isfinite(high):
        wanted = f"{unit} from {low:g} to {high:g}"
    else:
        wanted = f"{'>=' if low_ok else '>'} {low:g} {unit}"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {wanted}, not {text!r}") from None
        if not math.isfinite(value) or value > high or value < low or (value == low and not low_ok):
            raise argparse.ArgumentTypeError(f"must be {wanted}, not {text}")
        return value

    parse.__name__ = unit  # argparse names the type in some messages
    return parse


_hours = _number(float, "hours", low=0)
_seconds = _number(float, "seconds", low=0)
_seconds_or_zero = _number(float, "seconds", low=0, low_ok=True)
_latency = _number(float, "seconds", low=0, high=120, low_ok=True)
# `tpg serve` paces the offline engine like an LLM call, so the demo page's progress can be watched.
SERVE_LATENCY_SECONDS = 8.0
_whole_seconds = _number(int, "whole seconds", low=0)
_port = _number(int, "a TCP port", low=1, high=65535, low_ok=True)


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

    # stdout carries the command's own output; stderr is looked up at each write, so a caller that
    # swaps sys.stderr (a test harness, an embedding program) never leaves the logger a closed stream
    logger.registered_handler.setStream(_CurrentStderr())  # type: ignore[arg-type]


class _CurrentStderr:
    """Whatever `sys.stderr` is at the time of writing."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _database_url() -> str:
    """DATABASE_URL, or the embedded server's (started on demand)."""
    from tpg_local.embedded_db import ensure_database_url

    if os.environ.get("DATABASE_URL"):
        return ensure_database_url()
    try:
        return ensure_database_url()
    except Exception as exc:
        import psycopg

        if isinstance(exc, psycopg.Error):
            raise
        raise CliError(
            f"could not start the embedded PostgreSQL server ({type(exc).__name__}: {_first_line(exc)}); "
            "set DATABASE_URL to use a running server"
        ) from exc


def _migrate(url: str) -> list[str]:
    from tpg_local.migrate import migrate

    try:
        return migrate(url)
    except (RuntimeError, ValueError) as exc:  # an edited or misnamed migration file
        raise CliError(f"cannot migrate: {exc}") from exc


def _prepare() -> str:
    """The database (embedded unless DATABASE_URL), migrated. Returns its URL."""
    url = _database_url()
    _migrate(url)
    return url


def _token_for(user_id: uuid.UUID | str, ttl: int = 3600) -> str:
    from tpg.platform.settings import Settings
    from tpg_local.seed import token_for

    return token_for(user_id, Settings.from_environment(), ttl_seconds=ttl)


def cmd_migrate(args: argparse.Namespace) -> int:
    applied = _migrate(_database_url())
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
    if args.service:
        from tpg.api.auth import issue_service_token
        from tpg.platform.settings import Settings

        settings = Settings.from_environment()
        print(
            issue_service_token(
                "tpg-cli",
                secret=settings.jwt_signing_secret,
                audience=settings.service_token_audience,
                issuer=settings.jwt_issuer,
                ttl_seconds=args.ttl,
            )
        )
        return 0
    if args.user_id is None:
        raise CliError("tpg token needs --user-id (or --service for a service-role token)", EXIT_USAGE)
    print(_token_for(args.user_id, args.ttl))
    return 0


def _batch_user_ids(args: argparse.Namespace) -> list[uuid.UUID]:
    """--user-id values, then a --users-file's ids (one per line; blank lines and # comments skipped)."""
    ids: list[uuid.UUID] = list(args.user_id or [])
    if args.users_file:
        with open(args.users_file, encoding="utf-8") as file:
            for number, line in enumerate(file, start=1):
                text = line.split("#", 1)[0].strip()
                if not text:
                    continue
                try:
                    ids.append(uuid.UUID(text))
                except ValueError:
                    raise CliError(
                        f"{args.users_file}:{number} is not a user id (a UUID); fix the file", EXIT_USAGE
                    ) from None
    if not ids:
        raise CliError("no user ids; give --user-id (repeatable) or --users-file", EXIT_USAGE)
    return ids


def _api_dependencies() -> Any:
    from tpg.api.service import ApiDependencies
    from tpg.platform.settings import Settings

    _prepare()
    return ApiDependencies.from_settings(Settings.from_environment())


def cmd_batch_create(args: argparse.Namespace) -> int:
    import pydantic

    from tpg.api import batches
    from tpg.api.auth import ServiceCaller
    from tpg.api.models import CreateBatchRequest

    user_ids = _batch_user_ids(args)
    body: dict[str, Any] = {"user_ids": user_ids, "weeks": args.weeks}
    if args.name is not None:
        body["name"] = args.name
    try:
        request = CreateBatchRequest.model_validate(body, strict=False)
    except pydantic.ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in error["loc"]) or "request"
        raise CliError(f"invalid batch: {where}: {error['msg']}", EXIT_USAGE) from None
    accepted = batches.create_batch(_api_dependencies(), ServiceCaller(subject="tpg-cli"), request)
    print(accepted.model_dump_json(by_alias=True))
    return 0


def cmd_batch_status(args: argparse.Namespace) -> int:
    from tpg.api import batches
    from tpg.platform.errors import BatchNotFound

    try:
        body = batches.get_batch(_api_dependencies(), None, args.batch_id)  # an operator: any batch
    except BatchNotFound:
        raise CliError(f"no batch {args.batch_id}; check the id `tpg batch create` printed") from None
    exclude = {"members"} if args.summary else None
    print(body.model_dump_json(by_alias=True, exclude=exclude))
    return 0


def cmd_batch_cancel(args: argparse.Namespace) -> int:
    from tpg.api import batches
    from tpg.platform.errors import BatchAlreadyFinal, BatchNotFound

    try:
        body = batches.cancel_batch(_api_dependencies(), None, args.batch_id)  # an operator: any batch
    except BatchNotFound:
        raise CliError(f"no batch {args.batch_id}; check the id `tpg batch create` printed") from None
    except BatchAlreadyFinal:
        raise CliError(f"batch {args.batch_id} has nothing left to cancel (every member is final)") from None
    print(body.model_dump_json(by_alias=True))
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

    from tpg_local.stats import collect_stats, format_stats

    # Read-only against a given DATABASE_URL (never migrates a deployed database).
    url = _database_url() if os.environ.get("DATABASE_URL") else _prepare()
    since = datetime.now(UTC) - timedelta(hours=args.hours) if args.hours else None
    with psycopg.connect(url, autocommit=True) as conn:
        stats = collect_stats(conn, since=since)
    print(json.dumps(stats.as_dict()) if args.json else format_stats(stats))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from tpg.platform.settings import DEV_JWT_SECRET
    from tpg_local.realtime import RealtimeBindError
    from tpg_local.server import LocalStack

    _prepare()
    if args.latency is not None:
        os.environ["OFFLINE_LATENCY_SECONDS"] = f"{args.latency:g}"
    else:
        os.environ.setdefault("OFFLINE_LATENCY_SECONDS", f"{SERVE_LATENCY_SECONDS:g}")
    # The persona picker mints tokens: only for a stack that listens on this machine alone.
    loopback = args.host in ("127.0.0.1", "localhost", "::1")
    try:
        stack = LocalStack(
            host=args.host,
            port=args.port,
            sweep_interval=args.sweep_interval or None,
            dev_sessions=loopback,
            realtime_port=args.realtime_port,
        )
    except RealtimeBindError as exc:
        raise CliError(_listen_error(exc, args.host, args.realtime_port, option="--realtime-port")) from exc
    except OSError as exc:
        raise CliError(_listen_error(exc, args.host, args.port)) from exc
    except ValueError as exc:  # waitress: the host does not resolve
        raise CliError(
            f"cannot listen on --host {args.host}: not an address or name of this machine; "
            "use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)",
            EXIT_USAGE,
        ) from exc

    # SIGTERM (a supervisor, `docker stop`) and Ctrl-C stop gracefully; a second one hurries.
    stopping = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if stopping.is_set():
            stack.hurry()
        stopping.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    stack.start()
    if _signs_with_dev_secret():
        print(f"JWT secret (local development): {DEV_JWT_SECRET}")
    print(f"local stack on {stack.url}")
    print(f"  demo page   {stack.url}/        API docs  {stack.url}/docs")
    print(f"  realtime    {stack.realtime_url} (WebSocket; POST /realtime/tickets gives a URL to open)")
    if stack.settings.llm_provider == "offline":
        print(
            f"  generation  about {stack.settings.offline_latency_seconds:g} s each (offline engine; "
            "--latency SECONDS to change, 0: instant)"
        )
    print("  tpg seed-user prints a user and a token; Ctrl-C stops", flush=True)
    while not stopping.wait(0.5):
        pass
    running = len(stack.dispatcher.running())
    print(
        f"stopping: no new requests; {running} generation(s) running, waiting up to "
        f"{args.grace_seconds:g} s for them (Ctrl-C again: release them now)",
        flush=True,
    )
    released = stack.stop(grace_seconds=args.grace_seconds)
    if released:
        print(
            f"released {len(released)} unfinished generation(s) back to pending: "
            + ", ".join(map(str, released))
        )
    print("stopped", flush=True)
    if stack.dispatcher.running():
        # Threads that did not finish cannot be stopped, and would hold the interpreter's exit;
        # their rows are released above, and anything they write later is fenced by the attempt.
        sys.stderr.flush()
        os._exit(EXIT_OK)
    return EXIT_OK


def _listen_error(exc: OSError, host: str, port: int, option: str = "--port") -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is already in use; stop what listens there or choose another {option}"
    if exc.errno == errno.EACCES:
        return f"no permission to listen on port {port} (below 1024 needs root); choose {option} 1024-65535"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {host}: not an address of this machine; use 127.0.0.1 or 0.0.0.0"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def cmd_demo(args: argparse.Namespace) -> int:
    from tpg_local.demo import run_demo

    embedded = not os.environ.get("DATABASE_URL")
    _prepare()
    return run_demo(persona=args.persona, timeout=args.timeout, embedded_database=embedded)


def build_parser() -> argparse.ArgumentParser:
    from tpg_local.personas import PERSONAS

    parser = _Parser(
        prog="tpg",
        description="Training-program generation: local tools",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="the main job end to end on the embedded defaults")
    demo.add_argument("--persona", default=None, choices=sorted(PERSONAS))
    demo.add_argument(
        "--timeout", type=_seconds, default=120.0, metavar="SECONDS", help="give up after (> 0, default 120)"
    )
    demo.set_defaults(func=cmd_demo)

    serve = sub.add_parser(
        "serve",
        help="the local stack (HTTP API, dispatcher, sweeper)",
        description="The local stack: the handlers behind HTTP, a thread-pool dispatcher, the sweeper on a "
        "timer. SIGTERM or Ctrl-C stops it gracefully: no new requests, running generations get "
        "--grace-seconds to finish, the rest go back to pending; a second Ctrl-C releases them at once.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=3000, help="TCP port, 1-65535 (default 3000)")
    serve.add_argument(
        "--realtime-port",
        type=_port,
        default=3001,
        help="TCP port of the realtime WebSocket API, 1-65535 (default 3001)",
    )
    serve.add_argument(
        "--sweep-interval",
        type=_seconds_or_zero,
        default=30.0,
        metavar="SECONDS",
        help="run the sweeper every SECONDS (default 30; 0: never)",
    )
    serve.add_argument(
        "--grace-seconds",
        type=_seconds_or_zero,
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM/Ctrl-C, how long running generations may finish before they are released "
        "back to pending (default 30)",
    )
    serve.add_argument(
        "--latency",
        type=_latency,
        default=None,
        metavar="SECONDS",
        help="how long the offline engine takes per generation, like an LLM, so progress can be watched "
        f"(0-120; default $OFFLINE_LATENCY_SECONDS, else {SERVE_LATENCY_SECONDS:g}; 0: instant)",
    )
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="apply pending migrations").set_defaults(func=cmd_migrate)

    seed = sub.add_parser("seed-user", help="create a user; prints {userId, token}")
    seed.add_argument("--user-id", type=uuid.UUID, default=None)
    seed.add_argument("--persona", default=None, choices=sorted(PERSONAS))
    seed.add_argument("--no-subscription", action="store_true")
    seed.add_argument("--no-onboarding", action="store_true")
    seed.set_defaults(func=cmd_seed_user)

    token = sub.add_parser("token", help="print a JWT for a user (or a service-role one: --service)")
    token.add_argument("--user-id", type=uuid.UUID, default=None)
    token.add_argument(
        "--service", action="store_true", help="a service-role token (the batch routes take only these)"
    )
    token.add_argument(
        "--ttl",
        type=_whole_seconds,
        default=3600,
        metavar="SECONDS",
        help="lifetime in seconds, > 0 (default 3600)",
    )
    token.set_defaults(func=cmd_token)

    sub.add_parser("sweep", help="run the reconciler once (the batch step included)").set_defaults(
        func=cmd_sweep
    )

    batch = sub.add_parser(
        "batch",
        help="programs for many users at once (create, status, cancel)",
        description="Batch generation, as POST /batches and GET /batches/{id} do it (docs/architecture.md, "
        "'Batches'); the sweeper (tpg serve's timer, or tpg sweep) submits and collects it. JSON output.",
    )
    batch_sub = batch.add_subparsers(dest="batch_command", required=True)
    create = batch_sub.add_parser(
        "create", help="create a batch; prints {batchId, statusUrl, accepted, rejected}"
    )
    create.add_argument(
        "--user-id", type=uuid.UUID, action="append", help="a user to generate for (repeatable)"
    )
    create.add_argument(
        "--users-file", default=None, metavar="FILE", help="user ids, one per line (# comments)"
    )
    create.add_argument(
        "--weeks", type=_number(int, "weeks", low=1, high=12, low_ok=True), default=4, help="1-12 (default 4)"
    )
    create.add_argument("--name", default=None, help="the batch's name, and each program's")
    create.set_defaults(func=cmd_batch_create)
    status = batch_sub.add_parser("status", help="a batch's status, counts, cost and members, as JSON")
    status.add_argument("batch_id", type=uuid.UUID, metavar="BATCH_ID")
    status.add_argument("--summary", action="store_true", help="leave the members out")
    status.set_defaults(func=cmd_batch_status)
    cancel = batch_sub.add_parser(
        "cancel", help="cancel a batch (members not final yet); prints {batchId, status, cancelled, stopping}"
    )
    cancel.add_argument("batch_id", type=uuid.UUID, metavar="BATCH_ID")
    cancel.set_defaults(func=cmd_batch_cancel)

    stats = sub.add_parser(
        "stats", help="success rate, generation time, errors, tiers, in flight, stuck, cancels, waiting"
    )
    stats.add_argument(
        "--hours",
        type=_hours,
        default=None,
        metavar="N",
        help="only programs created in the last N hours (N > 0)",
    )
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stats.set_defaults(func=cmd_stats)

    from tpg_local.program_lab import add_program_parser

    add_program_parser(sub)  # tpg program generate | validate | profile-schema
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # a usage error exits 2 here, in one line
    try:
        _local_defaults(args.command)
        if getattr(args, "persona", "unset") is None:
            from tpg_local.seed import DEFAULT_PERSONA

            args.persona = DEFAULT_PERSONA
        return int(args.func(args))
    except KeyboardInterrupt:
        if _debug():
            raise
        return _fail("interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:  # the reader went away (`| head`): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as exc:
        if _debug():
            raise
        known = exc if isinstance(exc, CliError) else _known_failure(exc)
        if known is not None:
            return _fail(known.message, known.code)
        return _fail(
            f"unexpected error: {type(exc).__name__} at {_where(exc)}: {_first_line(exc)}; "
            "this is a bug: rerun with TPG_DEBUG=1 and report the traceback",
            EXIT_UNEXPECTED,
        )


def _debug() -> bool:
    return os.environ.get("TPG_DEBUG", "") not in ("", "0")


def _fail(message: str, code: int) -> int:
    print(f"tpg: {message}", file=sys.stderr, flush=True)
    return code


def _first_line(exc: BaseException, limit: int = 200) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "unknown"


def _database_target() -> str:
    """Where DATABASE_URL points, without its credentials."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return "the embedded database"
    try:
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(url)
    except Exception:
        return "DATABASE_URL (not a valid PostgreSQL URL)"
    host = info.get("host") or "localhost"
    port = info.get("port") or "5432"
    return f"the database at {host}:{port}/{info.get('dbname') or info.get('user') or ''} (DATABASE_URL)"


def _known_failure(exc: Exception) -> CliError | None:
    """Failures a person can act on, as one line and an exit code; None: unexpected."""
    import psycopg
    import pydantic

    if isinstance(exc, psycopg.OperationalError):
        reason = _first_line(exc).rsplit("failed: ", 1)[-1].removeprefix("FATAL:").strip()
        return CliError(
            f"cannot connect to {_database_target()}: {reason}; start PostgreSQL there, fix DATABASE_URL, "
            "or unset it to use the embedded server"
        )
    if isinstance(exc, psycopg.errors.UndefinedTable):
        return CliError(
            f"{_database_target()} has no tpg tables: {_first_line(exc)}; run `tpg migrate` first"
        )
    if isinstance(exc, psycopg.Error):
        return CliError(f"{_database_target()} refused a statement: {type(exc).__name__}: {_first_line(exc)}")
    if isinstance(exc, pydantic.ValidationError):
        return CliError(
            f"invalid configuration: {_describe_settings_error(exc)}; fix the environment", EXIT_USAGE
        )
    if isinstance(exc, ModuleNotFoundError) and exc.name in ("waitress", "pgserver"):
        return CliError(f"the local stack needs the {exc.name} package: pip install -e '.[local]'")
    if isinstance(exc, FileNotFoundError):
        return CliError(f"no such file: {exc.filename or _first_line(exc)}; check the path", EXIT_USAGE)
    if isinstance(exc, PermissionError):
        return CliError(f"permission denied: {exc.filename or _first_line(exc)}")
    return None


def _describe_settings_error(exc: Any) -> str:
    """A settings validation error by its environment variable (`Settings` fields name theirs)."""
    from tpg.platform.settings import Settings

    parts = []
    for error in exc.errors(include_url=False)[:3]:
        field = str(error["loc"][0]) if error["loc"] else ""
        info = Settings.model_fields.get(field)
        extra = info.json_schema_extra if info is not None else None
        name = extra.get("env") if isinstance(extra, dict) else None
        parts.append(f"{name or field}: {error['msg']}")
    return "; ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
