"""The OpenAPI document: published current in the repository, and its program schema in step with
the program model it describes."""

from __future__ import annotations

import uuid
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from tpg.api import models
from tpg.training import program as training
from tpg.training.analysis import analyse
from tpg.training.engine import generate_offline_program
from tpg.training.user_data import ExperienceLevel, Goal
from tpg_local.openapi_file import PUBLISHED, document, render
from tpg_local.personas import PERSONAS, persona_user_data


def test_the_published_document_is_current() -> None:
    # `make openapi` rewrites it (and the client's types generated from it).
    assert PUBLISHED.read_text(encoding="utf-8") == render(document()), (
        "run `make openapi` and commit the result"
    )


def _fields(model: type[BaseModel]) -> dict[str, bool]:
    """Wire name -> required, as the serialization schema says."""
    schema = model.model_json_schema(mode="serialization", by_alias=True)
    required = set(schema.get("required", []))
    return {name: name in required for name in schema["properties"]}


@pytest.mark.parametrize(
    ("api", "domain"),
    [
        (models.TrainingProgram, training.TrainingProgram),
        (models.TrainingWeek, training.TrainingWeek),
        (models.TrainingDay, training.TrainingDay),
        (models.ExercisePrescription, training.ExercisePrescription),
        (models.Progression, training.Progression),
    ],
    ids=lambda m: m.__name__,
)
def test_the_api_program_schema_describes_every_field_of_the_program(
    api: type[BaseModel], domain: type[BaseModel]
) -> None:
    # Every field a stored program has is in every answer, so the document marks each required.
    assert set(_fields(api)) == set(_fields(domain))
    assert all(_fields(api).values()), _fields(api)


def test_goal_and_level_are_the_domain_enums() -> None:
    annotations: dict[str, Any] = {n: f.annotation for n, f in models.TrainingProgram.model_fields.items()}
    assert set(get_args(annotations["goal"])) == {g.value for g in Goal}
    assert set(get_args(annotations["level"])) == {level.value for level in ExperienceLevel}


@pytest.mark.parametrize("persona", sorted(PERSONAS))
def test_a_stored_program_reads_back_as_it_was_stored(persona: str) -> None:
    """The API reads the stored JSON into its models and answers with them: nothing lost or added."""
    data = analyse(persona_user_data(persona, uuid.UUID("00000000-0000-4000-8000-000000000001")))
    stored = generate_offline_program(data, weeks=3).model_dump(mode="json", by_alias=True)  # as the worker
    assert models.TrainingProgram.model_validate(stored).model_dump(mode="json", by_alias=True) == stored
