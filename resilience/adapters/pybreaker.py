"""Use `resilience`'s classifier with pybreaker: count only the failures worth breaking for.

::

    import pybreaker
    from resilience.adapters.pybreaker import not_retryable

    breaker = pybreaker.CircuitBreaker(fail_max=5, exclude=[not_retryable()])

pybreaker counts every exception as a failure unless ``exclude`` says otherwise. With
``not_retryable()`` it counts only what the classifier calls retryable (timeouts, lost
connections, throttling, 5xx), as a policy's own breaker does: an auth failure, a bad
request or a bug in the caller means the remote side answered, and does not open the
circuit.
"""

from __future__ import annotations

from collections.abc import Callable

from resilience.categories import Category
from resilience.classify import Classifier, default_classifier

__all__ = ["not_retryable"]


def not_retryable(classifier: Classifier | None = None) -> Callable[[BaseException], bool]:
    """An ``exclude=`` entry for ``pybreaker.CircuitBreaker``: true for every exception that
    ``classifier`` (the default one when ``None``) does not call retryable.

    Raises:
        TypeError: ``classifier`` is not a :class:`~resilience.Classifier`.
    """
    if classifier is not None and not isinstance(classifier, Classifier):
        msg = f"not_retryable() takes a resilience.Classifier or None (got {classifier!r})"
        raise TypeError(msg)

    def excluded(exc: BaseException) -> bool:
        """Whether pybreaker should not count ``exc`` as a failure."""
        found = classifier or default_classifier()
        return found.assess(exc)[0] is not Category.RETRYABLE

    excluded.__qualname__ = "not_retryable"
    return excluded
