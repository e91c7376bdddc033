"""Greengrass discovery under a policy, falling back to a direct AWS IoT connection.

For a Greengrass-aware device with the AWS IoT Device SDK v1 (``AWSIoTPythonSDK``, extra
``aws``)::

    from resilience.integrations import greengrass

    connection = greengrass.connect(
        "kitchen-sensor",
        discovery_endpoint=greengrass.Endpoint("abc123-ats.iot.eu-west-1.amazonaws.com", 8443),
        direct_endpoint=greengrass.Endpoint("abc123-ats.iot.eu-west-1.amazonaws.com", 8883),
        credentials=greengrass.DeviceCredentials(
            root_ca="AmazonRootCA1.pem",
            certificate="kitchen-sensor.pem.crt",
            private_key="kitchen-sensor.pem.key",
        ),
    )
    connection.client.publish("kitchen/temperature", "21.5", 1)
    print(connection.via, connection.endpoint)   # "greengrass 192.168.1.20:8883"

What :func:`connect` does:

1. Discovery (``DiscoveryInfoProvider.discover``) under ``discovery_policy``: throttling
   (HTTP 429), timeouts and other failures (5xx, a dropped connection) are retried with
   backoff; "unauthorized" (401) and "no discovery data for this thing" (404) never are,
   as the built-in ``awsiot`` catalog says.
2. Every connectivity endpoint of every discovered core, in the order of the discovery
   document, once each, with ``AWSIoTMQTTClient`` and the group's CA: the first that accepts
   the connection wins. The list is the retry: a core that is down is not tried again.
3. When discovery fails for good, or every core fails, the direct AWS IoT endpoint, under
   ``direct_policy``. Its last failure is raised if it fails too, with notes on what failed
   before it.

Each discovery attempt uses a fresh provider that, unlike the SDK's own, closes its socket,
bounds every blocking read by the timeout (the SDK would wait forever on a silent server),
turns a connection closed mid-response into a retryable ``DiscoveryFailure`` (the SDK raises
``TypeError``), reads an empty response body (the SDK waits for one more byte) and builds a
TLS client context without the SDK's deprecated ``PROTOCOL_SSLv23``. The MQTT connections are
the SDK's own, which still warn ``DeprecationWarning: ssl.PROTOCOL_TLS is deprecated`` on
Python 3.10+.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from AWSIoTPythonSDK.core.greengrass.discovery.providers import DiscoveryInfoProvider
from AWSIoTPythonSDK.exception.AWSIoTExceptions import DiscoveryFailure
from AWSIoTPythonSDK.MQTTLib import AWSIoTMQTTClient

from resilience.classify import default_classifier
from resilience.elements.backoff import Backoff
from resilience.elements.retry import Retry
from resilience.engine.policy import Policy

__all__ = [
    "Connection",
    "CoreEndpoint",
    "DIRECT_POLICY",
    "DISCOVERY_POLICY",
    "DeviceCredentials",
    "Endpoint",
    "connect",
    "core_endpoints",
    "discover",
]

#: Discovery: five attempts within a minute, waits of up to 1, 2, 4 and 8 s (full jitter).
DISCOVERY_POLICY = Policy(
    "greengrass-discovery",
    retry=Retry(attempts=5, deadline=60.0, backoff=Backoff(initial=1.0, maximum=32.0)),
)

#: The direct AWS IoT connection: three attempts, waits of up to 1 and 2 s (full jitter).
DIRECT_POLICY = Policy(
    "iot-direct-connect",
    retry=Retry(attempts=3, deadline=60.0, backoff=Backoff(initial=1.0, maximum=16.0)),
)

PathLike = str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A host and port to connect to."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceCredentials:
    """The device's X.509 identity, as files.

    Args:
        root_ca: The CA that signed the AWS IoT endpoints' certificates (Amazon Root CA 1):
            verifies the discovery and the direct endpoint. A core is verified with its
            group's CA from the discovery document instead.
        certificate: The device certificate (PEM).
        private_key: Its private key (PEM).
    """

    root_ca: PathLike
    certificate: PathLike
    private_key: PathLike


@dataclass(frozen=True, slots=True)
class CoreEndpoint:
    """One connectivity entry of a discovered core, with the CA that verifies it."""

    group_id: str
    core_arn: str
    endpoint: Endpoint
    group_ca: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Connection:
    """What :func:`connect` made.

    Attributes:
        client: The connected ``AWSIoTMQTTClient``.
        endpoint: Where it is connected.
        via: ``"greengrass"`` (a discovered core) or ``"direct"`` (the AWS IoT endpoint).
        core_arn: The core's thing ARN, when connected to one.
        group_id: The core's Greengrass group, when connected to one.
        failures: What failed on the way, in order: discovery's last failure and every core
            endpoint that refused.
    """

    client: Any
    endpoint: Endpoint
    via: Literal["greengrass", "direct"]
    core_arn: str | None = None
    group_id: str | None = None
    failures: tuple[BaseException, ...] = ()


class _Provider(DiscoveryInfoProvider):  # type: ignore[misc]  # the SDK is untyped
    """``DiscoveryInfoProvider`` that closes its socket and bounds every blocking read."""

    def __init__(self, endpoint: Endpoint, credentials: DeviceCredentials, timeout: float) -> None:
        super().__init__(
            caPath=os.fspath(credentials.root_ca),
            certPath=os.fspath(credentials.certificate),
            keyPath=os.fspath(credentials.private_key),
            host=endpoint.host,
            port=endpoint.port,
            timeoutSec=timeout,
        )
        self._sockets: list[socket.socket] = []

    def discover(self, thingName: str) -> Any:
        try:
            return super().discover(thingName)
        finally:
            while self._sockets:
                self._sockets.pop().close()

    def _create_tcp_connection(self) -> socket.socket:
        # A timeout on the socket makes each read return within it; the SDK's read loop then
        # sees its own deadline pass and raises DiscoveryTimeoutException.
        sock = socket.create_connection((self._host, self._port), timeout=self._timeout_sec)
        self._sockets.append(sock)
        return sock

    def _create_ssl_connection(self, sock: socket.socket) -> ssl.SSLSocket:
        context = ssl.create_default_context(cafile=self._ca_path)
        context.load_cert_chain(self._cert_path, self._key_path)
        if self._port == 443:
            context.set_alpn_protocols(["x-amzn-http-ca"])
        tls = context.wrap_socket(sock, server_hostname=self._host)
        self._sockets.append(tls)
        return tls

    def _receive_discovery_response(self, ssl_sock: ssl.SSLSocket) -> tuple[str, str]:
        # The SDK reads a byte before it checks whether it has the whole body, so an empty
        # body (as an error status may have) would make it wait for a byte that never comes.
        rc, header = self._receive_until(ssl_sock, self._got_two_crlfs)
        status, length = self._handle_discovery_response_header(rc, header.decode("utf-8"))
        if int(length) == 0:
            return str(status), ""
        rc, body = self._receive_until(ssl_sock, self._got_enough_bytes, length)
        return str(status), str(self._handle_discovery_response_body(rc, body.decode("utf-8")))

    def _convert_to_int_py3(self, input_char: bytes) -> int:
        if not input_char:  # end of stream: the server closed the connection mid-response
            msg = "the discovery endpoint closed the connection before the response ended"
            raise DiscoveryFailure(msg)
        return input_char[0]


def _discover_once(
    thing_name: str, endpoint: Endpoint, credentials: DeviceCredentials, timeout: float
) -> Any:
    return _Provider(endpoint, credentials, timeout).discover(thing_name)


def discover(
    thing_name: str,
    *,
    endpoint: Endpoint,
    credentials: DeviceCredentials,
    timeout: float = 10.0,
    policy: Policy | None = None,
) -> Any:
    """Ask Greengrass discovery which cores ``thing_name`` may connect to, under a policy.

    Args:
        thing_name: The device's thing name.
        endpoint: The discovery endpoint: your AWS IoT data endpoint, port 8443 (or 443).
        credentials: The device's certificate, key and the endpoint's root CA.
        timeout: Seconds each step of an attempt may take: the TCP connect, the TLS handshake,
            reading the answer's head, reading its body.
        policy: :data:`DISCOVERY_POLICY` when omitted.

    Returns:
        The SDK's ``DiscoveryInfo``.

    Raises:
        DiscoveryUnauthorizedException: HTTP 401, at once.
        DiscoveryDataNotFoundException: HTTP 404 (the thing is in no group), at once.
        DiscoveryThrottlingException, DiscoveryTimeoutException, DiscoveryFailure, OSError:
            the last failure when the policy gives up, with a note.
    """
    return (policy or DISCOVERY_POLICY).call(
        _discover_once, thing_name, endpoint, credentials, timeout
    )


def core_endpoints(info: Any) -> list[CoreEndpoint]:
    """Every connectivity entry of every core in a ``DiscoveryInfo``, in document order."""
    found = []
    for group in info.getAllGroups():
        cas = list(group.caList)
        group_ca = "\n".join(ca.strip() for ca in cas) + "\n" if cas else ""
        for core in group.coreConnectivityInfoList:
            for entry in core.connectivityInfoList:
                found.append(
                    CoreEndpoint(
                        group_id=str(group.groupId),
                        core_arn=str(core.coreThingArn),
                        endpoint=Endpoint(str(entry.host), int(entry.port)),
                        group_ca=group_ca,
                    )
                )
    return found


ClientFactory = Callable[[str], Any]


def _new_client(client_id: str) -> Any:
    return AWSIoTMQTTClient(client_id)


def _abandon(client: Any) -> None:
    """Stop what a failed connect may have left running (the SDK's reconnect thread)."""
    with contextlib.suppress(Exception):  # best effort: the client is being thrown away
        client.disconnectAsync()


def _connect_once(
    factory: ClientFactory,
    client_id: str,
    endpoint: Endpoint,
    ca_path: PathLike,
    credentials: DeviceCredentials,
    timeout: float,
    keep_alive: int,
) -> Any:
    client = factory(client_id)
    client.configureEndpoint(endpoint.host, endpoint.port)
    client.configureCredentials(
        os.fspath(ca_path), os.fspath(credentials.private_key), os.fspath(credentials.certificate)
    )
    client.configureConnectDisconnectTimeout(timeout)
    try:
        client.connect(keep_alive)
    except BaseException:
        _abandon(client)
        raise
    return client


def _write_group_ca(directory: Path, group_id: str, pem: str) -> Path:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in group_id) or "group"
    path = directory / f"{safe}-ca.pem"
    # The SDK reads the file again at every reconnect: it must outlive this call.
    path.write_text(pem)
    return path


def _describe(exc: BaseException) -> str:
    text = str(exc) or str(getattr(exc, "message", "") or "")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def connect(
    thing_name: str,
    *,
    discovery_endpoint: Endpoint,
    direct_endpoint: Endpoint,
    credentials: DeviceCredentials,
    client_id: str | None = None,
    discovery_timeout: float = 10.0,
    connect_timeout: float = 10.0,
    keep_alive: int = 600,
    discovery_policy: Policy | None = None,
    direct_policy: Policy | None = None,
    client_factory: ClientFactory | None = None,
    group_ca_dir: PathLike | None = None,
) -> Connection:
    """Connect a Greengrass-aware device: a discovered core if one answers, else AWS IoT.

    Args:
        thing_name: The device's thing name.
        discovery_endpoint: Greengrass discovery (the AWS IoT data endpoint, port 8443).
        direct_endpoint: The AWS IoT MQTT endpoint (port 8883) to fall back to.
        credentials: The device's certificate and key, and the AWS endpoints' root CA.
        client_id: The MQTT client id; ``thing_name`` when omitted (AWS IoT policies for
            Greengrass devices usually require it).
        discovery_timeout: Seconds each step of a discovery attempt may take (see
            :func:`discover`).
        connect_timeout: Seconds one MQTT connect may wait for its CONNACK.
        keep_alive: The MQTT keep-alive interval in seconds.
        discovery_policy: Drives discovery; :data:`DISCOVERY_POLICY` when omitted. Its own
            fallback, if any, must return a ``DiscoveryInfo``; the direct connection is this
            function's fallback.
        direct_policy: Drives the direct connection; :data:`DIRECT_POLICY` when omitted.
        client_factory: Builds each ``AWSIoTMQTTClient`` from a client id, for settings of
            your own (offline queueing, last will); this function sets the endpoint,
            credentials and connect timeout.
        group_ca_dir: Where the groups' CAs are written, as ``<group id>-ca.pem`` (the SDK
            reads them from files); a private folder in the temp directory when omitted.

    Returns:
        A :class:`Connection`: the client, its endpoint, ``via`` and what failed on the way.

    Raises:
        Exception: the direct connection's last failure, when discovery or every core failed
            and the direct endpoint did too; its notes say what failed before.
    """
    client_id = client_id or thing_name
    factory = client_factory or _new_client
    failures: list[BaseException] = []
    discovery = discovery_policy or DISCOVERY_POLICY
    ca_dir = Path(group_ca_dir) if group_ca_dir is not None else _default_ca_dir()

    try:
        info = discover(
            thing_name,
            endpoint=discovery_endpoint,
            credentials=credentials,
            timeout=discovery_timeout,
            policy=discovery,
        )
    except Exception as exc:  # noqa: BLE001 - any discovery failure falls back to direct
        failures.append(exc)
    else:
        for core in core_endpoints(info):
            ca_path = _write_group_ca(ca_dir, core.group_id, core.group_ca)
            try:
                client = _connect_once(
                    factory,
                    client_id,
                    core.endpoint,
                    ca_path,
                    credentials,
                    connect_timeout,
                    keep_alive,
                )
            except Exception as exc:  # noqa: BLE001 - the next core, or the direct endpoint
                exc.add_note(f"greengrass core {core.core_arn} at {core.endpoint} failed")
                failures.append(exc)
                continue
            return Connection(
                client,
                core.endpoint,
                "greengrass",
                core.core_arn,
                core.group_id,
                tuple(failures),
            )
        if not failures:
            failures.append(LookupError(f"discovery found no core for thing {thing_name!r}"))

    last = failures[-1]
    category = (discovery.classifier or default_classifier()).classify(last)
    # The direct endpoint is this function's fallback: its policy's listeners hear of it.
    discovery._pipeline.observer.fallback(category, last)
    try:
        client = (direct_policy or DIRECT_POLICY).call(
            _connect_once,
            factory,
            client_id,
            direct_endpoint,
            credentials.root_ca,
            credentials,
            connect_timeout,
            keep_alive,
        )
    except Exception as exc:
        for failure in failures:
            exc.add_note(f"before the direct endpoint {direct_endpoint}: {_describe(failure)}")
        raise
    return Connection(client, direct_endpoint, "direct", failures=tuple(failures))


_ca_dir: Path | None = None
_ca_dir_lock = threading.Lock()


def _default_ca_dir() -> Path:
    """A private folder (mode 0700) for the groups' CAs, made once per process."""
    global _ca_dir  # noqa: PLW0603 - one folder per process, made on first use
    with _ca_dir_lock:
        if _ca_dir is None:
            _ca_dir = Path(tempfile.mkdtemp(prefix="resilience-greengrass-"))
        return _ca_dir
