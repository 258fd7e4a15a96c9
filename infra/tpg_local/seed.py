"""Create a user (profile, onboarding, subscription) from a persona, for demos and tests."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from tpg.api.auth import issue_token
from tpg.platform.settings import Settings
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
        session_minutes, equipment, injuries, lifts, notes, injury_details, conditions, medical_clearance,
        pregnancy_weeks, postpartum_weeks, refused_exercises, max_dumbbell_kg, event_date, completed_at)
    SELECT id, %(goal)s, %(experience)s, %(training_months)s, %(days_per_week)s, %(session_minutes)s,
        %(equipment)s, %(injuries)s, %(lifts)s, %(notes)s, %(injury_details)s, %(conditions)s,
        %(medical_clearance)s, %(pregnancy_weeks)s, %(postpartum_weeks)s, %(refused_exercises)s,
        %(max_dumbbell_kg)s, %(event_date)s,
        CASE WHEN %(onboarded)s THEN now() END
    FROM profile
    RETURNING user_id
),
subscription AS (
    INSERT INTO subscriptions (user_id, status, tier, current_period_end)
    SELECT id, 'active', %(tier)s, now() + interval '30 days' FROM profile WHERE %(subscribed)s
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
    overrides: dict[str, Any] | None = None,
    tier: str = "standard",
) -> UUID:
    """Insert the persona's profile, onboarding and subscription (of `tier`); `overrides` replaces
    persona fields (any field of the profile file: conditions, pregnancy_weeks, injuries as reports, ...)."""
    if persona not in PERSONAS:
        raise ValueError(f"unknown persona {persona!r}; choose from {', '.join(PERSONAS)}")
    data: dict[str, Any] = {**PERSONAS[persona], **(overrides or {})}
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
        # plain sites in the text[] column, reports with side/severity/status in the jsonb one
        "injuries": [i for i in data.get("injuries", []) if isinstance(i, str)],
        "injury_details": Jsonb([i for i in data.get("injuries", []) if not isinstance(i, str)]),
        "lifts": Jsonb(list(data.get("lifts", []))),
        "notes": data.get("notes"),
        "conditions": list(data.get("conditions", [])),
        "medical_clearance": bool(data.get("medical_clearance", False)),
        "pregnancy_weeks": data.get("pregnancy_weeks"),
        "postpartum_weeks": data.get("postpartum_weeks"),
        "refused_exercises": list(data.get("refused_exercises", [])),
        "max_dumbbell_kg": data.get("max_dumbbell_kg"),
        "event_date": data.get("event_date"),
        "onboarded": onboarded,
        "subscribed": subscribed,
        "tier": tier,
    }
    row = conn.execute(_SEED, params).fetchone()
    assert row is not None
    return row[0] if isinstance(row, tuple) else row["id"]


def token_for(user_id: UUID | str, settings: Settings, *, ttl_seconds: int = 3600) -> str:
    """A bearer token for `user_id`, signed as the configured API verifies it (local tooling only)."""
    return issue_token(
        user_id,
        secret=settings.jwt_signing_secret,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        ttl_seconds=ttl_seconds,
    )
