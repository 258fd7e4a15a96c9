"""Cold start: a handler module's import time against its dependencies' import time alone.

Each figure comes from a fresh interpreter (a subprocess), timing the `import` statement itself
(interpreter start-up excluded). The floor imports, in the same order, every module the handler
import loaded except our own (`tpg`, `tpg_local`, `functions`): its third-party packages and the
few stdlib modules only our code pulls in. So the ratio is what our own modules add.

A separate interpreter checks the import for side effects: no socket opened, no psycopg
connection, no botocore client, no Anthropic client, settings not yet read (the handler's composition
root is built on the first invocation, not at import); and which heavy packages the handler pulls in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.perf.measure import median

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = ("tpg", "tpg_local", "functions", "tests")
HANDLERS = {
    "trigger": "functions.trigger.app",
    "generate": "functions.generate.app",
    "sweeper": "functions.sweeper.app",
}

_LIST_MODULES = """
import json, sys
before = set(sys.modules)
import {module}
print(json.dumps([m for m in sys.modules if m not in before]))
"""

_TIME_HANDLER = """
import time
wall, cpu = time.perf_counter(), time.process_time()
import {module}
print(time.process_time() - cpu, time.perf_counter() - wall)
"""

_TIME_DEPENDENCIES = """
import importlib, json, sys, time
names = json.loads(sys.stdin.read())
wall, cpu = time.perf_counter(), time.process_time()
for name in names:
    if name in sys.modules:
        continue
    try:
        importlib.import_module(name)
    except Exception:
        pass
print(time.process_time() - cpu, time.perf_counter() - wall)
"""

# Patch the ways a connection or client could be made, then import the handler and report.
_SIDE_EFFECTS = """
import json, socket, sys
events = []
_connect = socket.socket.connect
def connect(self, *a, **k):
    events.append("socket.connect")
    return _connect(self, *a, **k)
socket.socket.connect = connect
import psycopg
_pg = psycopg.Connection.connect.__func__
def pg_connect(cls, *a, **k):
    events.append("psycopg.connect")
    return _pg(cls, *a, **k)
psycopg.Connection.connect = classmethod(pg_connect)
import botocore.session
_client = botocore.session.Session.create_client
def create_client(self, *a, **k):
    events.append("botocore.client")
    return _client(self, *a, **k)
botocore.session.Session.create_client = create_client
try:
    import anthropic._base_client as abc
    _init = abc.SyncAPIClient.__init__
    def init(self, *a, **k):
        events.append("anthropic.client")
        return _init(self, *a, **k)
    abc.SyncAPIClient.__init__ = init
except ImportError:
    pass
from tpg.platform.settings import Settings
_read = Settings.from_environment.__func__
settings_read = []
def from_environment(cls, *a, **k):
    settings_read.append(1)
    return _read(cls, *a, **k)
Settings.from_environment = classmethod(from_environment)
import {module}
built = getattr(sys.modules["{module}"], "dependencies", None)
reads = len(settings_read) + int(bool(getattr(built, "built", False)))
print(json.dumps({{"events": events, "settings_read": reads}}))
"""


def _run(code: str, stdin: str | None = None, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "DATABASE_URL"))}
    # A URL that would be connected to if anything connected at import (nothing should).
    env["DATABASE_URL"] = "postgresql://nobody@127.0.0.1:9/nothing"
    return subprocess.run(
        [sys.executable, *flags, "-c", code],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )


def loaded_dependencies(module: str) -> tuple[list[str], list[str]]:
    """(modules other than ours that `import module` loads, in load order; all modules loaded)."""
    loaded = json.loads(_run(_LIST_MODULES.format(module=module)).stdout)
    return [m for m in loaded if m.split(".")[0] not in FIRST_PARTY], loaded


def own_self_time(module: str) -> list[tuple[str, float]]:
    """`-X importtime` self times (seconds) of our own modules, largest first."""
    stderr = _run(f"import {module}", None, "-X", "importtime").stderr
    own = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line.split("|")
        try:
            self_us = int(parts[0].split(":")[1])
        except ValueError:
            continue  # the header line
        name = parts[2].strip()
        if name.split(".")[0] in FIRST_PARTY:
            own.append((name, self_us / 1e6))
    return sorted(own, key=lambda item: -item[1])


def _times(done: subprocess.CompletedProcess[str]) -> tuple[float, float]:
    cpu, wall = done.stdout.split()
    return float(cpu), float(wall)


def measure(module: str, *, repeats: int) -> dict:
    dependencies, loaded = loaded_dependencies(module)
    payload = json.dumps(dependencies)
    handler_times, dependency_times = [], []
    _run(_TIME_HANDLER.format(module=module))  # bytecode caches written before timing
    for _ in range(repeats):  # alternate, so drift on the machine hits both alike
        handler_times.append(_times(_run(_TIME_HANDLER.format(module=module))))
        dependency_times.append(_times(_run(_TIME_DEPENDENCIES, payload)))
    side_effects = json.loads(_run(_SIDE_EFFECTS.format(module=module)).stdout.strip().splitlines()[-1])
    top_level = sorted({m.split(".")[0] for m in loaded})
    return {
        # CPU time of the import (the share of a busy 2-core machine a process got does not
        # change it much); wall time alongside.
        "cpu_handler": [cpu for cpu, _ in handler_times],
        "cpu_dependencies": [cpu for cpu, _ in dependency_times],
        "wall_handler": median([wall for _, wall in handler_times]),
        "wall_dependencies": median([wall for _, wall in dependency_times]),
        "heavy": [
            p for p in ("anthropic", "tenacity", "boto3", "botocore", "httpx", "jose") if p in top_level
        ],
        "own": own_self_time(module),
        "events": side_effects["events"],
        "settings_read": side_effects["settings_read"],
    }
