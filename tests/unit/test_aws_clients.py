"""AWS clients fail fast: small connect/read timeouts and bounded retries, so no AWS call (the
Secrets Manager read included) can hold the trigger until its 10 s Lambda timeout."""

from __future__ import annotations

import pytest

from tests.unit.cfn_template import load_template
from tpg.platform import aws
from tpg.platform.settings import Settings

TRIGGER_TIMEOUT_SECONDS = load_template()["Globals"]["Function"]["Timeout"]


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws.secrets_provider.cache_clear()


def _worst_case_seconds(config: object) -> float:
    attempts = config.retries["total_max_attempts"]  # type: ignore[attr-defined]
    per_attempt = config.connect_timeout + config.read_timeout  # type: ignore[attr-defined]
    return attempts * per_attempt + (attempts - 1) * 1  # standard mode: first back-off < 1 s


@pytest.mark.parametrize("service", ["lambda", "events", "secretsmanager"])
def test_clients_have_bounded_timeouts_and_retries(service: str) -> None:
    config = aws.client(service).meta.config
    assert (config.connect_timeout, config.read_timeout) == (1, 2)
    assert config.retries == {"total_max_attempts": 2, "mode": "standard"}
    assert _worst_case_seconds(config) <= TRIGGER_TIMEOUT_SECONDS - 3  # time left to answer


def test_secrets_are_read_with_the_bounded_client() -> None:
    config = aws.secrets_provider().client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (1, 2)
    assert config.retries["total_max_attempts"] == 2


def test_settings_read_secrets_through_the_bounded_client() -> None:
    moto = pytest.importorskip("moto")
    with moto.mock_aws():
        import boto3

        arn = boto3.client("secretsmanager").create_secret(Name="tpg/test/jwt-secret", SecretString="s3cret")[
            "ARN"
        ]
        settings = Settings(jwt_secret_arn=arn)
        assert settings.jwt_signing_secret == "s3cret"
        assert aws.secrets_provider().client.meta.config.read_timeout == aws.READ_TIMEOUT_SECONDS
