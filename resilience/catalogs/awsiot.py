"""AWS IoT Device SDK for Python v1 (``AWSIoTPythonSDK``): MQTT operations and Greengrass discovery.

Every class lives in ``AWSIoTPythonSDK.exception.AWSIoTExceptions``, except the two bases, each in
a module of its own name. The SDK keeps an exception's text in ``.message`` (``str()`` is empty)
and folds any paho return code into that text, so these rows decide by class alone. The SDK's
``ClientError`` is its own class, unrelated to botocore's.
"""

from __future__ import annotations

from resilience.catalogs import Catalog, by_class
from resilience.categories import Category

R, A, Q, P = Category.RETRYABLE, Category.AUTH, Category.QUEUE, Category.PERMANENT

_X = "AWSIoTPythonSDK.exception.AWSIoTExceptions."
_OPERATION_ERROR = "AWSIoTPythonSDK.exception.operationError.operationError"
_OPERATION_TIMEOUT = "AWSIoTPythonSDK.exception.operationTimeoutException.operationTimeoutException"

CATALOG = Catalog(
    "awsiot",
    "AWS IoT Device SDK for Python v1: MQTT timeouts, operation errors, offline queues, "
    "WebSocket SigV4 and Greengrass discovery",
    (
        # The two bases: what an unlisted subclass falls back to.
        by_class(_OPERATION_TIMEOUT, R, "an MQTT operation timed out; a later try may be faster"),
        by_class(
            _OPERATION_ERROR,
            R,
            "an MQTT operation failed with a paho return code, usually while the link is down",
        ),
        # Timeouts.
        by_class(_X + "acceptTimeoutException", R, "a socket accept timed out"),
        by_class(_X + "connectTimeoutException", R, "no CONNACK before the connect timeout"),
        by_class(_X + "disconnectTimeoutException", R, "the disconnect was not confirmed in time"),
        by_class(_X + "publishTimeoutException", R, "no PUBACK before the operation timeout"),
        by_class(_X + "subscribeTimeoutException", R, "no SUBACK before the operation timeout"),
        by_class(_X + "unsubscribeTimeoutException", R, "no UNSUBACK before the operation timeout"),
        # Operation errors: raised when paho refuses the call, typically "not connected" while
        # the SDK reconnects; the code is only in the message text.
        by_class(_X + "connectError", R, "the MQTT connect call failed at the socket level"),
        by_class(_X + "disconnectError", R, "the MQTT disconnect call failed"),
        by_class(_X + "publishError", R, "paho refused the publish, usually: not connected"),
        by_class(_X + "subscribeError", R, "paho refused the subscribe, usually: not connected"),
        by_class(
            _X + "unsubscribeError", R, "paho refused the unsubscribe, usually: not connected"
        ),
        by_class(
            _X + "subackError",
            P,
            "the broker rejected the subscription (IoT policy or topic filter): it will again",
        ),
        # Offline request queues.
        by_class(_X + "publishQueueFullException", Q, "the offline publish queue is full"),
        by_class(_X + "publishQueueDisabledException", Q, "offline publish queueing is disabled"),
        by_class(_X + "subscribeQueueFullException", Q, "the offline subscribe queue is full"),
        by_class(
            _X + "subscribeQueueDisabledException", Q, "offline subscribe queueing is disabled"
        ),
        by_class(_X + "unsubscribeQueueFullException", Q, "the offline unsubscribe queue is full"),
        by_class(
            _X + "unsubscribeQueueDisabledException", Q, "offline unsubscribe queueing is disabled"
        ),
        # WebSocket (SigV4).
        by_class(
            _X + "wssNoKeyInEnvironmentError",
            A,
            "no AWS credentials found for SigV4 signing: retrying won't create them",
        ),
        by_class(
            _X + "wssHandShakeError",
            R,
            "the WebSocket upgrade was not accepted; the SDK's own reconnect loop retries it",
        ),
        # Greengrass discovery: back off (and later fall back to a direct connection).
        by_class(_X + "DiscoveryTimeoutException", R, "the discovery request timed out"),
        by_class(_X + "DiscoveryThrottlingException", R, "discovery throttled (HTTP 429)"),
        by_class(
            _X + "DiscoveryFailure", R, "discovery failed with an unexpected status, e.g. a 5xx"
        ),
        by_class(
            _X + "DiscoveryUnauthorizedException",
            A,
            "discovery refused the certificate (HTTP 401): check the certificate and policy",
        ),
        by_class(
            _X + "DiscoveryDataNotFoundException",
            P,
            "no discovery data for this thing (HTTP 404): it is in no Greengrass group",
        ),
        by_class(
            _X + "DiscoveryInvalidRequestException", P, "the discovery request is invalid (400)"
        ),
        # Misconfiguration.
        by_class(
            _X + "ClientError", P, "SDK misconfiguration, e.g. an invalid endpoint for WebSocket"
        ),
    ),
)
