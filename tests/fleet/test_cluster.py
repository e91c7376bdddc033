"""The fleet tests on a real Redis Cluster of three masters: one slot per policy, pub/sub
across nodes, and a master killed mid-run costing no call."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import timedelta
from typing import Any

import pytest
from freezegun import freeze_time

from resilience import Breaker, Budget, CircuitOpenError, Policy, RedisStorage, Retry
from tests.helpers import CLASSIFIER, Flaky, Script, named

from .redis_cluster import RedisCluster
from .redis_server import wait_until
from .test_workers import WORKERS, Fleet


def worker(
    cluster: RedisCluster, namespace: str, name: str = "svc", trials: int = 1, **options: Any
) -> Policy:
    """One worker's policy on a link of its own (``options`` make the storage value differ)."""
    storage = RedisStorage(url=cluster.url, namespace=namespace, **options)
    breaker = Breaker(fail_max=2, reset_timeout=30.0, half_open_calls=trials, storage=storage)
    return Policy(name, breaker=breaker, classifier=CLASSIFIER)


def listening(policy: Policy, cluster: RedisCluster, namespace: str, **options: Any) -> None:
    assert policy.call(Script()) == "ok"
    link = RedisStorage(url=cluster.url, namespace=namespace, **options).link()
    wait_until(lambda: link.watch.synced, "the subscription")


def trip(policy: Policy) -> None:
    for _ in range(2):
        with pytest.raises(Flaky):
            policy.call(Script(Flaky("down")))


def commands(cluster: RedisCluster) -> int:
    """Commands run by every master since their stats were reset (``INFO`` left out)."""
    total = 0
    for node in cluster.nodes:
        stats = node.client().info("commandstats")
        total += sum(
            int(entry["calls"])
            for name, entry in stats.items()
            if name not in ("cmdstat_info", "cmdstat_config|resetstat", "cmdstat_hello")
        )
    return total


def reset_stats(cluster: RedisCluster) -> None:
    for node in cluster.nodes:
        node.client().config_resetstat()


def test_the_keys_of_a_policy_share_one_slot(
    healthy: RedisCluster, namespace: str, events: list[dict[str, Any]]
) -> None:
    with freeze_time("2030-01-01") as frozen:
        policy = worker(healthy, namespace, trials=2)
        trip(policy)
        frozen.tick(timedelta(seconds=31))
        with policy.guard(), policy.guard():  # two trials at once: the multi-key lease script
            assert healthy.client().pttl(f"{{{namespace}:svc}}:trial:1") > 0
    found = {node.port: node.client().keys(f"{{{namespace}:svc}}*") for node in healthy.nodes}
    (keys,) = [keys for keys in found.values() if keys]  # all on one master ...
    assert b"{%s:svc}:breaker" % namespace.encode() in keys
    assert len({healthy.client().keyslot(key) for key in keys}) == 1  # ... in one slot
    assert policy.breaker_state == "closed"
    assert named(events, "storage.unavailable") == []  # no CROSSSLOT, no failover


def test_healthy_calls_send_no_command_to_any_node(healthy: RedisCluster, namespace: str) -> None:
    policies = [worker(healthy, namespace, f"p{i}", refresh_interval=600) for i in range(5)]
    for policy in policies:
        listening(policy, healthy, namespace, refresh_interval=600)
    reset_stats(healthy)
    for _ in range(2000):  # 10,000 calls over five policies (slots on every master, likely)
        for policy in policies:
            assert policy.call(Script()) == "ok"
    assert commands(healthy) == 0


def test_a_circuit_opened_on_one_node_reaches_subscribers_on_every_node(
    healthy: RedisCluster, namespace: str
) -> None:
    names = [f"p{i}" for i in range(6)]  # their slots spread over the three masters
    assert len({healthy.node_of(f"{{{namespace}:{n}}}:breaker").port for n in names}) > 1
    writers = [worker(healthy, namespace, n, timeout=0.4) for n in names]
    readers = [worker(healthy, namespace, n, timeout=0.3) for n in names]
    for reader in readers:
        listening(reader, healthy, namespace, timeout=0.3)
    for writer in writers:
        trip(writer)
    for reader in readers:
        wait_until(lambda reader=reader: reader.breaker_state == "open", "the message")
    reset_stats(healthy)
    for reader in readers:
        with pytest.raises(CircuitOpenError):
            reader.call(Script())
    assert commands(healthy) == 0  # refused from the mirrors


def test_a_shared_budget_on_the_cluster(healthy: RedisCluster, namespace: str) -> None:
    storage = RedisStorage(url=healthy.url, namespace=namespace)
    budget = Budget(ratio=0.5, min_per_second=0, storage=storage)
    policy = Policy("svc", retry=Retry(attempts=2, budget=budget), classifier=CLASSIFIER)
    for _ in range(4):
        assert policy.call(Script()) == "ok"
    assert policy.call(Script(Flaky("once"))) == "ok"  # a retry the shared window allows
    assert healthy.client().exists(f"{{{namespace}:svc}}:budget") == 1


def test_worker_processes_share_a_circuit_on_the_cluster(
    healthy: RedisCluster, namespace: str
) -> None:
    fleet = Fleet(healthy.url, namespace, 1)
    try:
        for index in range(WORKERS):
            assert fleet.ask(index, "ok") == ("ok", True)
        assert [fleet.ask(0, "fail") for _ in range(3)] == [("failed", True)] * 3
        for index in (1, 2):
            wait_until(lambda index=index: fleet.ask(index, "state")[0] == "open", "the message")
            assert fleet.ask(index, "ok") == ("refused", False)
    finally:
        fleet.close()


def test_a_master_killed_mid_run_loses_no_call(
    healthy: RedisCluster, namespace: str, events: list[dict[str, Any]]
) -> None:
    options = {"timeout": 0.2, "reconnect_interval": 0.1}
    policies = [worker(healthy, namespace, f"p{i}", **options) for i in range(6)]
    for policy in policies:
        listening(policy, healthy, namespace, **options)
    link = RedisStorage(url=healthy.url, namespace=namespace, **options).link()
    victim = healthy.node_of(f"{{{namespace}:p0}}:breaker")

    outcomes: list[str] = []
    stop = threading.Event()

    def traffic() -> None:  # healthy calls and failures, all the while
        count = 0
        while not stop.is_set():
            policy = policies[count % len(policies)]
            service = Script(Flaky("down")) if count % 7 == 0 else Script()
            try:
                outcomes.append(policy.call(service))
            except Flaky:
                outcomes.append("failed")
            except CircuitOpenError:
                outcomes.append("refused")
            count += 1

    thread = threading.Thread(target=traffic)
    thread.start()
    try:
        wait_until(lambda: len(outcomes) > 100, "traffic")
        victim.stop()
        wait_until(lambda: link.up is False, "the outage to be noticed")
        seen = len(outcomes)
        wait_until(lambda: len(outcomes) > seen + 100, "traffic during the outage")
        victim.start()  # rejoins with its slots (and nodes.conf), empty
        healthy.wait_ok()
        wait_until(lambda: link.up is True, "the link to rejoin", timeout=20)
        seen = len(outcomes)
        wait_until(lambda: len(outcomes) > seen + 100, "traffic after the outage")
    finally:
        stop.set()
        thread.join(timeout=10)
    assert set(outcomes) <= {"ok", "failed", "refused"}  # no call failed because of Redis
    assert outcomes.count("ok") > 300
    assert len(named(events, "storage.unavailable")) == 1
    assert len(named(events, "storage.restored")) == 1
    assert multiprocessing.active_children() == []
