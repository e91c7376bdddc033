"""How much does ``classify()`` cost, next to an ``isinstance`` check against 20 classes?

Run it from a checkout with the test extras installed (``pip install -e '.[test]'``):
``python benchmarks/classify.py`` (``--repeat N`` / ``--number N`` to tune). It measures, in
one run and interleaved, nanoseconds per call of:

- ``isinstance(exc, <tuple of 20 unrelated exception classes>)``, the yardstick: what a
  hand-written ``except (A, B, ...)`` pays to say "no";
- ``resilience.classify(exc)`` for a builtin ``TimeoutError``, a botocore ``ClientError`` with
  the code ``ThrottlingException``, an aiomqtt ``MqttCodeError`` whose ``rc`` is a paho
  ``ReasonCode``, a ``grpc.aio.AioRpcError`` with the code ``UNAVAILABLE``, and a requests
  ``ConnectionError`` over urllib3's ``NewConnectionError`` over a ``ConnectionRefusedError``
  (a two-level cause chain); every type has been classified once before, as in a
  long-running process;
- ``Classifier.assess(exc)`` (what the retry loop calls) for the same ``TimeoutError``.

Targets: a type seen before costs at most half the ``isinstance`` (a per-type cache makes it
a dict lookup); a coded error at most the same as the ``isinstance``; the two-level chain at
most twice.

Then the bound of the cache: ``--classes N`` (100,000 by default) exception classes made at
run time are classified once each by one classifier; the cache must hold at most
``resilience.classify.cache.SIZE`` types, and tracemalloc measures what the classifier still
holds afterwards (the classes themselves included, since the cache keeps them alive).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import gc
import http.client
import json
import statistics
import sys
import timeit
import tracemalloc
import zipfile

import resilience
from resilience.classify import Classifier, cache, default_classifier

# Twenty exception classes none of the measured exceptions is an instance of, so isinstance
# has to look at every one of them: the worst case a hand-written except clause pays.
UNRELATED: tuple[type[BaseException], ...] = (
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    ZeroDivisionError,
    OverflowError,
    RuntimeError,
    NotImplementedError,
    RecursionError,
    StopIteration,
    UnicodeDecodeError,
    LookupError,
    AssertionError,
    json.JSONDecodeError,
    zipfile.BadZipFile,
    http.client.HTTPException,
    concurrent.futures.CancelledError,
    asyncio.InvalidStateError,
    ImportError,
)
assert len(UNRELATED) == 20


def _samples() -> dict[str, BaseException]:
    from aiomqtt.exceptions import MqttCodeError
    from botocore.exceptions import ClientError
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.reasoncodes import ReasonCode

    throttled = ClientError(
        {
            "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
            "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": "r"},
        },
        "PutRecord",
    )
    refused = MqttCodeError(ReasonCode(PacketTypes.CONNACK, identifier=135), "refused")
    return {
        "TimeoutError (builtin)": TimeoutError("timed out"),
        "ClientError code=ThrottlingException": throttled,
        "MqttCodeError rc=ReasonCode(135)": refused,
        "AioRpcError code=UNAVAILABLE": _rpc_error(),
        "requests ConnectionError, 2-level chain": _chain(),
    }


def _rpc_error() -> BaseException:
    import grpc
    from grpc.aio import AioRpcError, Metadata

    return AioRpcError(grpc.StatusCode.UNAVAILABLE, Metadata(), Metadata(), "unavailable")


def _chain() -> BaseException:
    import requests
    from urllib3.exceptions import NewConnectionError

    inner = NewConnectionError(None, "Failed to establish a new connection")
    inner.__cause__ = ConnectionRefusedError(111, "Connection refused")
    outer = requests.ConnectionError(inner)
    outer.__cause__ = inner
    return outer


TARGETS = {  # at most this many times the isinstance check
    "TimeoutError (builtin)": 0.5,
    "ClientError code=ThrottlingException": 1.0,
    "MqttCodeError rc=ReasonCode(135)": 1.0,
    "AioRpcError code=UNAVAILABLE": 1.0,
    "requests ConnectionError, 2-level chain": 2.0,
    "assess: TimeoutError": 0.5,
}
BASELINE = "isinstance(exc, <20 unrelated classes>)"


def measure(repeat: int, number: int) -> dict[str, list[float]]:
    """ns per call of every case, ``repeat`` runs each, the cases interleaved run by run so
    that a noisy neighbour slows them alike."""
    samples = _samples()
    classify = resilience.classify
    for exc in samples.values():
        classify(exc)  # "seen before": the per-type plan is compiled and cached
    # The measured calls do what they claim.
    assert not any(isinstance(exc, UNRELATED) for exc in samples.values())
    assert classify(samples["ClientError code=ThrottlingException"]) == "retryable"
    assert classify(samples["MqttCodeError rc=ReasonCode(135)"]) == "auth"
    assert classify(samples["AioRpcError code=UNAVAILABLE"]) == "retryable"
    chained = resilience.explain(samples["requests ConnectionError, 2-level chain"])
    assert chained.rule == "builtins.ConnectionRefusedError", chained
    assess = default_classifier().assess

    # Statement strings, not lambdas: no extra Python call on either side of a ratio.
    timers = {
        BASELINE: timeit.Timer(
            "isinstance(exc, UNRELATED)",
            globals={"exc": samples["TimeoutError (builtin)"], "UNRELATED": UNRELATED},
        ),
        **{
            label: timeit.Timer("classify(exc)", globals={"exc": exc, "classify": classify})
            for label, exc in samples.items()
        },
        "assess: TimeoutError": timeit.Timer(
            "assess(exc)", globals={"exc": samples["TimeoutError (builtin)"], "assess": assess}
        ),
    }
    runs: dict[str, list[float]] = {label: [] for label in timers}
    for _ in range(repeat):
        for label, timer in timers.items():
            runs[label].append(timer.timeit(number) / number * 1e9)
    return runs


def cache_bound(classes: int) -> tuple[int, float, float]:
    """Classify ``classes`` exception classes made at run time with one classifier.

    Returns (types cached, KiB the classifier holds at the end, KiB at the peak), measured
    with tracemalloc from just before the classifier was built.
    """
    gc.collect()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    classifier = Classifier(catalogs=["builtins"])
    for index in range(classes):
        kind = type(f"Made{index}", (ConnectionError,), {})
        classifier.classify(kind())
        del kind
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    cached = len(classifier._cache)
    del classifier
    return cached, (current - start) / 1024, (peak - start) / 1024


def main(argv: list[str] | None = None) -> int:
    """Measure and print the table; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=15, help="timing runs (default 15)")
    parser.add_argument("--number", type=int, default=200_000, help="calls per run")
    parser.add_argument(
        "--classes", type=int, default=100_000, help="classes made at run time (100,000)"
    )
    args = parser.parse_args(argv)

    runs = measure(args.repeat, args.number)
    base_min, base_med = min(runs[BASELINE]), statistics.median(runs[BASELINE])

    print(f"python {sys.version.split()[0]}, {args.repeat} runs x {args.number:,} calls each")
    print(f"{'call':<50} {'min ns':>7} {'median ns':>9} {'ratio min':>9} {'ratio med':>9}")
    print(f"{BASELINE:<50} {base_min:7.1f} {base_med:9.1f}")
    missed = []
    for label, target in TARGETS.items():
        low, med = min(runs[label]), statistics.median(runs[label])
        ratio = low / base_min
        verdict = "ok" if ratio <= target else "MISSED"
        call = label.replace(": ", "(") + ")" if ":" in label else f"classify({label})"
        print(
            f"{call:<50} {low:7.1f} {med:9.1f} {ratio:8.2f}x "
            f"{med / base_med:8.2f}x  target <= {target}: {verdict}"
        )
        if ratio > target:
            missed.append(label)
    print("the targets are judged on the minimum of each: the least disturbed run")

    cached, held, peak = cache_bound(args.classes)
    bounded = cached <= cache.SIZE
    print(
        f"cache: {args.classes:,} classes made at run time -> {cached} types cached "
        f"(bound {cache.SIZE}): {'ok' if bounded else 'MISSED'}; the classifier holds "
        f"{held:,.0f} KiB afterwards, {peak:,.0f} KiB at the peak (tracemalloc)"
    )
    if not bounded:
        missed.append("cache bound")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
