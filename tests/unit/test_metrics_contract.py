"""The metrics contract: the dashboard and the alarms name only metrics the code emits, and
every metric the code can emit (every `Metric` member) is on the dashboard."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from tests.unit.cfn_template import dashboard_body, resources
from tpg.platform.observability import METRICS_NAMESPACE, Metric

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*(ROOT / "shared" / "tpg").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]


def emitted_by_code() -> set[Metric]:
    """`Metric.X` referenced in the layer or a handler, outside its definition."""
    used: set[Metric] = set()
    for path in SOURCES:
        if path.name == "observability.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "Metric"
            ):
                used.add(Metric[node.attr])
    return used


def _dashboard_metrics() -> set[str]:
    names: set[str] = set()
    for widget in dashboard_body()["widgets"]:
        namespace = None
        for row in widget["properties"].get("metrics", []):
            if isinstance(row[0], dict):  # an expression
                names.update(_search_metrics(row[0]["expression"]))
                continue
            namespace = namespace if row[0] == "." else row[0]
            if namespace == METRICS_NAMESPACE:
                names.add(row[1])
    return names


def _search_metrics(expression: str) -> set[str]:
    if f"{{{METRICS_NAMESPACE}," not in expression:
        return set()
    return set(re.findall(r'MetricName="(\w+)"', expression))


def _alarm_metrics() -> set[str]:
    names: set[str] = set()
    for alarm in resources("AWS::CloudWatch::Alarm").values():
        properties: dict[str, Any] = alarm["Properties"]
        if properties.get("Namespace") == METRICS_NAMESPACE:
            names.add(properties["MetricName"])
        for query in properties.get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric", {})
            if metric.get("Namespace") == METRICS_NAMESPACE:
                names.add(metric["MetricName"])
    return names


def test_the_dashboard_and_alarms_name_only_defined_metrics() -> None:
    defined = {m.value for m in Metric}
    assert _dashboard_metrics() - defined == set()
    assert _alarm_metrics() - defined == set()


def test_every_metric_on_the_dashboard_and_in_alarms_is_emitted_by_the_code() -> None:
    emitted = {m.value for m in emitted_by_code()}
    assert _dashboard_metrics() - emitted == set()
    assert _alarm_metrics() - emitted == set()


def test_alarms_use_only_metrics_the_code_emits_today() -> None:
    # An alarm on a metric nobody emits would never fire (or always, if missing data breaches).
    emitted = {m.value for m in emitted_by_code()}
    assert _alarm_metrics() - emitted == set()


def test_every_metric_is_on_the_dashboard() -> None:
    assert {m.value for m in Metric} - _dashboard_metrics() == set()


def test_every_metric_is_emitted_or_awaits_the_pipeline_work() -> None:
    assert set(Metric) - emitted_by_code() == set()


def test_the_contract_sees_the_metrics_it_should() -> None:
    # Guards the parsers above: an empty result would make every test here pass vacuously.
    assert {
        "GenerationsCompleted",
        "LlmTokens",
        "FallbackTierUsed",
        "StuckGenerations",
    } <= _dashboard_metrics()
    assert {"GenerationsFailed", "StuckGenerations"} <= _alarm_metrics()
    assert Metric.GENERATIONS_COMPLETED in emitted_by_code()
