"""The typed boundaries and the composition roots: LLM usage adds up and is stored in one shape,
the claim's row becomes a typed job and then the pipeline's input, settings name their variables,
and nothing but the settings reads the environment."""

from __future__ import annotations

import ast
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from tpg.generation.ports import LlmUsage, TierAttempt
from tpg.platform.settings import Settings
from tpg.platform.wiring import Lazy
from tpg.store.rows import JobRequest, ProfileRow, user_data_from_row

ROOT = Path(__file__).resolve().parents[2]


# --- LLM usage ---------------------------------------------------------------------------------


def test_usage_adds_up_and_leaves_unreported_counters_out() -> None:
    first = LlmUsage(requests=1, input_tokens=10, output_tokens=5, latency_ms=100)
    retries = LlmUsage(requests=2)
    total = first + retries + LlmUsage()
    assert total == LlmUsage(requests=3, input_tokens=10, output_tokens=5, latency_ms=100)
    assert total.to_json() == {"requests": 3, "input_tokens": 10, "output_tokens": 5, "latency_ms": 100}
    assert LlmUsage().to_json() == {}


def test_the_stored_shape_of_a_completed_llm_job() -> None:
    usage = LlmUsage(
        requests=2,
        input_tokens=1000,
        output_tokens=400,
        cache_read_input_tokens=0,
        cache_creation_input_tokens=900,
        latency_ms=1234,
        model="claude-sonnet-5-5",
        tiers=(
            TierAttempt(tier="full", model="claude-sonnet-5-5", outcome="failed", code="LLM_TRUNCATED"),
            TierAttempt(
                tier="template",
                model="claude-sonnet-5-5",
                outcome="completed",
                violations=("VOLUME_TOO_HIGH",),
                repaired=True,
            ),
        ),
    )
    assert usage.to_json() == {
        "requests": 2,
        "input_tokens": 1000,
        "output_tokens": 400,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 900,
        "latency_ms": 1234,
        "model": "claude-sonnet-5-5",
        "tiers": [
            {"tier": "full", "model": "claude-sonnet-5-5", "outcome": "failed", "code": "LLM_TRUNCATED"},
            {
                "tier": "template",
                "model": "claude-sonnet-5-5",
                "outcome": "completed",
                "violations": ["VOLUME_TOO_HIGH"],
                "repaired": True,
            },
        ],
    }


def test_the_stored_shape_of_an_offline_job_and_of_a_cache_hit() -> None:
    offline = LlmUsage(tiers=(TierAttempt(tier="offline", model=None, outcome="completed"),))
    assert offline.to_json() == {"tiers": [{"tier": "offline", "model": None, "outcome": "completed"}]}
    source = uuid.uuid4()
    hit = LlmUsage(requests=0, result_cache_source=source)
    assert hit.to_json() == {"requests": 0, "result_cache": {"source_program_id": str(source)}}


# --- The claimed job -----------------------------------------------------------------------------

_ROW = {
    "user_id": uuid.UUID("00000000-0000-4000-8000-000000000009"),
    "birth_year": 1990,
    "sex": "female",
    "height_cm": Decimal("168.0"),
    "weight_kg": Decimal("61.5"),
    "goal": "hypertrophy",
    "experience": "intermediate",
    "training_months": 24,
    "days_per_week": 4,
    "session_minutes": 60,
    "equipment": ["barbell", "dumbbell", "bench"],
    "injuries": ["knee"],
    "lifts": [{"exercise_id": "barbell_back_squat", "weight_kg": 60, "reps": 5}],
    "notes": "",
    "request": {"weeks": 6},  # other columns of the claim are not the profile's
}


def test_the_claims_profile_columns_become_the_pipelines_input() -> None:
    user = user_data_from_row(ProfileRow.from_row(_ROW), today=date(2026, 6, 1))
    assert (user.age, user.height_cm, user.training_months, user.notes) == (36, 168.0, 24, None)


def test_a_missing_onboarding_is_none_and_is_refused_by_validation() -> None:
    profile = ProfileRow.from_row({"user_id": _ROW["user_id"], "birth_year": 1990, "sex": "male"})
    assert profile.goal is None and profile.equipment is None
    with pytest.raises(ValidationError):
        user_data_from_row(profile)


def test_the_stored_request_defaults_as_the_api_does() -> None:
    assert JobRequest.from_json({}) == JobRequest(weeks=4, name=None, notes=None)
    assert JobRequest.from_json({"weeks": 8, "name": "Block", "notes": "n"}) == JobRequest(8, "Block", "n")


# --- Settings and the composition roots ----------------------------------------------------------


def test_every_setting_names_its_environment_variable_once() -> None:
    names = [(info.json_schema_extra or {}).get("env") for info in Settings.model_fields.values()]
    assert all(isinstance(name, str) and name.isupper() for name in names)
    assert len(set(names)) == len(names)


def test_settings_from_an_environment() -> None:
    settings = Settings.from_environment(
        {
            "GENERATION_LEASE_SECONDS": "100",
            "EVENT_BUS_NAME": "bus",
            "JWT_ISSUER": "",
            "ANTHROPIC_API_KEY": "k",
        }
    )
    assert (settings.lease_seconds, settings.event_bus_name, settings.jwt_issuer) == (100, "bus", None)
    assert (settings.llm_provider, settings.dispatch_mode) == ("anthropic", "local")
    assert Settings.from_environment({"AWS_LAMBDA_FUNCTION_NAME": "f"}).dispatch_mode == "lambda"


def test_a_handlers_dependencies_are_built_once_and_can_be_replaced() -> None:
    built: list[int] = []
    lazy = Lazy(lambda: built.append(1) or len(built))
    assert not lazy.built
    assert (lazy(), lazy(), built) == (1, 1, [1])
    assert lazy.override(7) == 1 and lazy() == 7
    lazy.reset()
    assert lazy() == 2


def test_only_the_settings_read_the_environment() -> None:
    readers = []
    for path in sorted([*(ROOT / "shared").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
                and node.attr in ("environ", "getenv", "putenv")
            ):
                readers.append(str(path.relative_to(ROOT)))
    assert set(readers) == {"shared/tpg/platform/settings.py"}
