"""The generation pipeline: user data -> analysis -> (result cache) -> tiers -> validation -> result.

`run_program_generation_pipeline` is pure with respect to the database except through its two
seams, the `progress` callback and the optional `cache`; the worker (`tpg.generation`) claims the
row before and stores the result after.

Providers are tried in order, most ambitious first (docs/llm-pipeline.md): a tier either returns a
schema-valid program (basic validation: pydantic) or raises `TierError`; the program must then pass
enhanced validation (science and safety). A tier that can repair (Claude) gets one repair round with
the violations fed back; otherwise, or if the repair fails too, the next tier runs. Only a program
that passes enhanced validation is returned (I6): the last tier's failure is the job's failure.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from tpg.generation.claude.prompt import PROMPT_VERSION, render_user_input
from tpg.generation.ports import (
    CachedProgram,
    GenerationError,
    GenerationRequest,
    LlmUsage,
    ProgramProvider,
    ProviderResult,
    RepairingProvider,
    ResultCache,
    TierAttempt,
    TierError,
    TierOutcome,
)
from tpg.platform.observability import Metric, count, describe_unexpected, logger
from tpg.store.rows import Stage
from tpg.training.analysis import EnhancedUserData, analyse
from tpg.training.program import TrainingProgram, default_program_name
from tpg.training.user_data import UserData
from tpg.training.validation import ProgramSchemaError, ValidationReport, parse_program, validate_program

ProgressCallback = Callable[[Stage, int], None]

# Progress bands of the whole job (the claim writes analyzing/5).
_GENERATING_FROM, _GENERATING_TO = 30, 80


def _as_requested(produced: ProviderResult, request: GenerationRequest) -> ProviderResult:
    """Basic validation the schema cannot express: the program has the weeks that were asked for."""
    if produced.program.weeks != request.weeks:
        raise TierError("LLM_SCHEMA_INVALID", validation_level="basic", usage=produced.usage)
    return produced


# --- The result cache seam ---------------------------------------------------------------------


def request_fingerprint(data: EnhancedUserData, request: GenerationRequest, *, model: str) -> str:
    """sha256 of the normalised per-user prompt input + prompt version + model.

    The per-user input is the canonical JSON of the analysis output and the cleaned free text
    (exactly what the model sees), so two requests with the same fingerprint send the same prompt.
    The program name is not part of it: it is applied after generation.
    """
    text = render_user_input(data, weeks=request.weeks, request_notes=request.notes)
    digest = hashlib.sha256()
    for part in (PROMPT_VERSION, model, text):
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


# --- The pipeline ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PipelineResult:
    program: TrainingProgram
    report: ValidationReport
    provider: str
    model: str | None
    fallback_tier: str
    usage: LlmUsage
    duration_ms: float
    fingerprint: str | None = None
    prompt_version: str | None = None
    cache_hit: bool = False


def _tier_name(provider: ProgramProvider) -> str:
    return getattr(provider, "tier", provider.name)


def _model_of(provider: ProgramProvider) -> str | None:
    return getattr(provider, "model", None)


class _MonotonicProgress:
    """Generating progress never goes back when a later tier starts from 0."""

    def __init__(self, progress: ProgressCallback) -> None:
        self._progress = progress
        self._last = _GENERATING_FROM

    def __call__(self, pct: int) -> None:
        value = _GENERATING_FROM + max(0, min(100, pct)) * (_GENERATING_TO - _GENERATING_FROM) // 100
        if value > self._last:
            self._last = value
            self._progress(Stage.GENERATING, value)


def _from_cache(
    cache: ResultCache, fingerprint: str, data: EnhancedUserData, request: GenerationRequest
) -> tuple[CachedProgram, TrainingProgram, ValidationReport] | None:
    cached = cache.lookup(fingerprint)
    if cached is None:
        return None
    try:
        program = parse_program(cached.program)
    except ProgramSchemaError:
        logger.warning("cached program no longer matches the schema; generating anew")
        return None
    # Another request's name never travels with its program.
    name = request.name or default_program_name(data.user.goal, program.split, program.weeks)
    program = program.model_copy(update={"name": name[:100]})
    report = validate_program(program, data)  # the rules may have changed since it was stored (I6)
    if not report.ok:
        logger.warning("cached program fails today's validation; generating anew")
        return None
    return cached, program, report


def run_program_generation_pipeline(
    user: UserData,
    request: GenerationRequest,
    *,
    provider: ProgramProvider | Sequence[ProgramProvider],
    progress: ProgressCallback,
    cache: ResultCache | None = None,
) -> PipelineResult:
    started = time.perf_counter()
    tiers: list[ProgramProvider] = [provider] if not isinstance(provider, Sequence) else list(provider)
    if not tiers:
        raise ValueError("at least one provider is needed")
    progress(Stage.ANALYZING, 10)
    enhanced = analyse(user)
    if enhanced.referral is not None:
        # The safety rules refuse this user a program (docs/training-science.md): no tier runs.
        raise GenerationError(enhanced.referral.code, enhanced.referral.message, retryable=False)
    first_model = _model_of(tiers[0])
    fingerprint = request_fingerprint(enhanced, request, model=first_model or tiers[0].name)
    prompt_version = PROMPT_VERSION if first_model else None

    if cache is not None:
        hit = _from_cache(cache, fingerprint, enhanced, request)
        if hit is not None:
            cached, program, report = hit
            count(Metric.RESULT_CACHE_HITS)
            logger.info("reusing a cached program", extra={"source_program_id": str(cached.program_id)})
            progress(Stage.SAVING, 95)
            return PipelineResult(
                program=program,
                report=report,
                provider="result_cache",
                model=cached.model,
                fallback_tier=cached.fallback_tier or "result_cache",
                usage=LlmUsage(requests=0, result_cache_source=cached.program_id),
                duration_ms=(time.perf_counter() - started) * 1000,
                fingerprint=fingerprint,
                prompt_version=prompt_version,
                cache_hit=True,
            )

    progress(Stage.GENERATING, _GENERATING_FROM)
    on_progress = _MonotonicProgress(progress)
    usage = LlmUsage()
    history: list[TierAttempt] = []
    dead_models: set[str] = set()
    llm_dead = False
    last_error: GenerationError | None = None

    for index, tier in enumerate(tiers):
        last = index == len(tiers) - 1
        name, model = _tier_name(tier), _model_of(tier)
        if model is not None and (llm_dead or model in dead_models):
            history.append(TierAttempt(tier=name, model=model, outcome="skipped"))
            continue
        # What a repair round leaves on the tier's record, whatever its outcome.
        repaired_for: tuple[str, ...] | None = None
        try:
            produced = _as_requested(tier.generate(enhanced, request, on_progress=on_progress), request)
            usage += produced.usage
            progress(Stage.VALIDATING, 85)
            report = validate_program(produced.program, enhanced)
            if not report.ok and isinstance(tier, RepairingProvider):
                count(Metric.VALIDATION_FAILURES, dimensions={"Level": "enhanced"})
                repaired_for = _violations(report)
                logger.info("program failed enhanced validation; one repair round", extra={"tier": name})
                produced = _as_requested(
                    tier.repair(enhanced, request, produced, report, on_progress=on_progress), request
                )
                usage += produced.usage
                progress(Stage.VALIDATING, 85)
                report = validate_program(produced.program, enhanced)
        except TierError as exc:
            usage += exc.usage
            history.append(_attempt(name, model, "failed", repaired_for, code=exc.code))
            if exc.validation_level is not None:
                count(Metric.VALIDATION_FAILURES, dimensions={"Level": exc.validation_level})
            logger.warning("tier gave up", extra={"tier": name, "error_code": exc.code, "scope": exc.scope})
            if exc.scope == "provider":
                llm_dead = True
            elif exc.scope == "model" and model is not None:
                dead_models.add(model)
            last_error = exc
            if last:
                raise
            continue
        except GenerationError as exc:
            history.append(_attempt(name, model, "failed", repaired_for, code=exc.code))
            last_error = exc
            if last:
                raise
            continue
        except Exception as exc:
            # An LLM tier failing in a way it did not classify (a secret that cannot be read, an SDK
            # error type it does not map): the LLM is out for this attempt, the rules engine is not.
            if model is None or last:
                raise
            logger.error("LLM tier failed unexpectedly", extra={"tier": name, **describe_unexpected(exc)})
            history.append(_attempt(name, model, "failed", repaired_for, code="LLM_UNEXPECTED"))
            llm_dead = True
            continue

        if report.ok:
            history.append(_attempt(name, model, "completed", repaired_for))
            count(Metric.FALLBACK_TIER_USED, dimensions={"Tier": name})
            progress(Stage.SAVING, 95)
            usage = replace(
                usage, model=(produced.model or model) if model is not None else None, tiers=tuple(history)
            )
            return PipelineResult(
                program=produced.program,
                report=report,
                provider=tier.name,
                model=produced.model,
                fallback_tier=name,
                usage=usage,
                duration_ms=(time.perf_counter() - started) * 1000,
                fingerprint=fingerprint,
                prompt_version=prompt_version,
            )
        count(Metric.VALIDATION_FAILURES, dimensions={"Level": "enhanced"})
        history.append(
            TierAttempt(
                tier=name,
                model=model,
                outcome="invalid",
                violations=_violations(report),
                repaired=repaired_for is not None,
            )
        )
        logger.warning(
            "program failed enhanced validation", extra={"tier": name, "codes": list(_violations(report))}
        )

    # Only reached when the last tier returned a program that fails enhanced validation (I6), or
    # every tier was skipped.
    if history and history[-1].outcome == "invalid":
        raise GenerationError(
            "INVALID_PROGRAM",
            "We could not produce a program that passes our safety checks. Please try again.",
            retryable=False,
        )
    raise last_error or GenerationError("NO_PROVIDER", "No program generator is available.", retryable=True)


def _violations(report: ValidationReport) -> tuple[str, ...]:
    return tuple(sorted(c.value for c in report.codes()))


def _attempt(
    tier: str,
    model: str | None,
    outcome: TierOutcome,
    repaired_for: tuple[str, ...] | None,
    *,
    code: str | None = None,
) -> TierAttempt:
    """A tier's record; after a repair round it keeps the violations the repair was asked to fix."""
    return TierAttempt(
        tier=tier,
        model=model,
        outcome=outcome,
        code=code,
        violations=repaired_for,
        repaired=repaired_for is not None,
    )
