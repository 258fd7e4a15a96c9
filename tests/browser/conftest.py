"""Browser tests: the demo page and the client package in headless Chromium (Debian's `chromium`)
driven by Playwright.

No browser is downloaded: Playwright launches the system Chromium by its path. Without Playwright
or Chromium the browser tests skip, unless TPG_REQUIRE_BROWSER=1 (CI), where they fail. The test
pages' own files (React for the client package's hook, axe-core) come from
tests/browser/node_modules (`npm ci` in tests/browser, which `make test` runs first): not from
clients/js, so an app that depends on the package never gets a second React from it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tpg_local.server import LocalStack
from tpg_local.wiring import Wiring

CHROMIUM = os.environ.get("TPG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
NODE_MODULES = ROOT / "tests" / "browser" / "node_modules"
POLL_MS = 200  # the page's poll interval in tests (?pollMs=); the default is 1000
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SMALL_PHONE = {"width": 360, "height": 780}


def _unavailable(reason: str) -> None:
    if os.environ.get("TPG_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}; TPG_REQUIRE_BROWSER=1 requires the browser tests to run", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install -e '.[dev]')")
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set TPG_CHROMIUM)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def local_stack(**options: Any) -> LocalStack:
    """A LocalStack built on another thread: it binds its WebSocket API with an event loop of its
    own, and Playwright's sync API keeps one running on this thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(LocalStack, **options).result()


@pytest.fixture
def stack(handlers: Wiring) -> Iterator[LocalStack]:
    with local_stack(port=0, sweep_interval=0.5, settings=handlers.settings) as running:
        yield running


@pytest.fixture
def generation_latency(stack: LocalStack) -> Callable[[float], None]:
    """Make the offline engine take this long, like an LLM call (from the next generation on)."""

    def set_latency(seconds: float) -> None:
        stack.wiring.update(settings=stack.settings.model_copy(update={"offline_latency_seconds": seconds}))

    return set_latency


class PageErrors(list):
    """Console errors and uncaught exceptions seen by the page (CSP violations included)."""


_API_PATHS = ("/programs", "/realtime/")


def _unexpected(message: Any) -> bool:
    # Chromium logs every 4xx answer to fetch; the API's (409 in flight, 402, 429, ...) are states
    # the page handles. Any other error, a 4xx of the page's own files included, is a failure.
    if message.type != "error":
        return False
    url = (message.location or {}).get("url", "")
    api_refusal = re.search(r"status of 4\d\d", message.text) and urlsplit(url).path.startswith(_API_PATHS)
    return not api_refusal


def node_module(relative: str) -> Path:
    """A file of the browser tests' npm packages (`npm ci` in tests/browser)."""
    path = NODE_MODULES / relative
    if not path.is_file():
        _unavailable(f"{path} is missing: run `npm ci` in tests/browser (make test does)")
    return path


@pytest.fixture
def open_page(browser: Any, stack: LocalStack) -> Iterator[Callable[..., Any]]:
    """Open a page on the stack in a new context (a viewport, reduced motion so scrolling is
    immediate); each page fails its test if it logged an error."""
    opened: list[tuple[Any, PageErrors]] = []

    def open_one(viewport: dict[str, int] = DESKTOP) -> Any:
        context = browser.new_context(viewport=viewport, base_url=stack.url, reduced_motion="reduce")
        context.set_default_timeout(10_000)
        new = context.new_page()
        errors = PageErrors()
        new.on("console", lambda msg: errors.append(msg.text) if _unexpected(msg) else None)
        new.on("pageerror", lambda exc: errors.append(str(exc)))
        new.errors = errors
        opened.append((context, errors))
        return new

    yield open_one
    for context, _ in opened:
        context.close()
    logged = [error for _, errors in opened for error in errors]
    assert not logged, f"the page logged errors: {logged}"


@pytest.fixture
def page(open_page: Callable[..., Any]) -> Any:
    return open_page(DESKTOP)


def _serve(path: Path, content_type: str = "text/javascript") -> Callable[[Any], None]:
    """A Playwright route handler that answers with a local file."""
    return lambda route: route.fulfill(path=str(path), content_type=content_type)


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is (axe is served from the page's
    own origin, so its CSP need not be bypassed)."""
    axe = node_module("axe-core/axe.min.js")
    page.route("**/__test/axe.min.js", _serve(axe))
    page.add_script_tag(url="/__test/axe.min.js")
    result = page.evaluate(
        """async () => {
          const r = await axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] });
          return r.violations.map(v => ({ id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target) }));
        }"""
    )
    return list(result)


def horizontal_overflow(page: Any) -> list[str]:
    """Elements that stick out of the viewport to the right (a horizontal scrollbar), if any."""
    return list(
        page.evaluate(
            """() => {
              const width = document.documentElement.clientWidth;
              if (document.documentElement.scrollWidth <= width) return [];
              return [...document.querySelectorAll("body *")]
                .filter(e => e.getClientRects().length && e.getBoundingClientRect().right > width + 1)
                .slice(0, 10)
                .map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + "." + e.className);
            }"""
        )
    )


# Each exercise cell against its own box, its row (a card on a phone) and its day: content wider
# than its cell, a cell outside its row, a row outside its day, a word broken across two lines.
_TABLE_LAYOUT = """() => {
  const problems = [];
  const box = (e) => e.getBoundingClientRect();
  const name = (cell) => `${cell.closest("tr").cells[0].textContent} / ${cell.dataset.label || "Exercise"}`;
  for (const table of document.querySelectorAll("table.exercises")) {
    if (!table.getClientRects().length) continue;  // a closed week
    const day = box(table.closest(".day"));
    for (const row of table.querySelectorAll("tbody tr")) {
      const r = box(row);
      if (r.left < day.left - 1 || r.right > day.right + 1) {
        problems.push(`row outside its day: ${row.cells[0].textContent}`);
      }
      for (const cell of row.cells) {
        if (!cell.getClientRects().length) continue;
        const c = box(cell);
        if (cell.scrollWidth > cell.clientWidth + 1) {
          problems.push(`wider than its cell: ${name(cell)}: ${cell.textContent}`);
        }
        if (c.left < r.left - 1 || c.right > r.right + 1) problems.push(`outside its row: ${name(cell)}`);
        const text = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
        for (let node = text.nextNode(); node; node = text.nextNode()) {
          for (const word of node.data.matchAll(/\\S+/g)) {
            const range = document.createRange();
            range.setStart(node, word.index);
            range.setEnd(node, word.index + word[0].length);
            const lines = new Set([...range.getClientRects()].map((rect) => Math.round(rect.top)));
            if (lines.size > 1) problems.push(`word split across lines: ${name(cell)}: ${word[0]}`);
          }
        }
      }
    }
  }
  return problems;
}"""


def table_layout_problems(page: Any) -> list[str]:
    """What does not fit in the program's exercise tables (or cards) as laid out now."""
    return list(page.evaluate(_TABLE_LAYOUT))
