"""Fleet settings from YAML: Redis storage, budgets, and no password in any output."""

from __future__ import annotations

from pathlib import Path

import pytest

from resilience import Budget, CircuitOpenError, ConfigError, RedisStorage, load_policies
from resilience.cli import main
from resilience.testing import no_wait

from .redis_server import RedisServer

FILE = """\
version: 1
breaker_storage:
  redis: {{url: "{url}", namespace: {namespace}, reconnect_interval: 2, timeout: 0.25}}
defaults:
  retry: {{attempts: 3, budget: {{ratio: 0.1}}}}
policies:
  local-budget:
    breaker: {{fail_max: 2}}
  shared-budget:
    retry: {{budget: {{ratio: 0.2, min_per_second: 0.5, window: 30, shared: true}}}}
"""


def test_budgets_and_storage_from_yaml(namespace: str) -> None:
    url = "redis://:s3cret@127.0.0.1:1/0"
    policies = load_policies(FILE.format(url=url, namespace=namespace))
    storage = RedisStorage(url=url, namespace=namespace, reconnect_interval=2, timeout=0.25)
    assert policies.breaker_storage == storage
    local = policies["local-budget"].retry
    shared = policies["shared-budget"].retry
    assert local is not None
    assert shared is not None
    assert local.budget == Budget(ratio=0.1)
    assert shared.budget == Budget(ratio=0.2, min_per_second=0.5, window=30, storage=storage)
    assert "s3cret" not in repr(policies["shared-budget"])


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        (
            "{ratio: 1.5}",
            "policies.p.retry.budget.ratio: must be from 0 to 1, a share of calls (got 1.5)",
        ),
        ("{window: 0}", "policies.p.retry.budget.window: must be > 0 (got 0)"),
        ("{shared: maybe}", "policies.p.retry.budget.shared: expected true or false"),
        ("{ratoi: 0.1}", "unknown key 'ratoi'; did you mean 'ratio'?"),
        (
            "{shared: true}",
            "policies.p.retry.budget.shared: a shared budget lives in breaker_storage.redis, "
            "which this file does not set",
        ),
    ],
)
def test_budget_mistakes_name_the_key(budget: str, message: str) -> None:
    with pytest.raises(ConfigError, match="line 5") as caught:
        load_policies(f"version: 1\npolicies:\n  p:\n    retry:\n      budget: {budget}\n")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("redis", "message"),
    [
        ("{url: null}", "breaker_storage.redis.url: expected a redis:// URL, got nothing (null)"),
        ("{url: 'redis://h/0', cluster: maybe}", "breaker_storage.redis.cluster: "),
        ("{url: 'redis://h/0', refresh_interval: 0}", "refresh_interval: must be > 0 (got 0)"),
    ],
)
def test_storage_mistakes_name_the_key(redis: str, message: str) -> None:
    with pytest.raises(ConfigError, match="line 3") as caught:
        load_policies(f"version: 1\nbreaker_storage:\n  redis: {redis}\npolicies: {{p: {{}}}}\n")
    assert message in str(caught.value)


def test_a_cluster_from_yaml_is_not_contacted_when_loaded() -> None:
    text = "version: 1\nbreaker_storage:\n  redis: {url: 'redis+cluster://127.0.0.1:1'}\n"
    policies = load_policies(text + "policies: {p: {breaker: {fail_max: 2}}}\n")
    assert policies.breaker_storage is not None
    assert policies.breaker_storage.clustered
    text = "version: 1\nbreaker_storage:\n  redis: {url: 'redis://127.0.0.1:1', cluster: true}\n"
    assert load_policies(text + "policies: {p: {}}\n").breaker_storage == RedisStorage(
        url="redis://127.0.0.1:1", cluster=True
    )


def test_two_workers_loading_one_file_share_the_circuit(
    redis_server: RedisServer, namespace: str
) -> None:
    text = FILE.format(url=redis_server.url, namespace=namespace)
    worker_a, worker_b = load_policies(text), load_policies(text)

    def down() -> None:
        raise ConnectionRefusedError("down")

    with no_wait(), pytest.raises(ConnectionRefusedError):  # 2 attempts trip it (fail_max 2)
        worker_a["local-budget"].call(down)
    with pytest.raises(CircuitOpenError):
        worker_b["local-budget"].call(lambda: "ok")
    assert worker_b["shared-budget"].breaker_state == "closed"  # its own circuit: none


def test_check_never_prints_the_password(
    tmp_path: Path, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(FILE.format(url="redis://admin:s3cret@127.0.0.1:1/0", namespace=namespace))
    assert main(["check", str(path)]) == 0
    printed = capsys.readouterr()
    assert "redis://admin:***@127.0.0.1:1/0" in printed.out
    assert "s3cret" not in printed.out + printed.err

    path.write_text(FILE.format(url="redis://admin:s3cret@127.0.0.1:x/0", namespace=namespace))
    assert main(["check", str(path)]) != 0
    printed = capsys.readouterr()
    assert "is malformed" in printed.err
    assert "s3cret" not in printed.out + printed.err
