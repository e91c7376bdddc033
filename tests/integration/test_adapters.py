"""The tenacity and pybreaker adapters, driving the real libraries over a real boto3 client
against a local endpoint speaking AWS's JSON error protocol."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pybreaker
import pytest
import tenacity
from freezegun import freeze_time

from resilience import Backoff, Classifier, Policy, Queue, Retry
from resilience.adapters.pybreaker import not_retryable
from resilience.adapters.tenacity import (
    retry_if_retryable,
    stop_for,
    tenacity_kwargs,
    wait_for,
)
from resilience.testing import no_wait

from .servers import AwsAnswer, AwsJsonEndpoint

boto3 = pytest.importorskip("boto3")
aws = pytest.importorskip("resilience.integrations.boto3")
from botocore.exceptions import ClientError  # noqa: E402

pytestmark = pytest.mark.integration

THROTTLED = AwsAnswer(400, "ThrottlingException")
DENIED = AwsAnswer(400, "AccessDeniedException")
OK = AwsAnswer(200, body={"TableNames": ["orders"]})


@pytest.fixture(name="endpoint")
def _endpoint() -> Iterator[AwsJsonEndpoint]:
    endpoint = AwsJsonEndpoint()
    yield endpoint
    endpoint.close()
    assert endpoint.server.errors == []


@pytest.fixture(name="client")
def _client(endpoint: AwsJsonEndpoint) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint.url,
        region_name="eu-west-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="not-a-secret",
        config=aws.client_config(),  # botocore's own retries off: tenacity retries
    )


def _code(exc: BaseException) -> str:
    assert isinstance(exc, ClientError)
    return str(exc.response["Error"]["Code"])


# --- tenacity ---------------------------------------------------------------------------------


def test_tenacity_retries_a_throttle_and_not_an_access_denied(
    endpoint: AwsJsonEndpoint, client: Any
) -> None:
    slept: list[float] = []
    retrying = tenacity.Retrying(
        retry=retry_if_retryable(),
        stop=tenacity.stop_after_attempt(3),
        wait=wait_for(Backoff(initial=1.0, maximum=8.0, jitter="none")),
        sleep=slept.append,
        reraise=True,
    )
    endpoint.answer(THROTTLED, THROTTLED, OK)
    assert retrying(client.list_tables)["TableNames"] == ["orders"]
    assert len(endpoint.requests) == 3
    assert slept == [1.0, 2.0]

    endpoint.requests.clear()
    endpoint.answer(DENIED)
    with pytest.raises(ClientError) as caught:
        retrying(client.list_tables)
    assert _code(caught.value) == "AccessDeniedException"  # the original, not a RetryError
    assert len(endpoint.requests) == 1


async def test_async_tenacity_retries_as_the_classifier_says(
    endpoint: AwsJsonEndpoint, client: Any
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def list_tables() -> Any:
        return await asyncio.to_thread(client.list_tables)

    endpoint.answer(THROTTLED, OK)
    async for attempt in tenacity.AsyncRetrying(
        retry=retry_if_retryable(),
        stop=tenacity.stop_after_attempt(3),
        sleep=sleep,
        reraise=True,
    ):
        with attempt:
            tables = await list_tables()
    assert tables["TableNames"] == ["orders"]
    assert len(endpoint.requests) == 2
    assert len(slept) == 1

    endpoint.requests.clear()
    endpoint.answer(DENIED)
    retrying = tenacity.AsyncRetrying(
        retry=retry_if_retryable(), stop=tenacity.stop_after_attempt(3), sleep=sleep, reraise=True
    )
    with pytest.raises(ClientError):
        await retrying(list_tables)
    assert len(endpoint.requests) == 1


def test_a_classifier_of_ones_own_decides(endpoint: AwsJsonEndpoint, client: Any) -> None:
    mine = Classifier(rules={"botocore.exceptions.ClientError": "permanent"})
    endpoint.answer(THROTTLED)
    retrying = tenacity.Retrying(
        retry=retry_if_retryable(mine), stop=tenacity.stop_after_attempt(3), reraise=True
    )
    with pytest.raises(ClientError):
        retrying(client.list_tables)
    assert len(endpoint.requests) == 1


def test_tenacity_kwargs_retry_as_the_policy_would(endpoint: AwsJsonEndpoint, client: Any) -> None:
    policy = Policy(
        "dynamodb",
        retry=Retry(attempts=4, backoff=Backoff(initial=1.0, maximum=8.0, jitter="none")),
    )
    slept: list[float] = []

    @tenacity.retry(**tenacity_kwargs(policy), sleep=slept.append)
    def list_tables() -> Any:
        return client.list_tables()

    endpoint.answer(THROTTLED)
    with pytest.raises(ClientError) as caught:
        list_tables()
    assert _code(caught.value) == "ThrottlingException"
    assert len(endpoint.requests) == 4
    assert slept == [1.0, 2.0, 4.0]

    endpoint.requests.clear()
    with no_wait(), pytest.raises(ClientError):
        policy.call(client.list_tables)
    assert len(endpoint.requests) == 4  # the policy itself: the same attempts

    endpoint.requests.clear()
    slept.clear()
    endpoint.answer(DENIED)
    with pytest.raises(ClientError):
        list_tables()
    assert len(endpoint.requests) == 1
    assert slept == []


def test_stop_for_keeps_the_deadline_as_the_policy_does(
    endpoint: AwsJsonEndpoint, client: Any
) -> None:
    retry = Retry(attempts=10, deadline=2.5, backoff=Backoff(initial=1.0, jitter="none"))
    endpoint.answer(THROTTLED)
    with freeze_time("2026-01-01 12:00:00") as clock:
        retrying = tenacity.Retrying(
            retry=retry_if_retryable(),
            stop=stop_for(retry),
            wait=wait_for(retry.backoff),
            sleep=clock.tick,
            reraise=True,
        )
        with pytest.raises(ClientError):
            retrying(client.list_tables)
    # 1 s then 2 s would end at 3 s, past the deadline: no second sleep
    assert len(endpoint.requests) == 2

    endpoint.requests.clear()
    with no_wait(), pytest.raises(ClientError):
        Policy("deadline", retry=retry).call(client.list_tables)
    assert len(endpoint.requests) == 2


def test_tenacity_kwargs_follow_the_policys_queue_retries() -> None:
    from AWSIoTPythonSDK.exception.AWSIoTExceptions import publishQueueFullException

    policy = Policy(
        "publish",
        retry=Retry(attempts=2),
        queue=Queue(action="retry", attempts=4, backoff=Backoff(initial=0.5, jitter="none")),
    )
    calls: list[int] = []
    slept: list[float] = []

    @tenacity.retry(**tenacity_kwargs(policy), sleep=slept.append)
    def publish() -> None:
        calls.append(1)
        raise publishQueueFullException

    with pytest.raises(publishQueueFullException):
        publish()
    assert len(calls) == 4
    assert slept == [0.5, 1.0, 2.0]


def test_adapters_refuse_what_they_cannot_use() -> None:
    with pytest.raises(TypeError, match="Classifier"):
        retry_if_retryable("default")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"resilience\.Retry"):
        stop_for(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"resilience\.Policy"):
        tenacity_kwargs(Retry())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Classifier"):
        not_retryable(object())  # type: ignore[arg-type]


# --- pybreaker --------------------------------------------------------------------------------


def test_pybreaker_counts_only_retryable_failures(endpoint: AwsJsonEndpoint, client: Any) -> None:
    breaker = pybreaker.CircuitBreaker(fail_max=2, reset_timeout=60, exclude=[not_retryable()])

    endpoint.answer(DENIED)
    for _ in range(5):
        with pytest.raises(ClientError):
            breaker.call(client.list_tables)
    assert breaker.current_state == "closed"  # the remote side answered: no outage
    assert breaker.fail_counter == 0

    endpoint.answer(THROTTLED)
    with pytest.raises(ClientError):
        breaker.call(client.list_tables)
    assert breaker.fail_counter == 1
    with pytest.raises((ClientError, pybreaker.CircuitBreakerError)):
        breaker.call(client.list_tables)  # the second throttle opens the circuit
    assert breaker.current_state == "open"

    endpoint.requests.clear()
    with pytest.raises(pybreaker.CircuitBreakerError):
        breaker.call(client.list_tables)
    assert endpoint.requests == []  # refused without a request


def test_tenacity_kwargs_wait_as_long_as_the_server_asks() -> None:
    import email.message
    import urllib.error

    headers = email.message.Message()
    headers["Retry-After"] = "7"
    busy = urllib.error.HTTPError("http://127.0.0.1/orders", 503, "busy", headers, None)
    answers: list[Exception | None] = [busy, None]
    slept: list[float] = []

    def fetch() -> str:
        error = answers.pop(0)
        if error is not None:
            raise error
        return "ok"

    policy = Policy("hinted", retry=Retry(attempts=3, backoff=Backoff(initial=0.1)))
    assert tenacity.retry(**tenacity_kwargs(policy), sleep=slept.append)(fetch)() == "ok"
    assert slept == [7.0]  # Retry-After: 7, longer than the backoff's 0.1 s at most
