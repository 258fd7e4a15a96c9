"""The demo page in headless Chromium against the local stack: the paths a user takes, on a
desktop (1280x900) and a phone (390x844) viewport, with axe-core's WCAG checks on each view."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    POLL_MS,
    SCREENSHOTS,
    SMALL_PHONE,
    axe_violations,
    horizontal_overflow,
    table_layout_problems,
)
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


def _top(page: Any, selector: str) -> float:
    return float(page.evaluate(f"document.querySelector({selector!r}).getBoundingClientRect().top"))


def _in_view(page: Any, selector: str) -> bool:
    """The element is entirely within the viewport."""
    return bool(
        page.evaluate(
            f"""() => {{
              const r = document.querySelector({selector!r}).getBoundingClientRect();
              return r.top > -2 && r.left > -2 && r.bottom < innerHeight + 2 && r.right < innerWidth + 2;
            }}"""
        )
    )


def _screenshot(page: Any, name: str, locator: Any = None) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("document.activeElement.blur()")
    (locator or page).screenshot(path=str(SCREENSHOTS / name), **({} if locator else {"full_page": True}))


def _no_violations(page: Any, view: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"axe on the {view} view: {violations}"


def test_happy_path_from_persona_to_a_readable_program(page: Any, generation_latency: Any) -> None:
    generation_latency(2.0)
    _sign_in(page)
    facts = page.locator("#onboarding-data").inner_text()
    assert "Hypertrophy" in facts and "4 days a week, 60 minutes a session" in facts
    assert "Barbell back squat: 70 kg × 6" in facts
    _no_violations(page, "onboarding")

    page.get_by_label("Program name").fill("Block one")
    page.get_by_label("Weeks", exact=True).select_option("3")
    _record_progress(page)
    page.get_by_role("button", name="Generate my program").click()

    # While it runs: the live status names the stage, the bar moves, the button waits, and the
    # whole status card is in view (as high as the page lets it scroll), not at its bottom edge.
    page.wait_for_selector("#status-step[data-stage='generating']")
    assert page.get_by_role("button", name="Generate my program").is_disabled()
    assert page.get_by_role("status").inner_text() == "Generating your program…"
    assert page.locator("#stage-list li[aria-current='step']").inner_text() == "Generating"
    assert page.get_by_role("button", name="Cancel generation").is_visible()
    assert _in_view(page, "#status-step")
    _no_violations(page, "status")

    program = _expect_program(page, "Block one")
    assert page.evaluate("document.activeElement.id") == "program-heading"
    assert -2 < _top(page, "#program-step") < 120  # the program's heading at the top of the view
    assert page.get_by_role("status").inner_text() == "Your program is ready."
    assert page.locator("#progress-value").inner_text() == "100%"
    assert page.get_by_role("button", name="Cancel generation").is_hidden()
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
    assert horizontal_overflow(page) == []
    _no_violations(page, "program")

    _screenshot(page, "program.png", program)
    _screenshot(page, "page.png")


def test_on_a_phone_progress_is_in_view_and_the_exercises_are_cards(
    open_page: Any, generation_latency: Any
) -> None:
    generation_latency(2.0)
    page = open_page(PHONE)
    _sign_in(page)
    assert horizontal_overflow(page) == []
    _no_violations(page, "onboarding (phone)")

    page.get_by_role("button", name="Generate my program").click()
    page.wait_for_selector("#status-step[data-status='processing']")
    # After the tap the progress is where the thumb is: in view, not below the form.
    assert _in_view(page, "#progress-bar") and _top(page, "#status-step") > -2
    assert horizontal_overflow(page) == []
    _screenshot(page, "phone-status.png")

    program = _expect_program(page)
    assert -2 < _top(page, "#program-step") < 100
    day = program.locator("details.week").first.locator("section.day").first
    table = day.locator("table.exercises")
    # Each exercise is a card: its name on top, every value under its column's name; the table
    # is still a table to assistive technology.
    assert day.locator("thead").bounding_box()["height"] <= 1
    first = table.locator("tbody tr").first
    assert first.evaluate("tr => getComputedStyle(tr).display") == "grid"
    labels = first.locator("td").evaluate_all("tds => tds.map(c => getComputedStyle(c, '::before').content)")
    assert labels[:4] == ['"Sets"', '"Reps"', '"Effort"', '"Rest"'], labels
    assert page.get_by_role("table", name=re.compile(r"^Day 1: ")).first.is_visible()
    assert page.get_by_role("rowheader").first.is_visible()
    card, cell = first.bounding_box(), day.bounding_box()
    assert card["x"] >= cell["x"] and card["x"] + card["width"] <= cell["x"] + cell["width"] + 0.5
    assert horizontal_overflow(page) == [], horizontal_overflow(page)
    _no_violations(page, "program (phone)")
    _screenshot(page, "phone-program.png")
    _screenshot(page, "phone-day.png", day)


def test_every_exercise_fits_its_cell_on_phones_and_desktop(page: Any, generation_latency: Any) -> None:
    """Each cell against its row (a card on a phone), not only the page's width: at 360 and 390 px
    a rest of "1 min 30 s" stays inside its card; at 1280 px the notes column is wide enough that
    no word is broken. The persona's program has notes and rests of 1 min 30 s."""
    generation_latency(0.3)
    _sign_in(page, "golden_gym_greta")
    page.get_by_role("button", name="Generate my program").click()
    program = _expect_program(page)
    assert program.locator("td.notes:not(.empty)").count() > 0
    assert program.locator("td[data-label='Rest']", has_text="1 min 30 s").count() > 0
    for viewport in (SMALL_PHONE, PHONE, DESKTOP):
        page.set_viewport_size(viewport)
        page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
        where = f"{viewport['width']}x{viewport['height']}"
        assert table_layout_problems(page) == [], where
        assert horizontal_overflow(page) == [], where
        if viewport is DESKTOP:
            notes = page.locator("table.exercises.with-notes thead th").last.bounding_box()
            assert notes["width"] >= 200, (where, notes)  # not a sliver beside fixed columns


def test_a_failure_only_new_data_can_fix_asks_for_it_then_retry_completes(page: Any, sql: Any) -> None:
    user_id = _sign_in(page)
    # The database stores this lift history; the pipeline rejects it as INVALID_USER_DATA, for good.
    sql.execute(
        "UPDATE onboarding_responses SET lifts = %s::jsonb WHERE user_id = %s",
        ('[{"exercise_id": "barbell_back_squat", "weight_kg": -20, "reps": 5}]', user_id),
    )
    page.get_by_role("button", name="Generate my program").click()

    panel = page.locator("#error-panel")
    panel.wait_for(timeout=20_000)
    assert panel.get_attribute("data-kind") == "fix"
    assert page.locator("#error-heading").inner_text() == "Your data needs fixing"
    assert page.locator("#error-code").inner_text() == "INVALID_USER_DATA"
    message = page.locator("#error-message").inner_text()
    assert message == "Some of your profile or onboarding answers cannot be used. Review them, then retry."
    assert page.evaluate("document.activeElement.id") == "error-heading"
    # One state, not a failure beside an empty progress bar.
    assert page.locator("#progress-bar").is_hidden() and page.locator("#stage-list").is_hidden()
    assert page.get_by_role("button", name="Review your onboarding").is_visible()
    _no_violations(page, "failure")
    _screenshot(page, "failed.png", page.locator("#status-step"))

    page.get_by_role("button", name="Review your onboarding").click()
    assert page.evaluate("document.activeElement.id") == "onboarding-heading"
    sql.execute("UPDATE onboarding_responses SET lifts = '[]' WHERE user_id = %s", (user_id,))
    page.get_by_role("button", name="Retry after fixing").click()
    _expect_program(page)
    assert page.locator("#error-panel").is_hidden()
    programs = sql.execute("SELECT generation_status FROM training_programs WHERE user_id = %s", (user_id,))
    assert [r["generation_status"] for r in programs.fetchall()] == ["completed"]


def test_cancel_stops_a_running_generation_and_it_can_be_started_again(
    page: Any, sql: Any, generation_latency: Any
) -> None:
    generation_latency(6.0)
    user_id = _sign_in(page)
    page.get_by_role("button", name="Generate my program").click()
    page.wait_for_selector("#status-step[data-stage='generating']")
    page.get_by_role("button", name="Cancel generation").click()

    panel = page.locator("#error-panel")
    panel.wait_for(timeout=15_000)
    assert panel.get_attribute("data-kind") == "cancelled"
    assert page.locator("#error-heading").inner_text() == "Generation cancelled"
    assert page.locator("#error-code").inner_text() == "CANCELLED"
    assert page.get_by_role("button", name="Cancel generation").is_hidden()
    assert page.locator("#progress-bar").is_hidden()
    assert page.get_by_role("button", name="Generate my program").is_enabled()
    row = sql.execute("SELECT generation_status FROM training_programs WHERE user_id = %s", (user_id,))
    assert row.fetchone()["generation_status"] == "cancelled"
    _no_violations(page, "cancelled")

    generation_latency(0.5)
    page.get_by_role("button", name="Start it again").click()
    _expect_program(page)


def test_a_cancel_that_comes_too_late_says_so_and_shows_the_outcome(
    page: Any, stack: Any, generation_latency: Any
) -> None:
    generation_latency(2.0)
    _sign_in(page)
    # The generation finished between the click and the answer: the API says 409.
    page.route(
        f"{stack.url}/programs/*/cancel",
        lambda route: route.fulfill(
            status=409,
            content_type="application/json",
            body='{"error": {"code": "PROGRAM_ALREADY_FINAL", "message": "Already finished."}}',
        ),
    )
    page.get_by_role("button", name="Generate my program").click()
    page.wait_for_selector("#status-step[data-stage='generating']")
    page.get_by_role("button", name="Cancel generation").click()
    page.locator("#status-note", has_text="It had already finished.").wait_for()
    _expect_program(page)


def test_retry_while_another_generation_runs_follows_that_one(
    page: Any, stack: Any, generation_latency: Any
) -> None:
    generation_latency(6.0)
    _sign_in(page)
    page.get_by_role("button", name="Generate my program").click()
    page.wait_for_selector("#status-step[data-stage='generating']")
    page.get_by_role("button", name="Cancel generation").click()
    page.locator("#error-panel[data-kind='cancelled']").wait_for(timeout=15_000)
    # Meanwhile another tab started one: retrying this one answers 409 GENERATION_IN_FLIGHT.
    generation_latency(1.0)
    token = page.evaluate("JSON.parse(sessionStorage.getItem('tpg.session')).token")
    other = call(stack.url, "POST", "/programs", token=token, body={"name": "From the other tab"})
    assert other.status == 202
    page.get_by_role("button", name="Start it again").click()
    page.locator("#status-note", has_text="already being generated").wait_for()
    assert page.locator("#start-problem").is_hidden()  # not "Something went wrong"
    _expect_program(page, "From the other tab")
    page.errors.clear()  # Chromium logs the 409: expected here


def test_a_throttled_start_says_so_and_trying_again_works(
    page: Any, stack: Any, generation_latency: Any
) -> None:
    """API Gateway's own throttle: 429 with `{"message"}` and no code (the client's HTTP_ERROR)."""
    generation_latency(0.3)
    _sign_in(page)
    page.route(
        f"{stack.url}/programs",
        lambda route: (
            route.fulfill(
                status=429, content_type="application/json", body='{"message": "Too Many Requests"}'
            )
            if route.request.method == "POST"
            else route.continue_()
        ),
    )
    page.get_by_role("button", name="Generate my program").click()
    problem = page.locator("#start-problem")
    problem.wait_for()
    assert page.locator("#start-problem-heading").inner_text() == "Too many requests right now"
    assert page.locator("#start-problem-code").inner_text() == "HTTP 429"
    page.unroute(f"{stack.url}/programs")
    page.get_by_role("button", name="Try again").click()
    _expect_program(page)
    page.errors.clear()  # Chromium logs the 429: expected here


ARRANGE = {
    "subscribe": "DELETE FROM subscriptions WHERE user_id = %(user)s",
    "profile": "UPDATE onboarding_responses SET completed_at = NULL WHERE user_id = %(user)s",
    "quota": """
        INSERT INTO subscription_tiers (tier, daily_generation_quota) VALUES ('browser_test_none', 0)
        ON CONFLICT (tier) DO UPDATE SET daily_generation_quota = 0;
        UPDATE subscriptions SET tier = 'browser_test_none' WHERE user_id = %(user)s""",
}


@pytest.mark.parametrize(
    ("kind", "code", "title", "button"),
    [
        ("subscribe", "SUBSCRIPTION_REQUIRED", "A subscription is needed", "Choose another persona"),
        ("profile", "ONBOARDING_INCOMPLETE", "Complete your profile first", "Choose another persona"),
        ("quota", "QUOTA_EXCEEDED", "Today's limit is reached", None),
    ],
)
def test_a_generation_that_cannot_start_says_what_to_do_not_a_stalled_job(
    page: Any, sql: Any, kind: str, code: str, title: str, button: str | None
) -> None:
    user_id = _sign_in(page)
    for statement in ARRANGE[kind].split(";"):
        sql.execute(statement, {"user": user_id})
    page.get_by_role("button", name="Generate my program").click()

    problem = page.locator("#start-problem")
    problem.wait_for()
    assert problem.get_attribute("data-kind") == kind
    assert page.locator("#start-problem-heading").inner_text() == title
    assert page.locator("#start-problem-code").inner_text() == code
    assert page.locator("#status-step").is_hidden()  # no 0% bar, no stages
    assert page.get_by_role("button", name="Generate my program").is_enabled()
    if kind == "quota":
        assert re.search(r"next one at \d", page.locator("#start-problem-message").inner_text())
    if button:
        page.get_by_role("button", name=button).click()
        assert page.get_by_label("Persona", exact=True).is_visible()
    else:
        _no_violations(page, f"{kind} problem")


def test_a_reload_mid_generation_resumes_following(page: Any, sql: Any, generation_latency: Any) -> None:
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
