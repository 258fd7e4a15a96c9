"""template.yaml for tests: a YAML loader that understands CloudFormation's short tags."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


@lru_cache(maxsize=1)
def load_template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


def resources(kind: str | None = None) -> dict[str, dict[str, Any]]:
    found = load_template()["Resources"]
    return {name: r for name, r in found.items() if kind is None or r["Type"] == kind}


def dashboard_source() -> str:
    """The dashboard body as written: JSON with ${...} substitutions."""
    (dashboard,) = resources("AWS::CloudWatch::Dashboard").values()
    return dashboard["Properties"]["DashboardBody"]["Fn::Sub"]


def dashboard_body() -> dict[str, Any]:
    """The dashboard JSON, with every ${...} substitution replaced by a placeholder."""
    return json.loads(re.sub(r"\$\{[^}]+\}", "SUBSTITUTED", dashboard_source()))
