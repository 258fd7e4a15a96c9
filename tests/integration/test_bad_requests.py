"""Hostile and malformed requests through the trigger's real handler, on a real PostgreSQL.

Every row: the documented status and code in the error envelope, nothing written, none of the
caller's input (a hostile key or value) in the response, no ERROR log line (the 5xx alarm counts
them). Then a property test: arbitrary bytes, media types and query strings on every route never
make a 5xx.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote, quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import settings_for_tests
from tests.support import RecordingDispatcher, new_user
from tpg.api import service
from tpg_local.lambda_context import LocalLambdaContext
from tpg_local.server import api_gateway_event

SVG = "<svg onload=alert(1)>"
MARK = "hostile-marker"  # put in a refused value: never to come back
UUID_TEXT = "123e4567-e89b-12d3-a456-426614174000"


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def event(
    method: str,
    target: str,
    *,
    token: str | None,
    body: bytes = b"",
    content_type: str | None = "application/json",
    base64_body: bool = False,
) -> dict[str, Any]:
    """The API Gateway event for exactly these headers (tests.support.http_event adds its own
    Content-Type); `base64_body` sends a JSON body base64-encoded, as API Gateway may."""
    headers = [("Host", "localhost"), ("User-Agent", "pytest")]
    if token is not None:
        headers.append(("Authorization", f"Bearer {token}"))
    if content_type is not None and body:
        headers.append(("Content-Type", content_type))
    result = api_gateway_event(method, target, headers, body)
    if base64_body and body:
        result.update(body=base64.b64encode(body).decode(), isBase64Encoded=True)
    return result


@dataclass(frozen=True)
class Bad:
    body: bytes = b""
    content_type: str | None = "application/json"
    method: str = "POST"
    target: str = "/programs"
    base64_body: bool = False
    echo: tuple[str, ...] = ()  # caller input that must not come back (besides SVG and MARK)


# One row per class of disguising character (a name with it, and the marker).
DISGUISING = {
    "nul": "\x00",
    "c0-escape": "\x1b[31m",
    "del": "\x7f",
    "c1-csi": "\x9b",
    "c1-nel": "\x85",
    "bidi-override-rlo": "\u202e",
    "bidi-embedding-lre": "\u202a",
    "bidi-isolate-rli": "\u2067",
    "bidi-isolate-pdi": "\u2069",
    "zero-width-space": "\u200b",
    "zero-width-joiner": "\u200d",
    "word-joiner": "\u2060",
    "bom": "\ufeff",
    "line-separator": "\u2028",
    "paragraph-separator": "\u2029",
    "cf-soft-hyphen": "\u00ad",
    "cf-arabic-letter-mark": "\u061c",
    "cf-tag-characters": "\U000e0041\U000e0042",
    "cf-invisible-times": "\u2062",
}

CASES: dict[str, tuple[Bad, int, str]] = {
    # encoding
    "not-utf8-text": (Bad(b'{"name": "caf\xe9 \xff\xfe ' + MARK.encode() + b'"}'), 400, "MALFORMED_JSON"),
    "not-utf8-base64": (
        Bad(b'{"name": "\xff"}', base64_body=True),
        400,
        "MALFORMED_JSON",
    ),
    "not-utf8-overlong-nul": (Bad(b'{"name": "\xc0\x80"}'), 400, "MALFORMED_JSON"),
    "unpaired-surrogate-escape": (Bad(b'{"name": "\\ud800' + MARK.encode() + b'"}'), 422, "INVALID_REQUEST"),
    # nesting
    "depth-10000-unclosed": (Bad(b'{"notes": ' + b"[" * 10_000), 400, "MALFORMED_JSON"),
    "depth-3000-objects-unclosed": (Bad(b'{"a":' * 3_000), 400, "MALFORMED_JSON"),
    "depth-33": (Bad(b'{"notes": ' + b"[" * 32 + b"]" * 32 + b"}"), 400, "MALFORMED_JSON"),
    # not an object
    "array": (Bad(_json([SVG, MARK])), 422, "INVALID_REQUEST"),
    "string": (Bad(_json(SVG + MARK)), 422, "INVALID_REQUEST"),
    "number": (Bad(b"4"), 422, "INVALID_REQUEST"),
    "nan": (Bad(b'{"weeks": NaN}'), 400, "MALFORMED_JSON"),
    "not-json": (Bad(b"{" + SVG.encode()), 400, "MALFORMED_JSON"),
    # strict types
    "weeks-string": (Bad(_json({"weeks": "4"})), 422, "INVALID_REQUEST"),
    "weeks-true": (Bad(_json({"weeks": True})), 422, "INVALID_REQUEST"),
    "weeks-float": (Bad(b'{"weeks": 4.0}'), 422, "INVALID_REQUEST"),
    "weeks-exponent": (Bad(b'{"weeks": 1e1}'), 422, "INVALID_REQUEST"),
    "weeks-hostile-string": (Bad(_json({"weeks": SVG + MARK})), 422, "INVALID_REQUEST"),
    "weeks-huge-50-digits": (Bad(b'{"weeks": ' + b"9" * 50 + b"}"), 422, "INVALID_REQUEST"),
    "weeks-huge-5000-digits": (Bad(b'{"weeks": ' + b"9" * 5_000 + b"}"), 400, "MALFORMED_JSON"),
    "weeks-huge-negative": (Bad(b'{"weeks": -' + b"9" * 5_000 + b"}"), 400, "MALFORMED_JSON"),
    "weeks-huge-float": (Bad(b'{"weeks": 1e400}'), 422, "INVALID_REQUEST"),
    "name-number": (Bad(_json({"name": 12})), 422, "INVALID_REQUEST"),
    # unknown keys: never named
    "hostile-key": (Bad(_json({SVG: MARK})), 422, "INVALID_REQUEST"),
    "hostile-key-and-bad-field": (Bad(_json({SVG: 1, "weeks": MARK})), 422, "INVALID_REQUEST"),
    "hostile-key-nested": (Bad(_json({"x": {SVG: [MARK]}})), 422, "INVALID_REQUEST"),
    # media types
    "text-plain": (Bad(_json({"notes": SVG}), content_type="text/plain"), 415, "UNSUPPORTED_MEDIA_TYPE"),
    "form-urlencoded": (
        Bad(b"weeks=4&notes=" + quote(SVG).encode(), content_type="application/x-www-form-urlencoded"),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    "json-latin-1": (
        Bad(_json({"notes": SVG}), content_type="application/json; charset=latin-1"),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    "multipart": (
        Bad(b"--x\r\n\r\n" + SVG.encode(), content_type="multipart/form-data; boundary=x"),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    "octet-stream": (Bad(_json({}), content_type="application/octet-stream"), 415, "UNSUPPORTED_MEDIA_TYPE"),
    "json-with-other-parameter": (
        Bad(_json({}), content_type="application/json; profile=x"),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    "no-content-type-with-a-body": (Bad(_json({}), content_type=None), 415, "UNSUPPORTED_MEDIA_TYPE"),
    "retry-text-plain": (
        Bad(b"x", content_type="text/plain", target=f"/programs/{UUID_TEXT}/retry"),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    "retry-not-utf8": (Bad(b"\xff\xfe", target=f"/programs/{UUID_TEXT}/retry"), 400, "MALFORMED_JSON"),
    # the list's cursor and limit
    **{
        f"cursor-{name}": (
            Bad(method="GET", target=f"/programs?cursor={value}", echo=(value,)),
            422,
            "INVALID_REQUEST",
        )
        for name, value in {
            "year-0": _cursor(f"0000-01-01T00:00:00+00:00|{UUID_TEXT}"),
            "year-10000": _cursor(f"10000-01-01T00:00:00+00:00|{UUID_TEXT}"),
            "negative-year": _cursor(f"-0001-01-01T00:00:00+00:00|{UUID_TEXT}"),
            "before-year-1-in-utc": _cursor(f"0001-01-01T00:00:00+14:00|{UUID_TEXT}"),
            "offset-beyond-postgres": _cursor(f"2024-01-01T00:00:00+23:59|{UUID_TEXT}"),
            "no-time-zone": _cursor(f"2024-01-01T00:00:00|{UUID_TEXT}"),
            "not-canonical": _cursor(f"20240101T000000Z|{UUID_TEXT}"),
            "uuid-not-canonical": _cursor(f"2024-01-01T00:00:00+00:00|{{{UUID_TEXT}}}"),
            "garbage-base64": "%%%" + quote(SVG),
            "base64-of-junk": _cursor(SVG + MARK),
            "base64-of-binary": base64.urlsafe_b64encode(b"\xff\xfe\x00|\x80").decode().rstrip("="),
            "too-long": "A" * 201,
        }.items()
    },
    **{
        f"limit-{name}": (Bad(method="GET", target=f"/programs?limit={value}"), 422, "INVALID_REQUEST")
        for name, value in {
            "decimal-point": "1.5",
            "trailing-zero-fraction": "5.0",
            "arabic-indic-digits": quote("١٢"),
            "fullwidth-digits": quote("１２"),
            "plus-sign": "%2B5",
            "space": "%205",
            "underscore": "1_0",
            "huge": "9" * 5_000,
            "zero": "0",
            "above-range": "51",
            "empty": "",
            "hostile": quote(SVG),
        }.items()
    },
    # free text: every class of disguising character, with a clear message naming the field
    **{
        f"name-{name}": (Bad(_json({"name": f"Block{char}{MARK}"}), echo=(char,)), 422, "INVALID_REQUEST")
        for name, char in DISGUISING.items()
    },
    **{
        f"notes-{name}": (Bad(_json({"notes": f"Knees{char}{MARK}"}), echo=(char,)), 422, "INVALID_REQUEST")
        for name, char in DISGUISING.items()
        if name in {"nul", "bidi-override-rlo", "zero-width-space", "line-separator", "cf-tag-characters"}
    },
}


@pytest.fixture
def dispatcher(handlers) -> RecordingDispatcher:
    recording = RecordingDispatcher()
    handlers.update(dispatcher=recording)
    return recording


@pytest.fixture
def log_records(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record the service (and Powertools) logs: the service's logger propagates to the root
    logger, where caplog listens."""
    caplog.set_level(logging.DEBUG)
    return caplog


def _counts(sql) -> tuple[int, int]:
    row = sql.execute(
        "SELECT (SELECT count(*) FROM training_programs) AS programs,"
        " (SELECT count(*) FROM generation_requests) AS requests"
    ).fetchone()
    return row["programs"], row["requests"]


def _invoke(request: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    from functions.trigger import app

    response = app.lambda_handler(request, LocalLambdaContext("trigger"))
    return response["statusCode"], response.get("headers") or {}, response.get("body") or ""


def _errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def _assert_envelope(status: int, raw: str) -> dict[str, Any]:
    body = json.loads(raw)
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]) <= {"code", "message", "programId"}, body
    message = body["error"]["message"]
    assert message.isascii() and message.isprintable(), message  # our words only
    return body


@pytest.mark.parametrize(("case", "status", "code"), list(CASES.values()), ids=list(CASES))
def test_a_bad_request_is_a_clear_4xx_that_writes_nothing_echoes_nothing_and_logs_no_error(
    sql, dispatcher, log_records, case: Bad, status: int, code: str
) -> None:
    _, token = new_user(sql)
    before = _counts(sql)
    request = event(
        case.method,
        case.target,
        token=token,
        body=case.body,
        content_type=case.content_type,
        base64_body=case.base64_body,
    )
    got_status, headers, raw = _invoke(request)

    body = _assert_envelope(got_status, raw)
    assert (got_status, body["error"]["code"]) == (status, code), body
    assert _counts(sql) == before and dispatcher.dispatched == []
    response_text = raw + json.dumps(headers)
    for echoed in (SVG, "svg", "onload", MARK, *case.echo):
        assert echoed not in response_text and echoed not in json.loads(raw)["error"]["message"]
    assert _errors_logged(log_records) == []


@pytest.mark.parametrize("field", ["name", "notes"])
def test_a_disguising_character_is_refused_with_a_message_naming_the_field(sql, dispatcher, field) -> None:
    _, token = new_user(sql)
    status, _, raw = _invoke(event("POST", "/programs", token=token, body=_json({field: "a\u202eb"})))
    assert status == 422
    message = json.loads(raw)["error"]["message"]
    assert message.startswith(f"Invalid request: {field}: must not contain control characters"), message


def test_messages_name_our_fields_and_limits_only(sql, dispatcher) -> None:
    _, token = new_user(sql)
    body = _json({"weeks": 13, "name": "", SVG: 1})
    message = json.loads(_invoke(event("POST", "/programs", token=token, body=body))[2])["error"]["message"]
    assert message == "Invalid request: name: must not be empty; weeks: must be at most 12; unknown field"


def test_a_balanced_body_nested_10000_deep_is_400_even_under_a_larger_body_limit(
    sql, database, handlers, dispatcher, log_records
) -> None:
    handlers.update(settings=settings_for_tests(database, max_body_bytes=64 * 1024))
    _, token = new_user(sql)
    for nested in (b"[" * 10_000 + b"]" * 10_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000):
        status, _, raw = _invoke(event("POST", "/programs", token=token, body=nested))
        assert (status, json.loads(raw)["error"]["code"]) == (400, "MALFORMED_JSON")
    assert _counts(sql) == (0, 0) and _errors_logged(log_records) == []


def test_what_is_allowed_still_is(sql, dispatcher, log_records) -> None:
    """The strict rules refuse only what they name: charset=utf-8 in any case, line breaks and
    tabs in notes, text in any script, a cursor this API issued."""
    _, token = new_user(sql)
    good = _json({"name": "Übung für die Knie 膝", "weeks": 6, "notes": "line one\r\nline two\tend 💪"})
    status, _, raw = _invoke(
        event("POST", "/programs", token=token, body=good, content_type='Application/JSON; Charset="UTF-8"')
    )
    assert status == 202, raw
    assert _invoke(event("POST", "/programs", token=token, content_type=None))[0] == 409  # in flight, no body
    _, token = new_user(sql)
    for limit in ("1", "20", "50", "07"):
        assert _invoke(event("GET", f"/programs?limit={limit}", token=token))[0] == 200
    assert _errors_logged(log_records) == []


def test_cursors_the_api_issues_round_trip(sql, dispatcher) -> None:
    """In UTC whatever the session's time zone, microseconds kept; the next page follows."""
    user_id, token = new_user(sql)
    sql.execute("SET TIME ZONE 'Asia/Kolkata'")
    for stamp in ("2024-02-29 12:34:56.789012+05:30", "2024-02-29 12:34:56+05:30", "0001-01-01 00:00:00+00"):
        sql.execute(
            "INSERT INTO training_programs"
            " (user_id, name, generation_status, program, created_at, completed_at)"
            " VALUES (%s, 'earlier', 'completed', '{}', %s, now())",
            (user_id, stamp),
        )
    rows = sql.execute("SELECT id, created_at FROM training_programs ORDER BY created_at DESC").fetchall()
    for row in rows:
        cursor = service.encode_cursor(SimpleNamespace(**row))
        assert service.decode_cursor(cursor) == (row["created_at"], row["id"])
    seen, cursor = [], None
    while True:
        query = "?limit=1" + (f"&cursor={cursor}" if cursor else "")
        status, _, raw = _invoke(event("GET", "/programs" + query, token=token))
        assert status == 200, raw
        page = json.loads(raw)
        seen += [item["programId"] for item in page["items"]]
        if not (cursor := page["nextCursor"]):
            break
    assert seen == [str(row["id"]) for row in rows]


def test_the_error_log_capture_works(sql, dispatcher, log_records, monkeypatch) -> None:
    """The capture the rows rely on sees an ERROR: an unexpected fault is a 500 and one is logged."""

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(service, "list_programs", crash)
    _, token = new_user(sql)
    assert _invoke(event("GET", "/programs", token=token))[0] == 500
    assert _errors_logged(log_records) == ["unhandled error"]


# --- property: arbitrary requests on every route never make a 5xx ----------------------------

_MEDIA_TYPES = st.one_of(
    st.sampled_from(
        [
            None,
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/octet-stream",
            "",
        ]
    ),
    st.text(max_size=40),
)
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["name", "weeks", "notes"]) | st.text(max_size=8), children, max_size=4
        )
    ),
    max_leaves=12,
)
_BODIES = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=100).map(str.encode),
    _JSON_VALUES.map(lambda v: json.dumps(v).encode()),
)
_QUERY_VALUES = st.one_of(
    st.text(max_size=30).map(lambda t: quote(t, safe="")),
    st.binary(max_size=30).map(lambda b: quote_from_bytes(b, safe="")),
    st.integers().map(str),
    st.sampled_from(
        ["", "1", "50", "51", "1.5", "%%", "AAAA", _cursor(f"9999-12-31T23:59:59+00:00|{UUID_TEXT}")]
    ),
)
_QUERIES = st.lists(
    st.tuples(st.sampled_from(["limit", "cursor", "x"]) | st.text(max_size=5).map(quote), _QUERY_VALUES),
    max_size=3,
).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs))
_PATH_IDS = st.one_of(
    st.just(UUID_TEXT), st.uuids().map(str), st.text(max_size=40).map(lambda t: quote(t, safe=""))
)
_ROUTES = st.sampled_from(
    [
        ("POST", "/programs"),
        ("GET", "/programs"),
        ("GET", "/programs/{id}"),
        ("POST", "/programs/{id}/retry"),
        ("GET", "/health"),
        ("GET", "/openapi.json"),
        ("PUT", "/programs"),
        ("POST", "/nowhere"),
    ]
)


def test_no_request_on_any_route_makes_a_5xx(sql, dispatcher, log_records) -> None:
    _, token = new_user(sql)
    statuses: dict[int, int] = {}

    @given(
        route=_ROUTES,
        program_id=_PATH_IDS,
        query=_QUERIES,
        body=_BODIES,
        media_type=_MEDIA_TYPES,
        base64_body=st.booleans(),
        authenticated=st.booleans() | st.just(True),
    )
    @settings(
        max_examples=400,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def request(route, program_id, query, body, media_type, base64_body, authenticated) -> None:
        method, path = route
        target = path.replace("{id}", program_id) + (f"?{query}" if query else "")
        status, _, raw = _invoke(
            event(
                method,
                target,
                token=token if authenticated else None,
                body=body,
                content_type=media_type,
                base64_body=base64_body,
            )
        )
        statuses[status] = statuses.get(status, 0) + 1
        assert status < 500, (status, raw)
        if status >= 400:
            _assert_envelope(status, raw)
        else:
            json.loads(raw)

    request()
    assert _errors_logged(log_records) == []
    assert len(statuses) >= 5, statuses  # the inputs reach well past the first check
