"""boto3 under a policy, with botocore's own retries switched off.

botocore retries by itself: 5 attempts in all in its default ``legacy`` mode (10 for
DynamoDB), 3 in ``standard`` and ``adaptive`` mode. A policy around such a client retries each
of *its* attempts that many times, so two retry layers multiply: a policy of 4 attempts around
a legacy DynamoDB client sends up to 4 x 10 = 40 requests per call into an outage, and its
backoff never sees most of them. Let one layer retry: :func:`client_config` switches
botocore's retries off (``total_max_attempts=1``), and the policy decides, with the
``botocore`` catalog, which errors to retry (``ThrottlingException``, 5xx, connection errors)
and which never to (``AccessDeniedException``, ``ValidationException``...)::

    import boto3
    from resilience.integrations import boto3 as aws

    dynamodb = aws.wrap(boto3.client("dynamodb", config=aws.client_config()))
    dynamodb.get_item(TableName="orders", Key={"id": {"S": "42"}})   # retried by the policy

(extra ``aws``.)
"""

from __future__ import annotations

import warnings
from typing import Any

from botocore.config import Config

from resilience.elements.backoff import Backoff
from resilience.elements.retry import Retry
from resilience.engine.policy import Policy

__all__ = [
    "DEFAULT_POLICY",
    "ResilientClient",
    "RetryLayersWarning",
    "botocore_attempts",
    "client_config",
    "wrap",
]


class RetryLayersWarning(UserWarning):
    """A client under a policy still retries by itself: the two layers multiply."""


#: The policy of :func:`wrap` when none is given: four attempts within 30 s, waits of up to
#: 0.5, 1 and 2 s (full jitter), as botocore's standard mode would, but in one layer.
DEFAULT_POLICY = Policy(
    "aws", retry=Retry(attempts=4, deadline=30.0, backoff=Backoff(initial=0.5, maximum=20.0))
)


def client_config(config: Config | None = None, **options: Any) -> Config:
    """A botocore ``Config`` with botocore's own retries off, for a client under a policy.

    Args:
        config: A ``Config`` of yours to start from; its retry ``mode`` is kept (``adaptive``
            still rate-limits on the client side), its number of attempts is replaced.
        **options: More ``Config`` options (``connect_timeout``, ``read_timeout``,
            ``region_name``...), which win over ``config``'s.

    Returns:
        A new ``Config`` with ``retries={"total_max_attempts": 1, ...}``; pass it as
        ``boto3.client(..., config=...)``.
    """
    merged = (config if config is not None else Config()).merge(Config(**options))
    retries = {
        key: value
        for key, value in (merged.retries or {}).items()
        if key not in ("max_attempts", "total_max_attempts")
    }
    return merged.merge(Config(retries={**retries, "total_max_attempts": 1}))


class ResilientClient:
    """A boto3 client whose API calls go through a policy; everything else is the client's.

    ``wrapped.list_tables(...)`` runs ``client.list_tables(...)`` through the policy;
    ``meta``, ``exceptions``, ``get_paginator`` and the other attributes are the client's own
    (a paginator's page requests are not retried: wrap the loop in ``policy.attempts()``).

    Args:
        client: A boto3 (botocore) client, best made with :func:`client_config`.
        policy: :data:`DEFAULT_POLICY` when omitted.
    """

    __slots__ = ("_client", "_operations", "_policy")

    def __init__(self, client: Any, policy: Policy | None = None) -> None:
        self._client = client
        self._policy = policy or DEFAULT_POLICY
        self._operations = frozenset(client.meta.method_to_api_mapping)

    @property
    def client(self) -> Any:
        """The boto3 client itself."""
        return self._client

    @property
    def policy(self) -> Policy:
        """The policy of every API call."""
        return self._policy

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in self._operations:
            return attribute
        policy = self._policy

        def operation(*args: Any, **kwargs: Any) -> Any:
            return policy.call(attribute, *args, **kwargs)

        operation.__name__ = name
        operation.__doc__ = attribute.__doc__
        return operation

    def __dir__(self) -> list[str]:
        return sorted(set(dir(self._client)) | {"client", "policy"})

    def __repr__(self) -> str:
        service = self._client.meta.service_model.service_name
        return f"<ResilientClient {service} policy={self._policy.name!r}>"


def wrap(client: Any, policy: Policy | None = None) -> ResilientClient:
    """Run every API call of ``client`` through ``policy`` (:data:`DEFAULT_POLICY`).

    Args:
        client: A boto3 client, made with ``config=client_config()``.
        policy: The policy of every API call.

    Warns:
        RetryLayersWarning: botocore still retries by itself (the client was not made with
            :func:`client_config`): each policy attempt would be several requests.
    """
    wrapped = ResilientClient(client, policy)
    attempts = botocore_attempts(client)
    if attempts > 1:
        msg = (
            f"this {client.meta.service_model.service_name} client retries by itself "
            f"({attempts} attempts per call): under policy {wrapped.policy.name!r} each call "
            "may send up to "
            f"{attempts * _policy_attempts(wrapped.policy)} requests; make it with "
            "config=resilience.integrations.boto3.client_config()"
        )
        warnings.warn(msg, RetryLayersWarning, stacklevel=2)
    return wrapped


def _policy_attempts(policy: Policy) -> int:
    return policy.retry.attempts if policy.retry is not None else 1


def botocore_attempts(client: Any) -> int:
    """How many attempts botocore itself makes per call of ``client`` (1: retries are off)."""
    retries: dict[str, Any] = client.meta.config.retries or {}
    total = retries.get("total_max_attempts")
    if isinstance(total, int):
        return total
    max_attempts = retries.get("max_attempts")
    if isinstance(max_attempts, int):
        return max_attempts + 1
    mode = retries.get("mode", "legacy")
    if mode == "legacy":
        # botocore's legacy handler: 5 attempts in all, DynamoDB 10 (data/_retry.json).
        service = client.meta.service_model.service_name
        return 10 if service == "dynamodb" else 5
    return 3
