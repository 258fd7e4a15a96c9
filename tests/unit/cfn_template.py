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


def parameter_values(**overrides: str) -> dict[str, Any]:
    """Every parameter at its default (a placeholder where there is none), then the overrides.

    CommaDelimitedList values come back as lists, as Ref resolves them ("" is [""]).
    """
    values: dict[str, Any] = {}
    for name, spec in load_template()["Parameters"].items():
        value = str(overrides.get(name, spec.get("Default", f"<{name}>")))
        values[name] = value.split(",") if spec["Type"] == "CommaDelimitedList" else value
    unknown = set(overrides) - set(values)
    assert not unknown, unknown
    return values


def evaluate(expression: Any, parameters: dict[str, Any]) -> Any:
    """The condition and rule functions the template uses, evaluated for parameter values."""
    if not isinstance(expression, dict):
        return expression
    ((function, argument),) = expression.items()
    if function == "Ref":
        return parameters[argument]
    if function == "Fn::Condition":
        return evaluate(load_template()["Conditions"][argument], parameters)
    args = [evaluate(item, parameters) for item in argument]
    if function == "Fn::Equals":
        return str(args[0]) == str(args[1])
    if function == "Fn::Not":
        return not args[0]
    if function == "Fn::And":
        return all(args)
    if function == "Fn::Or":
        return any(args)
    if function == "Fn::Join":
        return args[0].join(args[1])
    if function == "Fn::Contains":
        return args[1] in args[0]
    raise NotImplementedError(function)


def conditions(parameters: dict[str, Any]) -> dict[str, bool]:
    return {
        name: bool(evaluate(expression, parameters))
        for name, expression in load_template()["Conditions"].items()
    }


def created(parameters: dict[str, Any]) -> set[str]:
    """The resources CloudFormation would create for these parameter values."""
    truth = conditions(parameters)
    return {name for name, r in resources().items() if truth.get(r.get("Condition", ""), True)}


def failed_rules(parameters: dict[str, Any]) -> set[str]:
    """The Rules whose assertions would stop the deploy for these parameter values."""
    failed = set()
    for name, rule in load_template().get("Rules", {}).items():
        if "RuleCondition" in rule and not evaluate(rule["RuleCondition"], parameters):
            continue
        if not all(evaluate(a["Assert"], parameters) for a in rule["Assertions"]):
            failed.add(name)
    return failed
