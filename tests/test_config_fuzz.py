"""Malformed policy files: whatever the input, a ConfigError or a valid PolicySet, nothing else."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resilience import ConfigError, Policy, PolicySet, load_policies

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KNOWN_KEYS = [
    "version", "defaults", "breaker_storage", "classify", "policies", "retry", "breaker",
    "queue", "fallback", "attempts", "deadline", "attempt_timeout", "backoff", "initial",
    "maximum", "multiplier", "jitter", "action", "fail_max", "reset_timeout",
    "half_open_calls", "function", "on", "redis", "url", "namespace", "timeout",
    "reconnect_interval", "codes", "statuses", "concurrency", "rate_limit", "hedge", "limit",
    "max_wait", "rate", "per", "burst", "shared", "delay", "max_extra",
    "failure_rate", "window", "window_seconds", "min_calls", "slow_call_duration",
    "slow_call_rate",
]  # fmt: skip
CHOICES = [
    "none", "full", "equal", "decorrelated", "fallback", "retry", "raise", "retryable",
    "auth", "queue", "permanent", "5xx", "os.path:join", "nosuchmodule:f", "os:nope",
    "myapp.Flaky", "http://h", "",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(CHOICES),
    st.text(max_size=12),
)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=10), st.integers(-3, 600))


def nested(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=12,
    )


anything = nested(scalars)


def mostly(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` three times in four, anything at all otherwise."""
    return st.one_of(good, good, good, anything)


def section(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """A mapping of mostly the right keys with mostly plausible values; sometimes junk."""
    right = st.fixed_dictionaries({}, optional={k: mostly(v) for k, v in fields.items()})
    return st.one_of(right, right, right, st.dictionaries(keys, anything, max_size=3), anything)


seconds = st.one_of(st.floats(-1, 100), st.integers(-1, 100))
choice = st.sampled_from(CHOICES)
backoff = section({"initial": seconds, "maximum": seconds, "multiplier": seconds, "jitter": choice})
retry = section(
    {
        "attempts": st.integers(-1, 8),
        "deadline": seconds,
        "attempt_timeout": seconds,
        "backoff": backoff,
    }
)
queue = section({"action": choice, "attempts": st.integers(-1, 5), "backoff": backoff})
breaker = section(
    {
        "fail_max": st.integers(-1, 5),
        "reset_timeout": seconds,
        "half_open_calls": st.integers(-1, 3),
        "failure_rate": st.one_of(st.floats(-0.5, 1.5), st.integers(-1, 2)),
        "window": st.integers(-1, 200),
        "window_seconds": seconds,
        "min_calls": st.integers(-1, 50),
        "slow_call_duration": seconds,
        "slow_call_rate": st.one_of(st.floats(-0.5, 1.5), st.integers(-1, 2)),
    }
)
fallback = st.one_of(choice, section({"function": choice, "on": st.lists(choice, max_size=3)}))
concurrency = section({"limit": st.integers(-1, 5), "max_wait": seconds})
rate_limit = section(
    {
        "rate": seconds,
        "per": seconds,
        "burst": st.one_of(st.none(), st.integers(-1, 5)),
        "max_wait": seconds,
        "shared": st.one_of(st.booleans(), choice),
    }
)
hedge = section({"delay": seconds, "max_extra": st.integers(-1, 12)})
body = st.one_of(
    st.none(),
    section(
        {
            "retry": retry,
            "queue": queue,
            "breaker": breaker,
            "concurrency": concurrency,
            "rate_limit": rate_limit,
            "hedge": hedge,
            "fallback": fallback,
        }
    ),
)
rule = st.one_of(
    choice,
    section({"codes": st.dictionaries(keys, choice), "statuses": st.dictionaries(keys, choice)}),
)
storage = section({"redis": section({"url": choice, "namespace": choice, "timeout": seconds})})
names = st.one_of(st.text(max_size=8), st.sampled_from(["iot-publish", "a", ""]))
#: Documents that get past the top level: the mistakes sit in the policies and sections.
near_valid = st.fixed_dictionaries(
    {"version": st.just(1), "policies": st.dictionaries(names, body, min_size=1, max_size=4)},
    optional={
        "defaults": body,
        "breaker_storage": mostly(storage),
        "classify": mostly(st.dictionaries(choice | keys, rule, max_size=3)),
    },
)
#: Anything shaped like a document, or not.
wild = st.one_of(
    st.fixed_dictionaries(
        {"version": st.sampled_from([1, 2, "1", None, 1.0]), "policies": anything},
        optional={"defaults": anything, "breaker_storage": anything, "classify": anything},
    ),
    st.dictionaries(keys, anything, max_size=5),
    anything,
)


def outcome(text: str) -> None:
    try:
        policies = load_policies(text)
    except ConfigError as exc:
        message = str(exc)
    else:
        message = ""
    if message:
        assert "\n" not in message  # the command line prints it on one line
        return
    assert isinstance(policies, PolicySet)
    for name, item in policies.items():
        assert isinstance(item, Policy)
        assert item.name == name


@SETTINGS
@given(near_valid)
def test_documents_with_mistakes_inside_give_config_errors(document: Any) -> None:
    outcome(yaml.safe_dump(document) + "\n")


@SETTINGS
@given(wild)
def test_malformed_documents_give_config_errors(document: Any) -> None:
    outcome(yaml.safe_dump(document) + "\n")


@SETTINGS
@given(st.text(max_size=200))
def test_random_text_gives_config_errors(text: str) -> None:
    outcome(text + "\n")


@SETTINGS
@given(
    st.lists(
        st.sampled_from(["[", "{", "- ", "a: ", "&x ", "*x ", "!!python/object ", "? "]),
        max_size=400,
    )
)
def test_deep_and_odd_yaml_gives_config_errors(parts: list[str]) -> None:
    outcome("".join(parts) + "\n")


def test_deep_nesting_is_refused_cleanly() -> None:
    for depth in (50, 500, 5000):
        flow = "{retry: " * depth + "1" + "}" * depth
        outcome(f"version: 1\npolicies:\n  a: {flow}\n")
        outcome("version: 1\npolicies: " + "[" * depth + "]" * depth + "\n")
        block = "".join(f"{'  ' * level}retry:\n" for level in range(2, min(depth, 400)))
        outcome(f"version: 1\npolicies:\n  a:\n{block}")
