"""Batch generation on real parts: the trigger's batch routes, real PostgreSQL, the sweeper's batch
step with the real anthropic SDK against the fake Messages API's Message Batches endpoints, and the
generate worker for the members that go through the normal queue."""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import psycopg
import pytest

from tests.conftest import TEST_JWT_SECRET
from tests.fakes.anthropic_server import (
    FakeAnthropic,
    OutOfRange,
    Refusal,
    Status,
    Truncated,
    Unsafe,
    settings_for,
)
from tests.support import RecordingDispatcher, http_event, invoke_generate, invoke_trigger, new_user
from tpg.api.auth import issue_service_token
from tpg.generation.claude.pricing import cost_usd, price_table
from tpg.store import batches as store
from tpg.store.batches import BATCH_PRIORITY
from tpg.training.analysis import analyse
from tpg.training.validation import parse_program, validate_program
from tpg.worker import batches as step_module
from tpg.worker.sweeper import sweep
from tpg_local.personas import PERSONAS, persona_user_data
from tpg_local.seed import seed_user
from tpg_local.stats import collect_stats, format_stats

SERVICE = issue_service_token("tests", secret=TEST_JWT_SECRET)


# --- helpers -------------------------------------------------------------------------------------


def call(method: str, path: str, token: str | None = SERVICE, body: Any = None) -> tuple[int, Any]:
    status, _, answer = invoke_trigger(http_event(method, path, token=token, body=body))
    return status, answer


def create(user_ids: list[UUID], **body: Any) -> dict[str, Any]:
    status, answer = call("POST", "/batches", body={"userIds": [str(u) for u in user_ids], **body})
    assert status == 202, answer
    return answer


def batch(batch_id: str) -> dict[str, Any]:
    status, answer = call("GET", f"/batches/{batch_id}")
    assert status == 200, answer
    return answer


def users(sql: psycopg.Connection, n: int, **kwargs: Any) -> list[tuple[UUID, str]]:
    """`n` users, the demo personas in turn (each user's persona is returned with it)."""
    personas = itertools.cycle(sorted(PERSONAS))
    made = []
    for _ in range(n):
        persona = next(personas)
        made.append((seed_user(sql, persona=persona, **kwargs), persona))
    return made


def claude(handlers: Any, fake: FakeAnthropic, **overrides: Any) -> None:
    """The handlers on the Claude path against `fake` (no result cache: every member asks)."""
    values = settings_for(fake, **overrides).model_dump(
        include={
            "llm_provider",
            "anthropic_api_key",
            "anthropic_base_url",
            "llm_backoff_initial_seconds",
            "llm_backoff_max_seconds",
            "llm_read_timeout_seconds",
            *overrides,
        }
    )
    handlers.update(
        settings=handlers.settings.model_copy(update=values), providers=None, cache=lambda _: None
    )


def sweep_once(handlers: Any) -> Any:
    """One sweep (the batch step included), its dispatches recorded, not run."""
    from functions.sweeper import app

    deps = app.dependencies()
    from dataclasses import replace

    return sweep(replace(deps, dispatcher=RecordingDispatcher()))


def run_queue(sql: psycopg.Connection) -> int:
    """Run generate until nothing is pending (each invocation claims the most urgent row)."""
    runs = 0
    while True:
        row = sql.execute(
            "SELECT id FROM training_programs WHERE generation_status = 'pending' LIMIT 1"
        ).fetchone()
        if row is None:
            return runs
        invoke_generate(row["id"])
        runs += 1


def rows(sql: psycopg.Connection, batch_id: str) -> list[dict[str, Any]]:
    return sql.execute(
        "SELECT tp.*, m.position FROM generation_batch_members m"
        " JOIN training_programs tp ON tp.id = m.program_id"
        " WHERE m.batch_id = %s ORDER BY m.position",
        (batch_id,),
    ).fetchall()


def in_queue(sql: psycopg.Connection) -> int:
    row = sql.execute(
        "SELECT count(*) AS n FROM training_programs"
        " WHERE batch_id IS NOT NULL AND generation_status IN ('pending', 'processing')"
    ).fetchone()
    return int(row["n"])


@pytest.fixture(autouse=True)
def _dispatcher(handlers: Any) -> None:
    handlers.update(dispatcher=RecordingDispatcher())  # events recorded; tests run generate themselves


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


# --- the API ------------------------------------------------------------------------------------


def test_only_service_tokens_reach_the_batch_routes_and_only_user_tokens_the_program_routes(
    sql, handlers
) -> None:
    user_id, user_token = new_user(sql)
    some_id = str(uuid.uuid4())
    for method, path, body in (
        ("POST", "/batches", {"userIds": [str(user_id)]}),
        ("GET", f"/batches/{some_id}", None),
        ("POST", f"/batches/{some_id}/cancel", None),
    ):
        status, answer = call(method, path, token=user_token, body=body)
        assert (status, answer["error"]["code"]) == (403, "FORBIDDEN"), path
        status, answer = call(method, path, token=None, body=body)
        assert (status, answer["error"]["code"]) == (401, "UNAUTHORIZED"), path
    # a service token is nobody's: the user routes refuse it as before
    assert call("POST", "/programs", body={})[0] == 401
    assert call("GET", "/programs")[0] == 401
    # the wrong kind of caller is refused before the body is read
    assert call("POST", "/batches", token=user_token, body={"userIds": "nope"})[0] == 403
    assert call("POST", "/programs", body={"weeks": "nope"})[0] == 401
    # a service token for another audience, or past its lifetime bound, is refused like any token
    other = issue_service_token("tests", secret=TEST_JWT_SECRET, audience="anon")
    assert call("GET", f"/batches/{some_id}", token=other)[0] == 401
    long_lived = issue_service_token("tests", secret=TEST_JWT_SECRET, ttl_seconds=40 * 24 * 3600)
    assert call("GET", f"/batches/{some_id}", token=long_lived)[0] == 401
    assert sql.execute("SELECT count(*) AS n FROM generation_batches").fetchone()["n"] == 0
    assert call("GET", f"/batches/{some_id}")[0] == 404
    assert call("GET", "/batches/not-a-uuid")[0] == 404


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"userIds": []}, "empty"),
        ({"userIds": ["not-a-uuid"]}, "not a uuid"),
        ({"userIds": [42]}, "not a string"),
        ({"userIds": [str(uuid.UUID(int=1))] * 2}, "twice"),
        ({"userIds": [str(uuid.uuid4()) for _ in range(1001)]}, "over 1,000"),
        ({"userIds": [str(uuid.uuid4())], "weeks": 13}, "weeks"),
        ({"userIds": [str(uuid.uuid4())], "weeks": "4"}, "weeks as text"),
        ({"userIds": [str(uuid.uuid4())], "extra": 1}, "unknown field"),
        ({"userIds": [str(uuid.uuid4())], "name": ""}, "empty name"),
    ],
)
def test_a_bad_batch_request_is_a_422_that_writes_nothing(sql, handlers, body: Any, why: str) -> None:
    status, answer = call("POST", "/batches", body=body)
    assert (status, answer["error"]["code"]) == (422, "INVALID_REQUEST"), why
    assert sql.execute("SELECT count(*) AS n FROM generation_batches").fetchone()["n"] == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"userIds": []}, "userIds: must list 1 to 1000 user ids"),
        ({"userIds": "abc"}, "userIds: must list 1 to 1000 user ids"),
        ({"userIds": [str(uuid.uuid4()) for _ in range(1001)]}, "userIds: must list 1 to 1000 user ids"),
        ({"userIds": ["not-a-uuid"]}, "userIds: must be UUIDs"),
        ({"userIds": [42]}, "userIds: must be UUIDs"),
        ({"userIds": [str(uuid.UUID(int=1))] * 2}, "userIds: each user id may appear once"),
        ({"weeks": 4}, "userIds: is required"),
        ({"userIds": [str(uuid.uuid4())], "weeks": 13}, "weeks: must be at most 12"),
    ],
)
def test_a_bad_user_id_list_is_told_in_our_words(sql, handlers, body: Any, message: str) -> None:
    status, answer = call("POST", "/batches", body=body)
    assert status == 422
    assert answer["error"]["message"] == f"Invalid request: {message}"


def _post_batch(body: Any, key: str | None, token: str = SERVICE) -> tuple[int, Any]:
    headers = {"Idempotency-Key": key} if key is not None else None
    status, _, answer = invoke_trigger(
        http_event("POST", "/batches", token=token, body=body, headers=headers)
    )
    return status, answer


def test_an_idempotency_key_makes_a_retried_create_answer_the_same_batch(sql, handlers) -> None:
    user_id, _ = new_user(sql)
    body = {"userIds": [str(user_id)], "name": "Block 2"}
    first = _post_batch(body, "roster-2026-12-02")
    again = _post_batch(body, "roster-2026-12-02")
    assert first[0] == again[0] == 202 and again[1] == first[1]
    assert sql.execute("SELECT count(*) AS n FROM generation_batches").fetchone()["n"] == 1
    # the same key with another request: refused, nothing written
    status, refused = _post_batch({**body, "weeks": 6}, "roster-2026-12-02")
    assert (status, refused["error"]["code"]) == (409, "IDEMPOTENCY_KEY_REUSED")
    # keys are per caller: another caller's same key is its own batch
    other = issue_service_token("another-backend", secret=TEST_JWT_SECRET)
    status, theirs = _post_batch({"userIds": [str(uuid.uuid4())]}, "roster-2026-12-02", token=other)
    assert status == 202 and theirs["batchId"] != first[1]["batchId"]
    # a malformed key is a 422 in our words
    status, bad = _post_batch(body, "has space")
    assert (status, bad["error"]["code"]) == (422, "INVALID_REQUEST")
    assert bad["error"]["message"] == "Invalid request: idempotency-key: is not in the expected format"


def test_a_batch_is_its_creators_only_and_the_creator_lists_its_batches_newest_first(sql, handlers) -> None:
    made = [create([uuid.uuid4()], name=f"Batch {i}")["batchId"] for i in range(3)]
    other = issue_service_token("another-backend", secret=TEST_JWT_SECRET)
    assert call("GET", f"/batches/{made[0]}", token=other)[0] == 404
    assert call("POST", f"/batches/{made[0]}/cancel", token=other)[0] == 404
    assert call("GET", "/batches", token=other) == (200, {"items": [], "nextCursor": None})
    status, page = call("GET", "/batches?limit=2")
    assert status == 200 and [b["batchId"] for b in page["items"]] == made[:0:-1]
    assert page["items"][0]["statusUrl"] == f"/batches/{made[2]}" and page["items"][0]["members"] == 1
    assert page["items"][0]["status"] == "ended"  # its one user id was unknown
    status, rest = call("GET", f"/batches?limit=2&cursor={page['nextCursor']}")
    assert status == 200 and [b["batchId"] for b in rest["items"]] == made[:1]
    assert rest["nextCursor"] is None
    assert call("GET", "/batches?cursor=bm90LWEtY3Vyc29y")[0] == 422
    _, token = new_user(sql)
    assert call("GET", "/batches", token=token)[0] == 403


def test_a_member_refused_for_a_generation_in_flight_names_that_program_and_its_batch(sql, handlers) -> None:
    user_id, _ = new_user(sql)
    first = create([user_id])
    in_flight = batch(first["batchId"])["members"][0]["programId"]
    second = create([user_id])
    error = batch(second["batchId"])["members"][0]["error"]
    assert error == {
        "code": "GENERATION_IN_FLIGHT",
        "message": "The user already has a program being generated.",
        "programId": in_flight,
        "batchId": first["batchId"],
    }


def test_a_thousand_user_ids_fit_in_the_body_and_unknown_users_are_reported(sql, handlers) -> None:
    ids = [uuid.uuid4() for _ in range(1000)]
    answer = create(ids)
    assert (answer["accepted"], answer["rejected"]) == (0, 1000)
    body = batch(answer["batchId"])
    assert body["status"] == "ended" and body["counts"]["rejected"] == 1000
    assert {m["error"]["code"] for m in body["members"]} == {"USER_NOT_FOUND"}
    assert [m["userId"] for m in body["members"]] == [str(u) for u in ids]  # the request's order


def test_users_who_may_not_have_a_program_are_reported_per_member_and_the_rest_are_accepted(
    sql, handlers
) -> None:
    ok, ok_token = new_user(sql)
    unsubscribed = seed_user(sql, subscribed=False)
    not_onboarded = seed_user(sql, onboarded=False)
    busy, busy_token = new_user(sql)
    assert invoke_trigger(http_event("POST", "/programs", token=busy_token, body={}))[0] == 202
    unknown = uuid.uuid4()
    answer = create([ok, unsubscribed, not_onboarded, busy, unknown], weeks=6, name="Spring block")
    assert (answer["accepted"], answer["rejected"]) == (1, 4)
    assert answer["statusUrl"] == f"/batches/{answer['batchId']}"
    body = batch(answer["batchId"])
    assert body["status"] == "processing" and body["name"] == "Spring block" and body["weeks"] == 6
    codes = [m["error"]["code"] if m["status"] == "rejected" else m["status"] for m in body["members"]]
    assert codes == [
        "pending",
        "SUBSCRIPTION_REQUIRED",
        "ONBOARDING_INCOMPLETE",
        "GENERATION_IN_FLIGHT",
        "USER_NOT_FOUND",
    ]
    assert body["counts"] == {
        "pending": 1,
        "processing": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
        "rejected": 4,
    }
    # the member is the user's own program, and their one generation in flight
    program_id = body["members"][0]["programId"]
    status, _, program = invoke_trigger(http_event("GET", f"/programs/{program_id}", token=ok_token))
    assert (status, program["status"], program["stage"], program["name"]) == (
        200,
        "pending",
        "queued",
        "Spring block",
    )
    status, _, refused = invoke_trigger(http_event("POST", "/programs", token=ok_token, body={}))
    assert (status, refused["error"]["code"], refused["error"]["programId"]) == (
        409,
        "GENERATION_IN_FLIGHT",
        program_id,
    )
    # ... which does not count toward their daily quota (the caller asked, not the user)
    requests = sql.execute(
        "SELECT count(*) AS n FROM generation_requests WHERE user_id = %s", (ok,)
    ).fetchone()
    assert requests["n"] == 0
    row = sql.execute(
        "SELECT generation_status, priority, request FROM training_programs WHERE id = %s", (program_id,)
    ).fetchone()
    assert (row["generation_status"], row["priority"], row["request"]) == (
        "batched",
        BATCH_PRIORITY,
        {"weeks": 6, "name": "Spring block"},
    )


def test_the_batch_checks_agree_with_post_programs(sql, handlers) -> None:
    """The batch statement repeats the accept statement's checks: the same users pass and fail."""
    from tests.conftest import token_for

    cases = [
        {},
        {"subscribed": False},
        {"onboarded": False},
        {"overrides": {"days_per_week": 7}},
        {"overrides": {"session_minutes": 20}},
        {"overrides": {"age": 13}},
        {"overrides": {"age": 101}},
        {"overrides": {"height_cm": 100}},
        {"overrides": {"weight_kg": 300}},
    ]
    outcomes = []
    for case in cases:
        user_id = seed_user(sql, **case)
        status, _, _ = invoke_trigger(http_event("POST", "/programs", token=token_for(user_id), body={}))
        sql.execute(  # the accepted request out of the way: only the checks differ
            "UPDATE training_programs SET generation_status = 'cancelled', error_code = 'CANCELLED',"
            " cancel_requested_at = now() WHERE user_id = %s",
            (user_id,),
        )
        accepted = create([user_id])["accepted"] == 1
        assert (status == 202) == accepted, case
        outcomes.append(accepted)
    assert True in outcomes and False in outcomes


# --- the Claude path through Message Batches -----------------------------------------------------


def test_a_batch_of_200_completes_every_member_validated_with_failures_falling_back(
    sql, handlers, fake: FakeAnthropic
) -> None:
    claude(handlers, fake, batch_chunk_size=80, batch_queue_slots=10)
    members = users(sql, 200)
    persona_of = {user_id: persona for user_id, persona in members}
    answer = create([u for u, _ in members])
    assert answer["accepted"] == 200
    fake.hold_batches = True

    report = sweep_once(handlers).batches
    assert (report.submitted_chunks, report.submitted_members) == (3, 200)
    assert batch(answer["batchId"])["counts"]["pending"] == 200  # batched shows as pending
    message_batches = list(fake.batches)
    assert [len(fake.batches[b]["requests"]) for b in message_batches] == [80, 80, 40]
    # each request is exactly the live compact ask, at the main model, without the user turn's breakpoint
    params = fake.batches[message_batches[0]]["requests"][0]["params"]
    assert params["model"] == "claude-sonnet-5-5" and "stream" not in params
    assert "cache_control" not in params["messages"][0]["content"][0]
    assert params["system"][-1]["cache_control"]["ttl"] == "1h"

    # The first Message Batch: mostly good answers, and one of each way an answer goes wrong.
    fake.script(Status(500, "api_error"), Unsafe(), OutOfRange(), Truncated(), Refusal())
    fake.end_batch(message_batches[0])
    fake.end_batch(message_batches[1])
    fake.expire_batch(message_batches[2])  # 40 members: no answer at all
    report = sweep_once(handlers).batches
    assert report.completed == 155  # 80 - 5 + 80
    assert report.results == {"valid": 155, "invalid": 4, "errored": 1, "expired": 40}
    # Failed, errored and expired members go through the normal queue, ten at a time at most.
    rounds = 0
    while sql.execute(
        "SELECT count(*) AS n FROM training_programs WHERE generation_status IN ('batched', 'pending')"
    ).fetchone()["n"]:
        assert in_queue(sql) <= 10
        run_queue(sql)
        sweep_once(handlers)
        rounds += 1
        assert rounds < 20
    stored = rows(sql, answer["batchId"])
    assert Counter(r["generation_status"] for r in stored) == {"completed": 200}
    tiers = Counter(r["fallback_tier"] for r in stored)
    # errored, expired: the live compact ask; the truncated answer: the next tier (small model);
    # the refusal: every LLM tier is out, the rules engine; the unsafe and out-of-range answers: repaired
    assert tiers == {"batch": 157, "compact": 41, "compact_small": 1, "offline": 1}, tiers
    repaired = [
        r
        for r in stored
        if r["fallback_tier"] == "batch" and any(t.get("repaired") for t in r["usage"]["tiers"])
    ]
    assert len(repaired) == 2
    for row in stored:  # I6: every program passes validation for its user
        data = analyse(persona_user_data(persona_of[row["user_id"]], row["user_id"]))
        assert validate_program(parse_program(row["program"]), data).ok
        assert row["priority"] == BATCH_PRIORITY
    # the answers' cost is at the batch price: half the list price of the same tokens
    prices = price_table(handlers.settings.llm_prices)
    plain = next(
        r
        for r in stored
        if r["fallback_tier"] == "batch"
        and r["usage"]["tiers"] == [{"tier": "batch", "model": "claude-sonnet-5-5", "outcome": "completed"}]
    )
    expected = cost_usd(
        prices,
        "claude-sonnet-5-5",
        input_tokens=plain["input_tokens"],
        output_tokens=plain["output_tokens"],
        cache_read_tokens=plain["cache_read_tokens"],
        cache_write_1h_tokens=plain["cache_write_tokens"],
        batch=True,
    )
    assert float(plain["llm_cost_usd"]) == pytest.approx(expected, abs=1e-6)
    body = batch(answer["batchId"])
    assert body["status"] == "ended" and body["counts"]["completed"] == 200
    assert body["usage"]["costUsd"] == pytest.approx(
        sum(float(r["llm_cost_usd"] or 0) for r in stored), abs=1e-5
    )
    assert body["usage"]["costPerCompletedUsd"] == pytest.approx(body["usage"]["costUsd"] / 200, abs=1e-6)
    assert all(m["costUsd"] is not None and m["outputTokens"] is not None for m in body["members"])
    # tpg stats: the batch's members and their cost apart from interactive programs
    stats = collect_stats(sql, stuck_after_seconds=1800)
    assert stats.by_kind["batch"]["completed"] == 200 and stats.batched == 0
    assert stats.by_kind["batch"]["llm_cost_usd"] == pytest.approx(body["usage"]["costUsd"], abs=1e-5)
    assert "Batches vs interactive" in format_stats(stats)


def test_a_deleted_members_program_leaves_the_member_and_its_billed_answer_in_the_batch(
    sql, handlers, fake: FakeAnthropic
) -> None:
    claude(handlers, fake)
    members = users(sql, 2)
    answer = create([u for u, _ in members])
    fake.hold_batches = True
    sweep_once(handlers)
    gone = batch(answer["batchId"])["members"][0]
    sql.execute("DELETE FROM training_programs WHERE id = %s", (gone["programId"],))
    fake.end_batch(next(iter(fake.batches)))
    assert sweep_once(handlers).batches.completed == 1
    body = batch(answer["batchId"])
    assert [m["userId"] for m in body["members"]] == [str(u) for u, _ in members]
    assert body["members"][0]["programId"] is None and body["members"][0]["status"] == "cancelled"
    assert body["members"][0]["error"]["code"] == "PROGRAM_DELETED"
    assert body["status"] == "ended" and body["counts"]["completed"] == 1
    # its answer was billed: the batch's cost has it beside the completed member's
    assert body["usage"]["costUsd"] > body["members"][1]["costUsd"] > 0


def test_a_members_program_names_its_batch_to_its_user(sql, handlers) -> None:
    user_id, token = new_user(sql)
    answer = create([user_id])
    program_id = batch(answer["batchId"])["members"][0]["programId"]
    status, _, program = invoke_trigger(http_event("GET", f"/programs/{program_id}", token=token))
    assert status == 200 and (program["status"], program["batchId"]) == ("pending", answer["batchId"])
    status, _, listed = invoke_trigger(http_event("GET", "/programs", token=token))
    assert status == 200 and listed["items"][0]["batchId"] == answer["batchId"]
    _, other_token = new_user(sql)
    status, _, own = invoke_trigger(http_event("POST", "/programs", token=other_token, body={}))
    status, _, program = invoke_trigger(http_event("GET", f"/programs/{own['programId']}", token=other_token))
    assert status == 200 and program["batchId"] is None


def test_a_user_over_quota_with_a_batched_member_gets_409_like_any_in_flight(sql, handlers) -> None:
    user_id, token = new_user(sql)
    answer = create([user_id])
    program_id = batch(answer["batchId"])["members"][0]["programId"]
    for _ in range(5):  # the user spent today's quota earlier
        sql.execute(
            "INSERT INTO generation_requests (user_id, program_id, kind) VALUES (%s, %s, 'new')",
            (user_id, program_id),
        )
    status, _, refused = invoke_trigger(http_event("POST", "/programs", token=token, body={}))
    assert (status, refused["error"]["code"]) == (409, "GENERATION_IN_FLIGHT")


def test_a_retried_member_leaves_its_batch_so_a_batch_cancel_leaves_the_users_retry_alone(
    sql, handlers
) -> None:
    user_id, token = new_user(sql)
    other, _ = new_user(sql)
    answer = create([user_id, other])
    program_id = batch(answer["batchId"])["members"][0]["programId"]
    sql.execute(
        "UPDATE training_programs SET generation_status = 'failed', error_code = 'INVALID_PROGRAM',"
        " generation_error = 'x' WHERE id = %s",
        (program_id,),
    )
    status, _, _ = invoke_trigger(http_event("POST", f"/programs/{program_id}/retry", token=token))
    assert status == 202
    row = sql.execute(
        "SELECT batch_id, priority FROM training_programs WHERE id = %s", (program_id,)
    ).fetchone()
    assert row["batch_id"] is None and row["priority"] > BATCH_PRIORITY
    assert call("POST", f"/batches/{answer['batchId']}/cancel")[0] == 202
    status_now = sql.execute(
        "SELECT generation_status FROM training_programs WHERE id = %s", (program_id,)
    ).fetchone()["generation_status"]
    assert status_now == "pending"
    # the batch still lists the member (its program, now the user's own request)
    assert batch(answer["batchId"])["members"][0]["programId"] == program_id


def test_a_member_can_be_cancelled_by_its_user_while_its_request_is_with_the_message_batch(
    sql, handlers, fake: FakeAnthropic
) -> None:
    claude(handlers, fake)
    user_id, token = new_user(sql)
    answer = create([user_id])
    fake.hold_batches = True
    sweep_once(handlers)
    program_id = batch(answer["batchId"])["members"][0]["programId"]
    status, _, cancelled = invoke_trigger(http_event("POST", f"/programs/{program_id}/cancel", token=token))
    assert (status, cancelled["status"]) == (202, "cancelled")
    fake.end_batch(next(iter(fake.batches)))
    report = sweep_once(handlers).batches
    assert report.completed == 0 and report.results == {}  # its answer came, and was not used
    assert batch(answer["batchId"])["members"][0]["status"] == "cancelled"
    assert batch(answer["batchId"])["members"][0]["error"]["code"] == "CANCELLED"
    # the slot is free at once: the user's own request is accepted
    assert invoke_trigger(http_event("POST", "/programs", token=token, body={}))[0] == 202


def test_a_cancel_while_the_step_judges_the_answer_keeps_the_member_cancelled(
    sql, handlers, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user cancels after the answer was read, while it is validated: the answer is not saved."""
    claude(handlers, fake)
    user_id, token = new_user(sql)
    answer = create([user_id])
    fake.hold_batches = True
    sweep_once(handlers)
    program_id = batch(answer["batchId"])["members"][0]["programId"]
    validated = step_module._validated

    def cancel_then_validate(member: Any, text: Any) -> Any:
        status, _, _ = invoke_trigger(http_event("POST", f"/programs/{program_id}/cancel", token=token))
        assert status == 202
        return validated(member, text)

    monkeypatch.setattr(step_module, "_validated", cancel_then_validate)
    fake.end_batch(next(iter(fake.batches)))
    sweep_once(handlers)
    row = sql.execute(
        "SELECT generation_status, program FROM training_programs WHERE id = %s", (program_id,)
    ).fetchone()
    assert row["generation_status"] == "cancelled" and row["program"] is None


def test_cancel_mid_batch_keeps_what_completed_and_stops_the_rest(sql, handlers, fake: FakeAnthropic) -> None:
    claude(handlers, fake, batch_chunk_size=10)
    members = users(sql, 30)
    answer = create([u for u, _ in members])
    fake.hold_batches = True
    sweep_once(handlers)
    first, second, third = list(fake.batches)
    fake.end_batch(first)
    assert sweep_once(handlers).batches.completed == 10
    # one member of the second Message Batch already went through the queue and is running
    fake.script(Status(500, "api_error"))
    fake.end_batch(second)
    sweep_once(handlers)
    running = sql.execute(
        "UPDATE training_programs SET generation_status = 'processing', attempts = 1,"
        " lease_expires_at = now() + interval '5 minutes', stage = 'generating'"
        " WHERE batch_id = %s AND generation_status = 'pending' RETURNING id",
        (answer["batchId"],),
    ).fetchall()
    assert len(running) == 1

    status, cancelled = call("POST", f"/batches/{answer['batchId']}/cancel")
    assert status == 202
    assert (cancelled["cancelled"], cancelled["stopping"], cancelled["status"]) == (10, 1, "processing")
    body = batch(answer["batchId"])
    assert body["cancelRequested"] is True
    assert body["counts"] == {
        "pending": 0,
        "processing": 1,
        "completed": 19,
        "failed": 0,
        "cancelled": 10,
        "rejected": 0,
    }
    # the batch's cancel, not the users': told apart by the code
    codes = Counter(m["error"]["code"] for m in body["members"] if m["status"] == "cancelled")
    assert codes == {"BATCH_CANCELLED": 10}
    # the third Message Batch is asked to stop; its results change nothing
    sweep_once(handlers)
    assert fake.batches[third]["batch"]["cancel_initiated_at"] is not None
    assert batch(answer["batchId"])["counts"]["cancelled"] == 10
    # a repeated cancel while a worker stops answers the same; once everything is final, 409
    assert call("POST", f"/batches/{answer['batchId']}/cancel")[0] == 202
    sql.execute(
        "UPDATE training_programs SET generation_status = 'cancelled', error_code = 'CANCELLED',"
        " lease_expires_at = NULL"
        " WHERE id = %s",
        (running[0]["id"],),
    )
    status, refused = call("POST", f"/batches/{answer['batchId']}/cancel")
    assert (status, refused["error"]["code"]) == (409, "BATCH_ALREADY_FINAL")
    assert batch(answer["batchId"])["status"] == "ended"


def test_answers_billed_for_members_cancelled_meanwhile_count_in_the_batch_once(
    sql, handlers, fake: FakeAnthropic
) -> None:
    """The API bills every answer that succeeded before a cancel: the batch's usage keeps them, once,
    even when the results are read again after a cut-off."""
    claude(handlers, fake)
    members = users(sql, 5)
    answer = create([u for u, _ in members])
    fake.hold_batches = True
    sweep_once(handlers)
    fake.end_batch(next(iter(fake.batches)))  # Anthropic answered all 5...
    status, _ = call("POST", f"/batches/{answer['batchId']}/cancel")  # ...then the caller cancelled
    assert status == 202
    fake.cut_results_after = 3
    assert sweep_once(handlers).batches.collected_chunks == 0
    fake.cut_results_after = None
    assert sweep_once(handlers).batches.collected_chunks == 1
    sweep_once(handlers)  # a collected chunk is not read again
    chunk = sql.execute(
        "SELECT unsaved_answers, unsaved_input_tokens, unsaved_output_tokens, unsaved_cost_usd"
        " FROM generation_batch_chunks"
    ).fetchone()
    assert chunk["unsaved_answers"] == 5 and chunk["unsaved_output_tokens"] > 0
    body = batch(answer["batchId"])
    assert body["counts"]["cancelled"] == 5 and body["counts"]["completed"] == 0
    assert body["usage"]["costUsd"] == pytest.approx(float(chunk["unsaved_cost_usd"]), abs=1e-6)
    assert body["usage"]["costUsd"] > 0
    assert body["usage"]["outputTokens"] == chunk["unsaved_output_tokens"]


def test_a_cancelled_batch_stops_only_message_batches_still_running_and_a_refused_stop_is_no_stall(
    sql, handlers, fake: FakeAnthropic
) -> None:
    claude(handlers, fake, batch_chunk_size=2)
    members = users(sql, 4)
    answer = create([u for u, _ in members])
    fake.hold_batches = True
    sweep_once(handlers)
    ended, running = list(fake.batches)
    fake.end_batch(ended)
    fake.refuse_cancel = 500
    assert call("POST", f"/batches/{answer['batchId']}/cancel")[0] == 202
    report = sweep_once(handlers).batches
    # the ended one is read, never asked to stop; the running one is asked (refused: asked again)
    assert report.collected_chunks == 1 and fake.cancel_calls == 1
    fake.refuse_cancel = None
    sweep_once(handlers)
    assert fake.cancel_calls == 2 and fake.batches[running]["batch"]["cancel_initiated_at"] is not None
    sweep_once(handlers)
    assert fake.cancel_calls == 2  # asked once it was accepted
    assert batch(answer["batchId"])["status"] == "ended"


def test_a_member_never_waits_on_a_message_batch_past_a_day(sql, handlers, fake: FakeAnthropic) -> None:
    claude(handlers, fake)
    members = users(sql, 2)
    answer = create([u for u, _ in members])
    fake.hold_batches = True
    sweep_once(handlers)
    assert sweep_once(handlers).batches.to_queue == 0
    sql.execute("UPDATE generation_batch_chunks SET submitted_at = now() - interval '25 hours 1 minute'")
    report = sweep_once(handlers).batches
    assert report.to_queue == 2 and report.results["overdue"] == 2 and report.queued == 2
    stored = rows(sql, answer["batchId"])
    assert {r["generation_status"] for r in stored} == {"pending"}
    assert {r["priority"] for r in stored} == {BATCH_PRIORITY}
    # a late answer changes nothing: the queue runs them
    fake.end_batch(next(iter(fake.batches)))
    assert sweep_once(handlers).batches.completed == 0
    run_queue(sql)
    assert Counter(r["generation_status"] for r in rows(sql, answer["batchId"])) == {"completed": 2}


def _completions(monkeypatch: pytest.MonkeyPatch, crash_after: int | None = None) -> Counter[UUID]:
    """Count the members each run of the step completes; optionally die after `crash_after`."""
    done: Counter[UUID] = Counter()
    original = store.complete_member

    def counting(db: Any, chunk_id: UUID, program_id: UUID, result: Any) -> Any:
        if crash_after is not None and sum(done.values()) >= crash_after:
            raise RuntimeError("the step died")
        state = original(db, chunk_id, program_id, result)
        if state is not None:
            done[program_id] += 1
        return state

    monkeypatch.setattr(store, "complete_member", counting)
    return done


def test_a_crash_of_the_poller_mid_results_loses_no_member_and_completes_none_twice(
    sql, handlers, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    claude(handlers, fake)
    members = users(sql, 50)
    answer = create([u for u, _ in members])
    fake.script(*[OutOfRange() if i % 10 == 0 else fake.default for i in range(50)])  # 5 to the queue
    assert sweep_once(handlers).batches.submitted_members == 50  # the fake ends the batch at once
    done = _completions(monkeypatch, crash_after=20)
    sweep_once(handlers)  # collecting dies after 20 members
    assert sum(done.values()) == 20
    # As a killed process would, the dead step still holds the chunk: nobody collects it meanwhile.
    sql.execute("UPDATE generation_batch_chunks SET lease_expires_at = now() + interval '5 minutes'")
    monkeypatch.undo()
    done_after = _completions(monkeypatch)
    assert sweep_once(handlers).batches.completed == 0
    # Its lease runs out: the next step reads the results again and moves only what is left.
    sql.execute("UPDATE generation_batch_chunks SET lease_expires_at = now() - interval '1 second'")
    report = sweep_once(handlers).batches
    assert report.completed == 25 and report.collected_chunks == 1
    assert set(done).isdisjoint(done_after) and max((done + done_after).values()) == 1
    run_queue(sql)
    stored = rows(sql, answer["batchId"])
    assert Counter(r["generation_status"] for r in stored) == {"completed": 50}
    # one Message Batch, each member asked once
    assert len(fake.batches) == 1 and len(next(iter(fake.batches.values()))["requests"]) == 50


def test_results_cut_off_mid_file_are_read_again_without_moving_a_member_twice(
    sql, handlers, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    claude(handlers, fake)
    members = users(sql, 30)
    answer = create([u for u, _ in members])
    done = _completions(monkeypatch)
    fake.cut_results_after = 12
    assert sweep_once(handlers).batches.submitted_members == 30
    first = sweep_once(handlers).batches
    # the connection dropped after 12 lines (the last ones read may be lost with it)
    assert 0 < first.completed <= 12 and first.collected_chunks == 0
    fake.cut_results_after = None
    report = sweep_once(handlers).batches
    assert report.completed == 30 - first.completed and report.collected_chunks == 1
    assert sum(done.values()) == 30 and max(done.values()) == 1
    assert Counter(r["generation_status"] for r in rows(sql, answer["batchId"])) == {"completed": 30}


def test_a_refused_submission_sends_the_members_through_the_queue_and_a_transient_one_waits(
    sql, handlers, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    claude(handlers, fake)
    members = users(sql, 3)
    answer = create([u for u, _ in members])

    class Refusing:
        def __init__(self, status: int) -> None:
            self.status = status

        def __call__(self) -> Any:
            import anthropic
            import httpx2

            response = httpx2.Response(self.status, request=httpx2.Request("POST", fake.url))

            class Batches:
                def create(inner, **_: Any) -> Any:
                    raise anthropic.APIStatusError("refused", response=response, body=None)

            class Messages:
                batches = Batches()

            class Client:
                messages = Messages()

            return Client()

    settings, db = handlers.settings, handlers._database()
    report = step_module.run_batches(settings, db, client=Refusing(529))
    assert report.submitted_members == 0 and report.to_queue == 0
    assert {r["generation_status"] for r in rows(sql, answer["batchId"])} == {"batched"}
    report = step_module.run_batches(settings, db, client=Refusing(400))
    assert report.to_queue == 3 and report.queued == 3
    run_queue(sql)
    assert {r["fallback_tier"] for r in rows(sql, answer["batchId"])} == {"compact"}


# --- the rules engine, and waiting ---------------------------------------------------------------


def test_a_chunk_is_at_most_2000_requests() -> None:
    from pydantic import ValidationError

    from tpg.platform.settings import Settings

    assert Settings.from_environment({"BATCH_CHUNK_SIZE": "2000"}).batch_chunk_size == 2000
    with pytest.raises(ValidationError):
        Settings.from_environment({"BATCH_CHUNK_SIZE": "2001"})


def test_a_chunk_built_past_the_steps_time_is_not_created(
    sql, handlers, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    claude(handlers, fake)
    members = users(sql, 3)
    answer = create([u for u, _ in members])
    built = step_module._requests

    def slow_build(step: Any, work: Any, asked: Any) -> Any:
        requests = built(step, work, asked)
        step.deadline = 0.0  # building the requests took the step's time
        return requests

    monkeypatch.setattr(step_module, "_requests", slow_build)
    assert sweep_once(handlers).batches.submitted_members == 0
    assert not fake.batches
    monkeypatch.undo()
    assert sweep_once(handlers).batches.submitted_members == 3  # the next step submits them
    assert Counter(r["generation_status"] for r in rows(sql, answer["batchId"])) == {"batched": 3}


def test_offline_the_members_run_through_the_rules_engine_behind_interactive_requests(sql, handlers) -> None:
    assert handlers.settings.llm_provider == "offline"
    members = users(sql, 5)
    answer = create([u for u, _ in members])
    sweep_once(handlers)  # the members join the queue
    _, token = new_user(sql)
    status, _, accepted = invoke_trigger(http_event("POST", "/programs", token=token, body={}))
    assert status == 202
    # the next invocation, whichever program its event names, takes the interactive request first
    invoke_generate(rows(sql, answer["batchId"])[0]["id"])
    first = sql.execute(
        "SELECT id FROM training_programs WHERE generation_status = 'completed' ORDER BY completed_at LIMIT 1"
    ).fetchone()
    assert str(first["id"]) == accepted["programId"]
    run_queue(sql)
    stored = rows(sql, answer["batchId"])
    assert {(r["generation_status"], r["provider"], r["priority"]) for r in stored} == {
        ("completed", "offline", BATCH_PRIORITY)
    }


def test_no_member_waiting_its_turn_is_failed_by_the_sweeper(sql, handlers, fake: FakeAnthropic) -> None:
    claude(handlers, fake, batch_queue_slots=1)
    members = users(sql, 4)
    answer = create([u for u, _ in members])
    fake.hold_batches = True
    sweep_once(handlers)
    # Hours later (past every tier's wait bound) the Message Batch has not answered yet ...
    sql.execute(
        "UPDATE training_programs SET created_at = now() - interval '5 hours',"
        " queued_at = now() - interval '5 hours',"
        " dispatched_at = now() - interval '5 hours', dispatch_count = 8 WHERE batch_id = %s",
        (answer["batchId"],),
    )
    report = sweep_once(handlers)
    assert report.failed == [] and report.batches.waiting == 4
    # ... then it expires: one member at a time goes through the queue; the others wait, unharmed
    fake.expire_batch(next(iter(fake.batches)))
    report = sweep_once(handlers)
    assert report.failed == [] and report.batches.queued == 1
    statuses = Counter(r["generation_status"] for r in rows(sql, answer["batchId"]))
    assert statuses == {"batched": 3, "pending": 1}
    while in_queue(sql) or statuses.get("batched"):
        run_queue(sql)
        assert sweep_once(handlers).failed == []
        statuses = Counter(r["generation_status"] for r in rows(sql, answer["batchId"]))
    assert statuses == {"completed": 4}


def test_without_an_anthropic_key_the_members_take_the_queue_and_its_fallbacks(sql, handlers) -> None:
    handlers.update(settings=handlers.settings.model_copy(update={"llm_provider": "anthropic"}))  # no key
    members = users(sql, 3)
    answer = create([u for u, _ in members])
    assert sweep_once(handlers).batches.queued == 3
    run_queue(sql)
    assert {(r["generation_status"], r["fallback_tier"]) for r in rows(sql, answer["batchId"])} == {
        ("completed", "offline")
    }
