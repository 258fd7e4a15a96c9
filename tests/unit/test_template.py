"""template.yaml encodes the reliability design: asserted here, not only by `sam validate`."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.unit.cfn_template import dashboard_body, dashboard_source, load_template, resources
from tpg.platform.settings import Settings

FUNCTIONS = ("TriggerFunction", "GenerateFunction", "SweeperFunction")

# "*" is allowed only where the service has no resource-level permissions (documented in the
# template next to each statement).
WILDCARD_ALLOWED_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}


def _globals() -> dict[str, Any]:
    return load_template()["Globals"]["Function"]


def _function(name: str) -> dict[str, Any]:
    return resources()[name]["Properties"]


def _setting(function: str, key: str) -> Any:
    """A function's value for a property, falling back to Globals as SAM does."""
    return _function(function).get(key, _globals().get(key))


def _env(function: str) -> dict[str, Any]:
    return {
        **_globals()["Environment"]["Variables"],
        **_function(function).get("Environment", {}).get("Variables", {}),
    }


def _statements(value: Any) -> list[dict[str, Any]]:
    """Policy statements, both branches of any Fn::If included."""
    if isinstance(value, list):
        return [s for item in value for s in _statements(item)]
    if isinstance(value, dict) and "Fn::If" in value:
        return [s for branch in value["Fn::If"][1:] for s in _statements(branch)]
    if isinstance(value, dict) and "Effect" in value:
        return [value]
    return []


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_has_its_own_log_group_with_retention(function: str) -> None:
    group = _function(function)["LoggingConfig"]["LogGroup"]["Ref"]
    log_group = resources("AWS::Logs::LogGroup")[group]["Properties"]
    assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert function.removesuffix("Function").lower() in log_group["LogGroupName"]["Fn::Sub"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_has_a_timeout_and_a_current_arm64_runtime(function: str) -> None:
    assert isinstance(_setting(function, "Timeout"), int)
    assert _setting(function, "Runtime") == "python3.12"
    assert _setting(function, "Architectures") == ["arm64"]
    assert _setting(function, "Tracing") == "Active"


def test_generate_has_an_on_failure_destination_and_no_lambda_retries() -> None:
    config = _function("GenerateFunction")["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 0  # attempts are bounded in the database
    assert 60 <= config["MaximumEventAgeInSeconds"] <= 21600
    on_failure = config["DestinationConfig"]["OnFailure"]
    assert on_failure == {"Type": "SQS", "Destination": {"Fn::GetAtt": ["GenerateFailureQueue", "Arn"]}}
    # ... and the sweeper consumes that queue, reporting partial batch failures.
    event = _function("SweeperFunction")["Events"]["FailedGenerations"]
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["GenerateFailureQueue", "Arn"]}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_generate_reserved_concurrency_is_a_parameter() -> None:
    assert _function("GenerateFunction")["ReservedConcurrentExecutions"] == {
        "Ref": "GenerateReservedConcurrency"
    }
    assert load_template()["Parameters"]["GenerateReservedConcurrency"]["MinValue"] >= 1


def test_generate_timeout_exceeds_the_llm_budget_and_the_lease_exceeds_the_timeout() -> None:
    timeout = _setting("GenerateFunction", "Timeout")
    env = _env("GenerateFunction")
    assert int(env["GENERATION_LLM_BUDGET_SECONDS"]) + 60 <= timeout <= 900
    # A live worker's lease never expires under it (I2, I4); the code's default agrees.
    assert int(env["GENERATION_LEASE_SECONDS"]) > timeout
    assert Settings().lease_seconds > timeout


def test_sweeper_runs_on_a_schedule() -> None:
    tick = _function("SweeperFunction")["Events"]["Tick"]
    assert tick["Type"] == "Schedule"
    assert tick["Properties"]["Schedule"].startswith("rate(")


def test_no_wildcard_iam_resource_except_documented_ones() -> None:
    roles = resources("AWS::IAM::Role")
    assert set(roles) == {"TriggerRole", "GenerateRole", "SweeperRole"}
    for name, role in roles.items():
        assert "ManagedPolicyArns" not in role["Properties"], name
        for policy in role["Properties"]["Policies"]:
            for statement in _statements(policy["PolicyDocument"]["Statement"]):
                resource = statement["Resource"]
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                if resource == "*" or (isinstance(resource, list) and "*" in resource):
                    assert set(actions) <= WILDCARD_ALLOWED_ACTIONS, (name, actions)
                assert all("*" not in action for action in actions), (name, actions)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_functions_use_the_explicit_roles(function: str) -> None:
    assert _function(function)["Role"] == {"Fn::GetAtt": [function.replace("Function", "Role"), "Arn"]}


def test_secrets_are_passed_by_arn_never_as_values() -> None:
    for function in FUNCTIONS:
        for key, value in _env(function).items():
            assert not key.endswith(("_SECRET", "_API_KEY", "DATABASE_URL")), (function, key)
            assert "resolve:secretsmanager" not in str(value)


def test_completion_events_go_to_the_bus_the_generate_role_may_put_on() -> None:
    for function, role in (("GenerateFunction", "GenerateRole"), ("SweeperFunction", "SweeperRole")):
        assert _env(function)["EVENT_BUS_NAME"] == {"Ref": "EventBusName"}
        statements = _statements(
            resources()[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        )
        (put,) = [s for s in statements if s["Action"] == "events:PutEvents"]
        assert put["Resource"]["Fn::Sub"].endswith(":event-bus/${EventBusName}")


def test_trigger_snapstart_runs_on_a_published_alias_that_follows_every_change() -> None:
    trigger = _function("TriggerFunction")
    assert trigger["AutoPublishAlias"] == "live"
    assert trigger["AutoPublishAliasAllProperties"] is True
    assert trigger["SnapStart"]["ApplyOn"]["Fn::If"][1] == "PublishedVersions"


def test_http_api_has_cors_throttling_and_access_logs() -> None:
    api = resources("AWS::Serverless::HttpApi")["HttpApi"]["Properties"]
    assert api["CorsConfiguration"]["AllowOrigins"] == [{"Ref": "CorsAllowOrigin"}]
    assert api["DefaultRouteSettings"]["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    assert api["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}


def _alarm(name: str) -> dict[str, Any]:
    return resources("AWS::CloudWatch::Alarm")[name]["Properties"]


def test_the_alarms_the_design_names_exist_and_notify() -> None:
    alarms = resources("AWS::CloudWatch::Alarm")
    assert {
        "GenerateFailureRecordsAlarm",  # on-failure queue not empty
        "GenerateFailureDeadLetterAlarm",
        "GenerationFailureRateAlarm",
        "StuckGenerationsAlarm",
        "ApiServerErrorsAlarm",
        "TriggerThrottlesAlarm",
        "GenerateThrottlesAlarm",
        "GenerateDurationAlarm",
    } <= set(alarms)
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert "docs/operations.md#" in alarm["Properties"]["AlarmDescription"], name


@pytest.mark.parametrize(
    ("alarm", "function", "fraction"),
    [
        ("GenerateDurationAlarm", "GenerateFunction", 0.9),
        ("TriggerDurationAlarm", "TriggerFunction", 0.8),
        ("SweeperDurationAlarm", "SweeperFunction", 0.8),
    ],
)
def test_duration_alarms_follow_the_timeouts(alarm: str, function: str, fraction: float) -> None:
    properties = _alarm(alarm)
    assert properties["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function}}]
    assert properties["Threshold"] == fraction * _setting(function, "Timeout") * 1000


def test_a_silent_sweeper_raises_the_stuck_alarm() -> None:
    assert _alarm("StuckGenerationsAlarm")["TreatMissingData"] == "breaching"


def test_the_dashboard_alarm_widget_lists_every_alarm() -> None:
    (widget,) = [w for w in dashboard_body()["widgets"] if w["type"] == "alarm"]
    listed = set(re.findall(r"\$\{(\w+)\.Arn\}", dashboard_source()))
    assert listed == set(resources("AWS::CloudWatch::Alarm"))
    assert len(widget["properties"]["alarms"]) == len(listed)


def test_the_token_issuer_is_required_and_the_key_set_optional() -> None:
    parameters = load_template()["Parameters"]
    issuer, key_set = parameters["JwtIssuer"], parameters["JwtJwksUrl"]
    assert "Default" not in issuer  # every deployment names its issuer: tokens are checked against it
    for value, allowed in [
        ("", False),
        ("http://ref.supabase.co/auth/v1", False),
        ("https://ref.supabase.co/auth/v1", True),
    ]:
        assert bool(re.fullmatch(issuer["AllowedPattern"], value)) is allowed, value
    assert key_set["Default"] == ""
    for value, allowed in [
        ("", True),
        ("https://ref.supabase.co/auth/v1/.well-known/jwks.json", True),
        ("http://ref.supabase.co/auth/v1/.well-known/jwks.json", False),
    ]:
        assert bool(re.fullmatch(key_set["AllowedPattern"], value)) is allowed, value
    env = _env("TriggerFunction")
    assert env["JWT_ISSUER"] == {"Ref": "JwtIssuer"}
    assert env["JWT_JWKS_URL"] == {"Ref": "JwtJwksUrl"}
    # the variables are the settings' own
    names = {(info.json_schema_extra or {}).get("env") for info in Settings.model_fields.values()}  # type: ignore[union-attr]
    assert {"JWT_ISSUER", "JWT_JWKS_URL", "JWT_MAX_LIFETIME_SECONDS"} <= names


def test_every_environment_in_samconfig_sets_the_token_issuer() -> None:
    import tomllib

    from tests.unit.cfn_template import TEMPLATE

    config = tomllib.loads((TEMPLATE.parent / "samconfig.toml").read_text())
    for environment in ("dev", "prod"):
        overrides = config[environment]["deploy"]["parameters"]["parameter_overrides"]
        assert any(item.startswith("JwtIssuer=https://") for item in overrides), environment
