"""`tpg program`: generate and validate a training program from a profile file, with no database.

    tpg program generate --profile FILE [--weeks N] [--provider offline]
    tpg program validate --profile FILE --program FILE
    tpg program profile-schema

Output is one JSON object on stdout. Exit codes: 0 a program without validation errors (or a valid
program, or the schema); 1 a refusal, a program with validation errors or one that does not match the
schema; 2 a bad profile, an unreadable program file or a bad option value (`{"error": {"code", ...}}`;
a malformed command line is argparse's usual exit 2); 3 an unexpected internal error (reported as
JSON too: never a traceback).

The profile file is `UserData` without `user_id` (JSON Schema: `tpg program profile-schema`); unknown
keys are errors, so a typo is not silently ignored. The same functions serve the program-quality report
(tests/program_quality/report.py), so the report shows exactly what this command prints.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic import ConfigDict, ValidationError

from tpg.training.user_data import UserData

if TYPE_CHECKING:
    from tpg.training.analysis import EnhancedUserData
    from tpg.training.program import TrainingProgram
    from tpg.training.rules import Referral
    from tpg.training.validation import ProgramSchemaError, ValidationReport

MIN_WEEKS, MAX_WEEKS, DEFAULT_WEEKS = 1, 12, 4
PROVIDERS = ("offline",)

EXIT_OK, EXIT_REJECTED, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


# ---------------------------------------------------------------------------------------------------
# The profile file
# ---------------------------------------------------------------------------------------------------


class Profile(UserData):
    """A profile file: UserData without the user id; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: UUID = UUID(int=0)


class ProfileError(ValueError):
    """The profile file cannot be read, is not JSON or does not match the schema."""

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []

    def as_json(self) -> dict[str, Any]:
        return {"error": {"code": "INVALID_PROFILE", "message": self.message, "errors": self.errors}}


def profile_schema() -> dict[str, Any]:
    """The JSON Schema of the profile file (the user id is not part of it)."""
    schema = Profile.model_json_schema()
    schema.get("properties", {}).pop("user_id", None)
    if "user_id" in schema.get("required", []):
        schema["required"] = [name for name in schema["required"] if name != "user_id"]
    return schema


def _loc(parts: tuple[int | str, ...] | list[int | str]) -> str:
    return ".".join(str(part) for part in parts)


def profile_from_mapping(raw: Any) -> Profile:
    if not isinstance(raw, dict):
        kind = type(raw).__name__ if raw is not None else "null"
        raise ProfileError(
            "the profile must be a JSON object", [{"loc": "", "msg": f"expected an object, got {kind}"}]
        )
    try:
        return Profile.model_validate(raw)
    except ValidationError as exc:
        errors = [{"loc": _loc(e["loc"]), "msg": e["msg"]} for e in exc.errors(include_url=False)]
        raise ProfileError(f"the profile does not match the schema: {len(errors)} error(s)", errors) from None


def load_profile(path: str | Path) -> Profile:
    """The profile in `path`; raises ProfileError (never another exception) when it is not usable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ProfileError(
            f"cannot read the profile file {path}: {reason}", [{"loc": "", "msg": reason}]
        ) from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"line {exc.lineno} column {exc.colno}: {exc.msg}"
        raise ProfileError(f"the profile file {path} is not valid JSON", [{"loc": "", "msg": msg}]) from None
    return profile_from_mapping(raw)


# ---------------------------------------------------------------------------------------------------
# Generation and validation (the report in tests/program_quality uses these same functions)
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Generation:
    """One generation: the analysis, and either a program with its report or a refusal."""

    data: EnhancedUserData
    program: TrainingProgram | None
    report: ValidationReport | None
    refusal: Referral | None

    @property
    def ok(self) -> bool:
        return self.program is not None and self.report is not None and self.report.ok


def analyse_profile(profile: UserData) -> EnhancedUserData:
    from tpg.training.analysis import analyse

    return analyse(profile)


def generate(profile: UserData, *, weeks: int = DEFAULT_WEEKS, provider: str = "offline") -> Generation:
    """A program for `profile` (or the safety rules' refusal), validated against the same analysis."""
    from tpg.training.engine import generate_offline_program
    from tpg.training.validation import validate_program

    if provider not in PROVIDERS:
        raise ValueError(f"provider {provider!r} is not supported (only {', '.join(PROVIDERS)})")
    if not MIN_WEEKS <= weeks <= MAX_WEEKS:
        raise ValueError(f"weeks must be between {MIN_WEEKS} and {MAX_WEEKS}")
    data = analyse_profile(profile)
    if data.referral is not None:
        return Generation(data=data, program=None, report=None, refusal=data.referral)
    program = generate_offline_program(data, weeks=weeks)
    return Generation(data=data, program=program, report=validate_program(program, data), refusal=None)


def violation_json(violation: Any) -> dict[str, Any]:
    return {
        "code": str(violation.code),
        "severity": str(violation.severity),
        "message": violation.message,
        "week": violation.week,
        "day": violation.day,
        "exerciseId": violation.exercise_id,
        "muscle": None if violation.muscle is None else str(violation.muscle),
    }


def report_json(report: ValidationReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "errors": [violation_json(v) for v in report.errors],
        "warnings": [violation_json(v) for v in report.warnings],
        "weeklyVolume": {str(muscle): sets for muscle, sets in report.weekly_volume.items()},
    }


def schema_invalid_report(exc: ProgramSchemaError) -> dict[str, Any]:
    """A report-shaped answer for a program that does not match the schema: one SCHEMA_INVALID error."""
    violation = {
        "code": "SCHEMA_INVALID",
        "severity": "error",
        "message": str(exc),
        "week": None,
        "day": None,
        "exerciseId": None,
        "muscle": None,
        "errors": exc.errors,
    }
    return {
        "ok": False,
        "errors": [violation],
        "warnings": [],
        "weeklyVolume": {},
        "schemaErrors": exc.errors,
    }


def analysis_json(data: EnhancedUserData) -> dict[str, Any]:
    return {
        "trainingStatus": str(data.training_status),
        "daysPerWeek": data.days_per_week,
        "excludedExercises": {key: list(reasons) for key, reasons in data.excluded_reasons.items()},
        "implausibleLifts": list(data.implausible_lifts),
        "notes": list(data.safety_notes),
    }


def refusal_json(refusal: Referral) -> dict[str, Any]:
    return {"code": refusal.code, "message": refusal.message, "condition": refusal.condition}


def generation_json(result: Generation) -> dict[str, Any]:
    if result.refusal is not None:
        return {"program": None, "validation": None, "refusal": refusal_json(result.refusal)}
    assert result.program is not None and result.report is not None  # a refusal, or a program and its report
    return {
        "program": result.program.model_dump(mode="json", by_alias=True),
        "validation": report_json(result.report),
        "analysis": analysis_json(result.data),
    }


class ProgramFileError(ValueError):
    """The program file cannot be read."""


def read_program_file(path: str | Path) -> Any:
    """The program in `path`: the program JSON itself, or an object with a `program` key (the output of
    `tpg program generate`). Text that is not JSON is returned as text: the schema check reports it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ProgramFileError(f"cannot read the program file {path}: {reason}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError:
        return text
    if isinstance(raw, dict) and "program" in raw:
        return raw["program"]
    return raw


def validate(profile: UserData, raw_program: Any) -> dict[str, Any]:
    """The validation report (as JSON) of a raw program for `profile`; schema errors included."""
    from tpg.training.validation import ProgramSchemaError, parse_program, validate_program

    try:
        if raw_program is None:
            raise ProgramSchemaError(
                "program does not match the schema: no program (null)",
                [{"loc": "", "msg": "a program object is required", "type": "missing"}],
            )
        if not isinstance(raw_program, str | bytes | dict):
            raise ProgramSchemaError(
                "program does not match the schema: not an object",
                [{"loc": "", "msg": "the program must be a JSON object", "type": "model_type"}],
            )
        program = parse_program(raw_program)
    except ProgramSchemaError as exc:
        return schema_invalid_report(exc)
    return report_json(validate_program(program, analyse_profile(profile)))


# ---------------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------------


def _print(payload: dict[str, Any]) -> None:
    print(json.dumps(payload, indent=2, ensure_ascii=False))


class ArgumentError(ValueError):
    """A bad option value: reported as JSON on stdout (and a line on stderr), exit 2."""

    def __init__(self, code: str, option: str, message: str) -> None:
        super().__init__(message)
        self.code, self.option, self.message = code, option, message

    def report(self, command: str) -> int:
        _print({"error": {"code": self.code, "message": f"{self.option}: {self.message}"}})
        print(f"{command}: error: argument {self.option}: {self.message}", file=sys.stderr)
        return EXIT_BAD_INPUT


def parse_weeks(value: str | int) -> int:
    try:
        weeks = int(value)
    except ValueError:
        raise ArgumentError("INVALID_ARGUMENT", "--weeks", f"{value!r} is not a whole number") from None
    if not MIN_WEEKS <= weeks <= MAX_WEEKS:
        raise ArgumentError(
            "INVALID_ARGUMENT", "--weeks", f"{weeks} is out of range: choose {MIN_WEEKS}-{MAX_WEEKS}"
        )
    return weeks


def parse_provider(value: str) -> str:
    if value not in PROVIDERS:
        supported = ", ".join(repr(p) for p in PROVIDERS)
        raise ArgumentError(
            "UNSUPPORTED_PROVIDER", "--provider", f"{value!r} is not supported: only {supported} for now"
        )
    return value


def cmd_generate(args: argparse.Namespace) -> int:
    try:
        weeks, provider = parse_weeks(args.weeks), parse_provider(args.provider)
    except ArgumentError as exc:
        return exc.report("tpg program generate")
    try:
        profile = load_profile(args.profile)
    except ProfileError as exc:
        _print(exc.as_json())
        return EXIT_BAD_INPUT
    result = generate(profile, weeks=weeks, provider=provider)
    _print(generation_json(result))
    return EXIT_OK if result.ok else EXIT_REJECTED


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        profile = load_profile(args.profile)
    except ProfileError as exc:
        _print(exc.as_json())
        return EXIT_BAD_INPUT
    try:
        raw = read_program_file(args.program)
    except ProgramFileError as exc:
        _print({"error": {"code": "INVALID_PROGRAM_FILE", "message": str(exc), "errors": []}})
        return EXIT_BAD_INPUT
    report = validate(profile, raw)
    _print(report)
    return EXIT_OK if report["ok"] else EXIT_REJECTED


def cmd_profile_schema(args: argparse.Namespace) -> int:
    _print(profile_schema())
    return EXIT_OK


def _guarded(command: Any) -> Any:
    """Run a sub-command; an unexpected failure is reported as JSON with exit 3, never a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except BrokenPipeError:  # the reader went away (`| head`): nothing left to say
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_REJECTED
        except Exception as exc:  # the contract: JSON out, no traceback
            _print({"error": {"code": "INTERNAL_ERROR", "message": f"{type(exc).__name__}: {exc}"}})
            print(f"tpg program: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_INTERNAL

    return run


def add_program_parser(sub: Any) -> None:
    """`tpg program ...` on the top-level parser's sub-parsers."""
    program = sub.add_parser(
        "program",
        help="generate or validate a program from a profile file (no database)",
        description="Generate or validate a training program from a profile file, with no database. "
        "Prints JSON; exit 0 ok, 1 refused or invalid program, 2 bad input.",
    )
    actions = program.add_subparsers(
        dest="action", required=True, metavar="{generate,validate,profile-schema}"
    )

    gen = actions.add_parser("generate", help="a program for a profile, with its validation report")
    gen.add_argument("--profile", required=True, metavar="FILE", help="profile JSON (see profile-schema)")
    gen.add_argument(
        "--weeks",
        default=str(DEFAULT_WEEKS),
        metavar="N",
        help=f"{MIN_WEEKS}-{MAX_WEEKS} (default {DEFAULT_WEEKS})",
    )
    gen.add_argument("--provider", default="offline", metavar="NAME", help="offline (the rules engine)")
    gen.set_defaults(func=_guarded(cmd_generate))

    check = actions.add_parser("validate", help="the validation report of a program for a profile")
    check.add_argument("--profile", required=True, metavar="FILE", help="profile JSON (see profile-schema)")
    check.add_argument(
        "--program",
        required=True,
        metavar="FILE",
        help="program JSON as the API returns it, or an object with a 'program' key",
    )
    check.set_defaults(func=_guarded(cmd_validate))

    schema = actions.add_parser("profile-schema", help="the JSON Schema of the profile file")
    schema.set_defaults(func=_guarded(cmd_profile_schema))
