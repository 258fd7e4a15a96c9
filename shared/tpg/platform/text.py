"""Free text that may be stored: no control characters.

PostgreSQL refuses NUL in `text` and `jsonb`, so one in a user's request or in an LLM answer
would otherwise surface as a database error; the other control characters have no business in
a name or a note either. Line breaks and tabs stay. As a `pattern`, the rule is also in the
OpenAPI document, so clients (and the API fuzzer) know it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

PlainText = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]
