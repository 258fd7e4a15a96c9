"""HTTP mapping of the typed errors: one place for every status code and error body."""

from __future__ import annotations

from typing import Any

from tpg.api.models import ErrorDetail, ErrorResponse
from tpg.platform.errors import (
    AppError,
    GenerationInFlight,
    InvalidRequest,
    MalformedJson,
    NotRetryable,
    OnboardingIncomplete,
    PayloadTooLarge,
    ProgramNotFound,
    QuotaExceeded,
    ServiceUnavailable,
    SubscriptionRequired,
    Unauthorized,
)

STATUS_BY_ERROR: dict[type[AppError], int] = {
    MalformedJson: 400,
    Unauthorized: 401,
    SubscriptionRequired: 402,
    ProgramNotFound: 404,
    GenerationInFlight: 409,
    OnboardingIncomplete: 409,
    NotRetryable: 409,
    PayloadTooLarge: 413,
    QuotaExceeded: 429,
    InvalidRequest: 422,
    ServiceUnavailable: 503,
}

JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}


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
    if isinstance(error, QuotaExceeded):
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


def validation_error(errors: Any) -> AppError:
    """Turn pydantic/Powertools validation errors into a safe error (never echoing input)."""
    if any(e.get("type") == "json_invalid" for e in errors):
        return MalformedJson()
    fields = []
    for e in errors:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path"))
        fields.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
    message = "Invalid request: " + "; ".join(fields[:5])
    return InvalidRequest(message[:500])
