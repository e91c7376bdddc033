"""Backoff: the four jitter formulas, their bounds, and argument checks."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilience import Backoff

JITTERS = ["none", "full", "equal", "decorrelated"]

backoffs = st.builds(
    lambda initial, extra, multiplier, jitter: Backoff(
        initial=initial, maximum=initial + extra, multiplier=multiplier, jitter=jitter
    ),
    initial=st.floats(min_value=0, max_value=1e6),
    extra=st.floats(min_value=1e-9, max_value=1e6),
    multiplier=st.floats(min_value=1, max_value=1e6),
    jitter=st.sampled_from(JITTERS),
)


@given(backoff=backoffs, retry=st.integers(min_value=1, max_value=20_000), seed=st.integers())
def test_delay_stays_between_zero_and_maximum(backoff: Backoff, retry: int, seed: int) -> None:
    rng = random.Random(seed)
    previous = None
    for k in (retry, retry + 1):
        delay = backoff.delay(k, previous, rng)
        assert 0 <= delay <= backoff.maximum
        assert math.isfinite(delay)
        previous = delay


@given(backoff=backoffs)
def test_attempt_ten_thousand_does_not_overflow(backoff: Backoff) -> None:
    assert backoff.base(10_000) <= backoff.maximum
    assert 0 <= backoff.delay(10_000, rng=random.Random(0)) <= backoff.maximum


@given(backoff=backoffs, seed=st.integers())
def test_schedule_is_bounded(backoff: Backoff, seed: int) -> None:
    delays = backoff.schedule(30, random.Random(seed))
    assert len(delays) == 30
    assert all(0 <= d <= backoff.maximum for d in delays)


def test_base_grows_exponentially_up_to_the_maximum() -> None:
    backoff = Backoff(initial=1, maximum=32, jitter="none")
    assert [backoff.base(k) for k in range(1, 9)] == [1, 2, 4, 8, 16, 32, 32, 32]
    assert backoff.schedule(7) == [1, 2, 4, 8, 16, 32, 32]


def test_full_jitter_is_uniform_below_base() -> None:
    backoff = Backoff(initial=1, maximum=100, jitter="full")
    rng = random.Random(7)
    samples = [backoff.delay(4, rng=rng) for _ in range(4000)]
    assert all(0 <= s <= 8 for s in samples)
    assert 3.6 < sum(samples) / len(samples) < 4.4  # mean of uniform(0, 8)


def test_equal_jitter_keeps_half_the_base() -> None:
    backoff = Backoff(initial=1, maximum=100, jitter="equal")
    rng = random.Random(7)
    samples = [backoff.delay(4, rng=rng) for _ in range(4000)]
    assert all(4 <= s <= 8 for s in samples)
    assert 5.8 < sum(samples) / len(samples) < 6.2


def test_decorrelated_jitter_follows_the_previous_delay() -> None:
    backoff = Backoff(initial=1, maximum=50, jitter="decorrelated")
    rng = random.Random(3)
    previous = None
    for k in range(1, 200):
        delay = backoff.delay(k, previous, rng)
        upper = 3 * (previous if previous is not None else 1)
        assert 1 <= delay <= min(50, upper)
        previous = delay


def test_a_timedelta_is_seconds() -> None:
    backoff = Backoff(initial=timedelta(milliseconds=250), maximum=timedelta(seconds=2))
    assert (backoff.initial, backoff.maximum) == (0.25, 2.0)


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"jitter": "sideways"}, ValueError, "'none', 'full', 'equal', 'decorrelated'"),
        ({"initial": -1}, ValueError, "Backoff.initial must be >= 0"),
        ({"maximum": 0}, ValueError, "Backoff.maximum must be > 0"),
        ({"initial": 5, "maximum": 1}, ValueError, "Backoff.maximum must be >= Backoff.initial"),
        ({"multiplier": 0.5}, ValueError, "Backoff.multiplier must be a finite number >= 1"),
        ({"initial": "1"}, TypeError, "Backoff.initial must be a number of seconds"),
        ({"maximum": float("inf")}, ValueError, "finite"),
    ],
)
def test_bad_arguments_say_what_is_allowed(
    kwargs: dict[str, object], error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text.replace("(", r"\(")):
        Backoff(**kwargs)  # type: ignore[arg-type]


def test_replace_checks_again() -> None:
    backoff = Backoff()
    assert backoff.replace(jitter="equal").jitter == "equal"
    with pytest.raises(ValueError, match="jitter"):
        backoff.replace(jitter="wobbly")


@pytest.mark.parametrize("jitter", JITTERS)
def test_a_backoff_is_a_tenacity_wait(jitter: str) -> None:
    import tenacity

    slept: list[float] = []
    backoff = Backoff(initial=0.5, maximum=4.0, jitter=jitter)  # type: ignore[arg-type]
    retrying = tenacity.Retrying(
        wait=backoff.wait(),
        stop=tenacity.stop_after_attempt(6),
        sleep=slept.append,
        reraise=True,
    )
    with pytest.raises(ConnectionError):
        retrying(lambda: (_ for _ in ()).throw(ConnectionError("down")))
    assert len(slept) == 5
    assert all(0 <= s <= 4.0 for s in slept)
    if jitter == "none":
        assert slept == [0.5, 1.0, 2.0, 4.0, 4.0]
    if jitter == "decorrelated":  # each wait grows from the one before, as tenacity can't
        previous = 0.5
        for s in slept:
            assert 0.5 <= s <= min(4.0, previous * 3)
            previous = s
