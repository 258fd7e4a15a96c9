"""Every test profile at 4, 8 and 12 weeks: refused exactly when expected, else a program that is safe.

The programs come from the same functions as `tpg program generate` (tpg_local.program_lab), each
generated once (tests/program_quality/report.py caches them; `make program-report` shows the same
checks as docs/program-quality.md). For each program: no validation error, no exercise on the
analysis' exclusion list, no equipment the user lacks, no session longer than the user's minutes by
more than 10% by the validator's own estimate.
"""

from __future__ import annotations

import pytest

from tests.program_quality.report import TIME_TOLERANCE, WEEKS, audit, expectations, generation, profile_names

_NAMES = profile_names()
_CASES = [(name, weeks) for name in _NAMES for weeks in WEEKS]


def test_every_profile_has_an_expectation() -> None:
    assert len(_NAMES) == 70
    assert set(_NAMES) == set(expectations())
    assert set(expectations().values()) <= {"program", "refused"}


@pytest.mark.parametrize(("name", "weeks"), _CASES, ids=[f"{n}-{w}w" for n, w in _CASES])
def test_program_quality(name: str, weeks: int) -> None:
    result = generation(name, weeks)
    found = audit(name, weeks)
    if expectations()[name] == "refused":
        assert result.refusal is not None, f"{name}: a program was generated, a refusal was expected"
        assert result.refusal.code == "MEDICAL_CLEARANCE_REQUIRED"
        assert result.program is None
        return
    assert result.refusal is None, f"{name}: refused ({result.refusal.condition}), a program was expected"
    assert result.program is not None and result.report is not None
    assert len(result.program.schedule) == weeks
    assert not found.error_codes, [f"{v.code}: {v.message}" for v in result.report.errors]
    assert not found.contraindicated, f"excluded for this user: {found.contraindicated}"
    assert not found.equipment, f"needs equipment the user lacks: {found.equipment}"
    assert not found.unknown, f"not in the catalog: {found.unknown}"
    assert not found.over_budget, [
        f"week {s.week} day {s.day}: {s.minutes:.0f} min > {s.budget} x {TIME_TOLERANCE}"
        for s in found.over_budget
    ]
