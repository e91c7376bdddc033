"""Python's own exceptions: timeouts, the ConnectionError family, OSError by errno, DNS, TLS."""

from __future__ import annotations

from resilience.catalogs import Catalog, by_class, by_code, by_status
from resilience.categories import Category

R, A, Q, P = Category.RETRYABLE, Category.AUTH, Category.QUEUE, Category.PERMANENT

_OS = "builtins.OSError"
_GAI = "socket.gaierror"

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

CATALOG = Catalog(
    "builtins",
    "Python's own exceptions: timeouts, connection loss, OSError by errno, DNS and TLS",
    (
        by_class("builtins.TimeoutError", R, "the operation timed out; a later try may be faster"),
        by_class("builtins.ConnectionError", R, "the connection failed or was lost"),
        by_class("builtins.ConnectionRefusedError", R, "nothing listens there yet"),
        by_class("builtins.ConnectionResetError", R, "the peer dropped the connection"),
        by_class("builtins.ConnectionAbortedError", R, "the connection was aborted in transit"),
        by_class("builtins.BrokenPipeError", R, "the peer closed the connection mid-write"),
        by_class(_OS, P, "an operating-system error with no transient errno"),
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
        by_class("asyncio.exceptions.IncompleteReadError", R, "the stream ended mid-message"),
        by_class("http.client.IncompleteRead", R, "the response ended before its length"),
        by_class("http.client.RemoteDisconnected", R, "the server closed without answering"),
        by_class("urllib.error.URLError", R, "could not reach the server"),
        by_class("urllib.error.HTTPError", None, "decided by its HTTP status"),
        by_status("urllib.error.HTTPError", 408, R, "request timeout"),
        by_status("urllib.error.HTTPError", 429, R, "too many requests: throttled"),
        by_status("urllib.error.HTTPError", 401, A, "unauthenticated"),
        by_status("urllib.error.HTTPError", 403, A, "forbidden"),
        by_status("urllib.error.HTTPError", "5xx", R, "the server failed; it may recover"),
        by_status("urllib.error.HTTPError", 501, P, "not implemented: it never will be"),
        by_status("urllib.error.HTTPError", "4xx", P, "the request is wrong: fix it"),
    ),
)
