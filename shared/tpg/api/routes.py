"""The HTTP API (API Gateway HTTP API, payload 2.0) on Powertools' event handler.

`handle` does the two checks that must come before routing and body validation: the body
size limit (413) and authentication (401), so an anonymous caller never learns anything from
a validation error. Routes then call one function of `tpg.api.service` each, with the
dependencies the trigger handler's composition root built (`ApiDependencies`), which `handle`
puts in the resolver's context.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.openapi.types import (
    OpenAPIResponse,
    OpenAPIResponseContentModel,
    OpenAPIResponseContentSchema,
)

from tpg.api import service
from tpg.api.auth import AuthenticatedUser, bearer_token, verify_token
from tpg.api.http import (
    error_body,
    error_headers,
    error_response,
    status_for,
    validation_error,
)
from tpg.api.models import (
    AcceptedResponse,
    CreateProgramRequest,
    ErrorResponse,
    HealthResponse,
    ProgramList,
    ProgramResponse,
)
from tpg.api.service import ApiDependencies
from tpg.platform.errors import AppError, PayloadTooLarge, ProgramNotFound, ServiceUnavailable
from tpg.platform.observability import describe_unexpected, logger
from tpg.store.rows import GenerationStatus
from tpg.worker.dispatch import ensure_available

PUBLIC_ROUTES = frozenset({("GET", "/health"), ("GET", "/openapi.json")})
# the OpenAPI security requirement of every other route
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def _errors(*statuses: int) -> dict[int, OpenAPIResponse]:
    """OpenAPI entries for the error responses a route can give (all share one body model)."""
    descriptions = {
        400: "Malformed JSON",
        401: "Missing or invalid bearer token",
        402: "No active subscription",
        404: "Not found (or not the caller's)",
        409: "A generation in flight (error.programId names it), onboarding incomplete, or not retryable",
        413: "Request body too large",
        422: "Invalid fields or parameters",
        429: "Daily quota reached (see Retry-After)",
        503: "Temporarily unavailable",
    }
    content: dict[str, OpenAPIResponseContentSchema | OpenAPIResponseContentModel] = {
        "application/json": {"model": ErrorResponse}
    }
    return {status: {"description": descriptions[status], "content": content} for status in statuses}


app = APIGatewayHttpResolver(enable_validation=True)


def handle(event: dict[str, Any], context: Any, deps: ApiDependencies) -> dict[str, Any]:
    """Entry point of the trigger function: pre-routing checks, then the resolver."""
    try:
        _check_body_size(event, deps)
        request = event.get("requestContext", {}).get("http", {})
        if (request.get("method"), event.get("rawPath")) not in PUBLIC_ROUTES:
            app.append_context(user=_authenticate(event, deps))
    except AppError as exc:
        return error_response(exc)
    except Exception as exc:  # e.g. the signing secret could not be read: fail closed, say little
        logger.error("request could not be authenticated", extra=describe_unexpected(exc))
        return error_response(ServiceUnavailable())
    app.append_context(deps=deps)
    return app.resolve(event, context)


def _check_body_size(event: dict[str, Any], deps: ApiDependencies) -> None:
    body = event.get("body") or ""
    size = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode())
    if size > deps.settings.max_body_bytes:
        raise PayloadTooLarge()


def _authenticate(event: dict[str, Any], deps: ApiDependencies) -> AuthenticatedUser:
    settings = deps.settings
    headers = event.get("headers") or {}
    authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    return verify_token(
        bearer_token(authorization),
        secret=settings.jwt_signing_secret,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )


def _user() -> AuthenticatedUser:
    user: AuthenticatedUser = app.context["user"]
    return user


def _deps() -> ApiDependencies:
    deps: ApiDependencies = app.context["deps"]
    return deps


def _dispatching() -> ApiDependencies:
    """The dependencies of a route that hands off to generate: without a dispatcher the request
    fails before anything is written."""
    deps = _deps()
    ensure_available(deps.dispatcher)
    return deps


def _program_id(raw: str) -> UUID:
    # A malformed id names no program of the caller's: the same 404 as a foreign one.
    try:
        return UUID(raw)
    except ValueError as exc:
        raise ProgramNotFound() from exc


def _accepted(program_id: UUID) -> Response[AcceptedResponse]:
    status_url = f"/programs/{program_id}"
    body = AcceptedResponse(program_id=program_id, status=GenerationStatus.PENDING, status_url=status_url)
    return Response(
        status_code=202,
        content_type="application/json",
        body=body,
        headers={"Location": status_url, "Cache-Control": "no-store"},
    )


@app.post(
    "/programs",
    summary="Request a new program",
    security=BEARER,
    responses={
        202: {"description": "Accepted", "content": {"application/json": {"model": AcceptedResponse}}},
        **_errors(400, 401, 402, 409, 413, 422, 429, 503),
    },
)
def create_program(
    body: Annotated[CreateProgramRequest | None, Body()] = None,
) -> Response[AcceptedResponse]:
    program_id = service.request_generation(_dispatching(), _user().user_id, body or CreateProgramRequest())
    return _accepted(program_id)


@app.get(
    "/programs/<program_id>",
    summary="Status (and, when completed, the program)",
    security=BEARER,
    responses={
        200: {
            "description": "The program's status",
            "content": {"application/json": {"model": ProgramResponse}},
        },
        **_errors(401, 404, 503),
    },
)
def get_program(program_id: str) -> ProgramResponse:
    return service.get_program(_deps(), _user().user_id, _program_id(program_id))


@app.get(
    "/programs",
    summary="The caller's programs, newest first",
    security=BEARER,
    responses={
        200: {"description": "A page of programs", "content": {"application/json": {"model": ProgramList}}},
        **_errors(401, 422, 503),
    },
)
def list_programs(
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ProgramList:
    return service.list_programs(_deps(), _user().user_id, limit=limit, cursor=cursor)


@app.post(
    "/programs/<program_id>/retry",
    summary="Retry a failed generation",
    security=BEARER,
    responses={
        202: {"description": "Accepted", "content": {"application/json": {"model": AcceptedResponse}}},
        **_errors(401, 402, 404, 409, 413, 429, 503),
    },
)
def retry_program(program_id: str) -> Response[AcceptedResponse]:
    pid = _program_id(program_id)
    service.retry_generation(_dispatching(), _user().user_id, pid)
    return _accepted(pid)


@app.get("/health", summary="Liveness")
def health() -> HealthResponse:
    return HealthResponse(status="ok")


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    if not _deps().settings.openapi_enabled:
        raise ProgramNotFound("Not found.")
    document = app.get_openapi_json_schema(
        title="Training programs API",
        security_schemes={"bearerAuth": HTTPBearer(bearerFormat="JWT")},
    )
    return Response(200, "application/json", document)


@app.exception_handler(AppError)
def _app_error(exc: AppError) -> Response[str]:
    return Response(status_for(exc), "application/json", error_body(exc), error_headers(exc))


@app.exception_handler(RequestValidationError)
def _validation_error(exc: RequestValidationError) -> Response[str]:
    return _app_error(validation_error(exc.errors()))


@app.not_found
def _not_found(_: NotFoundError) -> Response[str]:
    return _app_error(ProgramNotFound("Not found."))


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response[str]:
    logger.error("unhandled error", extra=describe_unexpected(exc))
    return _app_error(AppError())  # INTERNAL_ERROR, 500, from the one mapping
