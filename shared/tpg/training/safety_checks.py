"""The validator's safety net: rules a program must keep whatever wrote it (the engine or an LLM).

Every finding here is an error: the program is health advice, and a warning protects nobody
(docs/training-science.md has each rule with its source). The checks read the same `SafetyPlan` the
engine and the prompt are built from, so no tier can see other rules than the validator applies.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tpg.training.analysis import EnhancedUserData, suggested_load_kg
from tpg.training.catalog import CATALOG, Exercise, LoadingType, MovementPattern, level_rank
from tpg.training.formulas import week_total_sets, weeks_until
from tpg.training.program import ExercisePrescription, TrainingDay, TrainingProgram, TrainingWeek
from tpg.training.report import Findings, Severity, ViolationCode
from tpg.training.rules import min_reps_for
from tpg.training.user_data import ExperienceLevel, Goal

_ERROR = Severity.ERROR
_PULL = frozenset({MovementPattern.HORIZONTAL_PULL, MovementPattern.VERTICAL_PULL})
_PUSH = frozenset({MovementPattern.HORIZONTAL_PUSH, MovementPattern.VERTICAL_PUSH})
_NOT_MAIN = frozenset({MovementPattern.CORE, MovementPattern.CARRY})
_ISOLATION = frozenset({MovementPattern.ISOLATION_UPPER, MovementPattern.ISOLATION_LOWER})
MAX_PUSH_PULL_RATIO = 2.0  # heuristic: more than twice the pressing of pulling invites shoulder trouble
LOAD_TOLERANCE_KG = 2.5  # one loading step
MAX_PROGRESSION_STEP_KG = 5.0  # a step in progression text ("add 2.5-5 kg") is not a load

# Phrases no program may contain, whoever wrote them; a negation at most three words before
# ("never hold your breath", "avoid behind-the-neck work") or "are left out" after makes them
# advice, not instructions.
_UNSAFE_PHRASES = re.compile(
    r"(?:hold|holding|lock|locking|trap|trapping) (?:in )?(?:your |the )?(?:breath|air)|air locked"
    r"|keep the air (?:locked|in)|valsalva|no spotter|without (?:a )?spotter|spotter (?:is )?not needed"
    r"|through (?:the )?pain|ignore (?:the )?pain|no pain,? no gain|max(?:imum)? out|\bmax(?:imal)? attempt"
    r"|1 ?rm (?:test|attempt)|test your (?:1 ?rm|max)|behind[- ]the[- ]neck|as heavy as (?:you can|possible)"
    r"|to (?:absolute |complete |total )?failure every|until you (?:fail|collapse)|ego lift"
    r"|\b1\d\d(?:[.,]\d+)? ?%",  # more than 100% of a maximum
    re.IGNORECASE,
)
# Maximal efforts: instructions for nobody the rules restrict (youth, older adults, pregnancy,
# novices, conditions, injuries).
_MAXIMAL_EFFORT = re.compile(
    r"\bto (?:absolute |complete |total |muscular )?failure\b|\bamrap\b|as many reps as possible"
    r"|\b(?:top |heavy )?singles?\b(?!-)|\brpe ?(?:@ ?|at )?10\b|\b(?:your|a|the|new) (?:1 ?rm|max)\b"
    r"|\bmax(?:imal)? (?:effort|lift|single|weight)",
    re.IGNORECASE,
)
_NEGATION = re.compile(
    r"\b(?:never|not|no|avoid|don't|do not|without|instead of|skip)\b(?:\W+\w+){0,3}\W*$", re.IGNORECASE
)
_LEFT_OUT = re.compile(r"\b(?:are|is) (?:left out|excluded|avoided)\b", re.IGNORECASE)
_LOAD = re.compile(r"(\d+(?:[.,]\d+)?)\s*(kgs?|kilo(?:gram)?s?|lbs?|pounds?)\b", re.IGNORECASE)
_PLATES = re.compile(r"\b(?:\d+|one|two|three|four|five|six) plates?\b", re.IGNORECASE)


# Accepted spellings of the progression model; periodised schemes count for trained lifters.
_PROGRESSION_WORDS: tuple[tuple[str, str], ...] = (
    ("double", "double"),
    ("linear", "linear"),
    ("lp", "linear"),
    ("rpe", "rpe"),
    ("rir", "rpe"),
    ("autoreg", "rpe"),
    ("undulat", "periodized"),
    ("dup", "periodized"),
    ("block", "periodized"),
    ("periodi", "periodized"),
    ("wave", "periodized"),
)


def progression_kind(model: str) -> str | None:
    text = model.strip().lower()
    for word, kind in _PROGRESSION_WORDS:
        if word in text:
            return kind
    return None


def _items(program: TrainingProgram) -> Iterator[tuple[TrainingWeek, TrainingDay, ExercisePrescription]]:
    for week in program.schedule:
        for day in week.days:
            for item in day.exercises:
                yield week, day, item


def _where(week: TrainingWeek, day: TrainingDay, item: ExercisePrescription) -> dict[str, object]:
    return {"week": week.week, "day": day.day, "exercise_id": item.exercise_id}


def check_safety(program: TrainingProgram, data: EnhancedUserData, findings: Findings) -> None:
    if data.referral is not None:
        # No program is fit for a user the rules refer to a doctor, whoever wrote it.
        findings.add(ViolationCode.MEDICAL_CLEARANCE_REQUIRED, _ERROR, data.referral.message)
    _check_exclusions_and_names(program, data, findings)
    _check_intensity(program, data, findings)
    _check_text(program, data, findings)
    _check_deload_flags(program, findings)
    _check_balance_of_pushing_and_pulling(program, findings)
    _check_order(program, findings)
    _check_required_work(program, data, findings)
    _check_strength_specificity(program, data, findings)
    _check_taper(program, data, findings)


def _check_exclusions_and_names(program: TrainingProgram, data: EnhancedUserData, findings: Findings) -> None:
    for week, day, item in _items(program):
        exercise = CATALOG.get(item.exercise_id)
        if exercise is None:
            continue  # UNKNOWN_EXERCISE, reported by the schema-level checks
        if item.name != exercise.name[:80]:
            findings.add(
                ViolationCode.EXERCISE_NAME_MISMATCH,
                _ERROR,
                f"'{item.name[:40]}' is not the name of {exercise.id} ({exercise.name}): an exercise "
                "keeps its catalog name.",
                subject=exercise.id,
                **_where(week, day, item),
            )
        if level_rank(exercise.level) - level_rank(data.training_status) >= 2:
            findings.add(
                ViolationCode.EXERCISE_TOO_ADVANCED,
                _ERROR,
                f"{exercise.name} is an advanced lift; the user is a {data.training_status.value}.",
                subject=exercise.id,
                **_where(week, day, item),
            )
        reasons = data.excluded_reasons.get(exercise.id)
        if not reasons:
            continue
        if all(r == "you asked to leave it out" for r in reasons):
            code = ViolationCode.REFUSED_EXERCISE
        elif any("injury" in r for r in reasons):
            code = ViolationCode.CONTRAINDICATED_EXERCISE
        else:
            code = ViolationCode.POPULATION_CONTRAINDICATION
        findings.add(
            code,
            _ERROR,
            f"{exercise.name} is excluded for this user ({'; '.join(reasons)}).",
            subject=exercise.id,
            **_where(week, day, item),
        )


def _restricted(data: EnhancedUserData) -> bool:
    """Users for whom maximal efforts are never prescribed (youth, older adults, pregnancy, novices,
    anyone with a condition or a restricting injury)."""
    user = data.user
    return (
        data.youth
        or data.older_adult
        or user.pregnant
        or data.training_status == ExperienceLevel.NOVICE
        or bool(user.conditions)
        or any(r.restricts for r in user.injuries)
    )


def _check_intensity(program: TrainingProgram, data: EnhancedUserData, findings: Findings) -> None:
    safety = data.safety
    restricted = _restricted(data)
    min_rir = max(safety.min_rir, data.prescription.min_rir)
    for week, day, item in _items(program):
        exercise = CATALOG.get(item.exercise_id)
        if exercise is None:
            continue
        where = _where(week, day, item)
        # The deload flag switches nothing off: every week is held to the floors.
        if item.rir < min_rir:
            findings.add(
                ViolationCode.INTENSITY_TOO_HIGH,
                _ERROR,
                f"{exercise.name}: RIR {item.rir} is closer to failure than this user may train "
                f"(at least {min_rir}).",
                subject=f"rir:{exercise.id}",
                **where,
            )
        if not exercise.timed and item.reps_min < safety.min_reps:
            findings.add(
                ViolationCode.INTENSITY_TOO_HIGH,
                _ERROR,
                f"{exercise.name}: sets of {item.reps_min} reps are heavier than this user should lift "
                f"(at least {safety.min_reps} reps).",
                subject=f"reps:{exercise.id}",
                **where,
            )
        if restricted and item.reps_max <= 2 and not exercise.timed:
            findings.add(
                ViolationCode.INTENSITY_TOO_HIGH,
                _ERROR,
                f"{exercise.name}: singles and doubles are maximal efforts, not for this user.",
                subject=f"max:{exercise.id}",
                **where,
            )
        if not exercise.timed and item.reps_min < min_reps_for(exercise):
            findings.add(
                ViolationCode.REPS_BELOW_LOADABILITY,
                _ERROR,
                f"{exercise.name} ({exercise.loading.value}) cannot be loaded for sets of {item.reps_min}; "
                f"use at least {min_reps_for(exercise)} reps.",
                subject=exercise.id,
                **where,
            )


def _text_fields(program: TrainingProgram) -> Iterator[tuple[str, str, ExercisePrescription | None]]:
    yield "progression", program.progression.description, None
    yield "name", program.name, None
    for note in program.notes:
        yield "note", note, None
    for week in program.schedule:
        for day in week.days:
            yield "day", f"{day.name} {day.focus}", None
            for item in day.exercises:
                if item.notes:
                    yield "exercise", item.notes, item


def _unsafe_phrase(text: str, pattern: re.Pattern[str] = _UNSAFE_PHRASES) -> str | None:
    for match in pattern.finditer(text):
        clause_end = min(
            (i for i in (text.find(".", match.end()), text.find(";", match.end())) if i >= 0),
            default=len(text),
        )
        if _NEGATION.search(text[: match.start()]) or _LEFT_OUT.search(text[match.end() : clause_end]):
            continue
        return match.group(0)
    return None


def _load_supported(data: EnhancedUserData, item: ExercisePrescription | None, value: float) -> bool:
    """A load stated in an exercise's notes is the user's plausible estimated 1RM, or at most what
    the code computes from it for the heaviest end of this prescription (fewest reps at its RIR).
    Lighter is never a hazard; heavier, or any load without a plausible lift behind it, is."""
    one_rm = data.one_rep_max_kg.get(item.exercise_id) if item is not None else None
    if item is None or one_rm is None:
        return False
    if abs(value - one_rm) <= LOAD_TOLERANCE_KG:
        return True
    heaviest = suggested_load_kg(one_rm, item.reps_min, item.rir)
    return heaviest is not None and value <= heaviest + LOAD_TOLERANCE_KG


def _check_text(program: TrainingProgram, data: EnhancedUserData, findings: Findings) -> None:
    external_load = any(
        (e := CATALOG.get(i.exercise_id)) is not None and e.loaded_in_kg for _, _, i in _items(program)
    )
    restricted = _restricted(data)
    excluded_names = {
        CATALOG[i].name.lower(): CATALOG[i].name
        for i in data.excluded_reasons
        if i in CATALOG and len(CATALOG[i].name.split()) >= 2
    }
    for kind, text, item in _text_fields(program):
        phrase = _unsafe_phrase(text) or (_unsafe_phrase(text, _MAXIMAL_EFFORT) if restricted else None)
        subject = item.exercise_id if item else kind
        lowered = text.lower()
        for name_lower, name in excluded_names.items():
            at = lowered.find(name_lower)
            if at >= 0 and not _NEGATION.search(text[:at]) and not _LEFT_OUT.search(text[at:]):
                findings.add(
                    ViolationCode.UNSAFE_TEXT,
                    _ERROR,
                    f"The {kind} text recommends {name}, which is excluded for this user.",
                    subject=f"{subject}:{name_lower}",
                )
        plates = _PLATES.search(text)
        if plates:
            findings.add(
                ViolationCode.LOAD_UNSUPPORTED,
                _ERROR,
                f"'{plates.group(0)}' in the {kind} text is a load; loads come from the code.",
                subject=f"{subject}:plates",
            )
        if phrase:
            findings.add(
                ViolationCode.UNSAFE_TEXT,
                _ERROR,
                f"Unsafe instruction in the {kind} text: '{phrase}'.",
                subject=f"{subject}:{phrase.lower()}",
            )
        for match in _LOAD.finditer(text):
            value = float(match.group(1).replace(",", "."))
            if match.group(2).lower().startswith(("lb", "pound")):
                value *= 0.4536
            if kind == "progression" and value <= MAX_PROGRESSION_STEP_KG:
                continue  # a progression step, not a load
            if not _load_supported(data, item, value):
                findings.add(
                    ViolationCode.LOAD_UNSUPPORTED,
                    _ERROR,
                    f"'{match.group(0)}' in the {kind} text is not a load computed from the user's "
                    "plausible lifts; loads come from the code, never from free text.",
                    subject=f"{subject}:{match.group(0)}",
                )
    if data.safety.no_rpe_progression and progression_kind(program.progression.model) in (
        "rpe",
        "periodized",
    ):
        findings.add(
            ViolationCode.PROGRESSION_MISMATCH,
            _ERROR,
            "Under 18, progress by technique, reps and small load steps, not by RPE (youths rate effort "
            "less accurately and maximal efforts need supervision).",
            subject="rpe",
        )
    if not external_load and _LOAD.search(program.progression.description):
        findings.add(
            ViolationCode.PROGRESSION_MISMATCH,
            _ERROR,
            "The progression adds kilograms, but no exercise is loaded in kilograms (bodyweight, bands, "
            "holds): progress by reps, tempo and harder variations.",
        )


def _check_deload_flags(program: TrainingProgram, findings: Findings) -> None:
    deloads = [w for w in program.schedule if w.is_deload]
    loading = [w for w in program.schedule if not w.is_deload]
    if deloads and (not loading or len(deloads) > len(loading) // 2 + (1 if len(loading) >= 3 else 0)):
        findings.add(
            ViolationCode.DELOAD_MISUSED,
            _ERROR,
            f"{len(deloads)} of {program.weeks} weeks are flagged as deload: a deload is one lighter "
            "week after several loading weeks.",
        )
    if not loading:
        return
    typical = sorted(week_total_sets(w) for w in loading)[len(loading) // 2]
    loading_rir = min(i.rir for w in loading for d in w.days for i in d.exercises)
    for week in deloads:
        lighter_sets = week_total_sets(week) <= 0.85 * typical
        easier = min(i.rir for d in week.days for i in d.exercises) > loading_rir
        if not (lighter_sets or easier):
            findings.add(
                ViolationCode.DELOAD_NOT_REDUCED,
                _ERROR,
                f"Deload week {week.week} is neither lighter ({week_total_sets(week)} sets vs {typical}) "
                "nor easier (RIR) than a loading week.",
                subject=str(week.week),
                week=week.week,
            )


def _pattern_sets(week: TrainingWeek, patterns: frozenset[MovementPattern]) -> int:
    return sum(
        i.sets
        for d in week.days
        for i in d.exercises
        if (e := CATALOG.get(i.exercise_id)) is not None and e.pattern in patterns
    )


def _check_balance_of_pushing_and_pulling(program: TrainingProgram, findings: Findings) -> None:
    for week in program.schedule:
        push, pull = _pattern_sets(week, _PUSH), _pattern_sets(week, _PULL)
        if push and not pull:
            findings.add(
                ViolationCode.PULL_MISSING,
                _ERROR,
                f"Week {week.week} has {push} pressing sets and no pulling (rows, pulldowns).",
                week=week.week,
            )
        elif pull and push / pull > MAX_PUSH_PULL_RATIO:
            findings.add(
                ViolationCode.PUSH_PULL_IMBALANCE,
                _ERROR,
                f"Week {week.week}: {push} pressing sets against {pull} pulling; keep pushing at most "
                f"{MAX_PUSH_PULL_RATIO:g}x pulling.",
                week=week.week,
            )


def _is_main_lift(exercise: Exercise) -> bool:
    return exercise.compound and exercise.pattern not in _NOT_MAIN and not exercise.balance_training


def _check_order(program: TrainingProgram, findings: Findings) -> None:
    for week in program.schedule:
        for day in week.days:
            seen_isolation: Exercise | None = None
            for item in day.exercises:
                exercise = CATALOG.get(item.exercise_id)
                if exercise is None:
                    continue
                if exercise.pattern in _ISOLATION:
                    seen_isolation = seen_isolation or exercise
                elif seen_isolation is not None and _is_main_lift(exercise):
                    findings.add(
                        ViolationCode.EXERCISE_ORDER,
                        _ERROR,
                        f"{exercise.name} comes after {seen_isolation.name} in week {week.week} day "
                        f"{day.day}: compound lifts go first, while fresh (ACSM 2009).",
                        subject=f"{week.week}:{day.day}",
                        week=week.week,
                        day=day.day,
                    )
                    break


def _check_required_work(program: TrainingProgram, data: EnhancedUserData, findings: Findings) -> None:
    allowed = [CATALOG[i] for i in data.allowed_exercise_ids]
    required = []
    if data.safety.requires_balance_training and any(e.balance_training for e in allowed):
        required.append((ViolationCode.BALANCE_MISSING, "balance_training", "a balance exercise"))
    if data.safety.requires_power and any(e.power for e in allowed):
        required.append(
            (ViolationCode.POWER_MISSING, "power", "a power exercise (fast reps at moderate load)")
        )
    for code, attribute, what in required:
        for week in program.schedule:
            present = any(
                getattr(e, attribute)
                for d in week.days
                for i in d.exercises
                if (e := CATALOG.get(i.exercise_id)) is not None
            )
            if not present:
                findings.add(
                    code,
                    _ERROR,
                    f"Week {week.week} has no {what}, which this user's guidelines call for.",
                    week=week.week,
                )
                break


STRENGTH_MIN_HEAVY_SETS = 6  # weekly sets of loaded compound work in a strength-range rep target


def _check_strength_specificity(program: TrainingProgram, data: EnhancedUserData, findings: Findings) -> None:
    if data.user.goal != Goal.STRENGTH:
        return
    loadable = (LoadingType.BARBELL, LoadingType.FREE_WEIGHT, LoadingType.MACHINE)
    if not any(
        CATALOG[i].loading in loadable and _is_main_lift(CATALOG[i]) for i in data.allowed_exercise_ids
    ):
        return  # nothing heavy to lift (bodyweight or bands only): strength comes from harder variations
    heavy_reps = max(6, data.safety.min_reps, data.prescription.compound.reps_min)
    for week in program.schedule:
        if week.is_deload:
            continue
        heavy = sum(
            i.sets
            for d in week.days
            for i in d.exercises
            if (e := CATALOG.get(i.exercise_id)) is not None
            and e.loading in loadable
            and _is_main_lift(e)
            and i.reps_min <= heavy_reps
        )
        if heavy < STRENGTH_MIN_HEAVY_SETS:
            findings.add(
                ViolationCode.STRENGTH_NOT_SPECIFIC,
                _ERROR,
                f"Week {week.week} has {heavy} sets of heavy compound work (at most {heavy_reps} reps); "
                f"a strength program needs at least {STRENGTH_MIN_HEAVY_SETS}.",
                week=week.week,
            )
            break


def _check_taper(program: TrainingProgram, data: EnhancedUserData, findings: Findings) -> None:
    """A competition inside the program: the week before it must be lighter than a loading week
    (arriving fatigued at a meet is how maximal attempts go wrong)."""
    event_week = weeks_until(data.user.event_date, today=data.today)
    if event_week is None or not 2 <= event_week <= program.weeks + 1:
        return
    loading = sorted(week_total_sets(w) for w in program.schedule if not w.is_deload)
    if not loading:
        return
    typical = loading[len(loading) // 2]
    before = program.schedule[event_week - 2]
    if week_total_sets(before) > 0.85 * typical:
        findings.add(
            ViolationCode.TAPER_MISSING,
            _ERROR,
            f"The competition falls in week {event_week}, but week {before.week} is a full loading week "
            f"({week_total_sets(before)} sets): taper the week before.",
            week=before.week,
        )
