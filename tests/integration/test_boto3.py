"""A real boto3 client against a local endpoint speaking AWS's JSON error protocol."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from resilience import Backoff, Category, Policy, Retry, classify, explain

from .servers import AwsAnswer, AwsJsonEndpoint

boto3 = pytest.importorskip("boto3")
aws = pytest.importorskip("resilience.integrations.boto3")
from botocore.exceptions import ClientError  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_wait")]

ATTEMPTS = 3
LIST_TABLES = "DynamoDB_20120810.ListTables"


@pytest.fixture(name="endpoint")
def _endpoint() -> Iterator[AwsJsonEndpoint]:
    endpoint = AwsJsonEndpoint()
    yield endpoint
    endpoint.close()
    assert endpoint.server.errors == []


def dynamodb(endpoint: AwsJsonEndpoint, config: Any = None) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint.url,
        region_name="eu-west-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="not-a-secret",
        config=config if config is not None else aws.client_config(),
    )


def policy() -> Policy:
    return Policy("dynamodb", retry=Retry(attempts=ATTEMPTS, backoff=Backoff(initial=0.05)))


@pytest.mark.parametrize(
    ("answer", "attempts", "category", "rule"),
    [
        pytest.param(
            AwsAnswer(400, "ThrottlingException"),
            ATTEMPTS,
            Category.RETRYABLE,
            "botocore.exceptions.ClientError code=ThrottlingException",
            id="throttling-400",
        ),
        pytest.param(
            AwsAnswer(503, "ServiceUnavailable"),
            ATTEMPTS,
            Category.RETRYABLE,
            "botocore.exceptions.ClientError code=ServiceUnavailable",
            id="service-unavailable-503",
        ),
        pytest.param(
            AwsAnswer(503),
            ATTEMPTS,
            Category.RETRYABLE,
            "botocore.exceptions.ClientError status=5xx",
            id="bare-503",
        ),
        pytest.param(
            AwsAnswer(400, "AccessDeniedException"),
            1,
            Category.AUTH,
            "botocore.exceptions.ClientError code=AccessDeniedException",
            id="access-denied-400",
        ),
        pytest.param(
            AwsAnswer(403, "AccessDeniedException"),
            1,
            Category.AUTH,
            "botocore.exceptions.ClientError code=AccessDeniedException",
            id="access-denied-403",
        ),
    ],
)
def test_attempts_per_error(
    endpoint: AwsJsonEndpoint, answer: AwsAnswer, attempts: int, category: Category, rule: str
) -> None:
    endpoint.answer(answer)
    client = aws.wrap(dynamodb(endpoint), policy())

    with pytest.raises(ClientError) as caught:
        client.list_tables()

    assert endpoint.requests == [LIST_TABLES] * attempts  # botocore itself sent one each
    assert classify(caught.value) is category
    verdict = explain(caught.value)
    assert (verdict.rule, verdict.catalog) == (rule, "botocore")
    assert f"policy 'dynamodb' gave up after {attempts} attempt" in caught.value.__notes__[-1]


def test_throttled_then_answered(endpoint: AwsJsonEndpoint) -> None:
    endpoint.answer(
        AwsAnswer(400, "ThrottlingException"),
        AwsAnswer(500, "InternalServerError"),
        AwsAnswer(200, body={"TableNames": ["orders"]}),
    )
    client = aws.wrap(dynamodb(endpoint), policy())

    assert client.list_tables()["TableNames"] == ["orders"]
    assert len(endpoint.requests) == 3


def test_two_retry_layers_multiply(endpoint: AwsJsonEndpoint) -> None:
    # botocore's own legacy retries (2 attempts, DynamoDB's 50 ms base delay) under a policy
    # of 3 attempts: 6 requests for one call. client_config() avoids exactly this.
    endpoint.answer(AwsAnswer(400, "ThrottlingException"))
    from botocore.config import Config

    raw = dynamodb(endpoint, Config(retries={"total_max_attempts": 2, "mode": "legacy"}))
    with pytest.warns(aws.RetryLayersWarning, match="up to 6 requests") as warned:
        client = aws.wrap(raw, policy())
    assert warned[0].filename == __file__  # the warning points at the caller

    with pytest.raises(ClientError):
        client.list_tables()

    assert len(endpoint.requests) == ATTEMPTS * 2


def test_client_config_turns_botocore_retries_off_and_keeps_the_rest() -> None:
    from botocore.config import Config

    config = aws.client_config(
        Config(retries={"mode": "adaptive", "max_attempts": 7}, read_timeout=5), connect_timeout=2
    )

    assert config.retries == {"mode": "adaptive", "total_max_attempts": 1}
    assert (config.read_timeout, config.connect_timeout) == (5, 2)


def test_wrapped_client_passes_everything_else_through(endpoint: AwsJsonEndpoint) -> None:
    raw = dynamodb(endpoint)
    client = aws.wrap(raw)

    assert client.client is raw
    assert client.policy is aws.DEFAULT_POLICY
    assert client.meta is raw.meta
    assert client.exceptions is raw.exceptions
    assert client.list_tables.__name__ == "list_tables"
    assert "list_tables" in dir(client)
    assert repr(client) == "<ResilientClient dynamodb policy='aws'>"
    assert aws.botocore_attempts(raw) == 1
