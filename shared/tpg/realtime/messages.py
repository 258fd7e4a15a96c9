"""The realtime wire contract, version 1 (docs/frontend.md, "Live updates").

Server -> client: one JSON text frame per committed state change of one of the user's programs,
`program.updated`. It carries the status fields a poll returns, never the program itself: on
`completed` the client GETs `programUrl`. `updatedAt` is the row's `updated_at`, in UTC with six
fractional digits, so a client keeps, per program, the update with the greatest `updatedAt`.
Client -> server: nothing is required; `{"type": "ping"}` is answered `{"type": "pong"}`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, field_serializer
from pydantic.alias_generators import to_camel

from tpg.store.rows import GenerationStatus, JobState, Stage

VERSION: Literal[1] = 1
PONG = b'{"type":"pong"}'
# A client message longer than this is not a ping: it is ignored unread.
MAX_CLIENT_MESSAGE_BYTES = 1024
# What a final row without its own error says (the API's status body says the same).
_DEFAULT_ERRORS = {
    "failed": ("GENERATION_FAILED", "We could not generate your program. Please try again."),
    "cancelled": ("CANCELLED", "Cancelled at your request."),
}


class _Message(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class UpdateError(_Message):
    code: str
    message: str


class ProgramUpdated(_Message):
    type: Literal["program.updated"] = "program.updated"
    version: Literal[1] = VERSION
    program_id: UUID
    status: GenerationStatus
    stage: Stage | None
    progress: int
    error: UpdateError | None
    cancel_requested: bool
    updated_at: datetime
    program_url: str

    @field_serializer("updated_at")
    def _microseconds_utc(self, value: datetime) -> str:
        # Always six digits and "Z", so equal instants are equal strings (pydantic drops ".000000").
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    @classmethod
    def from_state(cls, state: JobState) -> ProgramUpdated:
        """The state a committed transition returned (`tpg.store.rows.JobState`)."""
        error = None
        default = _DEFAULT_ERRORS.get(state.status.value)
        if default is not None:  # only a final failure shows an error, as in the status body
            error = UpdateError(
                code=state.error_code or default[0], message=state.error_message or default[1]
            )
        return cls(
            program_id=state.program_id,
            status=state.status,
            stage=state.stage,
            progress=state.progress,
            error=error,
            cancel_requested=state.cancel_requested,
            updated_at=state.updated_at,
            program_url=f"/programs/{state.program_id}",
        )

    def encode(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()


def is_ping(body: str | None) -> bool:
    """True for `{"type": "ping"}` (other keys ignored); anything else, however malformed, is False."""
    if not body or len(body) > MAX_CLIENT_MESSAGE_BYTES:
        return False
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return False
    return isinstance(message, dict) and message.get("type") == "ping"
