"""When does each breaker open? resilience4j's point, on a virtual clock.

Run it from a checkout: ``python benchmarks/rate_vs_consecutive.py`` (a few seconds; it needs
freezegun, in the test extra). ``--check`` exits 1 unless the failure-rate breaker opens
within its window and the consecutive one stays closed at 1,000 calls a second.

A consecutive breaker (``Breaker(fail_max=5)``) counts failures in a row, whatever the traffic.
A failure-rate breaker (``Breaker(failure_rate=0.2, window_seconds=10, min_calls=100)``)
judges the share of failures over its window. Three services, each called through both,
every call one millisecond (or one minute) of virtual time later than the one before:

- ``3 of 10 backends down``: 1,000 calls a second, round-robin over ten backends of which
  three refuse connections: a steady 30 % error rate, never more than three failures in a
  row. The rate breaker opens once its window holds ``min_calls`` calls (a tenth of a second);
  the consecutive one never does.
- ``30 % random errors``: 1,000 calls a second, each failing with probability 0.3 (seeded):
  here five failures in a row come by chance, sooner or later; when is luck.
- ``5 blips, 1 call a minute``: five failures in a row among calls a minute apart, then
  health: the consecutive breaker opens on the blips; the rate one never holds 100 calls in
  10 seconds, so it stays closed (as it should: five failed calls in five minutes is no
  outage worth refusing every call for).

Each line says when the breaker opened (virtual seconds after the first call), after how many
calls, and its failure rate then; or that it stayed closed over the whole run.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # runs from a checkout, installed or not
    sys.path.insert(0, str(ROOT))

CONSECUTIVE = "consecutive (fail_max=5)"
RATE = "failure rate (20 % over 10 s, min 100 calls)"
WINDOW_SECONDS = 10.0


@dataclass
class Scenario:
    """Outcomes of successive calls (``True``: the call fails) and the time between them."""

    name: str
    interval: float
    calls: int
    outcomes: Callable[[], Iterator[bool]]


def round_robin() -> Iterator[bool]:
    """Ten backends in turn, the first three down."""
    index = 0
    while True:
        yield index % 10 < 3
        index += 1


def random_errors(seed: int) -> Callable[[], Iterator[bool]]:
    def outcomes() -> Iterator[bool]:
        rng = random.Random(seed)
        while True:
            yield rng.random() < 0.3

    return outcomes


def blips() -> Iterator[bool]:
    """Ten healthy calls, five failed ones, then health."""
    yield from [False] * 10
    yield from [True] * 5
    while True:
        yield False


@dataclass
class Opened:
    """When a breaker opened, or ``None`` fields when it never did."""

    at: float | None
    calls: int
    failures: int


def run(scenario: Scenario, make: Callable[[], object]) -> Opened:
    """Call through a fresh policy until its breaker opens or the scenario ends."""
    from freezegun import freeze_time

    from resilience import CircuitOpenError, Policy

    def service(fail: bool) -> str:
        if fail:
            msg = "connection refused by a backend"
            raise ConnectionRefusedError(msg)
        return "ok"

    policy = Policy(f"bench-{scenario.name}", breaker=make())  # type: ignore[arg-type]
    failures = 0
    outcomes = scenario.outcomes()
    with freeze_time("2025-01-01 00:00:00") as clock:
        for number in range(1, scenario.calls + 1):
            fail = next(outcomes)
            failures += fail
            try:
                policy.call(service, fail)
            except ConnectionError:
                pass
            except CircuitOpenError:  # pragma: no cover - the loop stops at opening
                break
            if policy.breaker_state == "open":
                return Opened((number - 1) * scenario.interval, number, failures)
            clock.tick(scenario.interval)
    return Opened(None, scenario.calls, failures)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="virtual seconds at 1,000/s")
    parser.add_argument("--seed", type=int, default=13, help="seed of the random errors")
    parser.add_argument("--check", action="store_true", help="exit 1 if the point fails")
    args = parser.parse_args(argv)
    # The breakers' events go to the standard logging module; a bare run prints only the table.
    logging.getLogger("resilience").setLevel(logging.CRITICAL)

    from resilience import Breaker

    breakers: dict[str, Callable[[], object]] = {
        CONSECUTIVE: lambda: Breaker(fail_max=5),
        RATE: lambda: Breaker(failure_rate=0.2, window_seconds=WINDOW_SECONDS, min_calls=100),
    }
    busy = int(args.seconds * 1000)
    scenarios = [
        Scenario("3 of 10 backends down, 1,000 calls/s", 0.001, busy, round_robin),
        Scenario("30 % random errors, 1,000 calls/s", 0.001, busy, random_errors(args.seed)),
        Scenario("5 blips, 1 call a minute", 60.0, 120, blips),
    ]
    found: dict[tuple[str, str], Opened] = {}
    for scenario in scenarios:
        print(f"== {scenario.name} ({scenario.calls:,} calls)")
        for label, make in breakers.items():
            opened = run(scenario, make)
            found[scenario.name, label] = opened
            if opened.at is None:
                what = f"stayed closed ({opened.failures:,} failures in {opened.calls:,} calls)"
            else:
                rate = opened.failures / opened.calls
                what = (
                    f"opened at {opened.at:,.3f} s, call {opened.calls:,} "
                    f"({opened.failures:,} failed so far, {rate:.0%})"
                )
            print(f"  {label:<46} {what}")
        print()
    steady = scenarios[0].name
    rate_at = found[steady, RATE].at
    point = (
        rate_at is not None and rate_at <= WINDOW_SECONDS and found[steady, CONSECUTIVE].at is None
    )
    verdict = "holds" if point else "FAILS"
    print(
        f"point {verdict}: at 1,000 calls/s with a 30 % error rate the rate breaker opens "
        f"within its {WINDOW_SECONDS:g} s window and the consecutive one does not"
    )
    return 1 if args.check and not point else 0


if __name__ == "__main__":
    sys.exit(main())
