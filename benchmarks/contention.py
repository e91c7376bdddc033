"""The AWS "Exponential Backoff And Jitter" simulation, driven by resilience's own Backoff.

Run it from a checkout: ``python benchmarks/contention.py`` (under two minutes; ``--quick``
for a rough look in a few seconds). It needs matplotlib for the plots (the ``bench`` extra).

The model is the one of Marc Brooker's article on the AWS Architecture Blog (2015) and of its
simulator: N clients each want to update one row guarded by optimistic concurrency. A
client reads the row's version, then writes with that version; the write succeeds only if
nobody wrote in between, else the client backs off and starts again with a fresh read. Every
message takes a network delay drawn from a normal distribution (mean 10 ms, sd 2 ms). A
trial ends when every client has written; its completion time is when the last client
hears of its success, its work the number of writes the row received. Each point is the
mean of 100 trials, N = 10, 20, ..., 100.

The waits come from ``resilience.Backoff(initial=0.005, maximum=2.0, jitter=...)``: 5 ms
base, 2 s cap, retry k waiting ``min(cap, base * 2 ** (k - 1))`` before jitter, with a seeded
``random.Random`` handed to ``Backoff.delay(rng=...)`` so every run gives the same figures.
"no backoff" retries at once (``Backoff(initial=0, ...)``, whose delays are all zero);
"exponential" is ``jitter="none"``. (The article's simulator doubles once more before the
first wait, 10 ms; the shape of the results is the same.)

The article's finding, checked at the end: at 100 clients, full jitter needs less than
half the calls of exponential backoff without jitter.

The last line reads ``contention n=100 calls_none=.. calls_expo=.. calls_full=..
calls_equal=.. calls_decorrelated=..`` (mean writes per trial at 100 clients).
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # runs from a checkout, installed or not
    sys.path.insert(0, str(ROOT))

from resilience import Backoff  # noqa: E402 - after the checkout is on the path

RESULTS = HERE / "results"
IMG = ROOT / "docs" / "img"

BASE, CAP = 0.005, 2.0  # seconds
NET_MEAN, NET_SD = 0.010, 0.002

#: The strategies, by the name the last line uses, with the Backoff each one runs on.
STRATEGIES: dict[str, Backoff] = {
    "none": Backoff(initial=0.0, maximum=CAP, jitter="none"),
    "expo": Backoff(initial=BASE, maximum=CAP, jitter="none"),
    "full": Backoff(initial=BASE, maximum=CAP, jitter="full"),
    "equal": Backoff(initial=BASE, maximum=CAP, jitter="equal"),
    "decorrelated": Backoff(initial=BASE, maximum=CAP, jitter="decorrelated"),
}
LABELS = {
    "none": "no backoff",
    "expo": "exponential, no jitter",
    "full": "full jitter",
    "equal": "equal jitter",
    "decorrelated": "decorrelated jitter",
}

_READ, _WRITE = 0, 1


def trial(clients: int, backoff: Backoff, rng: random.Random) -> tuple[float, int]:
    """One trial: (completion time in seconds, writes) for ``clients`` contending clients.

    Events are the messages reaching the server, in time order. A client's read reaching
    the server at ``t`` sees the current version; its write then reaches the server two
    network delays later (the read's answer travels back, the write travels out). A write
    with a stale version fails; its answer travels back, the client waits its backoff and
    reads again.
    """
    gauss = rng.gauss
    delay = backoff.delay
    version = 0
    writes = 0
    finished = 0.0
    retries = [0] * clients
    previous: list[float | None] = [None] * clients
    # (time, client, kind, version read); the client index breaks the (unlikely) time ties.
    queue: list[tuple[float, int, int, int]] = [
        (abs(gauss(NET_MEAN, NET_SD)), client, _READ, 0) for client in range(clients)
    ]
    heapq.heapify(queue)
    pop, push = heapq.heappop, heapq.heappush
    while queue:
        now, client, kind, seen = pop(queue)
        if kind == _READ:
            later = now + abs(gauss(NET_MEAN, NET_SD)) + abs(gauss(NET_MEAN, NET_SD))
            push(queue, (later, client, _WRITE, version))
            continue
        writes += 1
        answered = now + abs(gauss(NET_MEAN, NET_SD))
        if seen == version:
            version += 1
            finished = max(finished, answered)
            continue
        retries[client] += 1
        wait = delay(retries[client], previous[client], rng)
        previous[client] = wait
        push(queue, (answered + wait + abs(gauss(NET_MEAN, NET_SD)), client, _READ, 0))
    return finished, writes


@dataclass
class Point:
    """The mean of ``trials`` trials of one strategy at one number of clients."""

    strategy: str
    clients: int
    trials: int
    time_ms: float
    calls: float


def simulate(strategy: str, clients: int, trials: int, seed: int) -> Point:
    """Run ``trials`` trials, reproducibly: the RNG is seeded by (seed, strategy, clients)."""
    index = list(STRATEGIES).index(strategy)
    rng = random.Random(seed * 1_000_003 + index * 1_009 + clients)
    backoff = STRATEGIES[strategy]
    total_time = 0.0
    total_calls = 0
    for _ in range(trials):
        finished, writes = trial(clients, backoff, rng)
        total_time += finished
        total_calls += writes
    return Point(strategy, clients, trials, 1000 * total_time / trials, total_calls / trials)


def run(
    clients: list[int], trials: int, seed: int, *, progress: bool = True
) -> dict[str, list[Point]]:
    """Every strategy at every number of clients."""
    results: dict[str, list[Point]] = {name: [] for name in STRATEGIES}
    for n in clients:
        for name in STRATEGIES:
            results[name].append(simulate(name, n, trials, seed))
        if progress:
            print(f"  {n} clients done", flush=True)
    return results


def table(results: dict[str, list[Point]], field: str, title: str) -> str:
    """One figure (``calls`` or ``time_ms``) of every strategy, a row per number of clients."""
    names = list(results)
    head = f"{'clients':>7} " + " ".join(f"{name:>13}" for name in names)
    lines = [f"== {title}", head]
    for row in zip(*(results[name] for name in names), strict=True):
        cells = " ".join(f"{getattr(point, field):>13,.1f}" for point in row)
        lines.append(f"{row[0].clients:>7} {cells}")
    return "\n".join(lines)


def plot(results: dict[str, list[Point]], img: Path) -> list[Path]:
    """Calls and completion time by strategy and number of clients, as two small PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for field, name, label, scale in (
        ("calls", "contention-calls.png", "writes per trial (work)", "linear"),
        ("time_ms", "contention-time.png", "completion time (ms, log scale)", "log"),
    ):
        fig, ax = plt.subplots(figsize=(6, 3.6), dpi=80)
        for strategy, points in results.items():
            ax.plot(
                [p.clients for p in points],
                [getattr(p, field) for p in points],
                marker="o",
                markersize=3,
                label=LABELS[strategy],
            )
        ax.set_yscale(scale)
        ax.set_xlabel("contending clients", fontsize=9)
        ax.set_ylabel(label, fontsize=9)
        ax.set_title(f"{len(points)} points, mean of {points[0].trials} trials each", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        img.mkdir(parents=True, exist_ok=True)
        path = img / name
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def write_json(path: Path, results: dict[str, list[Point]], args: argparse.Namespace) -> None:
    """The figures, with the model's parameters."""
    data: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": {
            "base_s": BASE,
            "cap_s": CAP,
            "network_mean_s": NET_MEAN,
            "network_sd_s": NET_SD,
            "trials": args.trials,
            "seed": args.seed,
        },
        "points": {
            name: [{"clients": p.clients, "time_ms": p.time_ms, "calls": p.calls} for p in points]
            for name, points in results.items()
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="The AWS backoff-and-jitter contention simulation (see the docstring)."
    )
    parser.add_argument("--quick", action="store_true", help="20 trials, N = 10, 40, 70, 100")
    parser.add_argument("--trials", type=int, help="trials per point (default 100; quick 20)")
    parser.add_argument(
        "--clients", type=int, nargs="+", help="numbers of clients (default 10 20 ... 100)"
    )
    parser.add_argument("--seed", type=int, default=2015, help="seed of every RNG")
    parser.add_argument("--json", type=Path, help="where to write the JSON results")
    parser.add_argument(
        "--img", type=Path, help="where to write the PNG plots (default docs/img; none if quick)"
    )
    parser.add_argument("--no-plots", action="store_true", help="write no PNG")
    args = parser.parse_args(argv)
    if args.trials is None:
        args.trials = 20 if args.quick else 100
    if args.clients is None:
        args.clients = [10, 40, 70, 100] if args.quick else list(range(10, 101, 10))
    if args.img is None and not args.quick:
        args.img = IMG
    if args.img is None:
        args.no_plots = True  # a rough look does not replace the figures of the docs
    if args.json is None:
        args.json = RESULTS / f"contention-{time.strftime('%Y%m%d-%H%M%S')}.json"
    return args


def main(argv: list[str] | None = None) -> int:
    """Simulate, print the tables, write JSON and plots; the last line gives the calls.

    Returns 1 when the article's finding does not hold (full jitter needs fewer than half
    the calls of un-jittered exponential backoff at the largest number of clients).
    """
    args = parse(argv)
    started = time.perf_counter()
    results = run(args.clients, args.trials, args.seed)
    print(table(results, "calls", "writes per trial (work), mean"), end="\n\n")
    print(table(results, "time_ms", "completion time (ms), mean"), end="\n\n")
    write_json(args.json, results, args)
    if not args.no_plots:
        plot(results, args.img)
    last = {name: points[-1] for name, points in results.items()}
    n = last["full"].clients
    holds = last["full"].calls < last["expo"].calls / 2
    print(f"results: {args.json} ({time.perf_counter() - started:.0f} s)")
    print(
        f"finding at {n} clients: full jitter {last['full'].calls:.0f} calls, exponential "
        f"{last['expo'].calls:.0f}: {'holds' if holds else 'DOES NOT HOLD'} (< half)"
    )
    calls = " ".join(f"calls_{name}={point.calls:.0f}" for name, point in last.items())
    print(f"contention n={n} {calls}")
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
