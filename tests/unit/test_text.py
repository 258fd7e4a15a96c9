"""Stored free text carries no control characters (PostgreSQL refuses NUL in text and jsonb) and
nothing that can disguise it (bidi controls, zero-width and other format characters)."""

from __future__ import annotations

import re
import sys
import unicodedata

import pytest
from pydantic import TypeAdapter, ValidationError

from tpg.api.models import CreateProgramRequest
from tpg.platform.text import PLAIN_TEXT_PATTERN, REFUSED_RANGES, PlainText

_plain = TypeAdapter(PlainText)


@pytest.mark.parametrize("text", ["Block one", "line one\nline two", "tab\there", "Übung für die Knie", ""])
def test_ordinary_text_passes(text: str) -> None:
    assert _plain.validate_python(text) == text


@pytest.mark.parametrize("text", ["a\x00b", "bell\x07", "esc\x1b[31m", "del\x7f", "\x0bvt"])
def test_control_characters_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        _plain.validate_python(text)


def test_a_program_from_an_llm_with_a_nul_fails_basic_validation() -> None:
    from tpg.training.analysis import analyse
    from tpg.training.engine import generate_offline_program
    from tpg.training.validation import ProgramSchemaError, parse_program
    from tpg_local.personas import persona_user_data

    program = generate_offline_program(analyse(persona_user_data("hypertrophy_hannah", "0" * 32)))
    raw = program.model_dump(mode="json", by_alias=True)
    raw["notes"] = ["drink water\x00"]
    with pytest.raises(ProgramSchemaError):
        parse_program(raw)


def test_request_names_and_notes_are_plain_text() -> None:
    with pytest.raises(ValidationError):
        CreateProgramRequest.model_validate({"name": "x\x00"})


# --- disguising characters (docs/decisions.md) ------------------------------------------------

_CLASSES = {
    "C0 (but tab, LF, CR)": [chr(c) for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)],
    "DEL and C1": [chr(c) for c in range(0x7F, 0xA0)],
    "bidi embeddings and overrides": [chr(c) for c in range(0x202A, 0x202F)],
    "bidi isolates": [chr(c) for c in range(0x2066, 0x206A)],
    "bidi marks": ["\u200e", "\u200f", "\u061c"],
    "zero-width": ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"],
    "line and paragraph separators": ["\u2028", "\u2029"],
    "other format (Cf)": ["\u00ad", "\u180e", "\u2062", "\ufff9", "\U000e0001", "\U000e0041", "\U0001d173"],
}


@pytest.mark.parametrize("name", list(_CLASSES))
def test_every_disguising_character_is_refused(name: str) -> None:
    for char in _CLASSES[name]:
        with pytest.raises(ValidationError) as info:
            _plain.validate_python(f"Block{char}one")
        assert info.value.errors()[0]["type"] == "string_pattern_mismatch", repr(char)


@pytest.mark.parametrize(
    "text",
    [
        "Ünïcödé ñame",
        "膝の痛み",
        "ركبة",
        "כאב",
        "колено",
        "💪 strong",
        "👍🏽",
        "non\u00a0breaking",
        "a\u0301",
    ],
)
def test_text_in_any_script_passes(text: str) -> None:
    assert _plain.validate_python(text) == text


def test_the_refused_ranges_cover_every_control_and_format_character_of_this_python() -> None:
    """A newer Unicode may add format characters: then `REFUSED_RANGES` needs them."""
    refused = re.compile(PLAIN_TEXT_PATTERN)
    for code_point in range(sys.maxunicode + 1):
        char = chr(code_point)
        category = unicodedata.category(char)
        if category in {"Cc", "Cf", "Zl", "Zp"} and char not in "\t\n\r":
            assert not refused.match(char), f"U+{code_point:04X} ({category}) passes"
        elif category not in {"Cn", "Cs"}:  # ranges may reach into unassigned code points
            assert refused.match(char), f"U+{code_point:04X} ({category}) is refused"


def test_pydantic_and_python_read_the_pattern_alike() -> None:
    """pydantic validates with Rust's regex engine, the fuzzer generates with Python's `re`."""
    python = re.compile(PLAIN_TEXT_PATTERN)
    for first, last in REFUSED_RANGES:
        for code_point in {max(0, first - 1), first, last, last + 1}:
            text = f"a{chr(code_point)}b"
            try:
                _plain.validate_python(text)
                accepted = True
            except ValidationError:
                accepted = False
            assert accepted == bool(python.match(text)), f"U+{code_point:04X}"


def test_a_program_from_an_llm_with_a_bidi_override_fails_basic_validation() -> None:
    from tpg.training.analysis import analyse
    from tpg.training.engine import generate_offline_program
    from tpg.training.validation import ProgramSchemaError, parse_program
    from tpg_local.personas import persona_user_data

    program = generate_offline_program(analyse(persona_user_data("hypertrophy_hannah", "0" * 32)))
    raw = program.model_dump(mode="json", by_alias=True)
    raw["name"] = "Safe block\u202e(reversed)"
    with pytest.raises(ProgramSchemaError):
        parse_program(raw)
