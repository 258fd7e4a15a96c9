"""What an answer costs at list prices: tokens x the configured per-model prices.

Prices come from `LLM_PRICES` (USD per million tokens per model: `[input, output]`, or
`[input, output, cache_read]`). Cache writes are priced from the input price with Anthropic's
published multipliers: a 5-minute write 1.25x, a 1-hour write 2x; a cache read at the model's own
read price when one is given, else 0.1x the input price. (The read price is the one figure whose
sources disagree: Sonnet 5.5's is $0.10 on one Anthropic page and $0.20, 0.1x, in third-party
tables; give it explicitly once the price list is checked.) Message Batches are billed at half
price. Thinking tokens are output tokens (part of `usage.output_tokens`). A model without a price
has no cost (None), never a guessed one.
"""

from __future__ import annotations

import json
from functools import lru_cache

CACHE_WRITE_FACTOR = {"5m": 1.25, "1h": 2.0}
CACHE_READ_FACTOR = 0.1
BATCH_FACTOR = 0.5


# A model's prices, USD per million tokens: input, output, and cache read (None: 0.1x input).
Prices = tuple[float, float, float | None]


@lru_cache(maxsize=8)
def price_table(raw: str) -> dict[str, Prices]:
    """`{"model": [input, output(, cache_read)], ...}` (USD per MTok) parsed; raises ValueError
    when malformed."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError("LLM_PRICES must be a JSON object") from exc
    if not isinstance(data, dict):
        raise ValueError("LLM_PRICES must be a JSON object")
    table: dict[str, Prices] = {}
    for model, prices in data.items():
        ok = (
            isinstance(prices, list)
            and len(prices) in (2, 3)
            and all(isinstance(p, int | float) and not isinstance(p, bool) and 0 <= p < 1000 for p in prices)
        )
        if not ok:
            raise ValueError(
                "LLM_PRICES maps a model to [input, output] or [input, output, cache_read]"
                " USD per million tokens"
            )
        read = float(prices[2]) if len(prices) == 3 else None
        table[str(model)] = (float(prices[0]), float(prices[1]), read)
    return table


def cost_usd(
    prices: dict[str, Prices],
    model: str,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_write_5m_tokens: int = 0,
    cache_write_1h_tokens: int = 0,
    batch: bool = False,
) -> float | None:
    price = prices.get(model)
    if price is None:
        return None
    per_input, per_output, per_read = price
    billed = (
        input_tokens * per_input
        + cache_write_5m_tokens * per_input * CACHE_WRITE_FACTOR["5m"]
        + cache_write_1h_tokens * per_input * CACHE_WRITE_FACTOR["1h"]
        + cache_read_tokens * (per_input * CACHE_READ_FACTOR if per_read is None else per_read)
        + output_tokens * per_output
    ) / 1_000_000
    return billed * (BATCH_FACTOR if batch else 1.0)
