"""The validation report: violations with stable codes and a severity; `ok` means no errors."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, computed_field

from tpg.training.catalog import Muscle


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class ViolationCode(StrEnum):
    UNKNOWN_EXERCISE = "UNKNOWN_EXERCISE"
    EQUIPMENT_UNAVAILABLE = "EQUIPMENT_UNAVAILABLE"
    CONTRAINDICATED_EXERCISE = "CONTRAINDICATED_EXERCISE"
    EXERCISE_TOO_ADVANCED = "EXERCISE_TOO_ADVANCED"
    DUPLICATE_EXERCISE = "DUPLICATE_EXERCISE"
    WEEKLY_VOLUME_LOW = "WEEKLY_VOLUME_LOW"
    WEEKLY_VOLUME_HIGH = "WEEKLY_VOLUME_HIGH"
    MUSCLE_FREQUENCY_LOW = "MUSCLE_FREQUENCY_LOW"
    SESSION_VOLUME_CAP = "SESSION_VOLUME_CAP"
    SESSION_TOO_LONG = "SESSION_TOO_LONG"
    ESTIMATE_MISMATCH = "ESTIMATE_MISMATCH"
    REPS_OFF_GOAL = "REPS_OFF_GOAL"
    REST_OFF_GOAL = "REST_OFF_GOAL"
    EFFORT_OFF_GOAL = "EFFORT_OFF_GOAL"
    FREQUENCY_MISMATCH = "FREQUENCY_MISMATCH"
    SCHEDULE_INCONSISTENT = "SCHEDULE_INCONSISTENT"
    MISSING_DELOAD = "MISSING_DELOAD"
    DELOAD_NOT_REDUCED = "DELOAD_NOT_REDUCED"
    BAD_PROGRESSION = "BAD_PROGRESSION"
    GOAL_MISMATCH = "GOAL_MISMATCH"
    LEVEL_MISMATCH = "LEVEL_MISMATCH"
    # The safety net (docs/training-science.md): every one of these is an error.
    POPULATION_CONTRAINDICATION = "POPULATION_CONTRAINDICATION"
    REFUSED_EXERCISE = "REFUSED_EXERCISE"
    EXERCISE_NAME_MISMATCH = "EXERCISE_NAME_MISMATCH"
    UNSAFE_TEXT = "UNSAFE_TEXT"
    LOAD_UNSUPPORTED = "LOAD_UNSUPPORTED"
    INTENSITY_TOO_HIGH = "INTENSITY_TOO_HIGH"
    REPS_BELOW_LOADABILITY = "REPS_BELOW_LOADABILITY"
    DELOAD_MISUSED = "DELOAD_MISUSED"
    PULL_MISSING = "PULL_MISSING"
    PUSH_PULL_IMBALANCE = "PUSH_PULL_IMBALANCE"
    EXERCISE_ORDER = "EXERCISE_ORDER"
    BALANCE_MISSING = "BALANCE_MISSING"
    POWER_MISSING = "POWER_MISSING"
    STRENGTH_NOT_SPECIFIC = "STRENGTH_NOT_SPECIFIC"
    PROGRESSION_MISMATCH = "PROGRESSION_MISMATCH"
    TAPER_MISSING = "TAPER_MISSING"
    MEDICAL_CLEARANCE_REQUIRED = "MEDICAL_CLEARANCE_REQUIRED"


class Violation(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: ViolationCode
    severity: Severity
    message: str
    week: int | None = None
    day: int | None = None
    exercise_id: str | None = None
    muscle: Muscle | None = None


class ValidationReport(BaseModel):
    violations: list[Violation]
    # Counted sets per muscle in the first non-deload week: context for a repair prompt or a reviewer.
    weekly_volume: dict[Muscle, float]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == Severity.ERROR]

    @property
    def warnings(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == Severity.WARNING]

    def codes(self, severity: Severity | None = None) -> set[ViolationCode]:
        return {v.code for v in self.violations if severity is None or v.severity == severity}


class Findings:
    """Collects violations, one per (code, subject): a bad exercise repeated in 16 weeks is one finding."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], Violation] = {}

    def add(
        self, code: ViolationCode, severity: Severity, message: str, subject: str = "", **where: Any
    ) -> None:
        key = (code.value, subject)
        existing = self._by_key.get(key)
        # Keep the first finding, unless a later one for the same subject is more severe.
        if existing is None or (existing.severity == Severity.WARNING and severity == Severity.ERROR):
            self._by_key[key] = Violation(code=code, severity=severity, message=message, **where)

    def report(self, weekly: dict[Muscle, float]) -> ValidationReport:
        ordered = sorted(self._by_key.values(), key=lambda v: (v.severity != Severity.ERROR, v.code.value))
        return ValidationReport(violations=ordered, weekly_volume=weekly)
