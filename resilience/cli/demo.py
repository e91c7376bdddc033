"""``resilience demo``: one policy against a flaky HTTP service, end to end.

The demo starts a small HTTP service on 127.0.0.1 (``http.server`` in a thread, on a free
port), scripts its health, and calls it with ``urllib.request`` through one policy, in five
scenes: 503s retried with jittered backoff; a 401 that fails at once; the service going down
until the breaker opens and the fallback answers; calls refused fast while the circuit is
open; the service recovering, the circuit half-opening and closing. It ends with a summary
table. Every event the policy logs is shown by structlog's console renderer.

The library never configures structlog; the demo is an application, so it does, for the time
it runs, and puts the previous configuration back afterwards.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import textwrap
import threading
import time
import urllib.request
from collections import Counter, deque
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, TextIO, cast
from urllib.error import HTTPError

import structlog

from resilience.categories import Category
from resilience.classify import classify
from resilience.cli.common import format_table
from resilience.elements.backoff import Backoff
from resilience.elements.breaker import Breaker
from resilience.elements.fallback import Fallback
from resilience.elements.retry import Retry
from resilience.engine.policy import Policy
from resilience.errors import CircuitOpenError, ResilienceError

__all__ = ["Tally", "cmd_demo", "main", "run"]

POLICY = "orders-api"
ORDERS = "/orders"
PROFILE = "/profile"

# Real waits at speed 1: short enough for the whole demo to take a few seconds.
INITIAL = 0.1
MAXIMUM = 1.0
RESET_TIMEOUT = 1.0
PAUSE = 0.5  # between scenes, so a reader can follow along
MARGIN = 0.05  # waited past the reset timeout, so the next call surely half-opens


@dataclass
class Tally:
    """What happened during a run of the demo, for the summary table (and tests)."""

    calls: int = 0
    service_requests: int = 0
    events: Counter[str] = field(default_factory=Counter)
    transitions: list[str] = field(default_factory=lambda: ["closed"])
    answers: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    elapsed: float = 0.0

    def rows(self) -> list[tuple[str, object]]:
        """The summary table's rows: (what, value)."""
        return [
            ("calls through the policy", self.calls),
            ("requests that reached the service", self.service_requests),
            ("retries (retry.scheduled)", self.events["retry.scheduled"]),
            ("gave up (retry.gave_up)", self.events["retry.gave_up"]),
            ("answered by the service", self.answers["service"]),
            ("answered by the fallback (fallback.used)", self.events["fallback.used"]),
            ("failed (never retried)", self.answers["failed"]),
            ("refused by the open circuit (breaker.rejected)", self.refused),
            ("breaker transitions", " -> ".join(self.transitions)),
            ("total time", f"{self.elapsed:.1f} s"),
        ]


# --- the flaky service -----------------------------------------------------------------------


class FlakyService:
    """The health of the demo's HTTP service, scripted by the demo.

    ``GET /orders`` answers the statuses queued in ``script`` first, then ``status``;
    ``GET /profile`` always answers 401 (the demo's token has expired).
    """

    def __init__(self) -> None:
        self.script: deque[int] = deque()
        self.status = HTTPStatus.OK.value
        self.requests = 0
        self._lock = threading.Lock()

    def answer(self, path: str) -> int:
        """The status of the next request for ``path``."""
        with self._lock:
            self.requests += 1
            if path == PROFILE:
                return HTTPStatus.UNAUTHORIZED.value
            if path != ORDERS:
                return HTTPStatus.NOT_FOUND.value
            return self.script.popleft() if self.script else self.status


class _Server(HTTPServer):
    service: FlakyService


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = cast(_Server, self.server).service.answer(self.path)
        phrase = HTTPStatus(status).phrase
        # Logged before answering, so it shows before the client's reaction to it.
        structlog.get_logger("service").info(f"GET {self.path} -> {status} {phrase}")
        payload: dict[str, Any] = {"status": status}
        if status == HTTPStatus.OK:
            payload = {"orders": [1041, 1042, 1043], "source": "service"}
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the handler logs each request through structlog instead."""


@contextmanager
def serve(service: FlakyService) -> Iterator[str]:
    """Run ``service`` on a free port of 127.0.0.1 in a thread; yields its base URL."""
    try:
        server = _Server(("127.0.0.1", 0), _Handler)
    except OSError as exc:
        msg = f"cannot start the demo's HTTP service on 127.0.0.1: {exc}"
        raise ResilienceError(msg) from exc
    server.service = service
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- the client ------------------------------------------------------------------------------

# No proxies: a proxy configured in the environment must not intercept 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str) -> dict[str, Any]:
    """GET ``url`` and decode its JSON; an error status raises ``urllib.error.HTTPError``."""
    try:
        with _OPENER.open(url, timeout=5.0) as response:
            return cast(dict[str, Any], json.loads(response.read()))
    except HTTPError as exc:
        exc.close()  # release the connection; the classifier only needs exc.code
        raise


# --- structlog, for this process only --------------------------------------------------------


class _NamedLogger(structlog.PrintLogger):
    """A print logger that knows its name, so the output says who logged each line."""

    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


def _configure_structlog(out: TextIO, colors: bool, tally: Tally, start: float) -> None:
    transitions = {
        "breaker.opened": "open",
        "breaker.half_opened": "half-open",
        "breaker.closed": "closed",
    }

    def count(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> Any:
        name = event_dict.get("event", "")
        tally.events[name] += 1
        if name == "breaker.rejected":
            tally.refused += int(event_dict.get("rejected", 0))
        if name in transitions:
            tally.transitions.append(transitions[name])
        return event_dict

    def since_start(logger: Any, __: str, event_dict: MutableMapping[str, Any]) -> Any:
        event_dict["timestamp"] = f"{time.perf_counter() - start:5.2f}s"
        event_dict["logger"] = getattr(logger, "name", "")
        return event_dict

    structlog.configure(
        processors=[
            count,
            structlog.processors.add_log_level,
            since_start,
            _Lines(colors),
        ],
        # DEBUG: every event the policy logs, shown as it comes.
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=lambda *args: _NamedLogger(out, str(args[0]) if args else "demo"),
        cache_logger_on_first_use=False,
    )


#: The width of every line the demo prints.
WIDTH = 100
_LEVELS = {"debug": "2", "info": "32", "warning": "33", "error": "31"}  # ANSI colours


class _Lines:
    """Renders an event as ``time level who event`` and its fields, wrapped to WIDTH columns.

    The demo has one policy, named in its header, so ``policy=`` is left out; long values
    (error messages) wrap onto lines of their own instead of running off the screen.
    """

    def __init__(self, colors: bool) -> None:
        self.colors = colors

    def __call__(self, _: Any, __: str, event_dict: MutableMapping[str, Any]) -> str:
        fields = dict(event_dict)
        stamp, level = fields.pop("timestamp", ""), str(fields.pop("level", "info"))
        who, event = fields.pop("logger", ""), str(fields.pop("event", ""))
        fields.pop("policy", None)
        shown = f"{level:<7}"
        if self.colors:
            shown = f"\033[{_LEVELS.get(level, '0')}m{shown}\033[0m"
        head = f"{stamp} {shown} {who:<10} {event}"
        indent = " " * (len(stamp) + 20)
        lines = [f"{head} "]
        width = len(stamp) + 20 + len(event)  # what the head shows, colours aside
        for key, value in fields.items():
            word = f"{key}={_value(value)}"
            if width + 1 + len(word) <= WIDTH:
                lines[-1] += f" {word}"
                width += 1 + len(word)
                continue
            # A field never splits where it fits on a line of its own.
            pieces = textwrap.wrap(word, WIDTH - len(indent)) or [word]
            lines.extend(indent + piece for piece in pieces)
            width = len(lines[-1])
        return "\n".join(line.rstrip() for line in lines)


def _value(value: object) -> str:
    text = str(value)
    return repr(text) if isinstance(value, str) and (" " in text or not text) else text


@contextmanager
def _structlog_for(out: TextIO, colors: bool, tally: Tally, start: float) -> Iterator[None]:
    was_configured = structlog.is_configured()
    saved = structlog.get_config()
    _configure_structlog(out, colors, tally, start)
    try:
        yield
    finally:
        if was_configured:
            structlog.configure(**saved)
        else:
            structlog.reset_defaults()


def _use_colors(out: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())


# --- the story -------------------------------------------------------------------------------

Sleep = Callable[[float], object]


class _Demo:
    """The five scenes, against one service and one policy."""

    def __init__(
        self, url: str, service: FlakyService, speed: float, out: TextIO, sleep: Sleep, bold: bool
    ) -> None:
        self.url = url
        self.service = service
        self.out = out
        self.sleep = sleep
        self.bold = bold
        self.speed = speed
        self.tally = Tally()
        self.last_refusal: CircuitOpenError | None = None
        self.log = structlog.get_logger("demo")
        self.backoff = Backoff(initial=INITIAL / speed, maximum=MAXIMUM / speed, jitter="full")
        self.breaker = Breaker(fail_max=3, reset_timeout=RESET_TIMEOUT / speed)
        self.policy = Policy(
            POLICY,
            retry=Retry(attempts=3, backoff=self.backoff),
            breaker=self.breaker,
            # Retryable failures and an open circuit get the cache; a 401 is the caller's
            # business (fix the token), so it propagates.
            fallback=Fallback(self.from_cache, on=(Category.RETRYABLE,)),
        )

    def from_cache(self, url: str, exception: BaseException) -> dict[str, Any]:
        """The fallback: yesterday's orders from a local cache."""
        # The last refusal says how long the circuit stays open (a failed trial call would
        # have opened it anew, for the whole reset timeout).
        self.last_refusal = exception if isinstance(exception, CircuitOpenError) else None
        return {"orders": [1041, 1042], "source": "cache"}

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def heading(self, text: str, *, pause: bool = True) -> None:
        if pause:
            self.sleep(PAUSE / self.speed)
        line = f"== {text} =="
        self.say(f"\n\033[1m{line}\033[0m" if self.bold else f"\n{line}")

    def call(self, path: str = ORDERS) -> None:
        """One call through the policy; logs who answered, how fast, with how many requests."""
        self.tally.calls += 1
        number = self.tally.calls
        before = self.service.requests
        started = time.perf_counter()
        try:
            result = self.policy.call(fetch, self.url + path)
        except HTTPError as exc:
            self.tally.answers["failed"] += 1
            self.log.error(
                f"call {number}: failed with HTTP {exc.code}",
                category=classify(exc).value,
                requests=self.service.requests - before,
                took_ms=_ms(time.perf_counter() - started),
                note=(exc.__notes__ or [""])[-1],
            )
            return
        source = str(result.get("source", "?"))
        self.tally.answers[source] += 1
        self.log.info(
            f"call {number}: answered by the {source}",
            orders=result.get("orders"),
            requests=self.service.requests - before,
            took_ms=_ms(time.perf_counter() - started),
        )

    def play(self) -> None:
        b = self.breaker
        self.say(f"resilience demo: a flaky HTTP service on {self.url}, called with urllib")
        self.say(f"through policy {POLICY!r}:")
        self.say(
            f"  retry     3 attempts, backoff initial={self.backoff.initial:g} s "
            f"maximum={self.backoff.maximum:g} s, full jitter"
        )
        self.say(
            f"  breaker   opens after {b.fail_max} retryable failures in a row, "
            f"half-opens after {b.reset_timeout:g} s"
        )
        self.say("  fallback  cached orders, for retryable failures and an open circuit")

        self.heading(
            "1. The service stumbles: two 503s, retried with jittered backoff", pause=False
        )
        self.service.script.extend([503, 503])
        self.call()

        self.heading("2. A 401 is never retried: one request, then the error")
        self.call(PROFILE)

        self.heading("3. The service goes down: retries run out, the breaker opens")
        self.service.status = 503
        self.call()
        self.say(f"   policy.breaker_state == {self.policy.breaker_state!r}")

        # No pause from here on: the circuit's reset timeout is running.
        self.heading(
            "4. While the circuit is open: calls refused fast, the fallback answers", pause=False
        )
        for _ in range(3):
            self.call()
        self.say("   no request reached the service")

        self.heading("5. The service recovers: the breaker half-opens, then closes", pause=False)
        self.service.status = 200
        wait = self.last_refusal.remaining if self.last_refusal else b.reset_timeout
        wait += MARGIN / self.speed
        self.say(f"   waiting {wait:.2f} s for the reset timeout (CircuitOpenError.remaining)")
        self.sleep(wait)
        self.say(f"   policy.breaker_state == {self.policy.breaker_state!r} until the next call")
        self.call()
        self.call()
        self.say(f"   policy.breaker_state == {self.policy.breaker_state!r}")


def _ms(seconds: float) -> int:
    return round(seconds * 1000)  # whole milliseconds: lines stay within 100 columns


def _table(rows: list[tuple[str, object]]) -> str:

    return format_table(("what happened", "count"), rows)


def _check_speed(speed: object) -> None:
    if isinstance(speed, bool) or not isinstance(speed, int | float):
        msg = f"speed must be a positive number (got {speed!r})"
        raise TypeError(msg)
    if not (math.isfinite(speed) and speed > 0):
        msg = f"speed must be a positive number (got {speed!r})"
        raise ValueError(msg)


def run(
    *,
    speed: float = 1.0,
    out: TextIO | None = None,
    sleep: Sleep = time.sleep,
    colors: bool | None = None,
) -> Tally:
    """Play the demo and print it; returns what happened.

    Args:
        speed: Divides every wait (backoffs, reset timeout, pauses): 10 runs ten times as fast.
        out: Where to print (standard output by default).
        sleep: Waits the demo's own pauses and the reset timeout (tests pass freezegun's
            ``tick``). Retry backoffs sleep inside the policy and obey
            ``resilience.testing.no_wait()``.
        colors: Colored output; by default only when ``out`` is a terminal (and ``NO_COLOR``
            is not set).

    Raises:
        TypeError, ValueError: ``speed`` is not a positive number.
        ResilienceError: the demo's HTTP service can't start.
    """
    _check_speed(speed)
    stream = out if out is not None else sys.stdout
    use_colors = _use_colors(stream) if colors is None else colors
    service = FlakyService()
    start = time.perf_counter()
    with serve(service) as url:
        demo = _Demo(url, service, float(speed), stream, sleep, use_colors)
        with _structlog_for(stream, use_colors, demo.tally, start):
            demo.play()
    tally = demo.tally
    tally.service_requests = service.requests
    tally.elapsed = time.perf_counter() - start
    print("\n== Summary ==", file=stream)
    print(_table(tally.rows()), file=stream, flush=True)
    return tally


def main(speed: float = 1.0) -> int:
    """The ``resilience demo`` command: play the demo on standard output; 0 when done."""
    try:
        _check_speed(speed)
    except (TypeError, ValueError) as exc:
        raise ResilienceError(str(exc)) from exc
    run(speed=speed)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``resilience demo``: play the showcase."""
    return main(speed=args.speed)
