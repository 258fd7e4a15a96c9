"""Free text that may be stored: no control characters.

PostgreSQL refuses NUL in `text` and `jsonb`, so one in a user's request or in an LLM answer
would otherwise surface as a database error; the other control characters have no business in
a name or a note either. Line breaks and tabs stay.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _without_control_characters(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


PlainText = Annotated[str, AfterValidator(_without_control_characters)]
