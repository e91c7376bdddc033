"""python-engineio: ``engineio.exceptions``.

engineio's ``ConnectionError`` is its own class (an ``EngineIOError``), not Python's, so the
built-in rows would never see it. The package does not re-export these classes: import them
from ``engineio.exceptions``.
"""

from __future__ import annotations

from resilience.catalogs import Catalog, by_class
from resilience.categories import Category

R, A, Q, P = Category.RETRYABLE, Category.AUTH, Category.QUEUE, Category.PERMANENT

_X = "engineio.exceptions."

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
)
