"""aiomqtt and the paho-mqtt client under it: MQTT 3.1.1 and 5 return and reason codes.

``MqttCodeError.rc`` comes in three shapes, read by :func:`mqtt_code`:

- a plain ``int``: an MQTT 3.1.1 CONNACK return code (1-5);
- a paho ``ReasonCode``: an MQTT 5 reason code, matched by its ``.value`` (>= 0x80 for a
  failure). paho 2 reports MQTT 3.1.1 refusals this way too, translated: a 3.1.1 "not
  authorised" (5) reaches aiomqtt as 135, and a lost connection as 128 "Unspecified error";
- a paho ``MQTTErrorCode``: a client-side error, matched by its *name*, because
  ``MQTT_ERR_NO_CONN == 4`` ("not connected") must not read as CONNACK 4 ("bad password").

A bare ``MqttError`` is a generic wrapper, and defers to what it wraps. aiomqtt raises
``MqttError("Disconnected during message iteration") from`` the ``MqttCodeError`` of the
DISCONNECT (0x87 "Not authorized" is auth, 0x8E "Session taken over" permanent), and turns a
failed socket connect into ``MqttError(str(exc)) from None``: the reader follows that hidden
context, so a failed certificate verification or a name that does not exist is not retried,
while a refused connection still is.
"""

from __future__ import annotations

from collections.abc import Hashable
from enum import Enum

from resilience.catalogs import Catalog, Code, Reader, Reading, by_class, by_code
from resilience.catalogs._read import as_int, attr, cause_or_context, plain, trusted
from resilience.categories import Category

R, A, Q, P = Category.RETRYABLE, Category.AUTH, Category.QUEUE, Category.PERMANENT

_CODE = "aiomqtt.exceptions.MqttCodeError"
_ERROR = "aiomqtt.exceptions.MqttError"


def mqtt_code(rc: object) -> Code | None:
    """The rule key of an MQTT ``rc``: paho ``ReasonCode`` -> its value, ``MQTTErrorCode`` ->
    its name (``MQTT_ERR_NO_CONN`` is 4, and 4 alone would read as CONNACK "bad password"),
    a plain int (MQTT 3.1.1 CONNACK) -> itself."""
    kind = type(rc)
    if rc is None or kind is bool:
        return None
    if issubclass(kind, Enum):
        name = attr(rc, "_name_")
        return name if type(name) is str else None
    number = as_int(rc)
    if number is not None:
        return number
    # paho ReasonCode: unhashable, and int() fails on it; its value is a plain attribute.
    return as_int(attr(rc, "value"))


#: Types of rc (paho's ReasonCode, MQTTErrorCode) whose ``value`` the memo key may read.
_VALUE_KINDS: set[type] = set()


def _read_code(exc: BaseException) -> Reading:
    rc = attr(exc, "rc")
    code = mqtt_code(rc)
    kind = type(rc)
    if code is not None and len(_VALUE_KINDS) < 16 and trusted(kind) and plain(kind, "value"):
        _VALUE_KINDS.add(kind)
    return ((code,) if code is not None else ()), None


def _key(exc: BaseException) -> Hashable:
    rc = exc.rc  # type: ignore[attr-defined]
    kind = type(rc)
    # A plain int by itself, paho's ReasonCode and MQTTErrorCode by their value.
    if kind is int:
        return kind, rc
    if kind in _VALUE_KINDS:
        return kind, rc.value
    raise TypeError  # anything else is read in full, every time


def _spell(raw: str) -> tuple[Code, ...]:
    text = raw.strip()
    try:
        return (int(text, 0),)
    except ValueError:
        return (text.upper(),)


def _read_error(exc: BaseException) -> Reading:
    return (), None


# MQTT 3.1.1 CONNACK return codes (plain ints).
_CONNACK_V3 = {
    1: (P, "CONNACK 1: the broker does not speak this protocol version"),
    2: (P, "CONNACK 2: the broker rejected the client identifier"),
    3: (R, "CONNACK 3: the MQTT service is unavailable for now"),
    4: (A, "CONNACK 4: bad user name or password"),
    5: (A, "CONNACK 5: not authorised"),
}

# MQTT 5 reason codes >= 0x80 (paho ReasonCode, by value).
_REASON_V5 = {
    128: (R, "128 Unspecified error: also what paho reports for a lost connection"),
    129: (P, "129 Malformed packet: a protocol bug on one side"),
    130: (P, "130 Protocol error: a protocol bug on one side"),
    131: (P, "131 Implementation specific error: the broker refuses this request"),
    132: (P, "132 Unsupported protocol version"),
    133: (P, "133 Client identifier not valid"),
    134: (A, "134 Bad user name or password"),
    135: (A, "135 Not authorized"),
    136: (R, "136 Server unavailable"),
    137: (R, "137 Server busy"),
    138: (A, "138 Banned: the broker refuses this client"),
    139: (R, "139 Server shutting down: connect again, possibly elsewhere"),
    140: (A, "140 Bad authentication method"),
    141: (R, "141 Keep alive timeout: the link went quiet; reconnect"),
    142: (P, "142 Session taken over: another client uses this client id"),
    143: (P, "143 Topic filter invalid"),
    144: (P, "144 Topic name invalid"),
    145: (P, "145 Packet identifier in use: client-side state is confused"),
    146: (P, "146 Packet identifier not found: client-side state is confused"),
    147: (
        Q,
        "147 Receive maximum exceeded: too many QoS 1/2 messages in flight, a queueing problem",
    ),
    148: (P, "148 Topic alias invalid"),
    149: (P, "149 Packet too large: it will be too large again"),
    150: (R, "150 Message rate too high: throttled, slow down and retry"),
    151: (R, "151 Quota exceeded: throttled, retry later"),
    152: (P, "152 Administrative action: an operator disconnected this client"),
    153: (P, "153 Payload format invalid"),
    154: (P, "154 Retain not supported"),
    155: (P, "155 QoS not supported"),
    156: (R, "156 Use another server: temporarily, connect again"),
    157: (P, "157 Server moved: permanently, update the endpoint"),
    158: (P, "158 Shared subscriptions not supported"),
    159: (R, "159 Connection rate exceeded: throttled, back off and connect again"),
    160: (R, "160 Maximum connect time reached: connect again"),
    161: (P, "161 Subscription identifiers not supported"),
    162: (P, "162 Wildcard subscriptions not supported"),
}

# paho MQTTErrorCode members, by name (every member of paho.mqtt.enums.MQTTErrorCode).
_PAHO_ERRORS = {
    "MQTT_ERR_AGAIN": (R, "paho: the socket would block; try again"),
    "MQTT_ERR_SUCCESS": (P, "paho reported success: the failure is not a transient MQTT one"),
    "MQTT_ERR_NOMEM": (P, "paho: out of memory"),
    "MQTT_ERR_PROTOCOL": (P, "paho: a network protocol error with the broker"),
    "MQTT_ERR_INVAL": (P, "paho: invalid function arguments"),
    "MQTT_ERR_NO_CONN": (R, "paho: the client is not connected (yet, or any more)"),
    "MQTT_ERR_CONN_REFUSED": (
        P,
        "paho: the broker refused the CONNECT (MQTT 3.1.1 CONNACK 1-5: protocol version, "
        "client id, unavailable, credentials or authorisation); which one is lost, so not "
        "retried blindly",
    ),
    "MQTT_ERR_NOT_FOUND": (P, "paho: message not found (an internal error)"),
    "MQTT_ERR_CONN_LOST": (R, "paho: the connection was lost"),
    "MQTT_ERR_TLS": (P, "paho: TLS failed, usually certificates or configuration"),
    "MQTT_ERR_PAYLOAD_SIZE": (P, "paho: the payload is too large"),
    "MQTT_ERR_NOT_SUPPORTED": (P, "paho: the feature is not supported"),
    "MQTT_ERR_AUTH": (A, "paho: authorisation failed"),
    "MQTT_ERR_ACL_DENIED": (A, "paho: access denied by the broker's ACL"),
    "MQTT_ERR_UNKNOWN": (P, "paho: unknown error"),
    "MQTT_ERR_ERRNO": (R, "paho: a system call failed (see errno), usually the socket"),
    "MQTT_ERR_QUEUE_SIZE": (Q, "paho: the outgoing message queue is full (max_queued_messages)"),
    "MQTT_ERR_KEEPALIVE": (R, "paho: no traffic within the keepalive interval; reconnect"),
}

CATALOG = Catalog(
    "aiomqtt",
    "aiomqtt (MqttError, MqttCodeError by rc: MQTT 3.1.1, MQTT 5, paho error codes) "
    "and paho-mqtt's own exceptions",
    (
        by_class(
            _ERROR,
            R,
            "aiomqtt's generic error: a lost connection, a timeout, a failed socket connect; "
            "what it wraps decides when it says more",
            defers=True,
        ),
        by_class(_CODE, None, "decided by its rc; an unknown rc falls back to MqttError"),
        *(by_code(_CODE, code, cat, reason) for code, (cat, reason) in _CONNACK_V3.items()),
        *(by_code(_CODE, code, cat, reason) for code, (cat, reason) in _REASON_V5.items()),
        *(by_code(_CODE, name, cat, reason) for name, (cat, reason) in _PAHO_ERRORS.items()),
        by_class(
            "aiomqtt.exceptions.MqttConnectError",
            None,
            "a refused CONNACK, decided by its rc like MqttCodeError",
        ),
        by_class(
            "aiomqtt.exceptions.MqttReentrantError",
            P,
            "the client was entered twice at once: a programming error",
        ),
        # paho-mqtt's own classes.
        by_class(
            "paho.mqtt.client.WebsocketConnectionError",
            R,
            "the WebSocket handshake failed or the connection dropped during it",
        ),
        by_class(
            "paho.mqtt.exception.MQTTException",
            P,
            "a protocol or property error (paho's helpers also raise it for a refused CONNACK)",
        ),
        by_class(
            "paho.mqtt.exception.MalformedPacket", P, "a packet could not be decoded: protocol bug"
        ),
        by_class(
            "paho.mqtt.subscribeoptions.MQTTException",
            P,
            "an invalid subscribe option: a programming error",
        ),
    ),
    readers=(
        Reader(_CODE, _read_code, key=_key, reads=("rc",), spell=_spell),
        Reader(_ERROR, _read_error, inner=cause_or_context),
    ),
)
