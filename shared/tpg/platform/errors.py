"""Typed errors of the domain. Each carries a stable machine code and a message that is safe
to show a user; `tpg.http` maps them to HTTP statuses in one place."""

from __future__ import annotations

from uuid import UUID


class AppError(Exception):
    code = "INTERNAL_ERROR"
    message = "Something went wrong on our side."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message


class Unauthorized(AppError):
    code = "UNAUTHORIZED"
    message = "A valid bearer token is required."


class InvalidRequest(AppError):
    code = "INVALID_REQUEST"
    message = "The request is not valid."


class MalformedJson(AppError):
    code = "MALFORMED_JSON"
    message = "The request body is not valid JSON."


class UnsupportedMediaType(AppError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    message = "Send the request body as JSON (Content-Type: application/json)."


class PayloadTooLarge(AppError):
    code = "PAYLOAD_TOO_LARGE"
    message = "The request body is too large."


class SubscriptionRequired(AppError):
    code = "SUBSCRIPTION_REQUIRED"
    message = "An active subscription is required to generate a program."


class OnboardingIncomplete(AppError):
    code = "ONBOARDING_INCOMPLETE"
    message = "Finish onboarding before generating a program."


class GenerationInFlight(AppError):
    code = "GENERATION_IN_FLIGHT"
    message = "A program is already being generated."

    def __init__(self, program_id: UUID | None) -> None:
        super().__init__()
        self.program_id = program_id


class QuotaExceeded(AppError):
    code = "QUOTA_EXCEEDED"
    message = "You have reached today's limit of new programs. Please try again later."

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__()
        self.retry_after_seconds = retry_after_seconds


class ProgramNotFound(AppError):
    code = "NOT_FOUND"
    message = "Program not found."


class NotRetryable(AppError):
    code = "NOT_RETRYABLE"
    message = "Only a failed or cancelled generation can be retried."


class ProgramAlreadyFinal(AppError):
    code = "PROGRAM_ALREADY_FINAL"
    message = "This program is already finished; there is nothing to cancel."


class Forbidden(AppError):
    """A valid token of the wrong kind for the route: the batch routes are for service callers."""

    code = "FORBIDDEN"
    message = "This route is for service callers (a token whose role is service_role)."


class BatchNotFound(ProgramNotFound):
    message = "Batch not found."


class BatchAlreadyFinal(AppError):
    code = "BATCH_ALREADY_FINAL"
    message = "Every program of this batch is already finished; there is nothing to cancel."


class IdempotencyKeyReused(AppError):
    code = "IDEMPOTENCY_KEY_REUSED"
    message = "This Idempotency-Key was used for a different request."


class RealtimeUnavailable(AppError):
    """No live updates for this caller (none configured, or no profile): the client polls."""

    code = "REALTIME_UNAVAILABLE"
    message = "Live updates are not available; poll the program's status instead."


class TooManyConnections(AppError):
    code = "TOO_MANY_CONNECTIONS"
    message = "Too many live-update connections are open; close some or poll instead."

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__()
        self.retry_after_seconds = retry_after_seconds


class ServiceUnavailable(AppError):
    code = "SERVICE_UNAVAILABLE"
    message = "The service is temporarily unavailable. Please try again."


class DispatchError(Exception):
    """The async hand-off to the generate function failed (the row is already committed)."""


class DatabaseUnavailable(ServiceUnavailable):
    """The database could not be reached or dropped the connection."""
