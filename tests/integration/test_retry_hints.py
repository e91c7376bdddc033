"""The retry waits as long as the server asked: Retry-After from a real server on 127.0.0.1.

The server answers 429 or 503 with ``Retry-After: N`` a few times, then 200. Under
``no_wait()`` nothing sleeps for real; the wait each retry would have slept is in its
``retry.scheduled`` event.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from resilience import Backoff, Policy, Retry
from resilience.testing import no_wait

from ..helpers import named
from .servers import LOCALHOST, QuietHandler, ThreadedServer

pytestmark = pytest.mark.integration

TINY = Backoff(initial=0.01, maximum=0.02, jitter="none")


class Busy:
    """``GET /`` answers ``status`` with ``Retry-After: after`` for ``times`` requests, then 200."""

    def __init__(self, status: int, after: str, times: int) -> None:
        self.lock = threading.Lock()
        self.after = after
        self.left = times
        self.requests = 0
        busy = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                with busy.lock:
                    busy.requests += 1
                    refuse = busy.left > 0
                    busy.left -= 1
                self.send_response(status if refuse else 200)
                if refuse:
                    self.send_header("Retry-After", after)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadedServer(Handler, None)
        self.url = f"http://{LOCALHOST}:{self.server.port}/"


@pytest.fixture(name="busy")
def _busy(request: pytest.FixtureRequest) -> Iterator[Busy]:
    status, after, times = request.param
    busy = Busy(status, after, times)
    yield busy
    busy.server.close()


def fetch(url: str) -> str:
    response = requests.get(url, timeout=5)
    response.raise_for_status()
    return response.text


@pytest.mark.parametrize("busy", [(429, "3", 2), (503, "2", 2)], indirect=True)
def test_the_retry_waits_at_least_what_the_server_asked(
    busy: Busy, events: list[dict[str, Any]]
) -> None:
    policy = Policy("api", retry=Retry(attempts=4, backoff=TINY))
    with no_wait():
        assert policy.call(fetch, busy.url) == "ok"
    assert busy.requests == 3
    waits = [e["wait"] for e in named(events, "retry.scheduled")]
    assert waits == [float(busy.after)] * 2  # the hint, not the 10 ms backoff


@pytest.mark.parametrize("busy", [(503, "30", 5)], indirect=True)
def test_a_hint_past_the_deadline_gives_up_with_reason_deadline(
    busy: Busy, events: list[dict[str, Any]]
) -> None:
    policy = Policy("api", retry=Retry(attempts=5, deadline=10, backoff=TINY))
    with no_wait(), pytest.raises(requests.HTTPError) as caught:
        policy.call(fetch, busy.url)
    assert busy.requests == 1  # waiting 30 s would end past the 10 s deadline
    assert caught.value.__notes__[0].endswith("(deadline)")
    (gave_up,) = named(events, "retry.gave_up")
    assert gave_up["reason"] == "deadline"


@pytest.mark.parametrize("busy", [(429, "3600", 1)], indirect=True)
def test_max_hint_caps_what_a_server_may_ask(busy: Busy, events: list[dict[str, Any]]) -> None:
    policy = Policy("api", retry=Retry(attempts=2, backoff=TINY, max_hint=5))
    with no_wait():
        assert policy.call(fetch, busy.url) == "ok"
    assert [e["wait"] for e in named(events, "retry.scheduled")] == [5.0]


@pytest.mark.parametrize("busy", [(429, "3", 1)], indirect=True)
def test_hints_can_be_ignored(busy: Busy, events: list[dict[str, Any]]) -> None:
    policy = Policy("api", retry=Retry(attempts=2, backoff=TINY, hints=False))
    with no_wait():
        assert policy.call(fetch, busy.url) == "ok"
    assert [e["wait"] for e in named(events, "retry.scheduled")] == [0.01]


@pytest.mark.parametrize("busy", [(503, "2", 1)], indirect=True)
async def test_async_callers_wait_for_the_hint_too(
    busy: Busy, events: list[dict[str, Any]]
) -> None:
    httpx = pytest.importorskip("httpx")

    async def afetch(url: str) -> str:
        async with httpx.AsyncClient() as client:
            response = await client.get(url, timeout=5)
            response.raise_for_status()
            return response.text

    policy = Policy("api", retry=Retry(attempts=3, backoff=TINY))
    with no_wait():
        assert await policy.acall(afetch, busy.url) == "ok"
    assert [e["wait"] for e in named(events, "retry.scheduled")] == [2.0]
