"""Greengrass discovery against a local HTTPS endpoint, cores and AWS IoT played by Mosquitto.

One Mosquitto with two TLS listeners that require a client certificate: the "core" listener
shows a certificate of the Greengrass group's CA (which the discovery document carries), the
"direct" listener one of the cloud CA (Amazon's root CA in real life).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from resilience import Backoff, Category, Policy, Retry, classify

from .servers import (
    Answer,
    DiscoveryEndpoint,
    EventHooks,
    Listener,
    Mosquitto,
    Pki,
    discovery_document,
    free_port,
)

pytest.importorskip("AWSIoTPythonSDK")
greengrass = pytest.importorskip("resilience.integrations.greengrass")
from AWSIoTPythonSDK.exception import AWSIoTExceptions as sdk  # noqa: E402

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("no_wait"),
    # The SDK's MQTT client builds its TLS context with PROTOCOL_SSLv23; nothing to fix here.
    pytest.mark.filterwarnings("ignore:ssl.PROTOCOL_TLS is deprecated:DeprecationWarning"),
]

THING = "thing-1"
CORE_ARN = "arn:aws:iot:eu-west-1:123456789012:thing/core-1"
ATTEMPTS = 4
TIMEOUT = 0.1  # seconds a discovery attempt may take: the "too slow" case waits this long


class World:
    """The discovery endpoint, the broker and its two listeners, and the device's identity."""

    def __init__(self, pki: Pki, discovery: DiscoveryEndpoint, broker: Mosquitto) -> None:
        self.pki = pki
        self.discovery = discovery
        self.broker = broker
        self.core_port, self.direct_port = (listener.port for listener in broker.listeners)
        self.closed_port = free_port()  # nothing listens there: a core that is down
        self.connections: list[Any] = []

    def document(self, *ports: int) -> Answer:
        return Answer(200, discovery_document(self.pki.group_ca_pem, *ports))

    def connect(self, **overrides: Any) -> Any:
        arguments: dict[str, Any] = {
            "discovery_endpoint": greengrass.Endpoint("127.0.0.1", self.discovery.port),
            "direct_endpoint": greengrass.Endpoint("127.0.0.1", self.direct_port),
            "credentials": greengrass.DeviceCredentials(
                root_ca=self.pki.cloud_ca,
                certificate=self.pki.device_cert,
                private_key=self.pki.device_key,
            ),
            "discovery_timeout": TIMEOUT,
            "connect_timeout": 5.0,
            "discovery_policy": Policy(
                "greengrass-discovery", retry=Retry(attempts=ATTEMPTS, backoff=Backoff())
            ),
            "direct_policy": Policy("iot-direct", retry=Retry(attempts=3, backoff=Backoff())),
            "client_factory": self.client,
        }
        connection = greengrass.connect(THING, **{**arguments, **overrides})
        self.connections.append(connection)
        return connection

    def client(self, client_id: str) -> Any:
        from AWSIoTPythonSDK.MQTTLib import AWSIoTMQTTClient

        client = AWSIoTMQTTClient(client_id)
        client.disableMetricsCollection()  # else the user name carries the SDK version
        return client


@pytest.fixture(name="world")
def _world(pki: Pki, make_broker: Callable[..., Mosquitto]) -> Iterator[World]:
    def tls(cert: Any, key: Any) -> tuple[str, ...]:
        return (
            f"certfile {cert}",
            f"keyfile {key}",
            f"cafile {pki.cloud_ca}",  # verifies the device's certificate
            "require_certificate true",
            "use_identity_as_username true",  # authenticated by certificate alone
        )

    broker = make_broker(
        Listener(free_port(), tls(pki.core_cert, pki.core_key)),
        Listener(free_port(), tls(pki.server_cert, pki.server_key)),
    )
    broker.start()
    discovery = DiscoveryEndpoint(pki)
    world = World(pki, discovery, broker)
    try:
        yield world
    finally:
        for connection in world.connections:
            connection.client.disconnect()
        discovery.close()
        assert discovery.server.errors == []


def test_discovered_core_is_used_in_document_order(world: World, hooks: EventHooks) -> None:
    world.discovery.answer(world.document(world.closed_port, world.core_port))

    connection = world.connect()

    assert world.discovery.attempts(THING) == 1
    assert connection.via == "greengrass"
    assert connection.endpoint == greengrass.Endpoint("127.0.0.1", world.core_port)
    assert (connection.core_arn, connection.group_id) == (CORE_ARN, "group-1")
    (refused,) = connection.failures  # the first connectivity entry: nothing listens there
    assert isinstance(refused, ConnectionRefusedError)
    assert f"127.0.0.1:{world.closed_port} failed" in refused.__notes__[-1]
    assert connection.client.publish("kitchen/temperature", "21.5", 1)
    assert world.broker.wait_for_ports(THING, [world.core_port]) == [world.core_port]
    assert hooks.named("fallback.used") == []


@pytest.mark.parametrize(
    ("answer", "attempts", "error", "category"),
    [
        pytest.param(Answer(401), 1, sdk.DiscoveryUnauthorizedException, Category.AUTH, id="401"),
        pytest.param(
            Answer(404, '{"errorMessage": "no data"}'),
            1,
            sdk.DiscoveryDataNotFoundException,
            Category.PERMANENT,
            id="404",
        ),
        pytest.param(
            Answer(429), ATTEMPTS, sdk.DiscoveryThrottlingException, Category.RETRYABLE, id="429"
        ),
        pytest.param(
            Answer(500, '{"message": "oops"}'),
            ATTEMPTS,
            sdk.DiscoveryFailure,
            Category.RETRYABLE,
            id="500",
        ),
        pytest.param(
            Answer(behaviour="slow"),
            ATTEMPTS,
            sdk.DiscoveryTimeoutException,
            Category.RETRYABLE,
            id="too-slow",
        ),
        pytest.param(
            Answer(200, '{"GGGroups": []}', behaviour="drop"),
            ATTEMPTS,
            sdk.DiscoveryFailure,
            Category.RETRYABLE,
            id="dropped-mid-response",
        ),
    ],
)
def test_failed_discovery_falls_back_to_the_direct_endpoint(
    world: World,
    hooks: EventHooks,
    answer: Answer,
    attempts: int,
    error: type[Exception],
    category: Category,
) -> None:
    world.discovery.answer(answer)

    connection = world.connect()

    assert world.discovery.attempts(THING) == attempts
    assert connection.via == "direct"
    assert connection.endpoint == greengrass.Endpoint("127.0.0.1", world.direct_port)
    assert connection.core_arn is None
    (failure,) = connection.failures
    assert type(failure) is error
    assert classify(failure) is category
    plural = "attempt" if attempts == 1 else "attempts"
    assert f"gave up after {attempts} {plural}" in failure.__notes__[-1]
    (used,) = hooks.named("fallback.used")
    assert used["policy"] == "greengrass-discovery"
    assert used["category"] == category.value
    assert len(hooks.named("retry.scheduled")) == attempts - 1
    assert world.broker.wait_for_ports(THING, [world.direct_port]) == [world.direct_port]


def test_throttled_discovery_is_retried_until_it_answers(world: World) -> None:
    world.discovery.answer(
        Answer(429), Answer(500), Answer(behaviour="slow"), world.document(world.core_port)
    )

    connection = world.connect()

    assert world.discovery.attempts(THING) == 4
    assert connection.via == "greengrass"
    assert connection.endpoint.port == world.core_port
    assert connection.failures == ()


def test_every_core_down_falls_back_to_the_direct_endpoint(world: World, hooks: EventHooks) -> None:
    other = free_port()
    world.discovery.answer(world.document(world.closed_port, other))

    connection = world.connect()

    assert world.discovery.attempts(THING) == 1
    assert connection.via == "direct"
    assert connection.endpoint.port == world.direct_port
    assert [type(failure) for failure in connection.failures] == [ConnectionRefusedError] * 2
    (used,) = hooks.named("fallback.used")
    assert (used["category"], used["error"]) == ("retryable", "ConnectionRefusedError")
    assert world.broker.wait_for_ports(THING, [world.direct_port]) == [world.direct_port]


def test_direct_endpoint_down_too_raises_its_failure_with_the_story(
    world: World, hooks: EventHooks
) -> None:
    world.discovery.answer(Answer(401))
    down = free_port()

    with pytest.raises(ConnectionRefusedError) as caught:
        world.connect(direct_endpoint=greengrass.Endpoint("127.0.0.1", down))

    assert world.discovery.attempts(THING) == 1
    notes = "\n".join(caught.value.__notes__)
    assert "policy 'iot-direct' gave up after 3 attempts" in notes
    assert f"before the direct endpoint 127.0.0.1:{down}: DiscoveryUnauthorizedException" in notes
    assert [entry["policy"] for entry in hooks.named("retry.scheduled")] == ["iot-direct"] * 2
    assert world.broker.wait_for_ports(THING, []) == []


def test_discover_alone_returns_the_sdk_document(world: World) -> None:
    world.discovery.answer(Answer(429), world.document(world.core_port, world.closed_port))

    info = greengrass.discover(
        THING,
        endpoint=greengrass.Endpoint("127.0.0.1", world.discovery.port),
        credentials=greengrass.DeviceCredentials(
            root_ca=world.pki.cloud_ca,
            certificate=world.pki.device_cert,
            private_key=world.pki.device_key,
        ),
        timeout=TIMEOUT,
    )

    assert world.discovery.attempts(THING) == 2  # the default policy retried the 429
    endpoints = greengrass.core_endpoints(info)
    assert [e.endpoint.port for e in endpoints] == [world.core_port, world.closed_port]
    assert {e.group_id for e in endpoints} == {"group-1"}
    assert endpoints[0].group_ca.startswith("-----BEGIN CERTIFICATE-----")
