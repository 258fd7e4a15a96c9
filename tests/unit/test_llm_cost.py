"""Cost at list prices: the price table, what cache writes, reads, thinking and batches cost, and
the settings that name tiers and prices."""

from __future__ import annotations

import pytest

from tpg.generation.claude.client import TIERS, claude_tiers, tier_names
from tpg.generation.claude.pricing import cost_usd, price_table
from tpg.generation.ports import LlmUsage
from tpg.platform.settings import LLM_TIER_NAMES, Settings

SONNET = {"claude-sonnet-5-5": (2.0, 10.0, None)}


def test_the_default_prices_parse_and_name_both_default_models() -> None:
    settings = Settings()
    table = price_table(settings.llm_prices)
    assert {settings.anthropic_model, settings.anthropic_small_model} <= table.keys()


@pytest.mark.parametrize(
    "raw",
    ["[]", '{"m": 2}', '{"m": [1]}', '{"m": ["a", 1]}', '{"m": [-1, 2]}', '{"m": [1, 2, 3, 4]}', "nope"],
)
def test_a_malformed_price_table_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="LLM_PRICES"):
        price_table(raw)


def test_settings_refuse_prices_that_are_not_json_and_unknown_tiers() -> None:
    with pytest.raises(ValueError, match="LLM_PRICES"):
        Settings(llm_prices="2/10")
    with pytest.raises(ValueError, match="LLM_TIERS"):
        Settings(llm_tiers="compact,template")
    with pytest.raises(ValueError, match="LLM_TIERS"):  # a tier twice would ask twice, not fall back
        Settings(llm_tiers="compact,compact_small,compact")
    with pytest.raises(ValueError, match="LLM_TIERS"):  # settings copied without validation
        tier_names(Settings().model_copy(update={"llm_tiers": "compact,compact"}))
    assert TIERS.keys() == LLM_TIER_NAMES


def test_what_each_kind_of_token_costs() -> None:
    # 1M of each: input $2, output (thinking included) $10, 5-minute write 1.25x, 1-hour write 2x,
    # read 0.1x; a batch half of it all.
    one = 1_000_000
    assert cost_usd(SONNET, "claude-sonnet-5-5", input_tokens=one, output_tokens=0) == pytest.approx(2.0)
    assert cost_usd(SONNET, "claude-sonnet-5-5", input_tokens=0, output_tokens=one) == pytest.approx(10.0)
    assert cost_usd(
        SONNET, "claude-sonnet-5-5", input_tokens=0, output_tokens=0, cache_write_5m_tokens=one
    ) == pytest.approx(2.5)
    assert cost_usd(
        SONNET, "claude-sonnet-5-5", input_tokens=0, output_tokens=0, cache_write_1h_tokens=one
    ) == pytest.approx(4.0)
    assert cost_usd(
        SONNET, "claude-sonnet-5-5", input_tokens=0, output_tokens=0, cache_read_tokens=one
    ) == pytest.approx(0.2)
    assert cost_usd(
        SONNET, "claude-sonnet-5-5", input_tokens=one, output_tokens=one, batch=True
    ) == pytest.approx(6.0)
    assert cost_usd(SONNET, "unpriced-model", input_tokens=one, output_tokens=one) is None


def test_a_model_may_carry_its_own_cache_read_price() -> None:
    # Sources disagree on Sonnet 5.5's read price ($0.10 or 0.1x = $0.20): it can be given as is.
    table = price_table('{"claude-sonnet-5-5": [2, 10, 0.1], "claude-haiku-5-5": [0.1, 0.5]}')
    assert table == {"claude-sonnet-5-5": (2.0, 10.0, 0.1), "claude-haiku-5-5": (0.1, 0.5, None)}
    one = 1_000_000
    read = {"input_tokens": 0, "output_tokens": 0, "cache_read_tokens": one}
    assert cost_usd(table, "claude-sonnet-5-5", **read) == pytest.approx(0.1)
    assert cost_usd(table, "claude-haiku-5-5", **read) == pytest.approx(0.01)  # 0.1x its input
    assert Settings(llm_prices='{"m": [2, 10, 0.1]}').llm_prices


def test_costs_add_up_over_a_job_and_are_stored_rounded() -> None:
    usage = LlmUsage(cost_usd=0.0123456789, thinking_tokens=300) + LlmUsage(
        cost_usd=0.01, thinking_tokens=150
    )
    assert usage.cost_usd == pytest.approx(0.0223456789)
    assert usage.to_json()["cost_usd"] == 0.022346 and usage.to_json()["thinking_tokens"] == 450
    assert "cost_usd" not in (LlmUsage(requests=0) + LlmUsage()).to_json()


def test_the_configured_tiers_in_order_with_their_models() -> None:
    settings = Settings(anthropic_api_key="k", llm_tiers="full,compact,compact_small")  # type: ignore[arg-type]
    tiers = claude_tiers(settings)
    assert [(t.tier, t.ask, t.model) for t in tiers] == [
        ("full", "full", settings.anthropic_model),
        ("compact", "compact", settings.anthropic_model),
        ("compact_small", "compact", settings.anthropic_small_model),
    ]
    assert len({id(t.budget) for t in tiers}) == 1  # one budget per job
