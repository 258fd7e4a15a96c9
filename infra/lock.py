"""`make lock`: regenerate the two lock files from pyproject.toml with uv (pinned, in its own venv).

    shared/requirements.txt  the Lambda layer (`sam build`, python3.12 arm64): [project].dependencies
    requirements-dev.lock    `make install` (Python 3.11+, any platform): dependencies + the dev extra

Every pin carries `--hash` lines for all of its release's files (sdist and every wheel: the aarch64
ones SAM installs, the host ones `sam build` downloads first, other platforms' for other machines).
The existing pins are kept unless pyproject.toml rules them out; `make lock UPGRADE=1` (or
`python infra/lock.py --upgrade`) moves everything to the newest allowed versions,
`UPGRADE_PACKAGE=boto3` only that one.

Each file's header records a sha256 of the pyproject lists it was compiled from
(tests/unit/test_requirements_consistent.py fails when pyproject.toml changes without `make lock`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

UV_VERSION = "0.13.9"
ROOT = Path(__file__).resolve().parents[1]
HASH_PREFIX = "# pyproject-sha256: "

# file -> (pyproject extras, uv options selecting the target interpreter and platform)
LOCKS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # Lambda python3.12 on arm64 is Amazon Linux 2023 (glibc 2.34), SAM takes up to manylinux_2_34.
    "shared/requirements.txt": (
        (),
        ("--python-version", "3.12", "--python-platform", "aarch64-manylinux_2_34"),
    ),
    "requirements-dev.lock": (("dev",), ("--python-version", "3.11", "--universal")),
}


def source_requirements(extras: tuple[str, ...]) -> list[str]:
    """The pyproject requirements a lock is compiled from: runtime dependencies plus `extras`."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    return requirements


def source_hash(extras: tuple[str, ...]) -> str:
    # Whitespace and order do not matter; any change of a name, extra, specifier or marker does.
    normalised = sorted("".join(r.split()).lower() for r in source_requirements(extras))
    return hashlib.sha256(json.dumps(normalised).encode()).hexdigest()


def uv() -> str:
    venv = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tpg" / f"uv-{UV_VERSION}"
    exe = venv / "bin" / "uv"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
        pip = str(venv / "bin" / "pip")
        subprocess.run([pip, "install", "-qq", f"uv=={UV_VERSION}"], check=True)  # noqa: S603
    return str(exe)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--upgrade", action="store_true", help="newest allowed versions of everything")
    parser.add_argument("--upgrade-package", action="append", default=[], metavar="NAME")
    args = parser.parse_args()
    exe = uv()
    for name, (extras, target) in LOCKS.items():
        path = ROOT / name
        command = [exe, "pip", "compile", "pyproject.toml", "--quiet", "--generate-hashes"]
        command += [f"--extra={extra}" for extra in extras] + list(target)
        command += ["--custom-compile-command", "make lock", "--output-file", name]
        command += ["--upgrade"] if args.upgrade else []
        command += [f"--upgrade-package={p}" for p in args.upgrade_package]
        subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "UV_NO_CONFIG": "1"})  # noqa: S603
        lines = path.read_text().splitlines(keepends=True)
        lines = [line for line in lines if not line.startswith(HASH_PREFIX)]
        at = next(i for i, line in enumerate(lines) if not line.startswith("#"))
        lines.insert(at, f"{HASH_PREFIX}{source_hash(extras)}\n")
        path.write_text("".join(lines))
        print(f"lock: {name}")


if __name__ == "__main__":
    main()
