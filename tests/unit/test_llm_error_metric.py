"""LlmErrorResponses: every LLM HTTP answer that is a rate limit or a server error is counted, by
kind, where it happens (the LLM error-rate alarm divides it by LlmRequests)."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import pytest

from tpg.generation.claude import client as claude_client
from tpg.generation.claude.client import ClaudeProvider, LlmBudget, error_kind
from tpg.platform.observability import Metric
from tpg.platform.settings import Settings


def _status_error(status: int, body: object | None = None) -> anthropic.APIStatusError:
    response = httpx2.Response(status, request=httpx2.Request("POST", "https://llm.invalid/v1/messages"))
    return anthropic.APIStatusError("error", response=response, body=body)


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (429, None, "rate_limited"),
        (500, None, "server_error"),
        (503, None, "server_error"),
        (529, None, "server_error"),  # overloaded
        (200, {"error": {"type": "overloaded_error"}}, "server_error"),  # an SSE error event
        (200, {"error": {"type": "rate_limit_error"}}, "rate_limited"),
        (200, {"error": {"type": "invalid_request_error"}}, None),
        (400, None, None),
        (401, None, None),
        (404, None, None),
    ],
)
def test_error_kind(status: int, body: object | None, kind: str | None) -> None:
    assert error_kind(_status_error(status, body)) == kind


@pytest.mark.parametrize(("status", "counted"), [(429, ["rate_limited"]), (502, ["server_error"]), (400, [])])
def test_a_failed_request_is_counted_by_kind(
    monkeypatch: pytest.MonkeyPatch, status: int, counted: list[str]
) -> None:
    calls: list[tuple[Metric, dict[str, str] | None]] = []

    def record(metric: Metric, value: float = 1, dimensions: dict[str, str] | None = None) -> None:
        calls.append((metric, dimensions))

    def fail(*_: Any, **__: Any) -> Any:
        raise _status_error(status)

    monkeypatch.setattr(claude_client, "count", record)
    monkeypatch.setattr(ClaudeProvider, "_stream_request", fail)
    settings = Settings(anthropic_api_key="k")  # type: ignore[arg-type]
    provider = ClaudeProvider(
        tier="full",
        model="m",
        ask="full",
        settings=settings,
        budget=LlmBudget(max_requests=1, seconds=10),
    )
    with pytest.raises(anthropic.APIStatusError):
        provider._stream_once(
            claude_client._Call(
                messages=[],
                max_tokens=1024,
                expected_chars=100,
                deadline_seconds=10,
                on_progress=lambda _: None,
            )
        )
    assert calls == [(Metric.LLM_ERROR_RESPONSES, {"Kind": kind}) for kind in counted]
