"""httpx, and httpcore under it: every class each package defines.

httpx retries nothing by default; ``HTTPTransport(retries=N)`` retries exactly a failed
connect (``ConnectError``, ``ConnectTimeout``), which never reached the server. We retry
every transport failure that is transient, and look at what a ``ConnectError`` wraps (httpx
raises it ``from`` httpcore's, which is raised ``from`` the ``OSError`` or ``ssl`` error): a
refused connection is retried, a failed certificate verification or a name that does not
exist is not (httpcore keeps the error under it as its first argument, ``from None``).
``HTTPStatusError`` (``raise_for_status()``) is decided by its response's
status, with its ``Retry-After`` as the server's hint. A pool timeout is a client-side limit:
queue.
"""

from __future__ import annotations

from resilience.catalogs import Catalog, Reader, Reading, by_class, http_statuses
from resilience.catalogs._read import (
    attr,
    cause_or_context,
    first_exception,
    response_hint,
    response_status,
)
from resilience.categories import Category

R, A, Q, P = Category.RETRYABLE, Category.AUTH, Category.QUEUE, Category.PERMANENT

_STATUS = "httpx.HTTPStatusError"


def _read(exc: BaseException) -> Reading:
    # Only HTTPStatusError has a `response` attribute; RequestError's `request` is a property
    # that raises when unset, and is never read.
    return (), response_status(attr(exc, "response"))


def _hint(exc: BaseException) -> float | None:
    return response_hint(attr(exc, "response"))


def _no_code(exc: BaseException) -> Reading:
    return (), None


def _httpcore_inner(exc: BaseException) -> BaseException | None:
    # httpcore raises `to_exc(exc) from None`: the original error is its first argument.
    return first_exception(attr(exc, "args")) or cause_or_context(exc)


# name: (category, reason, defers); httpx and httpcore share the transport names.
_TRANSPORT = {
    "TimeoutException": (R, "timed out", False),
    "ConnectTimeout": (
        R,
        "the connection timed out: the request never reached the server "
        "(HTTPTransport(retries=N) retries it)",
        False,
    ),
    "ReadTimeout": (R, "the server did not answer in time", False),
    "WriteTimeout": (R, "the request could not be sent in time", False),
    "PoolTimeout": (Q, "no connection free in the pool in time: a client-side limit", False),
    "NetworkError": (R, "the network failed; what it wraps decides when it says more", True),
    "ConnectError": (
        R,
        "could not connect (HTTPTransport(retries=N) retries it); what it wraps decides: a "
        "certificate or a name that does not exist is not retried",
        True,
    ),
    "ReadError": (R, "the connection broke while reading", True),
    "WriteError": (R, "the connection broke while writing", True),
    "ProtocolError": (P, "an HTTP protocol violation", True),
    "LocalProtocolError": (P, "the request broke the HTTP protocol: a client bug", False),
    "RemoteProtocolError": (
        R,
        "the server broke the protocol, mostly by closing the connection mid-response",
        False,
    ),
    "ProxyError": (R, "the proxy failed; what it wraps decides", True),
    "UnsupportedProtocol": (P, "the URL's scheme is not supported (http, https only)", False),
}

_HTTPX = {
    "HTTPError": (P, "an httpx error with no transient cause", True),
    "RequestError": (P, "the request failed", True),
    "TransportError": (R, "the transport failed; what it wraps decides when it says more", True),
    "CloseError": (R, "closing the connection failed", False),
    "DecodingError": (P, "the body could not be decoded", False),
    "TooManyRedirects": (P, "a redirect loop or too long a chain: fix the URL", False),
    "InvalidURL": (P, "the URL is not valid: fix it", False),
    "CookieConflict": (P, "two cookies of the same name match: make the lookup specific", False),
    "StreamError": (P, "a stream was misused: a programming error", False),
    "StreamConsumed": (P, "the body was already read: a programming error", False),
    "StreamClosed": (P, "the stream was closed: a programming error", False),
    "ResponseNotRead": (P, "the body was not read first: a programming error", False),
    "RequestNotRead": (P, "the request body was not read first: a programming error", False),
}

_HTTPCORE = {
    "ConnectionNotAvailable": (
        R,
        "no connection was available for the request (HTTP/2 stream limit, closing pool)",
        False,
    ),
}

CATALOG = Catalog(
    "httpx",
    "httpx and httpcore: transport errors by what they wrap, HTTPStatusError by status (with "
    "Retry-After), pool timeouts as queue",
    (
        *(
            by_class("httpx." + name, cat, reason, defers=defers)
            for name, (cat, reason, defers) in {**_HTTPX, **_TRANSPORT}.items()
        ),
        by_class(_STATUS, None, "raise_for_status(): decided by the response's status"),
        *http_statuses(_STATUS),
        *(
            by_class("httpcore." + name, cat, reason, defers=defers)
            for name, (cat, reason, defers) in {**_TRANSPORT, **_HTTPCORE}.items()
        ),
    ),
    readers=(
        Reader("httpx.HTTPError", _read, hint=_hint),
        *(
            Reader("httpcore." + root, _no_code, inner=_httpcore_inner)
            for root in ("NetworkError", "TimeoutException", "ProtocolError", "ProxyError")
        ),
    ),
)
