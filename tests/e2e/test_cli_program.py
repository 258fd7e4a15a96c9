"""`tpg program` as a person runs it: the installed `tpg` executable in a subprocess, no database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PROFILES = Path(__file__).resolve().parents[1] / "program_quality" / "profiles"
GOOD = PROFILES / "knee-meniscus-tear-current.json"
REFUSED = PROFILES / "hypertension-uncontrolled.json"


def _executable() -> list[str]:
    """The `tpg` console script of this interpreter's environment (else the one on PATH)."""
    beside = Path(sys.executable).with_name("tpg")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("tpg")
    if found is None:
        pytest.fail("the tpg executable is not installed (pip install -e .)")
    return [found]


def _tpg(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "LLM_PROVIDER", "DATABASE_URL")
    }
    return subprocess.run(
        [*_executable(), "program", *map(str, args)], capture_output=True, text=True, timeout=120, env=env
    )


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    return json.loads(result.stdout)


def _generate(profile: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = _tpg("generate", "--profile", profile, *extra)
    return result.returncode, _json(result)


def test_generate_prints_program_validation_and_analysis() -> None:
    code, out = _generate(GOOD)
    assert code == 0
    assert set(out) == {"program", "validation", "analysis"}
    program = out["program"]
    # camelCase, as the HTTP API returns it
    assert {"daysPerWeek", "sessionMinutes", "schedule", "progression"} <= set(program)
    assert program["weeks"] == 4 and len(program["schedule"]) == 4
    first = program["schedule"][0]["days"][0]["exercises"][0]
    assert {"exerciseId", "repsMin", "repsMax", "restSeconds", "rir", "sets"} <= set(first)
    validation = out["validation"]
    assert validation["ok"] is True and validation["errors"] == []
    assert set(validation) >= {"ok", "errors", "warnings", "weeklyVolume"}
    for violation in validation["warnings"]:
        assert {"code", "severity", "message"} <= set(violation)
        assert violation["severity"] == "warning"
    analysis = out["analysis"]
    assert set(analysis) == {
        "trainingStatus",
        "daysPerWeek",
        "excludedExercises",
        "implausibleLifts",
        "notes",
    }
    assert analysis["trainingStatus"] == "intermediate"
    assert analysis["daysPerWeek"] == 3
    # a current knee injury: deep knee flexion is left out, with a reason
    assert "barbell_back_squat" in analysis["excludedExercises"]
    assert all(isinstance(r, list) and r for r in analysis["excludedExercises"].values())
    used = {e["exerciseId"] for w in program["schedule"] for d in w["days"] for e in d["exercises"]}
    assert not used & set(analysis["excludedExercises"])


def test_generate_weeks_and_implausible_lifts() -> None:
    code, out = _generate(PROFILES / "edge-novice-60kg-claims-250kg-squat.json", "--weeks", "12")
    assert code == 0
    assert out["program"]["weeks"] == 12 and len(out["program"]["schedule"]) == 12
    assert "barbell_back_squat" in out["analysis"]["implausibleLifts"]
    code, out = _generate(GOOD, "--weeks", "1", "--provider", "offline")
    assert code == 0 and len(out["program"]["schedule"]) == 1


@pytest.mark.parametrize("weeks", ["0", "13", "four"])
def test_generate_rejects_weeks_out_of_range(weeks: str) -> None:
    result = _tpg("generate", "--profile", GOOD, "--weeks", weeks)
    assert result.returncode == 2
    error = _json(result)["error"]
    assert error["code"] == "INVALID_ARGUMENT" and "--weeks" in error["message"]
    assert "--weeks" in result.stderr


def test_generate_rejects_other_providers() -> None:
    result = _tpg("generate", "--profile", GOOD, "--provider", "anthropic")
    assert result.returncode == 2
    error = _json(result)["error"]
    assert error["code"] == "UNSUPPORTED_PROVIDER"
    assert "offline" in error["message"] and "anthropic" in error["message"]
    assert "offline" in result.stderr


def test_refusal() -> None:
    code, out = _generate(REFUSED)
    assert code == 1
    assert out["program"] is None and out["validation"] is None
    refusal = out["refusal"]
    assert refusal["code"] == "MEDICAL_CLEARANCE_REQUIRED"
    assert refusal["condition"] == "uncontrolled_hypertension"
    assert refusal["message"]


def test_refusal_is_not_overridden_by_notes() -> None:
    code, out = _generate(PROFILES / "injection-override-refusal.json")
    assert code == 1 and out["program"] is None
    assert out["refusal"]["code"] == "MEDICAL_CLEARANCE_REQUIRED"


def _bad_profile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.json"
    path.write_text(text)
    return path


def _assert_invalid_profile(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 2, result.stdout
    error = _json(result)["error"]
    assert error["code"] == "INVALID_PROFILE"
    assert error["message"]
    assert isinstance(error["errors"], list)
    return error


def test_bad_profile_typo_in_a_key(tmp_path: Path) -> None:
    raw = json.loads(GOOD.read_text())
    raw["session_minute"] = raw.pop("session_minutes")
    error = _assert_invalid_profile(_tpg("generate", "--profile", _bad_profile(tmp_path, json.dumps(raw))))
    locs = {e["loc"] for e in error["errors"]}
    assert "session_minute" in locs and "session_minutes" in locs
    assert all(set(e) >= {"loc", "msg"} for e in error["errors"])


def test_bad_profile_values_json_and_file(tmp_path: Path) -> None:
    raw = json.loads(GOOD.read_text())
    raw["age"] = 7
    error = _assert_invalid_profile(_tpg("generate", "--profile", _bad_profile(tmp_path, json.dumps(raw))))
    assert [e["loc"] for e in error["errors"]] == ["age"]
    _assert_invalid_profile(_tpg("generate", "--profile", _bad_profile(tmp_path, "{not json")))
    _assert_invalid_profile(_tpg("generate", "--profile", _bad_profile(tmp_path, "[1, 2]")))
    _assert_invalid_profile(_tpg("generate", "--profile", tmp_path / "missing.json"))
    _assert_invalid_profile(_tpg("validate", "--profile", tmp_path / "missing.json", "--program", GOOD))


def test_round_trip_generate_then_validate(tmp_path: Path) -> None:
    result = _tpg("generate", "--profile", GOOD, "--weeks", "8")
    assert result.returncode == 0
    whole = tmp_path / "generated.json"
    whole.write_text(result.stdout)
    checked = _tpg("validate", "--profile", GOOD, "--program", whole)
    assert checked.returncode == 0
    report = _json(checked)
    assert report["ok"] is True and report["errors"] == []
    assert report == json.loads(result.stdout)["validation"]
    # the program alone (as the API returns it) validates the same
    alone = tmp_path / "program.json"
    alone.write_text(json.dumps(json.loads(result.stdout)["program"]))
    assert _json(_tpg("validate", "--profile", GOOD, "--program", alone)) == report


def test_validate_reports_a_rule_violation(tmp_path: Path) -> None:
    program = _generate(GOOD)[1]["program"]
    first = program["schedule"][0]["days"][0]["exercises"][0]
    first.update(exerciseId="barbell_back_squat", name="Barbell Back Squat")  # deep knee flexion
    path = tmp_path / "program.json"
    path.write_text(json.dumps(program))
    result = _tpg("validate", "--profile", GOOD, "--program", path)
    assert result.returncode == 1
    report = _json(result)
    assert report["ok"] is False
    bad = [v for v in report["errors"] if v["code"] == "CONTRAINDICATED_EXERCISE"]
    assert bad and bad[0]["exerciseId"] == "barbell_back_squat" and bad[0]["severity"] == "error"
    assert bad[0]["week"] == 1 and bad[0]["day"] == 1


def test_validate_a_program_that_does_not_match_the_schema(tmp_path: Path) -> None:
    program = _generate(GOOD)[1]["program"]
    program["schedule"][0]["days"][0]["exercises"][0]["sets"] = 0
    del program["progression"]
    path = tmp_path / "program.json"
    path.write_text(json.dumps({"program": program}))
    result = _tpg("validate", "--profile", GOOD, "--program", path)
    assert result.returncode == 1
    report = _json(result)
    assert report["ok"] is False and report["warnings"] == []
    assert [v["code"] for v in report["errors"]] == ["SCHEMA_INVALID"]
    locs = {e["loc"] for e in report["errors"][0]["errors"]}
    assert "progression" in locs and "schedule.0.days.0.exercises.0.sets" in locs
    # not JSON at all, and the output of a refusal (no program), are schema errors too
    path.write_text("not json")
    assert (
        _json(_tpg("validate", "--profile", GOOD, "--program", path))["errors"][0]["code"] == "SCHEMA_INVALID"
    )
    path.write_text(json.dumps(_generate(REFUSED)[1]))
    result = _tpg("validate", "--profile", GOOD, "--program", path)
    assert result.returncode == 1 and _json(result)["errors"][0]["code"] == "SCHEMA_INVALID"


def test_validate_a_missing_program_file(tmp_path: Path) -> None:
    result = _tpg("validate", "--profile", GOOD, "--program", tmp_path / "missing.json")
    assert result.returncode == 2
    assert _json(result)["error"]["code"] == "INVALID_PROGRAM_FILE"


def test_profile_schema() -> None:
    result = _tpg("profile-schema")
    assert result.returncode == 0
    schema = _json(result)
    properties = schema["properties"]
    assert "user_id" not in properties and "user_id" not in schema.get("required", [])
    assert {"age", "sex", "goal", "experience", "days_per_week", "session_minutes", "equipment"} <= set(
        properties
    )
    assert {"injuries", "conditions", "pregnancy_weeks", "refused_exercises"} <= set(properties)
    assert schema["additionalProperties"] is False
    # every test profile uses only keys the schema names
    for path in PROFILES.glob("*.json"):
        if path.name != "expectations.json":
            assert set(json.loads(path.read_text())) <= set(properties), path.name
