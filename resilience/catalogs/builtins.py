"""Python's own exceptions: timeouts, the ConnectionError family, OSError by errno, DNS, TLS,
asyncio, http.client and urllib.

``OSError`` is read by its ``errno`` (as its name, ``ECONNREFUSED``, and its number),
``socket.gaierror`` by its ``EAI_*`` name, ``urllib.error.HTTPError`` by its status, with the
``Retry-After`` of its headers as the server's hint. ``urllib.error.URLError`` (the wrapper
``urlopen`` raises for a failed connection) and an ``OSError`` without an errno defer to what
they wrap: a refused connection under ``URLError`` is retryable, a failed certificate
verification is not.
"""

from __future__ import annotations

import errno as _errno
import socket as _socket
from collections.abc import Hashable

from resilience.catalogs import Catalog, Code, Reader, Reading, by_class, by_code, by_status
from resilience.catalogs._read import as_int, attr, header, http_status, retry_after
from resilience.categories import Category

R, A, Q, P = Category.RETRYABLE, Category.AUTH, Category.QUEUE, Category.PERMANENT

_OS = "builtins.OSError"
_GAI = "socket.gaierror"
_HTTP = "urllib.error.HTTPError"
_URL = "urllib.error.URLError"
_CLIENT = "http.client."

_ERRNO_NAMES: dict[int, str] = dict(_errno.errorcode)
_EAI_NAMES: dict[int, str] = {
    getattr(_socket, name): name for name in dir(_socket) if name.startswith("EAI_")
}


def _numbered(names: dict[int, str]) -> Reader:
    """A reader of ``errno``, offered by name first and then by number."""

    def read(exc: BaseException) -> Reading:
        number = as_int(attr(exc, "errno"))
        if number is None:
            return (), None
        name = names.get(number)
        return ((name, number) if name else (number,)), None

    def key(exc: BaseException) -> Hashable:
        number = exc.errno  # type: ignore[attr-defined]
        return number, number.__class__

    def spell(raw: str) -> tuple[Code, ...]:
        text = raw.strip()
        try:
            number = int(text)
        except ValueError:
            return (text.upper(),)
        name = names.get(number)
        return (name, number) if name else (number, text)

    family = _GAI if names is _EAI_NAMES else _OS
    return Reader(family, read, key=key, reads=("errno",), spell=spell)


def _no_code(exc: BaseException) -> Reading:
    return (), None


def _url_reason(exc: BaseException) -> BaseException | None:
    reason = attr(exc, "reason")
    return reason if issubclass(type(reason), BaseException) else None


def _http_error(exc: BaseException) -> Reading:
    return (), http_status(exc)


def _http_error_hint(exc: BaseException) -> float | None:
    return retry_after(header(attr(exc, "headers"), "retry-after"))


# errno values that mean "the network or the peer is (for now) not there".
_TRANSIENT_ERRNOS = {
    "ECONNREFUSED": "nothing listens there yet: the server may be starting or restarting",
    "ECONNRESET": "the peer dropped the connection",
    "ECONNABORTED": "the connection was aborted in transit",
    "ETIMEDOUT": "the connection timed out",
    "EHOSTUNREACH": "no route to the host right now",
    "EHOSTDOWN": "the host is down",
    "ENETUNREACH": "the network is unreachable right now",
    "ENETDOWN": "the network is down",
    "ENETRESET": "the network dropped the connection",
    "EPIPE": "the peer closed the connection while we were writing",
    "ENOTCONN": "the socket is not connected (yet, or any more)",
    "EAGAIN": "the resource is temporarily unavailable",
    "EBUSY": "the resource is busy",
    "ENOBUFS": "the kernel ran out of buffer space for now",
    "EADDRNOTAVAIL": "no local address available right now (ephemeral ports exhausted)",
    "ESHUTDOWN": "the socket was shut down",
    "EPROTO": "a protocol error on the wire, usually a dropped connection",
}

_PERMANENT_ERRNOS = {
    "EACCES": "permission denied by the operating system: retrying won't change it",
    "EPERM": "operation not permitted by the operating system",
    "ENOENT": "no such file or directory",
    "EINVAL": "an invalid argument was passed to the operating system",
    "EADDRINUSE": "the local address is already in use",
    "EAFNOSUPPORT": "address family not supported",
    "EISCONN": "the socket is already connected",
    "EBADF": "bad file descriptor: a programming error",
    "ENOTSOCK": "not a socket: a programming error",
}

# http.client: a connection that broke is retryable; a misuse of the API or a response that
# breaks the protocol is not.
_HTTP_CLIENT = {
    "HTTPException": (P, "an HTTP protocol error with no transient cause"),
    "NotConnected": (R, "the connection is not open (any more): connect again"),
    "InvalidURL": (P, "the URL is not valid: fix it"),
    "UnknownProtocol": (P, "the server speaks an HTTP version http.client does not know"),
    "UnknownTransferEncoding": (P, "the server used a transfer encoding http.client lacks"),
    "UnimplementedFileMode": (P, "an unsupported file mode: a programming error"),
    "IncompleteRead": (R, "the response ended before its length: the connection broke"),
    "ImproperConnectionState": (P, "the connection was used out of order: a programming error"),
    "CannotSendRequest": (P, "a request was sent before the last response was read"),
    "CannotSendHeader": (P, "a header was sent after the headers ended"),
    "ResponseNotReady": (P, "the response was read before the request was sent"),
    "BadStatusLine": (R, "no valid status line: usually a connection closed mid-response"),
    "LineTooLong": (P, "a header or status line is over http.client's limit"),
    "RemoteDisconnected": (R, "the server closed the connection without answering"),
}

CATALOG = Catalog(
    "builtins",
    "Python's own exceptions: timeouts, connection loss, OSError by errno, DNS, TLS, asyncio, "
    "http.client and urllib",
    (
        by_class("builtins.TimeoutError", R, "the operation timed out; a later try may be faster"),
        by_class("builtins.ConnectionError", R, "the connection failed or was lost"),
        by_class("builtins.ConnectionRefusedError", R, "nothing listens there yet"),
        by_class("builtins.ConnectionResetError", R, "the peer dropped the connection"),
        by_class("builtins.ConnectionAbortedError", R, "the connection was aborted in transit"),
        by_class("builtins.BrokenPipeError", R, "the peer closed the connection mid-write"),
        by_class(
            "builtins.EOFError",
            R,
            "the stream ended: the peer closed the connection (websockets retries it too)",
        ),
        by_class(_OS, P, "an operating-system error with no transient errno", defers=True),
        *(by_code(_OS, name, R, reason) for name, reason in _TRANSIENT_ERRNOS.items()),
        *(by_code(_OS, name, P, reason) for name, reason in _PERMANENT_ERRNOS.items()),
        by_class(_GAI, R, "name resolution failed, which is what a lost network looks like"),
        by_code(_GAI, "EAI_AGAIN", R, "temporary failure in name resolution"),
        by_code(_GAI, "EAI_NONAME", P, "the name does not exist: fix the host name"),
        by_code(_GAI, "EAI_SERVICE", P, "the service is not known for this socket type"),
        by_class("socket.herror", R, "address lookup failed"),
        by_class("ssl.SSLError", P, "TLS failed: usually a configuration or protocol mismatch"),
        by_class(
            "ssl.SSLCertVerificationError",
            P,
            "the server's certificate failed verification: retrying won't make it valid",
        ),
        by_class("ssl.CertificateError", P, "the certificate does not match the host name"),
        by_class("ssl.SSLEOFError", R, "the TLS connection was cut off mid-stream"),
        by_class("ssl.SSLZeroReturnError", R, "the peer closed the TLS connection"),
        by_class("ssl.SSLSyscallError", R, "the socket under TLS failed"),
        by_class("ssl.SSLWantReadError", R, "non-blocking TLS needs more data; try again"),
        by_class("ssl.SSLWantWriteError", R, "non-blocking TLS must write first; try again"),
        # asyncio (its TimeoutError is the builtin one since 3.11).
        by_class("asyncio.exceptions.IncompleteReadError", R, "the stream ended mid-message"),
        by_class(
            "asyncio.exceptions.LimitOverrunError",
            P,
            "a line or separator is over the stream's limit: it will be again",
        ),
        by_class(
            "asyncio.exceptions.CancelledError",
            P,
            "the task was cancelled: never retried, the caller asked it to stop",
        ),
        by_class("asyncio.exceptions.InvalidStateError", P, "a future was misused: a bug"),
        by_class(
            "asyncio.exceptions.SendfileNotAvailableError",
            P,
            "sendfile is not available for this transport",
        ),
        by_class("asyncio.exceptions.BrokenBarrierError", P, "a barrier was broken or reset"),
        by_class("asyncio.queues.QueueFull", Q, "the asyncio queue is full"),
        by_class("asyncio.queues.QueueEmpty", Q, "the asyncio queue is empty"),
        # http.client
        *(by_class(_CLIENT + name, cat, reason) for name, (cat, reason) in _HTTP_CLIENT.items()),
        # urllib
        by_class(
            _URL,
            R,
            "urlopen could not reach the server; what it wraps decides when it says more",
            defers=True,
        ),
        by_class(
            "urllib.error.ContentTooShortError",
            R,
            "the download ended before its Content-Length: the connection broke",
        ),
        by_class(_HTTP, None, "decided by its HTTP status"),
        by_status(_HTTP, 408, R, "request timeout"),
        by_status(_HTTP, 429, R, "too many requests: throttled"),
        by_status(_HTTP, 401, A, "unauthenticated"),
        by_status(_HTTP, 403, A, "forbidden"),
        by_status(_HTTP, 407, A, "the proxy wants credentials"),
        by_status(_HTTP, 511, A, "the network wants authentication (a captive portal)"),
        by_status(_HTTP, "5xx", R, "the server failed; it may recover"),
        by_status(_HTTP, 501, P, "not implemented: it never will be"),
        by_status(_HTTP, 505, P, "the HTTP version is not supported: it won't be on a retry"),
        by_status(_HTTP, "4xx", P, "the request is wrong: fix it"),
    ),
    readers=(
        _numbered(_EAI_NAMES),
        _numbered(_ERRNO_NAMES),
        Reader(_HTTP, _http_error, hint=_http_error_hint),
        Reader(_URL, _no_code, inner=_url_reason),
    ),
)
