"""The shape of a policy file, as pydantic models: structure checks and the JSON Schema.

The models check structure only: which keys exist, which are required, and which values are
mappings. Every leaf value is ``SkipValidation``: it reaches the spec constructors (``Retry``,
``Backoff``, ``Breaker``, ...) exactly as written, so YAML and Python share one validation
path and one set of messages. The leaves' types, defaults and bounds are still declared, for
the JSON Schema an editor uses; pydantic doesn't enforce them here.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SkipValidation, ValidationError
from pydantic_core import PydanticCustomError

from resilience._config_build import REFERENCE
from resilience._config_yaml import Document, KeyPath, describe, unknown_key
from resilience.backoff import Backoff, Jitter
from resilience.breaker import Breaker
from resilience.budget import Budget
from resilience.retry import Queue, QueueAction, Retry
from resilience.storage import RedisStorage

__all__ = ["PolicyFile", "check_structure", "json_schema"]

CategoryName = Literal["retryable", "auth", "queue", "permanent"]

_BACKOFF = Backoff()
_QUEUE = Queue()
_RETRY = Retry()
_BREAKER = Breaker()
_BUDGET = Budget()
_REDIS = RedisStorage(url="redis://localhost")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BackoffSection(_Section):
    """The waits between attempts: exponential backoff with jitter."""

    initial: SkipValidation[float] = Field(
        _BACKOFF.initial, ge=0, description="Seconds before the first retry (the base delay)."
    )
    maximum: SkipValidation[float] = Field(
        _BACKOFF.maximum, gt=0, description="No wait is longer than this many seconds."
    )
    multiplier: SkipValidation[float] = Field(
        _BACKOFF.multiplier, ge=1, description="Growth of the base delay per retry."
    )
    jitter: SkipValidation[Jitter] = Field(
        _BACKOFF.jitter,
        description="none: the base delay; full: uniform(0, base); equal: base/2 + "
        "uniform(0, base/2); decorrelated: min(maximum, uniform(initial, previous * 3)).",
    )


class QueueBackoffSection(BackoffSection):
    """The waits between attempts after queue-related failures."""

    initial: SkipValidation[float] = Field(
        _QUEUE.backoff.initial, ge=0, description="Seconds before the first retry."
    )
    maximum: SkipValidation[float] = Field(
        _QUEUE.backoff.maximum, gt=0, description="No wait is longer than this many seconds."
    )
    jitter: SkipValidation[Jitter] = Field(
        _QUEUE.backoff.jitter, description="none, full, equal or decorrelated."
    )


class BudgetSection(_Section):
    """Retries allowed only while they stay under a share of the policy's recent calls."""

    ratio: SkipValidation[float] = Field(
        _BUDGET.ratio,
        ge=0,
        le=1,
        description="Retries allowed per call over the window (0.1: one retry for ten calls).",
    )
    min_per_second: SkipValidation[float] = Field(
        _BUDGET.min_per_second,
        ge=0,
        description="Retries per second allowed whatever the traffic, so quiet policies retry.",
    )
    window: SkipValidation[float] = Field(
        _BUDGET.window, gt=0, description="Seconds of history the ratio is taken over."
    )
    shared: SkipValidation[bool] = Field(
        False,
        description="Share the budget with every process, in breaker_storage.redis (which "
        "must be set); false: each process counts its own calls.",
    )


class RetrySection(_Section):
    """How retryable failures are retried."""

    attempts: SkipValidation[int] = Field(
        _RETRY.attempts, ge=1, description="Calls in all, the first included: 1 never retries."
    )
    deadline: SkipValidation[float | None] = Field(
        _RETRY.deadline,
        gt=0,
        description="Seconds the whole loop may take; no sleep is started that would end "
        "past it. null: no deadline.",
    )
    attempt_timeout: SkipValidation[float | None] = Field(
        _RETRY.attempt_timeout,
        gt=0,
        description="Seconds one attempt of an async function may run before it is cancelled "
        "and treated as a retryable TimeoutError. null: no timeout.",
    )
    backoff: BackoffSection | None = Field(None, description="The waits between attempts.")
    budget: BudgetSection | None = Field(
        None, description="Caps retries at a share of recent calls; none without it."
    )


class QueueSection(_Section):
    """What to do with queue-related failures (a client's offline queue is full or disabled)."""

    action: SkipValidation[QueueAction] = Field(
        _QUEUE.action,
        description="fallback: use the policy's fallback (raise without one); retry: retry on "
        "this section's attempts and backoff; raise: fail at once.",
    )
    attempts: SkipValidation[int] = Field(
        _QUEUE.attempts, ge=1, description="Calls in all for a queue-related failure (retry)."
    )
    backoff: QueueBackoffSection | None = Field(None, description="The waits between them.")


class BreakerSection(_Section):
    """When to stop calling a failing remote side, and when to try it again."""

    fail_max: SkipValidation[int] = Field(
        _BREAKER.fail_max, ge=1, description="Consecutive retryable failures that open it."
    )
    reset_timeout: SkipValidation[float] = Field(
        _BREAKER.reset_timeout, gt=0, description="Seconds it stays open before trial calls."
    )
    half_open_calls: SkipValidation[int] = Field(
        _BREAKER.half_open_calls,
        ge=1,
        description="Trial calls at a time while half-open; that many successes close it.",
    )


class FallbackSection(_Section):
    """A fallback with the categories it applies to."""

    function: SkipValidation[str] = Field(
        pattern=f"^{REFERENCE.pattern}$",
        description="module:function, imported when the file is loaded.",
    )
    on: SkipValidation[list[CategoryName]] = Field(
        default_factory=lambda: list(get_args(CategoryName)),
        min_length=1,
        description="The categories of failure it handles (every category when omitted).",
    )


def _fallback_shorthand(value: object) -> object:
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, str):
        return {"function": value}
    raise PydanticCustomError(
        "fallback_type",
        "expected 'module:function' or a mapping with the keys function, on; got {found}",
        {"found": describe(value)},
    )


Fallback = Annotated[
    FallbackSection | None,
    BeforeValidator(_fallback_shorthand, json_schema_input_type=str | FallbackSection | None),
]


class PolicySection(_Section):
    """One policy; each part is optional (deep-merged over `defaults`)."""

    retry: RetrySection | None = Field(None, description="Without it a call is tried once.")
    breaker: BreakerSection | None = Field(None, description="Without it nothing is broken.")
    queue: QueueSection | None = Field(None, description="Queue-related failures.")
    fallback: Fallback = Field(
        None, description="module:function called when a call fails for good; or a mapping."
    )


class RedisSection(_Section):
    """Breaker state in Redis, shared by every process using the same namespace."""

    url: SkipValidation[str] = Field(description="redis://[user:password@]host:port/db")
    namespace: SkipValidation[str] = Field(
        _REDIS.namespace,
        min_length=1,
        description="Key prefix; each circuit lives under <namespace>:<policy name>.",
    )
    reconnect_interval: SkipValidation[float] = Field(
        _REDIS.reconnect_interval,
        ge=0,
        description="After Redis failed, seconds before trying it again; meanwhile each "
        "process uses an in-process breaker.",
    )
    timeout: SkipValidation[float] = Field(
        _REDIS.timeout,
        gt=0,
        description="Seconds a Redis command (or connecting) may take before Redis counts as "
        "unreachable.",
    )


class StorageSection(_Section):
    """Where breaker state lives; in each process's memory when the section is absent."""

    redis: RedisSection


class RuleSection(_Section):
    """Categories by error code and by HTTP status (or family such as 5xx)."""

    codes: SkipValidation[dict[str, CategoryName]] | None = Field(
        None, description="Error code (ClientError code, MQTT rc, errno name) -> category."
    )
    statuses: SkipValidation[dict[str, CategoryName]] | None = Field(
        None, description="HTTP status (503) or family (5xx) -> category."
    )


ClassName = Annotated[str, Field(pattern=r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")]


class PolicyFile(_Section):
    """A resilience policy file."""

    model_config = ConfigDict(title="resilience policy file")

    version: SkipValidation[Literal[1]] = Field(description="The file format version: 1.")
    defaults: PolicySection | None = Field(
        None, description="Deep-merged under every policy; a policy's own keys win."
    )
    breaker_storage: StorageSection | None = Field(
        None, description="Shared breaker state for every policy's breaker."
    )
    classify: SkipValidation[dict[ClassName, CategoryName | RuleSection]] | None = Field(
        None,
        description="Rules tried before the built-in catalogs: qualified class name -> "
        "category, or -> {codes: {...}, statuses: {...}}.",
    )
    policies: dict[str, PolicySection | None] = Field(description="The policies, by name.")


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a policy file."""
    schema = PolicyFile.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


# --- messages --------------------------------------------------------------------------------


def _unwrap(annotation: Any) -> tuple[type[BaseModel] | None, Any]:
    """The model a field holds, or the value type of the dict it holds."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    candidates = (
        get_args(annotation)
        if get_origin(annotation) in (Union, types.UnionType)
        else (annotation,)
    )
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate, None
        if get_origin(candidate) is dict:
            return None, get_args(candidate)[1]
    return None, None


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    annotation: Any = PolicyFile
    for part in loc:
        model, values = _unwrap(annotation)
        if model is not None and part in model.model_fields:
            annotation = model.model_fields[part].annotation
        elif values is not None:
            annotation = values
        else:
            return None
    return _unwrap(annotation)[0]


def _keys(model: type[BaseModel] | None) -> list[str]:
    return list(model.model_fields) if model is not None else []


def _message(error: Any) -> tuple[KeyPath, str]:
    loc: KeyPath = tuple(error["loc"])
    kind = error["type"]
    if kind in ("extra_forbidden", "invalid_key"):  # invalid_key: an extra key, not a str
        return loc, unknown_key(loc[-1], _keys(_model_at(loc[:-1])))
    if kind == "missing":
        return loc[:-1], f"missing the required key {loc[-1]!r}"
    if loc and loc[-1] == "[key]":
        return loc[:-1], f"expected a string as the key, got {describe(loc[-2])}"
    if kind in ("model_type", "dict_type"):
        keys = _keys(_model_at(loc))
        expected = f"a mapping with the keys {', '.join(keys)}" if keys else "a mapping"
        return loc, f"expected {expected}; got {describe(error['input'])}"
    return loc, str(error["msg"])


def check_structure(document: Document) -> None:
    """Check the keys and mappings of a parsed policy file (not the leaf values).

    Raises:
        ConfigError: about the first problem in the file (missing keys last, since an
            unknown key is often the misspelt missing one).
    """
    try:
        PolicyFile.model_validate(document.data)
    except ValidationError as exc:
        found = [_message(error) for error in exc.errors()]
        missing = [error["type"] == "missing" for error in exc.errors()]
        ranked = sorted(
            zip(missing, found, strict=True),
            key=lambda item: (item[0], document.line(item[1][0]) or 0),
        )
        path, message = ranked[0][1]
        raise document.error(path, message) from exc
