"""Exceptions of each category (through user rules) and small call recorders for policy tests."""

from __future__ import annotations

from typing import Any

from resilience import Classifier
from resilience.classify import qualified_name


class Flaky(Exception):
    """A failure the test classifier calls retryable."""


class Denied(Exception):
    """A failure the test classifier calls auth."""


class QueueFull(Exception):
    """A failure the test classifier calls queue-related."""


class Broken(Exception):
    """A failure the test classifier calls permanent."""


CLASSIFIER = Classifier(
    rules={
        qualified_name(Flaky): "retryable",
        qualified_name(Denied): "auth",
        qualified_name(QueueFull): "queue",
        qualified_name(Broken): "permanent",
    }
)


class Script:
    """A function that raises the given exceptions in turn, then returns ``value``."""

    def __init__(self, *failures: BaseException, value: Any = "ok") -> None:
        self.failures = list(failures)
        self.value = value
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        if self.failures:
            raise self.failures.pop(0)
        return self.value

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        return self(*args, **kwargs)


def named(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The captured events called ``name``."""
    return [e for e in events if e["event"] == name]
