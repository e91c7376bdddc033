"""The failure-rate breaker: ``Breaker(failure_rate=...)``, in this process's memory."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time

from resilience import Breaker, CircuitOpenError, ConfigError, Policy, load_policies
from resilience.cli import main
from resilience.observe import Listener, StateChanged

OK, FAIL, BAD, REFUSED = "ok", "fail", "bad", "refused"


def ok() -> str:
    return "ok"


def fail() -> str:
    raise ConnectionRefusedError("the service is down")


def bad() -> str:
    raise ValueError("no such thing")  # not retryable: the remote side answered


OUTCOMES: dict[str, Callable[[], str]] = {OK: ok, FAIL: fail, BAD: bad, REFUSED: ok}


class Transitions(Listener):
    """Records every state change."""

    def __init__(self) -> None:
        self.seen: list[StateChanged] = []
        self.lock = threading.Lock()

    def on_state_change(self, event: StateChanged) -> None:
        with self.lock:
            self.seen.append(event)

    @property
    def opened(self) -> list[StateChanged]:
        return [event for event in self.seen if event.new == "open"]


def call(policy: Policy, outcome: str) -> str:
    """Call through ``policy``; what happened (``refused`` when the circuit refused it)."""
    try:
        policy.call(OUTCOMES[outcome])
    except CircuitOpenError:
        return REFUSED
    except (ConnectionError, ValueError):
        return FAIL if outcome == FAIL else BAD
    return OK


# -- the table: scripted outcomes, the exact state after each call -------------------------


def test_a_scripted_sequence_gives_the_exact_state_after_each_call() -> None:
    breaker = Breaker(failure_rate=0.6, window=5, min_calls=4, reset_timeout=30, half_open_calls=2)
    listener = Transitions()
    policy = Policy("table", breaker=breaker, listeners=[listener])
    #: (what happens, state after it, calls in the window, failures in it); ``+N`` moves
    #: the clock N seconds. A window of 5 calls opening at 60 % once it holds 4; 2 trials.
    steps: list[tuple[str, str, int, int]] = [
        (OK, "closed", 1, 0),
        (FAIL, "closed", 2, 1),
        (FAIL, "closed", 3, 2),  # 2 of 3 failed, but the window holds fewer than min_calls
        (BAD, "closed", 4, 2),  # not retryable, so a success: 2 of 4 is under 60 %
        (OK, "closed", 5, 2),
        (OK, "closed", 5, 2),  # full: the first call (a success) slid out
        (OK, "closed", 5, 1),  # ... then the first failure
        (FAIL, "closed", 5, 1),  # ... and the second: BAD OK OK OK FAIL
        (FAIL, "closed", 5, 2),  # OK OK OK FAIL FAIL
        (FAIL, "open", 0, 0),  # OK OK FAIL FAIL FAIL: 3 of 5 = 60 %: open, window emptied
        (REFUSED, "open", 0, 0),
        ("+29", "open", 0, 0),
        (REFUSED, "open", 0, 0),
        ("+1", "open", 0, 0),  # reset_timeout has passed: half-open at the next call
        (FAIL, "half-open", 0, 0),  # trial 1 of 2 failed: 1 of 2 could still stay under 60 %
        (FAIL, "open", 0, 0),  # 2 of 2 trials failed
        ("+30", "open", 0, 0),
        (BAD, "closed", 0, 0),  # a success: even a failing second trial would leave 50 %
        (FAIL, "closed", 1, 1),  # a fresh window, under min_calls
    ]
    with freeze_time("2025-01-01 12:00:00") as clock:
        for number, (what, state, calls, failures) in enumerate(steps, start=1):
            if what.startswith("+"):
                clock.tick(float(what[1:]))
            else:
                assert call(policy, what) == what, f"step {number}"
            circuit = policy.circuit
            assert circuit is not None
            found = (policy.breaker_state, circuit.calls, circuit.failures)
            assert found == (state, calls, failures), f"step {number}: {what}"
    assert [(e.old, e.new) for e in listener.seen] == [
        ("closed", "open"),
        ("open", "half-open"),
        ("half-open", "open"),
        ("open", "half-open"),
        ("half-open", "closed"),
    ]
    first = listener.seen[0]
    assert (first.failures, first.failure_rate, first.trial) == (3, 0.6, False)
    assert listener.seen[2].trial is True


def test_half_open_decides_as_soon_as_the_trials_can_no_longer_change_the_verdict() -> None:
    """Four trials, opening at 50 %: two failures open it at once; three successes close it."""
    breaker = Breaker(failure_rate=0.5, window=2, min_calls=2, reset_timeout=10, half_open_calls=4)
    policy = Policy("trials", breaker=breaker)
    with freeze_time("2025-01-01 12:00:00") as clock:
        call(policy, FAIL)
        call(policy, FAIL)
        assert policy.breaker_state == "open"
        clock.tick(10)
        assert [call(policy, FAIL), policy.breaker_state] == [FAIL, "half-open"]
        assert [call(policy, FAIL), policy.breaker_state] == [FAIL, "open"]
        clock.tick(10)
        for _ in range(2):
            assert [call(policy, OK), policy.breaker_state] == [OK, "half-open"]
        # 2 successes and 2 trials left: 2 of 4 failing would still reach 50 %
        assert [call(policy, FAIL), policy.breaker_state] == [FAIL, "half-open"]
        assert [call(policy, OK), policy.breaker_state] == [OK, "closed"]


def test_half_open_admits_half_open_calls_trials_in_all_and_refuses_the_others() -> None:
    breaker = Breaker(failure_rate=0.5, window=2, min_calls=2, reset_timeout=10, half_open_calls=2)
    policy = Policy("in-all", breaker=breaker)
    gate: Any = policy._breaker
    with freeze_time("2025-01-01 12:00:00") as clock:
        call(policy, FAIL)
        call(policy, FAIL)
        clock.tick(10)
        first, second = gate.admit(), gate.admit()
        assert (first, second) == (True, True)  # two trials
        with pytest.raises(CircuitOpenError) as refused:
            gate.admit()
        assert refused.value.remaining == 0.0
        gate.cancelled(second)  # a cancelled trial counts as nothing and frees its slot
        third = gate.admit()
        gate.succeeded(first, 0.0)
        assert policy.breaker_state == "half-open"
        gate.succeeded(third, 0.0)
        assert policy.breaker_state == "closed"


def test_slow_calls_open_the_circuit_when_their_rate_is_reached() -> None:
    breaker = Breaker(
        failure_rate=1.0, window=4, min_calls=4, slow_call_duration=timedelta(seconds=2),
        slow_call_rate=0.5,
    )  # fmt: skip
    listener = Transitions()
    policy = Policy("slow", breaker=breaker, listeners=[listener])
    with freeze_time("2025-01-01 12:00:00") as clock:

        def slow() -> str:
            clock.tick(2.5)
            return "late"

        def just_in_time() -> str:
            clock.tick(2.0)  # not beyond slow_call_duration
            return "in time"

        for fn in (slow, just_in_time, ok):
            policy.call(fn)
        circuit = policy.circuit
        assert circuit is not None
        assert (circuit.calls, circuit.slow_call_rate, policy.breaker_state) == (3, 1 / 3, "closed")
        policy.call(slow)  # 2 of 4 slow: 50 %
    assert policy.breaker_state == "open"
    assert listener.opened[0].slow_call_rate == 0.5
    assert listener.opened[0].failure_rate == 0.0


def test_each_attempt_of_a_retried_call_is_timed() -> None:
    from resilience import Fallback, Retry
    from resilience.testing import no_wait

    breaker = Breaker(failure_rate=1.0, window=10, min_calls=10, slow_call_duration=1.0)
    policy = Policy(
        "retried", retry=Retry(attempts=2), breaker=breaker, fallback=Fallback(lambda: "cached")
    )
    attempts = []
    with freeze_time("2025-01-01 12:00:00") as clock, no_wait():

        @policy
        def lookup() -> str:
            attempts.append(1)
            if len(attempts) == 1:
                clock.tick(3)  # slow, then failing
                raise ConnectionRefusedError("the service is down")
            return "fresh"

        assert lookup() == "fresh"
    circuit = policy.circuit
    assert circuit is not None
    assert (circuit.calls, circuit.failures, circuit.slow_call_rate) == (2, 1, 0.5)
    circuit.open()
    assert lookup() == "cached"  # refused: the fallback answers


def test_slow_async_calls_count_too() -> None:
    breaker = Breaker(failure_rate=1.0, window=2, min_calls=2, slow_call_duration=1.0)
    policy = Policy("slow-async", breaker=breaker)
    with freeze_time("2025-01-01 12:00:00") as clock:

        @policy
        async def slow() -> str:
            clock.tick(1.5)
            return "late"

        async def main() -> None:
            await slow()
            await slow()

        asyncio.run(main())
    assert policy.breaker_state == "open"  # 2 of 2 slow reach slow_call_rate=1.0


def test_a_time_window_holds_the_calls_of_its_last_seconds() -> None:
    breaker = Breaker(failure_rate=0.6, window_seconds=10, min_calls=4)
    policy = Policy("timed", breaker=breaker)
    circuit = policy.circuit
    assert circuit is not None
    with freeze_time("2025-01-01 12:00:00") as clock:
        for outcome in (FAIL, FAIL, OK):
            call(policy, outcome)
        clock.tick(5)
        call(policy, OK)
        assert (circuit.calls, circuit.failures, policy.breaker_state) == (4, 2, "closed")
        clock.tick(4.9)  # 9.9 s after the first calls: still in the window
        assert (circuit.calls, circuit.failures) == (4, 2)
        clock.tick(0.2)  # 10.1 s: the first second's calls left it
        assert (circuit.calls, circuit.failures) == (1, 0)
        for outcome in (FAIL, FAIL):
            call(policy, outcome)
        assert (circuit.calls, circuit.failures, policy.breaker_state) == (3, 2, "closed")
        call(policy, FAIL)  # 3 of 4 = 75 %
        assert policy.breaker_state == "open"
        clock.tick(100)  # a long quiet spell: half-open, then closed by a good trial
        call(policy, OK)
        assert (policy.breaker_state, circuit.calls) == ("closed", 0)


def test_fast_successes_of_a_calm_time_window_leave_it_with_their_second() -> None:
    policy = Policy("calm", breaker=Breaker(failure_rate=0.5, window_seconds=10, min_calls=2))
    circuit = policy.circuit
    assert circuit is not None
    with freeze_time("2025-01-01 12:00:00.5") as clock:
        for _ in range(3):
            call(policy, OK)  # the first takes the lock; the window is calm after it
        clock.tick(0.6)  # the next second's bucket: counted there, not in the first
        call(policy, OK)
        assert circuit.calls == 4
        clock.tick(9.0)  # 10.1 s after the first three: they left the window
        assert circuit.calls == 1
        call(policy, FAIL)  # 1 of the 2 calls in the window: 50 %
        assert policy.breaker_state == "open"


def test_the_consecutive_mode_stays_the_default() -> None:
    assert Breaker().fail_max == 5
    assert Breaker().mode == "consecutive"
    rate = Breaker(failure_rate=0.5)
    assert (rate.mode, rate.fail_max, rate.window, rate.min_calls) == ("rate", None, 100, 20)
    assert (rate.slow_call_duration, rate.slow_call_rate) == (None, None)
    assert Breaker(failure_rate=0.5, slow_call_duration=3).slow_call_rate == 1.0
    policy = Policy("consecutive", breaker=Breaker())
    assert policy.circuit is not None
    assert (policy.circuit.failure_rate, policy.circuit.calls) == (None, None)


def test_replace_switches_modes_and_windows() -> None:
    rate = Breaker().replace(failure_rate=0.3)
    assert (rate.fail_max, rate.failure_rate, rate.window) == (None, 0.3, 100)
    timed = rate.replace(window_seconds=60)
    assert (timed.window, timed.window_seconds) == (None, 60.0)
    assert timed.replace(window=10).window_seconds is None
    back = timed.replace(fail_max=3)
    assert (back.fail_max, back.failure_rate, back.window_seconds, back.min_calls) == (
        3, None, None, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"failure_rate": 0.5, "fail_max": 3},
            "Breaker.fail_max can't be set with failure_rate (got 3)",
        ),
        ({"window": 10}, "Breaker.window belongs to the failure-rate mode: set failure_rate"),
        ({"min_calls": 10}, "Breaker.min_calls belongs to the failure-rate mode"),
        (
            {"failure_rate": 0.5, "window": 10, "window_seconds": 60},
            "Breaker.window_seconds can't be set with window",
        ),
        (
            {"failure_rate": 0.5, "slow_call_rate": 0.5},
            "Breaker.slow_call_rate needs slow_call_duration",
        ),
        ({"failure_rate": 0}, "Breaker.failure_rate must be > 0 and <= 1, a share of calls"),
        ({"failure_rate": 1.5}, "Breaker.failure_rate must be > 0 and <= 1"),
        ({"failure_rate": 0.5, "window": 0}, "Breaker.window must be >= 1 (got 0)"),
        ({"failure_rate": 0.5, "window_seconds": 0.5}, "Breaker.window_seconds must be >= 1"),
        ({"failure_rate": 0.5, "slow_call_duration": 0}, "Breaker.slow_call_duration must be > 0"),
    ],
)
def test_bad_arguments_say_what_is_wrong(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        Breaker(**arguments)


def test_a_count_window_never_waits_for_more_calls_than_it_holds() -> None:
    policy = Policy("small", breaker=Breaker(failure_rate=0.5, window=2, min_calls=20))
    call(policy, FAIL)
    call(policy, FAIL)
    assert policy.breaker_state == "open"  # as resilience4j: min(min_calls, window)


def test_a_cancelled_call_counts_as_nothing() -> None:
    policy = Policy("cancelled", breaker=Breaker(failure_rate=0.5, window=10, min_calls=1))

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        policy.call(interrupted)
    assert policy.circuit is not None
    assert policy.circuit.calls == 0


def test_the_circuit_switches_work_in_rate_mode() -> None:
    policy = Policy("switches", breaker=Breaker(failure_rate=0.5, window=10, min_calls=5))
    circuit = policy.circuit
    assert circuit is not None
    call(policy, FAIL)
    circuit.open()
    assert (circuit.state, call(policy, OK)) == ("open", REFUSED)
    assert circuit.rejected == 1
    circuit.close()
    assert (circuit.state, circuit.calls) == ("closed", 0)
    call(policy, OK)
    circuit.reset()
    assert (circuit.state, circuit.calls, circuit.rejected) == ("closed", 0, 0)


# -- under threads and tasks: exact counts -------------------------------------------------


def test_eight_threads_count_exactly_and_open_it_once() -> None:
    listener = Transitions()
    breaker = Breaker(failure_rate=0.5, window=20_000, min_calls=8_000)
    policy = Policy("threads", breaker=breaker, listeners=[listener])
    circuit = policy.circuit
    assert circuit is not None
    reached = [0] * 8
    refused = [0] * 8

    def run(index: int, outcomes: list[str]) -> None:
        for outcome in outcomes:
            try:
                policy.call(OUTCOMES[outcome])
            except CircuitOpenError:
                refused[index] += 1
                continue
            except ConnectionError:
                pass
            reached[index] += 1

    def together(outcomes: list[str]) -> None:
        barrier = threading.Barrier(8)

        def start(index: int) -> None:
            barrier.wait()
            run(index, outcomes)

        threads = [threading.Thread(target=start, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    together([FAIL, OK, OK, OK] * 250)  # 8,000 calls, 25 % failing
    assert (circuit.calls, circuit.failures, circuit.state) == (8_000, 2_000, "closed")
    assert sum(reached) == 8_000
    together([FAIL] * 600)  # it opens at 2,000 + k >= (8,000 + k) / 2: the 4,000th
    assert circuit.state == "open"
    assert len(listener.opened) == 1
    assert (listener.opened[0].failures, listener.opened[0].failure_rate) == (6_000, 0.5)
    assert sum(reached) - 8_000 >= 4_000
    assert sum(reached) - 8_000 + sum(refused) == 4_800


def test_a_time_window_counts_exactly_while_threads_race_its_buckets_rolling() -> None:
    """Fast successes are counted without the lock; buckets roll (the clock ticks in
    another thread) while eight threads call: not one call is lost."""
    breaker = Breaker(failure_rate=0.5, window_seconds=60, min_calls=1_000_000)
    policy = Policy("rolling", breaker=breaker)
    circuit = policy.circuit
    assert circuit is not None
    done = threading.Event()
    with freeze_time("2025-01-01 12:00:00") as clock:

        def tick() -> None:
            for _ in range(2_000):  # 20 s of buckets rolling at most: all within the window
                if done.is_set():
                    return
                clock.tick(0.01)

        def work() -> None:
            for number in range(5_000):
                call(policy, FAIL if number % 100 == 0 else OK)

        ticker = threading.Thread(target=tick)
        workers = [threading.Thread(target=work) for _ in range(8)]
        ticker.start()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        done.set()
        ticker.join()
        assert (circuit.calls, circuit.failures) == (40_000, 400)


def test_a_thousand_tasks_count_exactly_and_open_it_once() -> None:
    listener = Transitions()
    breaker = Breaker(failure_rate=0.5, window=10_000, min_calls=4_000)
    policy = Policy("tasks", breaker=breaker, listeners=[listener])
    circuit = policy.circuit
    assert circuit is not None
    counts = {"reached": 0, "refused": 0}

    @policy
    async def service(outcome: str) -> str:
        await asyncio.sleep(0)  # every task interleaves with the others
        counts["reached"] += 1
        if outcome == FAIL:
            raise ConnectionRefusedError("the service is down")
        return outcome

    async def task(outcomes: list[str]) -> None:
        for outcome in outcomes:
            try:
                await service(outcome)
            except CircuitOpenError:
                counts["refused"] += 1
            except ConnectionError:
                pass

    async def main(outcomes: list[str]) -> None:
        await asyncio.gather(*(task(outcomes) for _ in range(1000)))

    asyncio.run(main([OK, FAIL, OK, OK]))  # 4,000 calls, 25 % failing
    assert (circuit.calls, circuit.failures, circuit.state) == (4_000, 1_000, "closed")
    asyncio.run(main([FAIL] * 3))  # opens at 1,000 + k >= (4,000 + k) / 2: the 2,000th
    assert circuit.state == "open"
    assert len(listener.opened) == 1
    assert (listener.opened[0].failures, listener.opened[0].failure_rate) == (3_000, 0.5)
    assert counts["reached"] - 4_000 >= 2_000
    assert counts["reached"] - 4_000 + counts["refused"] == 3_000


# -- YAML ----------------------------------------------------------------------------------

RATE_FILE = """\
version: 1
defaults:
  breaker: {fail_max: 3}
policies:
  orders:
    breaker:
      fail_max: null
      failure_rate: 0.25
      window_seconds: 60
      min_calls: 50
      slow_call_duration: 2.5
      slow_call_rate: 0.8
      half_open_calls: 5
  plain: {}
"""


def test_the_failure_rate_keys_in_a_policy_file() -> None:
    policies = load_policies(RATE_FILE)
    breaker = policies["orders"].breaker
    assert breaker == Breaker(
        failure_rate=0.25, window_seconds=60, min_calls=50, slow_call_duration=2.5,
        slow_call_rate=0.8, half_open_calls=5,
    )  # fmt: skip
    assert policies["plain"].breaker == Breaker(fail_max=3)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "breaker: {failure_rate: 0.5}",
            "policies.p.breaker.fail_max: can't be set with failure_rate (got 3)",
        ),
        (
            "breaker: {fail_max: null, failure_rate: 0.5, window: 10, window_seconds: 5}",
            "policies.p.breaker.window_seconds: can't be set with window",
        ),
        ("breaker: {fail_max: null, window: 10}", "policies.p.breaker.window: belongs to the"),
        (
            "breaker: {fail_max: null, failure_rate: two}",
            "policies.p.breaker.failure_rate: must be a number",
        ),
        ("breaker: {fail_max: null, failure_rat: 0.5}", "did you mean 'failure_rate'?"),
    ],
)
def test_mistakes_in_the_failure_rate_keys_name_the_key(body: str, message: str) -> None:
    text = f"version: 1\ndefaults:\n  breaker: {{fail_max: 3}}\npolicies:\n  p:\n    {body}\n"
    with pytest.raises(ConfigError) as error:
        load_policies(text)
    assert message in str(error.value)
    assert "line" in str(error.value)


def test_check_and_schedule_show_the_failure_rate_breaker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text(RATE_FILE, encoding="utf-8")
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    orders = next(line for line in out.splitlines() if line.startswith("orders"))
    assert "25% of 60s (min 50), slow > 2.5s at 80%, 30s open, 5 trials" in orders
    plain = next(line for line in out.splitlines() if line.startswith("plain"))
    assert "3 fails, 30s open" in plain
    assert main(["schedule", "orders", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "breaker: 25% of 60s (min 50), slow > 2.5s at 80%, 30s open, 5 trials" in out


def test_a_storage_that_keeps_no_windows_is_refused_when_the_policy_is_built() -> None:
    from resilience.stores.memory import MemoryBreakerStore

    class Consecutive:
        def breaker_store(self, policy: str) -> MemoryBreakerStore:
            return MemoryBreakerStore()

    breaker = Breaker(failure_rate=0.5, storage=Consecutive())
    with pytest.raises(TypeError, match=r"^Breaker\.storage can't keep a failure-rate window"):
        Policy("custom", breaker=breaker)
    assert Policy("fine", breaker=Breaker(storage=Consecutive())).breaker_state == "closed"


def test_policy_stats_count_every_call_through_a_slow_call_breaker() -> None:
    policy = Policy("stats", breaker=Breaker(failure_rate=0.5, window=2, slow_call_duration=1.0))
    guarded = policy(fail)
    for _ in range(3):
        with contextlib.suppress(ConnectionError, CircuitOpenError):
            guarded()
    stats = policy.stats()
    assert (stats.calls, stats.failures, stats.rejected) == (3, {"retryable": 2}, 1)


def test_slow_trials_open_the_circuit_again() -> None:
    breaker = Breaker(
        failure_rate=1.0, window=2, min_calls=2, slow_call_duration=1.0, slow_call_rate=0.5,
        reset_timeout=10, half_open_calls=2,
    )  # fmt: skip
    policy = Policy("slow-trials", breaker=breaker)
    with freeze_time("2025-01-01 12:00:00") as clock:

        def slow() -> str:
            clock.tick(1.5)
            return "late"

        policy.call(ok)
        policy.call(slow)  # 1 of 2 slow: 50 %
        assert policy.breaker_state == "open"
        clock.tick(10)
        policy.call(slow)  # one slow trial of two already makes 50 %
        assert policy.breaker_state == "open"
        clock.tick(10)
        policy.call(ok)
        assert policy.breaker_state == "half-open"  # a slow second trial would make 50 %
        policy.call(ok)
        assert policy.breaker_state == "closed"
