"""Claude through Message Batches: the request of a batch member, its answer, and the answer as a tier.

A member's request is exactly the first configured LLM tier's ask (same system prefix, schema,
effort, thinking and `max_tokens` as `tpg.generation.claude.client` streams), minus the user turn's
5-minute cache breakpoint: a batch is answered over minutes to hours, so no repair round would read
that entry, and writing it costs 1.25x the turn's input tokens.

The answer is then a tier like any other (`StoredAnswer`): the pipeline parses it with the same
clamps and expansion, validates it, and (`RepairableStoredAnswer`, in the worker) gives it the
one repair round the tier it stands for would get, through that tier's live provider. Its usage is
billed at the batch price (half the list price, `pricing.BATCH_FACTOR`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from anthropic.types import MessageParam

from tpg.generation.claude.client import (
    TIERS,
    ClaudeProvider,
    answer_text,
    max_tokens_for,
    parse_answer,
    request_params,
    tier_names,
    usage_of,
)
from tpg.generation.claude.client import (
    count_usage as count_llm_usage,
)
from tpg.generation.claude.prompt import Ask, user_message
from tpg.generation.ports import GenerationRequest, LlmUsage, ProviderResult, TierError
from tpg.platform.observability import Metric, count
from tpg.platform.settings import Settings
from tpg.training.analysis import EnhancedUserData
from tpg.training.validation import ValidationReport

# What a member's answer is called as a tier: `fallback_tier` of a program its answer wrote, and
# its entry in `usage.tiers`.
BATCH_TIER = "batch"

# The LlmUsage counters an answer keeps (its `usage` JSON).
_COUNTERS = (
    "requests",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "thinking_tokens",
    "cost_usd",
)


@dataclass(frozen=True, slots=True)
class BatchAsk:
    """What every request of a Message Batch asks: the first configured LLM tier's ask and model."""

    model: str
    ask: Ask

    @classmethod
    def from_settings(cls, settings: Settings) -> BatchAsk:
        ask, small = TIERS[tier_names(settings)[0]]
        return cls(model=settings.anthropic_small_model if small else settings.anthropic_model, ask=ask)


def member_request(
    settings: Settings, asked: BatchAsk, data: EnhancedUserData, request: GenerationRequest, *, custom_id: str
) -> dict[str, Any]:
    """One entry of `messages.batches.create(requests=...)`."""
    text = user_message(data, ask=asked.ask, weeks=request.weeks, request_notes=request.notes)
    turn: MessageParam = {"role": "user", "content": [{"type": "text", "text": text}]}
    params = request_params(
        settings,
        model=asked.model,
        ask=asked.ask,
        messages=[turn],
        max_tokens=max_tokens_for(settings, asked.ask),
    )
    return {"custom_id": custom_id, "params": params}


def billed_usage(message: Any, settings: Settings, asked: BatchAsk) -> LlmUsage:
    """What one succeeded answer of a Message Batch cost (at the batch price)."""
    return replace(usage_of(message, settings, asked.model, batch=True), requests=1)


def count_usage(usage: LlmUsage) -> None:
    """The LLM token and cost metrics for answers of Message Batches: in the totals, and apart."""
    count_llm_usage(usage)
    for kind, tokens in usage.token_counts():
        count(Metric.BATCH_LLM_TOKENS, tokens, dimensions={"Kind": kind})
    if usage.cost_usd is not None:
        count(Metric.BATCH_LLM_COST, round(usage.cost_usd * 1_000_000))


@dataclass(frozen=True, slots=True)
class BatchAnswer:
    """A member's answer as the Message Batch returned it, with what it cost (at the batch price)."""

    text: str
    stop_reason: str | None
    model: str
    ask: Ask
    usage: LlmUsage

    @classmethod
    def from_message(cls, message: Any, settings: Settings, asked: BatchAsk) -> BatchAnswer:
        usage = billed_usage(message, settings, asked)
        count_usage(usage)
        return cls(
            text=answer_text(message),
            stop_reason=message.stop_reason,
            model=asked.model,
            ask=asked.ask,
            usage=usage,
        )

    def to_json(self) -> dict[str, Any]:
        usage = {
            name: getattr(self.usage, name) for name in _COUNTERS if getattr(self.usage, name) is not None
        }
        return {
            "text": self.text,
            "stopReason": self.stop_reason,
            "model": self.model,
            "ask": self.ask,
            "usage": usage,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BatchAnswer:
        usage = data.get("usage") or {}
        return cls(
            text=str(data["text"]),
            stop_reason=data.get("stopReason"),
            model=str(data["model"]),
            ask="full" if data.get("ask") == "full" else "compact",
            usage=LlmUsage(**{name: usage[name] for name in _COUNTERS if name in usage}),
        )


class StoredAnswer:
    """A member's batch answer as a tier: parsed and expanded like the live ask's, never re-asked.

    No repair round (the batch step's first validation: whatever fails goes to the worker)."""

    name = "anthropic"
    tier = BATCH_TIER

    def __init__(self, answer: BatchAnswer) -> None:
        self.answer = answer
        self.model: str | None = answer.model
        self.ask: Ask = answer.ask

    def generate(
        self, data: EnhancedUserData, request: GenerationRequest, *, on_progress: Callable[[int], None]
    ) -> ProviderResult:
        answer = self.answer
        try:
            program, fixes = parse_answer(answer.text, answer.stop_reason, data, request, ask=answer.ask)
        except TierError as exc:
            exc.usage = answer.usage + exc.usage  # what the answer cost is the job's, whatever it was
            raise
        on_progress(100)
        usage = answer.usage + LlmUsage(format_fixes=fixes)
        return ProviderResult(program=program, model=answer.model, usage=usage, raw_output=answer.text)


class RepairableStoredAnswer(StoredAnswer):
    """The stored answer with the one repair round its tier would give a live answer, asked live
    through that tier's provider (its budget is the job's, shared with the tiers after it)."""

    def __init__(self, answer: BatchAnswer, repairer: ClaudeProvider) -> None:
        super().__init__(answer)
        self._repairer = repairer

    def repair(
        self,
        data: EnhancedUserData,
        request: GenerationRequest,
        raw_output: str,
        problems: ValidationReport | Sequence[str],
        *,
        on_progress: Callable[[int], None],
    ) -> ProviderResult:
        return self._repairer.repair(data, request, raw_output, problems, on_progress=on_progress)
