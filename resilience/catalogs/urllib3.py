"""urllib3: every class of ``urllib3.exceptions``.

Reasons follow urllib3's own ``Retry``: a connect error (``ConnectTimeoutError`` and its
``NewConnectionError``) means the request never reached the server and is always retried;
a read error (``ReadTimeoutError``, ``ProtocolError``) is retried for idempotent methods;
413, 429 and 503 with a ``Retry-After`` are retried. Where we differ: a ``NewConnectionError``
(or ``NameResolutionError``) over a name that does not exist (``EAI_NONAME``) is permanent, as
is a TLS failure over a certificate that does not verify; urllib3 retries the first and
never the second, we look at what they wrap. ``MaxRetryError`` (urllib3's retries ran out)
defers to its ``reason``. A full or empty connection pool is a client-side limit: queue.
"""

from __future__ import annotations

from resilience.catalogs import Catalog, Reader, Reading, by_class
from resilience.catalogs._read import attr, first_exception
from resilience.categories import Category

R, A, Q, P = Category.RETRYABLE, Category.AUTH, Category.QUEUE, Category.PERMANENT

_X = "urllib3.exceptions."


def _read(exc: BaseException) -> Reading:
    return (), None


def _inner(exc: BaseException) -> BaseException | None:
    # MaxRetryError.reason, NameResolutionError._reason (its gaierror), ProxyError.
    # original_error, else the first exception argument (ProtocolError("Connection
    # aborted.", err), SSLError(err)). Never NewConnectionError.pool: it warns.
    for name in ("reason", "_reason", "original_error"):
        value = attr(exc, name)
        if issubclass(type(value), BaseException):
            return value  # type: ignore[no-any-return]
    return first_exception(attr(exc, "args"))


# name: (category, reason, defers)
_ROWS = {
    "HTTPError": (P, "a urllib3 error with no transient cause", True),
    "PoolError": (P, "a connection pool error", True),
    "RequestError": (P, "a request failed", True),
    "EmptyPoolError": (
        Q,
        "no connection free in a blocking pool within its timeout: a client-side limit",
        False,
    ),
    "FullPoolError": (Q, "the blocking pool is full: a client-side limit", False),
    "ClosedPoolError": (P, "the pool was closed: a shutdown-order bug", False),
    "MaxRetryError": (R, "urllib3's own retries ran out; what they failed on decides", True),
    "HostChangedError": (P, "a redirect to another host with retries that forbid it", False),
    "SSLError": (
        P,
        "TLS failed, mostly certificate validation; what it wraps decides (an EOF in the "
        "handshake is a dropped connection)",
        True,
    ),
    "ProxyError": (R, "the proxy failed; urllib3 retries it as its original error", True),
    "DecodeError": (P, "the body could not be decoded (Content-Encoding)", False),
    "ProtocolError": (
        R,
        "the connection broke mid-request (urllib3's Retry: a read error)",
        True,
    ),
    "ResponseNotChunked": (P, "the response is not chunked as the call expects", False),
    "TimeoutStateError": (P, "a Timeout object misused: a programming error", False),
    "TimeoutError": (R, "the request timed out", False),
    "ReadTimeoutError": (R, "no answer in time (urllib3's Retry: a read error)", False),
    "ConnectTimeoutError": (
        R,
        "the connection timed out: the request never reached the server (urllib3's Retry: "
        "a connect error, always retried)",
        False,
    ),
    "NewConnectionError": (
        R,
        "could not connect (urllib3's Retry: a connect error); what it wraps decides: "
        "a refused connection is retried, a certificate or a name that does not exist not",
        True,
    ),
    "NameResolutionError": (
        R,
        "the name did not resolve; its socket.gaierror decides (EAI_NONAME: no such name)",
        True,
    ),
    "LocationValueError": (P, "the URL is not valid: fix it", False),
    "LocationParseError": (P, "the URL can't be parsed: fix it", False),
    "URLSchemeUnknown": (P, "the URL's scheme is not supported", False),
    "ProxySchemeUnknown": (P, "the proxy URL's scheme is not supported", False),
    "ProxySchemeUnsupported": (P, "HTTPS proxies are not supported here", False),
    "ResponseError": (
        R,
        "too many error responses: urllib3's status retries ran out; the server may recover",
        False,
    ),
    "BodyNotHttplibCompatible": (P, "the body is not an http.client response", False),
    "IncompleteRead": (R, "the response ended before its length: the connection broke", False),
    "InvalidChunkLength": (R, "the chunked body broke off: the connection broke", False),
    "InvalidHeader": (P, "a header is not valid", False),
    "HeaderParsingError": (P, "the response headers could not be parsed", False),
    "UnrewindableBodyError": (P, "the body can't be rewound, so it can't be sent again", False),
    "HTTPWarning": (P, "a warning (raised only when warnings are errors)", False),
    "SecurityWarning": (P, "a security warning (raised only when warnings are errors)", False),
    "InsecureRequestWarning": (P, "an unverified HTTPS request (under -W error)", False),
    "NotOpenSSLWarning": (P, "ssl is not OpenSSL (under -W error)", False),
    "SystemTimeWarning": (P, "the system clock looks wrong (under -W error)", False),
    "InsecurePlatformWarning": (P, "the platform's TLS is too old (under -W error)", False),
    "DependencyWarning": (P, "an optional dependency is missing (under -W error)", False),
}

CATALOG = Catalog(
    "urllib3",
    "urllib3: connect and read errors as its Retry sees them, by what they wrap; pool limits "
    "as queue",
    (
        *(
            by_class(_X + name, cat, reason, defers=defers)
            for name, (cat, reason, defers) in _ROWS.items()
        ),
        by_class(
            "urllib3.util.ssl_match_hostname.CertificateError",
            P,
            "the certificate does not match the host name",
        ),
    ),
    readers=(Reader(_X + "HTTPError", _read, inner=_inner),),
)
