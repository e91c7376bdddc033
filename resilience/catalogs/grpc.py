"""grpcio: ``grpc.RpcError`` by its status ``code()``, and every other class of the package.

Reasons follow gRPC's retry design (gRFC A6) and Google's AIP-194: ``UNAVAILABLE`` is the
transient code; ``RESOURCE_EXHAUSTED`` is throttling, and ``ABORTED`` a concurrency conflict
worth a retry of the whole operation; ``DEADLINE_EXCEEDED`` is a timeout, retried on a new
deadline (we differ from A6 here, whose deadline spans every attempt: a policy sets its own).
``UNAUTHENTICATED`` and ``PERMISSION_DENIED`` are auth; every other code is permanent,
``INTERNAL`` and ``UNKNOWN`` included, as AIP-194 advises.

Server pushback (A6): trailing metadata ``grpc-retry-pushback-ms`` is the server's hint, in
milliseconds; a negative or unreadable value means "do not retry", so the reader then adds
the pseudo-code ``pushback-stop``, which comes before the status code and is permanent.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Hashable
from enum import Enum

from resilience.catalogs import Catalog, Code, Reader, Reading, by_class, by_code
from resilience.catalogs._read import as_str, attr, call, quiet, trusted_type
from resilience.categories import Category

R, A, Q, P = Category.RETRYABLE, Category.AUTH, Category.QUEUE, Category.PERMANENT

_RPC = "grpc.RpcError"
PUSHBACK = "grpc-retry-pushback-ms"
STOP = "pushback-stop"
_MILLIS = re.compile(r"-?\d{1,10}")
_INT32 = 2**31 - 1


def _status_name(exc: BaseException) -> str | None:
    code = call(exc, "code")
    if issubclass(type(code), Enum):
        return as_str(attr(code, "_name_"))
    return None


def _pushback(exc: BaseException) -> str | None:
    """The raw ``grpc-retry-pushback-ms`` value, if the server sent one."""
    metadata = call(exc, "trailing_metadata")
    if metadata is None or type(metadata) is str:
        return None
    if type(metadata) is tuple:
        pairs: object = metadata[:64]
    elif trusted_type(type(metadata)):  # grpc.aio's Metadata
        try:
            pairs = tuple(itertools.islice(metadata, 64))
        except Exception:  # noqa: BLE001 - metadata of an odd shape: no pushback
            return None
    else:
        pairs = quiet(lambda: tuple(itertools.islice(metadata, 64)))
    if type(pairs) is not tuple:
        return None
    for pair in pairs:
        if type(pair) is tuple or issubclass(type(pair), tuple):
            items = tuple.__getitem__(pair, slice(0, 2))  # a namedtuple: its own fields, no code
            if len(items) == 2 and as_str(items[0]) == PUSHBACK:
                value = items[1]
                return (
                    value.decode("ascii", "replace")
                    if type(value) is bytes
                    else as_str(value) or "?"
                )
    return None


def _read(exc: BaseException) -> Reading:
    name = _status_name(exc)
    codes: list[Code] = []
    pushback = _pushback(exc)
    if pushback is not None and _hint_of(pushback) is None:
        codes.append(STOP)
    if name:
        codes.append(name)
    return tuple(codes), None


def _hint_of(pushback: str) -> float | None:
    text = pushback.strip()
    if not _MILLIS.fullmatch(text):
        return None
    millis = int(text)
    return millis / 1000 if 0 <= millis <= _INT32 else None


def _hint(exc: BaseException) -> float | None:
    pushback = _pushback(exc)
    return _hint_of(pushback) if pushback is not None else None


def _key(exc: BaseException) -> Hashable:
    # Only calls with no trailing metadata are remembered (metadata may carry a pushback);
    # the status code is a grpc.StatusCode member, hashable and plain.
    # (grpc.aio's Metadata is asked by its own dict: its __len__ sums every value's length.)
    metadata = exc.trailing_metadata()  # type: ignore[attr-defined]
    if metadata is not None and (metadata if type(metadata) is tuple else metadata._metadata):
        raise TypeError
    return exc.code()  # type: ignore[attr-defined, no-any-return]


def _spell(raw: str) -> tuple[Code, ...]:
    text = raw.strip()
    if text.isdigit():
        number = int(text)
        return (_NUMBERS[number],) if number in _NUMBERS else (text,)
    return (text.upper().removeprefix("STATUSCODE."),)


# grpc.StatusCode: (name, number, category, reason)
_CODES = (
    ("OK", 0, P, "status OK raised as an error: nothing to retry"),
    ("CANCELLED", 1, P, "the call was cancelled, usually by the caller"),
    ("UNKNOWN", 2, P, "an unknown error, usually an exception in the server's handler"),
    ("INVALID_ARGUMENT", 3, P, "the request is invalid: fix it"),
    (
        "DEADLINE_EXCEEDED",
        4,
        R,
        "the deadline passed before an answer; a retry gets a new deadline (AIP-194: retry "
        "idempotent calls)",
    ),
    ("NOT_FOUND", 5, P, "the entity does not exist"),
    ("ALREADY_EXISTS", 6, P, "the entity already exists"),
    ("PERMISSION_DENIED", 7, A, "the caller may not do this"),
    (
        "RESOURCE_EXHAUSTED",
        8,
        R,
        "a quota or rate limit is exhausted: throttled, back off (the server's pushback says "
        "how long)",
    ),
    ("FAILED_PRECONDITION", 9, P, "the system is not in the state the call needs: fix that first"),
    ("ABORTED", 10, R, "aborted by a concurrency conflict: retry the operation (AIP-194)"),
    ("OUT_OF_RANGE", 11, P, "the request is out of range: fix it"),
    ("UNIMPLEMENTED", 12, P, "the method is not implemented by the server"),
    ("INTERNAL", 13, P, "an internal error: AIP-194 advises not to retry it"),
    (
        "UNAVAILABLE",
        14,
        R,
        "the service is unavailable for now: the code gRPC's retry design (A6) retries",
    ),
    ("DATA_LOSS", 15, P, "unrecoverable data loss or corruption"),
    ("UNAUTHENTICATED", 16, A, "no valid credentials for the call"),
)
_NUMBERS = {number: name for name, number, _, _ in _CODES}

_OTHER = {
    "grpc.FutureCancelledError": (P, "the future was cancelled"),
    "grpc.FutureTimeoutError": (R, "the future did not finish in time"),
    "grpc.experimental.UsageError": (P, "an experimental API misused: a programming error"),
    "grpc.experimental.ExperimentalApiWarning": (P, "a warning (raised only under -W error)"),
    "grpc._cython.cygrpc.BaseError": (P, "a grpc core error"),
    "grpc._cython.cygrpc.AbortError": (P, "the server handler aborted the call"),
    "grpc._cython.cygrpc.InternalError": (P, "a grpc core internal error"),
    "grpc._cython.cygrpc.ExecuteBatchError": (P, "a grpc core batch failed"),
    "grpc._cython.cygrpc.UsageError": (P, "the grpc core API misused: a programming error"),
    "grpc._cython.cygrpc._ServerStoppedError": (P, "the server stopped"),
    "grpc._cython.cygrpc._RequestCallError": (P, "the server could not request a call"),
    "grpc._cython.cygrpc._WatchConnectivityFailed": (R, "watching the channel's state failed"),
    "grpc._cython.cygrpc.AioRpcStatus": (P, "an asyncio call status, raised internally"),
    "grpc.framework.foundation.abandonment.Abandoned": (P, "the operation was abandoned"),
    "grpc.framework.foundation.future.CancelledError": (P, "the future was cancelled"),
    "grpc.framework.foundation.future.TimeoutError": (R, "the future did not finish in time"),
    "grpc.framework.interfaces.base.base.NoSuchMethodError": (P, "no such method"),
    "grpc.framework.interfaces.face.face.NoSuchMethodError": (P, "no such method"),
    "grpc.framework.interfaces.face.face.AbortionError": (P, "the RPC was aborted"),
    "grpc.framework.interfaces.face.face.CancellationError": (P, "the RPC was cancelled"),
    "grpc.framework.interfaces.face.face.ExpirationError": (R, "the RPC's deadline passed"),
    "grpc.framework.interfaces.face.face.LocalError": (P, "the RPC failed locally"),
    "grpc.framework.interfaces.face.face.LocalShutdownError": (P, "the local side shut down"),
    "grpc.framework.interfaces.face.face.NetworkError": (R, "the network failed"),
    "grpc.framework.interfaces.face.face.RemoteError": (P, "the remote side failed"),
    "grpc.framework.interfaces.face.face.RemoteShutdownError": (R, "the remote side shut down"),
}

CATALOG = Catalog(
    "grpc",
    "grpcio: RpcError by status code as gRPC's retry design sees it, server pushback "
    "(grpc-retry-pushback-ms), the package's other errors",
    (
        by_class(_RPC, P, "an RpcError without a status code: nothing says it is transient"),
        by_code(_RPC, STOP, P, "the server's grpc-retry-pushback-ms asks not to retry (gRFC A6)"),
        *(by_code(_RPC, name, cat, reason) for name, _, cat, reason in _CODES),
        by_class("grpc._channel._InactiveRpcError", None, "a finished call: by its status code"),
        by_class("grpc._channel._Rendezvous", None, "a call: by its status code"),
        by_class("grpc._channel._MultiThreadedRendezvous", None, "a streaming call: by its code"),
        by_class("grpc._channel._SingleThreadedRendezvous", None, "a streaming call: by its code"),
        by_class("grpc._interceptor._FailureOutcome", None, "an interceptor's failure: by code"),
        by_class("grpc.aio._call.AioRpcError", None, "an asyncio call: by its status code"),
        *(by_class(name, cat, reason) for name, (cat, reason) in _OTHER.items()),
    ),
    readers=(
        Reader(
            _RPC, _read, hint=_hint, key=_key, reads=("code", "trailing_metadata"), spell=_spell
        ),
    ),
)
