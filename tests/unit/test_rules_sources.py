"""Every safety rule names its source, and every source is a section of docs/training-science.md.

A rule in rules.json says where it comes from (`source`, and `_source` for the minimum reps per
loading type); the document must have a heading whose text is that key, so the key is also the
heading's GitHub anchor. And every condition and injury site the profile accepts has a rule.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tpg.training.user_data import Condition, Injury

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "shared" / "tpg" / "training" / "data" / "rules.json"
DOC = ROOT / "docs" / "training-science.md"

_FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*$", re.MULTILINE)


def _rules() -> dict[str, Any]:
    return json.loads(RULES.read_text(encoding="utf-8"))


def _sources(node: Any, where: str = "rules.json") -> Iterator[tuple[str, str]]:
    """(where, source) for every `source` or `_source` key, at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("source", "_source"):
                yield where, value
            else:
                yield from _sources(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _sources(item, f"{where}[{index}]")


def _heading_keys() -> set[str]:
    text = _FENCE.sub("", DOC.read_text(encoding="utf-8"))  # a `# comment` in a code block is no heading
    return {m.group(1).lower().replace("#", "").replace(" ", "") for m in _HEADING.finditer(text)}


def test_the_scans_find_what_they_must() -> None:
    sources = dict(_sources(_rules()))
    assert sources["rules.json.loading_min_reps"] == "loadability"
    assert sources["rules.json.injuries.knee"] == "knee"
    assert sources["rules.json.age_bands[0]"] == "youth"
    assert {"loadability", "knee", "lower-back", "plausibility"} <= _heading_keys()


def test_every_rule_source_is_a_heading_of_the_training_science_doc() -> None:
    headings = _heading_keys()
    found = list(_sources(_rules()))
    assert found, "no source keys found in rules.json"
    missing = [f"{where}: {source!r}" for where, source in found if source not in headings]
    not_keys = [f"{where}: {source!r}" for where, source in found if not isinstance(source, str)]
    assert not_keys == [], "sources must be strings:\n" + "\n".join(not_keys)
    assert missing == [], f"rules.json sources without a heading in {DOC.name}:\n" + "\n".join(missing)


def test_every_condition_and_injury_site_has_a_rule() -> None:
    rules = _rules()
    missing = [f"conditions.{c.value}" for c in Condition if c.value not in rules["conditions"]]
    missing += [f"injuries.{i.value}" for i in Injury if i.value not in rules["injuries"]]
    assert "_unknown" in rules["injuries"], "no rule for injury sites without their own"
    assert missing == [], "no rule in rules.json for:\n" + "\n".join(missing)
