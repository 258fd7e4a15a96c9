"""Stored free text carries no control characters (PostgreSQL refuses NUL in text and jsonb)."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from tpg.api.models import CreateProgramRequest
from tpg.platform.text import PlainText

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
