"""Checks an environment of samconfig.toml before `sam deploy` (`make preflight ENV=prod`).

    python -m tpg_local.preflight --env prod [--config samconfig.toml] [--account-concurrency N]
                                  [--check-aws | --no-check-aws]

Reads `parameter_overrides` of `[<env>.deploy.parameters]` and prints one line per problem, each
`preflight: <env>: <Parameter>: <what is wrong>; <what to do>`, then exits 1 (0 when none, 2 on bad
usage: no such file or environment). Without AWS:

- no placeholder values (`REPLACE`, `CHANGE_ME`, `<...>`, example.com/.org/.net hosts and addresses,
  the documentation account ids 000000000000 and 123456789012);
- the secret ARNs are full Secrets Manager ARNs (with the 6-character suffix), in the stack's region;
- `JwtIssuer` is set and https; prod: `AlarmEmail` set, `LlmProvider=anthropic`, an https CORS origin;
- `GenerateReservedConcurrency` plus `RealtimeReservedConcurrency` leave Lambda's 100 unreserved
  within the account's concurrency quota (`--account-concurrency`, else the account's own with AWS
  checks, else 1000); the API throttles are positive and burst >= rate.

With AWS credentials (or `--check-aws`): each secret exists and has a value, the database URL in
its secret answers `SELECT 1` within 5 s, and API Gateway has the account's CloudWatch Logs role the
WebSocket stage's access log needs (or `CreateApiGatewayCloudWatchRole=true` creates it). Secret
values are never printed.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "samconfig.toml"
DEFAULT_ACCOUNT_CONCURRENCY = 1000  # Lambda's default quota per region (new accounts may have 10)
LAMBDA_MIN_UNRESERVED = 100  # Lambda refuses a reservation that leaves less unreserved
TEMPLATE_MAX_RESERVED = 1000  # template.yaml: GenerateReservedConcurrency MaxValue
TEMPLATE_MAX_REALTIME_RESERVED = 100  # template.yaml: RealtimeReservedConcurrency MaxValue
DATABASE_TIMEOUT_SECONDS = 5

SECRET_PARAMETERS = ("DatabaseUrlSecretArn", "JwtSecretArn", "AnthropicApiKeySecretArn")
_SECRET_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):secretsmanager:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):"
    r"secret:(?P<name>[A-Za-z0-9/_+=.@-]+)-(?P<suffix>[A-Za-z0-9]{6})$"
)
_PLACEHOLDER_ACCOUNTS = ("000000000000", "123456789012")
# Upper case only (a Supabase ref is lower case and could hold "todo"), but change-me in any case.
_PLACEHOLDER_WORDS = re.compile(r"REPLACE|CHANGE[_-]?ME|TODO|FIXME|YOUR[_-]|(?i:change[_-]?me)|<[^>]*>")
_EXAMPLE_DOMAIN = re.compile(r"(^|[./@])example\.(com|org|net)(?=$|[/:?#])", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# What each parameter should hold, said when it is a placeholder.
_WHAT = {
    "DatabaseUrlSecretArn": (
        "the full ARN printed by `aws secretsmanager create-secret --name tpg/{env}/database-url`"
    ),
    "JwtSecretArn": "the full ARN printed by `aws secretsmanager create-secret --name tpg/{env}/jwt-secret`",
    "AnthropicApiKeySecretArn": (
        "the full ARN printed by `aws secretsmanager create-secret --name tpg/{env}/anthropic-api-key`"
    ),
    "JwtIssuer": "your Supabase project's issuer, https://<ref>.supabase.co/auth/v1",
    "JwtJwksUrl": "https://<ref>.supabase.co/auth/v1/.well-known/jwks.json, or remove it",
    "CorsAllowOrigin": "the web app's exact origin, e.g. https://app.<your domain>",
    "AlarmEmail": "the on-call address that receives the alarms",
}


class UsageError(Exception):
    """Bad usage: no such file or environment (exit 2)."""


@dataclass
class Report:
    env: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def problem(self, parameter: str, message: str) -> None:
        self.problems.append(f"preflight: {self.env}: {parameter}: {message}")


@dataclass
class Environment:
    name: str
    region: str | None
    overrides: dict[str, str]


def load_environment(config: Path, env: str) -> Environment:
    """`env`'s parameter overrides (a list of `Key=Value` or one space-separated string, as SAM takes)."""
    try:
        document = tomllib.loads(config.read_text())
    except FileNotFoundError as exc:
        raise UsageError(f"no such file: {config}; pass --config PATH") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{config} is not valid TOML: {exc}") from exc
    section = document.get(env)
    if not isinstance(section, dict) or env == "version":
        names = sorted(k for k, v in document.items() if isinstance(v, dict) and k != "default")
        raise UsageError(f"{config} has no environment {env!r}; choose one of {', '.join(names) or 'none'}")
    deploy = section.get("deploy", {}).get("parameters", {})
    raw = deploy.get("parameter_overrides", [])
    items = shlex.split(raw) if isinstance(raw, str) else [str(item) for item in raw]
    overrides: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if sep:
            overrides[key.strip()] = value.strip()
    region = (
        deploy.get("region")
        or section.get("global", {}).get("parameters", {}).get("region")
        or document.get("default", {}).get("global", {}).get("parameters", {}).get("region")
    )
    return Environment(env, region, overrides)


def placeholder_reason(value: str) -> str | None:
    """Why `value` looks like a placeholder, or None."""
    if match := _PLACEHOLDER_WORDS.search(value):
        return f"contains the placeholder {match.group(0)!r}"
    for account in _PLACEHOLDER_ACCOUNTS:
        if f":{account}:" in value:
            return f"names the example account {account}"
    if _EXAMPLE_DOMAIN.search(value):
        return "uses an example domain (example.com/.org/.net)"
    return None


def check_static(env: Environment, report: Report, account_concurrency: int) -> None:
    o, name = env.overrides, env.name
    prod = o.get("Stage", name) == "prod" or name == "prod"
    if not o:
        report.problem(
            "parameter_overrides", f"none in [{name}.deploy.parameters]; add them (see samconfig.toml)"
        )
        return
    stage = o.get("Stage")
    if stage not in ("dev", "prod"):
        report.problem("Stage", f"is {stage!r}; set Stage=dev or Stage=prod")
    elif stage != name and name in ("dev", "prod"):
        report.problem("Stage", f"is {stage} in the {name} environment; set Stage={name}")

    for key, value in o.items():
        reason = placeholder_reason(value)
        if reason is not None:
            what = _WHAT.get(key, "the real value").format(env=name)
            report.problem(key, f"{value} {reason}; replace it with {what}")

    provider = o.get("LlmProvider", "anthropic")
    if provider not in ("anthropic", "offline"):
        report.problem("LlmProvider", f"is {provider!r}; set anthropic or offline")
    if prod and provider != "anthropic":
        report.problem(
            "LlmProvider", "prod must use anthropic (the template refuses offline); set LlmProvider=anthropic"
        )
    required = ["DatabaseUrlSecretArn", "JwtSecretArn"] + (
        ["AnthropicApiKeySecretArn"] if provider == "anthropic" else []
    )
    for key in SECRET_PARAMETERS:
        value = o.get(key, "")
        if not value:
            if key in required:
                report.problem(key, f"is not set; add {key}={_WHAT[key].format(env=name)}")
            continue
        if placeholder_reason(value) is not None:
            continue  # already said
        match = _SECRET_ARN.match(value)
        if match is None:
            report.problem(
                key,
                f"{value} is not a full Secrets Manager ARN (arn:aws:secretsmanager:<region>:<account>:"
                "secret:<name>-<6 characters>); copy the ARN create-secret printed, suffix included",
            )
        elif env.region and match["region"] != env.region:
            report.problem(
                key,
                f"the secret is in {match['region']} but the stack deploys to {env.region}; "
                f"create the secret in {env.region} (the functions read it there)",
            )

    issuer = o.get("JwtIssuer", "")
    if not issuer:
        report.problem(
            "JwtIssuer", f"is not set (every token would be refused); add JwtIssuer={_WHAT['JwtIssuer']}"
        )
    elif placeholder_reason(issuer) is None:
        parts = urlsplit(issuer)
        if parts.scheme != "https" or not parts.hostname:
            report.problem("JwtIssuer", f"{issuer} is not an https URL; set {_WHAT['JwtIssuer']}")
    jwks = o.get("JwtJwksUrl", "")
    if jwks and placeholder_reason(jwks) is None and not jwks.startswith("https://"):
        report.problem("JwtJwksUrl", f"{jwks} is not an https URL; set {_WHAT['JwtJwksUrl']}")

    origin = o.get("CorsAllowOrigin", "")
    if origin and placeholder_reason(origin) is None:
        if "*" in origin or not re.match(r"^https?://[^/,*]+$", origin):
            report.problem(
                "CorsAllowOrigin", f"{origin} is not one exact origin; set {_WHAT['CorsAllowOrigin']}"
            )
        elif prod and not origin.startswith("https://"):
            report.problem(
                "CorsAllowOrigin", f"{origin} is not https in prod; set {_WHAT['CorsAllowOrigin']}"
            )

    email = o.get("AlarmEmail", "")
    if not email:
        if prod:
            report.problem(
                "AlarmEmail",
                f"is not set: nobody would hear the alarms; add AlarmEmail=<{_WHAT['AlarmEmail']}>",
            )
    elif placeholder_reason(email) is None and not _EMAIL.match(email):
        report.problem("AlarmEmail", f"{email} is not an e-mail address; set {_WHAT['AlarmEmail']}")

    check_concurrency(o, report, account_concurrency)


def _reservation(o: dict[str, str], report: Report, key: str, maximum: int) -> int | None:
    """`key`'s reserved concurrency (0 when unset: the template's default), None when invalid."""
    value = o.get(key)
    if value is None:
        report.notes.append(f"{key} not set: the template's default (0: none reserved)")
        return 0
    try:
        reserved = int(value)
    except ValueError:
        report.problem(key, f"{value!r} is not a whole number; set 0-{maximum}")
        return None
    if not 0 <= reserved <= maximum:
        report.problem(key, f"{reserved} is outside the template's 0-{maximum} (0: none reserved)")
        return None
    return reserved


def check_concurrency(o: dict[str, str], report: Report, account_concurrency: int) -> None:
    generate = _reservation(o, report, "GenerateReservedConcurrency", TEMPLATE_MAX_RESERVED)
    realtime = _reservation(o, report, "RealtimeReservedConcurrency", TEMPLATE_MAX_REALTIME_RESERVED)
    if generate is not None and realtime is not None and generate + realtime > 0:
        reserved = generate + realtime
        allowed = account_concurrency - LAMBDA_MIN_UNRESERVED
        # Named after the larger reservation: the one to lower (or to request the quota for).
        key = "GenerateReservedConcurrency" if generate >= realtime else "RealtimeReservedConcurrency"
        both = (
            f"{reserved} ({generate} generate + {realtime} realtime)"
            if generate and realtime
            else str(reserved)
        )
        if reserved > allowed:
            report.problem(
                key,
                f"{both} exceeds what an account concurrency quota of {account_concurrency} allows "
                f"({max(allowed, 0)}: Lambda keeps {LAMBDA_MIN_UNRESERVED} unreserved) "
                "and the deploy would fail; "
                f"request a quota >= {reserved + LAMBDA_MIN_UNRESERVED} in Service Quotas (Lambda, "
                "concurrent executions) or lower it (docs/operations.md, Sizing)",
            )
    limits: dict[str, int] = {}
    for key in ("ApiThrottlingRateLimit", "ApiThrottlingBurstLimit"):
        if key not in o:
            continue
        try:
            limits[key] = int(float(o[key]))
        except ValueError:
            report.problem(key, f"{o[key]!r} is not a number; set requests per second")
            continue
        if limits[key] <= 0:
            report.problem(
                key, f"{o[key]} blocks every request; set a positive limit (docs/operations.md, Sizing)"
            )
    rate, burst = limits.get("ApiThrottlingRateLimit"), limits.get("ApiThrottlingBurstLimit")
    if rate and burst and burst < rate:
        report.problem(
            "ApiThrottlingBurstLimit", f"{burst} is below the rate limit {rate}; set burst >= rate"
        )


# ----------------------------------------------------------------------------------------- AWS


def aws_credentials_available() -> bool:
    try:
        import boto3

        return boto3.Session().get_credentials() is not None
    except Exception:
        return False


def account_concurrency_quota(region: str | None) -> int | None:
    """The account's concurrent-executions limit in `region`, or None when it cannot be read."""
    try:
        import boto3

        settings = boto3.client("lambda", region_name=region).get_account_settings()
        return int(settings["AccountLimit"]["ConcurrentExecutions"])
    except Exception:
        return None


def _secret_values(env: Environment, report: Report) -> Iterator[tuple[str, str]]:
    """(parameter, SecretString) of each well-formed secret ARN that exists and has a value."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    for key in SECRET_PARAMETERS:
        arn = env.overrides.get(key, "")
        match = _SECRET_ARN.match(arn)
        if not arn or match is None or placeholder_reason(arn) is not None:
            continue  # absent or already reported
        client = boto3.client("secretsmanager", region_name=match["region"])
        try:
            value = client.get_secret_value(SecretId=arn).get("SecretString")
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                report.problem(
                    key,
                    f"no secret {arn} in {match['region']}; create it (docs/operations.md) or fix the ARN",
                )
            elif code in ("AccessDeniedException", "UnrecognizedClientException"):
                report.problem(
                    key, f"cannot read {arn} ({code}); use credentials allowed secretsmanager:GetSecretValue"
                )
            else:
                report.problem(
                    key, f"cannot read {arn}: {code or type(exc).__name__}; check the ARN and the credentials"
                )
            continue
        except BotoCoreError as exc:
            report.problem(
                key,
                f"cannot reach Secrets Manager in {match['region']}: {type(exc).__name__}; check the network",
            )
            continue
        if not value or not value.strip():
            report.problem(
                key, f"{arn} has no SecretString; put the plain value (put-secret-value --secret-string)"
            )
            continue
        if value.lstrip().startswith("{"):
            report.problem(key, f"{arn} holds JSON; store the plain value, not a key/value pair")
            continue
        yield key, value


def check_database(url: str) -> str | None:
    """None when `url` answers SELECT 1 within the timeout, else why not (without credentials)."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "is not a PostgreSQL URL (postgresql://user:password@host:port/db)"
    target = f"{info.get('host') or 'localhost'}:{info.get('port') or 5432}"
    try:
        with psycopg.connect(url, connect_timeout=DATABASE_TIMEOUT_SECONDS, prepare_threshold=None) as conn:
            # transaction-local, like the service: no startup options or session SET (poolers)
            conn.execute(
                "SELECT set_config('statement_timeout', %s, true)", (f"{DATABASE_TIMEOUT_SECONDS}s",)
            )
            row = conn.execute("SELECT 1").fetchone()
        return None if row == (1,) else f"{target} did not answer SELECT 1"
    except psycopg.Error as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = (lines[0] if lines else type(exc).__name__).rsplit("failed: ", 1)[-1]
        reason = reason.replace(url, "<url>")
        return f"{target} does not answer within {DATABASE_TIMEOUT_SECONDS} s: {reason[:200]}"


def check_api_gateway_logging_role(env: Environment, report: Report) -> None:
    """The account's API Gateway CloudWatch Logs role, which the WebSocket stage's access log needs:
    without it the stack fails to create ("CloudWatch Logs role ARN must be set in account
    settings"). One per account and region; the stack creates it only when asked."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    create = env.overrides.get("CreateApiGatewayCloudWatchRole", "false") == "true"
    where = env.region or "the default region"
    try:
        role = boto3.client("apigateway", region_name=env.region).get_account().get("cloudwatchRoleArn")
    except (BotoCoreError, ClientError) as exc:
        code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
        report.problem(
            "CreateApiGatewayCloudWatchRole",
            f"cannot read API Gateway's account settings in {where} ({code or type(exc).__name__}); "
            "use credentials allowed apigateway:GET on /account, or check it in the console "
            "(API Gateway, Settings)",
        )
        return
    if not role:
        if not create:
            report.problem(
                "CreateApiGatewayCloudWatchRole",
                f"API Gateway in {where} has no CloudWatch Logs role, so the WebSocket stage's access "
                "log fails the deploy; set CreateApiGatewayCloudWatchRole=true (once per account and "
                'region) or set a role (docs/operations.md, "The API Gateway logging role")',
            )
        return
    if create:
        report.notes.append(
            f"API Gateway in {where} already logs with {role}: CreateApiGatewayCloudWatchRole=true "
            "would replace it (and another stack may own it); set it to false"
        )
        return
    name = role.rsplit("/", 1)[-1]
    try:
        boto3.client("iam").get_role(RoleName=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
            report.problem(
                "CreateApiGatewayCloudWatchRole",
                f"API Gateway in {where} logs with {role}, which no longer exists, so the WebSocket "
                "stage's access log fails the deploy; set CreateApiGatewayCloudWatchRole=true or "
                "point the account setting at a role that exists",
            )
        else:
            report.notes.append(f"could not check that the API Gateway logging role {role} exists")
    except BotoCoreError:
        report.notes.append(f"could not check that the API Gateway logging role {role} exists")


def check_aws(env: Environment, report: Report) -> None:
    check_api_gateway_logging_role(env, report)
    for key, value in _secret_values(env, report):
        if key == "DatabaseUrlSecretArn":
            reason = check_database(value)
            if reason is not None:
                report.problem(
                    key,
                    f"the database URL in the secret {reason}; fix the secret's URL (the pooler's, "
                    "reachable from where this runs) or the database",
                )


# ----------------------------------------------------------------------------------------- CLI


def run(
    env_name: str,
    config: Path = DEFAULT_CONFIG,
    account_concurrency: int | None = None,
    aws: bool | None = None,
) -> Report:
    """Every check on `env_name` (aws None: the AWS checks when credentials are available)."""
    env = load_environment(config, env_name)
    report = Report(env_name)
    use_aws = aws_credentials_available() if aws is None else aws
    if use_aws and aws and not aws_credentials_available():
        report.problem(
            "AWS", "--check-aws but no AWS credentials found; set AWS_PROFILE or the AWS_* variables"
        )
        use_aws = False
    quota = account_concurrency
    if quota is None and use_aws:
        quota = account_concurrency_quota(env.region)
        if quota is not None:
            report.notes.append(f"account concurrency quota in {env.region}: {quota}")
    if quota is None and env.name == "prod":
        # A reservation checked against an assumed quota is no check: a new account has 10.
        report.problem(
            "GenerateReservedConcurrency",
            "the account's concurrency quota is unknown; pass --account-concurrency N or run with AWS "
            "credentials (--check-aws)",
        )
    check_static(env, report, quota if quota is not None else DEFAULT_ACCOUNT_CONCURRENCY)
    if use_aws:
        check_aws(env, report)
    else:
        report.notes.append("AWS checks skipped (no credentials; --check-aws to require them)")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tpg_local.preflight",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--env", required=True, help="the samconfig.toml environment (dev, prod)")
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help="default: the repository's samconfig.toml"
    )
    parser.add_argument(
        "--account-concurrency",
        type=int,
        default=None,
        metavar="N",
        help="the account's Lambda concurrency quota "
        f"(default: read from AWS, else {DEFAULT_ACCOUNT_CONCURRENCY})",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check-aws", dest="aws", action="store_const", const=True, default=None)
    group.add_argument("--no-check-aws", dest="aws", action="store_const", const=False)
    args = parser.parse_args(argv)
    try:
        report = run(args.env, args.config, args.account_concurrency, args.aws)
    except UsageError as exc:
        print(f"preflight: {exc}", file=sys.stderr)
        return 2
    for line in report.problems:
        print(line, file=sys.stderr)
    for note in report.notes:
        print(f"preflight: {args.env}: note: {note}")
    if report.problems:
        print(
            f"preflight: {args.env}: {len(report.problems)} problem(s); fix them before `sam deploy`",
            file=sys.stderr,
        )
        return 1
    print(f"preflight: {args.env}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
