"""Use `resilience` with tenacity: its classifier, backoff, attempts and deadline.

::

    import tenacity
    from resilience.adapters.tenacity import retry_if_retryable, tenacity_kwargs, wait_for

    @tenacity.retry(retry=retry_if_retryable(), stop=tenacity.stop_after_attempt(5),
                    wait=wait_for(Backoff()), reraise=True)
    def fetch(): ...

    @tenacity.retry(**tenacity_kwargs(policy))  # retries as ``policy`` would
    def fetch(): ...

Each function returns tenacity's own objects, to combine with its others (``|``, ``&``).
``tenacity_kwargs`` maps a policy's retry part only: its breaker, fallback and listeners
stay with the policy (call through the policy for those, or use
:mod:`resilience.adapters.pybreaker` for a pybreaker breaker).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from tenacity import RetryCallState
from tenacity.retry import retry_base
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from resilience.categories import Category
from resilience.classify import Classifier, default_classifier
from resilience.elements.retry import Queue, Retry, Retrying

if TYPE_CHECKING:
    from resilience.elements.backoff import Backoff
    from resilience.engine.policy import Policy

__all__ = ["retry_if_retryable", "stop_for", "tenacity_kwargs", "wait_for"]


def _failure(retry_state: RetryCallState) -> BaseException | None:
    outcome = retry_state.outcome
    if outcome is None or not outcome.failed:
        return None
    return outcome.exception()


class _Categories:
    """The category of each attempt's exception, by one classifier (the default one, built
    at the first failure, when none is given)."""

    def __init__(self, classifier: Classifier | None) -> None:
        self._classifier = classifier

    def assess(self, exc: BaseException) -> tuple[Category, float | None]:
        classifier = self._classifier or default_classifier()
        category, hint, _ = classifier.assess(exc)
        return category, hint


class _RetryIfRetryable(retry_base):
    def __init__(self, categories: _Categories, also: frozenset[Category]) -> None:
        self._categories = categories
        self._also = also

    def __call__(self, retry_state: RetryCallState) -> bool:
        exc = _failure(retry_state)
        if not isinstance(exc, Exception):  # success, or cancellation and exits: never
            return False
        category = self._categories.assess(exc)[0]
        return category is Category.RETRYABLE or category in self._also


def retry_if_retryable(classifier: Classifier | None = None) -> retry_base:
    """A tenacity ``retry=`` that retries the exceptions ``classifier`` (the default one when
    ``None``) calls retryable: timeouts, lost connections, throttling, 5xx; never an auth
    failure or a bug.

    Raises:
        TypeError: ``classifier`` is not a :class:`~resilience.Classifier`.
    """
    return _RetryIfRetryable(_Categories(_checked(classifier)), frozenset())


def wait_for(backoff: Backoff) -> wait_base:
    """A fresh tenacity wait following ``backoff`` (one per retry sequence: decorrelated
    jitter remembers the previous delay)."""
    return backoff.wait()


class _StopFor(stop_base):
    """Stop as :class:`Retrying` would: attempts counted per category, and no sleep that
    would end past the deadline."""

    def __init__(self, retrying: Retrying, categories: _Categories) -> None:
        self._retrying = retrying
        self._categories = categories

    def __call__(self, retry_state: RetryCallState) -> bool:
        exc = _failure(retry_state)
        category = self._categories.assess(exc)[0] if exc is not None else Category.RETRYABLE
        if retry_state.attempt_number >= self._retrying.limit(category):
            return True
        deadline = self._retrying.deadline
        if deadline is None:
            return False
        elapsed = retry_state.seconds_since_start or 0.0
        return elapsed + getattr(retry_state, "upcoming_sleep", 0.0) > deadline


def stop_for(retry: Retry, classifier: Classifier | None = None) -> stop_base:
    """A tenacity ``stop=`` that ends as ``retry`` does: after ``retry.attempts`` calls in
    all, and before a sleep that would end past ``retry.deadline``.

    Raises:
        TypeError: ``retry`` is not a :class:`~resilience.Retry`.
    """
    if not isinstance(retry, Retry):
        msg = f"stop_for() takes a resilience.Retry (got {retry!r})"
        raise TypeError(msg)
    return _StopFor(Retrying(retry, None), _Categories(_checked(classifier)))


class _PolicyWait(wait_base):
    """Wait as a policy would: its backoff for the failure's category, lengthened to the
    server's hint when the retry spec allows."""

    def __init__(self, retrying: Retrying, categories: _Categories) -> None:
        self._retrying = retrying
        self._categories = categories
        # Per call (tenacity shares one wait object between concurrent calls): the retries
        # so far and the previous delay (decorrelated jitter), by category.
        self._calls: weakref.WeakKeyDictionary[
            RetryCallState, dict[Category, tuple[int, float]]
        ] = weakref.WeakKeyDictionary()

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = _failure(retry_state)
        category, hint = (
            self._categories.assess(exc) if exc is not None else (Category.RETRYABLE, None)
        )
        retry, queue = self._retrying.retry, self._retrying.queue
        backoff = queue.backoff if category is Category.QUEUE else retry.backoff
        so_far = self._calls.setdefault(retry_state, {})
        retries, previous = so_far.get(category, (0, None))
        delay = backoff.delay(retries + 1, previous)
        so_far[category] = (retries + 1, delay)
        if hint is not None and retry.hints:
            delay = max(delay, min(hint, retry.max_hint))
        return delay


def tenacity_kwargs(policy: Policy) -> dict[str, Any]:
    """``retry``, ``stop``, ``wait`` and ``reraise`` for ``tenacity.retry(**...)`` or
    ``tenacity.Retrying(**...)``, so tenacity retries as ``policy`` would: the same
    classifier, attempts, deadline, backoff and server hints, queue-related retries when the
    policy's ``Queue(action="retry")`` asks, and the last original exception re-raised.

    Raises:
        TypeError: ``policy`` is not a :class:`~resilience.Policy`.
    """
    from resilience.engine.policy import Policy  # noqa: PLC0415 - the engine when used

    if not isinstance(policy, Policy):
        msg = f"tenacity_kwargs() takes a resilience.Policy (got {policy!r})"
        raise TypeError(msg)
    retrying = Retrying(policy.retry, policy.queue)
    categories = _Categories(policy.classifier)
    queue: Queue = retrying.queue
    also = frozenset({Category.QUEUE}) if queue.action == "retry" else frozenset()
    return {
        "retry": _RetryIfRetryable(categories, also),
        "stop": _StopFor(retrying, categories),
        "wait": _PolicyWait(retrying, categories),
        "reraise": True,
    }


def _checked(classifier: Classifier | None) -> Classifier | None:
    if classifier is not None and not isinstance(classifier, Classifier):
        msg = f"expected a resilience.Classifier or None (got {classifier!r})"
        raise TypeError(msg)
    return classifier
