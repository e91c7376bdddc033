"""What a fleet pays for a shared breaker: healthy calls, failures, and how fast news travels.

Run it from a checkout with the test extras installed: ``python benchmarks/fleet.py``
(about 15 s; ``--cluster`` runs it on a private three-master Redis Cluster instead of one
redis-server; ``--help`` for the knobs). It starts its own servers on 127.0.0.1 (skipped
with a message when ``redis-server`` isn't installed).

1. **Happy path**, side by side in one run: microseconds per successful call through
   ``Policy(breaker=Breaker())`` with memory storage and with ``RedisStorage``, sync and
   async (median of 7 rounds, the two interleaved). A closed circuit is read from the
   process's mirror: no round trip.
2. **Failure path**: retryable failures through a Redis-backed breaker that never opens,
   counted by Redis itself (``INFO commandstats``): scripts (``EVALSHA``) per failure, the
   round trips; and every command, those run inside the scripts too. With a shared retry
   budget as well, each retried failure adds the budget's script.
3. **Propagation**: three worker processes on one circuit, each calling a healthy service
   every 0.2 ms. 50 times, one of them trips the circuit (a failing call, ``fail_max=1``);
   the time from the start of that call until each other worker's first refused call is
   the propagation delay (each worker has failed once before, on another policy, so that
   what any first failure loads is loaded). Then the circuit is closed again from this
   process.

The last line reads ``fleet happy_sync=R happy_async=R scripts_per_failure=N
propagation_p99_ms=T``, ``R`` being Redis-backed over memory-backed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import queue
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import structlog

from resilience import Breaker, Budget, CircuitOpenError, Policy, RedisStorage, Retry
from resilience.stores.redis import close_links
from resilience.testing import no_wait

#: One failure opens the circuit: with more, the other workers' successes (calls going on
#: meanwhile) would end the run of failures before it opened, as they should.
FAIL_MAX = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _server(binary: str, directory: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", "--dir", str(directory), *extra]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(2000):
        if _ready(port):
            return process, port
        time.sleep(0.005)
    process.kill()
    msg = f"redis-server on port {port} did not answer"
    raise RuntimeError(msg)


@contextlib.contextmanager
def redis(cluster: bool) -> Iterator[tuple[str, list[int]] | None]:
    """A private redis-server, or a three-master cluster: (URL, the ports), or ``None``."""
    binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if binary is None or (cluster and cli is None):
        yield None
        return
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            if not cluster:
                process, port = _server(binary, Path(tmp))
                processes.append(process)
                yield f"redis://127.0.0.1:{port}/0", [port]
                return
            ports = []
            for index in range(3):
                directory = Path(tmp) / str(index)
                directory.mkdir()
                options = ["--cluster-enabled", "yes", "--cluster-port", str(free_port())]
                options += ["--cluster-config-file", str(directory / "nodes.conf")]
                process, port = _server(binary, directory, *options)
                processes.append(process)
                ports.append(port)
            assert cli is not None
            nodes = [f"127.0.0.1:{port}" for port in ports]
            create = [cli, "--cluster", "create", *nodes, "--cluster-yes"]
            subprocess.run(create, check=True, capture_output=True, timeout=60)
            _cluster_ok(ports)
            yield f"redis+cluster://127.0.0.1:{ports[0]}", ports
        finally:
            close_links()  # their subscribers, before the servers go
            for process in processes:
                process.kill()
                process.wait()


def _cluster_ok(ports: list[int]) -> None:
    import redis as redis_py

    for _ in range(2000):
        infos = [redis_py.Redis(port=port).cluster("info") for port in ports]
        if all(info.get("cluster_state") == "ok" for info in infos):
            return
        time.sleep(0.01)
    msg = "the cluster did not come up"
    raise RuntimeError(msg)


# --- 1. the happy path -----------------------------------------------------------------------


def _ok() -> str:
    return "ok"


async def _aok() -> str:
    return "ok"


def _listening(storage: RedisStorage) -> None:
    link = storage.link()
    for _ in range(2000):
        if link.watch.synced:
            return
        time.sleep(0.005)
    msg = "the subscription did not start"
    raise RuntimeError(msg)


ROUNDS = 7


def per_call(policies: list[Policy], number: int) -> list[float]:
    """Median microseconds per successful call through each policy (sync), their rounds
    interleaved so that a busy moment of the machine costs them alike."""
    guarded = [policy(_ok) for policy in policies]
    samples: list[list[float]] = [[] for _ in policies]
    for _ in range(ROUNDS):
        for fn, taken in zip(guarded, samples, strict=True):
            for _ in range(min(number, 500)):
                fn()
            begin = time.perf_counter()
            for _ in range(number):
                fn()
            taken.append((time.perf_counter() - begin) / number * 1e6)
    return [statistics.median(taken) for taken in samples]


def per_acall(policies: list[Policy], number: int) -> list[float]:
    """The same for awaited calls."""
    guarded = [policy(_aok) for policy in policies]

    async def run() -> list[float]:
        samples: list[list[float]] = [[] for _ in policies]
        for _ in range(ROUNDS):
            for fn, taken in zip(guarded, samples, strict=True):
                for _ in range(min(number, 500)):
                    await fn()
                begin = time.perf_counter()
                for _ in range(number):
                    await fn()
                taken.append((time.perf_counter() - begin) / number * 1e6)
        return [statistics.median(taken) for taken in samples]

    return asyncio.run(run())


def happy_path(url: str, number: int) -> dict[str, float]:
    storage = RedisStorage(url=url, namespace="bench-happy")
    memory = Policy("happy", breaker=Breaker())
    shared = Policy("happy", breaker=Breaker(storage=storage))
    shared.call(_ok)
    _listening(storage)
    results: dict[str, float] = {}
    results["memory_sync"], results["redis_sync"] = per_call([memory, shared], number)
    results["memory_async"], results["redis_async"] = per_acall([memory, shared], number)
    print(f"happy path, us per successful call ({number} calls x {ROUNDS} rounds, median):")
    for mode in ("sync", "async"):
        mem, red = results[f"memory_{mode}"], results[f"redis_{mode}"]
        print(f"  {mode:<5}  memory {mem:7.2f}   Redis {red:7.2f}   x{red / mem:.2f}")
    return results


# --- 2. the failure path ---------------------------------------------------------------------


def _commandstats(ports: list[int]) -> dict[str, int]:
    import redis as redis_py

    totals: dict[str, int] = {}
    for port in ports:
        for name, entry in redis_py.Redis(port=port).info("commandstats").items():
            command = name.removeprefix("cmdstat_")
            totals[command] = totals.get(command, 0) + int(entry["calls"])
    for command in ("info", "config|resetstat", "hello", "ping"):
        totals.pop(command, None)
    return totals


def _resetstat(ports: list[int]) -> None:
    import redis as redis_py

    for port in ports:
        redis_py.Redis(port=port).config_resetstat()


def _down() -> None:
    raise ConnectionRefusedError("the service is down")


def _count(policy: Policy, number: int, ports: list[int]) -> tuple[float, float, float]:
    """(scripts, commands, microseconds) per failing call through ``policy``."""
    with contextlib.suppress(ConnectionError):
        policy.call(_down)  # each script's first use loads it
    _resetstat(ports)
    begin = time.perf_counter()
    for _ in range(number):
        with contextlib.suppress(ConnectionError):
            policy.call(_down)
    took = (time.perf_counter() - begin) / number * 1e6
    stats = _commandstats(ports)
    scripts = stats.get("evalsha", 0) + stats.get("eval", 0)
    return scripts / number, sum(stats.values()) / number, took


def failure_path(url: str, ports: list[int], number: int) -> float:
    storage = RedisStorage(url=url, namespace="bench-failure")
    breaker = Breaker(fail_max=10**9, storage=storage)
    alone = Policy("failing", breaker=breaker)
    alone.call(_ok)
    _listening(storage)
    scripts, commands, took = _count(alone, number, ports)
    budget = Budget(ratio=1.0, storage=storage)
    retried = Policy("retried", breaker=breaker, retry=Retry(attempts=2, budget=budget))
    retried.call(_ok)
    with no_wait():  # the retries' backoff is not what is measured
        b_scripts, b_commands, b_took = _count(retried, number, ports)
    print(f"\nfailure path ({number} failing calls, counted by INFO commandstats):")
    print(
        f"  breaker             {scripts:.2f} scripts (round trips) per failure, "
        f"{commands:.1f} commands with those inside, {took:6.1f} us per call"
    )
    print(
        f"  breaker + budget    {b_scripts:.2f} scripts per call of 2 failing attempts (one per "
        f"failure, one for the retry's decision), {b_commands:.1f} commands, {b_took:6.1f} us"
    )
    return scripts


# --- 3. propagation --------------------------------------------------------------------------


def worker(index: int, url: str, commands: Any, reports: Any) -> None:
    """One process of the fleet: calls a healthy service every 0.2 ms and reports when its
    calls start being refused and when they are let through again."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    storage = RedisStorage(url=url, namespace="bench-propagation")
    breaker = Breaker(fail_max=FAIL_MAX, reset_timeout=3600.0, storage=storage)
    policy = Policy("fleet", breaker=breaker)
    policy.call(_ok)
    _listening(storage)
    # A first failure elsewhere loads what every first failure loads (the classifier's
    # catalogs, the script, the events): not what propagation is about.
    warm = Policy(f"warm-up-{index}", breaker=breaker)
    with contextlib.suppress(ConnectionError):
        warm.call(_down)
    reports.put(("ready", index, 0.0))
    refused = False
    while True:
        try:
            command = commands.get_nowait()
        except queue.Empty:
            command = None
        if command == "stop":
            return
        if command == "trip":
            started = 0.0
            for attempt in range(FAIL_MAX):
                started = time.monotonic() if attempt == FAIL_MAX - 1 else started
                with contextlib.suppress(ConnectionError, CircuitOpenError):
                    policy.call(_down)
            reports.put(("tripped", index, started))
            refused = True
            continue
        try:
            policy.call(_ok)
        except CircuitOpenError:
            if not refused:
                reports.put(("refused", index, time.monotonic()))
                refused = True
        else:
            if refused:
                reports.put(("closed", index, time.monotonic()))
                refused = False
        time.sleep(0.0002)


def propagation(url: str, trips: int, workers: int = 3) -> list[float]:
    """Per trip, the slowest other worker's delay (ms)."""
    context = multiprocessing.get_context("spawn")
    reports: Any = context.Queue()
    queues: list[Any] = [context.Queue() for _ in range(workers)]
    processes = [
        context.Process(target=worker, args=(i, url, q, reports), daemon=True)
        for i, q in enumerate(queues)
    ]
    for process in processes:
        process.start()
    storage = RedisStorage(url=url, namespace="bench-propagation")
    operator = Policy("fleet", breaker=Breaker(fail_max=FAIL_MAX, storage=storage))
    assert operator.circuit is not None
    slowest: list[float] = []
    every: list[float] = []
    try:
        for _ in range(workers):
            reports.get(timeout=60)
        for trip in range(trips):
            tripper = trip % workers
            queues[tripper].put("trip")
            seen: dict[str, list[tuple[int, float]]] = {"tripped": [], "refused": []}
            while len(seen["tripped"]) < 1 or len(seen["refused"]) < workers - 1:
                kind, index, at = reports.get(timeout=30)
                seen.setdefault(kind, []).append((index, at))
            started = seen["tripped"][0][1]
            delays = [(at - started) * 1000 for index, at in seen["refused"]]
            every += delays
            slowest.append(max(delays))
            operator.circuit.close()
            closed = 0
            while closed < workers:
                kind, _, _ = reports.get(timeout=30)
                closed += kind == "closed"
    finally:
        for q in queues:
            q.put("stop")
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    quantiles = statistics.quantiles(slowest, n=100, method="inclusive")
    print(
        f"\npropagation, {trips} trips in {workers} worker processes (ms from the start of the "
        "failing call to the first refused call in each other worker):"
    )
    print(
        f"  slowest other worker per trip: p50 {statistics.median(slowest):.2f}  "
        f"p99 {quantiles[98]:.2f}  max {max(slowest):.2f}"
    )
    print(f"  every other worker: p50 {statistics.median(every):.2f}  max {max(every):.2f}")
    return slowest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000, help="calls per round (happy path)")
    parser.add_argument("--failures", type=int, default=500, help="failing calls")
    parser.add_argument("--trips", type=int, default=50, help="circuits opened")
    parser.add_argument("--cluster", action="store_true", help="a 3-master Redis Cluster")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    with redis(args.cluster) as started:
        if started is None:
            print("skipped: redis-server (and redis-cli for --cluster) are not installed")
            return 0
        url, ports = started
        print(f"on {'a 3-master Redis Cluster' if args.cluster else 'one redis-server'}\n")
        happy = happy_path(url, args.calls)
        scripts = failure_path(url, ports, args.failures)
        slowest = propagation(url, args.trips)
    p99 = statistics.quantiles(slowest, n=100, method="inclusive")[98]
    print(
        f"fleet happy_sync={happy['redis_sync'] / happy['memory_sync']:.2f} "
        f"happy_async={happy['redis_async'] / happy['memory_async']:.2f} "
        f"scripts_per_failure={scripts:.2f} propagation_p99_ms={p99:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
