"""The generation pipeline: user data -> analysis -> provider -> validation -> result.

`run_program_generation_pipeline` is pure with respect to the database except through the
`progress` callback; the worker (`tpg.generation`) claims the row before and stores the result
after. The provider and the validator are the seams the LLM tiers plug into.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from pydantic import ValidationError

from tpg.analysis import EnhancedUserData, analyse
from tpg.models import Stage
from tpg.offline import generate_offline_program
from tpg.program import TrainingProgram
from tpg.user_data import UserData
from tpg.validation import ValidationReport, validate_program

ProgressCallback = Callable[[Stage, int], None]


class GenerationError(Exception):
    """A failed attempt, with a stable code, a message safe to show, and whether to try again."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable


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


class ProgramProvider(Protocol):
    name: str

    def generate(
        self, data: EnhancedUserData, request: GenerationRequest, *, on_progress: Callable[[int], None]
    ) -> ProviderResult:
        """Produce a schema-valid program; report 0-100 through `on_progress` while working."""
        ...


class OfflineProvider:
    """The deterministic rules engine: the local default and the pipeline's last tier.

    It answers in milliseconds; `latency_seconds` paces it like an LLM call (the demo uses it so
    a person can watch the stages, and benchmarks use it as a fake LLM of known latency).
    """

    name = "offline"

    def __init__(self, latency_seconds: float = 0.0) -> None:
        self.latency_seconds = latency_seconds

    def generate(
        self, data: EnhancedUserData, request: GenerationRequest, *, on_progress: Callable[[int], None]
    ) -> ProviderResult:
        program = generate_offline_program(data, weeks=request.weeks, name=request.name)
        if self.latency_seconds > 0:
            steps = max(1, int(self.latency_seconds / 0.25))
            for step in range(1, steps + 1):
                time.sleep(self.latency_seconds / steps)
                on_progress(100 * step // steps)
        return ProviderResult(program=program, model=None)


@dataclass(frozen=True, slots=True)
class PipelineResult:
    program: TrainingProgram
    report: ValidationReport
    provider: str
    model: str | None
    fallback_tier: str
    usage: dict[str, Any]
    duration_ms: float


def user_data_from_row(row: dict[str, Any], *, today: date | None = None) -> UserData:
    """Profile + onboarding columns (as read by the claim) -> the validated pipeline input."""
    today = today or date.today()
    try:
        return UserData.model_validate(
            {
                "user_id": row["user_id"],
                "age": today.year - row["birth_year"] if row.get("birth_year") else None,
                "sex": row.get("sex"),
                "height_cm": row.get("height_cm"),
                "weight_kg": row.get("weight_kg"),
                "goal": row.get("goal"),
                "experience": row.get("experience"),
                "training_months": row.get("training_months") or 0,
                "days_per_week": row.get("days_per_week"),
                "session_minutes": row.get("session_minutes"),
                "equipment": row.get("equipment") or [],
                "injuries": row.get("injuries") or [],
                "lifts": row.get("lifts") or [],
                "notes": (row.get("notes") or None),
            }
        )
    except ValidationError as exc:
        raise GenerationError(
            "INVALID_USER_DATA",
            "Your profile or onboarding answers are incomplete. Please review them and try again.",
            retryable=False,
        ) from exc


def run_program_generation_pipeline(
    user: UserData,
    request: GenerationRequest,
    *,
    provider: ProgramProvider,
    progress: ProgressCallback,
) -> PipelineResult:
    started = time.perf_counter()
    progress(Stage.ANALYZING, 10)
    enhanced = analyse(user)

    progress(Stage.GENERATING, 30)
    produced = provider.generate(
        enhanced, request, on_progress=lambda pct: progress(Stage.GENERATING, 30 + pct * 50 // 100)
    )

    progress(Stage.VALIDATING, 85)
    # Basic validation is the schema (the provider returns a parsed TrainingProgram); enhanced
    # validation is the science and safety rules. I6: nothing that fails them is completed.
    report = validate_program(produced.program, enhanced)
    if not report.ok:
        raise GenerationError(
            "INVALID_PROGRAM",
            "We could not produce a program that passes our safety checks. Please try again.",
            retryable=False,
        )

    progress(Stage.SAVING, 95)
    return PipelineResult(
        program=produced.program,
        report=report,
        provider=provider.name,
        model=produced.model,
        fallback_tier=provider.name,
        usage=produced.usage,
        duration_ms=(time.perf_counter() - started) * 1000,
    )
