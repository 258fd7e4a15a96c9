"""samconfig.toml's prod parameters meet the capacity model (tests/perf/capacity.py) at 100,000
generations a day with 3x peaks, and docs/operations.md's sizing table is the model's: change one and
this fails until the others follow (`python -m tests.perf.capacity --per-day 100000 --peak-factor 3
--reserved-concurrency <n>` prints the table)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.perf import capacity
from tests.unit.cfn_template import load_template
from tpg_local.preflight import DEFAULT_ACCOUNT_CONCURRENCY, load_environment

ROOT = Path(__file__).resolve().parents[2]
PER_DAY = 100_000
PEAK_FACTOR = 3
PEAK_PER_HOUR = capacity.peak_per_hour(PER_DAY, PEAK_FACTOR)  # 12,500


@pytest.fixture(scope="module")
def prod() -> dict[str, str]:
    return load_environment(ROOT / "samconfig.toml", "prod").overrides


@pytest.fixture(scope="module")
def model(prod: dict[str, str]) -> capacity.Inputs:
    """The model's defaults at the peak hour, with prod's reserved concurrency and the default quota."""
    return capacity.parse(
        [
            "--per-hour",
            str(PEAK_PER_HOUR),
            "--reserved-concurrency",
            prod["GenerateReservedConcurrency"],
            "--realtime-reserved-concurrency",
            prod["RealtimeReservedConcurrency"],
            "--account-concurrency",
            str(DEFAULT_ACCOUNT_CONCURRENCY),
        ]
    )


def test_the_peak_hour() -> None:
    assert PEAK_PER_HOUR == 12_500


def test_generate_reserved_concurrency_carries_the_peak(model: capacity.Inputs) -> None:
    needs = capacity.needs(model)
    assert model.reserved_concurrency >= needs["generate_concurrency"]  # Poisson q0.99 at the peak
    assert model.reserved_concurrency >= capacity.simulate(model)["peak_concurrency"]
    by_limit = {name: limit for name, limit, _ in capacity.max_per_hour(model)}
    assert by_limit["generate reserved concurrency"] >= PEAK_PER_HOUR


def test_generate_reserved_concurrency_fits_the_default_account_quota(model: capacity.Inputs) -> None:
    sizing = capacity.sizing(model)
    assert model.reserved_concurrency <= sizing["reserved_concurrency_max"]
    assert sizing["account_concurrency_needed"] <= DEFAULT_ACCOUNT_CONCURRENCY
    by_limit = {name: limit for name, limit, _ in capacity.max_per_hour(model)}
    assert by_limit["Lambda account concurrency"] >= PEAK_PER_HOUR


def test_realtime_reserved_concurrency_carries_the_peak_with_room_for_reconnects(
    model: capacity.Inputs,
) -> None:
    # Ten times the peak's need (every open socket reconnecting within a few seconds is a storm of
    # its own, throttled by design), and small: it is carved out of the account and the pooler.
    need = capacity.realtime(model)["function_concurrency"]
    assert model.realtime_reserved_concurrency >= 10 * need
    assert model.realtime_reserved_concurrency <= 20
    sizing = capacity.sizing(model)
    assert sizing["account_concurrency_needed"] == (
        model.reserved_concurrency + model.realtime_reserved_concurrency + capacity.LAMBDA_MIN_UNRESERVED
    )


def test_generate_reserved_concurrency_is_still_a_brake(model: capacity.Inputs) -> None:
    # Not far above the need: the reservation caps what Anthropic and the pooler must absorb.
    assert model.reserved_concurrency <= 1.25 * capacity.needs(model)["generate_concurrency"]


def test_the_poll_route_throttle_carries_the_peak(prod: dict[str, str], model: capacity.Inputs) -> None:
    rate, burst = int(prod["ApiPollThrottlingRateLimit"]), int(prod["ApiPollThrottlingBurstLimit"])
    sizing = capacity.sizing(model)
    assert rate >= 1.5 * sizing["api_polls_per_s"]
    assert rate >= sizing["api_polls_per_s_at_cap"]  # every generation the cap lets run, polled
    assert rate <= 4 * sizing["api_polls_per_s"]  # still a brake on a runaway client
    assert burst >= rate


def test_the_accept_route_throttle_carries_the_peak_and_brakes(
    prod: dict[str, str], model: capacity.Inputs
) -> None:
    rate, burst = int(prod["ApiAcceptThrottlingRateLimit"]), int(prod["ApiAcceptThrottlingBurstLimit"])
    sizing = capacity.sizing(model)
    assert rate >= 1.5 * sizing["api_accepts_per_s"]
    assert burst >= max(rate, sizing["api_accepts_peak_second"])
    # each accept is a paid generation: at most ~3x the peak hour's rate gets through
    assert rate <= 3 * sizing["api_accepts_per_s"]


def test_the_other_routes_keep_a_throttle(prod: dict[str, str], model: capacity.Inputs) -> None:
    # list, retry, health: not modelled; above the accepts (each retry is one), below the polls.
    rate, burst = int(prod["ApiThrottlingRateLimit"]), int(prod["ApiThrottlingBurstLimit"])
    assert int(prod["ApiAcceptThrottlingRateLimit"]) <= rate <= int(prod["ApiPollThrottlingRateLimit"])
    assert burst >= rate


def test_every_throttle_parameter_of_the_template_is_set_for_prod(prod: dict[str, str]) -> None:
    # Per-route throttles, when the template has them, are sized here too.
    throttles = [name for name in load_template()["Parameters"] if "Throttl" in name]
    assert throttles
    assert [name for name in throttles if name not in prod] == []


def test_the_requested_anthropic_limits_carry_the_cap(model: capacity.Inputs) -> None:
    # With the quotas the table asks for, no limit but the database's without a pooler binds below
    # the peak (the database URL must be a pooler's: the table says how many clients it must accept).
    sizing = capacity.sizing(model)
    requested = capacity.parse(
        [
            "--per-hour",
            str(PEAK_PER_HOUR),
            "--reserved-concurrency",
            str(model.reserved_concurrency),
            "--rpm",
            str(max(model.rpm, capacity.round_up(sizing["llm_rpm_at_cap"]))),
            "--itpm",
            str(max(model.itpm, capacity.round_up(sizing["llm_itpm_at_cap"]))),
            "--otpm",
            str(max(model.otpm, capacity.round_up(sizing["llm_otpm_at_cap"]))),
        ]
    )
    binding = {
        name: limit
        for name, limit, _ in capacity.max_per_hour(requested)
        if limit < PEAK_PER_HOUR and name != "PostgreSQL connections without a pooler"
    }
    assert binding == {}
    assert sizing["llm_otpm_at_cap"] >= sizing["llm_otpm_peak"]  # the cap, not the mean, sets the ask
    # Through the pooler (the architecture's, whatever the client count) few backends are busy.
    assert sizing["pooler_backend_connections"] <= 10


def test_the_docs_sizing_table_is_the_models(prod: dict[str, str], model: capacity.Inputs) -> None:
    table = capacity.sizing_table(model, PER_DAY, PEAK_FACTOR, prod)
    docs = (ROOT / "docs" / "operations.md").read_text()
    assert table in docs, "regenerate docs/operations.md's sizing table:\n" + table
