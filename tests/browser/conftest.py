"""Browser tests: the demo page in headless Chromium (Debian's `chromium`) driven by Playwright.

No browser is downloaded: Playwright launches the system Chromium by its path. Without Playwright
or Chromium the browser tests skip, unless TPG_REQUIRE_BROWSER=1 (CI), where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
POLL_MS = 200  # the page's poll interval in tests (?pollMs=); the default is 1000


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


@pytest.fixture
def stack(handlers: Wiring) -> Iterator[LocalStack]:
    with LocalStack(port=0, sweep_interval=0.5, settings=handlers.settings) as running:
        yield running


@pytest.fixture
def generation_latency(stack: LocalStack) -> Callable[[float], None]:
    """Make the offline engine take this long, like an LLM call (from the next generation on)."""

    def set_latency(seconds: float) -> None:
        stack.wiring.update(settings=stack.settings.model_copy(update={"offline_latency_seconds": seconds}))

    return set_latency


class PageErrors(list):
    """Console errors and uncaught exceptions seen by the page (CSP violations included)."""


def _unexpected(message: Any) -> bool:
    # Chromium logs every 4xx answer to fetch; a 409 is the API's expected "already in flight".
    return message.type == "error" and "status of 409" not in message.text


@pytest.fixture
def page(browser: Any, stack: LocalStack) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=stack.url)
    context.set_default_timeout(10_000)
    opened = context.new_page()
    errors = PageErrors()
    opened.on("console", lambda msg: errors.append(msg.text) if _unexpected(msg) else None)
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.errors = errors
    yield opened
    context.close()
    assert not errors, f"the page logged errors: {errors}"
