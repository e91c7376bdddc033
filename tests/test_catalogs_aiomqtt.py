"""The aiomqtt catalog, on real aiomqtt and paho-mqtt exceptions and codes."""

from __future__ import annotations

import asyncio
import socket

import aiomqtt
import paho.mqtt.client as paho_client
import pytest
from aiomqtt.exceptions import MqttCodeError, MqttConnectError, MqttError, MqttReentrantError
from paho.mqtt import subscribeoptions
from paho.mqtt.enums import CallbackAPIVersion, ConnackCode, MQTTErrorCode
from paho.mqtt.exception import MalformedPacket, MQTTException
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from resilience import Category, Classifier, classify, explain
from resilience.catalogs import load

R, A, Q, P = Category.RETRYABLE, Category.AUTH, Category.QUEUE, Category.PERMANENT
CODE = "aiomqtt.exceptions.MqttCodeError"


@pytest.fixture(name="classifier")
def _classifier() -> Classifier:
    return Classifier()


def reason_code(value: int) -> ReasonCode:
    """A real paho ReasonCode of ``value``, for the first packet type that allows it."""
    for packet_type in range(PacketTypes.CONNECT, PacketTypes.AUTH + 1):
        try:
            return ReasonCode(packet_type, identifier=value)
        except (KeyError, ValueError):
            continue
    msg = f"paho knows no reason code {value}"
    raise LookupError(msg)


def failure_reason_codes() -> list[int]:
    return sorted(value for value in ReasonCode.names if value >= 0x80)


# --- classes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "category", "rule"),
    [
        (MqttError("Disconnected during message iteration"), R, "aiomqtt.exceptions.MqttError"),
        (MqttError("Operation timed out"), R, "aiomqtt.exceptions.MqttError"),
        (MqttReentrantError("not reentrant"), P, "aiomqtt.exceptions.MqttReentrantError"),
        (MqttCodeError(None, "no code"), R, "aiomqtt.exceptions.MqttError"),
        (
            paho_client.WebsocketConnectionError("WebSocket handshake error"),
            R,
            "paho.mqtt.client.WebsocketConnectionError",
        ),
        (MQTTException("Not authorized"), P, "paho.mqtt.exception.MQTTException"),
        (MalformedPacket("wrong size of packet"), P, "paho.mqtt.exception.MalformedPacket"),
        (
            subscribeoptions.MQTTException("bad option"),
            P,
            "paho.mqtt.subscribeoptions.MQTTException",
        ),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_category_of_each_class(
    classifier: Classifier, exc: BaseException, category: Category, rule: str
) -> None:
    verdict = classifier.explain(exc)
    assert (verdict.category, verdict.rule, verdict.catalog) == (category, rule, "aiomqtt")
    assert classifier.classify(exc) is category


def test_paho_websocket_error_is_also_a_builtin_connection_error() -> None:
    exc = paho_client.WebsocketConnectionError("WebSocket handshake error")
    assert isinstance(exc, ConnectionError)
    assert explain(exc).catalog == "aiomqtt"  # its own row beats the builtin one


# --- MQTT 3.1.1 CONNACK return codes, plain ints ---------------------------------------------


@pytest.mark.parametrize(
    ("rc", "category"),
    [(1, P), (2, P), (3, R), (4, A), (5, A)],
)
def test_plain_int_connack_codes(classifier: Classifier, rc: int, category: Category) -> None:
    for exc in (MqttCodeError(rc, "refused"), MqttConnectError(rc)):
        verdict = classifier.explain(exc)
        assert verdict.category is category
        assert verdict.rule == f"{CODE} code={rc}"
        assert verdict.catalog == "aiomqtt"


# --- MQTT 5 reason codes, paho ReasonCode objects ---------------------------------------------


def test_reason_code_135_is_auth() -> None:
    rc = ReasonCode(PacketTypes.CONNACK, identifier=135)
    exc = MqttConnectError(rc)
    verdict = explain(exc)
    assert verdict.category is A
    assert verdict.rule == f"{CODE} code=135"
    assert verdict.catalog == "aiomqtt"
    assert "Not authorized" in verdict.reason


@pytest.mark.parametrize(
    ("value", "category"),
    [
        (128, R),  # what paho reports for a lost connection
        (129, P),
        (130, P),
        (131, P),
        (132, P),
        (133, P),
        (134, A),
        (135, A),
        (136, R),
        (137, R),
        (138, A),
        (139, R),
        (140, A),
        (141, R),
        (142, P),
        (143, P),
        (144, P),
        (145, P),
        (146, P),
        (147, Q),
        (148, P),
        (149, P),
        (150, R),
        (151, R),
        (152, P),
        (153, P),
        (154, P),
        (155, P),
        (156, R),
        (157, P),
        (158, P),
        (159, R),
        (160, R),
        (161, P),
        (162, P),
    ],
)
def test_mqtt5_reason_codes(classifier: Classifier, value: int, category: Category) -> None:
    rc = reason_code(value)
    for exc in (MqttCodeError(rc, "failed"), MqttConnectError(rc)):
        verdict = classifier.explain(exc)
        assert verdict.category is category, (value, str(rc))
        assert verdict.rule == f"{CODE} code={value}"


def test_every_paho_failure_reason_code_has_a_row() -> None:
    coded = {e.code for e in load("aiomqtt") if e.target == CODE and isinstance(e.code, int)}
    missing = [f"{v} {reason_code(v)}" for v in failure_reason_codes() if v not in coded]
    assert not missing, f"paho reason codes without a row: {missing}"


def test_paho_translates_a_311_refusal_to_its_v5_code() -> None:
    # paho 2 hands aiomqtt a 3.1.1 CONNACK "not authorised" (5) as ReasonCode 135, and
    # "server unavailable" (3) as 136; both must keep their meaning.
    not_authorised = paho_client.convert_connack_rc_to_reason_code(
        ConnackCode.CONNACK_REFUSED_NOT_AUTHORIZED
    )
    unavailable = paho_client.convert_connack_rc_to_reason_code(
        ConnackCode.CONNACK_REFUSED_SERVER_UNAVAILABLE
    )
    assert classify(MqttConnectError(not_authorised)) is A
    assert classify(MqttConnectError(unavailable)) is R


@pytest.mark.parametrize(
    ("paho_rc", "category", "value"),
    [
        (MQTTErrorCode.MQTT_ERR_CONN_LOST, R, 128),
        (MQTTErrorCode.MQTT_ERR_KEEPALIVE, R, 141),
        (MQTTErrorCode.MQTT_ERR_PROTOCOL, P, 130),
    ],
)
def test_unexpected_disconnection_codes_as_aiomqtt_receives_them(
    paho_rc: MQTTErrorCode, category: Category, value: int
) -> None:
    # aiomqtt's on_disconnect gets paho's translation of its internal error into a ReasonCode.
    rc = paho_client.convert_disconnect_error_code_to_reason_code(paho_rc)
    exc = MqttCodeError(rc, "Unexpected disconnection")
    assert explain(exc).rule == f"{CODE} code={value}"
    assert classify(exc) is category


# --- paho MQTTErrorCode enums, by name -------------------------------------------------------


@pytest.mark.parametrize(
    ("rc", "category"),
    [
        (MQTTErrorCode.MQTT_ERR_AGAIN, R),
        (MQTTErrorCode.MQTT_ERR_SUCCESS, P),
        (MQTTErrorCode.MQTT_ERR_NOMEM, P),
        (MQTTErrorCode.MQTT_ERR_PROTOCOL, P),
        (MQTTErrorCode.MQTT_ERR_INVAL, P),
        (MQTTErrorCode.MQTT_ERR_NO_CONN, R),
        (MQTTErrorCode.MQTT_ERR_CONN_REFUSED, P),  # a 3.1.1 CONNACK 1-5, which is lost
        (MQTTErrorCode.MQTT_ERR_NOT_FOUND, P),
        (MQTTErrorCode.MQTT_ERR_CONN_LOST, R),
        (MQTTErrorCode.MQTT_ERR_TLS, P),
        (MQTTErrorCode.MQTT_ERR_PAYLOAD_SIZE, P),
        (MQTTErrorCode.MQTT_ERR_NOT_SUPPORTED, P),
        (MQTTErrorCode.MQTT_ERR_AUTH, A),
        (MQTTErrorCode.MQTT_ERR_ACL_DENIED, A),
        (MQTTErrorCode.MQTT_ERR_UNKNOWN, P),
        (MQTTErrorCode.MQTT_ERR_ERRNO, R),
        (MQTTErrorCode.MQTT_ERR_QUEUE_SIZE, Q),
        (MQTTErrorCode.MQTT_ERR_KEEPALIVE, R),
    ],
    ids=lambda value: value.name if isinstance(value, MQTTErrorCode) else str(value),
)
def test_paho_error_codes(classifier: Classifier, rc: MQTTErrorCode, category: Category) -> None:
    verdict = classifier.explain(MqttCodeError(rc, "Could not publish message"))
    assert verdict.category is category
    assert verdict.rule == f"{CODE} code={rc.name}"


def test_every_paho_error_code_has_a_row() -> None:
    coded = {e.code for e in load("aiomqtt") if e.target == CODE}
    missing = [member.name for member in MQTTErrorCode if member.name not in coded]
    assert not missing, f"MQTTErrorCode members without a row: {missing}"


def test_mqtt_err_no_conn_is_not_connack_4() -> None:
    # MQTT_ERR_NO_CONN == 4, and CONNACK 4 is "bad user name or password": the enum must be
    # read as "not connected" (retryable), the plain int as bad credentials (auth).
    assert MQTTErrorCode.MQTT_ERR_NO_CONN == 4
    not_connected = explain(MqttCodeError(MQTTErrorCode.MQTT_ERR_NO_CONN, "Could not publish"))
    bad_password = explain(MqttConnectError(4))
    assert not_connected.category is R
    assert not_connected.rule == f"{CODE} code=MQTT_ERR_NO_CONN"
    assert bad_password.category is A
    assert bad_password.rule == f"{CODE} code=4"


def test_classify_remembers_codes_by_kind_as_well_as_value(classifier: Classifier) -> None:
    cases = [
        (MqttCodeError(MQTTErrorCode.MQTT_ERR_NO_CONN, "Could not publish message"), R),
        (MqttCodeError(4, "refused"), A),
        (MqttCodeError(ReasonCode(PacketTypes.CONNACK, identifier=135), "refused"), A),
        (MqttCodeError(135, "refused"), A),
        (MqttCodeError(True, "odd"), R),  # not a code: falls back to MqttError
        (MqttCodeError(None, "no code"), R),
    ]
    for _ in range(3):  # the first round fills the memo, the others read it
        for exc, category in cases:
            assert classifier.classify(exc) is category, exc.rc
            assert classifier.explain(exc).category is category


def test_message_info_rc_from_a_real_publish_while_disconnected() -> None:
    # A real paho client that never connected: publish answers MQTT_ERR_NO_CONN, which aiomqtt
    # wraps as MqttCodeError(info.rc, "Could not publish message").
    client = paho_client.Client(CallbackAPIVersion.VERSION2)
    info = client.publish("t", b"x", qos=1)
    assert info.rc is MQTTErrorCode.MQTT_ERR_NO_CONN
    assert classify(MqttCodeError(info.rc, "Could not publish message")) is R


def test_an_unknown_rc_falls_back_to_mqtt_error(classifier: Classifier) -> None:
    verdict = classifier.explain(MqttCodeError(99, "who knows"))
    assert verdict.rule == "aiomqtt.exceptions.MqttError"
    assert verdict.category is R


# --- a real aiomqtt client against a broker on 127.0.0.1 that refuses it ----------------------


async def _refusing_broker(connack: bytes) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)  # the CONNECT packet
        writer.write(connack)
        await writer.drain()
        await reader.read(1024)  # until the client hangs up
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("connack", "protocol", "category", "value"),
    [
        # MQTT 3.1.1 CONNACK: fixed header, length 2, flags, return code.
        (bytes([0x20, 0x02, 0x00, 0x05]), aiomqtt.ProtocolVersion.V311, A, 135),
        (bytes([0x20, 0x02, 0x00, 0x04]), aiomqtt.ProtocolVersion.V311, A, 134),
        (bytes([0x20, 0x02, 0x00, 0x03]), aiomqtt.ProtocolVersion.V311, R, 136),
        # MQTT 5 CONNACK: ... reason code, empty properties.
        (bytes([0x20, 0x03, 0x00, 0x87, 0x00]), aiomqtt.ProtocolVersion.V5, A, 135),
        (bytes([0x20, 0x03, 0x00, 0x89, 0x00]), aiomqtt.ProtocolVersion.V5, R, 137),
        (bytes([0x20, 0x03, 0x00, 0x9F, 0x00]), aiomqtt.ProtocolVersion.V5, R, 159),
    ],
)
async def test_a_real_refused_connection(
    connack: bytes, protocol: aiomqtt.ProtocolVersion, category: Category, value: int
) -> None:
    server = await _refusing_broker(connack)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with pytest.raises(MqttConnectError) as raised:
            async with aiomqtt.Client("127.0.0.1", port=port, protocol=protocol, timeout=5):
                pass
    assert isinstance(raised.value.rc, ReasonCode)
    assert explain(raised.value).rule == f"{CODE} code={value}"
    assert classify(raised.value) is category


@pytest.mark.integration
async def test_a_real_connection_to_nothing_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(MqttError) as raised:
        async with aiomqtt.Client("127.0.0.1", port=port, timeout=5):
            pass
    assert type(raised.value) is MqttError
    assert classify(raised.value) is R
