"""The generation ports: what a program provider is, what it is asked and answers, how it fails.

The pipeline (`tpg.generation.pipeline`) and every provider (`tpg.generation.offline`,
`tpg.generation.claude`) import these; none of them imports another, so there is no cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable
from uuid import UUID

from tpg.training.analysis import EnhancedUserData
from tpg.training.program import TrainingProgram
from tpg.training.validation import ValidationReport


class GenerationError(Exception):
    """A failed attempt, with a stable code, a message safe to show, and whether to try again."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable


class GenerationCancelled(Exception):  # noqa: N818 - reads as what happened
    """The job was cancelled (raised by the progress callback): it propagates out of the pipeline
    and every provider as it is (a Claude stream is closed on the way), never a tier failure.

    On the way out it collects `usage`: what the job's LLM calls had cost when it stopped, the
    stream it closed included (billed for its input and what it had streamed)."""

    usage: LlmUsage

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.usage = LlmUsage()


@dataclass(frozen=True, slots=True)
class RepairHint:
    """What a repair round needs about a refused answer: the answer as sent, and what was wrong
    with it (pydantic's findings, as lines the model can act on)."""

    raw_output: str
    problems: tuple[str, ...]


# What else a tier's failure rules out for this job: nothing else ("tier"), every tier on the same
# model ("model": the model is overloaded, unknown or rejects our request), or every LLM tier
# ("provider": bad credentials, unreachable API, spent budget, a refusal of this user's data).
Scope = Literal["tier", "model", "provider"]


class TierError(GenerationError):
    """A tier could not produce a schema-valid program; the pipeline moves on to the next tier."""

    def __init__(
        self,
        code: str,
        message: str = "The program generator is unavailable right now; we will try again.",
        *,
        scope: Scope = "tier",
        validation_level: Literal["basic"] | None = None,
        usage: LlmUsage | None = None,
        repair: RepairHint | None = None,
    ) -> None:
        super().__init__(code, message, retryable=True)
        self.scope = scope
        self.validation_level = validation_level
        self.usage = usage or LlmUsage()
        # Set when a repair round may fix the answer (schema errors of well-formed JSON).
        self.repair = repair


# --- What the LLM calls of a job cost ----------------------------------------------------------

TierOutcome = Literal["completed", "failed", "invalid", "skipped"]


@dataclass(frozen=True, slots=True)
class TierAttempt:
    """One tier of a job as the pipeline ran it: `usage.tiers` in the stored record."""

    tier: str
    model: str | None
    outcome: TierOutcome
    code: str | None = None  # why it failed
    violations: tuple[str, ...] | None = (
        None  # the enhanced-validation codes it was refused (or repaired) for
    )
    repaired: bool = False  # it had one repair round

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"tier": self.tier, "model": self.model, "outcome": self.outcome}
        if self.code is not None:
            data["code"] = self.code
        if self.violations is not None:
            data["violations"] = list(self.violations)
        if self.repaired:
            data["repaired"] = True
        return data


def _plus(a: int | None, b: int | None) -> int | None:
    return a if b is None else b if a is None else a + b


def _plus_cost(a: float | None, b: float | None) -> float | None:
    return a if b is None else b if a is None else a + b


@dataclass(frozen=True, slots=True)
class LlmUsage:
    """What a job's LLM calls cost, and how the job went through the tiers.

    Usages add up (`+`): the counters sum (a counter nobody reported stays None, and is left out of
    the stored JSON), `tiers` concatenate, `model` and `result_cache_source` keep the later value.
    `to_json` is the one place the stored shape (the `usage` column) is spelled.
    """

    requests: int | None = None  # HTTP requests, failed ones and retries included
    input_tokens: int | None = None
    output_tokens: int | None = None  # thinking included (billed as output)
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    latency_ms: int | None = None
    thinking_tokens: int | None = None  # the part of output_tokens spent thinking
    # The part of output_tokens estimated from streamed characters: a stream cut before its end
    # (deadline, cancellation, an error mid-stream) reports no output usage, yet is billed for it.
    estimated_output_tokens: int | None = None
    cost_usd: float | None = None  # at the configured list prices (tpg.generation.claude.pricing)
    format_fixes: int | None = None  # trivial slips code fixed instead of a repair round
    model: str | None = None  # the model that wrote the stored program (LLM tiers only)
    tiers: tuple[TierAttempt, ...] | None = None
    result_cache_source: UUID | None = None  # the program reused from the result cache

    def token_counts(self) -> tuple[tuple[str, int], ...]:
        """The token counters by the `Kind` the LLM token metrics use (unreported counters as 0)."""
        return (
            ("input", self.input_tokens or 0),
            ("output", self.output_tokens or 0),
            ("cache_read", self.cache_read_input_tokens or 0),
            ("cache_write", self.cache_creation_input_tokens or 0),
            ("thinking", self.thinking_tokens or 0),
        )

    def __add__(self, other: LlmUsage) -> LlmUsage:
        tiers = (
            None
            if self.tiers is None and other.tiers is None
            else (*(self.tiers or ()), *(other.tiers or ()))
        )
        return LlmUsage(
            requests=_plus(self.requests, other.requests),
            input_tokens=_plus(self.input_tokens, other.input_tokens),
            output_tokens=_plus(self.output_tokens, other.output_tokens),
            cache_read_input_tokens=_plus(self.cache_read_input_tokens, other.cache_read_input_tokens),
            cache_creation_input_tokens=_plus(
                self.cache_creation_input_tokens, other.cache_creation_input_tokens
            ),
            latency_ms=_plus(self.latency_ms, other.latency_ms),
            thinking_tokens=_plus(self.thinking_tokens, other.thinking_tokens),
            estimated_output_tokens=_plus(self.estimated_output_tokens, other.estimated_output_tokens),
            cost_usd=_plus_cost(self.cost_usd, other.cost_usd),
            format_fixes=_plus(self.format_fixes, other.format_fixes),
            model=other.model if other.model is not None else self.model,
            tiers=tiers,
            result_cache_source=(
                other.result_cache_source
                if other.result_cache_source is not None
                else self.result_cache_source
            ),
        )

    def to_json(self) -> dict[str, Any]:
        """The `usage` column: the counters reported, `model`, `tiers`, `result_cache`."""
        data: dict[str, Any] = {}
        for key, value in (
            ("requests", self.requests),
            ("input_tokens", self.input_tokens),
            ("output_tokens", self.output_tokens),
            ("cache_read_input_tokens", self.cache_read_input_tokens),
            ("cache_creation_input_tokens", self.cache_creation_input_tokens),
            ("latency_ms", self.latency_ms),
            ("thinking_tokens", self.thinking_tokens),
            ("estimated_output_tokens", self.estimated_output_tokens),
            ("cost_usd", None if self.cost_usd is None else round(self.cost_usd, 6)),
            ("format_fixes", self.format_fixes),
            ("model", self.model),
        ):
            if value is not None:
                data[key] = value
        if self.tiers is not None:
            data["tiers"] = [attempt.to_json() for attempt in self.tiers]
        if self.result_cache_source is not None:
            data["result_cache"] = {"source_program_id": str(self.result_cache_source)}
        return data


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    weeks: int = 4
    name: str | None = None
    notes: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderResult:
    program: TrainingProgram
    model: str | None = None
    usage: LlmUsage = field(default_factory=LlmUsage)
    # The model's answer as sent (a repair round quotes it back).
    raw_output: str | None = None


class ProgramProvider(Protocol):
    name: str

    def generate(
        self, data: EnhancedUserData, request: GenerationRequest, *, on_progress: Callable[[int], None]
    ) -> ProviderResult:
        """Produce a schema-valid program; report 0-100 through `on_progress` while working."""
        ...


@runtime_checkable
class RepairingProvider(Protocol):
    def repair(
        self,
        data: EnhancedUserData,
        request: GenerationRequest,
        raw_output: str,
        problems: ValidationReport | Sequence[str],
        *,
        on_progress: Callable[[int], None],
    ) -> ProviderResult:
        """Produce a corrected program from the refused answer `raw_output` and what was wrong with
        it: the enhanced-validation report of its program, or the schema's findings."""
        ...


@dataclass(frozen=True, slots=True)
class CachedProgram:
    program_id: UUID
    program: dict[str, Any]
    model: str | None
    fallback_tier: str | None


class ResultCache(Protocol):
    def lookup(self, fingerprint: str) -> CachedProgram | None:
        """A completed LLM program with this fingerprint, recent enough to reuse, or None."""
        ...
