"""Real servers on 127.0.0.1 for the integration tests: Mosquitto, TLS material, event hooks.

Every server listens on 127.0.0.1 only, on a free port, and is started and stopped by a fixture.
A server binary that is missing skips its tests with the reason, except under ``CI=true``,
where it fails them: CI installs everything (``scripts/test.sh``), so a skip there would hide
a broken install step.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
import structlog

LOCALHOST = "127.0.0.1"


def in_ci() -> bool:
    """Whether the tests run under CI, where nothing may be skipped for want of a server."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip the test for want of ``reason``; fail it under CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: integration tests may not skip)")
    pytest.skip(reason)


def find_binary(name: str, *fallbacks: str) -> str:
    """The path of a server binary, or skip (fail under CI) when it is not installed."""
    found = shutil.which(name) or next((p for p in fallbacks if os.access(p, os.X_OK)), None)
    if found is None:
        unavailable(f"{name} is not installed (scripts/test.sh installs it with apt-get)")
    assert found is not None
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((LOCALHOST, port)) == 0


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``predicate`` (every few ms) until it holds; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


# --- Mosquitto -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listener:
    """One Mosquitto listener: a port and the config lines that follow its ``listener`` line."""

    port: int
    options: tuple[str, ...] = ()


class Mosquitto:
    """A private Mosquitto broker: config, log and password file live in ``directory``."""

    def __init__(self, binary: str, directory: Path, listeners: list[Listener]) -> None:
        self.binary = binary
        self.directory = directory
        self.listeners = listeners
        self.config = directory / "mosquitto.conf"
        self.log = directory / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._write_config()

    @property
    def port(self) -> int:
        """The first listener's port."""
        return self.listeners[0].port

    def _write_config(self) -> None:
        # Started as root, Mosquitto drops to the `mosquitto` user, which cannot read pytest's
        # private tmp_path; "user" names the current user, so nothing is dropped (a non-root
        # Mosquitto ignores the option).
        lines = [
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            "persistence false",
            f"log_dest file {self.log}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
        ]
        for listener in self.listeners:
            lines.append(f"listener {listener.port} {LOCALHOST}")
            lines.extend(listener.options)
        self.config.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        """Start the broker and wait until every listener accepts connections."""
        assert self.process is None, "already running"
        stderr = self.directory / "mosquitto.stderr"
        with stderr.open("ab") as sink:  # a file, not a pipe nobody reads while it runs
            self.process = subprocess.Popen(
                [self.binary, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=sink
            )
        process = self.process

        def ready() -> bool:
            if process.poll() is not None:
                pytest.fail(
                    f"mosquitto exited with {process.returncode}: "
                    f"{stderr.read_text(errors='replace')}\n{self.log_text()}"
                )
            return all(port_open(listener.port) for listener in self.listeners)

        wait_until(ready, f"mosquitto on ports {[item.port for item in self.listeners]}")

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL) and wait until it has exited."""
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @property
    def running(self) -> bool:
        return self.process is not None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for_log(self, text: str, count: int = 1) -> str:
        """The log, once ``text`` appears in it ``count`` times (it is written a moment after
        the client hears the answer)."""
        wait_until(lambda: self.log_text().count(text) >= count, f"{text!r} in the broker log")
        return self.log_text()

    def wait_for_ports(self, client_id: str, expected: list[int]) -> list[int]:
        """:meth:`connected_ports`, once the log shows ``expected`` (or fail after a while)."""
        with contextlib.suppress(pytest.fail.Exception):
            wait_until(lambda: self.connected_ports(client_id) == expected, "the broker log", 5)
        return self.connected_ports(client_id)

    def connected_ports(self, client_id: str) -> list[int]:
        """The listener ports on which ``client_id`` connected, in order, from the broker's log."""
        listener_of: dict[str, int] = {}
        ports = []
        for line in self.log_text().splitlines():
            # "New connection from 127.0.0.1:43210 on port 8883." then
            # "New client connected from 127.0.0.1:43210 as thing-1 (p2, c1, k600)."
            if "New connection from " in line and " on port " in line:
                peer = line.split("New connection from ")[1].split()[0]
                listener_of[peer] = int(line.split(" on port ")[1].rstrip(".").split()[0])
            elif "New client connected from " in line and f" as {client_id} " in line:
                peer = line.split("New client connected from ")[1].split()[0]
                ports.append(listener_of[peer])
        return ports


def password_file(binary: str, path: Path, users: dict[str, str]) -> Path:
    """A Mosquitto password file made by ``mosquitto_passwd -b``."""
    for index, (user, password) in enumerate(users.items()):
        flags = ["-b", "-c"] if index == 0 else ["-b"]
        subprocess.run([binary, *flags, str(path), user, password], check=True, capture_output=True)
    return path


# --- TLS material ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """Certificates made by trustme, written to files.

    ``cloud_ca`` stands for Amazon's root CA: it signs the discovery endpoint, the direct AWS IoT
    endpoint and the device certificate. ``group_ca`` stands for a Greengrass group's CA: it
    signs the core's server certificate, and the discovery document carries it.
    """

    cloud_ca: Path
    group_ca_pem: str
    server_cert: Path
    server_key: Path
    core_cert: Path
    core_key: Path
    device_cert: Path
    device_key: Path


def make_pki(directory: Path) -> Pki:
    """Make the certificates with trustme and write them into ``directory``."""
    import trustme

    cloud = trustme.CA(organization_name="Test Cloud")
    group = trustme.CA(organization_name="Test Greengrass Group")
    server = cloud.issue_cert(LOCALHOST, "localhost")
    core = group.issue_cert(LOCALHOST, "localhost")
    device = cloud.issue_cert("thing-1", common_name="thing-1")

    def write(blob: Any, name: str) -> Path:
        path = directory / name
        blob.write_to_path(str(path))
        return path

    return Pki(
        cloud_ca=write(cloud.cert_pem, "cloud-ca.pem"),
        group_ca_pem=group.cert_pem.bytes().decode(),
        server_cert=write(server.cert_chain_pems[0], "server.crt"),
        server_key=write(server.private_key_pem, "server.key"),
        core_cert=write(core.cert_chain_pems[0], "core.crt"),
        core_key=write(core.private_key_pem, "core.key"),
        device_cert=write(device.cert_chain_pems[0], "device.crt"),
        device_key=write(device.private_key_pem, "device.key"),
    )


# --- events ----------------------------------------------------------------------------------


class EventHooks:
    """Every structlog event of the test, and callbacks run synchronously on named events.

    A callback runs inside the policy, between a failed attempt and the next one: the
    deterministic place to start a server that was down, without sleeping.
    """

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self._hooks: list[tuple[str, Callable[[dict[str, Any]], None]]] = []

    def on(self, event: str, callback: Callable[[dict[str, Any]], None]) -> None:
        self._hooks.append((event, callback))

    def named(self, event: str) -> list[dict[str, Any]]:
        return [entry for entry in self.entries if entry["event"] == event]

    def __call__(self, logger: Any, method: str, event_dict: dict[str, Any]) -> Any:
        entry = {**event_dict, "log_level": method}
        self.entries.append(entry)
        for name, callback in self._hooks:
            if name == event_dict.get("event"):
                callback(entry)
        raise structlog.DropEvent


# --- HTTP servers in a thread ----------------------------------------------------------------


class ThreadedServer:
    """An ``http.server`` server running in a daemon thread on 127.0.0.1, port 0."""

    def __init__(
        self,
        handler: type[http.server.BaseHTTPRequestHandler],
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.httpd = http.server.ThreadingHTTPServer((LOCALHOST, 0), handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port: int = self.httpd.server_address[1]
        self.errors: list[BaseException] = []
        self.httpd.handle_error = self._record  # type: ignore[method-assign]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def _record(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if error is not None:
            self.errors.append(error)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A request handler that logs nothing to stderr and sends small answers at once."""

    disable_nagle_algorithm = True  # else headers and body, written apart, wait for an ACK

    def log_message(self, format: str, *args: Any) -> None:
        pass


# --- Greengrass discovery --------------------------------------------------------------------

DISCOVERY_PATH = "/greengrass/discover/thing/"


@dataclass(frozen=True)
class Answer:
    """What the discovery endpoint does with one request.

    ``status`` with ``body``; or ``behaviour`` ``"slow"`` (say nothing until the test ends)
    or ``"drop"`` (promise a body, send part of it, close).
    """

    status: int = 200
    body: str = ""
    behaviour: str = "answer"


class DiscoveryEndpoint:
    """A local Greengrass discovery endpoint: HTTPS with client certificates.

    The SDK's ``DiscoveryInfoProvider`` speaks HTTP/1.1 over a raw TLS socket: it sends
    ``GET /greengrass/discover/thing/<name>`` and reads the status line
    (``HTTP/1.1 <code> ``) and a lower-case ``content-length:`` header, then that many bytes.
    200 -> ``DiscoveryInfo``; 400, 401, 404, 429 -> the matching exceptions; any other status
    -> ``DiscoveryFailure``; nothing in time -> ``DiscoveryTimeoutException``.

    Answers are given in turn from ``script``; the last one repeats.
    """

    def __init__(self, pki: Pki) -> None:
        self.script: list[Answer] = [Answer()]
        self.requests: list[str] = []
        self.release = threading.Event()
        endpoint = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                endpoint.requests.append(self.path)
                answer = endpoint.next_answer()
                self.close_connection = True
                if answer.behaviour == "slow":
                    endpoint.release.wait(10)
                    return
                body = answer.body.encode()
                head = f"HTTP/1.1 {answer.status} {HTTPStatus(answer.status).phrase}\r\n"
                head += f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
                head += "connection: close\r\n\r\n"
                if answer.behaviour == "drop":
                    self.wfile.write(head.encode() + body[: len(body) // 2])
                    self.wfile.flush()
                    return
                self.wfile.write(head.encode() + body)
                self.wfile.flush()

        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(pki.server_cert, pki.server_key)
        tls.load_verify_locations(pki.cloud_ca)
        tls.verify_mode = ssl.CERT_REQUIRED  # the device's certificate, as AWS IoT requires
        self.server = ThreadedServer(Handler, tls)
        self.port = self.server.port

    def next_answer(self) -> Answer:
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def answer(self, *answers: Answer) -> None:
        self.script = list(answers)

    def attempts(self, thing: str) -> int:
        return self.requests.count(DISCOVERY_PATH + thing)

    def close(self) -> None:
        self.release.set()
        self.server.close()


def discovery_document(group_ca_pem: str, *ports: int, group: str = "group-1") -> str:
    """A discovery document with one core in one group, reachable on ``ports`` in order."""
    return json.dumps(
        {
            "GGGroups": [
                {
                    "GGGroupId": group,
                    "Cores": [
                        {
                            "thingArn": "arn:aws:iot:eu-west-1:123456789012:thing/core-1",
                            "Connectivity": [
                                {
                                    "Id": f"entry-{index}",
                                    "HostAddress": LOCALHOST,
                                    "PortNumber": port,
                                    "Metadata": "",
                                }
                                for index, port in enumerate(ports)
                            ],
                        }
                    ],
                    "CAs": [group_ca_pem],
                }
            ]
        }
    )


# --- AWS JSON protocol -----------------------------------------------------------------------


@dataclass(frozen=True)
class AwsAnswer:
    """One answer of :class:`AwsJsonEndpoint`: a status, and an error code unless it is 2xx."""

    status: int = 200
    code: str | None = None
    body: dict[str, Any] | None = None


class AwsJsonEndpoint:
    """A local endpoint speaking AWS's JSON protocol (DynamoDB's ``application/x-amz-json-1.0``).

    An error carries its code twice, as AWS does: in the ``x-amzn-ErrorType`` header and as
    ``__type`` in the body (botocore reads the body). Answers are given in turn from
    ``script``; the last one repeats. ``requests`` lists the ``X-Amz-Target`` of each request.
    """

    def __init__(self) -> None:
        self.script: list[AwsAnswer] = [AwsAnswer(200, body={"TableNames": []})]
        self.requests: list[str] = []
        endpoint = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                endpoint.requests.append(self.headers.get("x-amz-target", ""))
                answer = endpoint.script.pop(0) if len(endpoint.script) > 1 else endpoint.script[0]
                headers = {
                    "content-type": "application/x-amz-json-1.0",
                    "x-amzn-requestid": f"req-{len(endpoint.requests)}",
                }
                if answer.code is not None:
                    headers["x-amzn-errortype"] = f"{answer.code}:"
                    document = {
                        "__type": f"com.amazonaws.dynamodb.v20120810#{answer.code}",
                        "message": f"test endpoint says {answer.code}",
                    }
                else:
                    document = answer.body or {}
                body = json.dumps(document).encode()
                self.send_response(answer.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadedServer(Handler)
        self.url = f"http://{LOCALHOST}:{self.server.port}"

    def answer(self, *answers: AwsAnswer) -> None:
        self.script = list(answers)

    def close(self) -> None:
        self.server.close()


# --- Engine.IO -------------------------------------------------------------------------------

# A polling client's disconnect can wait for its pending long-poll, which the server answers
# at the latest after the ping interval (25 s by default).
PING_INTERVAL = 0.5


class EngineioServer:
    """An Engine.IO server on 127.0.0.1 that echoes messages; down until :meth:`start`.

    ``kind="wsgi"``: ``engineio.Server`` (threading mode) behind a threading ``wsgiref``
    server, polling transport only. ``kind="aiohttp"``: ``engineio.AsyncServer`` on an aiohttp
    application, polling and WebSocket, in its own event loop in a thread (so a test's event
    loop, and a synchronous hook inside a policy, can start it). The ``connect`` handler
    returns :attr:`accept`: ``False`` refuses the handshake (HTTP 401).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.port = free_port()
        self.url = f"http://{LOCALHOST}:{self.port}"
        self.accept = True
        self.handshakes = 0
        self._stop: Callable[[], None] | None = None

    def _on_connect(self, sid: str, environ: Any) -> bool:
        self.handshakes += 1
        return self.accept

    def start(self) -> None:
        assert self._stop is None, "already running"
        if self.kind == "wsgi":
            self._start_wsgi()
        else:
            self._start_aiohttp()
        wait_until(lambda: port_open(self.port), f"engineio server on port {self.port}")

    def _start_wsgi(self) -> None:
        import socketserver
        import wsgiref.simple_server

        import engineio

        server = engineio.Server(async_mode="threading", ping_interval=PING_INTERVAL)
        server.on("connect", self._on_connect)
        server.on("message", lambda sid, data: server.send(sid, f"echo:{data}"))

        class Threading(socketserver.ThreadingMixIn, wsgiref.simple_server.WSGIServer):
            daemon_threads = True

        class Quiet(wsgiref.simple_server.WSGIRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

        httpd = wsgiref.simple_server.make_server(
            LOCALHOST,
            self.port,
            engineio.WSGIApp(server),
            server_class=Threading,
            handler_class=Quiet,
        )
        thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        thread.start()

        def stop() -> None:
            httpd.shutdown()
            httpd.server_close()
            thread.join(5)

        self._stop = stop

    def _start_aiohttp(self) -> None:
        import asyncio

        import engineio
        from aiohttp import web

        server = engineio.AsyncServer(async_mode="aiohttp", ping_interval=PING_INTERVAL)
        server.on("connect", self._on_connect)

        async def echo(sid: str, data: Any) -> None:
            await server.send(sid, f"echo:{data}")

        server.on("message", echo)
        app = web.Application()
        server.attach(app)
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        ready = threading.Event()
        failures: list[BaseException] = []

        def serve() -> None:
            # Everything of this loop happens in this thread, never in the test's own loop.
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(runner.setup())
                loop.run_until_complete(web.TCPSite(runner, LOCALHOST, self.port).start())
            except BaseException as exc:
                failures.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(server.shutdown())
            loop.run_until_complete(runner.cleanup())
            # engineio's per-socket tasks (pings, polls) may still wait: end them, or closing
            # the loop destroys them pending.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        ready.wait(10)
        if failures:
            raise failures[0]

        def stop() -> None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

        self._stop = stop

    @property
    def running(self) -> bool:
        return self._stop is not None

    def stop(self) -> None:
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()
