"""requests: every class of ``requests.exceptions`` (and ``requests.cookies``).

requests has no retry logic of its own: ``HTTPAdapter(max_retries=...)`` hands a urllib3
``Retry`` to urllib3. Its errors wrap urllib3's (the ``MaxRetryError`` is ``args[0]`` and the
context), so ``ConnectionError``, ``ProxyError``, ``SSLError`` and ``ChunkedEncodingError``
defer to what they wrap: a refused connection is retried, a name that does not exist
(``EAI_NONAME``) or a failed certificate verification is not, although both reach the caller
as ``requests.ConnectionError``. Note that requests' errors subclass ``OSError``
(``IOError``) but not Python's ``ConnectionError``. ``HTTPError`` (``raise_for_status()``) is
decided by its response's status, and its ``Retry-After`` is the server's hint.
"""

from __future__ import annotations

from resilience.catalogs import Catalog, Reader, Reading, by_class, http_statuses
from resilience.catalogs._read import attr, first_exception, response_hint, response_status
from resilience.categories import Category

R, A, Q, P = Category.RETRYABLE, Category.AUTH, Category.QUEUE, Category.PERMANENT

_X = "requests.exceptions."
_HTTP = _X + "HTTPError"


def _read(exc: BaseException) -> Reading:
    return (), response_status(attr(exc, "response"))


def _hint(exc: BaseException) -> float | None:
    return response_hint(attr(exc, "response"))


def _inner(exc: BaseException) -> BaseException | None:
    return first_exception(attr(exc, "args"))


_ROWS = {
    "RequestException": (P, "a requests error with no transient cause", True),
    "ConnectionError": (
        R,
        "could not connect, or the connection dropped; what it wraps decides when it says "
        "more (a name that does not exist, a certificate)",
        True,
    ),
    "ProxyError": (R, "the proxy failed; what it wraps decides (a 407 is auth)", True),
    "SSLError": (
        P,
        "TLS failed, mostly certificate validation; what it wraps decides (an EOF in the "
        "handshake is a dropped connection)",
        True,
    ),
    "Timeout": (R, "the request timed out", False),
    "ConnectTimeout": (
        R,
        "the connection timed out: the request never reached the server (urllib3's Retry "
        "counts it a connect error, always safe to retry)",
        False,
    ),
    "ReadTimeout": (
        R,
        "the server did not answer in time (urllib3's Retry counts it a read error)",
        False,
    ),
    "ChunkedEncodingError": (R, "the body broke off mid-stream: a dropped connection", True),
    "ContentDecodingError": (P, "the body could not be decoded: it won't be next time", False),
    "RetryError": (
        R,
        "urllib3's own Retry ran out on error statuses (status_forcelist): the server may recover",
        False,
    ),
    "TooManyRedirects": (P, "a redirect loop or too long a chain: fix the URL", False),
    "URLRequired": (P, "no URL given: a programming error", False),
    "MissingSchema": (P, "the URL has no scheme: fix it", False),
    "InvalidSchema": (P, "no adapter for the URL's scheme: fix it", False),
    "InvalidURL": (P, "the URL is not valid: fix it", False),
    "InvalidProxyURL": (P, "the proxy URL is not valid: fix it", False),
    "InvalidHeader": (P, "a header value is not valid: fix the request", False),
    "InvalidJSONError": (P, "the JSON body could not be encoded or decoded", False),
    "JSONDecodeError": (P, "the response is not the JSON expected", False),
    "StreamConsumedError": (P, "the body was already read: a programming error", False),
    "UnrewindableBodyError": (P, "the body can't be rewound, so it can't be sent again", False),
    "RequestsWarning": (P, "a warning (raised only when warnings are errors)", False),
    "FileModeWarning": (P, "a warning: a file opened in text mode (raised under -W error)", False),
    "RequestsDependencyWarning": (P, "a warning: unsupported dependency versions", False),
}

CATALOG = Catalog(
    "requests",
    "requests: connection and TLS errors by what they wrap, HTTPError by status (with "
    "Retry-After), timeouts, invalid requests",
    (
        *(
            by_class(_X + name, cat, reason, defers=defers)
            for name, (cat, reason, defers) in _ROWS.items()
        ),
        by_class(_HTTP, None, "raise_for_status(): decided by the response's status"),
        *http_statuses(_HTTP),
        by_class(
            "requests.cookies.CookieConflictError",
            P,
            "two cookies of the same name match: make the lookup specific",
        ),
    ),
    readers=(Reader(_X + "RequestException", _read, hint=_hint, inner=_inner),),
)
