"""The pieces that keep caller input from reaching SQL or a response: the JSON body parser, the
list cursor, the validation messages (tests/integration/test_bad_requests.py runs them whole)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from tpg.api.http import validation_error
from tpg.api.routes import MAX_JSON_DEPTH, parse_json_body
from tpg.api.service import decode_cursor, encode_cursor
from tpg.platform.errors import InvalidRequest, MalformedJson, UnsupportedMediaType


def test_ordinary_json_parses() -> None:
    assert parse_json_body('{"name": "a [ { b", "weeks": 4, "notes": null}') == {
        "name": "a [ { b",
        "weeks": 4,
        "notes": None,
    }
    assert parse_json_body("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None


@pytest.mark.parametrize(
    "text",
    [
        "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1),
        "[" * 100_000,
        '{"a":' * 10_000,
        '{"weeks": ' + "9" * 65 + "}",
        "-" + "9" * 5_000,
    ],
    ids=["depth-33", "depth-100000", "objects-10000", "65-digits", "5000-digits"],
)
def test_bodies_beyond_the_bounds_are_malformed_json(text: str) -> None:
    with pytest.raises(MalformedJson):
        parse_json_body(text)


@pytest.mark.parametrize("text", ["NaN", '{"weeks": Infinity}', "-Infinity", "{oops"])
def test_what_is_not_json_is_a_decode_error(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        parse_json_body(text)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = json.dumps({"notes": "[" * 1_000 + '\\"{' * 100})
    assert parse_json_body(text)["notes"].startswith("[[[")


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_a_cursor_round_trips_in_utc() -> None:
    program_id = uuid.uuid4()
    created_at = datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC)
    assert decode_cursor(encode_cursor(SimpleNamespace(id=program_id, created_at=created_at))) == (
        created_at,
        program_id,
    )


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor(f"0000-01-01T00:00:00+00:00|{uuid.UUID(int=1)}"),
        _cursor(f"10000-01-01T00:00:00+00:00|{uuid.UUID(int=1)}"),
        _cursor(f"0001-01-01T00:00:00+01:00|{uuid.UUID(int=1)}"),
        _cursor(f"2024-01-01T00:00:00+05:30|{uuid.UUID(int=1)}"),
        _cursor(f"2024-01-01 00:00:00+00:00|{uuid.UUID(int=1)}"),
        _cursor(f"2024-01-01T00:00:00+00:00|{uuid.UUID(int=1).hex}"),
        _cursor(f"2024-01-01T00:00:00+00:00|{uuid.UUID(int=1)}|x"),
        _cursor("2024-01-01T00:00:00+00:00"),
        base64.urlsafe_b64encode(b"\xff\xfe|\x00").decode(),
        "bm90LWEtY3Vyc29y",
        "with space",
        "٣٤",
        "",
    ],
)
def test_a_cursor_this_api_did_not_write_is_invalid(cursor: str) -> None:
    with pytest.raises(InvalidRequest):
        decode_cursor(cursor)


def test_validation_messages_never_repeat_the_callers_keys_or_values() -> None:
    hostile = "<svg onload=alert(1)>"
    errors = [
        {"type": "extra_forbidden", "loc": ("body", hostile), "msg": "Extra inputs", "input": hostile},
        {"type": "int_type", "loc": ("body", "weeks"), "msg": f"bad {hostile}", "input": hostile},
        {"type": "value_error", "loc": ("body", hostile, "x"), "msg": hostile, "ctx": {"error": hostile}},
        {"type": "less_than_equal", "loc": ("query", "limit"), "msg": "x", "ctx": {"le": hostile}},
        {
            "type": "string_pattern_mismatch",
            "loc": ("body", "name"),
            "msg": hostile,
            "ctx": {"pattern": hostile},
        },
    ]
    error = validation_error(errors)
    assert isinstance(error, InvalidRequest)
    assert error.message == (
        "Invalid request: unknown field; weeks: must be an integer; limit: must be at most the limit; "
        "name: is not in the expected format"
    )


def test_json_and_media_type_errors_keep_their_codes() -> None:
    assert isinstance(validation_error([{"type": "json_invalid", "loc": ("body", 1)}]), MalformedJson)
    unsupported = [{"type": "unsupported_content_type", "loc": ("body",)}]
    assert isinstance(validation_error(unsupported), UnsupportedMediaType)
