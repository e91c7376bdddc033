"""Does hedging cut the tail? A local server whose answers are slow one time in ten.

Run it from a checkout: ``python benchmarks/run.py``'s sibling, ``python benchmarks/hedge.py``
(a few seconds). A raw asyncio HTTP/1.1 server on 127.0.0.1 answers each request after
``--fast`` milliseconds, or, for a tenth of the requests (drawn with a fixed seed), after
``--slow`` milliseconds. The client opens a connection per request (closing it when
cancelled, as HTTP clients do). The same requests are made, ``--concurrency`` at a time,
through two policies:

- ``plain``: ``Policy("plain")``, one attempt per call;
- ``hedged``: ``Policy("hedged", hedge=Hedge(delay=--delay ms))``: after the delay without
  an answer, a second attempt starts; the first answer wins, the other is cancelled.

It prints the latency percentiles of each, how many requests the server got and how many
connections it saw closed before it answered (the cancelled losers), and last a line
``hedge p99_plain=A p99_hedged=B ratio=B/A extra_requests=E`` (milliseconds, and the share
of extra requests the hedges cost). ``--check`` exits 1 unless p99 drops.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # runs from a checkout, installed or not
    sys.path.insert(0, str(ROOT))


class Server:
    """Answers ``GET /`` after a delay: slow for a seeded tenth of the requests."""

    def __init__(self, fast: float, slow: float, share: float, seed: int) -> None:
        self.fast, self.slow, self.share = fast, slow, share
        self.random = random.Random(seed)
        self.requests = 0
        self.closed_early = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        while (await reader.readline()).strip():
            pass
        self.requests += 1
        delay = self.slow if self.random.random() < self.share else self.fast
        try:
            # Answer after the delay, unless the client goes away first (EOF).
            await asyncio.wait_for(reader.read(1), delay)
        except TimeoutError:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
        else:
            self.closed_early += 1
        writer.close()


async def fetch(port: int) -> bytes:
    """One request on a connection of its own, closed however the call ends."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
        await writer.drain()
        status = await reader.readline()
        if not status.startswith(b"HTTP/1.1 200"):
            msg = f"unexpected answer {status!r}"
            raise ConnectionError(msg)
        return await reader.read()
    finally:
        writer.close()


async def measure(
    server: Server, policy: object, requests: int, concurrency: int
) -> tuple[list[float], int, int]:
    """Latencies (ms) of ``requests`` calls through ``policy``, and what the server saw."""
    from resilience import Policy

    assert isinstance(policy, Policy)
    call = policy(fetch)
    latencies: list[float] = []
    queue: asyncio.Queue[None] = asyncio.Queue()
    for _ in range(requests):
        queue.put_nowait(None)
    before = server.requests, server.closed_early

    async def worker() -> None:
        while not queue.empty():
            queue.get_nowait()
            began = time.perf_counter()
            await call(server.port)
            latencies.append((time.perf_counter() - began) * 1000)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await asyncio.sleep(0.01)  # let the server notice the last closed connections
    return latencies, server.requests - before[0], server.closed_early - before[1]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


async def main_async(args: argparse.Namespace) -> dict[str, float]:
    from resilience import Hedge, Policy

    found: dict[str, float] = {}
    for name, policy in (
        ("plain", Policy("plain")),
        ("hedged", Policy("hedged", hedge=Hedge(delay=args.delay / 1000))),
    ):
        server = Server(args.fast / 1000, args.slow / 1000, args.share, args.seed)
        await server.start()
        try:
            latencies, sent, closed = await measure(server, policy, args.requests, args.concurrency)
        finally:
            await server.stop()
        p50, p90, p99 = (percentile(latencies, q) for q in (0.50, 0.90, 0.99))
        print(
            f"{name:<7} p50={p50:7.1f} ms  p90={p90:7.1f} ms  p99={p99:7.1f} ms  "
            f"max={max(latencies):7.1f} ms  mean={statistics.fmean(latencies):6.1f} ms  "
            f"server got {sent} requests, {closed} closed before the answer",
            flush=True,
        )
        found[f"p99_{name}"] = p99
        found[f"sent_{name}"] = sent
    return found


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Hedging against a server slow 10 % of the time.")
    parser.add_argument("--requests", type=int, default=500, help="calls per policy")
    parser.add_argument("--concurrency", type=int, default=8, help="calls at a time")
    parser.add_argument("--fast", type=float, default=2.0, help="usual answer time (ms)")
    parser.add_argument("--slow", type=float, default=80.0, help="slow answer time (ms)")
    parser.add_argument("--share", type=float, default=0.10, help="share of slow answers")
    parser.add_argument("--delay", type=float, default=10.0, help="hedge delay (ms)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--check", action="store_true", help="exit 1 unless p99 drops")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Measure both policies; the last line gives the p99 of each."""
    args = parse(argv)
    print(
        f"{args.requests} requests, {args.concurrency} at a time; answers in {args.fast:g} ms, "
        f"{args.share:.0%} in {args.slow:g} ms; hedge after {args.delay:g} ms\n",
        flush=True,
    )
    found = asyncio.run(main_async(args))
    ratio = found["p99_hedged"] / found["p99_plain"]
    extra = found["sent_hedged"] / found["sent_plain"] - 1
    print(
        f"hedge p99_plain={found['p99_plain']:.1f} p99_hedged={found['p99_hedged']:.1f} "
        f"ratio={ratio:.3f} extra_requests={extra:.3f}"
    )
    return 1 if args.check and ratio >= 1.0 else 0


if __name__ == "__main__":
    sys.exit(main())
