"""The YAML sections of the limits: concurrency, rate_limit, hedge; same names, units and
checks as the Python specs, errors at the key path and line."""

from __future__ import annotations

import pytest

from resilience import Concurrency, ConfigError, Hedge, RateLimit, RedisStorage, load_policies

FILE = """\
version: 1
breaker_storage:
  redis: {url: "redis://127.0.0.1:1/0", namespace: myapp}
defaults:
  concurrency: {limit: 8}
policies:
  api:
    concurrency: {max_wait: 0.5}
    rate_limit: {rate: 50, per: 1, burst: 5, max_wait: 0.2, shared: true}
    hedge: {delay: 0.05, max_extra: 2}
  local:
    rate_limit: {rate: 600, per: 60}
    concurrency: null
"""


def test_sections_build_the_specs_deep_merged_over_the_defaults() -> None:
    policies = load_policies(FILE)
    api, local = policies["api"], policies["local"]
    assert api.concurrency == Concurrency(limit=8, max_wait=0.5)
    assert api.hedge == Hedge(delay=0.05, max_extra=2)
    assert api.rate_limit is not None
    assert api.rate_limit.replace(storage=None) == RateLimit(rate=50, per=1, burst=5, max_wait=0.2)
    assert isinstance(api.rate_limit.storage, RedisStorage)
    assert api.rate_limit.storage.namespace == "myapp"
    assert local.concurrency is None  # null cancels the default
    assert local.rate_limit == RateLimit(rate=600, per=60)


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ("concurrency: {limit: 0}", "policies.p.concurrency.limit", "must be >= 1 (got 0)"),
        ("concurrency: {max_wait: 1}", "policies.p.concurrency", "missing the required key"),
        ("concurrency: {limt: 3}", "policies.p.concurrency.limt", "did you mean 'limit'?"),
        ("rate_limit: {rate: 0}", "policies.p.rate_limit.rate", "must be > 0 (got 0)"),
        ("rate_limit: {rate: 5, burst: 0}", "policies.p.rate_limit.burst", "must be >= 1"),
        ("rate_limit: {per: 5}", "policies.p.rate_limit", "missing the required key 'rate'"),
        (
            "rate_limit: {rate: 5, shared: true}",
            "policies.p.rate_limit.shared",
            "lives in breaker_storage.redis, which this file does not set",
        ),
        ("rate_limit: {rate: 5, shared: 1}", "policies.p.rate_limit.shared", "true or false"),
        ("hedge: {delay: -1}", "policies.p.hedge.delay", "must be >= 0"),
        ("hedge: {delay: 1, max_extra: 11}", "policies.p.hedge.max_extra", "from 1 to 10"),
        ("hedge: {delay: three}", "policies.p.hedge.delay", "a number of seconds"),
        ("hedge: 0.1", "policies.p.hedge", "expected a mapping with the keys delay, max_extra"),
    ],
)
def test_mistakes_name_the_key_and_line(body: str, path: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_policies(f"version: 1\npolicies:\n  p:\n    {body}\n")
    assert caught.value.path == path
    assert message in caught.value.detail
    assert caught.value.line == 4
