#!/usr/bin/env bash
# SAM CLI helpers for `make validate`, `make build` and CI. No AWS account, no Docker; PyPI only.
#
#   infra/sam_tools.sh install    SAM CLI (pinned, cfn-lint included) into a venv outside the repo
#   infra/sam_tools.sh validate   sam validate --lint (cfn-lint)
#   infra/sam_tools.sh build      sam build: the arm64 layer from PyPI's aarch64 wheels, no container
#
# Environment: SAM_VENV (venv path), SAM_PYTHON (python for that venv, default python3.11),
# PYTHON312 (a python3.12 for the build; default: pyenv's 3.12.x, then python3.12 on PATH).
set -euo pipefail

SAM_CLI_VERSION=1.170.0
CFN_LINT_VERSION=1.58.0   # pinned too: a new cfn-lint release must not turn CI red by itself
REGION=eu-west-1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SAM_VENV=${SAM_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/tpg/sam-cli-$SAM_CLI_VERSION}
SAM_PYTHON=${SAM_PYTHON:-python3.11}
SAM="$SAM_VENV/bin/sam"
export SAM_CLI_TELEMETRY=0

die() { echo "sam_tools: $*" >&2; exit 1; }

install() {
    if [ -x "$SAM" ] && "$SAM" --version 2>/dev/null | grep -q "$SAM_CLI_VERSION"; then
        return 0
    fi
    command -v "$SAM_PYTHON" >/dev/null || die "$SAM_PYTHON not found (set SAM_PYTHON)"
    echo "sam_tools: installing aws-sam-cli $SAM_CLI_VERSION into $SAM_VENV"
    rm -rf "$SAM_VENV"
    "$SAM_PYTHON" -m venv "$SAM_VENV"
    "$SAM_VENV/bin/pip" install -qq --upgrade pip
    "$SAM_VENV/bin/pip" install -qq "aws-sam-cli==$SAM_CLI_VERSION" "cfn-lint==$CFN_LINT_VERSION"
    "$SAM" --version
}

# SAM's python3.12 builder looks for `python`/`python3` on PATH and checks its version, so put a
# directory whose python3 is 3.12 first on PATH. Wrapper scripts, not symlinks, and not inside the
# SAM venv: a symlinked python next to a pyvenv.cfg would take that venv (3.11) for its own.
py312_dir() {
    local candidates=() py real
    [ -n "${PYTHON312:-}" ] && candidates+=("$PYTHON312")
    if command -v pyenv >/dev/null; then
        for py in "$(pyenv root)"/versions/3.12*/bin/python3.12; do candidates+=("$py"); done
    fi
    candidates+=("$(command -v python3.12 || true)")
    for py in "${candidates[@]}"; do
        [ -n "$py" ] && [ -x "$py" ] || continue
        real=$("$py" -c 'import sys; assert sys.version_info[:2] == (3, 12); print(sys.executable)' \
            2>/dev/null) || continue
        local dir="$SAM_VENV-py312" name
        mkdir -p "$dir"
        for name in python python3; do
            printf '#!/bin/sh\nexec "%s" "$@"\n' "$real" >"$dir/$name"
            chmod +x "$dir/$name"
        done
        echo "$dir"
        return 0
    done
    die "no python3.12 found (set PYTHON312=/path/to/python3.12)"
}

validate() {
    install
    cd "$ROOT"
    "$SAM" validate --lint --region "$REGION"
}

build() {
    install
    local bin
    bin=$(py312_dir)
    cd "$ROOT"
    PATH="$bin:$PATH" "$SAM" build --region "$REGION" "$@"
    check_layer
}

# Fail if any native file in the built layer is not aarch64 (a wheel built locally from an sdist
# would be x86_64 here and crash on Graviton), and print the sizes that Lambda limits
# (250 MB unzipped for function + layers).
check_layer() {
    "$SAM_VENV/bin/python" - "$ROOT/.aws-sam/build/TpgLayer" <<'PY'
import io, os, sys, zipfile
root = sys.argv[1]
bad, total, buf = [], 0, io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            total += os.path.getsize(p)
            zf.write(p, os.path.relpath(p, root))
            with open(p, "rb") as fh:
                head = fh.read(20)
            if head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") != 0xB7:
                bad.append(os.path.relpath(p, root))
print(f"sam_tools: layer {total / 1e6:.1f} MB unzipped, {buf.tell() / 1e6:.1f} MB zipped")
if bad:
    sys.exit("sam_tools: non-aarch64 binaries in the layer: " + ", ".join(bad[:10]))
PY
}

case "${1:-}" in
    install) install ;;
    validate) validate ;;
    build) shift; build "$@" ;;
    *) die "usage: $0 install|validate|build [sam build options]" ;;
esac
