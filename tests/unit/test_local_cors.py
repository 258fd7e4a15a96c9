"""The local stack's CORS is API Gateway's as the template configures it, and its origin rule."""

from __future__ import annotations

import pytest

from tests.unit.cfn_template import resources
from tpg_local.cors import ALLOW_HEADERS, ALLOW_METHODS, EXPOSE_HEADERS, MAX_AGE_SECONDS, CorsPolicy


def test_the_local_stack_allows_what_the_template_allows() -> None:
    cors = resources("AWS::Serverless::HttpApi")["HttpApi"]["Properties"]["CorsConfiguration"]
    assert tuple(cors["AllowMethods"]) == ALLOW_METHODS
    assert tuple(cors["AllowHeaders"]) == ALLOW_HEADERS
    assert tuple(cors["ExposeHeaders"]) == EXPOSE_HEADERS
    assert cors["MaxAge"] == MAX_AGE_SECONDS
    assert cors["AllowCredentials"] is False  # bearer tokens, never cookies


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://localhost:5173", True),
        ("http://127.0.0.1:3000", True),
        ("http://[::1]:8080", True),
        ("https://localhost", True),
        ("http://LOCALHOST:5173", True),
        ("http://localhost.evil.example", False),
        ("http://localhost:5173.evil.example", False),
        ("https://evil.example", False),
        ("null", False),
        ("file://", False),
    ],
)
def test_by_default_any_origin_on_this_machine_is_allowed(origin: str, allowed: bool) -> None:
    assert CorsPolicy(None).allows(origin) is allowed


def test_a_configured_list_replaces_the_default() -> None:
    policy = CorsPolicy(" https://app.example.com/ ,https://admin.example.com")
    assert policy.allows("https://app.example.com") and policy.allows("https://admin.example.com")
    assert not policy.allows("http://localhost:5173") and not policy.allows("https://app.example.com.evil")
    assert CorsPolicy("*").allows("https://anywhere.example")
    assert CorsPolicy("").allows("http://localhost:1")  # empty: unset
