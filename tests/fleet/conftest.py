"""Fixtures of the fleet tests: private redis-servers, stopped after each test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from resilience.stores.redis import close_links
from resilience.testing import no_wait

from .redis_cluster import RedisCluster, find_redis_cli
from .redis_server import RedisServer, find_redis_server


@pytest.fixture(autouse=True)
def _fresh_links() -> Iterator[None]:
    """Every test starts with no Redis client, subscriber or mirror left by another."""
    close_links()
    yield
    close_links()


@pytest.fixture(name="redis_binary", scope="session")
def _redis_binary() -> str:
    return find_redis_server()


@pytest.fixture(name="make_redis")
def _make_redis(redis_binary: str, tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Build (not start) redis-servers for the test; every one is killed afterwards."""
    servers: list[RedisServer] = []

    def make(password: str | None = None) -> RedisServer:
        directory = tmp_path / f"redis-{len(servers)}"
        directory.mkdir()
        server = RedisServer(redis_binary, directory, password)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(name="redis_server")
def _redis_server(make_redis: Callable[..., RedisServer]) -> RedisServer:
    """A running redis-server on a free port of 127.0.0.1."""
    return make_redis().start()


@pytest.fixture(name="namespace")
def _namespace() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(name="no_wait")
def _no_wait() -> Iterator[None]:
    """Policies skip their sleeps, keeping their attempt counts."""
    with no_wait():
        yield


@pytest.fixture(name="cluster", scope="session")
def _cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """One three-master Redis Cluster for the session (making one takes about two seconds)."""
    directory = tmp_path_factory.mktemp("cluster")
    cluster = RedisCluster(find_redis_server(), find_redis_cli(), directory).start()
    yield cluster
    cluster.stop()


@pytest.fixture(name="healthy")
def _healthy(cluster: RedisCluster) -> RedisCluster:
    """The cluster, all three masters up and agreeing (after a test killed one)."""
    for node in cluster.nodes:
        if node._process is None:
            node.start()
    cluster.wait_ok()
    return cluster
