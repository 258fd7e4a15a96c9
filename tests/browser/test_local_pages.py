"""The local stack's own routes over HTTP (no browser needed): page, static files, the client
package, Swagger UI assets, dev sessions, and CORS in front of the API. Everything else still goes
through the trigger handler."""

from __future__ import annotations

import urllib.request
from typing import Any

from tests.browser.conftest import local_stack
from tests.support import new_user
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
    assert b'<script type="module" src="/static/app.js">' in body
    # The page talks to the API and to the local realtime WebSocket, nothing else.
    assert "connect-src 'self' ws://127.0.0.1:* ws://localhost:*;" in headers["content-security-policy"]
    for path, kind in [
        ("/static/app.js", "text/javascript"),
        ("/static/app.css", "text/css"),
        ("/client/index.js", "text/javascript"),  # the package, as the page imports it
        ("/client/react.js", "text/javascript"),
    ]:
        status, headers, _ = _get(stack.url + path)
        assert status == 200 and headers["content-type"].startswith(kind)
        assert headers["x-content-type-options"] == "nosniff"


def test_static_paths_cannot_leave_the_static_folder(stack: LocalStack) -> None:
    for path in (
        "/static/../server.py",
        "/static/..%2Fserver.py",
        "/static/.hidden",
        "/static/",
        "/static/x/y",
        "/client/index.d.ts",  # the package's modules only
        "/client/../package.json",
        "/client/..%2Fpackage.json",
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
    with local_stack(port=0, sweep_interval=None, dev_sessions=False, settings=handlers.settings) as stack:
        assert call(stack.url, "GET", "/dev/personas").status == 404
        assert call(stack.url, "POST", "/dev/session", body={"persona": "hypertrophy_hannah"}).status == 404
        assert call(stack.url, "GET", "/health").status == 200


def _preflight(stack: LocalStack, origin: str, path: str = "/programs") -> Any:
    return call(
        stack.url,
        "OPTIONS",
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_a_preflight_from_a_local_origin_is_answered_before_authentication(stack: LocalStack) -> None:
    answer = _preflight(stack, "http://localhost:5173")  # no token: a preflight never has one
    assert answer.status == 204 and answer.body is None
    assert answer.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert answer.headers["access-control-allow-methods"] == "GET, POST, OPTIONS"
    assert answer.headers["access-control-allow-headers"] == "authorization, content-type"
    assert answer.headers["access-control-max-age"] == "600" and answer.headers["vary"] == "Origin"
    for origin in ("http://127.0.0.1:8080", "http://[::1]:3000", "https://localhost"):
        assert _preflight(stack, origin, "/programs/x/retry").status == 204, origin


def test_the_api_answers_carry_the_allowed_origin_and_expose_location(stack: LocalStack, sql: Any) -> None:
    _, token = new_user(sql)
    origin = {"Origin": "http://localhost:5173"}
    created = call(stack.url, "POST", "/programs", token=token, body={}, headers=origin)
    assert created.status == 202
    assert created.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert created.headers["access-control-expose-headers"] == "location, retry-after"
    refused = call(stack.url, "GET", "/programs", headers=origin)  # a 401 is readable too
    assert refused.status == 401 and refused.headers["access-control-allow-origin"] == "http://localhost:5173"
    same_origin = call(stack.url, "GET", "/programs", token=token)
    assert "access-control-allow-origin" not in same_origin.headers


def test_origins_not_allowed_get_no_cors_and_dev_sessions_never_do(stack: LocalStack) -> None:
    for origin in ("https://evil.example", "http://localhost.evil.example", "null"):
        answer = _preflight(stack, origin)
        assert answer.status == 403 and answer.body["error"]["code"] == "CORS_ORIGIN_NOT_ALLOWED", origin
        assert "access-control-allow-origin" not in answer.headers
        assert (
            "access-control-allow-origin"
            not in call(stack.url, "GET", "/health", headers={"Origin": origin}).headers
        )
    # Tokens are minted for this machine's own page only: no other origin may read them.
    session = call(
        stack.url,
        "POST",
        "/dev/session",
        body={"persona": "hypertrophy_hannah"},
        headers={"Origin": "http://localhost:5173"},
    )
    assert session.status == 201 and "access-control-allow-origin" not in session.headers


def test_cors_origins_are_configurable(stack: LocalStack) -> None:
    stack.wiring.update(
        settings=stack.settings.model_copy(
            update={"cors_allow_origins": "https://app.example.com, https://admin.example.com/"}
        )
    )
    assert _preflight(stack, "https://app.example.com").status == 204
    assert _preflight(stack, "https://admin.example.com").status == 204
    assert _preflight(stack, "http://localhost:5173").status == 403  # a list replaces the local default
    stack.wiring.update(settings=stack.settings.model_copy(update={"cors_allow_origins": "*"}))
    assert (
        _preflight(stack, "https://anything.example").headers["access-control-allow-origin"]
        == "https://anything.example"
    )
