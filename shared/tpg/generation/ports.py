"""The generation ports: what a program provider is, what it is asked and answers, how it fails.

The pipeline (`tpg.generation.pipeline`) and every provider (`tpg.generation.offline`,
`tpg.generation.claude`) import these; none of them imports another, so there is no cycle.
"""

from __future__ import annotations

from collections.abc import Callable
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
        usage: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(code, message, retryable=True)
        self.scope = scope
        self.validation_level = validation_level
        self.usage = usage or {}


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    weeks: int = 4
    name: str | None = None
    notes: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderResult:
    program: TrainingProgram
    model: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
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
        previous: ProviderResult,
        report: ValidationReport,
        *,
        on_progress: Callable[[int], None],
    ) -> ProviderResult:
        """Produce a corrected program from `previous` and the violations in `report`."""
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
