"""The generation pipeline: user data -> analysis -> (result cache) -> tiers -> validation -> result.

`run_program_generation_pipeline` is pure with respect to the database except through its two
seams, the `progress` callback and the optional `cache`; the worker (`tpg.generation`) claims the
row before and stores the result after.

Providers are tried in order (docs/llm-pipeline.md): a tier either returns a schema-valid program
(basic validation: pydantic) or raises `TierError`; the program must then pass enhanced validation
(science and safety). A tier that can repair (Claude) gets one repair round, with the schema's
findings (a well-formed answer pydantic refused) or the enhanced-validation violations fed back;
otherwise, or if the repair fails too, the next tier runs. Only a program that passes enhanced
validation is returned (I6): the last tier's failure is the job's failure. `GenerationCancelled`
from the progress callback propagates as it is.

Lift ids are user-typed: only catalog ids reach the analysis (and so the prompt's `<user_data>`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from tpg.generation.claude.prompt import PROMPT_VERSION, render_user_input
from tpg.generation.ports import (
    CachedProgram,
    GenerationCancelled,
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
from tpg.training.catalog import CATALOG
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


def request_fingerprint(
    data: EnhancedUserData, request: GenerationRequest, *, model: str, variant: Sequence[str] = ()
) -> str:
    """sha256 of the normalised per-user prompt input + prompt version + model + the first tier's
    `fingerprint_parts` (its ask when not the primary `compact` one, its effort and thinking: each
    changes the answer a request gets).

    The per-user input is the canonical JSON of the analysis output and the cleaned free text
    (exactly what the model sees), so two requests with the same fingerprint send the same prompt.
    The program name is not part of it: it is applied after generation.
    """
    text = render_user_input(data, weeks=request.weeks, request_notes=request.notes)
    digest = hashlib.sha256()
    for part in (PROMPT_VERSION, model, *variant, text):
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


def catalog_lifts_only(user: UserData) -> UserData:
    """The user with only the reported lifts whose exercise id is a catalog id (spelled loosely:
    case, spaces and hyphens). Another id is user-typed text: it never reaches the analysis, its
    notes or the prompt's `<user_data>`, which the prompt calls the app's own data."""
    kept = []
    for lift in user.lifts:
        exercise_id = "_".join(lift.exercise_id.strip().lower().replace("-", " ").split())
        if exercise_id in CATALOG:
            kept.append(
                lift
                if exercise_id == lift.exercise_id
                else lift.model_copy(update={"exercise_id": exercise_id})
            )
    if len(kept) == len(user.lifts) and all(a is b for a, b in zip(kept, user.lifts, strict=True)):
        return user
    if len(kept) < len(user.lifts):
        logger.info(
            "reported lifts with unknown exercise ids ignored", extra={"ignored": len(user.lifts) - len(kept)}
        )
    return user.model_copy(update={"lifts": tuple(kept)})


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
        self._last = max(self._last, value)
        # Every report goes through, at the highest value so far: the callback is also the worker's
        # cancellation checkpoint (it paces its own writes), so a retried stream or a later tier
        # still reaches it before passing the progress already shown.
        self._progress(Stage.GENERATING, self._last)


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


@dataclass
class _TierRun:
    """What the tiers of one job share: the usage so far, each tier's record, which LLMs are out."""

    usage: LlmUsage = field(default_factory=LlmUsage)
    history: list[TierAttempt] = field(default_factory=list)
    dead_models: set[str] = field(default_factory=set)
    llm_dead: bool = False
    last_error: GenerationError | None = None


@dataclass
class _TierTry:
    """One tier's attempt as it goes."""

    tier: ProgramProvider
    name: str
    model: str | None
    # What a repair round leaves on the tier's record, whatever its outcome.
    repaired_for: tuple[str, ...] | None = None


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
    enhanced = analyse(catalog_lifts_only(user))
    if enhanced.referral is not None:
        # The safety rules refuse this user a program (docs/training-science.md): no tier runs.
        raise GenerationError(enhanced.referral.code, enhanced.referral.message, retryable=False)
    first_model = _model_of(tiers[0])
    fingerprint = request_fingerprint(
        enhanced,
        request,
        model=first_model or tiers[0].name,
        variant=getattr(tiers[0], "fingerprint_parts", ()),
    )
    prompt_version = PROMPT_VERSION if first_model else None

    if cache is not None:
        hit = _cache_hit(cache, fingerprint, enhanced, request, progress, started, prompt_version)
        if hit is not None:
            return hit

    progress(Stage.GENERATING, _GENERATING_FROM)
    on_progress = _MonotonicProgress(progress)
    run = _TierRun()
    for index, tier in enumerate(tiers):
        attempt = _TierTry(tier=tier, name=_tier_name(tier), model=_model_of(tier))
        if attempt.model is not None and (run.llm_dead or attempt.model in run.dead_models):
            run.history.append(TierAttempt(tier=attempt.name, model=attempt.model, outcome="skipped"))
            continue
        try:
            produced, report = _generate_and_validate(attempt, enhanced, request, run, progress, on_progress)
        except Exception as exc:
            if not _tier_failed(run, attempt, exc, last=index == len(tiers) - 1):
                raise
            continue
        if report.ok:
            return _completed(run, attempt, produced, report, progress, started, fingerprint, prompt_version)
        _tier_invalid(run, attempt, report)

    # Only reached when the last tier returned a program that fails enhanced validation (I6), or
    # every tier was skipped.
    if run.history and run.history[-1].outcome == "invalid":
        raise GenerationError(
            "INVALID_PROGRAM",
            "We could not produce a program that passes our safety checks. Please try again.",
            retryable=False,
        )
    raise run.last_error or GenerationError(
        "NO_PROVIDER", "No program generator is available.", retryable=True
    )


def _cache_hit(
    cache: ResultCache,
    fingerprint: str,
    enhanced: EnhancedUserData,
    request: GenerationRequest,
    progress: ProgressCallback,
    started: float,
    prompt_version: str | None,
) -> PipelineResult | None:
    """The stored program of an identical request, if it still passes today's validation."""
    hit = _from_cache(cache, fingerprint, enhanced, request)
    if hit is None:
        return None
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


def _generate_and_validate(
    attempt: _TierTry,
    enhanced: EnhancedUserData,
    request: GenerationRequest,
    run: _TierRun,
    progress: ProgressCallback,
    on_progress: _MonotonicProgress,
) -> tuple[ProviderResult, ValidationReport]:
    """One tier's attempt: generate, validate and, for a tier that can repair, one repair round.

    Raises what the tier raises; the usage of every call that returned is already on `run`."""
    tier = attempt.tier
    repairable = isinstance(tier, RepairingProvider)
    try:
        produced = _as_requested(tier.generate(enhanced, request, on_progress=on_progress), request)
    except TierError as exc:
        if exc.repair is None or not isinstance(tier, RepairingProvider):
            raise
        # A well-formed answer the schema refused: its findings go to the repair round.
        run.usage += exc.usage
        count(Metric.VALIDATION_FAILURES, dimensions={"Level": "basic"})
        attempt.repaired_for = (exc.code,)
        logger.info("answer refused by the schema; one repair round", extra={"tier": attempt.name})
        produced = _as_requested(
            tier.repair(
                enhanced, request, exc.repair.raw_output, exc.repair.problems, on_progress=on_progress
            ),
            request,
        )
        repairable = False
    run.usage += produced.usage
    progress(Stage.VALIDATING, 85)
    report = validate_program(produced.program, enhanced)
    if not report.ok and repairable and isinstance(tier, RepairingProvider):
        count(Metric.VALIDATION_FAILURES, dimensions={"Level": "enhanced"})
        attempt.repaired_for = _violations(report)
        logger.info("program failed enhanced validation; one repair round", extra={"tier": attempt.name})
        produced = _as_requested(
            tier.repair(enhanced, request, produced.raw_output or "", report, on_progress=on_progress),
            request,
        )
        run.usage += produced.usage
        progress(Stage.VALIDATING, 85)
        report = validate_program(produced.program, enhanced)
    return produced, report


def _tier_failed(run: _TierRun, attempt: _TierTry, exc: Exception, *, last: bool) -> bool:
    """Put a tier's failure on the record; False when `exc` must propagate instead (the last tier's
    failure, a cancellation, or a rules-engine tier failing in a way it did not classify)."""
    name, model = attempt.name, attempt.model
    if isinstance(exc, GenerationCancelled):
        exc.usage = run.usage + exc.usage  # what the job had cost when it stopped
        return False
    if isinstance(exc, TierError):
        run.usage += exc.usage
        run.history.append(_attempt(name, model, "failed", attempt.repaired_for, code=exc.code))
        if exc.validation_level is not None:
            count(Metric.VALIDATION_FAILURES, dimensions={"Level": exc.validation_level})
        logger.warning("tier gave up", extra={"tier": name, "error_code": exc.code, "scope": exc.scope})
        if exc.scope == "provider":
            run.llm_dead = True
        elif exc.scope == "model" and model is not None:
            run.dead_models.add(model)
        run.last_error = exc
        return not last
    if isinstance(exc, GenerationError):
        run.history.append(_attempt(name, model, "failed", attempt.repaired_for, code=exc.code))
        run.last_error = exc
        return not last
    # An LLM tier failing in a way it did not classify (a secret that cannot be read, an SDK error
    # type it does not map): the LLM is out for this attempt, the rules engine is not.
    if model is None or last:
        return False
    logger.error("LLM tier failed unexpectedly", extra={"tier": name, **describe_unexpected(exc)})
    run.history.append(_attempt(name, model, "failed", attempt.repaired_for, code="LLM_UNEXPECTED"))
    run.llm_dead = True
    return True


def _completed(
    run: _TierRun,
    attempt: _TierTry,
    produced: ProviderResult,
    report: ValidationReport,
    progress: ProgressCallback,
    started: float,
    fingerprint: str,
    prompt_version: str | None,
) -> PipelineResult:
    """The result of the tier whose program passed enhanced validation."""
    name, model = attempt.name, attempt.model
    run.history.append(_attempt(name, model, "completed", attempt.repaired_for))
    count(Metric.FALLBACK_TIER_USED, dimensions={"Tier": name})
    progress(Stage.SAVING, 95)
    usage = replace(
        run.usage, model=(produced.model or model) if model is not None else None, tiers=tuple(run.history)
    )
    return PipelineResult(
        program=produced.program,
        report=report,
        provider=attempt.tier.name,
        model=produced.model,
        fallback_tier=name,
        usage=usage,
        duration_ms=(time.perf_counter() - started) * 1000,
        fingerprint=fingerprint,
        prompt_version=prompt_version,
    )


def _tier_invalid(run: _TierRun, attempt: _TierTry, report: ValidationReport) -> None:
    """Put on the record a tier whose (repaired) program still fails enhanced validation."""
    count(Metric.VALIDATION_FAILURES, dimensions={"Level": "enhanced"})
    run.history.append(
        TierAttempt(
            tier=attempt.name,
            model=attempt.model,
            outcome="invalid",
            violations=_violations(report),
            repaired=attempt.repaired_for is not None,
        )
    )
    logger.warning(
        "program failed enhanced validation", extra={"tier": attempt.name, "codes": list(_violations(report))}
    )


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
