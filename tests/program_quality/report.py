"""The program-quality report: `python -m tests.program_quality.report` (`make program-report`).

For every profile in tests/program_quality/profiles/ (expectations.json says whether a program or a
refusal is expected) and 4, 8 and 12 weeks, the program is generated through the same functions
`tpg program generate` uses (tpg_local.program_lab) and checked: validation errors, contraindicated
exercises, equipment, session time by the validator's estimate. The validator's mutation corpus
(tests/program_quality/mutations.py) is run too. Writes docs/program-quality.md (`--no-write`: print
only). tests/unit/test_program_quality.py asserts the same checks.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from tpg.training.catalog import CATALOG, MAJOR_MUSCLES, MovementPattern, equipment_available
from tpg.training.program import TrainingProgram, TrainingWeek
from tpg.training.validation import estimate_session_minutes
from tpg_local.program_lab import Generation, Profile, generate, load_profile

ROOT = Path(__file__).resolve().parents[2]
PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
EXPECTATIONS_FILE = PROFILES_DIR / "expectations.json"
DOC = ROOT / "docs" / "program-quality.md"
COMMAND = "python -m tests.program_quality.report"

WEEKS = (4, 8, 12)
ROW_WEEKS = 8  # the per-profile table shows the 8-week program
TIME_TOLERANCE = 1.10  # a session may run 10% over the user's minutes by the validator's estimate

PUSH = frozenset({MovementPattern.HORIZONTAL_PUSH, MovementPattern.VERTICAL_PUSH})
PULL = frozenset({MovementPattern.HORIZONTAL_PULL, MovementPattern.VERTICAL_PULL})
_MUSCLE_ABBREVIATIONS = {
    "chest": "ch",
    "back": "bk",
    "quads": "qd",
    "hamstrings": "hm",
    "glutes": "gl",
    "shoulders": "sh",
    "triceps": "tr",
    "biceps": "bi",
    "calves": "ca",
    "abs": "ab",
}


# ---------------------------------------------------------------------------------------------------
# Profiles and generation (generated once per process: the unit test and the report share the cache)
# ---------------------------------------------------------------------------------------------------


@cache
def expectations() -> dict[str, str]:
    """Profile name -> "program" or "refused"."""
    raw = json.loads(EXPECTATIONS_FILE.read_text(encoding="utf-8"))
    return {name: entry["outcome"] for name, entry in raw.items()}


def profile_names() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.json") if p.name != EXPECTATIONS_FILE.name)


@cache
def profile(name: str) -> Profile:
    return load_profile(PROFILES_DIR / f"{name}.json")


@cache
def generation(name: str, weeks: int) -> Generation:
    return generate(profile(name), weeks=weeks)


# ---------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionTime:
    week: int
    day: int
    minutes: float
    budget: int

    @property
    def over(self) -> bool:
        return self.minutes > self.budget * TIME_TOLERANCE


@dataclass
class Audit:
    """What the checks found in one generation."""

    name: str
    weeks: int
    expected: str
    refused: bool
    error_codes: list[str] = field(default_factory=list)
    contraindicated: list[str] = field(default_factory=list)  # ids in the analysis' exclusion list
    equipment: list[str] = field(default_factory=list)  # ids needing equipment the user lacks
    unknown: list[str] = field(default_factory=list)  # ids not in the catalog
    sessions: list[SessionTime] = field(default_factory=list)
    crash: str | None = None  # generation raised: the report shows it instead of stopping

    @property
    def refusal_as_expected(self) -> bool:
        return self.refused == (self.expected == "refused")

    @property
    def over_budget(self) -> list[SessionTime]:
        return [s for s in self.sessions if s.over]

    @property
    def failures(self) -> list[str]:
        """Codes for what is wrong; empty when the outcome is as it should be."""
        found: list[str] = []
        if self.crash:
            return [f"CRASH ({self.crash})"]
        if not self.refusal_as_expected:
            found.append("UNEXPECTED_REFUSAL" if self.refused else "EXPECTED_REFUSAL")
        found += self.error_codes
        if self.contraindicated:
            found.append("CONTRAINDICATED:" + ",".join(self.contraindicated))
        if self.equipment:
            found.append("EQUIPMENT:" + ",".join(self.equipment))
        if self.unknown:
            found.append("UNKNOWN:" + ",".join(self.unknown))
        if self.over_budget:
            found.append(f"OVER_TIME:{len(self.over_budget)}")
        return found


def _ids(program: TrainingProgram) -> list[str]:
    seen: dict[str, None] = {}
    for week in program.schedule:
        for day in week.days:
            for item in day.exercises:
                seen.setdefault(item.exercise_id, None)
    return list(seen)


def audit(name: str, weeks: int) -> Audit:
    try:
        result = generation(name, weeks)
    except Exception as exc:
        crash = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        return Audit(name=name, weeks=weeks, expected=expectations()[name], refused=False, crash=crash)
    found = Audit(name=name, weeks=weeks, expected=expectations()[name], refused=result.refusal is not None)
    if result.program is None or result.report is None:
        return found
    data, program = result.data, result.program
    found.error_codes = sorted({str(v.code) for v in result.report.errors})
    excluded = set(data.contraindicated_exercise_ids)
    for exercise_id in _ids(program):
        exercise = CATALOG.get(exercise_id)
        if exercise is None:
            found.unknown.append(exercise_id)
            continue
        if exercise_id in excluded:
            found.contraindicated.append(exercise_id)
        if not equipment_available(exercise, data.user.equipment):
            found.equipment.append(exercise_id)
    budget = data.user.session_minutes
    for week in program.schedule:
        for day in week.days:
            minutes = estimate_session_minutes(day.exercises)
            found.sessions.append(SessionTime(week=week.week, day=day.day, minutes=minutes, budget=budget))
    return found


# ---------------------------------------------------------------------------------------------------
# The document
# ---------------------------------------------------------------------------------------------------


def _first_loading_week(program: TrainingProgram) -> TrainingWeek:
    return next((w for w in program.schedule if not w.is_deload), program.schedule[0])


def _pattern_sets(week: TrainingWeek, patterns: frozenset[MovementPattern]) -> int:
    total = 0
    for day in week.days:
        for item in day.exercises:
            exercise = CATALOG.get(item.exercise_id)
            if exercise is not None and exercise.pattern in patterns:
                total += item.sets
    return total


def _volume_cell(result: Generation) -> str:
    assert result.report is not None
    volume = result.report.weekly_volume
    return " ".join(f"{_MUSCLE_ABBREVIATIONS[m.value]} {volume.get(m, 0.0):g}" for m in MAJOR_MUSCLES)


def _note_label(note: str) -> str:
    head = note.split(":", 1)[0].strip()
    if len(head) <= 40 and head != note.strip():
        return head
    words = note.split()
    return " ".join(words[:6]) + ("…" if len(words) > 6 else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(name: str) -> str:
    found = audit(name, ROW_WEEKS)
    if found.crash:
        return f"| {name} | — | — | — | — | — | {_cell('FAIL ' + ' '.join(found.failures))} |"
    result = generation(name, ROW_WEEKS)
    if result.refusal is not None:
        verdict = (
            f"refused as expected ({result.refusal.condition})"
            if found.refusal_as_expected
            else f"FAIL UNEXPECTED_REFUSAL ({result.refusal.condition})"
        )
        return f"| {name} | — | — | — | — | — | {_cell(verdict)} |"
    assert result.program is not None
    data = result.data
    week = _first_loading_week(result.program)
    push, pull = _pattern_sets(week, PUSH), _pattern_sets(week, PULL)
    longest = max(s.minutes for s in found.sessions)
    reasons = sorted({reason for why in data.excluded_reasons.values() for reason in why})
    excluded = f"{len(data.excluded_reasons)}" + (f": {'; '.join(reasons)}" if reasons else "")
    safety = [_note_label(n) for n in data.safety_notes]
    notes = f"{len(result.program.notes)}" + (f" ({', '.join(safety)})" if safety else "")
    verdict = "ok" if not found.failures else "FAIL " + " ".join(found.failures)
    cells = [
        name,
        _volume_cell(result),
        f"{push}:{pull}",
        f"{longest:.0f}/{data.user.session_minutes}",
        excluded,
        notes,
        verdict,
    ]
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


@dataclass
class CorpusResult:
    total: int
    caught: int
    profiles: int
    codes: int
    misses: list[str]


def corpus_result() -> CorpusResult:
    from tests.program_quality.mutations import MUTATIONS, run_mutation

    misses = []
    caught = 0
    for mutation in MUTATIONS:
        try:
            outcome = run_mutation(mutation)
        except Exception as exc:  # a mutation that cannot be built is a miss, shown with its reason
            misses.append(f"{mutation.name} ({mutation.profile}, {mutation.weeks}w): not built: {exc}")
            continue
        if outcome.caught:
            caught += 1
        else:
            misses.append(outcome.describe())
    return CorpusResult(
        total=len(MUTATIONS),
        caught=caught,
        profiles=len({m.profile for m in MUTATIONS}),
        codes=len({m.code for m in MUTATIONS}),
        misses=misses,
    )


def build_document() -> tuple[str, bool]:
    """The markdown, and whether everything is as it should be."""
    started = time.perf_counter()
    names = profile_names()
    audits = [audit(name, weeks) for name in names for weeks in WEEKS]
    corpus = corpus_result()
    elapsed = time.perf_counter() - started

    programs = [a for a in audits if not a.refused]
    refusals_ok = sum(1 for a in audits if a.expected == "refused" and a.refused)
    refusals_expected = sum(1 for a in audits if a.expected == "refused")
    wrong_outcome = [a for a in audits if not a.refusal_as_expected]
    errors = Counter(code for a in audits for code in a.error_codes)
    sessions = [s for a in programs for s in a.sessions]
    over = [s for s in sessions if s.over]
    over_strict = [s for s in sessions if s.minutes > s.budget]
    failing = [a for a in audits if a.failures]
    all_ok = not failing and not corpus.misses

    lines = [
        "# Program quality",
        "",
        "What the rules engine (`tpg program generate --provider offline`) produces for the 70 test "
        "profiles in `tests/program_quality/profiles/` (older and frail adults, injuries, pregnancy and "
        "postpartum, youth, medical conditions, edge cases and prompt-injection attempts), and whether "
        "the validator rejects the hand-made bad programs of its mutation corpus. "
        "`expectations.json` says for each profile whether a program or a refusal (a referral to a "
        "doctor) is expected, and why.",
        "",
        f"Generated by `{COMMAND}` (`make program-report`) through the same functions as "
        "`tpg program` (`tpg_local.program_lab`): every profile at 4, 8 and 12 weeks, each program "
        "checked by the validator and by independent checks (exercises on the analysis' exclusion "
        "list, equipment, session time by the validator's estimate "
        f"`estimate_session_minutes`, over budget when above {TIME_TOLERANCE:.0%} of the user's "
        "minutes). `tests/unit/test_program_quality.py` and `tests/unit/test_validator_mutations.py` "
        "assert the same. Do not edit by hand: rerun the command.",
        "",
        "## Summary",
        "",
        "| | |",
        "|---|---|",
        f"| Profiles | {len(names)} ({sum(1 for n in names if expectations()[n] == 'refused')} "
        "expected to be refused) |",
        f"| Programs generated | {len(programs)} ({len(names)} profiles × {len(WEEKS)} lengths, "
        "refusals excluded) |",
        f"| Refusals as expected | {refusals_ok} of {refusals_expected}; outcome other than expected: "
        f"{len(wrong_outcome)}"
        + (
            f" ({', '.join(sorted({f'{a.name} {a.weeks}w' for a in wrong_outcome}))})"
            if wrong_outcome
            else ""
        )
        + " |",
        f"| Validation errors | {sum(errors.values())}"
        + (f" ({', '.join(f'{code} {n}' for code, n in errors.most_common())})" if errors else "")
        + " |",
        f"| Contraindicated exercises found | {sum(len(a.contraindicated) for a in audits)} |",
        f"| Equipment violations | {sum(len(a.equipment) for a in audits)} |",
        f"| Unknown exercise ids | {sum(len(a.unknown) for a in audits)} |",
        f"| Sessions over budget | {len(over)} of {len(sessions)} above {TIME_TOLERANCE:.0%} of the "
        f"budget ({len(over_strict)} above 100%) |",
        f"| Mutation corpus | rejected {corpus.caught} of {corpus.total}, each by its tagged rule "
        f"({corpus.codes} codes, {corpus.profiles} profiles) |",
        f"| Verdict | {'all as expected' if all_ok else 'FAIL: see below'} |",
        "",
    ]
    if corpus.misses:
        lines += ["Mutations not rejected by their tagged rule:", ""]
        lines += [f"- {_cell(miss)}" for miss in corpus.misses]
        lines.append("")
    if failing:
        lines += ["Generations with a finding (any length):", ""]
        lines += [f"- {a.name} {a.weeks} weeks: {' '.join(a.failures)}" for a in failing]
        lines.append("")
    lines += [
        f"## Profiles ({ROW_WEEKS}-week programs)",
        "",
        "Weekly counted sets in the first loading week (primary 1, secondary 0.5): ch chest, bk back, "
        "qd quads, hm hamstrings, gl glutes, sh shoulders, tr triceps, bi biceps, ca calves, ab abs. "
        "Push:pull is working sets of pressing vs pulling patterns in that week. Time is the longest "
        "session by the estimate against the user's minutes. Excluded: exercises the analysis leaves "
        "out, with the distinct reasons. Notes: the program's notes, with the safety ones named.",
        "",
        "| Profile | Weekly sets | Push:pull | Time (max/budget) | Excluded | Notes | Verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [_row(name) for name in names]
    lines += ["", f"_{len(audits)} generations and {corpus.total} mutations checked in {elapsed:.1f} s._", ""]
    return "\n".join(lines), all_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help=f"print only; leave {DOC.name} as it is")
    args = parser.parse_args(argv)
    document, all_ok = build_document()
    if args.no_write:
        print(document)
    else:
        DOC.write_text(document, encoding="utf-8")
        print(f"wrote {DOC.relative_to(ROOT)}: {'all as expected' if all_ok else 'FAIL (see the file)'}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
