"""The batch routes against their OpenAPI document, over HTTP on the local stack: every documented
status is provoked and every answer matches its schema (the tour of tests/e2e/test_openapi_contract.py,
for createBatch, listBatches, getBatch and cancelBatch)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import TEST_JWT_SECRET
from tests.e2e.test_openapi_contract import Contract, _body_errors, _database_down
from tests.support import new_user
from tpg.api.auth import issue_service_token
from tpg_local.client import ApiResponse, call
from tpg_local.server import LocalStack

SERVICE = issue_service_token("contract", secret=TEST_JWT_SECRET)


def test_every_batch_answer_is_documented_and_every_documented_answer_happens(
    handlers: Any, sql: Any
) -> None:
    with LocalStack(port=0, sweep_interval=None, settings=handlers.settings) as stack:
        contract = Contract(call(stack.url, "GET", "/openapi.json").body)
        url, max_body = stack.url, stack.settings.max_body_bytes
        user_id, user_token = new_user(sql)

        def check(op: str, method: str, path: str, status: int, **kwargs: Any) -> ApiResponse:
            return contract.check(op, call(url, method, path, **kwargs), status)

        # createBatch
        body = {"userIds": [str(user_id), str(uuid.uuid4())], "weeks": 3}
        created = check("createBatch", "POST", "/batches", 202, token=SERVICE, body=body)
        assert created.headers["location"] == created.body["statusUrl"]
        assert (created.body["accepted"], created.body["rejected"]) == (1, 1)
        check("createBatch", "POST", "/batches", 401, body=body)
        check("createBatch", "POST", "/batches", 403, token=user_token, body=body)
        check("createBatch", "POST", "/batches", 422, token=SERVICE, body={"userIds": []})
        check("createBatch", "POST", "/batches", 400, token=SERVICE, raw_body=b"{nope")
        # the batch route's own body limit (a thousand ids fit); the common body errors past it
        too_big = {"userIds": [str(uuid.uuid4())], "name": "x" * (70 * 1024)}
        check("createBatch", "POST", "/batches", 413, token=SERVICE, body=too_big)
        _body_errors(contract, stack, SERVICE, "createBatch", "/batches", 70 * 1024)
        # Idempotency-Key: a repeat answers the same batch; another body under the key is a 409
        keyed = {"userIds": [str(uuid.uuid4())]}
        key = {"Idempotency-Key": "contract-1"}
        first = check("createBatch", "POST", "/batches", 202, token=SERVICE, body=keyed, headers=key)
        again = check("createBatch", "POST", "/batches", 202, token=SERVICE, body=keyed, headers=key)
        assert again.body["batchId"] == first.body["batchId"]
        check("createBatch", "POST", "/batches", 409, token=SERVICE, body={**keyed, "weeks": 2}, headers=key)

        # listBatches
        listed = check("listBatches", "GET", "/batches?limit=1", 200, token=SERVICE)
        assert listed.body["items"][0]["batchId"] == first.body["batchId"] and listed.body["nextCursor"]
        check("listBatches", "GET", "/batches", 401)
        check("listBatches", "GET", "/batches", 403, token=user_token)
        check("listBatches", "GET", "/batches?limit=0", 422, token=SERVICE)

        # getBatch
        status_url = created.body["statusUrl"]
        got = check("getBatch", "GET", status_url, 200, token=SERVICE)
        assert [m["status"] for m in got.body["members"]] == ["pending", "rejected"]
        check("getBatch", "GET", status_url, 401)
        check("getBatch", "GET", status_url, 403, token=user_token)
        check("getBatch", "GET", f"/batches/{uuid.uuid4()}", 404, token=SERVICE)
        check("getBatch", "GET", "/batches/not-a-uuid", 404, token=SERVICE)

        # cancelBatch
        cancel = f"{status_url}/cancel"
        cancelled = check("cancelBatch", "POST", cancel, 202, token=SERVICE)
        assert (cancelled.body["cancelled"], cancelled.body["status"]) == (1, "ended")
        check("cancelBatch", "POST", cancel, 409, token=SERVICE)  # nothing left to cancel
        check("cancelBatch", "POST", cancel, 401)
        check("cancelBatch", "POST", cancel, 403, token=user_token)
        check("cancelBatch", "POST", f"/batches/{uuid.uuid4()}/cancel", 404, token=SERVICE)
        _body_errors(contract, stack, SERVICE, "cancelBatch", cancel, max_body)

        covered = {"createBatch", "getBatch", "cancelBatch", "listBatches"}

        def unavailable() -> None:
            check("createBatch", "POST", "/batches", 503, token=SERVICE, body=body)
            check("getBatch", "GET", status_url, 503, token=SERVICE)
            check("listBatches", "GET", "/batches", 503, token=SERVICE)
            check("cancelBatch", "POST", cancel, 503, token=SERVICE, body={})

        _database_down(stack, unavailable)
        missing = contract.unseen(covered)
        assert missing == [], f"documented but never seen: {missing}"
