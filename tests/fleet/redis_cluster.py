"""A private Redis Cluster on 127.0.0.1: three masters, no replicas, made with
``redis-server --cluster-enabled yes`` and ``redis-cli --cluster create``.

A node can be killed and started again on its port with its ``nodes.conf``: it rejoins the
cluster with its slots (empty: nothing is saved), as a restarted master would.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .redis_server import RedisServer, free_port, in_ci, wait_until

__all__ = ["RedisCluster", "find_redis_cli"]

MASTERS = 3


def find_redis_cli() -> str:
    """The path of ``redis-cli``, or skip (fail under CI) when it is not installed."""
    found = shutil.which("redis-cli")
    if found is None:
        reason = "redis-cli is not installed (scripts/test.sh installs redis-tools with apt)"
        if in_ci():
            pytest.fail(f"{reason} (CI=true: fleet tests may not skip)")
        pytest.skip(reason)
    return found


class ClusterNode(RedisServer):
    """One master: a redis-server with cluster mode on and its bus on a free port."""

    def __init__(self, binary: str, directory: Path) -> None:
        super().__init__(binary, directory)
        self.bus = free_port()

    def extra_args(self) -> list[str]:
        return [
            "--cluster-enabled", "yes",
            "--cluster-config-file", str(self.directory / "nodes.conf"),
            "--cluster-port", str(self.bus),
            "--cluster-node-timeout", "500",
        ]  # fmt: skip


class RedisCluster:
    """Three masters on 127.0.0.1 sharing the 16384 slots."""

    def __init__(self, binary: str, cli: str, directory: Path) -> None:
        self.cli = cli
        self.nodes = []
        for index in range(MASTERS):
            node_dir = directory / f"node-{index}"
            node_dir.mkdir()
            self.nodes.append(ClusterNode(binary, node_dir))

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> RedisCluster:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [self.cli, "--cluster", "create", *addresses, "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=30,
        )
        self.wait_ok()
        return self

    def ok(self) -> bool:
        for node in self.nodes:
            try:
                info = node.client().cluster("info")
            except OSError:
                return False
            except Exception as exc:
                if type(exc).__module__.startswith("redis"):
                    return False
                raise
            if info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) < 3:
                return False
        return True

    def wait_ok(self) -> None:
        wait_until(self.ok, "the cluster to be ok", timeout=20)

    def client(self) -> Any:
        import redis

        return redis.RedisCluster(host="127.0.0.1", port=self.nodes[0].port, socket_timeout=2.0)

    def keys(self, pattern: str) -> list[bytes]:
        """The keys matching ``pattern`` on every master."""
        return [key for node in self.nodes for key in node.client().keys(pattern)]

    def node_of(self, key: str) -> ClusterNode:
        """The master holding ``key``'s slot."""
        client = self.client()
        node = client.get_node_from_key(key)
        return next(n for n in self.nodes if n.port == node.port)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
