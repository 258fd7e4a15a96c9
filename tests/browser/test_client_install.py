"""The client package installed into an app the way docs/frontend.md says: the hook runs on the
app's React. Its React (the browser tests' own, tests/browser/node_modules) is the app's; the
package must bring none: two copies of React break every hook ("Invalid hook call")."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.browser.conftest import NODE_MODULES, ROOT, node_module

PACKAGE = ROOT / "clients" / "js"
REACT_PACKAGES = ("react", "react-dom", "scheduler", "loose-envify", "js-tokens")

APP = """
import { createElement } from "react";
import { renderToString } from "react-dom/server";
import { TpgClient } from "@tpg/client";
import { useProgramGeneration } from "@tpg/client/react";

const client = new TpgClient({ baseUrl: "http://127.0.0.1:9", storage: null, realtime: false });
function App() {
  const g = useProgramGeneration(client, { resume: false });
  return createElement("p", null, `${g.phase}:${g.status}:${g.progress}`);
}
process.stdout.write(renderToString(createElement(App)));
"""


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (Node.js 18+ with npm)")
    return found


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_the_package_folder_brings_no_react_of_its_own() -> None:
    """React is an optional peer only; with the package's own development tools installed (`npm ci`
    in clients/js), nothing named react is found from inside the folder, so a bundler that follows
    a `file:` link to its real path cannot load a second React from there."""
    manifest = json.loads((PACKAGE / "package.json").read_text())
    for group in ("dependencies", "devDependencies", "optionalDependencies"):
        assert not set(manifest.get(group, {})) & {"react", "react-dom"}, group
    assert manifest["peerDependenciesMeta"]["react"]["optional"] is True
    node = _tool("node")
    probe = (
        "const { createRequire } = require('node:module');"
        "try { process.stdout.write(createRequire(process.argv[1]).resolve('react')); } catch { }"
    )
    found = _run([node, "-e", probe, str(PACKAGE / "src" / "react.js")], PACKAGE).stdout
    assert not found.startswith(str(PACKAGE)), found


def test_an_app_that_installs_the_packed_package_runs_the_hook_on_its_own_react(tmp_path: Path) -> None:
    node_module("react/index.js")  # the browser tests' npm packages: the app's React here
    npm, node = _tool("npm"), _tool("node")
    packed = _run([npm, "pack", "--json", "--pack-destination", str(tmp_path)], PACKAGE)
    assert packed.returncode == 0, packed.stderr
    tarball = tmp_path / json.loads(packed.stdout)[0]["filename"]
    app = tmp_path / "app"
    installed = app / "node_modules" / "@tpg" / "client"
    installed.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
        assert not [n for n in names if "node_modules" in n], names
        archive.extractall(installed.parent, filter="data")
    (installed.parent / "package").rename(installed)
    for name in REACT_PACKAGES:
        (app / "node_modules" / name).symlink_to(NODE_MODULES / name, target_is_directory=True)
    (app / "package.json").write_text('{"private": true, "type": "module"}')
    (app / "app.js").write_text(APP)

    rendered = _run([node, "app.js"], app)
    assert "Invalid hook call" not in rendered.stderr, rendered.stderr
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout == "<p>idle:null:0</p>"
