"""The simpler ask: one template week plus progression rules, expanded into weeks by code.

The template tiers ask for about 1/weeks of the full program's output, so they finish where the full
ask ran out of tokens or time. The expansion applies the same deload and introductory-week rules the
offline engine uses (tpg.offline), from the same analysis constants.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from tpg.training.analysis import EnhancedUserData
from tpg.training.formulas import deload_rir, deload_sets, estimate_session_minutes, intro_week_rir
from tpg.training.program import ExercisePrescription, Progression, TrainingDay, TrainingProgram

# The introductory week of a block is one RIR easier, up to this RIR (as the offline engine does).


class TemplateWeekPlan(BaseModel):
    """The structured output of the template tiers."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    name: str = Field(min_length=1, max_length=100)
    split: str = Field(min_length=1, max_length=60)
    progression: Progression
    days: list[TrainingDay] = Field(min_length=1, max_length=7, description="One loading week")
    notes: list[str] = Field(default_factory=list, max_length=10)


def _week_exercise(item: ExercisePrescription, *, deload: bool, intro: bool, taper: bool) -> dict[str, Any]:
    values = item.model_dump()
    if taper:
        values["sets"] = deload_sets(item.sets)  # fewer sets, same effort
    elif deload:
        values["sets"] = deload_sets(item.sets)
        values["rir"] = deload_rir(item.rir)
    elif intro:
        values["rir"] = intro_week_rir(item.rir)
    return values


def expand_template(
    plan: TemplateWeekPlan, data: EnhancedUserData, *, weeks: int, name: str | None = None
) -> TrainingProgram:
    """Repeat the template week `weeks` times: light weeks from the analysis' week plan (deloads, a
    taper before a competition), intro weeks easier.

    Raises pydantic.ValidationError when the result does not fit the program schema.
    """
    week_plan = data.week_plan(weeks)
    deloads = set(week_plan.deloads)
    schedule: list[dict[str, Any]] = []
    block_start = 1
    for week in range(1, weeks + 1):
        deload = week in deloads
        # A one-week program has no block to ease into.
        intro = week == block_start and weeks > 1
        days = []
        for index, day in enumerate(plan.days, start=1):
            exercises = [
                _week_exercise(e, deload=deload, intro=intro, taper=week == week_plan.taper)
                for e in day.exercises
            ]
            minutes = estimate_session_minutes(ExercisePrescription.model_validate(e) for e in exercises)
            days.append(
                {
                    "day": index,
                    "name": day.name,
                    "focus": day.focus,
                    "estimated_minutes": max(10, round(minutes)),
                    "exercises": exercises,
                }
            )
        schedule.append({"week": week, "is_deload": deload, "days": days})
        if deload:
            block_start = week + 1
    return TrainingProgram.model_validate(
        {
            "name": (name or plan.name)[:100],
            "goal": data.user.goal,
            "level": data.training_status,
            "weeks": weeks,
            "days_per_week": len(plan.days),
            "session_minutes": data.user.session_minutes,
            "split": plan.split,
            "progression": plan.progression.model_dump(),
            "schedule": schedule,
            "notes": plan.notes,
        }
    )
