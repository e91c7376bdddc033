"""Fixtures of the integration tests: servers are built per test and always stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog

from .servers import EventHooks, Listener, Mosquitto, Pki, find_binary, make_pki


@pytest.fixture(name="mosquitto_binary", scope="session")
def _mosquitto_binary() -> str:
    return find_binary("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


@pytest.fixture(name="mosquitto_passwd", scope="session")
def _mosquitto_passwd() -> str:
    return find_binary("mosquitto_passwd", "/usr/bin/mosquitto_passwd")


@pytest.fixture(name="make_broker")
def _make_broker(mosquitto_binary: str, tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """Build (not start) Mosquitto brokers for the test; every one is stopped afterwards."""
    brokers: list[Mosquitto] = []

    def make(*listeners: Listener) -> Mosquitto:
        directory = tmp_path / f"mosquitto-{len(brokers)}"
        directory.mkdir()
        broker = Mosquitto(mosquitto_binary, directory, list(listeners))
        brokers.append(broker)
        return broker

    yield make
    for broker in brokers:
        broker.stop()


@pytest.fixture(name="pki", scope="session")
def _pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Test CAs and certificates (trustme), shared by the session."""
    pytest.importorskip("trustme")
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(name="hooks")
def _hooks() -> Iterator[EventHooks]:
    """Every `resilience` event of the test, with callbacks on named events."""
    hooks = EventHooks()
    saved = structlog.get_config()
    structlog.configure(processors=[hooks], cache_logger_on_first_use=False)
    try:
        yield hooks
    finally:
        structlog.configure(**saved)


@pytest.fixture(name="no_wait")
def _no_wait() -> Iterator[None]:
    """Policies skip their sleeps, keeping their attempt counts."""
    from resilience.testing import no_wait

    with no_wait():
        yield
