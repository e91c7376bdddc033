"""python-engineio: ``engineio.exceptions``.

engineio's ``ConnectionError`` is its own class (an ``EngineIOError``), not Python's, so the
built-in rows would never see it. A refused handshake arrives as that ``ConnectionError`` with
the HTTP status only in its message ("Unexpected status code 401 in server response") or, on
the WebSocket transport, on the HTTP client's exception it replaced; the classifier reads it
from either, so the status rows below decide a refusal. The package does not re-export these
classes: import them from ``engineio.exceptions``.
"""

from __future__ import annotations

import re

from resilience.catalogs import Catalog, Reader, Reading, by_class, by_status
from resilience.catalogs._read import as_str, attr, http_status
from resilience.categories import Category

R, A, Q, P = Category.RETRYABLE, Category.AUTH, Category.QUEUE, Category.PERMANENT

_X = "engineio.exceptions."
_CONN = _X + "ConnectionError"

_STATUS = re.compile(r"\bstatus code (\d{3})\b")
_CAUSE = BaseException.__dict__["__cause__"].__get__
_CONTEXT = BaseException.__dict__["__context__"].__get__


def _read(exc: BaseException) -> Reading:
    # engineio puts a refused handshake's status in its message (polling), or raises while
    # handling the HTTP client's own error, which carries it (WebSocket).
    args = attr(exc, "args")
    message = as_str(args[0]) if type(args) is tuple and args else None
    found = _STATUS.search(message[:500]) if message else None
    if found:
        return (), int(found.group(1))
    status = http_status(exc)
    cause = _CAUSE(exc) or _CONTEXT(exc)
    if status is None and cause is not None:
        status = http_status(cause)
    return (), status


CATALOG = Catalog(
    "engineio",
    "python-engineio: connection failures, closed sockets, empty queues, protocol errors",
    (
        by_class(
            _X + "EngineIOError",
            R,
            "raised bare only when the WebSocket closed under a send: connection loss",
        ),
        by_class(
            _X + "ConnectionError",
            R,
            "the connection failed or was refused, or the server answered unexpectedly",
        ),
        by_status(
            _X + "ConnectionError", 401, A, "the server refused the handshake: unauthenticated"
        ),
        by_status(_CONN, 403, A, "the server refused the handshake: forbidden"),
        by_status(_CONN, 408, R, "the handshake request timed out"),
        by_status(_CONN, 429, R, "too many handshakes: throttled"),
        by_status(_CONN, "4xx", P, "the server refused the handshake request"),
        by_status(
            _X + "ConnectionError", "5xx", R, "the server failed the handshake; it may recover"
        ),
        by_status(_CONN, 501, P, "not implemented: it never will be"),
        by_class(_X + "SocketIsClosedError", R, "the socket closed; reconnect and send again"),
        by_class(
            _X + "QueueEmpty",
            Q,
            "nothing arrived in the packet queue in time: queue management, not a blind retry",
        ),
        by_class(
            _X + "ContentTooLongError", P, "the message exceeds max_http_buffer_size: it will again"
        ),
        by_class(_X + "UnknownPacketError", P, "an unknown packet type: a protocol mismatch"),
    ),
    readers=(Reader(_CONN, _read),),
)
