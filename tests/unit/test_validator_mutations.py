"""The validator against its mutation corpus (tests/program_quality/mutations.py).

Every hand-made bad program must be rejected, and by the rule it was written to break; every base
program must pass, so that a rejection is due to the mutation and not to the program it started from.
"""

from __future__ import annotations

import pytest

from tests.program_quality.mutations import MUTATIONS, Mutation, base, run_mutation
from tpg.training.validation import ViolationCode, validate_program

_BASES = sorted({(m.profile, m.weeks) for m in MUTATIONS})


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_mutation_is_rejected_by_its_rule(mutation: Mutation) -> None:
    outcome = run_mutation(mutation)
    assert not outcome.report.ok, outcome.describe()
    assert mutation.code in outcome.error_codes, outcome.describe()


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_mutation_changes_the_program(mutation: Mutation) -> None:
    program, _ = mutation.apply()
    good = base(mutation.profile, mutation.weeks).program
    assert good is not None
    assert program.model_dump() != good.model_dump()


@pytest.mark.parametrize(("profile", "weeks"), _BASES, ids=[f"{p}-{w}w" for p, w in _BASES])
def test_base_program_passes(profile: str, weeks: int) -> None:
    good = base(profile, weeks)
    assert good.program is not None, f"{profile} is refused: no base program"
    report = validate_program(good.program, good.data)
    assert report.ok, [f"{v.code}: {v.message}" for v in report.errors]


def test_the_corpus_is_broad() -> None:
    codes = {m.code for m in MUTATIONS}
    assert len(MUTATIONS) >= 85
    assert len(codes) >= 20
    assert len({m.profile for m in MUTATIONS}) >= 15
    assert codes <= {c.value for c in ViolationCode}, codes - {c.value for c in ViolationCode}
    assert all(m.why and "\n" not in m.why for m in MUTATIONS)
