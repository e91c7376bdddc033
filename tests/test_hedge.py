"""Hedge: against a real HTTP server on 127.0.0.1 (aiohttp as the client), a slow attempt
gets a hedge, the first success wins, and the server sees the loser's connection closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest

from resilience import Breaker, Budget, Hedge, Policy, Retry

from .helpers import CLASSIFIER, Broken, Flaky

DELAY = 0.005  # the hedge delay: real time, so kept to a few milliseconds


class Server:
    """A small HTTP/1.1 server: answers ``GET /<name>`` with ``<name>``, except the paths
    listed in ``hang``, which it never answers; it records what it saw."""

    def __init__(self) -> None:
        self.hang: set[str] = set()
        self.seen: list[str] = []
        self.closed: list[str] = []  # hung requests whose client closed the connection
        self.closing = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readline()
        while (await reader.readline()).strip():
            pass  # the headers
        path = request.split()[1].decode().lstrip("/")
        self.seen.append(path)
        if path in self.hang:
            if not await reader.read(1):  # nothing more comes: the client closed it
                self.closed.append(path)
                self.closing.set()
            writer.close()
            return
        body = path.encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()


@pytest.fixture(name="server")
async def _server() -> AsyncIterator[Server]:
    server = Server()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(name="session")
async def _session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def test_spec_checks_its_arguments() -> None:
    assert Hedge(delay=timedelta(milliseconds=50)).delay == 0.05
    assert Hedge(delay=0).max_extra == 1
    with pytest.raises(ValueError, match=r"Hedge.max_extra must be from 1 to 10 \(got 11\)"):
        Hedge(delay=0.1, max_extra=11)
    with pytest.raises(ValueError, match=r"Hedge.delay must be >= 0"):
        Hedge(delay=-1)
    with pytest.raises(TypeError, match=r"Policy.hedge must be a Hedge or None"):
        Policy("p", hedge=0.1)  # type: ignore[arg-type]


def test_a_sync_function_is_refused_when_decorated() -> None:
    policy = Policy("hedged", hedge=Hedge(delay=0.1))

    def fetch() -> str:
        return "ok"  # pragma: no cover

    with pytest.raises(TypeError, match=r"@hedged: .*'test_a_sync_.*fetch' is a sync function"):
        policy(fetch)
    with pytest.raises(TypeError, match=r"call\(\) is for sync functions, and the policy hedges"):
        policy.call(fetch)


async def test_a_slow_attempt_is_hedged_and_the_server_sees_the_loser_cancelled(
    server: Server, session: aiohttp.ClientSession
) -> None:
    server.hang.add("first")
    paths = iter(["first", "second"])
    policy = Policy("hedged", hedge=Hedge(delay=DELAY))

    @policy
    async def fetch() -> str:
        async with session.get(server.url(next(paths))) as response:
            return await response.text()

    assert await fetch() == "second"
    await asyncio.wait_for(server.closing.wait(), 5)
    assert server.seen == ["first", "second"]
    assert server.closed == ["first"]


async def test_a_quick_answer_starts_no_hedge(
    server: Server, session: aiohttp.ClientSession
) -> None:
    policy = Policy("hedged", hedge=Hedge(delay=5.0))

    @policy
    async def fetch() -> str:
        async with session.get(server.url("only")) as response:
            return await response.text()

    assert await fetch() == "only"
    assert server.seen == ["only"]


async def test_a_failed_attempt_starts_the_hedge_at_once_and_the_breaker_counts_each() -> None:
    policy = Policy(
        "hedged",
        hedge=Hedge(delay=60.0, max_extra=2),
        breaker=Breaker(fail_max=10),
        classifier=CLASSIFIER,
    )
    calls = 0

    @policy
    async def fetch() -> str:
        nonlocal calls
        calls += 1
        raise Flaky(str(calls))

    with pytest.raises(Flaky) as caught:
        await fetch()  # three attempts at once, no delay waited: the test ends at once
    assert calls == 3
    assert str(caught.value) == "3"  # the last failure propagates
    assert policy.circuit is not None
    assert policy.circuit.failures == 3  # every hedged attempt reached the breaker


async def test_a_permanent_failure_ends_the_race_and_cancels_the_others() -> None:
    policy = Policy("hedged", hedge=Hedge(delay=0.0), classifier=CLASSIFIER)
    cancelled: list[int] = []
    calls = 0

    @policy
    async def fetch() -> str:
        nonlocal calls
        calls += 1
        mine = calls
        if mine == 2:
            raise Broken("no")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(mine)
            raise
        return "never"  # pragma: no cover

    with pytest.raises(Broken):
        await fetch()
    assert cancelled == [1]


async def test_with_retry_each_attempt_is_hedged(no_wait: None) -> None:
    policy = Policy(
        "hedged",
        retry=Retry(attempts=2),
        hedge=Hedge(delay=60.0),
        breaker=Breaker(fail_max=10),
        classifier=CLASSIFIER,
    )
    calls = 0

    @policy
    async def fetch() -> str:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise Flaky(str(calls))
        return "ok"

    assert await fetch() == "ok"  # attempt 1 and its hedge fail; attempt 2 fails, its hedge wins
    assert calls == 4
    assert policy.circuit is not None
    assert policy.circuit.failures == 0  # the success ended the run of failures


async def test_a_spent_budget_starts_no_hedge() -> None:
    policy = Policy(
        "hedged",
        retry=Retry(attempts=1, budget=Budget(ratio=0.0, min_per_second=0.0)),
        hedge=Hedge(delay=0.0),
    )
    calls = 0

    @policy
    async def fetch() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        return "ok"

    assert await fetch() == "ok"
    assert calls == 1


async def test_cancelling_the_call_cancels_every_attempt_and_propagates() -> None:
    policy = Policy("hedged", hedge=Hedge(delay=0.0, max_extra=2))
    started = asyncio.Event()
    cancelled = 0
    running = 0

    @policy
    async def fetch() -> str:
        nonlocal cancelled, running
        running += 1
        if running == 3:
            started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled += 1
            raise
        return "never"  # pragma: no cover

    task = asyncio.create_task(fetch())
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled == 3


async def test_acall_hedges_too(server: Server, session: aiohttp.ClientSession) -> None:
    server.hang.add("slow")
    paths = iter(["slow", "fast"])
    policy = Policy("hedged", hedge=Hedge(delay=DELAY))

    async def fetch() -> str:
        async with session.get(server.url(next(paths))) as response:
            return await response.text()

    assert await policy.acall(fetch) == "fast"
    await asyncio.wait_for(server.closing.wait(), 5)
    assert server.closed == ["slow"]


async def test_a_hedge_the_bulkhead_refuses_is_not_made() -> None:
    from resilience import Concurrency

    policy = Policy("hedged", hedge=Hedge(delay=0.0), concurrency=Concurrency(limit=1))
    calls = 0

    @policy
    async def fetch() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        return "ok"

    assert await fetch() == "ok"
    assert calls == 1
    assert policy._pipeline.gates[0].in_flight == 0  # type: ignore[attr-defined]


async def test_an_answer_while_a_hedge_waits_for_a_slot_ends_the_race_at_once() -> None:
    from resilience import Concurrency

    policy = Policy(
        "hedged", hedge=Hedge(delay=0.001), concurrency=Concurrency(limit=1, max_wait=30.0)
    )
    answer = asyncio.Event()
    calls = 0

    @policy
    async def fetch() -> str:
        nonlocal calls
        calls += 1
        await answer.wait()
        return "first"

    task = asyncio.create_task(fetch())
    for _ in range(100):  # the hedge's delay runs out; it waits for the only slot
        await asyncio.sleep(0.001)
    answer.set()
    assert await asyncio.wait_for(task, 5) == "first"
    assert calls == 1
    assert policy._pipeline.gates[0].in_flight == 0  # type: ignore[attr-defined]


async def test_each_hedge_spends_the_retry_budget() -> None:
    # A reserve of one retry in the window, no share of calls: one hedge in all.
    budget = Budget(ratio=0.0, min_per_second=0.1, window=10.0)
    policy = Policy("hedged", retry=Retry(attempts=1, budget=budget), hedge=Hedge(delay=0.0))
    calls = 0

    @policy
    async def fetch() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.002)  # long enough for the hedge to start
        return "ok"

    assert await fetch() == "ok"
    assert calls == 2  # the first and its hedge
    assert await fetch() == "ok"
    assert calls == 3  # the budget is spent: no hedge


async def test_a_half_open_circuit_lets_only_its_trial_through_not_the_hedges() -> None:
    policy = Policy(
        "hedged",
        breaker=Breaker(fail_max=1, reset_timeout=0.001, half_open_calls=1),
        hedge=Hedge(delay=0.0, max_extra=3),
        classifier=CLASSIFIER,
    )
    assert policy.circuit is not None
    policy.circuit.open()
    await asyncio.sleep(0.002)  # past reset_timeout: the next call is the trial
    calls = 0

    @policy
    async def fetch() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        return "ok"

    assert await fetch() == "ok"
    assert calls == 1
    assert policy.breaker_state == "closed"
