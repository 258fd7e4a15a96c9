"""How the service reads the accept statement's outcome (the statement itself runs against a real
PostgreSQL in tests/integration/test_api.py). The race worth pinning down: the statement's
`in_flight` comes from its snapshot while ON CONFLICT sees the latest state, so a program that
finished in between lets the insert through with `in_flight` still true."""

from __future__ import annotations

import uuid

import pytest

from tests.support import RecordingDispatcher
from tpg.api import service
from tpg.api.models import CreateProgramRequest
from tpg.platform.errors import GenerationInFlight, QuotaExceeded, SubscriptionRequired
from tpg.platform.settings import Settings
from tpg.store.repository import AcceptOutcome

USER = uuid.UUID(int=7)
NEW = uuid.UUID(int=8)
RUNNING = uuid.UUID(int=9)


def _accept(monkeypatch: pytest.MonkeyPatch, outcome: AcceptOutcome) -> tuple[uuid.UUID, RecordingDispatcher]:
    monkeypatch.setattr(service.repository, "accept_generation_request", lambda *a, **k: outcome)
    monkeypatch.setattr(service.repository, "in_flight_program_id", lambda *a, **k: RUNNING)
    dispatcher = RecordingDispatcher()
    deps = service.ApiDependencies(settings=Settings(), db=None, dispatcher=dispatcher)  # type: ignore[arg-type]
    return service.request_generation(deps, USER, CreateProgramRequest()), dispatcher


def _outcome(**changes: object) -> AcceptOutcome:
    values: dict[str, object] = {
        "subscribed": True,
        "onboarded": True,
        "in_flight": False,
        "under_quota": True,
        "quota_resets_in": None,
        "program_id": NEW,
    }
    return AcceptOutcome(**{**values, **changes})  # type: ignore[arg-type]


def test_an_inserted_program_is_accepted_even_if_the_snapshot_saw_another_in_flight(monkeypatch) -> None:
    program_id, dispatcher = _accept(monkeypatch, _outcome(in_flight=True))
    assert program_id == NEW
    assert dispatcher.dispatched == [(NEW, "accepted")]


def test_nothing_inserted_with_a_program_in_flight_names_it(monkeypatch) -> None:
    with pytest.raises(GenerationInFlight) as raised:
        _accept(monkeypatch, _outcome(in_flight=True, program_id=None))
    assert raised.value.program_id == RUNNING


def test_nothing_inserted_because_a_concurrent_request_won_names_the_winner(monkeypatch) -> None:
    with pytest.raises(GenerationInFlight):
        _accept(monkeypatch, _outcome(program_id=None))


def test_nothing_inserted_over_quota_is_a_429_and_subscription_comes_first(monkeypatch) -> None:
    with pytest.raises(QuotaExceeded):
        _accept(monkeypatch, _outcome(under_quota=False, program_id=None))
    with pytest.raises(SubscriptionRequired):
        _accept(monkeypatch, _outcome(subscribed=False, under_quota=False, program_id=None))


def test_a_conflict_that_finished_meanwhile_is_retried_once(monkeypatch) -> None:
    outcomes = iter([_outcome(program_id=None), _outcome()])
    monkeypatch.setattr(service.repository, "accept_generation_request", lambda *a, **k: next(outcomes))
    monkeypatch.setattr(service.repository, "in_flight_program_id", lambda *a, **k: None)
    dispatcher = RecordingDispatcher()
    deps = service.ApiDependencies(settings=Settings(), db=None, dispatcher=dispatcher)  # type: ignore[arg-type]
    assert service.request_generation(deps, USER, CreateProgramRequest()) == NEW
    assert dispatcher.dispatched == [(NEW, "accepted")]


def test_over_quota_with_nothing_running_any_more_is_a_429_not_a_409_without_an_id(monkeypatch) -> None:
    monkeypatch.setattr(
        service.repository,
        "accept_generation_request",
        lambda *a, **k: _outcome(in_flight=True, under_quota=False, program_id=None),
    )
    monkeypatch.setattr(service.repository, "in_flight_program_id", lambda *a, **k: None)
    deps = service.ApiDependencies(settings=Settings(), db=None, dispatcher=RecordingDispatcher())  # type: ignore[arg-type]
    with pytest.raises(QuotaExceeded):
        service.request_generation(deps, USER, CreateProgramRequest())
