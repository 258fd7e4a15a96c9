"""shared/requirements.txt (what the Lambda layer is built from) mirrors pyproject.toml's
runtime dependencies: same names, extras and version specifiers."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _normalised(lines: list[str]) -> dict[str, tuple[frozenset[str], str, str]]:
    found: dict[str, tuple[frozenset[str], str, str]] = {}
    for line in lines:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name not in found, f"{name} is listed twice"
        found[name] = (
            frozenset(requirement.extras),
            str(requirement.specifier),
            str(requirement.marker or ""),
        )
    return found


def _layer_requirements() -> list[str]:
    text = (ROOT / "shared" / "requirements.txt").read_text()
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return [line for line in lines if line]


def _project_dependencies() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def test_layer_requirements_mirror_the_project_dependencies() -> None:
    assert _normalised(_layer_requirements()) == _normalised(_project_dependencies())


def test_every_layer_requirement_is_bounded_below() -> None:
    # An unbounded requirement lets `sam build` pick anything, including a release the tests
    # never saw; a lower bound at least keeps known-bad old versions out.
    for line in _layer_requirements():
        assert any(spec.operator in (">=", "==", "~=") for spec in Requirement(line).specifier), line


def test_the_layer_installs_no_options_or_urls() -> None:
    # pip options (-e, --index-url) or direct URLs in the layer file would bypass the mirror.
    for line in _layer_requirements():
        assert not line.startswith("-"), line
        assert Requirement(line).url is None, line
