"""The awsiot catalog, on real AWSIoTPythonSDK exceptions."""

from __future__ import annotations

import pytest
from AWSIoTPythonSDK.core.greengrass.discovery.providers import DiscoveryInfoProvider
from AWSIoTPythonSDK.exception import AWSIoTExceptions as iot
from AWSIoTPythonSDK.exception.operationError import operationError
from AWSIoTPythonSDK.exception.operationTimeoutException import operationTimeoutException
from paho.mqtt.enums import MQTTErrorCode

from resilience import Category, Classifier, classify, explain

R, A, Q, P = Category.RETRYABLE, Category.AUTH, Category.QUEUE, Category.PERMANENT


@pytest.fixture(name="classifier")
def _classifier() -> Classifier:
    return Classifier()


@pytest.mark.parametrize(
    ("exc", "category"),
    [
        # Timeouts.
        (operationTimeoutException(), R),
        (iot.acceptTimeoutException(), R),
        (iot.connectTimeoutException(), R),
        (iot.disconnectTimeoutException(), R),
        (iot.publishTimeoutException(), R),
        (iot.subscribeTimeoutException(), R),
        (iot.unsubscribeTimeoutException(), R),
        # Operation errors, raised with paho's return code.
        (operationError(), R),
        (iot.connectError(MQTTErrorCode.MQTT_ERR_NO_CONN), R),
        (iot.disconnectError(MQTTErrorCode.MQTT_ERR_NO_CONN), R),
        (iot.publishError(MQTTErrorCode.MQTT_ERR_NO_CONN), R),
        (iot.subscribeError(MQTTErrorCode.MQTT_ERR_NO_CONN), R),
        (iot.unsubscribeError(MQTTErrorCode.MQTT_ERR_NO_CONN), R),
        (iot.subackError(suback=[0x80]), P),
        # Offline queues.
        (iot.publishQueueFullException(), Q),
        (iot.publishQueueDisabledException(), Q),
        (iot.subscribeQueueFullException(), Q),
        (iot.subscribeQueueDisabledException(), Q),
        (iot.unsubscribeQueueFullException(), Q),
        (iot.unsubscribeQueueDisabledException(), Q),
        # WebSocket SigV4.
        (iot.wssNoKeyInEnvironmentError(), A),
        (iot.wssHandShakeError(), R),
        # Greengrass discovery.
        (iot.DiscoveryTimeoutException(), R),
        (iot.DiscoveryThrottlingException(), R),
        (iot.DiscoveryFailure("503 Service Unavailable"), R),
        (iot.DiscoveryUnauthorizedException(), A),
        (iot.DiscoveryDataNotFoundException(), P),
        (iot.DiscoveryInvalidRequestException(), P),
        # The SDK's own ClientError.
        (iot.ClientError("Invalid endpoint pattern for wss: example.com"), P),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_category_of_each_sdk_exception(
    classifier: Classifier, exc: BaseException, category: Category
) -> None:
    assert classifier.classify(exc) is category
    verdict = classifier.explain(exc)
    assert verdict.category is category
    assert verdict.catalog == "awsiot"
    assert verdict.rule == f"{type(exc).__module__}.{type(exc).__qualname__}"
    assert verdict.reason


@pytest.mark.parametrize(
    ("status_line", "category"),
    [
        ("400 Bad Request", P),
        ("401 Unauthorized", A),
        ("404 Not Found", P),
        ("429 Too Many Requests", R),
        ("500 Internal Server Error", R),
        ("503 Service Unavailable", R),
    ],
)
def test_discovery_responses_through_the_sdks_own_parsing(
    status_line: str, category: Category
) -> None:
    # The provider's real header parsing and status -> exception mapping, minus the socket.
    provider = DiscoveryInfoProvider()
    header = f"HTTP/1.1 {status_line}\r\ncontent-length: 4\r\n\r\n"
    status, _ = provider._handle_discovery_response_header(provider.LOW_LEVEL_RC_COMPLETE, header)
    with pytest.raises(operationError) as raised:
        provider._raise_if_not_200(status, "body")
    assert classify(raised.value) is category


def test_discovery_timeout_through_the_sdks_own_check() -> None:
    provider = DiscoveryInfoProvider()
    with pytest.raises(iot.DiscoveryTimeoutException) as raised:
        provider._handle_discovery_response_header(provider.LOW_LEVEL_RC_TIMEOUT, "")
    assert classify(raised.value) is R


def test_sdk_client_error_is_not_botocore_client_error() -> None:
    verdict = explain(iot.ClientError("Invalid endpoint pattern for wss: example.com"))
    assert verdict.rule == "AWSIoTPythonSDK.exception.AWSIoTExceptions.ClientError"
    assert verdict.category is P


def test_sdk_exceptions_keep_their_text_in_message_not_str() -> None:
    exc = iot.publishQueueFullException()
    assert str(exc) == ""
    assert exc.message == "Internal Publish Queue Full"
    assert classify(exc) is Q


def test_unlisted_subclass_falls_back_to_its_sdk_base(classifier: Classifier) -> None:
    class ShadowTimeout(iot.connectTimeoutException):
        pass

    class ShadowError(operationError):
        pass

    assert classifier.explain(ShadowTimeout()).rule.endswith(".connectTimeoutException")
    assert classifier.classify(ShadowTimeout()) is R
    assert classifier.explain(ShadowError()).rule.endswith("operationError.operationError")
