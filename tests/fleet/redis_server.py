"""A private redis-server on 127.0.0.1 for the fleet tests, which they can kill and restart.

A missing ``redis-server`` skips the tests with the reason, except under ``CI=true``, where it
fails them: ``scripts/test.sh`` installs it, so a skip there would hide a broken setup.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

__all__ = ["RedisServer", "find_redis_server", "free_port", "wait_until"]


def in_ci() -> bool:
    """Whether the tests run under CI, where nothing may be skipped for want of a server."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def find_redis_server() -> str:
    """The path of ``redis-server``, or skip (fail under CI) when it is not installed."""
    found = shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.access(p, os.X_OK)),
        None,
    )
    if found is None:
        reason = "redis-server is not installed (scripts/test.sh installs it with apt)"
        if in_ci():
            pytest.fail(f"{reason} (CI=true: fleet tests may not skip)")
        pytest.skip(reason)
    return found


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``predicate`` every few milliseconds until it holds; fail after ``timeout``.

    Counts its polls rather than reading a clock, so it works under freezegun too.
    """
    for _ in range(int(timeout / 0.005)):
        if predicate():
            return
        time.sleep(0.005)
    pytest.fail(f"timed out waiting for {what}")


class RedisServer:
    """One redis-server process on a fixed port: ``start()``, ``stop()`` (SIGKILL), again."""

    def __init__(self, binary: str, directory: Path, password: str | None = None) -> None:
        self.binary = binary
        self.directory = directory
        self.password = password
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=2.0)

    def keys(self, pattern: str) -> list[bytes]:
        """The keys matching ``pattern`` (a cluster's from every master)."""
        found: list[bytes] = self.client().keys(pattern)
        return found

    def start(self) -> RedisServer:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        args += ["--enable-debug-command", "local"]  # DEBUG SLEEP: a server that hangs
        args += self.extra_args()
        if self.password:
            args += ["--requirepass", self.password]
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._ready, f"redis-server on port {self.port}")
        return self

    def extra_args(self) -> list[str]:
        """More options of ``redis-server`` (cluster nodes add theirs)."""
        return []

    def _ready(self) -> bool:
        assert self._process is not None
        if self._process.poll() is not None:
            pytest.fail(f"redis-server exited with {self._process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                reply = sock.recv(64)
        except OSError:
            return False
        return reply.startswith((b"+PONG", b"-NOAUTH"))

    def stop(self) -> None:
        """Kill the server at once, as a crash would."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None


def state_in_redis(server: Any, namespace: str, policy: str) -> str:
    """The state of a policy's circuit as Redis holds it (a circuit never written is closed)."""
    state = server.client().hget(f"{{{namespace}:{policy}}}:breaker", "state")
    return "closed" if state is None else str(state.decode())
