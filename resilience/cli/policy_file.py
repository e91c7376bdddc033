"""The policy-file commands of ``resilience``: ``check``, ``schedule`` and ``schema``."""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resilience.classify import rule_warnings
from resilience.cli.common import EXIT_OK, EXIT_USAGE, CommandError, format_table
from resilience.config.loading import load
from resilience.config.process import ENV_VAR
from resilience.config.sets import PolicySet
from resilience.elements.fallback import Fallback

if TYPE_CHECKING:
    from resilience.elements.backoff import Backoff
    from resilience.elements.breaker import Breaker
    from resilience.elements.retry import Retry
    from resilience.engine.policy import Policy

__all__ = ["MAX_SAMPLES", "cmd_check", "cmd_schedule", "cmd_schema"]

#: Retries shown one per row by ``schedule``; the worst case still counts every one.
MAX_ROWS = 50
MAX_SAMPLES = 1_000_000


def _seconds(value: float) -> str:
    """A duration for a table: ``0.05s``, ``12.5s``, ``19,850s`` (never an exponent)."""
    if value < 1:
        return f"{value:.3g}s"
    if value < 1000:
        return f"{value:.4g}s"
    return f"{value:,.0f}s"


def _backoff(backoff: Backoff) -> str:
    return (
        f"{backoff.jitter} jitter, {_seconds(backoff.initial)}..{_seconds(backoff.maximum)} "
        f"x{backoff.multiplier:g}"
    )


def _load(source: str) -> PolicySet:
    # Exactly as load_policies (fallbacks too, see config.build.import_reference); offline:
    # checking a file must not need (or touch) the Redis it names.
    return load(Path(source), offline=True)


# --- check -----------------------------------------------------------------------------------


def _budget(retry: Retry | None) -> str:
    budget = retry.budget if retry is not None else None
    if budget is None:
        return "-"
    text = f"{budget.ratio:.0%} of calls over {_seconds(budget.window)}"
    return text + (", shared" if budget.storage is not None else "")


def _concurrency(policy: Policy) -> str:
    spec = policy.concurrency
    if spec is None:
        return "-"
    return f"{spec.limit} at once" + (f", wait {_seconds(spec.max_wait)}" if spec.max_wait else "")


def _rate_limit(policy: Policy) -> str:
    spec = policy.rate_limit
    if spec is None:
        return "-"
    text = f"{spec.rate:g} per {_seconds(spec.per)}, burst {spec.size}"
    if spec.max_wait:
        text += f", wait {_seconds(spec.max_wait)}"
    return text + (", shared" if spec.storage is not None else "")


def _hedge(policy: Policy) -> str:
    spec = policy.hedge
    if spec is None:
        return "-"
    return f"+{spec.max_extra} after {_seconds(spec.delay)}"


def _circuit(breaker: Breaker) -> str:
    """The breaker column: ``5 fails, 30s open`` or ``50% of 100 calls (min 20), 30s open``."""
    if breaker.failure_rate is None:
        circuit = f"{breaker.fail_max} fails"
    else:
        if breaker.window_seconds is not None:
            window = f"{_seconds(breaker.window_seconds)}"
        else:
            window = f"{breaker.window} calls"
        circuit = f"{breaker.failure_rate:.0%} of {window} (min {breaker.min_calls})"
        if breaker.slow_call_duration is not None:
            circuit += (
                f", slow > {_seconds(breaker.slow_call_duration)} at "
                f"{breaker.slow_call_rate or 1.0:.0%}"
            )
    circuit += f", {_seconds(breaker.reset_timeout)} open"
    if breaker.half_open_calls > 1:
        circuit += f", {breaker.half_open_calls} trials"
    return circuit


def _row(policy: Policy) -> tuple[str, ...]:
    retry, breaker, queue, fallback = policy.retry, policy.breaker, policy.queue, policy.fallback
    attempts = str(retry.attempts) if retry else "1"
    deadline = _seconds(retry.deadline) if retry and retry.deadline is not None else "-"
    timeout = (
        _seconds(retry.attempt_timeout) if retry and retry.attempt_timeout is not None else "-"
    )
    backoff = _backoff(retry.backoff) if retry and retry.attempts > 1 else "-"
    circuit = "-" if breaker is None else _circuit(breaker)
    if queue is None or queue.action == "fallback":
        action = "fallback" if fallback is not None else "raise (no fallback)"
    elif queue.action == "retry":
        action = f"retry x{queue.attempts}, {_backoff(queue.backoff)}"
    else:
        action = queue.action
    if fallback is None:
        handler = "-"
    else:
        func: Any = getattr(fallback, "func", fallback)
        handler = (
            f"{func.__module__}:{func.__qualname__}"
            if hasattr(func, "__qualname__")
            else repr(func)
        )
        if isinstance(fallback, Fallback) and fallback.explicit:
            handler += f" (on {', '.join(str(c) for c in fallback.on)})"
    return (
        policy.name,
        attempts,
        deadline,
        timeout,
        backoff,
        _budget(retry),
        circuit,
        _concurrency(policy),
        _rate_limit(policy),
        _hedge(policy),
        action,
        handler,
    )


def cmd_check(args: argparse.Namespace) -> int:
    """Load a policy file and print its policies as a table."""
    policies = _load(args.file)
    rules = len(policies.classifier.rules)
    storage = policies.breaker_storage
    where = "memory" if storage is None else f"Redis {storage.shown} ({storage.namespace})"
    print(
        f"{args.file}: {len(policies)} {'policy' if len(policies) == 1 else 'policies'}, "
        f"{rules} classify rule{'' if rules == 1 else 's'}, breaker state in {where}"
    )
    if policies:
        headers = (
            "policy",
            "attempts",
            "deadline",
            "timeout",
            "backoff",
            "budget",
            "breaker",
            "concurrency",
            "rate limit",
            "hedge",
            "queue",
            "fallback",
        )
        print()
        print(format_table(headers, [_row(p) for p in policies.values()]))
    for line in rule_warnings(policies.classifier.rules):
        print(f"resilience: warning: {line}", file=sys.stderr)
    return EXIT_OK


# --- schedule --------------------------------------------------------------------------------


def _maxima(backoff: Backoff, retries: int) -> list[float]:
    """The longest each wait can be, up to the point where they stop changing."""
    maxima: list[float] = []
    previous: float | None = None
    for retry in range(1, retries + 1):
        longest = backoff.longest(retry, previous)
        if maxima and longest == maxima[-1]:
            break  # every later wait has this same bound
        maxima.append(longest)
        previous = longest
    return maxima


def _worst_case(backoff: Backoff, retries: int) -> float:
    maxima = _maxima(backoff, retries)
    steady = maxima[-1] if maxima else 0.0
    return math.fsum(maxima) + (retries - len(maxima)) * steady


def _percentile(ordered: list[float], share: float) -> float:
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _table(backoff: Backoff, attempts: int, deadline: float | None, samples: int) -> list[str]:
    retries = attempts - 1
    shown = min(retries, MAX_ROWS)
    rng = random.Random(0)
    columns: list[list[float]] = [[] for _ in range(shown)]
    for _ in range(samples):
        for column, delay in zip(columns, backoff.schedule(shown, rng), strict=True):
            column.append(delay)
    maxima = _maxima(backoff, shown)
    maxima += [maxima[-1]] * (shown - len(maxima)) if maxima else []
    rows = []
    total = 0.0
    for retry, (column, longest) in enumerate(zip(columns, maxima, strict=True), start=1):
        column.sort()
        total += longest
        capped = total if deadline is None else min(total, deadline)
        rows.append(
            (
                retry + 1,
                "-" if backoff.jitter == "decorrelated" else _seconds(backoff.base(retry)),
                _seconds(_percentile(column, 0.05)),
                _seconds(_percentile(column, 0.50)),
                _seconds(_percentile(column, 0.95)),
                _seconds(longest),
                _seconds(capped),
            )
        )
    headers = ("attempt", "base wait", "p5", "p50", "p95", "max", "worst total")
    lines = [format_table(headers, rows)]
    if retries > shown:
        lines.append(
            f"... {retries - shown} more retries, each waiting at most {_seconds(maxima[-1])}"
        )
    worst = _worst_case(backoff, retries)
    summary = f"worst-case total wait: {_seconds(worst)} (the sum of the maxima)"
    if deadline is not None and worst > deadline:
        summary = f"{summary}, cut to {_seconds(deadline)} by the deadline"
    lines.append(summary)
    return lines


def cmd_schedule(args: argparse.Namespace) -> int:
    """Print a policy's waits: per attempt, base delay and percentiles of the jittered one."""
    source = args.config or os.environ.get(ENV_VAR)
    if not source:
        msg = f"schedule needs the policy file: --config FILE (or set {ENV_VAR})"
        raise CommandError(msg, EXIT_USAGE)
    policy = _load(source).lookup(args.policy)
    retry = policy.retry
    deadline = retry.deadline if retry else None
    print(f"policy {policy.name!r} ({source}), {args.samples} samples per wait")
    if policy.breaker is not None:
        print(f"breaker: {_circuit(policy.breaker)}")
    if retry is None or retry.attempts == 1:
        print("retryable failures: tried once, never retried")
    else:
        limit = "" if deadline is None else f", deadline {_seconds(deadline)}"
        print(
            f"\nretryable failures: {retry.attempts} attempts, {_backoff(retry.backoff)}{limit}\n"
        )
        print("\n".join(_table(retry.backoff, retry.attempts, deadline, args.samples)))
    limits = [
        f"{name}: {text}"
        for name, text in (
            ("concurrency", _concurrency(policy)),
            ("rate limit", _rate_limit(policy)),
            ("hedge", _hedge(policy)),
        )
        if text != "-"
    ]
    if limits:
        print(f"\n{'; '.join(limits)} (every attempt, retries included)")
    queue = policy.queue
    if queue is not None and queue.action == "retry" and queue.attempts > 1:
        print(f"\nqueue-related failures: {queue.attempts} attempts, {_backoff(queue.backoff)}")
        print()
        print("\n".join(_table(queue.backoff, queue.attempts, deadline, args.samples)))
    return EXIT_OK


# --- schema ----------------------------------------------------------------------------------


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema of a policy file."""
    from resilience.config.schema import json_schema  # noqa: PLC0415 - on demand

    print(json.dumps(json_schema(), indent=2))
    return EXIT_OK
