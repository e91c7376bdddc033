"""What does `resilience` cost per call, next to what users would pick instead?

Run it from a checkout: ``python benchmarks/run.py`` (a few minutes; ``--quick`` for a rough
look in a few seconds). It needs the ``bench`` extra: ``pip install -e '.[bench]'``.

Everything is measured in one process, over several interleaved rounds; each table shows
the median nanoseconds per call, the spread (inter-quartile range, as a share of the median)
and ratio columns. The groups:

- happy path, sync and asyncio: the call succeeds at once;
- failure path, sync and asyncio: two ``ConnectionError`` then success, sleeps stubbed out;
- open breaker: the cost of refusing a call;
- limits, sync: the breaker policy alone, then with a ``Concurrency`` element, a local
  ``RateLimit`` (a bucket that never runs dry), and both;
- ``classify()`` beside ``isinstance(exc, <tuple of 20 classes>)``.

Every group but the last runs twice, in two logging set-ups:

- ``service``: structlog configured as a service runs it: JSON lines with a level and an ISO
  timestamp, filtered at INFO, written to ``os.devnull``, ``cache_logger_on_first_use=True``;
- ``default``: nothing configured, what a user gets on day one: structlog left at its
  defaults (so resilience's events go to the standard ``logging`` module, unconfigured), and
  the process's stdout and stderr pointed at ``os.devnull`` while timing (for the peers that
  print, such as stamina through structlog's default printer).

The contenders (the same retry and breaker settings everywhere: 3 attempts, full-jitter
exponential backoff from 0.1 s up to 20 s, a breaker opening after 5 failures):

- ``bare``: the undecorated function;
- ``hand-written``: a try/except retry loop, the floor any library is measured against;
- ``resilience``: ``Policy("bench", retry=Retry(attempts=3), breaker=Breaker())``; on the
  happy path also with ``Breaker(failure_rate=0.5)`` and ``Breaker(failure_rate=0.5,
  window_seconds=60)``;
- ``resilience + a state listener`` (happy path, sync): the same policy with a listener that
  has only ``on_state_change``, which the happy path never calls;
- ``resilience + OTel (SDK)``, ``resilience + OTel (no SDK)`` (happy path, sync): the same
  policy with an ``OTelListener`` on the real SDK's ``MeterProvider`` (an in-memory reader),
  and on the API's no-op provider, the listener's own cost;
- ``tenacity``: ``@retry(stop=stop_after_attempt(3), reraise=True)``; on the failure path
  also ``wait=wait_random_exponential(0.1, 20)`` and ``retry_if_exception_type``;
- ``stamina``: ``@stamina.retry(on=ConnectionError, attempts=3)``;
- ``backoff``: ``@backoff.on_exception(backoff.expo, ConnectionError, max_tries=3,
  factor=0.1, max_value=20)`` (its default full jitter);
- ``pybreaker``: ``@CircuitBreaker(fail_max=5)`` (async: ``with breaker.calling():``, since
  pybreaker's own async support needs Tornado); on the failure path, inside the hand loop;
- ``circuitbreaker``: ``@circuit(failure_threshold=5)``; on the failure path, inside the hand
  loop;
- ``tenacity+pybreaker``: tenacity's ``@retry`` stacked over pybreaker.

How sleeps are stubbed on the failure path, for each library the way it offers:
``resilience.testing.no_wait()`` (the async form still yields to the event loop once per
retry, as a zero-second sleep does); tenacity's ``sleep=`` argument (a no-op); stamina's
``stamina.set_testing(True, attempts=3)`` (its backoff becomes 0 and tenacity calls
``time.sleep(0)``); backoff has no hook, so its module's ``time.sleep``/``asyncio.sleep`` is
replaced by a no-op for the duration; the hand-written loops call a no-op. Every contender
still computes its jittered delay.

The targets, in each logging set-up (``--check`` exits 1 when one is missed):

- ``floor_sync``, ``floor_async``: resilience's happy path <= 2.0x the hand-written floor;
- ``failure``: resilience's sync failure path <= 0.5x tenacity over pybreaker;
- ``open``: resilience refusing a call on an open circuit <= circuitbreaker's refusal (1.0x);
- ``rate``: resilience's sync happy path with a failure-rate breaker
  (``Breaker(failure_rate=0.5)``, a window of 100 calls) <= 1.5x with the consecutive one.
- ``rate_timed``: the same with a 60-second time window (``window_seconds=60``) <= 1.5x.
  The JSON and the ratios also give ``rate_async``.

Before them, ``otel <set-up>: ... sdk=A no_sdk=B`` gives the happy path with an
``OTelListener`` over the hand-written floor (reported: the SDK's ``Histogram.record`` alone
costs some 40 floors, see docs/benchmarks.md), and the target ``otel_hand`` <= 3.0: the same
happy path over the hand-written floor that records the same metrics by hand, on the same SDK.

And for the limits, in nanoseconds added to the breaker policy's happy path, side by side in
the same run: ``concurrency_ns`` <= 300 and ``rate_limit_ns`` <= 500.

The last lines read ``ratios <set-up> floor_sync=A floor_async=B failure=C open=D rate=E
rate_timed=F``,
one per set-up, with the medians of the same run; the lines ``limits <set-up> ...`` before
them give the limits' costs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import importlib.metadata
import io
import itertools
import json
import logging
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):  # runs from a checkout, installed or not
    if _path not in sys.path:
        sys.path.insert(0, _path)

RESULTS = HERE / "results"
IMG = ROOT / "docs" / "img"

ATTEMPTS = 3
INITIAL, MAXIMUM = 0.1, 20.0  # the backoff every contender is given
FAIL_MAX = 5
LONG = 3600.0  # reset timeout of the breakers held open: never half-opens during a run

GROUPS = (
    "happy_sync",
    "happy_asyncio",
    "failure_sync",
    "failure_asyncio",
    "open",
    "limits",
    "classify",
)
SETUPS = ("service", "default")
TARGETS = {
    "floor_sync": 2.0,
    "floor_async": 2.0,
    "failure": 0.5,
    "open": 1.0,
    "rate": 1.5,
    "rate_timed": 1.5,
}
#: The happy path with an OTelListener on the SDK, over the hand-written floor recording the
#: same metrics by hand.
OTEL_TARGET = 3.0
#: Nanoseconds a limit may add to the breaker policy's happy path (sync).
LIMIT_TARGETS = {"concurrency_ns": 300.0, "rate_limit_ns": 500.0}


# --- the service's logging -------------------------------------------------------------------


class _Sink(io.TextIOBase):
    """Where discarded output goes: like ``os.devnull``, but never closed, since a library may
    keep the stream it was given (stamina's cached structlog logger does)."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


SINK = _Sink()


@contextlib.contextmanager
def service_logging() -> Iterator[None]:
    """structlog configured as a service runs it, output discarded; restored afterwards."""
    import structlog

    was_configured = structlog.is_configured()
    saved = structlog.get_config()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(SINK),
        cache_logger_on_first_use=True,
    )
    try:
        yield
    finally:
        if was_configured:
            structlog.configure(**saved)
        else:
            structlog.reset_defaults()


@contextlib.contextmanager
def default_logging() -> Iterator[None]:
    """Nothing configured, as on day one: structlog at its defaults, the standard logging
    module untouched; stdout and stderr discarded while timing; restored afterwards."""
    import structlog

    was_configured = structlog.is_configured()
    saved = structlog.get_config()
    structlog.reset_defaults()
    with contextlib.redirect_stdout(SINK), contextlib.redirect_stderr(SINK):
        try:
            yield
        finally:
            if was_configured:
                structlog.configure(**saved)
            else:
                structlog.reset_defaults()


LOGGING: dict[str, Callable[[], contextlib.AbstractContextManager[None]]] = {
    "service": service_logging,
    "default": default_logging,
}


# --- the functions under test ----------------------------------------------------------------


def ok() -> int:
    return 1


async def aok() -> int:
    return 1


def flaky() -> Callable[[], int]:
    """A function that fails twice with a ConnectionError, then succeeds; again and again."""
    calls = 0

    def connect() -> int:
        nonlocal calls
        calls += 1
        if calls % ATTEMPTS:
            msg = "connection reset by peer"
            raise ConnectionError(msg)
        return 1

    return connect


def aflaky() -> Callable[[], Awaitable[int]]:
    """:func:`flaky`, as a coroutine function."""
    calls = 0

    async def connect() -> int:
        nonlocal calls
        calls += 1
        if calls % ATTEMPTS:
            msg = "connection reset by peer"
            raise ConnectionError(msg)
        return 1

    return connect


def _nosleep(seconds: float) -> None:
    pass


async def _anosleep(seconds: float) -> None:
    pass


def _full_jitter(retry: int) -> float:
    return random.uniform(0.0, min(MAXIMUM, INITIAL * 2 ** (retry - 1)))


def handwritten(fn: Callable[[], Any]) -> Callable[[], Any]:
    """The floor: a hand-written try/except retry loop with full-jitter backoff."""

    @functools.wraps(fn)
    def wrapper() -> Any:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return fn()
            except ConnectionError:
                if attempt == ATTEMPTS:
                    raise
                _nosleep(_full_jitter(attempt))
        return None  # pragma: no cover - the loop returns or raises

    return wrapper


def ahandwritten(fn: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
    """:func:`handwritten`, asyncio."""

    @functools.wraps(fn)
    async def wrapper() -> Any:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await fn()
            except ConnectionError:
                if attempt == ATTEMPTS:
                    raise
                await _anosleep(_full_jitter(attempt))
        return None  # pragma: no cover - the loop returns or raises

    return wrapper


def _policy(name: str, reset_timeout: float = 30.0, listeners: tuple[Any, ...] = ()) -> Any:
    from resilience import Breaker, Policy, Retry

    return Policy(
        name,
        retry=Retry(attempts=ATTEMPTS),
        breaker=Breaker(reset_timeout=reset_timeout),
        listeners=listeners,
    )


def _rate_policy(name: str, **window: Any) -> Any:
    """:func:`_policy` with a failure-rate breaker (resilience4j's defaults but 50 %)."""
    from resilience import Breaker, Policy, Retry

    return Policy(name, retry=Retry(attempts=ATTEMPTS), breaker=Breaker(failure_rate=0.5, **window))


QUIET = "resilience + a state listener"


class _Transitions:
    """A listener that asks for circuit transitions only: never called on the happy path."""

    def __init__(self) -> None:
        self.seen = 0

    def on_state_change(self, event: Any) -> None:
        self.seen += 1


OTEL_SDK = "resilience + OTel (SDK)"
OTEL_API = "resilience + OTel (no SDK)"
OTEL_HAND = "hand-written + OTel by hand"


def _handwritten_otel(fn: Callable[[], Any], provider: Any) -> Callable[[], Any]:
    """The floor, instrumented by hand as a team without a listener would: per call, the
    attempt counted and the duration recorded, with the same attributes, on the same SDK."""
    meter = provider.get_meter("hand")
    attempts = meter.create_counter("attempts")
    duration = meter.create_histogram("call.duration", unit="s")
    labels = {"policy": "hand", "outcome": "success"}
    loop = handwritten(fn)

    @functools.wraps(fn)
    def wrapper() -> Any:
        start = time.monotonic()
        result = loop()
        attempts.add(1, labels)
        duration.record(time.monotonic() - start, labels)
        return result

    return wrapper


def _otel_cases(fn: Callable[[], Any]) -> list[Case]:
    """The policy with an OTelListener: on the real SDK (a MeterProvider with an in-memory
    reader, as an exporter would have), and on the API's no-op provider (the listener's own
    cost, when the application set up no SDK)."""
    try:
        from opentelemetry.metrics import NoOpMeterProvider
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    except ImportError as exc:  # opentelemetry-sdk comes with the bench extra
        print(f"otel rows: skipped ({exc})")
        return []
    from resilience.observe.otel import OTelListener

    sdk = OTelListener(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    api = OTelListener(NoOpMeterProvider())
    hand = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return [
        Case(OTEL_HAND, _handwritten_otel(fn, hand)),
        Case(OTEL_SDK, _policy("bench-otel-sdk", listeners=(sdk,))(fn)),
        Case(OTEL_API, _policy("bench-otel-api", listeners=(api,))(fn)),
    ]


def _tenacity(*, failure: bool, is_async: bool) -> Callable[[Callable[..., Any]], Any]:
    import tenacity

    if not failure:
        return tenacity.retry(stop=tenacity.stop_after_attempt(ATTEMPTS), reraise=True)
    return tenacity.retry(
        stop=tenacity.stop_after_attempt(ATTEMPTS),
        wait=tenacity.wait_random_exponential(multiplier=INITIAL, max=MAXIMUM),
        retry=tenacity.retry_if_exception_type(ConnectionError),
        reraise=True,
        sleep=_anosleep if is_async else _nosleep,
    )


def _stamina() -> Callable[[Callable[..., Any]], Any]:
    import stamina

    return stamina.retry(on=ConnectionError, attempts=ATTEMPTS)


def _backoff() -> Callable[[Callable[..., Any]], Any]:
    import backoff

    return backoff.on_exception(
        backoff.expo, ConnectionError, max_tries=ATTEMPTS, factor=INITIAL, max_value=MAXIMUM
    )


def _pybreaker(reset_timeout: float = 30.0) -> Any:
    import pybreaker

    return pybreaker.CircuitBreaker(fail_max=FAIL_MAX, reset_timeout=reset_timeout)


def _apybreaker(breaker: Any, fn: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
    @functools.wraps(fn)
    async def wrapper() -> Any:
        with breaker.calling():
            return await fn()

    return wrapper


def _circuitbreaker(recovery_timeout: float = 30.0) -> Any:
    from circuitbreaker import CircuitBreaker

    return CircuitBreaker(
        failure_threshold=FAIL_MAX,
        recovery_timeout=recovery_timeout,
        expected_exception=ConnectionError,
    )


# --- cases and groups ------------------------------------------------------------------------


@dataclass
class Case:
    """One contender of a group: a no-argument callable, timed per call."""

    name: str
    fn: Callable[[], Any]
    is_async: bool = False
    samples: list[float] = field(default_factory=list)  # ns per call, one per round
    number: int = 0  # calls per round

    def stats(self) -> dict[str, float]:
        data = sorted(self.samples)
        q1, median, q3 = _quartiles(data)
        return {
            "median_ns": median,
            "q1_ns": q1,
            "q3_ns": q3,
            "min_ns": data[0],
            "max_ns": data[-1],
            "iqr_pct": 100.0 * (q3 - q1) / median if median else 0.0,
            "rounds": len(data),
            "calls_per_round": self.number,
        }


def _quartiles(data: list[float]) -> tuple[float, float, float]:
    if len(data) < 2:
        return data[0], data[0], data[0]
    q1, median, q3 = statistics.quantiles(data, n=4, method="inclusive")
    return q1, median, q3


@dataclass
class Group:
    """Cases compared with each other, under one stubbing context."""

    key: str
    title: str
    cases: list[Case]
    context: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext
    floor: str | None = "hand-written"

    def case(self, name: str) -> Case:
        return next(case for case in self.cases if case.name == name)


def happy_group(is_async: bool) -> Group:
    """Calls that succeed at once."""
    suffix = "asyncio" if is_async else "sync"
    fn: Any = aok if is_async else ok
    breaker = _pybreaker()
    cb = _circuitbreaker()
    tenacity_retry = _tenacity(failure=False, is_async=is_async)
    if is_async:
        pybreaker_fn = _apybreaker(breaker, fn)
        stacked = _tenacity(failure=False, is_async=True)(_apybreaker(_pybreaker(), fn))
        floor = ahandwritten(fn)
    else:
        pybreaker_fn = breaker(fn)
        stacked = _tenacity(failure=False, is_async=False)(_pybreaker()(fn))
        floor = handwritten(fn)
    cases = [
        Case("bare", fn),
        Case("hand-written", floor),
        Case("resilience", _policy(f"bench-happy-{suffix}")(fn)),
        Case("resilience (failure rate)", _rate_policy(f"bench-rate-{suffix}")(fn)),
        Case(
            "resilience (rate, 60 s window)",
            _rate_policy(f"bench-rate-timed-{suffix}", window_seconds=60)(fn),
        ),
        Case("tenacity", tenacity_retry(fn)),
        Case("stamina", _stamina()(fn)),
        Case("backoff", _backoff()(fn)),
        Case("pybreaker", pybreaker_fn),
        Case("circuitbreaker", cb(fn)),
        Case("tenacity+pybreaker", stacked),
    ]
    if not is_async:
        quiet = _policy("bench-happy-listened", listeners=(_Transitions(),))
        cases[5:5] = [Case(QUIET, quiet(fn)), *_otel_cases(fn)]  # after resilience's rows
    for case in cases:
        case.is_async = is_async
    return Group(f"happy_{suffix}", f"happy path, {suffix}: the call succeeds at once", cases)


@contextlib.contextmanager
def stubbed_sleeps() -> Iterator[None]:
    """Every library's sleeps stubbed out, each the way it offers (see the module doc)."""
    import backoff._async
    import backoff._sync
    import stamina

    from resilience.testing import no_wait

    saved = backoff._sync.time, backoff._async.asyncio
    backoff._sync.time = _Stand(time, _nosleep)  # type: ignore[assignment]
    backoff._async.asyncio = _Stand(asyncio, _anosleep)  # type: ignore[assignment]
    try:
        with stamina.set_testing(True, attempts=ATTEMPTS), no_wait():
            yield
    finally:
        backoff._sync.time, backoff._async.asyncio = saved


class _Stand:
    """A module with its ``sleep`` replaced (backoff offers no hook of its own)."""

    def __init__(self, module: Any, sleep: Callable[[float], Any]) -> None:
        self._module = module
        self.sleep = sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


def failure_group(is_async: bool) -> Group:
    """Two retryable failures, then success."""
    suffix = "asyncio" if is_async else "sync"
    fresh: Callable[[], Any] = aflaky if is_async else flaky
    loop = ahandwritten if is_async else handwritten
    if is_async:
        pybreaker_fn = loop(_apybreaker(_pybreaker(), fresh()))
        stacked = _tenacity(failure=True, is_async=True)(_apybreaker(_pybreaker(), fresh()))
    else:
        pybreaker_fn = loop(_pybreaker()(fresh()))
        stacked = _tenacity(failure=True, is_async=False)(_pybreaker()(fresh()))
    cases = [
        Case("hand-written", loop(fresh())),
        Case("resilience", _policy(f"bench-failure-{suffix}")(fresh())),
        Case("tenacity", _tenacity(failure=True, is_async=is_async)(fresh())),
        Case("stamina", _stamina()(fresh())),
        Case("backoff", _backoff()(fresh())),
        Case("pybreaker (hand loop)", pybreaker_fn),
        Case("circuitbreaker (hand loop)", loop(_circuitbreaker()(fresh()))),
        Case("tenacity+pybreaker", stacked),
    ]
    for case in cases:
        case.is_async = is_async
    return Group(
        f"failure_{suffix}",
        f"failure path, {suffix}: two ConnectionErrors, then success (sleeps stubbed)",
        cases,
        context=stubbed_sleeps,
    )


def open_group() -> Group:
    """A call refused by an open circuit (sync), and the same for asyncio."""
    import circuitbreaker
    import pybreaker

    from resilience import CircuitOpenError
    from resilience.testing import no_wait

    def always_fails() -> None:
        msg = "connection refused"
        raise ConnectionRefusedError(msg)

    policy = _policy("bench-open", reset_timeout=LONG)
    with no_wait():
        while policy.breaker_state != "open":
            with contextlib.suppress(ConnectionError, CircuitOpenError):
                policy.call(always_fails)
    pb = _pybreaker(reset_timeout=LONG)
    pb.open()
    cb = _circuitbreaker(recovery_timeout=LONG)
    cb_fails = cb(always_fails)
    while cb.state != circuitbreaker.STATE_OPEN:
        with contextlib.suppress(ConnectionError):
            cb_fails()

    def refusing(fn: Callable[[], Any], error: type[BaseException]) -> Callable[[], None]:
        def refuse() -> None:
            try:  # noqa: SIM105 - suppress() would add its own cost to every call
                fn()
            except error:
                pass

        return refuse

    def arefusing(
        fn: Callable[[], Awaitable[Any]], error: type[BaseException]
    ) -> Callable[[], Awaitable[None]]:
        async def refuse() -> None:
            try:  # noqa: SIM105 - suppress() would add its own cost to every call
                await fn()
            except error:
                pass

        return refuse

    cases = [
        Case("resilience", refusing(policy(ok), CircuitOpenError)),
        Case("pybreaker", refusing(pb(ok), pybreaker.CircuitBreakerError)),
        Case("circuitbreaker", refusing(cb(ok), circuitbreaker.CircuitBreakerError)),
        Case("resilience (asyncio)", arefusing(policy(aok), CircuitOpenError), True),
        Case(
            "pybreaker (asyncio)",
            arefusing(_apybreaker(pb, aok), pybreaker.CircuitBreakerError),
            True,
        ),
        Case(
            "circuitbreaker (asyncio)", arefusing(cb(aok), circuitbreaker.CircuitBreakerError), True
        ),
    ]
    for guarded, error in (
        (policy(ok), CircuitOpenError),
        (pb(ok), pybreaker.CircuitBreakerError),
        (cb(ok), circuitbreaker.CircuitBreakerError),
    ):
        try:
            guarded()
        except error:
            continue
        msg = f"{guarded!r} ran on an open circuit"
        raise AssertionError(msg)
    return Group("open", "open breaker: the cost of refusing a call", cases, floor=None)


def limits_group() -> Group:
    """The breaker policy's happy path, alone and with each limit (sync)."""
    from resilience import Breaker, Concurrency, Policy, RateLimit, Retry

    plenty = RateLimit(rate=1e12, burst=10**12)  # never runs dry: the cost of taking a token
    bulkhead = Concurrency(limit=1000)

    def policy(name: str, **limits: Any) -> Any:
        return Policy(name, retry=Retry(attempts=ATTEMPTS), breaker=Breaker(), **limits)

    cases = [
        Case("resilience (breaker)", policy("bench-limits")(ok)),
        Case("+ Concurrency", policy("bench-bulkhead", concurrency=bulkhead)(ok)),
        Case("+ RateLimit (local)", policy("bench-rate", rate_limit=plenty)(ok)),
        Case("+ both", policy("bench-both", concurrency=bulkhead, rate_limit=plenty)(ok)),
    ]
    return Group(
        "limits",
        "limits, sync: the breaker policy's happy path with a bulkhead, a rate limit, both",
        cases,
        floor="resilience (breaker)",
    )


def limit_costs(groups: dict[str, Group], setup: str) -> dict[str, float]:
    """Nanoseconds each limit adds to the breaker policy's happy path."""
    group = groups[f"{setup}/limits"]
    base = group.case("resilience (breaker)").stats()["median_ns"]
    return {
        "concurrency_ns": group.case("+ Concurrency").stats()["median_ns"] - base,
        "rate_limit_ns": group.case("+ RateLimit (local)").stats()["median_ns"] - base,
    }


def classify_group() -> Group | None:
    """``classify()`` of three kinds of exceptions, beside a 20-class ``isinstance``."""
    try:
        from classify import UNRELATED, _samples

        samples = _samples()
    except ImportError as exc:  # botocore, aiomqtt and paho come with the test extra
        print(f"classify: skipped ({exc})")
        return None
    from resilience import classify

    cases: list[Case] = []
    first = next(iter(samples.values()))
    cases.append(
        Case("isinstance(exc, <20 classes>)", functools.partial(isinstance, first, UNRELATED))
    )
    for label, exc in samples.items():
        classify(exc)  # seen before, as in a long-running process
        cases.append(Case(f"classify({label})", functools.partial(classify, exc)))
    return Group(
        "classify",
        "classify(): a type seen before, beside isinstance against 20 unrelated classes",
        cases,
        floor="isinstance(exc, <20 classes>)",
    )


# --- timing ----------------------------------------------------------------------------------


def _time_sync(fn: Callable[[], Any], number: int) -> float:
    start = time.perf_counter()
    for _ in itertools.repeat(None, number):
        fn()
    return time.perf_counter() - start


async def _time_async(fn: Callable[[], Awaitable[Any]], number: int) -> float:
    start = time.perf_counter()
    for _ in itertools.repeat(None, number):
        await fn()
    return time.perf_counter() - start


def _timed(case: Case, number: int, loop: asyncio.AbstractEventLoop) -> float:
    """Seconds for ``number`` calls, with the garbage collector paused (as timeit does)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        if case.is_async:
            return loop.run_until_complete(_time_async(case.fn, number))
        return _time_sync(case.fn, number)
    finally:
        if enabled:
            gc.enable()


def _calibrate(case: Case, budget: float, loop: asyncio.AbstractEventLoop) -> int:
    """Calls per round so that one round of this case lasts about ``budget`` seconds."""
    number = 1
    while True:
        elapsed = _timed(case, number, loop)
        if elapsed >= budget / 10 or number >= 10_000_000:
            return max(1, int(number * budget / max(elapsed, 1e-9)))
        number *= 10


def measure(group: Group, rounds: int, budget: float, loop: asyncio.AbstractEventLoop) -> None:
    """Fill every case's samples: ``rounds`` rounds, the cases interleaved in each."""
    with group.context():
        for case in group.cases:
            case.number = _calibrate(case, budget, loop)
            case.samples = []
        for _ in range(rounds):
            gc.collect()  # what the previous round left, not collected while timing
            for case in group.cases:
                elapsed = _timed(case, case.number, loop)
                case.samples.append(elapsed / case.number * 1e9)


# --- reporting -------------------------------------------------------------------------------


def table(group: Group) -> str:
    """The group as a text table, with ratio columns."""
    floor = group.case(group.floor).stats()["median_ns"] if group.floor else None
    ours = next((c for c in group.cases if c.name.startswith("resilience")), None)
    ours_ns = ours.stats()["median_ns"] if ours else None
    width = max(34, *(len(case.name) for case in group.cases))
    head = f"{'':<{width}} {'median ns':>11} {'IQR':>7} {'min ns':>11}"
    if floor:
        head += f" {'x floor':>8}"
    if ours_ns:
        head += f" {'resilience / it':>16}"
    lines = [f"== {group.title}", head]
    for case in group.cases:
        s = case.stats()
        line = (
            f"{case.name:<{width}} {s['median_ns']:>11,.0f} {s['iqr_pct']:>6.1f}%"
            f" {s['min_ns']:>11,.0f}"
        )
        if floor:
            line += f" {s['median_ns'] / floor:>8.2f}"
        if ours_ns:
            line += f" {ours_ns / s['median_ns']:>16.3f}"
        lines.append(line)
    return "\n".join(lines)


def ratios(groups: dict[str, Group], setup: str) -> dict[str, float]:
    """The headline ratios of one logging set-up (and the old ones against tenacity)."""

    def median(key: str, name: str) -> float:
        return groups[f"{setup}/{key}"].case(name).stats()["median_ns"]

    happy = groups[f"{setup}/happy_sync"]
    otel = {
        key: median("happy_sync", name) / median("happy_sync", "hand-written")
        for key, name in (("otel_sdk", OTEL_SDK), ("otel_no_sdk", OTEL_API))
        if any(case.name == name for case in happy.cases)
    }
    if otel:  # beside the floor instrumented by hand with the same metrics
        otel["otel_hand"] = median("happy_sync", OTEL_SDK) / median("happy_sync", OTEL_HAND)
    return {
        **otel,
        "floor_sync": median("happy_sync", "resilience") / median("happy_sync", "hand-written"),
        "floor_async": median("happy_asyncio", "resilience")
        / median("happy_asyncio", "hand-written"),
        "failure": median("failure_sync", "resilience")
        / median("failure_sync", "tenacity+pybreaker"),
        "open": median("open", "resilience") / median("open", "circuitbreaker"),
        "rate": median("happy_sync", "resilience (failure rate)")
        / median("happy_sync", "resilience"),
        "rate_async": median("happy_asyncio", "resilience (failure rate)")
        / median("happy_asyncio", "resilience"),
        "rate_timed": median("happy_sync", "resilience (rate, 60 s window)")
        / median("happy_sync", "resilience"),
        "happy_sync": median("happy_sync", "resilience") / median("happy_sync", "tenacity"),
        "happy_async": median("happy_asyncio", "resilience") / median("happy_asyncio", "tenacity"),
        "open_async": median("open", "resilience (asyncio)")
        / median("open", "circuitbreaker (asyncio)"),
    }


def verdicts(found: dict[str, float]) -> dict[str, bool]:
    """Which targets hold."""
    return {key: found[key] <= target for key, target in TARGETS.items()}


def _versions() -> dict[str, str]:
    found = {}
    for dist in ("tenacity", "pybreaker", "structlog", "stamina", "backoff", "circuitbreaker"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = "?"
    return found


def write_json(
    path: Path,
    groups: dict[str, Group],
    found: dict[str, dict[str, float]],
    args: argparse.Namespace,
    costs: dict[str, dict[str, float]],
) -> None:
    """Every figure of the run, with what it ran on."""
    data = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "system": platform.system(),
        "cpus": os.cpu_count(),
        "versions": _versions(),
        "rounds": args.rounds,
        "budget_s": args.budget,
        "groups": {
            key: {
                "title": group.title,
                "cases": {case.name: case.stats() for case in group.cases},
            }
            for key, group in groups.items()
        },
        "ratios": found,
        "targets": TARGETS,
        "met": {setup: verdicts(ratios_) for setup, ratios_ in found.items()},
        "limits_ns": costs,
        "limit_targets_ns": LIMIT_TARGETS,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


# --- plots -----------------------------------------------------------------------------------


def plot_schedule(path: Path, samples: int = 4000, retries: int = 10) -> None:
    """A policy's backoff schedule: percentile bands of each retry's delay, per jitter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from resilience import Backoff

    rng = random.Random(7)
    jitters = ("none", "full", "equal", "decorrelated")
    fig, axes = plt.subplots(1, 4, figsize=(10, 2.8), sharey=True, dpi=80)
    x = list(range(1, retries + 1))
    for ax, jitter in zip(axes, jitters, strict=True):
        backoff = Backoff(initial=1.0, maximum=32.0, jitter=jitter)  # type: ignore[arg-type]
        columns = list(zip(*(backoff.schedule(retries, rng) for _ in range(samples)), strict=True))
        bands = [statistics.quantiles(col, n=20, method="inclusive") for col in columns]
        p5 = [b[0] for b in bands]
        p25 = [b[4] for b in bands]
        p50 = [b[9] for b in bands]
        p75 = [b[14] for b in bands]
        p95 = [b[18] for b in bands]
        ax.fill_between(x, p5, p95, alpha=0.2, color="tab:blue", label="5-95 %")
        ax.fill_between(x, p25, p75, alpha=0.4, color="tab:blue", label="25-75 %")
        ax.plot(x, p50, color="tab:blue", label="median")
        ax.plot(x, [backoff.base(k) for k in x], color="black", lw=0.8, ls="--", label="base")
        ax.set_title(f'jitter="{jitter}"', fontsize=9)
        ax.set_xlabel("retry", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("delay (s)", fontsize=8)
    axes[0].legend(fontsize=6, loc="upper left")
    fig.suptitle("Backoff(initial=1, maximum=32): delay before each retry", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def plot_overhead(path: Path, groups: dict[str, Group]) -> None:
    """Median cost per call of each contender, happy and failure path, sync."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [
        ("service/happy_sync", "happy path (sync)"),
        ("service/failure_sync", "failure path (sync, structlog at INFO)"),
    ]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), dpi=80)
    for ax, (key, title) in zip(axes, keys, strict=True):
        cases = groups[key].cases
        names = [case.name for case in cases]
        values = [case.stats()["median_ns"] / 1000 for case in cases]
        colors = ["tab:orange" if name == "resilience" else "tab:gray" for name in names]
        ax.barh(names[::-1], values[::-1], color=colors[::-1])
        ax.set_xscale("log")
        ax.set_xlabel("microseconds per call (log)", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


# --- main ------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Group]:
    """Build every group and measure it, in each logging set-up; keys are ``setup/group``
    (``classify`` once: it logs nothing)."""
    loop = asyncio.new_event_loop()
    builders: dict[str, Callable[[], Group | None]] = {
        "happy_sync": lambda: happy_group(is_async=False),
        "happy_asyncio": lambda: happy_group(is_async=True),
        "failure_sync": lambda: failure_group(is_async=False),
        "failure_asyncio": lambda: failure_group(is_async=True),
        "open": open_group,
        "limits": limits_group,
        "classify": classify_group,
    }
    measured: dict[str, Group] = {}
    try:
        for setup in SETUPS:
            keys = [k for k in builders if not args.only or k in args.only]
            if setup != SETUPS[0]:
                keys = [k for k in keys if k != "classify"]
            with LOGGING[setup]():
                groups = []
                for key in keys:
                    group = builders[key]()
                    if group is not None:
                        group.title = f"{group.title} [{setup} logging]"
                        groups.append(group)
                for group in groups:
                    measure(group, args.rounds, args.budget, loop)
                    measured[f"{setup}/{group.key}"] = group
            for group in groups:
                print(table(group), end="\n\n", flush=True)
    finally:
        loop.close()
    return measured


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Cost per call of resilience and its peers (see the module docstring)."
    )
    parser.add_argument("--quick", action="store_true", help="5 short rounds: a rough look")
    parser.add_argument("--rounds", type=int, help="rounds per group (default 21; quick 5)")
    parser.add_argument(
        "--budget", type=float, help="seconds per case and round (default 0.05; quick 0.01)"
    )
    parser.add_argument("--json", type=Path, help="where to write the JSON results")
    parser.add_argument(
        "--img", type=Path, help="where to write the PNG plots (default docs/img; none if quick)"
    )
    parser.add_argument("--no-plots", action="store_true", help="write no PNG")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--only",
        action="append",
        choices=GROUPS,
        help="measure only this group (repeatable; no ratios line, no JSON, no plots)",
    )
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 5 if args.quick else 21
    if args.budget is None:
        args.budget = 0.01 if args.quick else 0.05
    if args.img is None and not args.quick:
        args.img = IMG
    if args.img is None:
        args.no_plots = True  # a rough look does not replace the figures of the docs
    if args.json is None:
        args.json = RESULTS / f"run-{time.strftime('%Y%m%d-%H%M%S')}.json"
    return args


def main(argv: list[str] | None = None) -> int:
    """Measure, print the tables, write JSON and plots; the last line gives the ratios."""
    args = parse(argv)
    print(
        f"python {sys.version.split()[0]} on {platform.machine()}, {args.rounds} rounds, "
        f"~{args.budget:g} s per case and round\n",
        flush=True,
    )
    groups = run(args)
    if args.only:
        return 0
    found = {setup: ratios(groups, setup) for setup in SETUPS}
    costs = {setup: limit_costs(groups, setup) for setup in SETUPS}
    write_json(args.json, groups, found, args, costs)
    if not args.no_plots:
        plot_schedule(args.img / "backoff-schedule.png")
        plot_overhead(args.img / "overhead.png", groups)
    print(f"results: {args.json}")
    missed = False
    for setup in SETUPS:
        met = verdicts(found[setup])
        missed = missed or not all(met.values())
        print(
            f"targets {setup}: "
            + "  ".join(
                f"{key}={found[setup][key]:.3f} (<= {TARGETS[key]} {'ok' if ok else 'MISSED'})"
                for key, ok in met.items()
            )
        )
    for setup in SETUPS:
        if "otel_sdk" in found[setup]:
            hand = found[setup]["otel_hand"]
            missed = missed or hand > OTEL_TARGET
            print(
                f"otel {setup}: happy path with an OTelListener, x the hand-written floor: "
                f"sdk={found[setup]['otel_sdk']:.3f} no_sdk={found[setup]['otel_no_sdk']:.3f}; "
                f"x the floor instrumented by hand: otel_hand={hand:.3f} "
                f"(<= {OTEL_TARGET} {'ok' if hand <= OTEL_TARGET else 'MISSED'})"
            )
        cost = costs[setup]
        met = {key: cost[key] <= target for key, target in LIMIT_TARGETS.items()}
        missed = missed or not all(met.values())
        print(
            f"limits {setup} "
            + "  ".join(
                f"{key}={cost[key]:.0f} (<= {LIMIT_TARGETS[key]:.0f} {'ok' if ok else 'MISSED'})"
                for key, ok in met.items()
            )
        )
    for setup in SETUPS:
        print(f"ratios {setup} " + " ".join(f"{key}={found[setup][key]:.3f}" for key in TARGETS))
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
