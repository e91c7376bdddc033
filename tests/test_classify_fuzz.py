"""The classifier never raises, never warns, and never replaces the caller's exception.

Hypothesis builds exception classes on real library bases (botocore, aiomqtt, grpc, aiohttp,
requests, httpx, websockets, the standard library) whose attributes are properties that
raise, warn or return odd values, whose ``__getattr__`` misbehaves, whose ``__module__`` is
gone, and instances whose attributes hold anything at all (unhashable or huge codes, a
``response`` of any shape), chained to one another, cycles included.
"""

from __future__ import annotations

import socket
import urllib.error
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resilience import Category, Classifier, Policy, Retry, Verdict, classify, explain
from resilience.classify import default_classifier
from resilience.testing import no_wait

_BASES: list[type[BaseException]] = [
    Exception,
    OSError,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    urllib.error.URLError,
]


def _optional_bases() -> None:
    import aiohttp
    import aiomqtt
    import botocore.exceptions
    import grpc
    import httpx
    import requests
    import websockets.exceptions

    _BASES.extend(
        [
            botocore.exceptions.ClientError,
            botocore.exceptions.EventStreamError,
            botocore.exceptions.SSLError,
            botocore.exceptions.EndpointConnectionError,
            aiomqtt.MqttError,
            aiomqtt.MqttCodeError,
            grpc.RpcError,
            aiohttp.ClientResponseError,
            aiohttp.ClientConnectorError,
            requests.HTTPError,
            requests.ConnectionError,
            httpx.HTTPStatusError,
            httpx.ConnectError,
            websockets.exceptions.ConnectionClosed,
            websockets.exceptions.InvalidStatus,
        ]
    )


_optional_bases()

#: Every attribute some reader looks at.
NAMES = [
    "response", "rc", "code", "status", "status_code", "http_status_code", "error_code",
    "headers", "errno", "operation_name", "kwargs", "reason", "original_error",
    "trailing_metadata", "rcvd", "sent", "os_error", "value", "args",
]  # fmt: skip


class Boom(Exception):
    """What a misbehaving attribute raises."""


class Odd:
    """A value whose every protocol method misbehaves."""

    def __init__(self, how: str) -> None:
        self.how = how

    def _misbehave(self, *args: object) -> Any:
        if self.how == "warn":
            warnings.warn("odd value", DeprecationWarning, stacklevel=2)
            return 0
        raise Boom(self.how)

    __hash__ = __eq__ = __getitem__ = __len__ = __iter__ = __bool__ = __int__ = __index__ = (  # type: ignore[assignment]
        _misbehave
    )
    get = items = lower = decode = __str__ = __call__ = _misbehave  # type: ignore[assignment]


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**30, max_value=10**40),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["ThrottlingException", "throttlingException", "Retry-After", "503", "-1"]),
    st.binary(max_size=10),
    st.builds(Odd, st.sampled_from(["warn", "raise"])),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(
            st.sampled_from(
                [
                    "Error",
                    "Code",
                    "ResponseMetadata",
                    "HTTPStatusCode",
                    "HTTPHeaders",
                    "retry-after",
                    "error",
                ]
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=8,
)


def _misbehaving(how: str, value: object) -> Callable[[object], object]:
    def read(self: object) -> object:
        if how == "raise":
            raise Boom("property")
        if how == "warn":
            warnings.warn("deprecated attribute", DeprecationWarning, stacklevel=2)
        return value

    return read


def _method(read: Callable[[object], object]) -> Callable[..., object]:
    def method(self: object, *args: object) -> object:
        return read(self)

    return method


@st.composite
def odd_exceptions(  # noqa: PLR0912 - one branch per way of misbehaving
    draw: st.DrawFn, depth: int = 0, printable: bool = False
) -> BaseException:
    base = draw(st.sampled_from(_BASES))
    namespace: dict[str, Any] = {}
    if printable:  # an exception whose str() and repr() work
        namespace["__str__"] = namespace["__repr__"] = lambda self: "odd"
    for name in draw(st.lists(st.sampled_from(NAMES), max_size=4, unique=True)):
        if name == "args":
            continue
        how = draw(st.sampled_from(["raise", "warn", "value"]))
        value = draw(_values)
        if draw(st.booleans()):
            namespace[name] = property(_misbehaving(how, value))
        else:
            namespace[name] = _method(_misbehaving(how, value))
    if not printable and draw(st.booleans()):
        how = draw(st.sampled_from(["raise", "warn"]))
        namespace["__getattr__"] = _method(_misbehaving(how, None))
    cls = type(draw(st.sampled_from(["Odd", "Weird", "X"])), (base,), namespace)
    module = draw(st.sampled_from(["keep", "delete", "number"]))
    try:
        if module == "delete":
            del cls.__module__
        elif module == "number":
            cls.__module__ = 42  # type: ignore[assignment]
    except TypeError:
        pass  # a base that makes its subclasses immutable
    exc = cls.__new__(cls)
    for name in draw(st.lists(st.sampled_from(NAMES), max_size=5, unique=True)):
        if name in namespace:
            continue
        value = draw(_values)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # aiohttp's deprecated `code` setter warns
                if name == "args":
                    exc.args = value if isinstance(value, tuple) else (value,)
                else:
                    object.__setattr__(exc, name, value)
        except Exception:  # noqa: S112 - a setter that refuses: leave it unset
            continue
    if depth < 2 and draw(st.booleans()):
        inner = draw(odd_exceptions(depth + 1, printable))
        if draw(st.booleans()):
            exc.__cause__ = inner
        else:
            exc.__context__ = inner
            exc.__suppress_context__ = draw(st.booleans())
        if draw(st.booleans()):
            inner.__context__ = exc  # a cycle
    return exc


def _quietly(call: Callable[[], Any]) -> Any:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = call()
    assert not seen, [f"{w.category.__name__}: {w.message}" for w in seen]
    return result


CLASSIFIERS = [
    default_classifier(),
    Classifier(rules={"builtins.OSError": {"codes": {"ECONNRESET": "auth"}}}, default="retryable"),
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exc=odd_exceptions(), which=st.sampled_from([0, 1]))
def test_the_classifier_never_raises_nor_warns(exc: BaseException, which: int) -> None:
    classifier = CLASSIFIERS[which]
    for _ in range(2):  # the second time through the caches
        category = _quietly(lambda: classifier.classify(exc))
        verdict = _quietly(lambda: classifier.explain(exc))
        assessed = _quietly(lambda: classifier.assess(exc))
        assert isinstance(category, Category)
        assert isinstance(verdict, Verdict)
        assert verdict.category is category
        assert assessed[0] is category
        assert assessed[1] is None or assessed[1] >= 0
        assert isinstance(assessed[2], bool)
        assert all(isinstance(name, str) for name in verdict.via)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exc=odd_exceptions())
def test_the_module_functions_under_error_filters(exc: BaseException) -> None:
    # pytest's filterwarnings=error is in force here: a warning would be an exception.
    assert isinstance(classify(exc), Category)
    assert isinstance(explain(exc), Verdict)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exc=odd_exceptions(printable=False))
def test_a_policy_always_propagates_the_callers_own_exception(exc: BaseException) -> None:
    policy = Policy("odd", retry=Retry(attempts=3))
    calls = 0

    def flaky() -> None:
        nonlocal calls
        calls += 1
        raise exc

    with no_wait(), warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(BaseException) as caught:  # noqa: PT011 - the very instance is checked
            policy.call(flaky)
    assert caught.value is exc
    assert 1 <= calls <= 3
    assert not [w for w in seen if "resilience" in (w.filename or "")]


def _unprintable() -> BaseException:
    cls = type("Unprintable", (urllib.error.URLError,), {})
    return cls.__new__(cls)  # no reason set: str(exc) raises AttributeError


def _no_notes() -> BaseException:
    def refuse(self: object, name: str) -> object:
        raise Boom(name)

    return type("NoNotes", (ConnectionError,), {"__getattr__": refuse})()


# Found by the test above: the engine's own handling must cope too (events print the
# exception's message, the give-up note reads its notes).
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(_unprintable, id="events.py calls str(exc), which raises"),
        pytest.param(
            _no_notes, id="policy.py add_note() reads __notes__ via a raising __getattr__"
        ),
    ],
)
def test_a_policy_propagates_an_exception_it_cannot_print_or_annotate(
    make: Callable[[], BaseException],
) -> None:
    exc = make()
    assert classify(exc) is Category.RETRYABLE  # the classifier itself copes

    def fails() -> None:
        raise exc

    with no_wait(), pytest.raises(BaseException) as caught:  # noqa: PT011
        Policy("odd", retry=Retry(attempts=2)).call(fails)
    assert caught.value is exc
