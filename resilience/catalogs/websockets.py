"""websockets: every class the package defines, ``ConnectionClosed`` by its close code.

Reasons follow websockets' own reconnection (``websockets.client.process_exception``, used by
``async for ws in connect(...)``): it retries ``OSError`` and timeouts, an ``InvalidMessage``
that stems from an ``EOFError``, and an ``InvalidStatus`` of 500, 502, 503 or 504; everything
else is fatal. Where we differ: a certificate that fails verification (an ``OSError`` to
websockets) is not retried; a handshake refused with 429 (throttled) or 408 is, and one
refused with 401, 403 or 407 is auth; the server's ``Retry-After`` is the hint. A connection
closed under a call is retried when its close code says the server went away or failed
(1001, 1006, 1011-1014) and not when it says the client broke the protocol or a policy.
"""

from __future__ import annotations

from resilience.catalogs import Catalog, Code, Reader, Reading, by_class, by_code, http_statuses
from resilience.catalogs._read import as_int, attr, response_hint, response_status
from resilience.categories import Category

R, A, Q, P = Category.RETRYABLE, Category.AUTH, Category.QUEUE, Category.PERMANENT

_X = "websockets.exceptions."
_CLOSED = _X + "ConnectionClosed"
_STATUS = _X + "InvalidStatus"
_PROXY_STATUS = _X + "InvalidProxyStatus"
_LEGACY_STATUS = "websockets.legacy.exceptions.InvalidStatusCode"


def _close_code(exc: BaseException) -> Reading:
    frame = attr(exc, "rcvd")
    if frame is None:
        frame = attr(exc, "sent")
    code = as_int(attr(frame, "code")) if frame is not None else None
    return ((code,) if code is not None else (1006,)), None  # no close frame: abnormal closure


def _handshake(exc: BaseException) -> Reading:
    status = response_status(attr(exc, "response"))
    if status is None:
        status = response_status(exc)  # the legacy InvalidStatusCode keeps it on itself
    return (), status


def _hint(exc: BaseException) -> float | None:
    hint = response_hint(attr(exc, "response"))
    return hint if hint is not None else response_hint(exc)


_CLOSE_CODES: dict[Code, tuple[Category, str]] = {
    1000: (R, "1000 normal closure under a call: connect again and resend"),
    1001: (R, "1001 going away: the server is restarting or shutting down"),
    1002: (P, "1002 protocol error"),
    1003: (P, "1003 unsupported data"),
    1006: (R, "1006 abnormal closure: the connection dropped without a close frame"),
    1007: (P, "1007 invalid payload data"),
    1008: (P, "1008 policy violation: the server refuses this client's messages"),
    1009: (P, "1009 message too big: it will be again"),
    1010: (P, "1010 a mandatory extension is missing"),
    1011: (R, "1011 internal error on the server"),
    1012: (R, "1012 service restart"),
    1013: (R, "1013 try again later"),
    1014: (R, "1014 bad gateway"),
    1015: (P, "1015 TLS handshake failure"),
    3000: (A, "3000 unauthorized (IANA registry)"),
    3003: (A, "3003 forbidden (IANA registry)"),
    3008: (R, "3008 timeout (IANA registry)"),
}

# name: (category, reason, defers)
_ROWS = {
    "WebSocketException": (P, "a websockets error with no transient cause", True),
    "ConnectionClosed": (R, "the connection closed under the call: reconnect", False),
    "ConnectionClosedError": (
        None,
        "the connection closed with an error: by its close code",
        False,
    ),
    "ConnectionClosedOK": (None, "the connection closed cleanly: by its close code", False),
    "InvalidHandshake": (P, "the opening handshake failed", True),
    "SecurityError": (P, "the handshake is over websockets' security limits", False),
    "InvalidMessage": (
        R,
        "the handshake message was malformed, mostly a connection closed during it "
        "(websockets retries it when it stems from an EOFError); what it wraps decides",
        True,
    ),
    "InvalidHeader": (P, "a handshake header is missing or malformed", False),
    "InvalidHeaderFormat": (P, "a handshake header can't be parsed", False),
    "InvalidHeaderValue": (P, "a handshake header has an unexpected value", False),
    "InvalidOrigin": (P, "the Origin header was refused", False),
    "InvalidUpgrade": (P, "the Upgrade or Connection header is wrong", False),
    "InvalidMethod": (P, "the handshake method is not GET", False),
    "InvalidProtocol": (P, "the handshake's HTTP version is not supported", False),
    "NegotiationError": (P, "extension or subprotocol negotiation failed", False),
    "DuplicateParameter": (P, "an extension parameter appears twice", False),
    "InvalidParameterName": (P, "an extension parameter name is not valid", False),
    "InvalidParameterValue": (P, "an extension parameter value is not valid", False),
    "InvalidURI": (P, "the URI is not a WebSocket URI: fix it", False),
    "InvalidProxy": (P, "the proxy URL is not valid", False),
    "ProxyError": (R, "connecting through the proxy failed; what it wraps decides", True),
    "InvalidProxyMessage": (
        R,
        "the proxy's answer was malformed, mostly a closed connection",
        True,
    ),
    "PayloadTooBig": (P, "the message is over max_size: it will be again", False),
    "ProtocolError": (P, "the other side broke the WebSocket protocol", False),
    "InvalidState": (P, "an operation in the wrong connection state: a programming error", False),
    "ConcurrencyError": (P, "two coroutines read or wrote at once: a programming error", False),
    "TooManyFragments": (P, "a fragmented message is over the limit", False),
    "HeaderLineTooLong": (P, "a handshake header line is over the limit", False),
    "RequestLineTooLong": (P, "the request line is over the limit", False),
    "StatusLineTooLong": (P, "the status line is over the limit", False),
    "TooManyHeaders": (P, "the handshake has too many headers", False),
}

CATALOG = Catalog(
    "websockets",
    "websockets: a closed connection by its close code, a refused handshake by its HTTP status "
    "(with Retry-After), protocol and limit errors",
    (
        *(
            by_class(_X + name, cat, reason, defers=defers)
            for name, (cat, reason, defers) in _ROWS.items()
        ),
        *(by_code(_CLOSED, code, cat, reason) for code, (cat, reason) in _CLOSE_CODES.items()),
        by_class(_STATUS, None, "the server refused the handshake: decided by the HTTP status"),
        *http_statuses(_STATUS),
        by_class(_PROXY_STATUS, None, "the proxy refused the connection: by the HTTP status"),
        *http_statuses(_PROXY_STATUS, "the proxy"),
        by_class(_LEGACY_STATUS, None, "the server refused the handshake (legacy): by status"),
        *http_statuses(_LEGACY_STATUS),
        by_class(
            "websockets.legacy.exceptions.AbortHandshake", P, "the server aborted the handshake"
        ),
        by_class(
            "websockets.legacy.exceptions.RedirectHandshake", P, "a redirect during the handshake"
        ),
        by_class(
            "websockets.datastructures.MultipleValuesError",
            P,
            "a header appears more than once where one was expected",
        ),
    ),
    readers=(
        Reader(_CLOSED, _close_code),
        Reader(_STATUS, _handshake, hint=_hint),
        Reader(_PROXY_STATUS, _handshake, hint=_hint),
        Reader(_LEGACY_STATUS, _handshake, hint=_hint),
    ),
)
