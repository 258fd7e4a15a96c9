"""`make preflight` (tpg_local.preflight): samconfig.toml files written per test, secrets in moto, the
database URL answering (the test database) or not (a closed port)."""

from __future__ import annotations

import socket
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from tpg_local import preflight

REGION = "eu-west-1"
ACCOUNT = "210987654321"  # not a documentation account (moto's default, 123456789012, is one)
ISSUER = "https://abcdefghijklmnopqrst.supabase.co/auth/v1"


def _arn(name: str) -> str:
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:tpg/prod/{name}-Ab12Cd"


def _good_overrides(**changes: str | None) -> dict[str, str]:
    values: dict[str, str | None] = {
        "Stage": "prod",
        "GenerateReservedConcurrency": "450",
        "DatabaseUrlSecretArn": _arn("database-url"),
        "JwtSecretArn": _arn("jwt-secret"),
        "AnthropicApiKeySecretArn": _arn("anthropic-api-key"),
        "LlmProvider": "anthropic",
        "JwtAudience": "authenticated",
        "JwtIssuer": ISSUER,
        "CorsAllowOrigin": "https://app.fitness-coach.io",
        "AlarmEmail": "oncall@fitness-coach.io",
        "ApiThrottlingRateLimit": "400",
        "ApiThrottlingBurstLimit": "800",
    }
    values.update(changes)
    return {key: value for key, value in values.items() if value is not None}


def _write_config(tmp_path: Path, overrides: dict[str, str], env: str = "prod") -> Path:
    items = "".join(f'    "{key}={value}",\n' for key, value in overrides.items())
    path = tmp_path / "samconfig.toml"
    path.write_text(
        f'version = 0.1\n\n[{env}.global.parameters]\nstack_name = "tpg-{env}"\nregion = "{REGION}"\n\n'
        f"[{env}.deploy.parameters]\nparameter_overrides = [\n{items}]\n"
    )
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    # The account quota is given unless a test is about it (prod refuses to guess it).
    quota = (
        [] if "--account-concurrency" in args or "--no-quota" in args else ["--account-concurrency", "1000"]
    )
    code = preflight.main([a for a in args if a != "--no-quota"] + quota)
    out, err = capsys.readouterr()
    return code, [line for line in err.splitlines() if line], out


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "MOTO_ACCOUNT_ID": ACCOUNT,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def _create_secrets(client, database_url: str) -> dict[str, str]:
    """The three secrets, plain strings; their real ARNs (moto's random suffixes) by parameter."""
    values = {
        "DatabaseUrlSecretArn": ("tpg/prod/database-url", database_url),
        "JwtSecretArn": ("tpg/prod/jwt-secret", "a-long-random-supabase-jwt-secret-0123456789"),
        "AnthropicApiKeySecretArn": ("tpg/prod/anthropic-api-key", "sk-ant-test-key"),
    }
    return {
        key: client.create_secret(Name=name, SecretString=value)["ARN"]
        for key, (name, value) in values.items()
    }


# ---------------------------------------------------------------------------- static checks


def test_a_good_config_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _write_config(tmp_path, _good_overrides())
    code, problems, out = _run(capsys, "--env", "prod", "--config", str(config), "--no-check-aws")
    assert (code, problems) == (0, [])
    assert "preflight: prod: ok" in out


def test_placeholders_are_refused_one_clear_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write_config(
        tmp_path,
        _good_overrides(
            DatabaseUrlSecretArn="arn:aws:secretsmanager:eu-west-1:123456789012:secret:tpg/prod/database-url-REPLACE",
            JwtSecretArn="arn:aws:secretsmanager:eu-west-1:000000000000:secret:tpg/prod/jwt-secret-Ab12Cd",
            JwtIssuer="https://REPLACE.supabase.co/auth/v1",
            CorsAllowOrigin="https://app.example.com",
            AlarmEmail="CHANGE_ME",
        ),
    )
    code, problems, _ = _run(capsys, "--env", "prod", "--config", str(config), "--no-check-aws")
    assert code == 1
    assert problems[-1] == "preflight: prod: 5 problem(s); fix them before `sam deploy`"
    by_parameter = {line.split(": ")[2]: line for line in problems[:-1]}
    assert set(by_parameter) == {
        "DatabaseUrlSecretArn",
        "JwtSecretArn",
        "JwtIssuer",
        "CorsAllowOrigin",
        "AlarmEmail",
    }
    assert by_parameter["DatabaseUrlSecretArn"] == (
        "preflight: prod: DatabaseUrlSecretArn: arn:aws:secretsmanager:eu-west-1:123456789012:secret:"
        "tpg/prod/database-url-REPLACE contains the placeholder 'REPLACE'; replace it with the full ARN "
        "printed by `aws secretsmanager create-secret --name tpg/prod/database-url`"
    )
    assert "names the example account 000000000000" in by_parameter["JwtSecretArn"]
    assert "https://<ref>.supabase.co/auth/v1" in by_parameter["JwtIssuer"]
    assert "example domain" in by_parameter["CorsAllowOrigin"]
    assert "'CHANGE_ME'" in by_parameter["AlarmEmail"]


@pytest.mark.parametrize(
    ("changes", "parameter", "expected"),
    [
        (
            {"DatabaseUrlSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:tpg/prod/db-url"},
            "DatabaseUrlSecretArn",
            "not a full Secrets Manager ARN",
        ),
        (
            {"JwtSecretArn": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:tpg/prod/jwt-secret-Ab12Cd"},
            "JwtSecretArn",
            "the secret is in us-east-1 but the stack deploys to eu-west-1",
        ),
        ({"AnthropicApiKeySecretArn": None}, "AnthropicApiKeySecretArn", "is not set"),
        ({"AlarmEmail": None}, "AlarmEmail", "is not set: nobody would hear the alarms"),
        ({"JwtIssuer": None}, "JwtIssuer", "is not set"),
        (
            {"JwtIssuer": "http://abcdefghijklmnopqrst.supabase.co/auth/v1"},
            "JwtIssuer",
            "is not an https URL",
        ),
        (
            {"GenerateReservedConcurrency": "950"},
            "GenerateReservedConcurrency",
            "950 exceeds what an account concurrency quota of 1000 allows (900",
        ),
        ({"ApiThrottlingBurstLimit": "100"}, "ApiThrottlingBurstLimit", "below the rate limit 400"),
        ({"LlmProvider": "offline"}, "LlmProvider", "prod must use anthropic"),
        ({"Stage": "dev"}, "Stage", "is dev in the prod environment"),
    ],
)
def test_each_problem_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], changes: dict, parameter: str, expected: str
) -> None:
    config = _write_config(tmp_path, _good_overrides(**changes))
    code, problems, _ = _run(capsys, "--env", "prod", "--config", str(config), "--no-check-aws")
    assert code == 1
    assert len(problems) == 2, problems  # the problem and the count
    assert problems[0].startswith(f"preflight: prod: {parameter}: ")
    assert expected in problems[0]


def test_the_account_quota_passed_decides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _write_config(tmp_path, _good_overrides())
    code, problems, _ = _run(
        capsys, "--env", "prod", "--config", str(config), "--no-check-aws", "--account-concurrency", "10"
    )
    assert code == 1
    assert "request a quota >= 550 in Service Quotas" in problems[0]


def test_dev_may_do_without_alarm_email_but_not_placeholders(tmp_path: Path, capsys) -> None:
    overrides = _good_overrides(
        Stage="dev", AlarmEmail=None, LlmProvider="offline", AnthropicApiKeySecretArn=None
    )
    config = _write_config(tmp_path, overrides, env="dev")
    assert _run(capsys, "--env", "dev", "--config", str(config), "--no-check-aws")[0] == 0


def test_the_repository_samconfig_names_what_to_replace(capsys: pytest.CaptureFixture[str]) -> None:
    for env in ("dev", "prod"):
        code, problems, _ = _run(capsys, "--env", env, "--no-check-aws")
        assert code == 1
        text = "\n".join(problems)
        for parameter in ("DatabaseUrlSecretArn", "JwtSecretArn", "AnthropicApiKeySecretArn", "JwtIssuer"):
            assert f"preflight: {env}: {parameter}: " in text
            assert "replace it with" in text


def test_an_unknown_environment_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _write_config(tmp_path, _good_overrides())
    code, problems, _ = _run(capsys, "--env", "staging", "--config", str(config), "--no-check-aws")
    assert code == 2
    assert problems == [f"preflight: {config} has no environment 'staging'; choose one of prod"]


# ---------------------------------------------------------------------------- AWS checks (moto)


def _set_logging_role() -> str:
    """The account's API Gateway CloudWatch Logs role, as the console's Settings page sets it."""
    role = boto3.client("iam").create_role(
        RoleName="apigateway-cloudwatch-logs",
        AssumeRolePolicyDocument='{"Version": "2012-10-17", "Statement": []}',
    )["Role"]["Arn"]
    boto3.client("apigateway", region_name=REGION).update_account(
        patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": role}]
    )
    return role


def test_existing_secrets_and_a_database_that_answers_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], aws, database: str
) -> None:
    _set_logging_role()
    arns = _create_secrets(aws, database)
    config = _write_config(tmp_path, _good_overrides(**arns))
    code, problems, out = _run(capsys, "--env", "prod", "--config", str(config), "--check-aws")
    assert (code, problems) == (0, [])
    assert "preflight: prod: ok" in out
    assert database not in out  # the secret's value is never printed


def test_a_database_that_does_not_answer_is_named(tmp_path: Path, capsys, aws) -> None:
    _set_logging_role()
    port = _closed_port()
    url = f"postgresql://tpg_app:s3cret-password@127.0.0.1:{port}/postgres"
    arns = _create_secrets(aws, url)
    config = _write_config(tmp_path, _good_overrides(**arns))
    code, problems, out = _run(capsys, "--env", "prod", "--config", str(config), "--check-aws")
    assert code == 1
    assert len(problems) == 2
    assert problems[0].startswith(
        "preflight: prod: DatabaseUrlSecretArn: the database URL in the secret"
        f" 127.0.0.1:{port} does not answer within 5 s"
    )
    assert "s3cret-password" not in "\n".join(problems) + out


def test_missing_and_json_secrets_are_named(tmp_path: Path, capsys, aws, database: str) -> None:
    _set_logging_role()
    arns = _create_secrets(aws, database)
    aws.put_secret_value(SecretId=arns["JwtSecretArn"], SecretString='{"secret": "value"}')
    missing = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:tpg/prod/anthropic-api-key-Zz99Zz"
    config = _write_config(tmp_path, _good_overrides(**{**arns, "AnthropicApiKeySecretArn": missing}))
    code, problems, _ = _run(capsys, "--env", "prod", "--config", str(config), "--check-aws")
    assert code == 1
    assert problems[:2] == [
        f"preflight: prod: JwtSecretArn: {arns['JwtSecretArn']} holds JSON;"
        " store the plain value, not a key/value pair",
        f"preflight: prod: AnthropicApiKeySecretArn: no secret {missing} in {REGION}; create it "
        "(docs/operations.md) or fix the ARN",
    ]


def test_an_account_without_the_api_gateway_logging_role_is_named(
    tmp_path: Path, capsys, aws, database: str
) -> None:
    """The WebSocket stage's access log needs the account's API Gateway CloudWatch Logs role: without
    it the stack fails to create. Preflight says so, and that the template can create it."""
    arns = _create_secrets(aws, database)
    config = _write_config(tmp_path, _good_overrides(**arns))
    code, problems, _ = _run(capsys, "--env", "prod", "--config", str(config), "--check-aws")
    assert code == 1
    assert len(problems) == 2, problems
    assert problems[0].startswith(
        f"preflight: prod: CreateApiGatewayCloudWatchRole: API Gateway in {REGION} has no CloudWatch"
        " Logs role"
    )
    assert "set CreateApiGatewayCloudWatchRole=true" in problems[0]
    # asking the stack to create it passes
    config = _write_config(tmp_path, _good_overrides(**arns, CreateApiGatewayCloudWatchRole="true"))
    assert _run(capsys, "--env", "prod", "--config", str(config), "--check-aws")[:2] == (0, [])


def test_a_logging_role_that_exists_is_kept_and_a_deleted_one_named(
    tmp_path: Path, capsys, aws, database: str
) -> None:
    role = _set_logging_role()
    arns = _create_secrets(aws, database)
    config = _write_config(tmp_path, _good_overrides(**arns, CreateApiGatewayCloudWatchRole="true"))
    code, problems, out = _run(capsys, "--env", "prod", "--config", str(config), "--check-aws")
    assert (code, problems) == (0, [])
    assert f"already logs with {role}: CreateApiGatewayCloudWatchRole=true would replace it" in out
    boto3.client("iam").delete_role(RoleName="apigateway-cloudwatch-logs")
    config = _write_config(tmp_path, _good_overrides(**arns))
    code, problems, _ = _run(capsys, "--env", "prod", "--config", str(config), "--check-aws")
    assert code == 1
    assert f"logs with {role}, which no longer exists" in problems[0]


def test_check_aws_without_credentials_is_a_problem(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(preflight, "aws_credentials_available", lambda: False)
    config = _write_config(tmp_path, _good_overrides())
    code, problems, _ = _run(capsys, "--env", "prod", "--config", str(config), "--check-aws")
    assert code == 1
    assert problems[0].startswith("preflight: prod: AWS: --check-aws but no AWS credentials found")


def test_prod_without_a_known_quota_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """450 reserved environments on a new account (quota 10) would fail the deploy: prod must know."""
    code, problems, _ = _run(capsys, "--env", "prod", "--no-check-aws", "--no-quota")
    assert code == 1
    assert any("concurrency quota is unknown" in line for line in problems)


def test_both_reservations_count_against_the_quota() -> None:
    report = preflight.Report(env="prod")
    overrides = {"GenerateReservedConcurrency": "450", "RealtimeReservedConcurrency": "20"}
    preflight.check_concurrency(overrides, report, 560)
    (problem,) = report.problems
    assert problem.startswith(
        "preflight: prod: GenerateReservedConcurrency: 470 (450 generate + 20 realtime) exceeds"
    )
    assert "request a quota >= 570" in problem
    report = preflight.Report(env="prod")
    preflight.check_concurrency(overrides, report, 570)
    assert report.problems == []
    report = preflight.Report(env="prod")
    preflight.check_concurrency({"RealtimeReservedConcurrency": "101"}, report, 1000)
    assert report.problems == [
        "preflight: prod: RealtimeReservedConcurrency: 101 is outside the template's 0-100 (0: none reserved)"
    ]


def test_no_reservation_needs_no_quota() -> None:
    """GenerateReservedConcurrency=0 (the template's default) reserves nothing: fine on any account."""
    report = preflight.Report(env="dev")
    preflight.check_concurrency({"GenerateReservedConcurrency": "0"}, report, 10)
    assert report.problems == []
