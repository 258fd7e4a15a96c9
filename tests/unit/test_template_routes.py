"""Every route the API serves is routed to it by API Gateway, and nothing else is.

The local stack sends every request to the trigger's Powertools app, so a route missing from
template.yaml works in every local test and answers API Gateway's 404 in AWS (as
`POST /programs/{id}/cancel` once did). The HTTP API's routes are the TriggerFunction's `HttpApi`
events; the app's are its route table.
"""

from __future__ import annotations

import re

from tests.unit.cfn_template import resources
from tpg.api.routes import app


def _normal(path: str) -> str:
    """Path parameters named alike: the template says `{id}`, the app `{program_id}`."""
    return re.sub(r"\{[^}/]+\}", "{}", path)


def _template_routes() -> set[tuple[str, str]]:
    routes = set()
    for name, resource in resources("AWS::Serverless::Function").items():
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                assert name == "TriggerFunction", f"{name} serves the HTTP API: the app does not know it"
                props = event["Properties"]
                routes.add((props["Method"].upper(), _normal(props["Path"])))
    return routes


def _app_routes() -> set[tuple[str, str]]:
    # Powertools keeps its route table in these two lists (it has no public accessor); the
    # assertion below fails loudly if a Powertools upgrade moves them.
    table = [*app._static_routes, *app._dynamic_routes]
    assert table, "Powertools' route table moved: find the routes another way"
    return {(route.method.upper(), _normal(route.openapi_path)) for route in table}


def test_every_route_of_the_app_has_its_http_api_event_and_no_event_lacks_a_route() -> None:
    template, served = _template_routes(), _app_routes()
    assert sorted(served - template) == [], "add an HttpApi event to TriggerFunction in template.yaml"
    assert sorted(template - served) == [], "an HttpApi event routes to no handler: remove it"


def test_the_routes_that_change_a_program_are_among_them() -> None:
    # The contract's routes (docs/frontend.md), named: a rename of the app's paths cannot make the
    # two sets agree by both losing one.
    for route in [
        ("POST", "/programs"),
        ("GET", "/programs"),
        ("GET", "/programs/{}"),
        ("POST", "/programs/{}/retry"),
        ("POST", "/programs/{}/cancel"),
        ("POST", "/realtime/tickets"),
    ]:
        assert route in _template_routes()
