"""template.yaml encodes the reliability design: asserted here, not only by `sam validate`."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.unit.cfn_template import (
    TEMPLATE,
    conditions,
    created,
    dashboard_body,
    dashboard_source,
    failed_rules,
    load_template,
    parameter_values,
    resources,
)
from tpg.platform.settings import Settings

FUNCTIONS = ("TriggerFunction", "GenerateFunction", "SweeperFunction", "RealtimeFunction")

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


def test_generate_reserved_concurrency_is_settable_and_unset_by_default() -> None:
    # A new account's quota (10) leaves nothing to reserve: a default deploy must reserve nothing.
    parameter = load_template()["Parameters"]["GenerateReservedConcurrency"]
    assert parameter["Default"] == 0
    assert parameter["MinValue"] == 0
    assert load_template()["Conditions"]["HasGenerateReservedConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "GenerateReservedConcurrency"}, "0"]}]
    }
    assert _function("GenerateFunction")["ReservedConcurrentExecutions"] == {
        "Fn::If": [
            "HasGenerateReservedConcurrency",
            {"Ref": "GenerateReservedConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }


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
    assert set(roles) == {
        "TriggerRole",
        "GenerateRole",
        "SweeperRole",
        "RealtimeRole",
        "DatabaseProxyRole",
        "ApiGatewayCloudWatchRole",
    }
    for name, role in roles.items():
        if name == "ApiGatewayCloudWatchRole":  # API Gateway's own, with AWS's policy for it
            assert role["Properties"]["ManagedPolicyArns"] == [
                {
                    "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                    "AmazonAPIGatewayPushToCloudWatchLogs"
                }
            ]
            continue
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


@pytest.mark.parametrize(
    ("route", "prefix", "event"),
    [("GET /programs/{id}", "ApiPoll", "GetProgram"), ("POST /programs", "ApiAccept", "CreateProgram")],
)
def test_polls_and_accepts_have_their_own_throttles(route: str, prefix: str, event: str) -> None:
    api = resources("AWS::Serverless::HttpApi")["HttpApi"]["Properties"]
    parameters = load_template()["Parameters"]
    settings = api["RouteSettings"][route]
    for limit in ("ThrottlingRateLimit", "ThrottlingBurstLimit"):
        name = f"{prefix}{limit}"
        assert settings[limit] == {"Ref": name}
        assert parameters[name]["Type"] == "Number"
        assert parameters[name]["Default"] >= 1
    # the route key is one the trigger really serves
    properties = _function("TriggerFunction")["Events"][event]["Properties"]
    assert f"{properties['Method']} {properties['Path']}" == route
    # accepts (paid generations) are throttled harder than polls by default
    assert (
        parameters["ApiAcceptThrottlingRateLimit"]["Default"]
        < parameters["ApiPollThrottlingRateLimit"]["Default"]
    )


def test_the_alarm_topic_uses_a_key_cloudwatch_may_use() -> None:
    # alias/aws/sns cannot grant CloudWatch: with it, no alarm would ever notify anyone.
    topic = resources("AWS::SNS::Topic")["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key = resources("AWS::KMS::Key")["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    statements = key["KeyPolicy"]["Statement"]
    root = {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    assert any(s["Principal"] == root and s["Action"] == "kms:*" for s in statements)
    (cloudwatch,) = [s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert cloudwatch["Effect"] == "Allow"
    assert sorted(cloudwatch["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    # only the account root administers it; nothing else is granted
    assert len(statements) == 2


SECRET_ARN_PARAMETERS = (
    "DatabaseUrlSecretArn",
    "JwtSecretArn",
    "AnthropicApiKeySecretArn",
    "DatabaseCredentialsSecretArn",
)
OPTIONAL_SECRET_ARN_PARAMETERS = {"AnthropicApiKeySecretArn", "DatabaseCredentialsSecretArn"}
REAL_LOOKING_ARNS = [
    "arn:aws:secretsmanager:eu-west-1:210987654321:secret:tpg/prod/database-url-a1B2c3",
    "arn:aws:secretsmanager:us-east-1:555566667777:secret:jwt-Xy9Zq0",
    "arn:aws-us-gov:secretsmanager:us-gov-west-1:555566667777:secret:tpg/key-abcdef",
]
PLACEHOLDER_ARNS = [
    # samconfig.toml's placeholders, as shipped
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tpg/dev/database-url-REPLACE",
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tpg/prod/jwt-secret-REPLACE",
    # the placeholder account alone, a REPLACE with a suffix, no suffix, no region, a short account
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tpg/dev/database-url-a1B2c3",
    "arn:aws:secretsmanager:eu-west-1:210987654321:secret:REPLACE-a1B2c3",
    "arn:aws:secretsmanager:eu-west-1:210987654321:secret:tpg/dev/database-url",
    "arn:aws:secretsmanager:REGION:210987654321:secret:tpg/dev/database-url-a1B2c3",
    "arn:aws:secretsmanager:eu-west-1:12345:secret:tpg/dev/database-url-a1B2c3",
    "arn:aws:secretsmanager:eu-west-1:210987654321:secret:-a1B2c3",
    "tpg/dev/database-url",
]


def _samconfig_secret_arns() -> list[str]:
    import tomllib

    from tests.unit.cfn_template import TEMPLATE

    config = tomllib.loads((TEMPLATE.parent / "samconfig.toml").read_text())
    found = []
    for environment in ("dev", "prod"):
        for item in config[environment]["deploy"]["parameters"]["parameter_overrides"]:
            name, _, value = item.partition("=")
            if name in SECRET_ARN_PARAMETERS:
                found.append(value)
    return found


@pytest.mark.parametrize("parameter", SECRET_ARN_PARAMETERS)
def test_secret_arn_parameters_refuse_placeholders(parameter: str) -> None:
    # The pattern is checked at parameter validation: a placeholder stops `sam deploy` before any
    # change set is made.
    pattern = load_template()["Parameters"][parameter]["AllowedPattern"]
    for arn in REAL_LOOKING_ARNS:
        assert re.fullmatch(pattern, arn), arn
    placeholders = PLACEHOLDER_ARNS + [arn for arn in _samconfig_secret_arns() if "REPLACE" in arn]
    for arn in placeholders:
        assert not re.fullmatch(pattern, arn), arn
    assert bool(re.fullmatch(pattern, "")) is (parameter in OPTIONAL_SECRET_ARN_PARAMETERS)


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
        "OfflineTierShareAlarm",
        "LlmErrorRateAlarm",
        "DispatchFailuresAlarm",
        "EventsNotPublishedAlarm",
        "ApiThrottledRequestsAlarm",
        "SweeperErrorsAlarm",
        "GenerateEventAgeAlarm",
    } <= set(alarms)
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert "docs/operations.md#" in alarm["Properties"]["AlarmDescription"], name
        assert alarm["Properties"]["OKActions"] == [{"Ref": "AlarmTopic"}], name


def test_every_alarm_is_in_the_operations_alarm_table() -> None:
    from tests.unit.cfn_template import TEMPLATE

    table = (TEMPLATE.parent / "docs" / "operations.md").read_text().split("## Alarms", 1)[1]
    table = table.split("\n## ", 1)[0]
    for name in resources("AWS::CloudWatch::Alarm"):
        assert f"| `{name}` |" in table, name


SERVICE = {"Name": "service", "Value": "training-program-generation"}


def _queries(alarm: str) -> dict[str, dict[str, Any]]:
    return {query["Id"]: query for query in _alarm(alarm)["Metrics"]}


def _metric(query: dict[str, Any]) -> dict[str, Any]:
    return query["MetricStat"]["Metric"]


def test_offline_tier_share_alarm_divides_the_offline_tier_by_all_tiers() -> None:
    queries = _queries("OfflineTierShareAlarm")
    offline, produced = _metric(queries["offline"]), _metric(queries["produced"])
    assert offline["MetricName"] == produced["MetricName"] == "FallbackTierUsed"
    assert offline["Dimensions"] == [SERVICE, {"Name": "Tier", "Value": "offline"}]
    assert produced["Dimensions"] == [SERVICE]  # the total over every tier (tpg.observability)
    (returned,) = [q for q in queries.values() if q["ReturnData"]]
    assert "offline" in returned["Expression"] and "produced" in returned["Expression"]
    assert ">= 5" in returned["Expression"]  # a floor: one offline program at night does not page
    assert 0 < _alarm("OfflineTierShareAlarm")["Threshold"] < 100


def test_llm_error_rate_alarm_divides_429_and_5xx_answers_by_requests() -> None:
    queries = _queries("LlmErrorRateAlarm")
    assert _metric(queries["errors"]) == {
        "Namespace": "TrainingPrograms",
        "MetricName": "LlmErrorResponses",
        "Dimensions": [SERVICE],
    }
    assert _metric(queries["requests"])["MetricName"] == "LlmRequests"
    (returned,) = [q for q in queries.values() if q["ReturnData"]]
    assert "errors" in returned["Expression"] and "requests" in returned["Expression"]
    assert 0 < _alarm("LlmErrorRateAlarm")["Threshold"] < 100


@pytest.mark.parametrize(
    ("alarm", "metric", "threshold"),
    [("DispatchFailuresAlarm", "DispatchFailures", 5), ("EventsNotPublishedAlarm", "EventsNotPublished", 1)],
)
def test_fault_counter_alarms(alarm: str, metric: str, threshold: int) -> None:
    properties = _alarm(alarm)
    assert (properties["Namespace"], properties["MetricName"]) == ("TrainingPrograms", metric)
    assert properties["Dimensions"] == [SERVICE]
    assert (properties["Statistic"], properties["Threshold"]) == ("Sum", threshold)
    assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert properties["TreatMissingData"] == "notBreaching"


def test_api_throttled_requests_alarm_counts_api_gateway_429s_from_the_access_log() -> None:
    (metric_filter,) = resources("AWS::Logs::MetricFilter").values()
    properties = metric_filter["Properties"]
    assert properties["LogGroupName"] == {"Ref": "ApiAccessLogGroup"}
    assert '$.status = "429"' in properties["FilterPattern"]
    # API Gateway's own throttling, not the trigger's daily-quota 429
    assert '$.error = "Too Many Requests"' in properties["FilterPattern"]
    (transformation,) = properties["MetricTransformations"]
    assert transformation["Dimensions"] == [{"Key": "ApiId", "Value": "$.apiId"}]
    api = resources("AWS::Serverless::HttpApi")["HttpApi"]["Properties"]
    access_log = api["AccessLogSettings"]["Format"]
    assert '"apiId":"$context.apiId"' in access_log
    assert '"status":"$context.status"' in access_log  # a string: the filter compares "429"
    assert '"error":"$context.error.message"' in access_log
    alarm = _alarm("ApiThrottledRequestsAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == (
        transformation["MetricNamespace"],
        transformation["MetricName"],
    )
    assert alarm["Namespace"] != "TrainingPrograms"  # not a code metric (test_metrics_contract.py)
    assert alarm["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}]


@pytest.mark.parametrize(
    ("alarm", "metric", "function", "statistic"),
    [
        ("SweeperErrorsAlarm", "Errors", "SweeperFunction", "Sum"),
        ("GenerateThrottlesAlarm", "Throttles", "GenerateFunction", "Sum"),
        ("TriggerThrottlesAlarm", "Throttles", "TriggerFunction", "Sum"),
        ("GenerateEventAgeAlarm", "AsyncEventAge", "GenerateFunction", "Maximum"),
    ],
)
def test_lambda_metric_alarms(alarm: str, metric: str, function: str, statistic: str) -> None:
    properties = _alarm(alarm)
    assert (properties["Namespace"], properties["MetricName"]) == ("AWS/Lambda", metric)
    assert properties["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function}}]
    assert properties["Statistic"] == statistic
    assert properties["Threshold"] >= 1


def test_the_event_age_alarm_fires_before_events_expire() -> None:
    max_age = _function("GenerateFunction")["EventInvokeConfig"]["MaximumEventAgeInSeconds"]
    assert _alarm("GenerateEventAgeAlarm")["Threshold"] < max_age * 1000


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


# ---------------------------------------------------------------- network and database access
ANTHROPIC_KEY = "arn:aws:secretsmanager:eu-west-1:210987654321:secret:tpg/anthropic-a1B2c3"
CREDENTIALS = "arn:aws:secretsmanager:eu-west-1:210987654321:secret:tpg/db-login-a1B2c3"
VPC = {"VpcSubnetIds": "subnet-0a,subnet-0b", "VpcSecurityGroupIds": "sg-0a", "VpcId": "vpc-0123abcd"}
ENDPOINTS = {
    "SecretsManagerVpcEndpoint",
    "LambdaVpcEndpoint",
    "EventBridgeVpcEndpoint",
    "XRayVpcEndpoint",
    "VpcEndpointSecurityGroup",
}
PROXY = {"DatabaseProxy", "DatabaseProxyTargetGroup", "DatabaseProxyRole", "DatabaseProxySecurityGroup"}
NETWORK = ENDPOINTS | PROXY | {"FunctionSecurityGroup"}


def _deploy(**overrides: str) -> dict[str, Any]:
    return parameter_values(AnthropicApiKeySecretArn=ANTHROPIC_KEY, **overrides)


def test_the_defaults_create_no_network_resources_and_pass_the_rules() -> None:
    parameters = _deploy()
    assert created(parameters).isdisjoint(NETWORK)
    assert failed_rules(parameters) == set()
    # every new resource is conditional: nothing of it reaches a new account uninvited
    for name in NETWORK:
        assert resources()[name]["Condition"] in {
            "HasVpcEndpoints",
            "HasDatabaseProxy",
            "HasFunctionSecurityGroup",
        }, name
    # a VPC alone (the existing option) still creates none of it
    assert created(_deploy(**VPC)).isdisjoint(NETWORK)
    assert failed_rules(_deploy(**VPC)) == set()


def test_vpc_endpoints_only_when_asked_and_only_in_a_vpc() -> None:
    parameters = _deploy(CreateVpcEndpoints="true", **VPC)
    assert failed_rules(parameters) == set()
    assert created(parameters) & NETWORK == ENDPOINTS | {"FunctionSecurityGroup"}
    assert load_template()["Parameters"]["CreateVpcEndpoints"]["Default"] == "false"
    # asked for without a VPC: the deploy stops, and nothing would be created from half a set
    for missing in ({"VpcId": ""}, {"VpcSubnetIds": "", "VpcSecurityGroupIds": ""}):
        half = _deploy(CreateVpcEndpoints="true", **{**VPC, **missing})
        assert "VpcEndpointsNeedVpc" in failed_rules(half), missing
        assert created(half).isdisjoint(NETWORK), missing


@pytest.mark.parametrize(
    ("target", "property_"),
    [
        ("DatabaseProxyTargetClusterId", "DBClusterIdentifiers"),
        ("DatabaseProxyTargetInstanceId", "DBInstanceIdentifiers"),
    ],
)
def test_the_proxy_only_with_a_target_and_its_login(target: str, property_: str) -> None:
    parameters = _deploy(DatabaseCredentialsSecretArn=CREDENTIALS, **{target: "tpg-db"}, **VPC)
    assert failed_rules(parameters) == set()
    assert created(parameters) & NETWORK == PROXY | {"FunctionSecurityGroup"}
    group = resources()["DatabaseProxyTargetGroup"]["Properties"]
    other = ({"DBClusterIdentifiers", "DBInstanceIdentifiers"} - {property_}).pop()
    chosen = conditions(parameters)["HasDatabaseProxyCluster"]
    assert group[property_]["Fn::If"][1 if chosen else 2] == [{"Ref": target}]
    assert group[other]["Fn::If"][1 if chosen else 2] == {"Ref": "AWS::NoValue"}
    # without the login secret or the VPC the deploy stops; nothing is created from half a set
    for missing in ({"DatabaseCredentialsSecretArn": ""}, {"VpcId": ""}, {"VpcSubnetIds": ""}):
        blank = parameter_values(**missing)
        half = {**parameters, **{name: blank[name] for name in missing}}
        assert "DatabaseProxyNeedsVpcAndCredentials" in failed_rules(half), missing
        assert created(half).isdisjoint(PROXY), missing


def test_the_proxy_takes_one_target_not_two() -> None:
    both = _deploy(
        DatabaseCredentialsSecretArn=CREDENTIALS,
        DatabaseProxyTargetClusterId="tpg-aurora",
        DatabaseProxyTargetInstanceId="tpg-rds",
        **VPC,
    )
    assert "DatabaseProxyHasOneTarget" in failed_rules(both)
    for name in ("DatabaseProxyTargetClusterId", "DatabaseProxyTargetInstanceId"):
        pattern = load_template()["Parameters"][name]["AllowedPattern"]
        for value, allowed in [("", True), ("tpg-db-1", True), ("1db", False), ("db--x", False)]:
            assert bool(re.fullmatch(pattern, value)) is allowed, (name, value)


def test_the_proxy_requires_tls_and_logs_in_with_the_credentials_secret() -> None:
    proxy = resources("AWS::RDS::DBProxy")["DatabaseProxy"]["Properties"]
    assert proxy["EngineFamily"] == "POSTGRESQL"
    assert proxy["RequireTLS"] is True
    (auth,) = proxy["Auth"]
    assert auth["AuthScheme"] == "SECRETS"
    assert auth["IAMAuth"] == "DISABLED"
    # the username/password JSON secret, never the URL secret the functions read
    assert auth["SecretArn"] == {"Ref": "DatabaseCredentialsSecretArn"}
    assert proxy["RoleArn"] == {"Fn::GetAtt": ["DatabaseProxyRole", "Arn"]}
    assert proxy["VpcSubnetIds"] == {"Ref": "VpcSubnetIds"}
    assert proxy["VpcSecurityGroupIds"] == [{"Ref": "DatabaseProxySecurityGroup"}]
    group = resources()["DatabaseProxyTargetGroup"]["Properties"]
    assert group["DBProxyName"] == {"Ref": "DatabaseProxy"}
    # a full pool answers before the trigger's timeout does
    assert group["ConnectionPoolConfigurationInfo"]["ConnectionBorrowTimeout"] < _setting(
        "TriggerFunction", "Timeout"
    )


def test_the_proxy_role_reads_only_the_credentials_secret() -> None:
    role = resources("AWS::IAM::Role")["DatabaseProxyRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "rds.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    (policy,) = role["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue",
        "Resource": {"Ref": "DatabaseCredentialsSecretArn"},
    }


@pytest.mark.parametrize(
    ("group", "port"), [("VpcEndpointSecurityGroup", 443), ("DatabaseProxySecurityGroup", 5432)]
)
def test_the_proxy_and_the_endpoints_admit_only_the_functions(group: str, port: int) -> None:
    properties = resources("AWS::EC2::SecurityGroup")[group]["Properties"]
    assert properties["VpcId"] == {"Ref": "VpcId"}
    (ingress,) = properties["SecurityGroupIngress"]
    assert (ingress["IpProtocol"], ingress["FromPort"], ingress["ToPort"]) == ("tcp", port, port)
    assert ingress["SourceSecurityGroupId"] == {"Ref": "FunctionSecurityGroup"}
    assert "CidrIp" not in ingress
    # ... and the functions carry that group, next to the given ones
    groups = _globals()["VpcConfig"]["Fn::If"][1]["SecurityGroupIds"]["Fn::If"]
    assert groups[0] == "HasFunctionSecurityGroup"
    assert "FunctionSecurityGroup" in str(groups[1]) and "VpcSecurityGroupIds" in str(groups[1])
    assert groups[2] == {"Ref": "VpcSecurityGroupIds"}


def _endpoint_services() -> dict[str, str]:
    found = {}
    for name, endpoint in resources("AWS::EC2::VPCEndpoint").items():
        properties = endpoint["Properties"]
        assert properties["VpcEndpointType"] == "Interface"
        assert properties["PrivateDnsEnabled"] is True
        assert properties["SubnetIds"] == {"Ref": "VpcSubnetIds"}
        assert properties["SecurityGroupIds"] == [{"Ref": "VpcEndpointSecurityGroup"}]
        found[properties["ServiceName"]["Fn::Sub"].rsplit(".", 1)[1]] = name
    return found


def test_there_is_an_endpoint_for_every_aws_service_the_code_calls() -> None:
    from tests.unit.cfn_template import TEMPLATE

    source = "\n".join(p.read_text() for p in (TEMPLATE.parent / "shared" / "tpg").rglob("*.py"))
    called = set(re.findall(r"\bclient\(\s*\"([a-z0-9-]+)\"", source))
    # a new client: a new endpoint? Not for the Management API: no interface endpoint serves
    # @connections of a public WebSocket API, so in a VPC pushes go out through the NAT gateway
    # (docs/operations.md, "Network and database access").
    assert called == {"secretsmanager", "lambda", "events", "apigatewaymanagementapi"}, called
    assert set(_endpoint_services()) == called - {"apigatewaymanagementapi"} | {"xray"}  # + trace segments


def test_endpoint_policies_admit_only_what_the_functions_do() -> None:
    granted: dict[str, list[Any]] = {}
    for role in ("TriggerRole", "GenerateRole", "SweeperRole"):
        statements = resources()[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        for statement in _statements(statements):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            for action in actions:
                granted.setdefault(action, []).append(statement["Resource"])
    for service, name in _endpoint_services().items():
        (statement,) = resources()[name]["Properties"]["PolicyDocument"]["Statement"]
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            assert action.startswith(f"{service}:") and action in granted, (name, action)
        if statement["Resource"] == "*":
            assert set(actions) <= WILDCARD_ALLOWED_ACTIONS, name
            continue
        # every resource the endpoint admits is one some role is granted
        admitted = _statements([{"Effect": "Allow", "Resource": statement["Resource"]}])[0]["Resource"]
        branches = (
            admitted["Fn::If"][1:] if isinstance(admitted, dict) and "Fn::If" in admitted else [admitted]
        )
        roles_resources = str(granted[actions[0]])
        for branch in branches:
            for resource in branch if isinstance(branch, list) else [branch]:
                assert str(resource) in roles_resources, (name, resource)


def test_the_operations_guide_documents_network_and_database_access() -> None:
    from tests.unit.cfn_template import TEMPLATE

    text = (TEMPLATE.parent / "docs" / "operations.md").read_text()
    section = text.split("## Network and database access", 1)[1].split("\n## ", 1)[0]
    for needle in (
        "VpcId",
        "CreateVpcEndpoints",
        "DatabaseProxyTargetClusterId",
        "DatabaseProxyTargetInstanceId",
        "DatabaseCredentialsSecretArn",
        "6543",
        "api.anthropic.com",
        "NAT",
        "OfflineTierShareAlarm",
        "DatabaseProxyEndpoint",
    ):
        assert needle in section, needle


# ------------------------------------------------------------------------------ realtime


PUSHERS = ("TriggerRole", "GenerateRole", "SweeperRole")


def test_the_websocket_api_sends_its_three_routes_to_the_realtime_function() -> None:
    api = resources("AWS::ApiGatewayV2::Api")["RealtimeApi"]["Properties"]
    assert api["ProtocolType"] == "WEBSOCKET"
    integration = resources("AWS::ApiGatewayV2::Integration")["RealtimeIntegration"]["Properties"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert "${RealtimeFunction.Arn}" in integration["IntegrationUri"]["Fn::Sub"]
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"] for r in resources("AWS::ApiGatewayV2::Route").values()
    }
    assert set(routes) == {"$connect", "$disconnect", "$default"}
    for route in routes.values():
        assert route["ApiId"] == {"Ref": "RealtimeApi"}
        assert route["Target"] == {"Fn::Sub": "integrations/${RealtimeIntegration}"}
    # the pong is the $default route's response
    assert routes["$default"]["RouteResponseSelectionExpression"] == "$default"
    (response,) = resources("AWS::ApiGatewayV2::RouteResponse").values()
    assert response["Properties"]["RouteId"] == {"Ref": "RealtimeDefaultRoute"}
    permission = resources("AWS::Lambda::Permission")["RealtimeInvokePermission"]["Properties"]
    assert permission["FunctionName"] == {"Ref": "RealtimeFunction"}
    # this API's stage only: not another stage's or API's routes
    assert permission["SourceArn"]["Fn::Sub"].endswith(":${RealtimeApi}/${Stage}/*")


def test_the_websocket_stage_is_throttled_and_never_logs_the_ticket() -> None:
    stage = resources("AWS::ApiGatewayV2::Stage")["RealtimeStage"]
    properties = stage["Properties"]
    assert properties["StageName"] == {"Ref": "Stage"}
    assert properties["AutoDeploy"] is True
    assert set(stage["DependsOn"]) == {
        "RealtimeConnectRoute",
        "RealtimeDisconnectRoute",
        "RealtimeDefaultRoute",
    }
    assert properties["DefaultRouteSettings"]["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    log_format = properties["AccessLogSettings"]["Format"]
    assert "$context.connectionId" in log_format
    # the ticket travels in $connect's query string: no variable that holds it is logged
    assert not re.search(r"querystring|\$input|\$request|path", log_format, re.IGNORECASE), log_format
    group = resources("AWS::Logs::LogGroup")["RealtimeAccessLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_only_the_pushers_may_manage_connections_and_only_of_this_api() -> None:
    for name, role in resources("AWS::IAM::Role").items():
        statements = [
            s
            for policy in role["Properties"].get("Policies", [])
            for s in _statements(policy["PolicyDocument"]["Statement"])
            if "execute-api" in str(s["Action"])
        ]
        if name not in PUSHERS:
            assert statements == [], name
            continue
        (statement,) = statements
        assert statement["Action"] == "execute-api:ManageConnections"
        resource = statement["Resource"]["Fn::Sub"]
        assert resource.endswith(":${RealtimeApi}/${Stage}/POST/@connections/*"), (name, resource)


@pytest.mark.parametrize("function", ["TriggerFunction", "GenerateFunction", "SweeperFunction"])
def test_the_pushers_are_given_the_management_endpoint_of_the_stage(function: str) -> None:
    endpoint = _env(function)["REALTIME_MANAGEMENT_ENDPOINT"]["Fn::Sub"]
    assert endpoint == "https://${RealtimeApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Stage}"
    assert Settings.model_fields["realtime_management_endpoint"].json_schema_extra == {
        "env": "REALTIME_MANAGEMENT_ENDPOINT"
    }


def test_tickets_point_at_the_stage_and_have_their_route() -> None:
    url = _env("TriggerFunction")["REALTIME_WEBSOCKET_URL"]["Fn::Sub"]
    assert url == "wss://${RealtimeApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Stage}"
    assert Settings.model_fields["realtime_websocket_url"].json_schema_extra == {
        "env": "REALTIME_WEBSOCKET_URL"
    }
    ticket = _function("TriggerFunction")["Events"]["CreateRealtimeTicket"]["Properties"]
    assert (ticket["Method"], ticket["Path"]) == ("POST", "/realtime/tickets")
    # the realtime function needs neither: it pushes nothing
    assert not {"REALTIME_WEBSOCKET_URL", "REALTIME_MANAGEMENT_ENDPOINT"} & set(_env("RealtimeFunction"))


def test_the_realtime_function_has_a_reservation_of_its_own_set_for_prod() -> None:
    # A reconnect storm must not take the unreserved pool the trigger answers from; 0 by default,
    # like generate's, so a first deploy on a new account (quota 10) works.
    parameter = load_template()["Parameters"]["RealtimeReservedConcurrency"]
    assert (parameter["Default"], parameter["MinValue"]) == (0, 0)
    assert _function("RealtimeFunction")["ReservedConcurrentExecutions"] == {
        "Fn::If": [
            "HasRealtimeReservedConcurrency",
            {"Ref": "RealtimeReservedConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert conditions(parameter_values())["HasRealtimeReservedConcurrency"] is False
    assert conditions(parameter_values(RealtimeReservedConcurrency="20"))["HasRealtimeReservedConcurrency"]
    from tpg_local.preflight import load_environment

    prod = load_environment(TEMPLATE.parent / "samconfig.toml", "prod").overrides
    assert 10 <= int(prod["RealtimeReservedConcurrency"]) <= 20


def test_the_api_gateway_logging_role_only_when_asked_and_the_stage_waits_for_it() -> None:
    # The WebSocket stage's access log needs the account's API Gateway CloudWatch Logs role (an
    # account and region singleton): created only with CreateApiGatewayCloudWatchRole=true.
    parameter = load_template()["Parameters"]["CreateApiGatewayCloudWatchRole"]
    assert parameter["Default"] == "false"
    new = {"ApiGatewayCloudWatchRole", "ApiGatewayAccount"}
    assert not new & created(parameter_values())
    assert new <= created(parameter_values(CreateApiGatewayCloudWatchRole="true"))
    account = resources("AWS::ApiGateway::Account")["ApiGatewayAccount"]
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}
    role = resources("AWS::IAM::Role")["ApiGatewayCloudWatchRole"]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "apigateway.amazonaws.com"}
    # the account setting outlives the stack: its role must too
    assert (role["DeletionPolicy"], account["DeletionPolicy"]) == ("Retain", "Retain")
    # DependsOn cannot be conditional: the stage refers to the account setting when it is created
    stage = resources("AWS::ApiGatewayV2::Stage")["RealtimeStage"]
    assert stage["Metadata"]["ApiGatewayAccount"] == {
        "Fn::If": ["CreatesApiGatewayAccountRole", {"Ref": "ApiGatewayAccount"}, "not created"]
    }


def test_the_sweeper_publishes_with_a_longer_push_deadline_than_the_api() -> None:
    # The API and generate publish one state (the default, 1 s, inside the trigger's 10 s); a sweep
    # publishes all it changed at once, within its 120 s.
    assert "REALTIME_PUSH_DEADLINE_SECONDS" not in _env("TriggerFunction")
    assert Settings.model_fields["realtime_push_deadline_seconds"].default == 1.0
    assert float(_env("SweeperFunction")["REALTIME_PUSH_DEADLINE_SECONDS"]) < _setting(
        "SweeperFunction", "Timeout"
    )
