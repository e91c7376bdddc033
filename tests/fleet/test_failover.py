"""Redis trouble never fails a call: an in-process breaker takes over, and Redis comes back."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from freezegun import freeze_time

from resilience import Breaker, Budget, CircuitOpenError, Policy, RedisStorage, Retry
from resilience.elements.breaker import CircuitBreaker
from resilience.stores.redis import mask_url
from resilience.stores.redis_watch import Watch
from resilience.testing import no_wait
from tests.helpers import CLASSIFIER, Flaky, Script, named

from .redis_server import RedisServer, free_port, state_in_redis, wait_until


def policy_on(url: str, namespace: str, name: str = "svc", **storage: Any) -> Policy:
    spec = RedisStorage(url=url, namespace=namespace, **storage)
    return Policy(
        name,
        breaker=Breaker(fail_max=2, reset_timeout=30.0, storage=spec),
        classifier=CLASSIFIER,
    )


def trip(policy: Policy) -> None:
    for _ in range(2):
        with pytest.raises(Flaky):
            policy.call(Script(Flaky("down")))


@pytest.fixture(name="blackhole")
def _blackhole() -> Iterator[str]:
    """A redis:// URL whose server accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


def test_unreachable_at_start_calls_go_on_with_a_local_breaker(
    namespace: str, events: list[dict[str, Any]]
) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    policy = policy_on(url, namespace)
    assert events == []  # building the policy does not talk to Redis
    assert policy.call(Script()) == "ok"
    (warning,) = named(events, "storage.unavailable")
    assert warning["policy"] == "svc"
    assert warning["component"] == "breaker"
    assert warning["storage"] == f"redis://:***@127.0.0.1:{url.rsplit(':', 1)[1]}"
    assert warning["error"] == "ConnectionError"
    assert warning["log_level"] == "warning"
    trip(policy)  # the local breaker protects the service meanwhile
    with pytest.raises(CircuitOpenError):
        policy.call(Script())
    assert policy.breaker_state == "open"
    assert len(named(events, "storage.unavailable")) == 1
    assert "hunter2" not in repr(events)


def test_killed_mid_run_then_restarted_redis_is_used_again(
    redis_server: RedisServer, namespace: str, events: list[dict[str, Any]]
) -> None:
    policy = policy_on(redis_server.url, namespace, reconnect_interval=0.1)
    assert policy.call(Script()) == "ok"
    link = RedisStorage(url=redis_server.url, namespace=namespace, reconnect_interval=0.1).link()
    wait_until(lambda: link.watch.synced, "the subscription")

    redis_server.stop()  # the subscriber notices at once; calls go on in process
    wait_until(lambda: named(events, "storage.unavailable") != [], "storage.unavailable")
    assert policy.call(Script()) == "ok"
    trip(policy)
    assert policy.breaker_state == "open"  # in process
    assert [e["event"] for e in events if e["event"].startswith("storage.")] == [
        "storage.unavailable"
    ]

    redis_server.start()  # empty: nothing survived the kill
    wait_until(lambda: link.up is True, "the subscriber's reconnection")
    assert policy.call(Script()) == "ok"  # Redis again, and its state (fresh: closed)
    assert named(events, "storage.restored") == [
        {
            "event": "storage.restored",
            "policy": "svc",
            "component": "breaker",
            "storage": redis_server.url,
            "log_level": "info",
        }
    ]
    trip(policy)
    assert state_in_redis(redis_server, namespace, "svc") == "open"
    assert len(named(events, "storage.unavailable")) == 1


def test_callers_never_probe_while_the_subscriber_does(
    redis_server: RedisServer, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    policies = [policy_on(redis_server.url, namespace, f"p{i}") for i in range(3)]
    for policy in policies:
        assert policy.call(Script()) == "ok"
    link = RedisStorage(url=redis_server.url, namespace=namespace).link()
    commands: list[object] = []
    real_command = link.client.execute_command

    def command(*args: object, **kwargs: object) -> object:
        commands.append(args[0])
        return real_command(*args, **kwargs)

    monkeypatch.setattr(link.client, "execute_command", command)
    redis_server.stop()
    wait_until(lambda: link.up is False, "the subscriber to notice")
    for _ in range(20):
        for policy in policies:
            assert policy.call(Script()) == "ok"
        with pytest.raises(Flaky):
            policies[0].call(Script(Flaky("down")))
    assert commands == []  # every call in process; reconnecting is the subscriber's


def test_budget_reconnects_are_tried_at_most_once_per_interval(
    redis_server: RedisServer, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with freeze_time("2030-01-01") as frozen:
        storage = RedisStorage(url=redis_server.url, namespace=namespace)
        policies = [
            Policy(
                f"p{i}",
                retry=Retry(attempts=2, budget=Budget(storage=storage)),
                classifier=CLASSIFIER,
            )
            for i in range(3)
        ]
        link = storage.link()
        commands: list[object] = []
        real_command = link.client.execute_command

        def command(*args: object, **kwargs: object) -> object:
            commands.append(args[0])
            return real_command(*args, **kwargs)

        monkeypatch.setattr(link.client, "execute_command", command)
        redis_server.stop()
        with no_wait():
            for _ in range(5):
                for policy in policies:
                    with pytest.raises(Flaky):
                        policy.call(Script(Flaky("down"), Flaky("down")))
            assert len(commands) == 1  # the first retry decision found Redis down
            frozen.tick(timedelta(seconds=5.1))
            for _ in range(5):
                for policy in policies:
                    with pytest.raises(Flaky):
                        policy.call(Script(Flaky("down"), Flaky("down")))
        assert len(commands) == 2  # one probe for every policy of the process


def test_a_storage_value_shares_one_link_per_process(namespace: str) -> None:
    one = RedisStorage(url="redis://127.0.0.1:1/0", namespace=namespace)
    two = RedisStorage(url="redis://127.0.0.1:1/0", namespace=namespace)
    assert one.link() is two.link()
    assert one.link() is not one.__class__(url="redis://127.0.0.1:2/0").link()


def test_trials_go_on_locally_while_redis_is_down(
    redis_server: RedisServer, namespace: str
) -> None:
    with freeze_time("2030-01-01") as frozen:
        policy = policy_on(redis_server.url, namespace, reconnect_interval=3600.0)
        redis_server.stop()
        trip(policy)
        frozen.tick(timedelta(seconds=31))
        with policy.guard(), pytest.raises(CircuitOpenError):
            policy.call(Script())
        assert policy.breaker_state == "closed"


def test_the_password_never_shows(
    make_redis: Callable[..., RedisServer], namespace: str, events: list[dict[str, Any]]
) -> None:
    server = make_redis(password="s3cr3t-Pa55").start()
    policy = policy_on(server.url, namespace)
    assert policy.call(Script()) == "ok"
    assert "s3cr3t-Pa55" not in repr(policy)
    assert "s3cr3t-Pa55" not in repr(policy.breaker)
    server.stop()
    assert policy.call(Script()) == "ok"
    wrong = policy_on(server.url.replace("s3cr3t-Pa55", "s3cr3t-Wrong"), namespace, "other")
    server.start()
    assert wrong.call(Script()) == "ok"  # refused by Redis: local breaker
    (first, second) = named(events, "storage.unavailable")
    assert first["storage"] == f"redis://:***@127.0.0.1:{server.port}/0"
    assert second["error"] == "AuthenticationError"
    assert "s3cr3t" not in repr(events)


@pytest.mark.parametrize("quoted", [False, True], ids=["raw", "percent-encoded"])
def test_a_password_with_spaces_and_at_signs_never_shows(
    make_redis: Callable[..., RedisServer],
    namespace: str,
    events: list[dict[str, Any]],
    quoted: bool,
) -> None:
    secret = "s3 cr@t p%ss"
    server = make_redis(password=secret).start()
    shown = quote(secret, safe="") if quoted else secret
    url = f"redis://default:{shown}@127.0.0.1:{server.port}/0"
    storage = RedisStorage(url=url, namespace=namespace, reconnect_interval=0.05)
    policy = Policy("svc", breaker=Breaker(fail_max=2, storage=storage), classifier=CLASSIFIER)
    assert policy.call(Script()) == "ok"
    wait_until(lambda: storage.link().watch.synced, "the subscription")  # it logged in
    server.stop()
    wait_until(lambda: named(events, "storage.unavailable") != [], "storage.unavailable")
    trip(policy)
    texts = [repr(storage), repr(policy), repr(policy.breaker), repr(events), str(storage.link())]
    with pytest.raises(ValueError, match="malformed") as malformed:
        RedisStorage(url=url.replace(str(server.port), "notaport")).link()
    texts.append(str(malformed.value))
    for text in texts:
        for part in (secret, quote(secret, safe=""), "cr@t", "p%ss", "s3 "):
            assert part not in text
    assert named(events, "storage.unavailable")[0]["storage"] == (
        f"redis://default:***@127.0.0.1:{server.port}/0"
    )


def test_redis_error_messages_are_scrubbed(
    redis_server: RedisServer,
    namespace: str,
    events: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import redis

    # The subscriber would log in with that user and fail for real first: not this test's
    monkeypatch.setattr(Watch, "start", lambda self: None)

    url = redis_server.url.replace("redis://", "redis://admin:pa%40ss@")
    storage = RedisStorage(url=url, namespace=namespace)

    def boom(*args: Any, **kwargs: Any) -> Any:
        msg = f"Error connecting to {url}: password pa@ss rejected (pa%40ss)"
        raise redis.ConnectionError(msg)

    link = storage.link()
    link.client.execute_command = boom  # every command of this client
    policy = Policy("svc", breaker=Breaker(storage=storage))
    assert policy.call(Script()) == "ok"
    (warning,) = named(events, "storage.unavailable")
    assert "pa@ss" not in warning["error_message"]
    assert "pa%40ss" not in warning["error_message"]
    assert "redis://admin:***@127.0.0.1" in warning["error_message"]


def test_storage_errors_never_show_the_password() -> None:
    with pytest.raises(ValueError, match="must be a redis:// URL") as no_scheme:
        RedisStorage(url="admin:s3cret@localhost:6379")
    assert "s3cret" not in str(no_scheme.value)
    with pytest.raises(ValueError, match="malformed") as bad_port:
        RedisStorage(url="redis://:s3cret@localhost:notaport/0").link()
    assert "s3cret" not in str(bad_port.value)
    assert "s3cret" not in repr(RedisStorage(url="redis://:s3cret@h/0"))
    with pytest.raises(ValueError, match=r"RedisStorage\.timeout must be > 0"):
        RedisStorage(url="redis://h/0", timeout=0)
    with pytest.raises(TypeError, match="reconnect_interval"):
        RedisStorage(url="redis://h/0", reconnect_interval="5")  # type: ignore[arg-type]


async def test_the_event_loop_keeps_ticking_while_redis_is_slow(
    redis_server: RedisServer, namespace: str
) -> None:
    policy = policy_on(redis_server.url, namespace, timeout=5.0)
    script = Script()
    assert await policy.acall(script.acall) == "ok"
    link = RedisStorage(url=redis_server.url, namespace=namespace, timeout=5.0).link()
    wait_until(lambda: link.watch.synced, "the subscription")
    redis_server.client().client_pause(100)  # every command of other clients waits 100 ms
    start = time.perf_counter()
    assert await policy.acall(script.acall) == "ok"  # healthy: from the mirror, no waiting
    assert time.perf_counter() - start < 0.05
    beats: list[float] = []

    async def heartbeat() -> None:
        while True:
            beats.append(time.perf_counter())
            await asyncio.sleep(0.001)

    beating = asyncio.create_task(heartbeat())
    await asyncio.sleep(0)
    start = time.perf_counter()
    with pytest.raises(Flaky):
        await policy.acall(Script(Flaky("down")).acall)  # the failure is written
    took = time.perf_counter() - start
    beating.cancel()
    assert took >= 0.05  # the call did wait on Redis ...
    assert sum(start <= b <= start + took for b in beats) >= 10  # ... the loop did not
    assert max(b - a for a, b in itertools.pairwise(beats)) < 0.05


async def test_the_event_loop_keeps_ticking_while_redis_is_unreachable(
    blackhole: str, namespace: str, events: list[dict[str, Any]]
) -> None:
    policy = policy_on(blackhole, namespace, timeout=0.1)
    beats: list[float] = []

    async def heartbeat() -> None:
        while True:
            beats.append(time.perf_counter())
            await asyncio.sleep(0.001)

    beating = asyncio.create_task(heartbeat())
    await asyncio.sleep(0)
    start = time.perf_counter()
    assert await policy.acall(Script().acall) == "ok"
    took = time.perf_counter() - start
    beating.cancel()
    assert took >= 0.08
    assert sum(start <= b <= start + took for b in beats) >= 20
    assert [e["event"] for e in events] == ["storage.unavailable"]
    assert events[0]["error"] == "TimeoutError"
    start = time.perf_counter()
    assert await policy.acall(Script().acall) == "ok"  # in process now: no waiting
    assert time.perf_counter() - start < 0.05


async def test_async_calls_survive_redis_killed_mid_run(
    redis_server: RedisServer, namespace: str, events: list[dict[str, Any]]
) -> None:
    policy = policy_on(redis_server.url, namespace)
    assert await policy.acall(Script().acall) == "ok"
    redis_server.stop()
    for _ in range(2):
        with pytest.raises(Flaky):
            await policy.acall(Script(Flaky("down")).acall)
    with pytest.raises(CircuitOpenError):
        await policy.acall(Script().acall)
    assert len(named(events, "storage.unavailable")) == 1


async def test_a_cancelled_caller_gives_its_trial_back(
    redis_server: RedisServer, namespace: str
) -> None:
    with freeze_time("2030-01-01", real_asyncio=True) as frozen:
        policy = policy_on(redis_server.url, namespace)
        trip(policy)
        frozen.tick(timedelta(seconds=31))
        started = asyncio.Event()

        async def slow() -> str:
            started.set()
            await asyncio.sleep(10)
            return "late"

        task = asyncio.create_task(policy.acall(slow))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert redis_server.client().keys(f"{{{namespace}:svc}}:trial:*") == []
        assert await policy.acall(Script().acall) == "ok"
        assert policy.breaker_state == "closed"


async def test_a_caller_cancelled_while_being_admitted_gives_the_trial_back(
    redis_server: RedisServer, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with freeze_time("2030-01-01", real_asyncio=True) as frozen:
        policy = policy_on(redis_server.url, namespace)
        trip(policy)
        frozen.tick(timedelta(seconds=31))
        entered, gate, admitted = threading.Event(), threading.Event(), threading.Event()
        real_enter = CircuitBreaker.admit

        def slow_enter(self: CircuitBreaker) -> bool:
            entered.set()
            gate.wait(5)
            trial = real_enter(self)
            admitted.set()
            return trial

        monkeypatch.setattr(CircuitBreaker, "admit", slow_enter)
        task = asyncio.create_task(policy.acall(Script().acall))
        while not entered.is_set():
            await asyncio.sleep(0.001)
        task.cancel()
        gate.set()  # the worker thread admits the trial after its caller is gone
        with pytest.raises(asyncio.CancelledError):
            await task
        while not admitted.is_set():
            await asyncio.sleep(0.001)
        client = redis_server.client()
        for _ in range(1000):
            if not client.keys(f"{{{namespace}:svc}}:trial:*"):
                break
            await asyncio.sleep(0.001)
        assert client.keys(f"{{{namespace}:svc}}:trial:*") == []
        monkeypatch.undo()
        assert await policy.acall(Script().acall) == "ok"
        assert policy.breaker_state == "closed"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("redis://user:pw@h/0", "redis://user:***@h/0"),
        ("rediss://user:p@ss/w@h/0", "rediss://user:***@h/0"),
        ("unix://:pw@/tmp/redis.sock?db=0", "unix://:***@/tmp/redis.sock?db=0"),
        ("redis://h/0?password=pw&db=1", "redis://h/0?password=***&db=1"),
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("redis+cluster://u:pw@h:1", "redis+cluster://u:***@h:1"),
        ("failed: redis://u:pw@h/0 refused", "failed: redis://u:***@h/0 refused"),
    ],
)
def test_mask_url(text: str, masked: str) -> None:
    assert mask_url(text) == masked
