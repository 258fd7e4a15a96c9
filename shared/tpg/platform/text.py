"""Free text that may be stored or shown: no control characters, nothing that can disguise text.

PostgreSQL refuses NUL in `text` and `jsonb`, so one in a user's request or in an LLM answer would
otherwise surface as a database error. The other characters refused are the ones that make text
read differently from what it is: C0 and C1 controls, the bidirectional overrides and isolates
(U+202A-202E, U+2066-2069), zero-width characters (U+200B-200D, U+2060, U+FEFF), the line and
paragraph separators (U+2028, U+2029), every other format character (Unicode category Cf: soft
hyphen, tag characters, invisible operators, ...) and unpaired surrogates. Tab, line feed and
carriage return stay: notes have lines.

The rule is by Unicode category, not "looks blank": visible-width blanks (U+3164, U+2800) are
letters or symbols and pass. `REFUSED_RANGES` is the list for Unicode 15 and wider; a unit test
checks it covers the categories of the running Python's Unicode database.

The rule is a `pattern`, so it is also in the JSON schema (the OpenAPI document) and clients and
the API fuzzer know it. It is written with `\\xXX`, `\\uXXXX` and `\\UXXXXXXXX` escapes, which both
pydantic's regex engine (Rust) and Python's `re` read.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

# (first, last) code points, inclusive.
REFUSED_RANGES: tuple[tuple[int, int], ...] = (
    (0x00, 0x08),  # C0 controls but tab, line feed, carriage return
    (0x0B, 0x0C),
    (0x0E, 0x1F),
    (0x7F, 0x9F),  # DEL, C1 controls
    (0xAD, 0xAD),  # soft hyphen
    (0x600, 0x605),  # Arabic number signs
    (0x61C, 0x61C),  # Arabic letter mark (bidi)
    (0x6DD, 0x6DD),
    (0x70F, 0x70F),
    (0x890, 0x891),
    (0x8E2, 0x8E2),
    (0x180E, 0x180E),  # Mongolian vowel separator
    (0x200B, 0x200F),  # zero-width space, non-joiner, joiner; LRM, RLM
    (0x2028, 0x202E),  # line and paragraph separators; bidi embeddings and overrides
    (0x2060, 0x2064),  # word joiner, invisible operators
    (0x2066, 0x206F),  # bidi isolates, deprecated format characters
    (0xFEFF, 0xFEFF),  # zero-width no-break space (BOM)
    (0xFFF9, 0xFFFB),  # interlinear annotation
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),  # Egyptian hieroglyph format controls
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical symbol format controls
    (0xE0001, 0xE0001),  # language tag
    (0xE0020, 0xE007F),  # tag characters (invisible ASCII)
)


def _escape(code_point: int) -> str:
    if code_point < 0x100:
        return f"\\x{code_point:02x}"
    if code_point < 0x10000:
        return f"\\u{code_point:04x}"
    return f"\\U{code_point:08x}"


def _character_class(ranges: tuple[tuple[int, int], ...]) -> str:
    return "".join(_escape(a) if a == b else f"{_escape(a)}-{_escape(b)}" for a, b in ranges)


# Surrogates are left out: JSON text and Rust strings cannot hold them, and pydantic refuses a
# Python `str` that does ("unable to parse raw data as a unicode string") before any pattern runs.
PLAIN_TEXT_PATTERN = f"^[^{_character_class(REFUSED_RANGES)}]*$"

# What the API says when the pattern does not match (`tpg.api.http`): the rule, never the character.
PLAIN_TEXT_MESSAGE = (
    "must not contain control characters or invisible formatting characters "
    "(bidirectional controls, zero-width characters, line or paragraph separators)"
)

PlainText = Annotated[str, StringConstraints(pattern=PLAIN_TEXT_PATTERN)]
