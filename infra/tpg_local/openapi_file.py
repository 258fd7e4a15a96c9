"""The API's OpenAPI document as a file in the repository: `clients/js/openapi.json`.

It is the document the API serves at `/openapi.json` (`tpg.api.openapi.build_document`), committed
so that the typed client's types (`clients/js/src/openapi.d.ts`, generated from it by
openapi-typescript) and anyone reading the repository see the contract without running the API.
`make openapi` rewrites both; tests/unit/test_openapi_file.py fails while the file is stale, and the
client's own check (`npm run check` in clients/js) while the types are.

    python -m tpg_local.openapi_file --write   # rewrite the file
    python -m tpg_local.openapi_file --check   # exit 1 with a diff when it is stale
    python -m tpg_local.openapi_file           # print the document
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path
from typing import Any

PUBLISHED = Path(__file__).resolve().parents[2] / "clients" / "js" / "openapi.json"


def document() -> dict[str, Any]:
    from tpg.api.openapi import build_document
    from tpg.api.routes import app

    return build_document(app)


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tpg_local.openapi_file", description=__doc__.split("\n")[0]
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help=f"rewrite {PUBLISHED.name}")
    action.add_argument("--check", action="store_true", help="exit 1 with a diff when the file is stale")
    args = parser.parse_args(argv)
    text = render(document())
    if args.write:
        PUBLISHED.write_text(text, encoding="utf-8")
        print(f"wrote {PUBLISHED}")
        return 0
    if args.check:
        current = PUBLISHED.read_text(encoding="utf-8") if PUBLISHED.exists() else ""
        if current == text:
            return 0
        sys.stdout.writelines(
            difflib.unified_diff(current.splitlines(True), text.splitlines(True), "committed", "api")
        )
        print("clients/js/openapi.json is stale: run `make openapi` and commit it", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
