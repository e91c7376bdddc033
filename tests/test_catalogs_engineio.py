"""The engineio catalog, on real python-engineio exceptions."""

from __future__ import annotations

import socket

import engineio
import pytest
from engineio import exceptions as ex

from resilience import Category, Classifier, classify, explain

R, A, Q, P = Category.RETRYABLE, Category.AUTH, Category.QUEUE, Category.PERMANENT


@pytest.fixture(name="classifier")
def _classifier() -> Classifier:
    return Classifier()


@pytest.mark.parametrize(
    ("exc", "category"),
    [
        (ex.EngineIOError(), R),
        (ex.ConnectionError("Connection refused by the server"), R),
        (ex.SocketIsClosedError(), R),
        (ex.QueueEmpty(), Q),
        (ex.ContentTooLongError(), P),
        (ex.UnknownPacketError(), P),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_category_of_each_class(
    classifier: Classifier, exc: BaseException, category: Category
) -> None:
    verdict = classifier.explain(exc)
    assert (verdict.category, verdict.rule, verdict.catalog) == (
        category,
        f"engineio.exceptions.{type(exc).__name__}",
        "engineio",
    )


def test_engineio_connection_error_is_not_the_builtin() -> None:
    exc = ex.ConnectionError("Unexpected status code 503 in server response")
    assert not isinstance(exc, ConnectionError)
    assert explain(exc).catalog == "engineio"


def test_the_package_does_not_reexport_its_exceptions() -> None:
    # The seed writes engineio.ConnectionError; the real package only has engineio.exceptions.
    assert not hasattr(engineio, "ConnectionError")


@pytest.mark.integration
def test_a_real_client_connecting_to_nothing_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = engineio.Client(request_timeout=2)
    with pytest.raises(ex.ConnectionError) as raised:
        client.connect(f"http://127.0.0.1:{port}", transports=["polling"])
    assert classify(raised.value) is R


@pytest.mark.parametrize(
    ("status", "category"),
    [
        (401, Category.AUTH),
        (403, Category.AUTH),
        (429, Category.RETRYABLE),
        (400, Category.PERMANENT),
        (503, Category.RETRYABLE),
        (501, Category.PERMANENT),
    ],
)
def test_a_refused_handshake_is_decided_by_its_status(status: int, category: Category) -> None:
    # what engineio.Client.connect raises on the polling transport when the server says no
    refused = engineio.exceptions.ConnectionError(
        f"Unexpected status code {status} in server response", {"message": "no"}
    )
    verdict = explain(refused)
    assert verdict.category is category
    assert verdict.catalog == "engineio"
    assert "status=" in verdict.rule


def test_a_websocket_refusal_is_read_from_the_error_it_replaced() -> None:
    class Refused(Exception):
        status = 401

    try:
        try:
            raise Refused("handshake failed")
        except Refused:
            raise engineio.exceptions.ConnectionError("Connection error") from None
    except engineio.exceptions.ConnectionError as exc:
        error = exc
    assert classify(error) is Category.AUTH


def test_a_connection_error_without_a_status_stays_retryable() -> None:
    assert classify(ex.ConnectionError("Connection refused by the server")) is Category.RETRYABLE
