"""The trigger's real handler on a real PostgreSQL: every route of the HTTP contract."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from tests.conftest import token_for
from tests.support import RecordingDispatcher, http_event, invoke_trigger, new_user
from tpg.api import service
from tpg.api.models import CreateProgramRequest
from tpg.platform.errors import GenerationInFlight


@pytest.fixture
def dispatcher() -> RecordingDispatcher:
    return RecordingDispatcher()


def _post(token: str | None, dispatcher: RecordingDispatcher, body=None, **kwargs):
    return invoke_trigger(http_event("POST", "/programs", token=token, body=body, **kwargs), dispatcher)


def test_accept_inserts_a_pending_row_and_dispatches_it(sql, dispatcher) -> None:
    user_id, token = new_user(sql)
    status, headers, body = _post(
        token, dispatcher, {"name": "Spring block", "weeks": 6, "notes": "mornings"}
    )
    assert status == 202
    assert body["status"] == "pending" and headers["Location"] == body["statusUrl"]
    row = sql.execute("SELECT * FROM training_programs WHERE id = %s", (body["programId"],)).fetchone()
    assert row["user_id"] == user_id and row["generation_status"] == "pending"
    assert row["name"] == "Spring block" and row["request"] == {
        "name": "Spring block",
        "weeks": 6,
        "notes": "mornings",
    }
    assert dispatcher.dispatched == [(uuid.UUID(body["programId"]), "accepted")]


def test_an_empty_body_is_a_default_request(sql, dispatcher) -> None:
    _, token = new_user(sql)
    status, _, body = _post(token, dispatcher)
    assert status == 202
    assert sql.execute("SELECT request->>'weeks' AS w FROM training_programs").fetchone()["w"] == "4"


def test_no_subscription_is_402_and_writes_nothing(sql, dispatcher) -> None:
    _, token = new_user(sql, subscribed=False)
    status, _, body = _post(token, dispatcher)
    assert (status, body["error"]["code"]) == (402, "SUBSCRIPTION_REQUIRED")
    assert sql.execute("SELECT count(*) AS n FROM training_programs").fetchone()["n"] == 0
    assert dispatcher.dispatched == []


def test_expired_subscription_is_402(sql, dispatcher) -> None:
    user_id, token = new_user(sql)
    sql.execute(
        "UPDATE subscriptions SET current_period_end = now() - interval '1 day' WHERE user_id = %s",
        (user_id,),
    )
    assert _post(token, dispatcher)[0] == 402


def test_incomplete_onboarding_is_409(sql, dispatcher) -> None:
    _, token = new_user(sql, onboarded=False)
    status, _, body = _post(token, dispatcher)
    assert (status, body["error"]["code"]) == (409, "ONBOARDING_INCOMPLETE")


def test_a_user_without_a_profile_is_402_not_500(sql, dispatcher) -> None:
    status, _, _ = _post(token_for(uuid.uuid4()), dispatcher)
    assert status == 402


def test_a_second_request_while_one_is_in_flight_is_409_naming_it(sql, dispatcher) -> None:
    _, token = new_user(sql)
    first = _post(token, dispatcher)[2]["programId"]
    status, _, body = _post(token, dispatcher)
    assert status == 409
    assert body["error"] == {
        "code": "GENERATION_IN_FLIGHT",
        "message": body["error"]["message"],
        "programId": first,
    }


def test_twenty_concurrent_requests_for_one_user_accept_exactly_one(sql, dispatcher, handlers) -> None:
    """I1 under concurrency. Twenty Lambda environments, each with its own connection: threads
    calling the accept logic (a handler module, like Lambda's, serves one request at a time)."""
    user_id, _ = new_user(sql)
    barrier = threading.Barrier(20)
    deps = replace(handlers.trigger, dispatcher=dispatcher)  # one connection per thread

    def request() -> str:
        barrier.wait()
        try:
            return str(service.request_generation(deps, user_id, CreateProgramRequest()))
        except GenerationInFlight as conflict:
            return f"409:{conflict.program_id}"

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: request(), range(20)))
    accepted = [r for r in results if not r.startswith("409")]
    assert len(accepted) == 1
    assert {r for r in results if r.startswith("409")} == {f"409:{accepted[0]}"}
    assert sql.execute("SELECT count(*) AS n FROM training_programs").fetchone()["n"] == 1
    assert len(dispatcher.dispatched) == 1


def test_a_failed_dispatch_still_answers_202_and_keeps_the_row(sql) -> None:
    _, token = new_user(sql)
    status, _, body = _post(token, RecordingDispatcher(fail=True))
    assert status == 202
    row = sql.execute(
        "SELECT generation_status FROM training_programs WHERE id = %s", (body["programId"],)
    ).fetchone()
    assert row["generation_status"] == "pending"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "MALFORMED_JSON"),
        (b'{"weeks": 0}', 422, "INVALID_REQUEST"),
        (b'{"weeks": "many"}', 422, "INVALID_REQUEST"),
        (b'{"name": ""}', 422, "INVALID_REQUEST"),
        (b'{"unknown": 1}', 422, "INVALID_REQUEST"),
        (b'{"notes": "' + b"x" * 600 + b'"}', 422, "INVALID_REQUEST"),
        (b"[1, 2]", 422, "INVALID_REQUEST"),
        (b'{"name": "Block\\u0000one"}', 422, "INVALID_REQUEST"),  # PostgreSQL refuses NUL
        (b'{"notes": "ring the \\u0007 bell"}', 422, "INVALID_REQUEST"),
    ],
)
def test_bad_bodies_get_a_clear_error_and_write_nothing(sql, dispatcher, body, status, code) -> None:
    _, token = new_user(sql)
    got_status, _, got = _post(token, dispatcher, raw_body=body)
    assert (got_status, got["error"]["code"]) == (status, code)
    assert "x" * 50 not in got["error"]["message"]  # input is never echoed back
    assert sql.execute("SELECT count(*) AS n FROM training_programs").fetchone()["n"] == 0


def test_an_oversized_body_is_413_before_anything_else(sql, dispatcher) -> None:
    _, token = new_user(sql)
    status, _, body = _post(token, dispatcher, raw_body=b'{"notes": "' + b"x" * 20_000 + b'"}')
    assert (status, body["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert _post(None, dispatcher, raw_body=b"x" * 20_000)[0] == 413


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/programs"),
        ("GET", "/programs"),
        ("GET", f"/programs/{uuid.uuid4()}"),
        ("POST", f"/programs/{uuid.uuid4()}/retry"),
    ],
)
def test_every_private_route_needs_a_token(sql, dispatcher, method, path) -> None:
    for token in (None, "garbage", token_for(uuid.uuid4(), ttl_seconds=-10)):
        status, headers, body = invoke_trigger(
            http_event(method, path, token=token, raw_body=b"{bad"), dispatcher
        )
        assert (status, body["error"]["code"]) == (401, "UNAUTHORIZED")
        assert headers["WWW-Authenticate"].startswith("Bearer")


def test_status_of_an_accepted_program(sql, dispatcher) -> None:
    _, token = new_user(sql)
    program_id = _post(token, dispatcher)[2]["programId"]
    status, _, body = invoke_trigger(http_event("GET", f"/programs/{program_id}", token=token))
    assert status == 200
    assert body["programId"] == program_id and body["status"] == "pending" and body["stage"] == "queued"
    assert body["program"] is None and body["error"] is None and body["progress"] == 0


def test_user_b_cannot_see_list_or_retry_user_a_programs(sql, dispatcher) -> None:
    _, token_a = new_user(sql)
    _, token_b = new_user(sql)
    program_id = _post(token_a, dispatcher)[2]["programId"]
    sql.execute(
        "UPDATE training_programs SET generation_status = 'failed', error_code = 'X' WHERE id = %s",
        (program_id,),
    )
    before = sql.execute("SELECT * FROM training_programs WHERE id = %s", (program_id,)).fetchone()

    missing = str(uuid.uuid4())
    for path in (f"/programs/{program_id}", f"/programs/{missing}", "/programs/not-a-uuid"):
        status, _, body = invoke_trigger(http_event("GET", path, token=token_b))
        assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    assert invoke_trigger(http_event("GET", "/programs", token=token_b))[2]["items"] == []
    status, _, _ = invoke_trigger(
        http_event("POST", f"/programs/{program_id}/retry", token=token_b), dispatcher
    )
    assert status == 404
    after = sql.execute("SELECT * FROM training_programs WHERE id = %s", (program_id,)).fetchone()
    assert after == before


def test_retry_moves_failed_to_pending_and_redispatches(sql, dispatcher) -> None:
    _, token = new_user(sql)
    program_id = _post(token, dispatcher)[2]["programId"]
    path = f"/programs/{program_id}/retry"
    assert invoke_trigger(http_event("POST", path, token=token), dispatcher)[0] == 409  # still pending
    sql.execute(
        "UPDATE training_programs SET generation_status = 'failed', attempts = 3, error_code = 'X',"
        " generation_error = 'boom' WHERE id = %s",
        (program_id,),
    )
    status, _, body = invoke_trigger(http_event("POST", path, token=token), dispatcher)
    assert (status, body["status"]) == (202, "pending")
    row = sql.execute("SELECT * FROM training_programs WHERE id = %s", (program_id,)).fetchone()
    # attempts never go down (they fence workers' writes): the retry grants three more
    assert (row["generation_status"], row["attempts"], row["max_attempts"]) == ("pending", 3, 6)
    assert row["error_code"] is None
    assert dispatcher.dispatched[-1] == (uuid.UUID(program_id), "retry")


def test_retry_is_refused_while_another_generation_is_in_flight(sql, dispatcher) -> None:
    _, token = new_user(sql)
    failed = _post(token, dispatcher)[2]["programId"]
    sql.execute(
        "UPDATE training_programs SET generation_status = 'failed', error_code = 'X' WHERE id = %s", (failed,)
    )
    in_flight = _post(token, dispatcher)[2]["programId"]
    status, _, body = invoke_trigger(http_event("POST", f"/programs/{failed}/retry", token=token), dispatcher)
    assert (status, body["error"]["code"], body["error"]["programId"]) == (
        409,
        "GENERATION_IN_FLIGHT",
        in_flight,
    )


def test_list_is_newest_first_and_paginates(sql, dispatcher) -> None:
    _, token = new_user(sql)
    ids = []
    for _ in range(5):
        ids.append(_post(token, dispatcher)[2]["programId"])
        sql.execute(
            "UPDATE training_programs SET generation_status = 'completed', program = '{}',"
            " completed_at = now() WHERE id = %s",
            (ids[-1],),
        )
    seen, cursor = [], None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        status, _, body = invoke_trigger(http_event("GET", "/programs" + query, token=token))
        assert status == 200
        seen += [item["programId"] for item in body["items"]]
        cursor = body["nextCursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))


@pytest.mark.parametrize(
    "query", ["?limit=0", "?limit=51", "?limit=x", "?cursor=%%%", "?cursor=bm90LWEtY3Vyc29y"]
)
def test_list_rejects_bad_parameters_with_422(sql, query) -> None:
    _, token = new_user(sql)
    status, _, body = invoke_trigger(http_event("GET", "/programs" + query, token=token))
    assert (status, body["error"]["code"]) == (422, "INVALID_REQUEST")


def test_health_and_openapi_are_public() -> None:
    assert invoke_trigger(http_event("GET", "/health"))[0] == 200
    status, _, document = invoke_trigger(http_event("GET", "/openapi.json"))
    assert status == 200
    assert {"/programs", "/programs/{program_id}", "/programs/{program_id}/retry"} <= set(document["paths"])


def _finished_programs(sql, user_id, n: int, hours_ago: float = 1) -> None:
    """Programs requested (and finished) earlier, with the requests the quota counts."""
    for _ in range(n):
        sql.execute(
            "WITH program AS ("
            "  INSERT INTO training_programs"
            "    (user_id, name, generation_status, program, created_at, completed_at)"
            "  VALUES (%(user)s, 'earlier', 'completed', '{}', now() - make_interval(secs => %(ago)s), now())"
            "  RETURNING id"
            ") INSERT INTO generation_requests (user_id, program_id, kind, requested_at)"
            " SELECT %(user)s, id, 'new', now() - make_interval(secs => %(ago)s) FROM program",
            {"user": user_id, "ago": hours_ago * 3600},
        )


def test_the_daily_quota_is_429_with_retry_after(sql, dispatcher) -> None:
    user_id, token = new_user(sql)
    _finished_programs(sql, user_id, 5, hours_ago=20)  # standard tier: 5 a day
    status, headers, body = _post(token, dispatcher)
    assert (status, body["error"]["code"]) == (429, "QUOTA_EXCEEDED")
    # the oldest of the five leaves the 24 h window in about 4 hours
    assert 4 * 3600 - 60 <= int(headers["Retry-After"]) <= 4 * 3600
    assert dispatcher.dispatched == []


def test_generations_older_than_a_day_do_not_count(sql, dispatcher) -> None:
    user_id, token = new_user(sql)
    _finished_programs(sql, user_id, 4, hours_ago=2)
    _finished_programs(sql, user_id, 10, hours_ago=30)
    assert _post(token, dispatcher)[0] == 202


def test_the_quota_is_set_per_subscription_tier(sql, dispatcher) -> None:
    user_id, token = new_user(sql)
    sql.execute("UPDATE subscriptions SET tier = 'premium' WHERE user_id = %s", (user_id,))
    _finished_programs(sql, user_id, 19)
    assert _post(token, dispatcher)[0] == 202  # premium: 20 a day
    sql.execute(
        "UPDATE training_programs SET generation_status = 'completed', program = '{}', completed_at = now()"
        " WHERE user_id = %s",
        (user_id,),
    )
    assert _post(token, dispatcher)[0] == 429


def test_at_quota_with_a_program_in_flight_the_answer_is_409_naming_it(sql, dispatcher) -> None:
    user_id, token = new_user(sql)
    _finished_programs(sql, user_id, 4)
    in_flight = _post(token, dispatcher)[2]["programId"]  # the fifth of five
    status, _, body = _post(token, dispatcher)
    assert (status, body["error"]["code"], body["error"]["programId"]) == (
        409,
        "GENERATION_IN_FLIGHT",
        in_flight,
    )


def test_a_tier_with_a_zero_quota_says_retry_in_a_day(sql, dispatcher) -> None:
    user_id, token = new_user(sql)
    sql.execute(
        "INSERT INTO subscription_tiers (tier, daily_generation_quota) VALUES ('paused', 0)"
        " ON CONFLICT DO NOTHING"
    )
    sql.execute("UPDATE subscriptions SET tier = 'paused' WHERE user_id = %s", (user_id,))
    status, headers, _ = _post(token, dispatcher)
    assert (status, headers["Retry-After"]) == (429, str(24 * 3600))


def test_a_signing_secret_that_cannot_be_read_fails_closed_with_a_json_503(sql, handlers) -> None:
    _, token = new_user(sql)
    handlers.update(settings=handlers.settings.model_copy(update={"jwt_secret": None}))
    status, _, body = invoke_trigger(http_event("GET", "/programs", token=token))
    assert (status, body["error"]["code"]) == (503, "SERVICE_UNAVAILABLE")


@pytest.mark.parametrize(
    ("column", "table", "value", "accepted"),
    [
        ("session_minutes", "onboarding_responses", 19, False),
        ("session_minutes", "onboarding_responses", 20, True),
        ("session_minutes", "onboarding_responses", 180, True),
        ("session_minutes", "onboarding_responses", 181, False),
        ("weight_kg", "profiles", 30, False),
        ("weight_kg", "profiles", 30.5, True),
        ("height_cm", "profiles", 250, False),
    ],
)
def test_onboarding_outside_what_the_pipeline_accepts_is_409_at_once(
    sql, dispatcher, column, table, value, accepted
) -> None:
    """The accept statement's ranges are UserData's: checked on both sides of each bound."""
    from pydantic import ValidationError

    from tpg.training.user_data import UserData
    from tpg_local.personas import PERSONAS

    user_id, token = new_user(sql)
    key = "id" if table == "profiles" else "user_id"
    sql.execute(f"UPDATE {table} SET {column} = %s WHERE {key} = %s", (value, user_id))  # noqa: S608
    status, _, body = _post(token, dispatcher)
    assert status == (202 if accepted else 409)
    if not accepted:
        assert body["error"]["code"] == "ONBOARDING_INCOMPLETE"
    persona = {k: v for k, v in PERSONAS["hypertrophy_hannah"].items()}
    try:
        UserData.model_validate({**persona, "user_id": user_id, column: value})
        pipeline_accepts = True
    except ValidationError:
        pipeline_accepts = False
    assert pipeline_accepts == accepted


def test_retries_count_toward_the_daily_quota(sql, dispatcher) -> None:
    """A retry spends LLM calls like a new request: five requests a day in all, retries included."""
    user_id, token = new_user(sql)
    _finished_programs(sql, user_id, 3)
    program_id = _post(token, dispatcher)[2]["programId"]  # the 4th request
    retry = f"/programs/{program_id}/retry"
    for expected in (202, 429):  # the retry is the 5th request; the next one is over the quota
        sql.execute(
            "UPDATE training_programs SET generation_status = 'failed', error_code = 'X' WHERE id = %s",
            (program_id,),
        )
        status, headers, body = invoke_trigger(http_event("POST", retry, token=token), dispatcher)
        assert status == expected
    assert body["error"]["code"] == "QUOTA_EXCEEDED" and int(headers["Retry-After"]) > 0
    kinds = sql.execute("SELECT kind, count(*) AS n FROM generation_requests GROUP BY kind ORDER BY kind")
    assert [(r["kind"], r["n"]) for r in kinds] == [("new", 4), ("retry", 1)]
