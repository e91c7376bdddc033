"""Real HTTP clients raising real exceptions against real servers on 127.0.0.1.

requests, urllib3, httpx, aiohttp, urllib and http.client against a closed port, a server too
slow to answer, a server answering 429 and 503 with ``Retry-After``, a TLS server whose
certificate nobody trusts, and a name that does not resolve. Each exception is classified
through its cause chain, and the server's hint read.
"""

from __future__ import annotations

import asyncio
import email.utils
import http.client
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from resilience import Category, classify, explain
from resilience.classify import default_classifier

from .servers import LOCALHOST, QuietHandler, ThreadedServer, free_port

pytestmark = pytest.mark.integration

R, A, P = Category.RETRYABLE, Category.AUTH, Category.PERMANENT
NO_SUCH_HOST = "nonexistent.invalid"  # RFC 6761: never resolves


class Site:
    """``/503`` and ``/429`` answer with ``Retry-After`` (``/date`` as an HTTP-date),
    ``/slow`` answers only when the test is over."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.release = threading.Event()
        site = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                if self.path == "/slow":
                    site.release.wait(10)
                    return
                status = 429 if self.path.startswith("/429") else 503
                when = (
                    email.utils.formatdate(time.time() + 120, usegmt=True)
                    if self.path.endswith("/date")
                    else "7"
                )
                self.send_response(status)
                self.send_header("Retry-After", when)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadedServer(Handler, tls)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://{LOCALHOST}:{self.server.port}"

    def close(self) -> None:
        self.release.set()
        self.server.close()


@pytest.fixture(name="site")
def _site() -> Iterator[Site]:
    site = Site()
    yield site
    site.close()


@pytest.fixture(name="untrusted")
def _untrusted() -> Iterator[Site]:
    """An HTTPS site whose certificate is signed by a CA no client trusts."""
    trustme = pytest.importorskip("trustme")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    trustme.CA().issue_cert(LOCALHOST).configure_cert(context)
    site = Site(context)
    yield site
    site.close()


@pytest.fixture(name="closed")
def _closed() -> str:
    return f"http://{LOCALHOST}:{free_port()}/"


def _urlopen(url: str, timeout: float) -> Any:
    return urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - http(s) URLs of the tests


def raised(call: Callable[[], Any]) -> BaseException:
    try:
        call()
    except Exception as exc:
        return exc
    pytest.fail("no exception")


def check(exc: BaseException, category: Category, rule: str, via_first: str | None = None) -> None:
    verdict = explain(exc)
    assert (verdict.category, verdict.rule) == (category, rule), verdict
    assert classify(exc) is category
    assessed = default_classifier().assess(exc)
    assert assessed[::2] == (category, True)
    assert (
        assessed[1] == pytest.approx(verdict.hint, abs=1) if verdict.hint else assessed[1] is None
    )
    if via_first is not None:
        assert verdict.via[0] == via_first, verdict.via
        assert verdict.via[-1] == rule.split(maxsplit=1)[0], verdict.via


REFUSED = "builtins.ConnectionRefusedError"
CERT = "ssl.SSLCertVerificationError"
NONAME = "socket.gaierror code=EAI_NONAME"


# --- requests ----------------------------------------------------------------------------------


def test_requests(site: Site, untrusted: Site, closed: str) -> None:
    requests = pytest.importorskip("requests")
    exc = raised(lambda: requests.get(closed, timeout=5))
    assert isinstance(exc, requests.ConnectionError)
    assert not isinstance(exc, ConnectionError)  # requests' errors are OSErrors, not these
    check(exc, R, REFUSED, "requests.exceptions.ConnectionError")

    check(
        raised(lambda: requests.get(site.url + "/slow", timeout=0.05)),
        R,
        "requests.exceptions.ReadTimeout",
    )
    check(
        raised(lambda: requests.get(untrusted.url, timeout=5)),
        P,
        CERT,
        "requests.exceptions.SSLError",
    )
    check(
        raised(lambda: requests.get(f"http://{NO_SUCH_HOST}/", timeout=5)),
        P,
        NONAME,
        "requests.exceptions.ConnectionError",
    )

    busy = raised(lambda: requests.get(site.url + "/503", timeout=5).raise_for_status())
    check(busy, R, "requests.exceptions.HTTPError status=5xx")
    assert explain(busy).hint == 7.0
    throttled = raised(lambda: requests.get(site.url + "/429/date", timeout=5).raise_for_status())
    check(throttled, R, "requests.exceptions.HTTPError status=429")
    hint = explain(throttled).hint
    assert hint is not None
    assert 100 < hint <= 120


# --- urllib3 -----------------------------------------------------------------------------------


def test_urllib3(site: Site, untrusted: Site, closed: str) -> None:
    urllib3 = pytest.importorskip("urllib3")
    pool = urllib3.PoolManager(retries=False, timeout=5)
    check(
        raised(lambda: pool.request("GET", closed)),
        R,
        REFUSED,
        "urllib3.exceptions.NewConnectionError",
    )
    retrying = urllib3.PoolManager(retries=urllib3.Retry(connect=1, backoff_factor=0), timeout=5)
    check(
        raised(lambda: retrying.request("GET", closed)),
        R,
        REFUSED,
        "urllib3.exceptions.MaxRetryError",
    )
    slow = urllib3.PoolManager(retries=False, timeout=0.05)
    check(
        raised(lambda: slow.request("GET", site.url + "/slow")),
        R,
        "urllib3.exceptions.ReadTimeoutError",
    )
    check(
        raised(lambda: pool.request("GET", untrusted.url)), P, CERT, "urllib3.exceptions.SSLError"
    )
    check(
        raised(lambda: pool.request("GET", f"http://{NO_SUCH_HOST}/")),
        P,
        NONAME,
        "urllib3.exceptions.NameResolutionError",
    )
    # urllib3 raises no exception carrying the response: its own Retry reads Retry-After.
    # An application that raises with the response it got keeps the server's hint.
    statuses = urllib3.PoolManager(
        retries=urllib3.Retry(total=0, status_forcelist=[503]), timeout=5
    )
    check(
        raised(lambda: statuses.request("GET", site.url + "/503")),
        R,
        "urllib3.exceptions.ResponseError",
        "urllib3.exceptions.MaxRetryError",
    )
    response = pool.request("GET", site.url + "/503")

    class ServiceBusy(Exception):
        def __init__(self, response: Any) -> None:
            super().__init__(response.status)
            self.response = response

    assert explain(ServiceBusy(response)).hint == 7.0


# --- httpx -------------------------------------------------------------------------------------


def test_httpx(site: Site, untrusted: Site, closed: str) -> None:
    httpx = pytest.importorskip("httpx")
    check(raised(lambda: httpx.get(closed)), R, REFUSED, "httpx.ConnectError")
    check(raised(lambda: httpx.get(site.url + "/slow", timeout=0.05)), R, "httpx.ReadTimeout")
    check(raised(lambda: httpx.get(untrusted.url)), P, CERT, "httpx.ConnectError")
    check(raised(lambda: httpx.get(f"http://{NO_SUCH_HOST}/")), P, NONAME, "httpx.ConnectError")
    busy = raised(lambda: httpx.get(site.url + "/503").raise_for_status())
    check(busy, R, "httpx.HTTPStatusError status=5xx")
    assert explain(busy).hint == 7.0
    throttled = raised(lambda: httpx.get(site.url + "/429").raise_for_status())
    check(throttled, R, "httpx.HTTPStatusError status=429")
    assert explain(throttled).hint == 7.0


async def test_httpx_async(site: Site, closed: str) -> None:
    httpx = pytest.importorskip("httpx")
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError) as refused:
            await client.get(closed)
        response = await client.get(site.url + "/429")
        with pytest.raises(httpx.HTTPStatusError) as throttled:
            response.raise_for_status()
    check(refused.value, R, REFUSED, "httpx.ConnectError")
    assert explain(throttled.value).hint == 7.0


# --- aiohttp -----------------------------------------------------------------------------------


async def test_aiohttp(site: Site, untrusted: Site, closed: str) -> None:
    aiohttp = pytest.importorskip("aiohttp")

    async def get(url: str, timeout: float = 5) -> BaseException:
        try:
            timeouts = aiohttp.ClientTimeout(total=timeout)
            async with (
                aiohttp.ClientSession(raise_for_status=True) as session,
                session.get(url, timeout=timeouts) as response,
            ):
                await response.read()
        except Exception as exc:
            return exc
        pytest.fail("no exception")

    check(await get(closed), R, REFUSED, "aiohttp.client_exceptions.ClientConnectorError")
    check(await get(site.url + "/slow", 0.05), R, "builtins.TimeoutError")
    check(await get(untrusted.url), P, "aiohttp.client_exceptions.ClientConnectorCertificateError")
    check(
        await get(f"http://{NO_SUCH_HOST}/"),
        P,
        NONAME,
        "aiohttp.client_exceptions.ClientConnectorDNSError",
    )
    busy = await get(site.url + "/503")
    check(busy, R, "aiohttp.client_exceptions.ClientResponseError status=5xx")
    assert explain(busy).hint == 7.0
    throttled = await get(site.url + "/429")
    check(throttled, R, "aiohttp.client_exceptions.ClientResponseError status=429")
    # aiohttp's deprecated `.code` warns; the classifier never reads it.
    with pytest.warns(DeprecationWarning, match="code property is deprecated"):
        assert throttled.code == 429  # type: ignore[attr-defined]
    with _no_warnings():
        assert explain(throttled).hint == 7.0


# --- the standard library ----------------------------------------------------------------------


def test_urllib_and_http_client(site: Site, untrusted: Site, closed: str) -> None:
    check(
        raised(lambda: _urlopen(closed, timeout=5)),
        R,
        REFUSED,
        "urllib.error.URLError",
    )
    check(
        raised(lambda: _urlopen(untrusted.url, timeout=5)),
        P,
        CERT,
        "urllib.error.URLError",
    )
    check(
        raised(lambda: _urlopen(site.url + "/slow", timeout=0.05)),
        R,
        "builtins.TimeoutError",
    )
    busy = raised(lambda: _urlopen(site.url + "/503", timeout=5))
    assert isinstance(busy, urllib.error.HTTPError)
    check(busy, R, "urllib.error.HTTPError status=5xx")
    assert explain(busy).hint == 7.0
    busy.close()

    def refused() -> None:
        connection = http.client.HTTPConnection(LOCALHOST, int(closed.rsplit(":", 1)[1].strip("/")))
        connection.request("GET", "/")

    check(raised(refused), R, REFUSED)


async def test_asyncio(closed: str) -> None:
    port = int(closed.rsplit(":", 1)[1].strip("/"))
    try:
        await asyncio.open_connection(LOCALHOST, port)
    except OSError as exc:
        check(exc, R, REFUSED)
    try:
        await asyncio.wait_for(asyncio.Event().wait(), 0.001)
    except TimeoutError as exc:
        check(exc, R, "builtins.TimeoutError")


class _no_warnings:
    def __enter__(self) -> None:
        import warnings

        self._catcher = warnings.catch_warnings(record=True)
        self._seen = self._catcher.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc: object) -> None:
        self._catcher.__exit__(*exc)
        assert not self._seen, [str(w.message) for w in self._seen]
