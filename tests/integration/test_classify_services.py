"""botocore over TLS, grpcio, redis-py and websockets against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resilience import Category, explain
from resilience.classify import default_classifier

from ..fleet.redis_server import RedisServer, find_redis_server
from .servers import LOCALHOST, QuietHandler, ThreadedServer, free_port

pytestmark = pytest.mark.integration

R, A, Q, P = Category.RETRYABLE, Category.AUTH, Category.QUEUE, Category.PERMANENT


# --- botocore SSLError over a real TLS endpoint -------------------------------------------------


class HangUp:
    """Accepts TCP, reads the TLS ClientHello, and closes cleanly: an EOF in the handshake."""

    def __init__(self) -> None:
        self.sock = socket.create_server((LOCALHOST, 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(65536)
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    continue

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() (closing alone does not)
        self.sock.close()
        self.thread.join(5)


def _sqs(url: str) -> Any:
    botocore_session = pytest.importorskip("botocore.session")
    from botocore.config import Config

    return botocore_session.get_session().create_client(
        "sqs",
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        endpoint_url=url,
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=5),
    )


def test_botocore_ssl_error_is_decided_by_what_it_wraps() -> None:
    import botocore.exceptions as bce

    trustme = pytest.importorskip("trustme")
    hang_up = HangUp()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    trustme.CA().issue_cert(LOCALHOST).configure_cert(context)
    untrusted = ThreadedServer(QuietHandler, context)
    try:
        with pytest.raises(bce.SSLError) as eof:
            _sqs(f"https://{LOCALHOST}:{hang_up.port}").list_queues()
        with pytest.raises(bce.SSLError) as cert:
            _sqs(f"https://{LOCALHOST}:{untrusted.port}").list_queues()
    finally:
        hang_up.close()
        untrusted.close()

    dropped = explain(eof.value)
    assert (dropped.category, dropped.rule) == (R, "ssl.SSLEOFError")
    assert dropped.via[0] == "botocore.exceptions.SSLError"
    refused = explain(cert.value)
    assert (refused.category, refused.rule) == (P, "ssl.SSLCertVerificationError")
    assert refused.via == (
        "botocore.exceptions.SSLError",
        "urllib3.exceptions.SSLError",
        "ssl.SSLCertVerificationError",
    )


def test_botocore_retry_after_is_the_hint() -> None:
    import botocore.exceptions as bce

    class Throttled(QuietHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            body = b'{"__type": "ThrottlingException", "message": "slow down"}'
            self.send_response(400)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Retry-After", "3")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadedServer(Throttled)
    try:
        with pytest.raises(bce.ClientError) as caught:
            _sqs(f"http://{LOCALHOST}:{server.port}").list_queues()
    finally:
        server.close()
    verdict = explain(caught.value)
    assert verdict.category is R
    assert verdict.hint == 3.0
    assert default_classifier().assess(caught.value) == (R, 3.0, True)


# --- grpcio -------------------------------------------------------------------------------------


@pytest.fixture(name="grpc_server")
def _grpc_server() -> Iterator[str]:
    grpc = pytest.importorskip("grpc")
    from concurrent import futures

    release = threading.Event()

    def handle(request: bytes, context: Any) -> bytes:
        name = request.decode()
        if name == "SLOW":
            release.wait(10)
            return b"late"
        if name.startswith("PUSHBACK"):
            _, millis = name.split(":")
            context.set_trailing_metadata((("grpc-retry-pushback-ms", millis),))
            name = "UNAVAILABLE"
        context.abort(getattr(grpc.StatusCode, name), f"test server says {name}")
        return b""

    handler = grpc.method_handlers_generic_handler(
        "test.Echo", {"Call": grpc.unary_unary_rpc_method_handler(handle)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(f"{LOCALHOST}:0")
    server.start()
    yield f"{LOCALHOST}:{port}"
    release.set()
    server.stop(None)


def _call(target: str, payload: str, timeout: float = 5) -> BaseException:
    import grpc

    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary("/test.Echo/Call")
        try:
            call(payload.encode(), timeout=timeout)
        except grpc.RpcError as exc:
            return exc
    pytest.fail("no RpcError")


@pytest.mark.parametrize(
    ("code", "category"),
    [
        ("UNAVAILABLE", R),
        ("RESOURCE_EXHAUSTED", R),
        ("ABORTED", R),
        ("UNAUTHENTICATED", A),
        ("PERMISSION_DENIED", A),
        ("INVALID_ARGUMENT", P),
        ("NOT_FOUND", P),
        ("INTERNAL", P),
        ("FAILED_PRECONDITION", P),
    ],
)
def test_grpc_status_codes(grpc_server: str, code: str, category: Category) -> None:
    exc = _call(grpc_server, code)
    verdict = explain(exc)
    assert (verdict.category, verdict.rule) == (category, f"grpc.RpcError code={code}")
    assert default_classifier().classify(exc) is category
    assert default_classifier().classify(exc) is category  # remembered


def test_grpc_deadline_and_a_closed_port(grpc_server: str) -> None:
    late = explain(_call(grpc_server, "SLOW", timeout=0.05))
    assert (late.category, late.rule) == (R, "grpc.RpcError code=DEADLINE_EXCEEDED")
    nobody = explain(_call(f"{LOCALHOST}:{free_port()}", "UNAVAILABLE"))
    assert (nobody.category, nobody.rule) == (R, "grpc.RpcError code=UNAVAILABLE")


def test_grpc_pushback_is_the_hint_and_a_negative_one_stops(grpc_server: str) -> None:
    wait = _call(grpc_server, "PUSHBACK:250")
    verdict = explain(wait)
    assert (verdict.category, verdict.hint) == (R, 0.25)
    assert default_classifier().assess(wait) == (R, 0.25, True)
    stop = explain(_call(grpc_server, "PUSHBACK:-1"))
    assert (stop.category, stop.rule) == (P, "grpc.RpcError code=pushback-stop")
    assert stop.hint is None


async def test_grpc_aio(grpc_server: str) -> None:
    grpc = pytest.importorskip("grpc")
    async with grpc.aio.insecure_channel(grpc_server) as channel:
        call = channel.unary_unary("/test.Echo/Call")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(b"PUSHBACK:1500")
    verdict = explain(caught.value)
    assert (verdict.category, verdict.rule, verdict.hint) == (
        R,
        "grpc.RpcError code=UNAVAILABLE",
        1.5,
    )


# --- redis-py -----------------------------------------------------------------------------------


@pytest.fixture(name="redis_server")
def _redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    pytest.importorskip("redis")
    server = RedisServer(find_redis_server(), tmp_path, password="s3cret").start()
    yield server
    server.stop()


def _redis(port: int, **kwargs: Any) -> Any:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    kwargs.setdefault("socket_timeout", 2)
    return redis.Redis(host=LOCALHOST, port=port, retry=Retry(NoBackoff(), 0), **kwargs)


def test_redis(redis_server: RedisServer) -> None:
    import redis

    def fails(call: Any) -> BaseException:
        try:
            call()
        except redis.RedisError as exc:
            return exc
        pytest.fail("no error")

    good = _redis(redis_server.port, password="s3cret")
    good.set("k", "v")
    cases = [
        (fails(lambda: _redis(free_port()).ping()), R, "redis.exceptions.ConnectionError"),
        (
            fails(lambda: _redis(redis_server.port, password="nope").ping()),
            A,
            "redis.exceptions.AuthenticationError",
        ),
        (fails(lambda: good.lpush("k", "x")), P, "redis.exceptions.ResponseError"),
        (
            fails(
                lambda: _redis(redis_server.port, password="s3cret", socket_timeout=0.05).blpop(
                    ["empty"], 1
                )
            ),
            R,
            "redis.exceptions.TimeoutError",
        ),
    ]
    good.acl_setuser("reader", enabled=True, passwords=["+pw"], commands=["+ping"], keys=["*"])
    reader = _redis(redis_server.port, username="reader", password="pw")
    cases.append((fails(lambda: reader.get("k")), A, "redis.exceptions.NoPermissionError"))
    with good.pipeline() as pipe:
        pipe.watch("k")
        good.set("k", "changed")
        pipe.multi()
        pipe.set("k", "mine")
        cases.append((fails(pipe.execute), R, "redis.exceptions.WatchError"))
    for exc, category, rule in cases:
        verdict = explain(exc)
        assert (verdict.category, verdict.rule) == (category, rule), (exc, verdict)


# --- websockets ---------------------------------------------------------------------------------


async def test_websockets() -> None:
    pytest.importorskip("websockets")
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve
    from websockets.datastructures import Headers
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.http11 import Response

    def refuse(connection: Any, request: Any) -> Response | None:
        if request.path == "/busy":
            return Response(503, "Service Unavailable", Headers({"Retry-After": "5"}), b"")
        if request.path == "/private":
            return Response(401, "Unauthorized", Headers(), b"")
        return None

    async def handler(websocket: Any) -> None:
        code = int(websocket.request.path.strip("/") or 1000)
        await websocket.close(code, "test server closes")

    async with serve(handler, LOCALHOST, 0, process_request=refuse) as server:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(InvalidStatus) as busy:
            async with connect(f"ws://{LOCALHOST}:{port}/busy"):
                pass
        with pytest.raises(InvalidStatus) as private:
            async with connect(f"ws://{LOCALHOST}:{port}/private"):
                pass
        closed = {}
        for code in (1011, 1013, 1008, 1002):
            async with connect(f"ws://{LOCALHOST}:{port}/{code}") as ws:
                with pytest.raises(ConnectionClosed) as caught:
                    await ws.recv()
                closed[code] = explain(caught.value)
    with pytest.raises(ConnectionRefusedError) as refused:
        async with connect(f"ws://{LOCALHOST}:{free_port()}/"):
            pass

    verdict = explain(busy.value)
    assert (verdict.category, verdict.rule, verdict.hint) == (
        R,
        "websockets.exceptions.InvalidStatus status=5xx",
        5.0,
    )
    assert explain(private.value).category is A
    assert {code: v.category for code, v in closed.items()} == {1011: R, 1013: R, 1008: P, 1002: P}
    assert closed[1013].rule == "websockets.exceptions.ConnectionClosed code=1013"
    assert explain(refused.value).category is R
    await asyncio.sleep(0)
