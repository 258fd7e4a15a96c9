"""The exercise catalog: integrity, filters, coverage for every equipment setup and injury, the data
file (the only source of the table) and the attributes safety rules select exercises by."""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tpg.training import catalog as catalog_module
from tpg.training.analysis import AVOIDED_PATTERNS
from tpg.training.catalog import (
    ALL_EXERCISES,
    CATALOG,
    DATA_FILE,
    MAJOR_MUSCLES,
    CatalogError,
    Demand,
    Exercise,
    LoadingType,
    MovementPattern,
    Muscle,
    SpinalLoading,
    available_exercises,
    catalog_order,
    equipment_available,
    exercises_for_muscle,
    get_exercise,
    parse_catalog,
    substitutes_for,
)
from tpg.training.user_data import Equipment, ExperienceLevel, Injury

ROOT = Path(__file__).resolve().parents[2]
DATA_PATH = ROOT / "shared" / "tpg" / "training" / DATA_FILE
CATALOG_PY = ROOT / "shared" / "tpg" / "training" / "catalog.py"

# The 175 ids of the catalog before it became data (written down before the move). Ids are a public
# contract (stored programs, the LLM prompt, lift records): none may be renamed or deleted.
_PRE_EXISTING = """
    barbell_back_squat barbell_front_squat barbell_box_squat smith_machine_squat hack_squat leg_press
    goblet_squat kettlebell_goblet_squat dumbbell_box_squat bodyweight_squat bodyweight_box_squat
    wall_sit band_squat band_spanish_squat pistol_squat leg_extension band_terminal_knee_extension
    sissy_squat barbell_lunge dumbbell_walking_lunge dumbbell_reverse_lunge bulgarian_split_squat
    dumbbell_step_up bodyweight_reverse_lunge bodyweight_split_squat bodyweight_step_up lateral_lunge
    band_split_squat barbell_deadlift sumo_deadlift barbell_romanian_deadlift good_morning
    dumbbell_romanian_deadlift single_leg_dumbbell_rdl kettlebell_deadlift kettlebell_swing
    cable_pull_through band_pull_through band_good_morning back_extension barbell_hip_thrust
    dumbbell_hip_thrust glute_bridge single_leg_glute_bridge band_glute_bridge lying_leg_curl
    seated_leg_curl cable_leg_curl band_lying_leg_curl band_standing_leg_curl dumbbell_lying_leg_curl
    slider_leg_curl nordic_hamstring_curl cable_glute_kickback band_glute_kickback band_lateral_walk
    band_clamshell hip_abduction_machine side_lying_hip_abduction standing_calf_raise_machine
    seated_calf_raise leg_press_calf_raise dumbbell_calf_raise bodyweight_calf_raise
    single_leg_calf_raise band_calf_raise barbell_bench_press incline_barbell_bench_press
    close_grip_bench_press dumbbell_bench_press incline_dumbbell_press neutral_grip_dumbbell_press
    dumbbell_floor_press machine_chest_press landmine_press push_up incline_push_up decline_push_up
    band_push_up band_chest_press parallel_bar_dip dumbbell_fly cable_fly pec_deck band_chest_fly
    barbell_overhead_press push_press dumbbell_shoulder_press standing_dumbbell_shoulder_press
    arnold_press machine_shoulder_press kettlebell_overhead_press band_overhead_press pike_push_up
    dumbbell_lateral_raise cable_lateral_raise band_lateral_raise dumbbell_scaption_raise
    dumbbell_front_raise dumbbell_rear_delt_fly reverse_pec_deck face_pull band_face_pull
    band_pull_apart prone_y_raise barbell_upright_row barbell_bent_over_row pendlay_row seated_cable_row
    chest_supported_machine_row one_arm_dumbbell_row chest_supported_dumbbell_row dumbbell_bent_over_row
    kettlebell_row renegade_row inverted_row band_seated_row band_single_arm_row band_bent_over_row
    lat_pulldown pull_up chin_up close_grip_lat_pulldown assisted_pull_up_machine band_assisted_pull_up
    behind_the_neck_pulldown band_lat_pulldown straight_arm_pulldown band_straight_arm_pulldown
    dumbbell_pullover barbell_shrug dumbbell_shrug dumbbell_wrist_curl barbell_curl dumbbell_curl
    hammer_curl incline_dumbbell_curl concentration_curl cable_curl preacher_curl_machine band_curl
    band_hammer_curl cable_triceps_pushdown overhead_cable_triceps_extension
    dumbbell_overhead_triceps_extension dumbbell_skull_crusher barbell_skull_crusher
    dumbbell_triceps_kickback dumbbell_close_grip_press close_grip_push_up bench_dip
    band_triceps_pushdown band_overhead_triceps_extension band_triceps_kickback plank side_plank
    dead_bug bird_dog crunch reverse_crunch sit_up hollow_body_hold mountain_climber hanging_knee_raise
    hanging_leg_raise cable_crunch pallof_press band_pallof_press cable_woodchop farmers_carry
    kettlebell_farmers_carry suitcase_carry jump_squat box_jump burpee
"""
PRE_EXISTING_IDS = _PRE_EXISTING.split()

FULL_GYM = frozenset(Equipment)
HOME_DUMBBELLS = frozenset({Equipment.DUMBBELL, Equipment.BENCH, Equipment.BODYWEIGHT})
BANDS_ONLY = frozenset({Equipment.BAND, Equipment.BODYWEIGHT})
SETUPS = {"full_gym": FULL_GYM, "home_dumbbells": HOME_DUMBBELLS, "bands_only": BANDS_ONLY}
INJURY_CASES = {
    "none": frozenset(),
    "knee": frozenset({Injury.KNEE}),
    "shoulder": frozenset({Injury.SHOULDER}),
    "lower_back": frozenset({Injury.LOWER_BACK}),
}


def test_catalog_is_large_and_ids_are_unique_snake_case() -> None:
    assert len(ALL_EXERCISES) >= 120
    assert len(CATALOG) == len(ALL_EXERCISES), "duplicate ids"
    for exercise in ALL_EXERCISES:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", exercise.id), exercise.id
        assert len(exercise.id) <= 64 and 0 < len(exercise.name) <= 80


def test_every_substitution_exists_and_is_not_the_exercise_itself() -> None:
    for exercise in ALL_EXERCISES:
        assert exercise.substitutions, f"{exercise.id} has no substitutions"
        for substitute in exercise.substitutions:
            assert substitute in CATALOG, f"{exercise.id} -> unknown {substitute}"
            assert substitute != exercise.id


def test_every_exercise_is_well_formed() -> None:
    for exercise in ALL_EXERCISES:
        assert exercise.primary_muscles, exercise.id
        assert not set(exercise.primary_muscles) & set(exercise.secondary_muscles), exercise.id
        assert exercise.equipment, exercise.id


def test_bodyweight_is_always_available() -> None:
    push_up = CATALOG["push_up"]
    assert push_up.equipment == frozenset({Equipment.BODYWEIGHT})
    assert equipment_available(push_up, frozenset({Equipment.DUMBBELL}))


def test_all_listed_equipment_is_required() -> None:
    bench_press = CATALOG["barbell_bench_press"]
    assert bench_press.equipment == frozenset({Equipment.BARBELL, Equipment.BENCH})
    assert not equipment_available(bench_press, frozenset({Equipment.BARBELL}))
    assert equipment_available(bench_press, frozenset({Equipment.BARBELL, Equipment.BENCH}))


def test_available_exercises_filters_equipment_injuries_and_level() -> None:
    ids = {e.id for e in available_exercises(BANDS_ONLY, frozenset({Injury.KNEE}), ExperienceLevel.NOVICE)}
    assert "band_chest_press" in ids
    assert "barbell_bench_press" not in ids  # equipment
    assert "band_squat" not in ids  # knee
    assert "pull_up" not in ids  # equipment
    novice = {e.id for e in available_exercises(FULL_GYM, frozenset(), ExperienceLevel.NOVICE)}
    advanced = {e.id for e in available_exercises(FULL_GYM, frozenset(), ExperienceLevel.ADVANCED)}
    assert "good_morning" not in novice and "good_morning" in advanced
    assert novice < advanced


def test_well_known_contraindications() -> None:
    assert Injury.KNEE in CATALOG["barbell_back_squat"].contraindications
    assert Injury.SHOULDER in CATALOG["barbell_overhead_press"].contraindications
    assert Injury.SHOULDER in CATALOG["barbell_upright_row"].contraindications
    assert Injury.LOWER_BACK in CATALOG["barbell_deadlift"].contraindications
    assert Injury.LOWER_BACK in CATALOG["good_morning"].contraindications
    # The notes' substitutes stay available.
    for exercise_id in ("leg_press", "barbell_hip_thrust", "neutral_grip_dumbbell_press", "landmine_press"):
        assert not CATALOG[exercise_id].contraindications & {Injury.KNEE, Injury.SHOULDER, Injury.LOWER_BACK}


def test_avoided_patterns_agree_with_exercise_contraindications() -> None:
    for injury, patterns in AVOIDED_PATTERNS.items():
        for exercise in ALL_EXERCISES:
            if exercise.pattern in patterns:
                assert injury in exercise.contraindications, (injury, exercise.id)


@pytest.mark.parametrize("setup", sorted(SETUPS))
@pytest.mark.parametrize("injury_case", sorted(INJURY_CASES))
@pytest.mark.parametrize("muscle", MAJOR_MUSCLES)
def test_two_options_per_major_muscle_for_every_setup_and_injury(
    setup: str, injury_case: str, muscle: Muscle
) -> None:
    available = available_exercises(SETUPS[setup], INJURY_CASES[injury_case], ExperienceLevel.INTERMEDIATE)
    options = [e.id for e in exercises_for_muscle(muscle, available)]
    assert len(options) >= 2, (setup, injury_case, muscle, options)
    novice = available_exercises(SETUPS[setup], INJURY_CASES[injury_case], ExperienceLevel.NOVICE)
    assert exercises_for_muscle(muscle, novice), (setup, injury_case, muscle, "novice")


def test_substitutes_are_available_and_listed_ones_come_first() -> None:
    subs = substitutes_for(
        "barbell_back_squat", HOME_DUMBBELLS, frozenset({Injury.KNEE}), ExperienceLevel.NOVICE
    )
    ids = [e.id for e in subs]
    assert ids[0] == "dumbbell_box_squat"  # the first listed substitute that is available
    allowed = {
        e.id for e in available_exercises(HOME_DUMBBELLS, frozenset({Injury.KNEE}), ExperienceLevel.NOVICE)
    }
    assert set(ids) <= allowed
    assert substitutes_for("no_such_exercise", FULL_GYM, frozenset(), ExperienceLevel.NOVICE) == []


def test_works_counts_primary_as_one_and_secondary_as_half() -> None:
    bench = CATALOG["barbell_bench_press"]
    assert bench.works(Muscle.CHEST) == 1.0
    assert bench.works(Muscle.TRICEPS) == 0.5
    assert bench.works(Muscle.QUADS) == 0.0


def test_get_exercise_and_catalog_order() -> None:
    assert get_exercise("push_up") is CATALOG["push_up"]
    assert get_exercise("no_such_exercise") is None
    assert catalog_order(ALL_EXERCISES[0].id) == 0
    assert catalog_order("no_such_exercise") == len(ALL_EXERCISES)


# ---------------------------------------------------------------------------------------------------
# The data file
# ---------------------------------------------------------------------------------------------------

FIELDS = tuple(f.name for f in dataclasses.fields(Exercise))


def _data() -> list[dict[str, Any]]:
    return json.loads(DATA_PATH.read_text(encoding="utf-8"))


def test_every_pre_existing_id_is_still_present_in_its_order() -> None:
    assert len(PRE_EXISTING_IDS) == len(set(PRE_EXISTING_IDS)) == 175
    ids = [e.id for e in ALL_EXERCISES]
    assert set(PRE_EXISTING_IDS) <= set(ids), set(PRE_EXISTING_IDS) - set(ids)
    # Their relative order is kept too: catalog order is the engine's last tie-breaker.
    assert [i for i in ids if i in set(PRE_EXISTING_IDS)] == PRE_EXISTING_IDS


def test_the_json_file_is_the_only_source() -> None:
    # The module holds no table: no exercise id appears as a string in its source.
    tree = ast.parse(CATALOG_PY.read_text(encoding="utf-8"))
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert not strings & set(CATALOG), sorted(strings & set(CATALOG))
    assert len(CATALOG_PY.read_text(encoding="utf-8").splitlines()) < 450
    # What the package exposes is exactly the file, in the file's order.
    assert parse_catalog(DATA_PATH.read_bytes()) == ALL_EXERCISES
    assert [e["id"] for e in _data()] == [e.id for e in ALL_EXERCISES]
    assert dict(CATALOG) == {e.id: e for e in ALL_EXERCISES}


def test_the_data_file_has_one_exercise_per_line_in_field_order() -> None:
    """One exercise is one line, keys in the order of Exercise's fields: a diff of one exercise is one
    readable hunk. Regenerate a line with json.dumps(entry, ensure_ascii=False)."""
    lines = DATA_PATH.read_text(encoding="utf-8").split("\n")
    assert lines[0] == "[" and lines[-2:] == ["]", ""], "an array, one exercise per line, final newline"
    body = lines[1:-2]
    assert len(body) == len(ALL_EXERCISES)
    for number, line in enumerate(body):
        text = line if number == len(body) - 1 else line.removesuffix(",")
        entry = json.loads(text)
        assert tuple(entry) == FIELDS, entry.get("id")
        assert text == json.dumps(entry, ensure_ascii=False), entry["id"]


def test_the_data_file_ships_with_the_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["tpg"]
    package_root = ROOT / "shared" / "tpg"
    assert any(DATA_PATH in package_root.glob(p) for p in patterns), patterns


def test_the_catalog_is_loaded_lazily_and_once() -> None:
    code = (
        "import tpg.training.catalog as c\n"
        "assert c._catalog.cache_info().currsize == 0, 'loaded at import'\n"
        "from tpg.training.catalog import CATALOG, ALL_EXERCISES\n"
        "assert c._catalog.cache_info().currsize == 1\n"
        "assert c.ALL_EXERCISES is ALL_EXERCISES and c.CATALOG is CATALOG\n"
        "assert 'CATALOG' in dir(c)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    with pytest.raises(AttributeError):
        _ = catalog_module.NO_SUCH_NAME


def _set(exercise_id: str, key: str, value: Any) -> Callable[[list[dict[str, Any]]], None]:
    def plant(data: list[dict[str, Any]]) -> None:
        next(e for e in data if e["id"] == exercise_id)[key] = value

    return plant


def _drop(exercise_id: str, key: str) -> Callable[[list[dict[str, Any]]], None]:
    def plant(data: list[dict[str, Any]]) -> None:
        del next(e for e in data if e["id"] == exercise_id)[key]

    return plant


def _duplicate(exercise_id: str) -> Callable[[list[dict[str, Any]]], None]:
    def plant(data: list[dict[str, Any]]) -> None:
        data.append(copy.deepcopy(next(e for e in data if e["id"] == exercise_id)))

    return plant


TYPOS = {
    "pattern": ("barbell_front_squat", _set("barbell_front_squat", "pattern", "sqaut")),
    "muscle": ("goblet_squat", _set("goblet_squat", "primary_muscles", ["quad"])),
    "secondary muscle": ("push_up", _set("push_up", "secondary_muscles", ["triceps", "delts"])),
    "equipment": ("dumbbell_curl", _set("dumbbell_curl", "equipment", ["dumbell"])),
    "level": ("pull_up", _set("pull_up", "level", "beginner")),
    "injury": ("barbell_deadlift", _set("barbell_deadlift", "contraindications", ["lowerback"])),
    "loading": ("kettlebell_swing", _set("kettlebell_swing", "loading", "balistic")),
    "skill": ("push_press", _set("push_press", "skill", "very_high")),
    "spinal loading": ("good_morning", _set("good_morning", "spinal_loading", "heavy")),
    "bool as string": ("plank", _set("plank", "timed", "true")),
    "bool as int": ("crunch", _set("crunch", "supine", 1)),
    "unknown key": ("wall_sit", _set("wall_sit", "isometric", True)),
    "missing key": ("dead_bug", _drop("dead_bug", "supine")),
    "unknown substitution": ("leg_press", _set("leg_press", "substitutions", ["hack_squat", "leg_pres"])),
    "self substitution": ("hack_squat", _set("hack_squat", "substitutions", ["hack_squat"])),
    "no substitutions": ("face_pull", _set("face_pull", "substitutions", [])),
    "duplicate id": ("band_curl", _duplicate("band_curl")),
    "bad id": ("Barbell Curl", _set("barbell_curl", "id", "Barbell Curl")),
    "muscle twice": ("burpee", _set("burpee", "secondary_muscles", ["quads"])),
}


@pytest.mark.parametrize("typo", sorted(TYPOS))
def test_a_planted_typo_fails_the_loader_with_the_id_named(typo: str) -> None:
    exercise_id, plant = TYPOS[typo]
    data = _data()
    plant(data)
    with pytest.raises(CatalogError, match=re.escape(repr(exercise_id))):
        parse_catalog(json.dumps(data))


def test_the_loader_rejects_a_document_that_is_not_an_array_of_objects() -> None:
    for text in ("", "{}", "[]", "[1]", '[{"name": "no id"}]'):
        with pytest.raises(CatalogError):
            parse_catalog(text)


# ---------------------------------------------------------------------------------------------------
# Attributes: the invariants a coach would check
# ---------------------------------------------------------------------------------------------------


def _ids(predicate: Callable[[Exercise], bool]) -> set[str]:
    return {e.id for e in ALL_EXERCISES if predicate(e)}


def test_timed_exercises_are_holds_or_carries() -> None:
    for e in ALL_EXERCISES:
        if e.timed:
            assert e.loading == LoadingType.ISOMETRIC or e.pattern == MovementPattern.CARRY, e.id
        if e.loading == LoadingType.ISOMETRIC or e.pattern == MovementPattern.CARRY:
            assert e.timed, e.id
    assert {"plank", "side_plank", "wall_sit", "hollow_body_hold", "dead_hang"} <= _ids(lambda e: e.timed)


def test_impact_means_ballistic_and_is_flagged_for_knees() -> None:
    for e in ALL_EXERCISES:
        if e.impact:
            assert e.loading == LoadingType.BALLISTIC, e.id
            assert Injury.KNEE in e.contraindications, e.id
        if e.pattern == MovementPattern.PLYOMETRIC:
            assert e.impact, e.id
    assert not CATALOG["kettlebell_swing"].impact and CATALOG["jump_squat"].impact


# Words in a name that mean the exercise is not done lying on the back.
NOT_LYING = ("Standing", "Seated", "Incline", "Kneeling", "Hanging", "Cable", "Machine", "Walk", "Carry")
LYING = ("Bench Press", "Floor Press", "Glute Bridge", "Skull Crusher", "Lying Triceps", "Dead Bug", "Sit-Up")


def test_every_supine_exercise_is_really_lying_on_the_back() -> None:
    for e in ALL_EXERCISES:
        if e.supine:
            assert not any(word in e.name for word in NOT_LYING), e.id
            assert e.pattern not in {
                MovementPattern.SQUAT,
                MovementPattern.LUNGE,
                MovementPattern.VERTICAL_PUSH,
                MovementPattern.CARRY,
                MovementPattern.PLYOMETRIC,
            }, e.id
            assert e.balance == Demand.LOW and not e.impact and e.spinal_loading != SpinalLoading.HIGH, e.id
        elif any(word in e.name for word in LYING) and "Incline" not in e.name:
            pytest.fail(f"{e.id} is done lying on the back but not flagged supine")
    assert {"barbell_bench_press", "dumbbell_floor_press", "glute_bridge", "dead_bug", "crunch"} <= _ids(
        lambda e: e.supine
    )
    # Reclined or face-down is not supine (the incline press is the pregnancy-friendly press).
    for exercise_id in ("incline_dumbbell_press", "barbell_hip_thrust", "lying_leg_curl", "leg_press"):
        assert not CATALOG[exercise_id].supine, exercise_id


def test_overhead_covers_every_vertical_press_and_pull() -> None:
    for e in ALL_EXERCISES:
        if e.pattern in {MovementPattern.VERTICAL_PUSH, MovementPattern.VERTICAL_PULL}:
            assert e.overhead, e.id
    assert {"overhead_cable_triceps_extension", "dumbbell_overhead_triceps_extension", "dead_hang"} <= _ids(
        lambda e: e.overhead
    )
    assert not CATALOG["landmine_press"].overhead and not CATALOG["dumbbell_lateral_raise"].overhead


def test_deep_knee_flexion_agrees_with_the_knee_contraindication() -> None:
    for e in ALL_EXERCISES:
        if e.deep_knee_flexion:
            assert Injury.KNEE in e.contraindications, e.id
        if e.pattern == MovementPattern.LUNGE and "Step-Up" not in e.name:
            assert e.deep_knee_flexion and e.deep_hip_flexion, e.id
    # The knee-friendly squats of the safety notes: leg press and box squats to a set depth.
    for exercise_id in ("leg_press", "barbell_box_squat", "dumbbell_box_squat", "bodyweight_box_squat"):
        assert not CATALOG[exercise_id].deep_knee_flexion, exercise_id
    assert CATALOG["leg_press"].deep_hip_flexion and CATALOG["barbell_deadlift"].deep_hip_flexion
    assert not CATALOG["barbell_romanian_deadlift"].deep_hip_flexion


def test_spinal_attributes() -> None:
    high = _ids(lambda e: e.spinal_loading == SpinalLoading.HIGH)
    assert {
        "barbell_back_squat",
        "barbell_front_squat",
        "barbell_deadlift",
        "good_morning",
        "barbell_overhead_press",
        "barbell_bent_over_row",
        "farmers_carry",
    } <= high
    for exercise_id in ("goblet_squat", "dumbbell_romanian_deadlift"):
        assert CATALOG[exercise_id].spinal_loading == SpinalLoading.LOW, exercise_id
    for e in ALL_EXERCISES:
        if e.loading == LoadingType.BARBELL and e.pattern in {MovementPattern.SQUAT, MovementPattern.HINGE}:
            assert e.spinal_loading != SpinalLoading.NONE, e.id
        if e.spinal_flexion or e.spinal_rotation:
            assert e.pattern == MovementPattern.CORE, e.id
        if e.supine or e.loading == LoadingType.MACHINE and not e.overhead:
            assert e.spinal_loading != SpinalLoading.HIGH or e.id in {
                "smith_machine_squat",
                "hack_squat",
                "standing_calf_raise_machine",
            }, e.id
    assert {"crunch", "sit_up", "reverse_crunch", "cable_crunch"} <= _ids(lambda e: e.spinal_flexion)
    assert _ids(lambda e: e.spinal_rotation) >= {"cable_woodchop"}
    assert not CATALOG["pallof_press"].spinal_rotation  # anti-rotation is not rotation


def test_wrist_extension_and_the_wrist_contraindication() -> None:
    for e in ALL_EXERCISES:
        if Injury.WRIST in e.contraindications and e.id != "barbell_curl":  # a curl stresses supination
            assert e.wrist_extension, e.id
        if "Push-Up" in e.name or "Dip" in e.name:
            assert e.wrist_extension, e.id
    assert CATALOG["barbell_front_squat"].wrist_extension and not CATALOG["plank"].wrist_extension


def test_unilateral_exercises() -> None:
    one_side = ("Single-Leg", "One-Arm", "Single-Arm", "Lunge", "Split Squat", "Step-Up", "Pistol", "Side ")
    for e in ALL_EXERCISES:
        if any(word in e.name for word in one_side):
            assert e.unilateral, e.id
        if e.unilateral:
            assert not e.supine or e.id == "single_leg_glute_bridge", e.id
    assert not CATALOG["barbell_back_squat"].unilateral and CATALOG["suitcase_carry"].unilateral


def test_balance_and_skill_demands() -> None:
    for exercise_id in ("dumbbell_walking_lunge", "single_leg_dumbbell_rdl", "pistol_squat"):
        assert CATALOG[exercise_id].balance == Demand.HIGH, exercise_id
    for exercise_id in ("bodyweight_split_squat", "dumbbell_step_up"):
        assert CATALOG[exercise_id].balance == Demand.MODERATE, exercise_id
    for e in ALL_EXERCISES:
        if e.loading == LoadingType.MACHINE or "Seated" in e.name or e.supine:
            assert e.balance == Demand.LOW, e.id
    assert CATALOG["push_press"].skill == Demand.HIGH
    assert CATALOG["leg_press"].skill == Demand.LOW


BODYWEIGHT_ONLY = frozenset({Equipment.BODYWEIGHT})


def test_balance_training_is_available_to_everyone_and_safe() -> None:
    balance = [e for e in ALL_EXERCISES if e.balance_training]
    assert {"single_leg_stance", "tandem_stance", "heel_to_toe_walk"} <= {e.id for e in balance}
    for e in balance:
        # Usable by older adults and people with osteoporosis: next to a support, never a fall risk.
        assert e.balance != Demand.HIGH and not e.impact and e.skill == Demand.LOW, e.id
        assert e.level == ExperienceLevel.NOVICE and not e.power, e.id
    anywhere = [e for e in balance if e.equipment == BODYWEIGHT_ONLY and not e.contraindications]
    assert len(anywhere) >= 3


@pytest.mark.parametrize("setup", ["bodyweight", "bands_only", "home_dumbbells"])
def test_a_power_option_safe_for_older_adults_in_every_home_setup(setup: str) -> None:
    equipment = {"bodyweight": BODYWEIGHT_ONLY, "bands_only": BANDS_ONLY, "home_dumbbells": HOME_DUMBBELLS}
    available = available_exercises(equipment[setup], frozenset(), ExperienceLevel.NOVICE)
    safe = [
        e.id
        for e in available
        if e.power and not e.impact and e.skill == Demand.LOW and e.balance == Demand.LOW and not e.supine
    ]
    assert safe, setup
    for e in ALL_EXERCISES:
        if e.power:
            assert not e.timed and e.loading != LoadingType.ISOMETRIC, e.id
    assert {"kettlebell_swing", "jump_squat", "push_press", "chair_stand_power"} <= _ids(lambda e: e.power)


def test_every_loading_type_is_used_and_matches_the_equipment() -> None:
    assert {e.loading for e in ALL_EXERCISES} == set(LoadingType)
    for e in ALL_EXERCISES:
        if e.loading == LoadingType.BARBELL:
            assert Equipment.BARBELL in e.equipment, e.id
        if e.loading == LoadingType.MACHINE:
            assert e.equipment & {Equipment.MACHINE, Equipment.CABLE}, e.id
        if e.loading == LoadingType.BAND:
            assert Equipment.BAND in e.equipment, e.id
        if e.loading == LoadingType.FREE_WEIGHT:
            assert e.equipment & {Equipment.DUMBBELL, Equipment.KETTLEBELL, Equipment.BARBELL}, e.id


def test_equipment_free_pulls_exist() -> None:
    pulls = [
        e.id
        for e in ALL_EXERCISES
        if e.pattern == MovementPattern.HORIZONTAL_PULL and e.equipment == BODYWEIGHT_ONLY
    ]
    assert {"towel_door_row", "table_inverted_row"} <= set(pulls)
    available = available_exercises(BODYWEIGHT_ONLY, frozenset(), ExperienceLevel.NOVICE)
    for muscle in MAJOR_MUSCLES:
        assert exercises_for_muscle(muscle, available), muscle


@pytest.mark.parametrize("setup", sorted(SETUPS))
@pytest.mark.parametrize("muscle", MAJOR_MUSCLES)
def test_pregnancy_friendly_options_for_every_major_muscle(setup: str, muscle: Muscle) -> None:
    """After the first trimester: nothing supine, no crunches, no impact, no fall-risk balance work, no
    heavy bar on the back, nothing highly technical. Every major muscle still has an exercise."""
    available = available_exercises(SETUPS[setup], frozenset(), ExperienceLevel.NOVICE)
    friendly = [
        e.id
        for e in exercises_for_muscle(muscle, available)
        if not (e.supine or e.spinal_flexion or e.impact)
        and e.balance != Demand.HIGH
        and e.spinal_loading != SpinalLoading.HIGH
        and e.skill != Demand.HIGH
    ]
    assert friendly, (setup, muscle)


def test_coach_fixes() -> None:
    # A banded pulldown done seated or half-kneeling does not load the knee.
    assert not CATALOG["band_lat_pulldown"].contraindications
    # The dip station's listed substitutes include the bench variant.
    assert "bench_dip" in CATALOG["parallel_bar_dip"].substitutions
