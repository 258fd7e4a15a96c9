"""HTTP mapping of the typed errors: one place for every status code and error body."""

from __future__ import annotations

from typing import Any

from tpg.api.models import (
    MAX_BATCH_MEMBERS,
    CreateBatchRequest,
    CreateProgramRequest,
    ErrorDetail,
    ErrorResponse,
)
from tpg.platform.errors import (
    AppError,
    BatchAlreadyFinal,
    Forbidden,
    GenerationInFlight,
    IdempotencyKeyReused,
    InvalidRequest,
    MalformedJson,
    NotRetryable,
    OnboardingIncomplete,
    PayloadTooLarge,
    ProgramAlreadyFinal,
    ProgramNotFound,
    QuotaExceeded,
    RealtimeUnavailable,
    ServiceUnavailable,
    SubscriptionRequired,
    TooManyConnections,
    Unauthorized,
    UnsupportedMediaType,
)
from tpg.platform.text import PLAIN_TEXT_MESSAGE, PLAIN_TEXT_PATTERN

STATUS_BY_ERROR: dict[type[AppError], int] = {
    MalformedJson: 400,
    Unauthorized: 401,
    SubscriptionRequired: 402,
    Forbidden: 403,
    ProgramNotFound: 404,
    RealtimeUnavailable: 404,
    GenerationInFlight: 409,
    OnboardingIncomplete: 409,
    NotRetryable: 409,
    ProgramAlreadyFinal: 409,
    BatchAlreadyFinal: 409,
    IdempotencyKeyReused: 409,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    QuotaExceeded: 429,
    TooManyConnections: 429,
    InvalidRequest: 422,
    ServiceUnavailable: 503,
}

JSON_HEADERS = {
    "Content-Type": "application/json",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def status_for(error: AppError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def error_body(error: AppError) -> str:
    detail = ErrorDetail(code=error.code, message=error.message)
    if isinstance(error, GenerationInFlight) and error.program_id:
        detail.program_id = error.program_id  # the client can resume polling that program
    return ErrorResponse(error=detail).model_dump_json(by_alias=True, exclude_none=True)


def error_headers(error: AppError) -> dict[str, str]:
    headers = dict(JSON_HEADERS)
    if isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    if isinstance(error, QuotaExceeded | TooManyConnections):
        headers["Retry-After"] = str(error.retry_after_seconds)
    return headers


def api_gateway_response(status: int, body: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A response in the API Gateway HTTP API (payload 2.0) shape."""
    return {
        "statusCode": status,
        "headers": headers or dict(JSON_HEADERS),
        "body": body,
        "isBase64Encoded": False,
    }


def error_response(error: AppError) -> dict[str, Any]:
    return api_gateway_response(status_for(error), error_body(error), error_headers(error))


# The names a validation message may contain: the fields of our schema (the request body's, as
# they are spelled on the wire, and the list's query parameters). Any other name in an error's
# location came from the caller (an unknown key) and is never repeated.
SCHEMA_FIELDS = frozenset(
    {
        field.alias or name
        for model in (CreateProgramRequest, CreateBatchRequest)
        for name, field in model.model_fields.items()
    }
    | {"limit", "cursor", "deep", "idempotency-key"}
)
# A batch's user ids: what is wrong with the list, said once for the list whatever item it was.
_USER_IDS_PROBLEMS = {
    "list_type": f"must list 1 to {MAX_BATCH_MEMBERS} user ids",
    "too_short": f"must list 1 to {MAX_BATCH_MEMBERS} user ids",
    "too_long": f"must list 1 to {MAX_BATCH_MEMBERS} user ids",
    "uuid_type": "must be UUIDs",
    "uuid_parsing": "must be UUIDs",
    "uuid_version": "must be UUIDs",
    "value_error": "each user id may appear once",  # the only check of ours on the list
}
_SOURCES = ("body", "query", "path", "header")
_OBJECT_TYPES = frozenset({"model_type", "model_attributes_type", "dict_type"})
_INTEGER_TYPES = frozenset({"int_type", "int_parsing", "int_parsing_size", "int_from_float", "finite_number"})


def validation_error(errors: Any) -> AppError:
    """Turn pydantic/Powertools validation errors into a safe error.

    The message is built from our own words, the names of our schema's fields and the limits our
    schema sets; never from the caller's input: not a value, not an unknown key (pydantic's own
    messages can hold either, and its locations hold unknown keys).
    """
    if any(e.get("type") == "json_invalid" for e in errors):
        return MalformedJson()
    if any(e.get("type") == "unsupported_content_type" for e in errors):
        return UnsupportedMediaType()
    parts: list[str] = []
    for error in errors:
        part = _describe_error(error)
        if part not in parts:
            parts.append(part)
    return InvalidRequest("Invalid request: " + "; ".join(parts[:5]))


def _describe_error(error: dict[str, Any]) -> str:
    kind = str(error.get("type", ""))
    loc = [part for part in error.get("loc", ()) if part not in _SOURCES]
    if kind == "extra_forbidden":
        return "unknown field"
    if not loc:
        return "the body must be a JSON object" if kind in _OBJECT_TYPES else "the body is not valid"
    field = loc[0]
    if field not in SCHEMA_FIELDS:
        return "unknown field"
    if field == "userIds" and kind in _USER_IDS_PROBLEMS:
        return f"userIds: {_USER_IDS_PROBLEMS[kind]}"
    return f"{field}: {_problem(kind, error.get('ctx') or {})}"


def _problem(kind: str, ctx: dict[str, Any]) -> str:
    """What is wrong, in our words; the numbers are our schema's limits (from `ctx`)."""

    def limit(name: str) -> str:
        value = ctx.get(name)
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else "the limit"

    if kind == "missing":
        return "is required"
    if kind in _INTEGER_TYPES:
        return "must be an integer"
    if kind == "decimal_integer":
        return "must be a whole number written with the digits 0-9"
    if kind == "greater_than_equal":
        return f"must be at least {limit('ge')}"
    if kind == "less_than_equal":
        return f"must be at most {limit('le')}"
    if kind == "greater_than":
        return f"must be more than {limit('gt')}"
    if kind == "less_than":
        return f"must be less than {limit('lt')}"
    if kind == "string_type":
        return "must be a string"
    if kind == "string_too_short":
        return (
            "must not be empty"
            if ctx.get("min_length") == 1
            else f"must be at least {limit('min_length')} characters"
        )
    if kind == "string_too_long":
        return f"must be at most {limit('max_length')} characters"
    if kind == "string_pattern_mismatch":
        return (
            PLAIN_TEXT_MESSAGE
            if ctx.get("pattern") == PLAIN_TEXT_PATTERN
            else "is not in the expected format"
        )
    if kind == "string_unicode":
        return "must be valid Unicode text"
    return "is not valid"
