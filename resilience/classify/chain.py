"""Cause chains: the exception a generic wrapper stands for.

A wrapper that says nothing specific (a catalog row marked ``defers``: aiomqtt's ``MqttError``,
requests' ``ConnectionError``, botocore's ``SSLError``) is decided by the first specific
verdict inward along its chain. The next link of an exception is, in order: its
``__cause__``, else what its family's reader finds (botocore keeps the underlying error in
``kwargs["error"]``; aiomqtt and httpcore convert an error with ``from None``, so their readers
return it anyway), else ``__context__`` unless ``__suppress_context__`` is set. Links no rule
knows are passed through; the walk stops after :data:`MAX_LINKS` links, so a cycle (which
``__context__`` assigned by hand can make) ends too.

The links are read through ``BaseException``'s own descriptors, never a subclass's property.
"""

from __future__ import annotations

from resilience.catalogs import Reader

__all__ = ["MAX_LINKS", "next_link"]

#: Links followed inward from a wrapper at most.
MAX_LINKS = 16

_CAUSE = BaseException.__dict__["__cause__"].__get__
_CONTEXT = BaseException.__dict__["__context__"].__get__
_SUPPRESS = BaseException.__dict__["__suppress_context__"].__get__


def next_link(exc: BaseException, reader: Reader) -> BaseException | None:
    """The exception ``exc`` wraps, or ``None``."""
    cause: BaseException | None = _CAUSE(exc)
    if cause is not None:
        return cause
    inner = reader.inner
    if inner is not None:
        found = inner(exc)
        if found is not None and found is not exc:
            return found
    if _SUPPRESS(exc):
        return None
    context: BaseException | None = _CONTEXT(exc)
    return context
