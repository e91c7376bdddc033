"""python-engineio clients that connect under a policy, with refused handshakes told apart.

engineio raises one class, ``engineio.exceptions.ConnectionError``, for a server that is down
and for a server that answered the handshake with an HTTP error, e.g. 401 because its
``connect`` handler returned ``False``. The built-in ``engineio`` catalog can only call that
class retryable. :func:`connect` and :func:`aconnect` re-raise a refused handshake as
:class:`HandshakeRejected`, a subclass that carries the HTTP status, and :func:`classifier`
adds rules for it: 401 and 403 are ``auth``, other 4xx ``permanent`` (408 and 429 stay
retryable), 5xx ``retryable``. A server that is down is still retried::

    import engineio
    from resilience.integrations import engineio as eio

    client = engineio.Client()
    eio.connect(client, "http://127.0.0.1:5000")            # DEFAULT_POLICY
    client.send("hello")

The status comes from the polling transport's message ("Unexpected status code 401 in server
response") or, for the WebSocket transport, from the HTTP client's own error that engineio
replaced (aiohttp's ``WSServerHandshakeError.status``, websocket-client's
``WebSocketBadStatusException.status_code``). (Extra ``engineio``.)
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

import engineio.exceptions

from resilience.categories import Category
from resilience.classify import Classifier, RuleSpec, qualified_name
from resilience.elements.backoff import Backoff
from resilience.elements.retry import Retry
from resilience.engine.policy import Policy

__all__ = [
    "DEFAULT_POLICY",
    "HandshakeRejected",
    "RULES",
    "aconnect",
    "classifier",
    "connect",
    "handshake_status",
]


class HandshakeRejected(engineio.exceptions.ConnectionError):  # type: ignore[misc]  # untyped
    """The server answered the Engine.IO handshake with an HTTP error status.

    Still an ``engineio.exceptions.ConnectionError``, so existing ``except`` clauses catch it.

    Attributes:
        status_code: The HTTP status, e.g. 401 when the server's ``connect`` handler refused.
        body: The decoded body of the answer, when the transport gave one.
    """

    def __init__(self, message: str, status_code: int, body: Any = None) -> None:
        super().__init__(message, body)
        self.status_code = status_code
        self.body = body

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0], self.status_code, self.body))


#: Classifier rules for :class:`HandshakeRejected`, by status (the YAML ``classify:`` form).
RULES: Mapping[str, RuleSpec] = {
    qualified_name(HandshakeRejected): {
        "statuses": {
            401: Category.AUTH,
            403: Category.AUTH,
            408: Category.RETRYABLE,
            429: Category.RETRYABLE,
            "4xx": Category.PERMANENT,
            "5xx": Category.RETRYABLE,
        }
    }
}

_classifier: Classifier | None = None
_classifier_lock = threading.Lock()


def classifier() -> Classifier:
    """Every built-in catalog plus :data:`RULES`; give it to your own policies.

    ``Policy("chat", retry=..., classifier=resilience.integrations.engineio.classifier())``
    """
    global _classifier  # noqa: PLW0603 - built once, on first use, never replaced
    with _classifier_lock:
        if _classifier is None:
            _classifier = Classifier(rules=RULES)
        return _classifier


#: The policy of :func:`connect` and :func:`aconnect` when none is given: six attempts within
#: a minute, waits of up to 0.5, 1, 2, 4 and 8 s (full jitter), with :func:`classifier`.
DEFAULT_POLICY = Policy(
    "engineio-connect",
    retry=Retry(attempts=6, deadline=60.0, backoff=Backoff(initial=0.5, maximum=10.0)),
    classifier=classifier(),
)

_UNEXPECTED_STATUS = re.compile(r"Unexpected status code (\d{3})\b")


def _as_status(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 400 <= value <= 599:
        return value
    return None


def handshake_status(exc: BaseException) -> int | None:
    """The HTTP error status with which the server refused an engineio handshake, if any."""
    if not isinstance(exc, engineio.exceptions.ConnectionError):
        return None
    if isinstance(exc, HandshakeRejected):
        return exc.status_code
    message = str(exc.args[0]) if exc.args else ""
    found = _UNEXPECTED_STATUS.search(message)
    if found:
        return int(found.group(1))
    # WebSocket transport: engineio raised "Connection error" while handling the HTTP
    # client's own exception, which knows the status.
    cause = exc.__cause__ or exc.__context__
    for attr in ("status", "status_code"):
        status = _as_status(getattr(cause, attr, None))
        if status is not None:
            return status
    return None


def _rejected(exc: BaseException) -> HandshakeRejected | None:
    status = handshake_status(exc)
    if status is None or isinstance(exc, HandshakeRejected):
        return None
    body = exc.args[1] if len(exc.args) > 1 else None
    message = str(exc.args[0]) if exc.args else "Connection error"
    if str(status) not in message:
        message = f"{message} (HTTP {status})"
    return HandshakeRejected(message, status, body)


def _connect_once(client: Any, url: str, kwargs: dict[str, Any]) -> Any:
    try:
        client.connect(url, **kwargs)
    except engineio.exceptions.ConnectionError as exc:
        rejected = _rejected(exc)
        if rejected is not None:
            raise rejected from exc
        raise
    return client


async def _aconnect_once(client: Any, url: str, kwargs: dict[str, Any]) -> Any:
    try:
        await client.connect(url, **kwargs)
    except engineio.exceptions.ConnectionError as exc:
        rejected = _rejected(exc)
        if rejected is not None:
            raise rejected from exc
        raise
    return client


def connect(client: Any, url: str, *, policy: Policy | None = None, **connect_kwargs: Any) -> Any:
    """Connect an ``engineio.Client`` under a policy.

    Args:
        client: An ``engineio.Client``, disconnected; it is reused for every attempt.
        url: The server's URL.
        policy: :data:`DEFAULT_POLICY` when omitted. Give your own policy
            ``classifier=classifier()`` so that refused handshakes are not retried.
        **connect_kwargs: Passed to ``client.connect`` (``headers``, ``transports``,
            ``engineio_path``).

    Returns:
        ``client``, connected.

    Raises:
        HandshakeRejected: the server refused the handshake (with the policy's verdict:
            at once for 401/403).
        engineio.exceptions.ConnectionError: the last failure when the policy gives up.
    """
    return (policy or DEFAULT_POLICY).call(_connect_once, client, url, connect_kwargs)


async def aconnect(
    client: Any, url: str, *, policy: Policy | None = None, **connect_kwargs: Any
) -> Any:
    """Connect an ``engineio.AsyncClient`` under a policy; as :func:`connect`, awaited."""
    return await (policy or DEFAULT_POLICY).acall(_aconnect_once, client, url, connect_kwargs)
