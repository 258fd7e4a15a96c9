"""The demo page in headless Chromium against the local stack: the paths a user takes."""

from __future__ import annotations

import re
from typing import Any

from tests.browser.conftest import POLL_MS, SCREENSHOTS
from tpg_local.client import call

PERSONA = "hypertrophy_hannah"


def _open(page: Any) -> None:
    page.goto(f"/?pollMs={POLL_MS}")


def _sign_in(page: Any, persona: str = PERSONA) -> str:
    """Choose a persona, review its onboarding; returns the seeded user id."""
    _open(page)
    page.get_by_label("Persona", exact=True).select_option(persona)
    page.get_by_role("button", name="Sign in as this persona").click()
    onboarding = page.locator("#onboarding-step")
    onboarding.wait_for()
    assert page.evaluate("document.activeElement.id") == "onboarding-heading"
    return page.locator("#session-user").inner_text()


def _record_progress(page: Any) -> None:
    """Keep every progress value the page shows (the test reads them at the end)."""
    page.evaluate(
        """() => {
          window.__progressSeen = [];
          const shown = document.getElementById("progress-value");
          new MutationObserver(() => window.__progressSeen.push(shown.textContent))
            .observe(shown, { childList: true, characterData: true, subtree: true });
        }"""
    )


def _expect_program(page: Any, name: str | None = None) -> Any:
    program = page.locator("#program-step")
    program.wait_for(timeout=20_000)
    if name:
        assert page.locator("#program-heading").inner_text() == name
    return program


def test_happy_path_from_persona_to_a_readable_program(page: Any, generation_latency: Any) -> None:
    generation_latency(2.0)
    _sign_in(page)
    facts = page.locator("#onboarding-data").inner_text()
    assert "Hypertrophy" in facts and "4 days a week, 60 minutes a session" in facts
    assert "Barbell back squat: 70 kg × 6" in facts

    page.get_by_label("Program name").fill("Block one")
    page.get_by_label("Weeks", exact=True).select_option("3")
    _record_progress(page)
    page.get_by_role("button", name="Generate my program").click()

    # While it runs: the live status names the stage, the bar moves, the button waits.
    page.wait_for_selector("#status-step[data-stage='generating']")
    assert page.get_by_role("button", name="Generate my program").is_disabled()
    assert page.get_by_role("status").inner_text() == "Generating your program…"
    assert page.locator("#stage-list li[aria-current='step']").inner_text() == "Generating"

    program = _expect_program(page, "Block one")
    assert page.evaluate("document.activeElement.id") == "program-heading"
    assert page.get_by_role("status").inner_text() == "Your program is ready."
    assert page.locator("#progress-value").inner_text() == "100%"
    seen = [int(text.rstrip("%")) for text in page.evaluate("() => window.__progressSeen")]
    assert seen == sorted(seen) and any(0 < value < 100 for value in seen), seen
    assert "3 weeks" in page.locator("#program-facts").inner_text()

    weeks = program.locator("details.week")
    assert weeks.count() == 3 and weeks.nth(0).get_attribute("open") is not None
    first_week = weeks.nth(0)
    assert first_week.locator("section.day").count() == 4
    day = first_week.locator("section.day").first
    headers = day.locator("thead th").all_inner_texts()
    assert [h.lower() for h in headers][:5] == ["exercise", "sets", "reps", "effort", "rest"]
    row = day.locator("tbody tr").first.locator("th, td").all_inner_texts()
    assert row[0] and re.fullmatch(r"\d+", row[1]) and re.fullmatch(r"\d+(–\d+)?", row[2])
    assert re.fullmatch(r"\d RIR", row[3]) and re.fullmatch(r"\d+ (min|s)( \d+ s)?", row[4])
    assert page.get_by_role("table", name=re.compile(r"^Day 1: ")).first.is_visible()

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("document.activeElement.blur()")
    program.screenshot(path=str(SCREENSHOTS / "program.png"))
    page.screenshot(path=str(SCREENSHOTS / "page.png"), full_page=True)


def test_a_failed_generation_shows_its_error_and_retry_completes_it(page: Any, sql: Any) -> None:
    user_id = _sign_in(page)
    # The database stores this lift history; the pipeline rejects it as INVALID_USER_DATA, for good.
    sql.execute(
        "UPDATE onboarding_responses SET lifts = %s::jsonb WHERE user_id = %s",
        ('[{"exercise_id": "barbell_back_squat", "weight_kg": -20, "reps": 5}]', user_id),
    )
    page.get_by_role("button", name="Generate my program").click()

    page.locator("#error-panel").wait_for(timeout=20_000)
    assert page.locator("#error-code").inner_text() == "INVALID_USER_DATA"
    assert "onboarding answers" in page.locator("#error-message").inner_text()
    assert page.evaluate("document.activeElement.id") == "error-heading"
    assert page.get_by_role("status").inner_text() == "Generation failed."
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#status-step").screenshot(path=str(SCREENSHOTS / "failed.png"))

    sql.execute("UPDATE onboarding_responses SET lifts = '[]' WHERE user_id = %s", (user_id,))
    page.get_by_role("button", name="Retry").click()
    _expect_program(page)
    assert page.locator("#error-panel").is_hidden()
    programs = sql.execute("SELECT generation_status FROM training_programs WHERE user_id = %s", (user_id,))
    assert [r["generation_status"] for r in programs.fetchall()] == ["completed"]


def test_a_reload_mid_generation_resumes_polling(page: Any, sql: Any, generation_latency: Any) -> None:
    generation_latency(3.0)
    user_id = _sign_in(page)
    page.get_by_role("button", name="Generate my program").click()
    page.wait_for_selector("#status-step[data-status='processing']")

    page.reload()
    # The session and the in-flight program come back; polling goes on to the end.
    assert page.locator("#session-label").inner_text() == "Hypertrophy Hannah"
    page.wait_for_selector("#status-step[data-status='processing']")
    _expect_program(page)
    count = sql.execute("SELECT count(*) AS n FROM training_programs WHERE user_id = %s", (user_id,))
    assert count.fetchone()["n"] == 1


def test_a_409_in_flight_is_resumed_not_shown_as_an_error(
    page: Any, stack: Any, sql: Any, generation_latency: Any
) -> None:
    generation_latency(2.0)
    user_id = _sign_in(page)
    token = page.evaluate("JSON.parse(sessionStorage.getItem('tpg.session')).token")
    # Another tab (here: the API directly) started one; this tab has no idea.
    other = call(stack.url, "POST", "/programs", token=token, body={"name": "From the other tab"})
    assert other.status == 202

    page.get_by_role("button", name="Generate my program").click()
    page.wait_for_selector("#status-step[data-status='processing']")
    assert "already being generated" in page.locator("#status-note").inner_text()
    assert "From the other tab" in page.locator("#status-heading").inner_text()
    _expect_program(page, "From the other tab")
    count = sql.execute("SELECT count(*) AS n FROM training_programs WHERE user_id = %s", (user_id,))
    assert count.fetchone()["n"] == 1


def test_swagger_ui_renders_the_api_without_leaving_the_machine(page: Any, stack: Any) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/docs")
    page.locator(".opblock-summary-path", has_text="/programs/{program_id}/retry").wait_for()
    assert page.locator(".opblock").count() >= 4
    assert requested and all(url.startswith((stack.url, "data:")) for url in requested), requested
