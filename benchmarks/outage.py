"""How much do retries multiply an outage? And what does a Redis-backed breaker cost per call?

Run it from a checkout with the test extras installed: ``python benchmarks/outage.py``
(about 20 s; ``--help`` for the knobs).

Part 1, amplification. An HTTP service on 127.0.0.1 answers 200, except for ``--down``
seconds, starting ``--before`` seconds in, when it answers 503. ``--clients`` threads each make
``--calls`` calls, one every ``--interval`` seconds, through one of:

- ``none``: a single attempt;
- ``tenacity``: ``Retrying(stop=stop_after_attempt(3), wait=wait_random_exponential(...),
  retry=retry_if_exception_type(HTTPError), reraise=True)``;
- ``resilience``: ``Policy(retry=Retry(attempts=3, budget=Budget(ratio=0.1)))``, the budget
  otherwise at its defaults (10 s window, 1 retry/s reserve), shared by the clients (one
  policy, as one process);
- ``shared``: the same, with the budget in a private ``redis-server``
  (``Budget(ratio=0.1, storage=RedisStorage(...))``), as a fleet shares it.

Backoffs are small (2 ms to 10 ms) so that it runs quickly. Amplification is the number of
requests reaching the service while it is down, over the number of calls started while it
is down: 1 without retries, about 3 with three attempts each, and, with a 10 % budget, at
most 1.1 plus what the calls made before the outage (still in the budget's window) allow.

Part 2, the price of a shared breaker: microseconds per successful call through
``Policy(breaker=Breaker())`` with memory storage and with ``RedisStorage`` against a private
``redis-server`` (started on a free port; both Redis parts are skipped with a message when it
isn't installed). A closed circuit is read from the process's mirror, kept current by
pub/sub: no round trip (``benchmarks/fleet.py`` measures the rest of a fleet's costs).

The last line reads ``amplification none=A tenacity=B resilience=C shared=D``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import logging
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import structlog
import tenacity

from resilience import Backoff, Breaker, Budget, Policy, RedisStorage, Retry


class Service:
    """An HTTP service on 127.0.0.1 that is down (503) from ``down_at`` for ``down_for`` s."""

    def __init__(self) -> None:
        self.down_at = float("inf")
        self.down_for = 0.0
        self.arrivals: list[float] = []
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:
                now = time.monotonic()
                service.arrivals.append(now)  # list.append is atomic
                down = service.down_at <= now < service.down_at + service.down_for
                body = b"down" if down else b"ok"
                self.send_response(503 if down else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 256
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our own http URL
        body: bytes = response.read()
        return body


def scenario(name: str, url: str, redis_url: str | None = None) -> Callable[[], object]:
    """One call of ``url`` the way ``name`` makes it (``shared``: the budget in Redis)."""
    if name == "none":
        return lambda: fetch(url)
    if name == "tenacity":
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(3),
            wait=tenacity.wait_random_exponential(multiplier=0.002, max=0.01),
            retry=tenacity.retry_if_exception_type(urllib.error.HTTPError),
            reraise=True,
        )
        return lambda: retrying(fetch, url)
    backoff = Backoff(initial=0.002, maximum=0.01)
    storage = None
    if name == "shared":
        assert redis_url is not None
        storage = RedisStorage(url=redis_url, namespace=f"outage-{time.monotonic_ns()}")
    budget = Budget(ratio=0.1, storage=storage)
    policy = Policy("outage", retry=Retry(attempts=3, backoff=backoff, budget=budget))
    return lambda: policy.call(fetch, url)


def amplification(
    name: str, args: argparse.Namespace, redis_url: str | None = None
) -> tuple[float, int, int]:
    """Requests reaching the service while it is down / calls started while it is down."""
    service = Service()
    try:
        call = scenario(name, service.url, redis_url)
        starts: list[float] = []
        start = time.monotonic()
        service.down_at = start + args.before
        service.down_for = args.down

        def client() -> None:
            for i in range(args.calls):
                pause = start + i * args.interval - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                starts.append(time.monotonic())
                with contextlib.suppress(urllib.error.HTTPError):
                    call()

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        service.close()

    def during(t: float) -> bool:
        return service.down_at <= t < service.down_at + service.down_for

    calls = sum(map(during, starts))
    hits = sum(map(during, service.arrivals))
    return hits / max(calls, 1), hits, calls


# --- the price of a shared breaker -----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_redis(directory: str) -> tuple[subprocess.Popen[bytes], str] | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(1000):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.005)
    process.kill()
    return None


def per_call(policy: Policy, number: int, rounds: int = 5) -> float:
    """Median microseconds per successful call through ``policy``."""

    def noop() -> None:
        return None

    guarded = policy(noop)
    for _ in range(min(number, 200)):
        guarded()
    samples = []
    for _ in range(rounds):
        begin = time.perf_counter()
        for _ in range(number):
            guarded()
        samples.append((time.perf_counter() - begin) / number * 1e6)
    return statistics.median(samples)


def breaker_cost(number: int, url: str | None) -> None:
    if url is None:
        print("breaker cost: skipped (redis-server is not installed; apt install redis-server)")
        return
    memory = per_call(Policy("memory", breaker=Breaker()), number)
    storage = RedisStorage(url=url, namespace="bench")
    shared = Policy("redis", breaker=Breaker(storage=storage))
    shared.call(lambda: None)
    for _ in range(1000):  # the mirror is current once the subscription is live
        if storage.link().watch.synced:
            break
        time.sleep(0.005)
    redis = per_call(shared, number)
    print(f"breaker cost per successful call ({number} calls x 5 rounds, median):")
    print(f"  memory storage   {memory:8.2f} us")
    print(f"  Redis storage    {redis:8.2f} us  (+{redis - memory:.1f} us, local redis-server)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, metavar="M")
    parser.add_argument("--calls", type=int, default=400, metavar="N", help="per client")
    parser.add_argument("--interval", type=float, default=0.01, help="seconds between calls")
    parser.add_argument("--before", type=float, default=0.5, help="seconds up before the outage")
    parser.add_argument("--down", type=float, default=3.0, metavar="T", help="outage seconds")
    parser.add_argument("--redis-calls", type=int, default=2000, help="calls per round")
    args = parser.parse_args()
    # This script is the application: it keeps the policies' events (one per retry and
    # give-up, thousands here) off the console.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))

    with tempfile.TemporaryDirectory() as directory:
        started = start_redis(directory)
        url = None if started is None else started[1]
        try:
            breaker_cost(args.redis_calls, url)
            print(
                f"\n{args.clients} clients x {args.calls} calls, one every "
                f"{args.interval * 1000:g} ms; the service is down from {args.before:g} s for "
                f"{args.down:g} s"
            )
            results = {}
            names = ["none", "tenacity", "resilience"] + (["shared"] if url else [])
            for name in names:
                ratio, hits, calls = amplification(name, args, url)
                results[name] = ratio
                print(
                    f"  {name:<11} {calls:5d} calls during the outage, {hits:5d} requests: "
                    f"x{ratio:.2f}"
                )
        finally:
            if started is not None:
                started[0].kill()
                started[0].wait()
    print(" ".join(["amplification", *(f"{name}={ratio:.2f}" for name, ratio in results.items())]))


if __name__ == "__main__":
    main()
