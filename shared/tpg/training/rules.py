"""Safety rules: which exercises a user must not get, and the effort floors that apply, from data.

The rules live in `data/rules.json` (reviewed data, each rule with its source: a section of
docs/training-science.md). `safety_plan(user, status)` turns them into one `SafetyPlan` that the
analysis hands to the rules engine, the validator and the LLM prompt alike, so the three can never
disagree. A rule either excludes exercises (by catalog attributes or by id), sets a floor (reps in
reserve, reps per set), caps the sessions a week, requires balance or power work, or refuses the
program with a code the frontend can show (a referral to a doctor: never a program).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tpg.training.catalog import ALL_EXERCISES, Exercise, LoadingType
from tpg.training.user_data import Condition, ExperienceLevel, Injury, InjuryStatus, Severity, UserData

REFERRAL_CODE = "MEDICAL_CLEARANCE_REQUIRED"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# An exercise matches an entry when every attribute named in it has the given value.
Match = dict[str, bool | str]


class _Exclusions(_Strict):
    source: str
    exclude_if: tuple[Match, ...] = ()
    exclude_ids: tuple[str, ...] = ()
    min_rir: int = Field(default=0, ge=0, le=5)
    min_reps: int = Field(default=1, ge=1, le=15)
    max_days: int | None = Field(default=None, ge=1, le=7)
    note: str | None = None


class _ConditionRule(_Exclusions):
    refuse: bool = False
    refuse_without_clearance: bool = False
    message: str | None = None
    requires_balance_training: bool = False


class _FromWeek(_Strict):
    week: int
    exclude_if: tuple[Match, ...]
    exclude_ids: tuple[str, ...] = ()


class _InjuryState(_Strict):
    """What an injury's status and severity add to its site's rule."""

    source: str
    current_min_rir: int = Field(ge=0, le=5)
    severe_current_refuse_without_clearance: bool
    message: str
    severe_min_rir: int = Field(ge=0, le=5)
    severe_note: str


class _PregnancyRule(_Exclusions):
    from_week: tuple[_FromWeek, ...] = ()


class _PostpartumRule(_Exclusions):
    until_week: int


class _AgeBand(_Exclusions):
    name: str
    min_age: int
    max_age: int
    requires_balance_training: bool = False
    requires_power: bool = False
    no_rpe_progression: bool = False
    novice_exclude_if: tuple[Match, ...] = ()


class RuleBook(_Strict):
    doc: str = Field(alias="_doc")
    loading_min_reps: dict[str, Any]
    injury_state: _InjuryState
    injuries: dict[str, _Exclusions]
    conditions: dict[Condition, _ConditionRule]
    pregnancy: _PregnancyRule
    postpartum: _PostpartumRule
    age_bands: tuple[_AgeBand, ...]


@cache
def rule_book() -> RuleBook:
    """The rules, validated, with every attribute and id checked against the catalog (a typo fails)."""
    text = resources.files("tpg.training").joinpath("data/rules.json").read_text(encoding="utf-8")
    book = RuleBook.model_validate(json.loads(text))
    known_ids = {e.id for e in ALL_EXERCISES}
    sample = ALL_EXERCISES[0]
    rules: list[_Exclusions] = [*book.injuries.values(), *book.conditions.values(), book.pregnancy]
    rules += [book.postpartum, *book.age_bands]
    for rule in rules:
        entries = list(rule.exclude_if)
        entries += [m for w in getattr(rule, "from_week", ()) for m in w.exclude_if]
        entries += list(getattr(rule, "novice_exclude_if", ()))
        for entry in entries:
            for attribute in entry:
                if not hasattr(sample, attribute):
                    raise ValueError(f"rules.json ({rule.source}): unknown exercise attribute {attribute!r}")
        ids = [*rule.exclude_ids, *(i for w in getattr(rule, "from_week", ()) for i in w.exclude_ids)]
        for exercise_id in ids:
            if exercise_id not in known_ids:
                raise ValueError(f"rules.json ({rule.source}): unknown exercise id {exercise_id!r}")
    for site in book.injuries:
        if site != "_unknown" and site not in set(Injury):
            raise ValueError(f"rules.json: unknown injury site {site!r}")
    for loading in LoadingType:
        if loading.value not in book.loading_min_reps:
            raise ValueError(f"rules.json: no minimum reps for loading type {loading.value!r}")
    return book


def min_reps_for(exercise: Exercise) -> int:
    """The fewest reps a set of this exercise sensibly has, by how it is loaded (a band at 3 reps is
    not a heavy set, it is a short one)."""
    return int(rule_book().loading_min_reps[exercise.loading.value])


def _matches(exercise: Exercise, entry: Match) -> bool:
    return all(getattr(exercise, key) == value for key, value in entry.items())


def _excluded_by(entries: tuple[Match, ...], ids: tuple[str, ...] = ()) -> list[Exercise]:
    return [e for e in ALL_EXERCISES if e.id in ids or any(_matches(e, m) for m in entries)]


class Referral(_Strict):
    """The program is refused: the user must see a doctor first."""

    code: str = REFERRAL_CODE
    condition: str
    message: str
    source: str


class SafetyPlan(_Strict):
    refusal: Referral | None = None
    # exercise id -> why it is excluded (readable reasons: "knee", "pregnancy week 24", "age 80+", ...)
    excluded: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    min_rir: int = 0
    min_reps: int = 1
    max_days: int | None = None
    requires_balance_training: bool = False
    requires_power: bool = False
    no_rpe_progression: bool = False
    age_band: str | None = None
    notes: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()


class _Builder:
    def __init__(self) -> None:
        self.excluded: dict[str, list[str]] = {}
        self.min_rir = 0
        self.min_reps = 1
        self.max_days: int | None = None
        self.notes: list[str] = []
        self.sources: list[str] = []

    def apply(
        self,
        rule: _Exclusions,
        reason: str,
        *,
        extra: tuple[Match, ...] = (),
        extra_ids: tuple[str, ...] = (),
    ) -> None:
        for exercise in _excluded_by(rule.exclude_if + extra, rule.exclude_ids + extra_ids):
            reasons = self.excluded.setdefault(exercise.id, [])
            if reason not in reasons:
                reasons.append(reason)
        self.min_rir = max(self.min_rir, rule.min_rir)
        self.min_reps = max(self.min_reps, rule.min_reps)
        if rule.max_days is not None:
            self.max_days = min(self.max_days or 7, rule.max_days)
        if rule.source not in self.sources:
            self.sources.append(rule.source)


def _age_band(age: int) -> _AgeBand | None:
    return next((b for b in rule_book().age_bands if b.min_age <= age <= b.max_age), None)


def _apply_conditions(user: UserData, plan: _Builder) -> Referral | None:
    book = rule_book()
    for condition in sorted(user.conditions):
        rule = book.conditions[condition]
        if rule.refuse or (rule.refuse_without_clearance and not user.medical_clearance):
            message = rule.message or "Please see your doctor before starting a program."
            return Referral(condition=condition.value, message=message, source=rule.source)
        plan.apply(rule, condition.value.replace("_", " "))
        if rule.note:
            plan.notes.append(rule.note)
    return None


def _injury_referral(user: UserData) -> Referral | None:
    """A severe injury that is still current is a clinician's call before it is a coach's."""
    state = rule_book().injury_state
    severe_current = [
        r for r in user.injuries if r.status == InjuryStatus.CURRENT and r.severity == Severity.SEVERE
    ]
    if severe_current and state.severe_current_refuse_without_clearance and not user.medical_clearance:
        known = severe_current[0].known_site
        site = known.value.replace("_", " ") if known is not None else "unlisted"  # never typed text
        return Referral(condition=f"severe {site} injury", message=state.message, source=state.source)
    return None


def _apply_injuries(user: UserData, plan: _Builder) -> None:
    book = rule_book()
    for site in sorted(user.injury_sites):
        known = book.injuries[site.value]
        plan.apply(known, f"{site.value.replace('_', ' ')} injury")
        if known.note:
            plan.notes.append(known.note)
    state = book.injury_state
    if any(r.status == InjuryStatus.CURRENT for r in user.injuries):
        plan.min_rir = max(plan.min_rir, state.current_min_rir)  # an injury still hurting: no grinding
    if any(r.restricts and r.severity == Severity.SEVERE for r in user.injuries):
        plan.min_rir = max(plan.min_rir, state.severe_min_rir)
        plan.notes.append(state.severe_note)
    if state.source not in plan.sources and any(r.restricts for r in user.injuries):
        plan.sources.append(state.source)
    # Unknown sites are user text: the reason (quoted by the validator, so by a repair round) and
    # the note (in the prompt's safety_notes) never carry it; one rule and one note serve them all.
    unknown_sites = user.unknown_injury_sites
    if unknown_sites:
        unknown = book.injuries["_unknown"]
        several = len(unknown_sites) > 1
        plan.apply(unknown, "an injury without specific rules: handled conservatively")
        plan.notes.append(
            (unknown.note or "").format(
                injuries=f"{len(unknown_sites)} injuries you listed" if several else "an injury you listed",
                it="them" if several else "it",
            )
        )
    for exercise_id in user.refused_exercises:
        plan.excluded.setdefault(exercise_id, []).append("you asked to leave it out")


def _apply_pregnancy(user: UserData, plan: _Builder) -> None:
    book = rule_book()
    if user.pregnancy_weeks is not None:
        pregnancy = book.pregnancy
        week = user.pregnancy_weeks
        reached = [w for w in pregnancy.from_week if week >= w.week]
        later = tuple(m for w in reached for m in w.exclude_if)
        later_ids = tuple(i for w in reached for i in w.exclude_ids)
        plan.apply(pregnancy, f"pregnancy (week {week})", extra=later, extra_ids=later_ids)
        plan.notes.append(pregnancy.note or "")
    elif user.postpartum_weeks is not None and user.postpartum_weeks < book.postpartum.until_week:
        plan.apply(book.postpartum, f"postpartum (week {user.postpartum_weeks})")
        plan.notes.append(book.postpartum.note or "")


def safety_plan(user: UserData, status: ExperienceLevel) -> SafetyPlan:
    """Every rule that applies to this user, combined: exclusions add up, floors take the highest."""
    book = rule_book()
    plan = _Builder()
    referral = _apply_conditions(user, plan) or _injury_referral(user)
    if referral is not None:
        return SafetyPlan(refusal=referral, sources=(referral.source,))
    _apply_injuries(user, plan)
    _apply_pregnancy(user, plan)

    band = _age_band(user.age)
    requires_balance = any(book.conditions[c].requires_balance_training for c in user.conditions)
    if band is not None:
        extra = band.novice_exclude_if if status == ExperienceLevel.NOVICE else ()
        plan.apply(band, f"age {band.min_age}-{band.max_age}", extra=extra)
        plan.notes.append(band.note or "")
        requires_balance = requires_balance or band.requires_balance_training

    return SafetyPlan(
        excluded={k: tuple(v) for k, v in sorted(plan.excluded.items())},
        min_rir=plan.min_rir,
        min_reps=plan.min_reps,
        max_days=plan.max_days,
        requires_balance_training=requires_balance,
        requires_power=bool(band and band.requires_power),
        no_rpe_progression=bool(band and band.no_rpe_progression),
        age_band=band.name if band else None,
        notes=tuple(n for n in plan.notes if n),
        sources=tuple(plan.sources),
    )
