"""The local stack's own routes over HTTP (no browser needed): page, static files, Swagger UI
assets, dev sessions. Everything else still goes through the trigger handler."""

from __future__ import annotations

import urllib.request

from tpg_local.client import call
from tpg_local.server import LocalStack
from tpg_local.wiring import Wiring


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - local URL
        return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()


def test_the_page_and_its_assets_are_served(stack: LocalStack) -> None:
    status, headers, body = _get(stack.url + "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in headers["content-security-policy"]
    assert b'src="/static/tpg-client.js"' in body
    for name, kind in [
        ("app.js", "text/javascript"),
        ("tpg-client.js", "text/javascript"),
        ("app.css", "text/css"),
    ]:
        status, headers, _ = _get(f"{stack.url}/static/{name}")
        assert status == 200 and headers["content-type"].startswith(kind)
        assert headers["x-content-type-options"] == "nosniff"


def test_static_paths_cannot_leave_the_static_folder(stack: LocalStack) -> None:
    for path in (
        "/static/../server.py",
        "/static/..%2Fserver.py",
        "/static/.hidden",
        "/static/",
        "/static/x/y",
    ):
        response = call(stack.url, "GET", path)
        assert response.status == 404 and response.body["error"]["code"] == "NOT_FOUND", path


def test_swagger_ui_is_served_offline_for_the_openapi_document(stack: LocalStack) -> None:
    status, headers, body = _get(stack.url + "/docs")
    assert status == 200 and b"/docs/swagger-ui-bundle.min.js" in body and b"http" not in body.lower()
    for asset in ("swagger-ui-bundle.min.js", "swagger-ui.min.css"):
        status, _, payload = _get(f"{stack.url}/docs/{asset}")
        assert status == 200 and len(payload) > 10_000
    document = call(stack.url, "GET", "/openapi.json").body  # still the trigger's route
    assert document["openapi"].startswith("3.") and "/programs" in document["paths"]


def test_a_dev_session_seeds_a_persona_and_its_token_works(stack: LocalStack, sql) -> None:
    personas = call(stack.url, "GET", "/dev/personas").body["personas"]
    hannah = next(p for p in personas if p["name"] == "hypertrophy_hannah")
    assert hannah["onboarding"]["daysPerWeek"] == 4 and hannah["onboarding"]["goal"] == "hypertrophy"

    session = call(stack.url, "POST", "/dev/session", body={"persona": "hypertrophy_hannah"})
    assert session.status == 201 and session.body["onboarding"] == hannah["onboarding"]
    row = sql.execute(
        "SELECT days_per_week FROM onboarding_responses WHERE user_id = %s", (session.body["userId"],)
    ).fetchone()
    assert row == {"days_per_week": 4}
    listed = call(stack.url, "GET", "/programs", token=session.body["token"])
    assert listed.status == 200 and listed.body["items"] == []


def test_dev_session_errors(stack: LocalStack) -> None:
    unknown = call(stack.url, "POST", "/dev/session", body={"persona": "nobody"})
    assert unknown.status == 422 and unknown.body["error"]["code"] == "INVALID_REQUEST"
    malformed = call(stack.url, "POST", "/dev/session", raw_body=b"{nope")
    assert malformed.status == 400 and malformed.body["error"]["code"] == "MALFORMED_JSON"
    assert call(stack.url, "GET", "/dev/nothing").status == 404


def test_dev_sessions_can_be_switched_off(handlers: Wiring) -> None:
    with LocalStack(port=0, sweep_interval=None, dev_sessions=False, settings=handlers.settings) as stack:
        assert call(stack.url, "GET", "/dev/personas").status == 404
        assert call(stack.url, "POST", "/dev/session", body={"persona": "hypertrophy_hannah"}).status == 404
        assert call(stack.url, "GET", "/health").status == 200
