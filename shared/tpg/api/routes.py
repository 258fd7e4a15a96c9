"""The HTTP API (API Gateway HTTP API, payload 2.0) on Powertools' event handler.

`handle` does the checks that must come before routing and body validation: the body size limit
(413), authentication (401), so an anonymous caller never learns anything from a validation
error, and, on a POST, the body's media type (415) and encoding (400). The resolver parses JSON
bodies with `parse_json_body` (bounded nesting and number size: 400). Routes then call one
function of `tpg.api.service` each, with the dependencies the trigger handler's composition root
built (`ApiDependencies`), which `handle` puts in the resolver's context.

No request can make the API answer 5xx or log an ERROR: whatever the caller sends is refused
with a 4xx before it reaches the service or SQL. The one 5xx a well-formed request gets is the
deep health check's 503 (`GET /health?deep=true`), which reports the stack, not the request.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Annotated, Any
from uuid import UUID

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from tpg.api import batches as batch_service
from tpg.api import service
from tpg.api.auth import AuthenticatedUser, ServiceCaller, bearer_token, verify_caller
from tpg.api.http import (
    error_body,
    error_headers,
    error_response,
    status_for,
    validation_error,
)
from tpg.api.models import (
    MAX_BATCH_MEMBERS,
    AcceptedResponse,
    BatchAcceptedResponse,
    BatchCancelResponse,
    BatchList,
    BatchResponse,
    CancelResponse,
    CreateBatchRequest,
    CreateProgramRequest,
    HealthResponse,
    NotReadyResponse,
    ProgramList,
    ProgramResponse,
    ReadinessChecks,
    RealtimeTicketResponse,
)
from tpg.api.openapi import accepted_response, build_document, error_responses
from tpg.api.service import ApiDependencies
from tpg.platform.errors import (
    AppError,
    BatchAlreadyFinal,
    BatchNotFound,
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
from tpg.platform.observability import describe_unexpected, logger
from tpg.store.rows import GenerationStatus
from tpg.worker.dispatch import ensure_available

SECURITY_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
PUBLIC_ROUTES = frozenset({("GET", "/health"), ("GET", "/openapi.json")})
# the OpenAPI security requirement of every other route
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
# Request bodies are JSON, nested at most this deep (ours are one level) ...
MAX_JSON_DEPTH = 32
# ... with integers of at most this many digits (Python's own limit, 4,300, raises ValueError).
MAX_JSON_INTEGER_DIGITS = 64
# POST /batches names up to MAX_BATCH_MEMBERS user ids (~39 bytes each): its own body limit.
BATCH_BODY_BYTES = 64 * 1024


# What every authenticated route can answer before it runs (the token) or while it does (the
# database, the signing secret); a route's own errors are added to these (tpg.api.openapi).
AUTHENTICATED_ERRORS = (Unauthorized, ServiceUnavailable)
# ... and what a POST's body can be refused for, before routing.
BODY_ERRORS = (MalformedJson, PayloadTooLarge, UnsupportedMediaType)
# A program id in a path: a malformed one names no program of the caller's (404, never 422).
ProgramIdParam = Annotated[
    str,
    Path(
        description="The program's id (`programId`); a malformed id answers 404 like a missing one",
        json_schema_extra={"format": "uuid"},
    ),
]
PROGRAM_EXAMPLES = {
    "processing": {
        "summary": "Being generated",
        "value": {
            "programId": "6f1c2d3e-0000-4000-8000-000000000000",
            "name": "Block one",
            "status": "processing",
            "stage": "generating",
            "progress": 45,
            "error": None,
            "cancelRequested": False,
            "program": None,
            "createdAt": "2026-12-02T09:30:00.000000Z",
            "updatedAt": "2026-12-02T09:30:21.431207Z",
            "completedAt": None,
        },
    },
    "failed": {
        "summary": "Failed (retry allowed)",
        "value": {
            "programId": "6f1c2d3e-0000-4000-8000-000000000000",
            "name": "Block one",
            "status": "failed",
            "stage": None,
            "progress": 0,
            "error": {
                "code": "INVALID_PROGRAM",
                "message": "We could not produce a program that passes our safety checks. Please try again.",
            },
            "cancelRequested": False,
            "program": None,
            "createdAt": "2026-12-02T09:30:00.000000Z",
            "updatedAt": "2026-12-02T09:31:02.004511Z",
            "completedAt": None,
        },
    },
}


def parse_json_body(text: str) -> Any:
    """The resolver's JSON parser: strict JSON (no NaN or Infinity), bounded nesting, bounded
    integers. A syntax error is a `JSONDecodeError` (Powertools answers it: 400); a body beyond a
    bound is refused here with the same code and a message that says which bound."""
    if _nesting_depth(text) > MAX_JSON_DEPTH:
        raise MalformedJson("The request body is nested too deeply.")
    try:
        return json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant)
    except RecursionError as exc:  # unreachable past the depth check; never a 500
        raise MalformedJson("The request body is nested too deeply.") from exc


# A JSON string (skipped whole: brackets inside strings do not nest) or a bracket.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]++|\\.)*+"|[\[\]{}]')


def _nesting_depth(text: str) -> int:
    depth = deepest = 0
    for match in _JSON_TOKEN.finditer(text):
        bracket = match.group()
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                break
        elif bracket in "]}":
            depth -= 1
    return deepest


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_JSON_INTEGER_DIGITS:
        raise MalformedJson("A number in the request body has too many digits.")
    return int(digits)


def _no_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not JSON", name, 0)


app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=parse_json_body)


def handle(event: dict[str, Any], context: Any, deps: ApiDependencies) -> dict[str, Any]:
    """Entry point of the trigger function: pre-routing checks, then the resolver."""
    try:
        _check_body_size(event, deps)
        request = event.get("requestContext", {}).get("http", {})
        if (request.get("method"), event.get("rawPath")) not in PUBLIC_ROUTES:
            app.append_context(user=_for_route(event.get("rawPath") or "", _authenticate(event, deps)))
        if request.get("method") == "POST":
            event = _json_post(event)
    except AppError as exc:
        return error_response(exc)
    except Exception as exc:  # e.g. the signing secret could not be read: fail closed, say little
        logger.error("request could not be authenticated", extra=describe_unexpected(exc))
        return error_response(ServiceUnavailable())
    app.append_context(deps=deps)
    return _with_security_headers(app.resolve(event, context))


def _with_security_headers(response: dict[str, Any]) -> dict[str, Any]:
    """Every answer of the API: never cached (programs are per user), never sniffed."""
    headers = dict(response.get("headers") or {})
    present = {k.lower() for k in headers}
    for name, value in SECURITY_HEADERS.items():
        if name.lower() not in present:
            headers[name] = value
    return {**response, "headers": headers}


def _check_body_size(event: dict[str, Any], deps: ApiDependencies) -> None:
    body = event.get("body") or ""
    # surrogatepass: a body with an unpaired surrogate is measured here and refused later (400)
    size = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode("utf-8", "surrogatepass"))
    limit = deps.settings.max_body_bytes
    if event.get("rawPath") == "/batches":
        limit = max(limit, BATCH_BODY_BYTES)
    if size > limit:
        raise PayloadTooLarge()


def _header(event: dict[str, Any], name: str) -> str | None:
    headers = event.get("headers") or {}
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _json_post(event: dict[str, Any]) -> dict[str, Any]:
    """A POST's body is JSON in UTF-8 (415, 400 otherwise). Returns the event with its
    Content-Type spelled as Powertools compares it (it does not ignore case, RFC 9110 does)."""
    has_content_type = _check_body_media_type(event)
    _check_body_encoding(event)
    if not has_content_type:
        return event
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
    return {**event, "headers": {**headers, "content-type": "application/json"}}


def _check_body_media_type(event: dict[str, Any]) -> bool:
    """`application/json`, optionally `; charset=utf-8` (any case). Without a Content-Type the
    body must be empty (a retry, a create with the defaults). True if there is a Content-Type."""
    content_type = _header(event, "content-type")
    if content_type is None or not content_type.strip():
        if event.get("body"):
            raise UnsupportedMediaType()
        return False
    media_type, *parameters = (part.strip().lower() for part in content_type.split(";"))
    if media_type != "application/json":
        raise UnsupportedMediaType()
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if (name.strip(), value.strip().strip('"')) != ("charset", "utf-8"):
            raise UnsupportedMediaType()
    return True


def _check_body_encoding(event: dict[str, Any]) -> None:
    """The body is UTF-8. API Gateway hands a text body over decoded, with U+FFFD in place of
    bytes that were not UTF-8, so that character is refused as the sign of such a body (a
    client has no reason to send it); a base64 body is decoded here, strictly."""
    body = event.get("body") or ""
    if not body:
        return
    try:
        if event.get("isBase64Encoded"):
            base64.b64decode(body, validate=True).decode("utf-8")
        else:
            body.encode("utf-8")  # an unpaired surrogate raises
            if "\ufffd" in body:
                raise ValueError("replacement character")
    except (ValueError, binascii.Error) as exc:  # UnicodeError is a ValueError
        raise MalformedJson("The request body is not valid UTF-8.") from exc


def _authenticate(event: dict[str, Any], deps: ApiDependencies) -> AuthenticatedUser | ServiceCaller:
    settings = deps.settings
    headers = event.get("headers") or {}
    authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    return verify_caller(
        bearer_token(authorization),
        secret=settings.jwt_signing_secret,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        jwks_url=settings.jwt_jwks_url,
        max_lifetime_seconds=settings.jwt_max_lifetime_seconds,
        service_audience=settings.service_token_audience,
    )


def _for_route(path: str, caller: AuthenticatedUser | ServiceCaller) -> AuthenticatedUser | ServiceCaller:
    """The caller, if its kind may use the route: the batch routes take service callers only (a
    user token: 403), every other route users only (a service token: 401, as any token that is no
    user's). Decided before the body is validated, so a caller of the wrong kind learns nothing."""
    service_route = path == "/batches" or path.startswith("/batches/")
    if service_route and not isinstance(caller, ServiceCaller):
        raise Forbidden()
    if not service_route and not isinstance(caller, AuthenticatedUser):
        raise Unauthorized()
    return caller


def _user() -> AuthenticatedUser:
    user = app.context["user"]
    if not isinstance(user, AuthenticatedUser):  # a service token is no user's: as before, 401
        raise Unauthorized()
    return user


def _service() -> ServiceCaller:
    caller = app.context["user"]
    if not isinstance(caller, ServiceCaller):  # a user token: valid, but not for these routes
        raise Forbidden()
    return caller


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
    description="Answers 202 at once; follow `statusUrl` (or `Location`) until the status is final.",
    operation_id="createProgram",
    tags=["programs"],
    security=BEARER,
    responses={
        202: accepted_response(AcceptedResponse, "Accepted: the program is pending"),
        **error_responses(
            *AUTHENTICATED_ERRORS,
            *BODY_ERRORS,
            SubscriptionRequired,
            GenerationInFlight,
            OnboardingIncomplete,
            InvalidRequest,
            QuotaExceeded,
        ),
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
    operation_id="getProgram",
    tags=["programs"],
    security=BEARER,
    responses={
        200: {
            "description": "The program's status",
            "content": {"application/json": {"model": ProgramResponse, "examples": PROGRAM_EXAMPLES}},
        },
        **error_responses(*AUTHENTICATED_ERRORS, ProgramNotFound),
    },
)
def get_program(program_id: ProgramIdParam) -> ProgramResponse:
    return service.get_program(_deps(), _user().user_id, _program_id(program_id))


CURSOR_PATTERN = r"^[A-Za-z0-9_-]*$"  # unpadded URL-safe base64 (service.encode_cursor)


def _decimal_digits(value: Any) -> Any:
    """A query integer is written with the digits 0-9 only: not "5.0", "+5", " 5", "1_0" or
    "١٢" (which int() would all take)."""
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{1,6}", value):
        raise PydanticCustomError("decimal_integer", "must be a whole number written with the digits 0-9")
    return value


# The page parameters every list route shares.
PageSize = Annotated[
    int, BeforeValidator(_decimal_digits), Query(ge=1, le=50, description="Page size (1-50)")
]
PageCursor = Annotated[
    str | None,
    Query(
        max_length=200,
        pattern=CURSOR_PATTERN,
        description="`nextCursor` of the previous page (opaque; one this API did not issue is a 422)",
    ),
]


@app.get(
    "/programs",
    summary="The caller's programs, newest first",
    operation_id="listPrograms",
    tags=["programs"],
    security=BEARER,
    responses={
        200: {"description": "A page of programs", "content": {"application/json": {"model": ProgramList}}},
        **error_responses(*AUTHENTICATED_ERRORS, InvalidRequest),
    },
)
def list_programs(
    limit: PageSize = 20,
    cursor: PageCursor = None,
) -> ProgramList:
    return service.list_programs(_deps(), _user().user_id, limit=limit, cursor=cursor)


@app.post(
    "/programs/<program_id>/retry",
    summary="Retry a failed or cancelled generation",
    description=(
        "Only a failed or cancelled program; it goes back to pending and counts toward the daily quota."
    ),
    operation_id="retryProgram",
    tags=["programs"],
    security=BEARER,
    responses={
        202: accepted_response(AcceptedResponse, "Accepted: the program is pending again"),
        **error_responses(
            *AUTHENTICATED_ERRORS,
            *BODY_ERRORS,
            SubscriptionRequired,
            ProgramNotFound,
            NotRetryable,
            GenerationInFlight,
            QuotaExceeded,
        ),
    },
)
def retry_program(program_id: ProgramIdParam) -> Response[AcceptedResponse]:
    pid = _program_id(program_id)
    service.retry_generation(_dispatching(), _user().user_id, pid)
    return _accepted(pid)


@app.post(
    "/programs/<program_id>/cancel",
    summary="Cancel a generation",
    description=(
        "No body (or `{}`). A pending program is cancelled at once (`status: cancelled`; its request "
        "goes back to the daily quota unless its generation had already started once). A processing "
        "one stops at its worker's next checkpoint, usually about a second later; when its worker "
        "reaches none (waiting for the model's first output, or gone) the sweeper records the cancel "
        "after `GENERATION_CANCEL_GRACE_SECONDS` (60 s) plus up to a minute (`status: processing`, "
        "`cancelRequested: true`; follow it until `cancelled`). Either way a new program can be "
        "requested at once. A completed, failed or cancelled program answers 409. A cancelled "
        "program can be retried."
    ),
    operation_id="cancelProgram",
    tags=["programs"],
    security=BEARER,
    responses={
        202: {
            "description": "Cancelled, or being stopped",
            "content": {"application/json": {"model": CancelResponse}},
        },
        **error_responses(*AUTHENTICATED_ERRORS, *BODY_ERRORS, ProgramNotFound, ProgramAlreadyFinal),
    },
)
def cancel_program(program_id: ProgramIdParam) -> Response[CancelResponse]:
    body = service.cancel_generation(_deps(), _user().user_id, _program_id(program_id))
    return Response(status_code=202, content_type="application/json", body=body)


@app.post(
    "/realtime/tickets",
    summary="A single-use ticket to open the realtime WebSocket with",
    description=(
        "No body (or `{}`). Open `url` as it is within `expiresIn` seconds: the socket then receives a "
        "`program.updated` message for every state change of the caller's programs (docs/frontend.md, "
        "'Live updates'). A ticket opens one connection; ask for a new one to reconnect. Any answer "
        "but 201: poll instead."
    ),
    operation_id="createRealtimeTicket",
    tags=["realtime"],
    security=BEARER,
    responses={
        201: {
            "description": "A ticket, and the URL to open with it",
            "content": {"application/json": {"model": RealtimeTicketResponse}},
        },
        # REALTIME_UNAVAILABLE (404): no live updates in this deployment (or for this user);
        # TOO_MANY_CONNECTIONS (429): the caller holds its maximum of connections (Retry-After).
        **error_responses(*AUTHENTICATED_ERRORS, *BODY_ERRORS, RealtimeUnavailable, TooManyConnections),
    },
)
def create_realtime_ticket() -> Response[RealtimeTicketResponse]:
    body = service.create_realtime_ticket(_deps(), _user().user_id)
    return Response(status_code=201, content_type="application/json", body=body)


# --- Batches (service callers) -----------------------------------------------------------------

BatchIdParam = Annotated[
    str,
    Path(
        description="The batch's id (`batchId`); a malformed id answers 404 like a missing one",
        json_schema_extra={"format": "uuid"},
    ),
]
SERVICE_ERRORS = (*AUTHENTICATED_ERRORS, Forbidden)
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]+$"  # printable ASCII, no spaces


@app.get(
    "/batches",
    summary="The caller's batches, newest first (service callers)",
    description="The batches this caller (its token's `sub`) created, a page at a time.",
    operation_id="listBatches",
    tags=["batches"],
    security=BEARER,
    responses={
        200: {"description": "A page of batches", "content": {"application/json": {"model": BatchList}}},
        **error_responses(*SERVICE_ERRORS, InvalidRequest),
    },
)
def list_batches(
    limit: PageSize = 20,
    cursor: PageCursor = None,
) -> BatchList:
    return batch_service.list_batches(_deps(), _service(), limit=limit, cursor=cursor)


def _batch_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError as exc:
        raise BatchNotFound() from exc


@app.post(
    "/batches",
    summary="Generate programs for many users at once (service callers)",
    description=(
        f"Up to {MAX_BATCH_MEMBERS} user ids, each once. Answers 202 at once: each user who has an "
        "active subscription, has finished onboarding and has no generation in flight gets a program "
        "(pending; visible to the user through the program routes, and their one generation in flight); "
        "the others are listed in the batch's `members` with the reason. The programs are generated "
        "through Anthropic's Message Batches API at half the LLM price (most within an hour, at most "
        "24 h), at the lowest priority; they do not count toward the users' daily quotas. Follow "
        "`statusUrl`. Needs a bearer token whose `role` is `service_role` (user tokens: 403)."
    ),
    operation_id="createBatch",
    tags=["batches"],
    security=BEARER,
    responses={
        202: {
            "description": "Accepted: the members' programs are pending",
            "headers": {
                "Location": {
                    "description": "The batch's status URL (the same as `statusUrl`)",
                    "schema": {
                        "type": "string",
                        "examples": ["/batches/0b7e1c2d-0000-4000-8000-000000000000"],
                    },
                }
            },
            "content": {"application/json": {"model": BatchAcceptedResponse}},
        },
        **error_responses(*SERVICE_ERRORS, *BODY_ERRORS, InvalidRequest, IdempotencyKeyReused),
    },
)
def create_batch(
    body: Annotated[CreateBatchRequest, Body()],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="idempotency-key",
            min_length=1,
            max_length=200,
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="Makes a retry safe: the same key and body answer the batch made the first "
            "time (202, same batchId); the same key with another body: 409 IDEMPOTENCY_KEY_REUSED. "
            "Unique per caller (the token's `sub`); printable ASCII, up to 200 characters",
        ),
    ] = None,
) -> Response[BatchAcceptedResponse]:
    accepted = batch_service.create_batch(_deps(), _service(), body, idempotency_key=idempotency_key)
    return Response(
        status_code=202,
        content_type="application/json",
        body=accepted,
        headers={"Location": accepted.status_url, "Cache-Control": "no-store"},
    )


@app.get(
    "/batches/<batch_id>",
    summary="A batch: its members' statuses, counts and LLM cost (service callers)",
    operation_id="getBatch",
    tags=["batches"],
    security=BEARER,
    responses={
        200: {"description": "The batch", "content": {"application/json": {"model": BatchResponse}}},
        **error_responses(*SERVICE_ERRORS, BatchNotFound),
    },
)
def get_batch(batch_id: BatchIdParam) -> BatchResponse:
    return batch_service.get_batch(_deps(), _service(), _batch_id(batch_id))


@app.post(
    "/batches/<batch_id>/cancel",
    summary="Cancel a batch (service callers)",
    description=(
        "No body (or `{}`). Every member not final yet is cancelled: at once when it had not started, "
        "at its worker's next checkpoint when it had. Completed members keep their programs. A batch "
        "with nothing left to cancel answers 409."
    ),
    operation_id="cancelBatch",
    tags=["batches"],
    security=BEARER,
    responses={
        202: {
            "description": "Cancelled, or being stopped",
            "content": {"application/json": {"model": BatchCancelResponse}},
        },
        **error_responses(*SERVICE_ERRORS, *BODY_ERRORS, BatchNotFound, BatchAlreadyFinal),
    },
)
def cancel_batch(batch_id: BatchIdParam) -> Response[BatchCancelResponse]:
    body = batch_service.cancel_batch(_deps(), _service(), _batch_id(batch_id))
    return Response(status_code=202, content_type="application/json", body=body)


@app.get(
    "/health",
    summary="Liveness; with deep=true, readiness (database and auth configuration)",
    operation_id="getHealth",
    tags=["health"],
    description=(
        "Without `deep` (or with deep=false): 200 as soon as the function runs; nothing is checked. "
        "With deep=true: one `SELECT 1` against the database and a check that the JWT signing "
        "secret (and the JWKS URL, when configured) resolve; 200 when both pass, else 503 naming "
        "the failed checks. Public: run it after a deploy, not as a frequent probe."
    ),
    responses={
        200: {
            "description": "Alive (shallow), or ready (deep=true)",
            "content": {"application/json": {"model": HealthResponse}},
        },
        **error_responses(InvalidRequest),
        503: {
            "description": "deep=true: a check failed (`checks` names which; the logs say why)",
            "content": {"application/json": {"model": NotReadyResponse}},
        },
    },
)
def health(deep: Annotated[bool, Query()] = False) -> Response[str]:
    if not deep:
        return _json(200, HealthResponse(status="ok"))
    passed = service.check_readiness(_deps())
    checks = ReadinessChecks.model_validate({name: "ok" if ok else "failed" for name, ok in passed.items()})
    if all(passed.values()):
        return _json(200, HealthResponse(status="ok", checks=checks))
    failed = ", ".join(name for name, ok in passed.items() if not ok)
    error = ServiceUnavailable(f"Not ready: {failed}.")
    body = NotReadyResponse.model_validate(
        {"error": {"code": error.code, "message": error.message}, "checks": checks}
    )
    return _json(503, body, headers=error_headers(error))


def _json(
    status: int, body: HealthResponse | NotReadyResponse, headers: dict[str, str] | None = None
) -> Response[str]:
    return Response(
        status, "application/json", body.model_dump_json(by_alias=True, exclude_none=True), headers
    )


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    if not _deps().settings.openapi_enabled:
        raise ProgramNotFound("Not found.")
    return Response(200, "application/json", json.dumps(build_document(app)))


@app.exception_handler(AppError)
def _app_error(exc: AppError) -> Response[str]:
    return Response(status_for(exc), "application/json", error_body(exc), error_headers(exc))


@app.exception_handler(RequestValidationError)
def _validation_error(exc: RequestValidationError) -> Response[str]:
    return _app_error(validation_error(exc.errors()))


@app.exception_handler(RequestUnsupportedContentType)
def _unsupported_content_type(_: RequestUnsupportedContentType) -> Response[str]:
    return _app_error(UnsupportedMediaType())  # `handle` refuses these first; kept for any route


@app.not_found
def _not_found(_: NotFoundError) -> Response[str]:
    return _app_error(ProgramNotFound("Not found."))


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response[str]:
    logger.error("unhandled error", extra=describe_unexpected(exc))
    return _app_error(AppError())  # INTERNAL_ERROR, 500, from the one mapping
