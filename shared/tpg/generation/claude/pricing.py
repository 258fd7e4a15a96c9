"""What an answer costs at list prices: tokens x the configured per-model prices.

Prices come from `LLM_PRICES` (USD per million tokens, input and output, per model). Cache writes
and reads are priced from the input price with Anthropic's published multipliers: a 5-minute write
1.25x, a 1-hour write 2x, a read 0.1x. Message Batches are billed at half price. Thinking tokens
are output tokens (they are part of `usage.output_tokens`). A model without a price has no cost
(None), never a guessed one.
"""

from __future__ import annotations

import json
from functools import lru_cache

CACHE_WRITE_FACTOR = {"5m": 1.25, "1h": 2.0}
CACHE_READ_FACTOR = 0.1
BATCH_FACTOR = 0.5


@lru_cache(maxsize=8)
def price_table(raw: str) -> dict[str, tuple[float, float]]:
    """`{"model": [input, output], ...}` (USD per MTok) parsed; raises ValueError when malformed."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError("LLM_PRICES must be a JSON object") from exc
    if not isinstance(data, dict):
        raise ValueError("LLM_PRICES must be a JSON object")
    table: dict[str, tuple[float, float]] = {}
    for model, pair in data.items():
        ok = (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(p, int | float) and not isinstance(p, bool) and 0 <= p < 1000 for p in pair)
        )
        if not ok:
            raise ValueError("LLM_PRICES maps a model to [input, output] USD per million tokens")
        table[str(model)] = (float(pair[0]), float(pair[1]))
    return table


def cost_usd(
    prices: dict[str, tuple[float, float]],
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
    per_input, per_output = price
    billed = (
        input_tokens * per_input
        + cache_write_5m_tokens * per_input * CACHE_WRITE_FACTOR["5m"]
        + cache_write_1h_tokens * per_input * CACHE_WRITE_FACTOR["1h"]
        + cache_read_tokens * per_input * CACHE_READ_FACTOR
        + output_tokens * per_output
    ) / 1_000_000
    return billed * (BATCH_FACTOR if batch else 1.0)
