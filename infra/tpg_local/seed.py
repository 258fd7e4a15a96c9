"""Create a user (profile, onboarding, subscription) from a persona, for demos and tests."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from tpg_local.personas import PERSONAS

DEFAULT_PERSONA = "hypertrophy_hannah"

_SEED = """
WITH profile AS (
    INSERT INTO profiles (id, display_name, birth_year, sex, height_cm, weight_kg)
    VALUES (%(user_id)s, %(display_name)s, %(birth_year)s, %(sex)s, %(height_cm)s, %(weight_kg)s)
    RETURNING id
),
onboarding AS (
    INSERT INTO onboarding_responses (user_id, goal, experience, training_months, days_per_week,
        session_minutes, equipment, injuries, lifts, notes, completed_at)
    SELECT id, %(goal)s, %(experience)s, %(training_months)s, %(days_per_week)s, %(session_minutes)s,
        %(equipment)s, %(injuries)s, %(lifts)s, %(notes)s,
        CASE WHEN %(onboarded)s THEN now() END
    FROM profile
    RETURNING user_id
),
subscription AS (
    INSERT INTO subscriptions (user_id, status, tier, current_period_end)
    SELECT id, 'active', 'standard', now() + interval '30 days' FROM profile WHERE %(subscribed)s
    RETURNING user_id
)
SELECT id FROM profile
"""


def seed_user(
    conn: psycopg.Connection,
    *,
    persona: str = DEFAULT_PERSONA,
    user_id: UUID | None = None,
    subscribed: bool = True,
    onboarded: bool = True,
) -> UUID:
    if persona not in PERSONAS:
        raise ValueError(f"unknown persona {persona!r}; choose from {', '.join(PERSONAS)}")
    data: dict[str, Any] = PERSONAS[persona]
    params = {
        "user_id": user_id or uuid.uuid4(),
        "display_name": persona,
        "birth_year": date.today().year - data["age"],
        "sex": data["sex"],
        "height_cm": data["height_cm"],
        "weight_kg": data["weight_kg"],
        "goal": data["goal"],
        "experience": data["experience"],
        "training_months": data.get("training_months", 0),
        "days_per_week": data["days_per_week"],
        "session_minutes": data["session_minutes"],
        "equipment": list(data["equipment"]),
        "injuries": list(data.get("injuries", [])),
        "lifts": Jsonb(list(data.get("lifts", []))),
        "notes": data.get("notes"),
        "onboarded": onboarded,
        "subscribed": subscribed,
    }
    row = conn.execute(_SEED, params).fetchone()
    assert row is not None
    return row[0] if isinstance(row, tuple) else row["id"]
