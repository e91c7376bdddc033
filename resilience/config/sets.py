"""``PolicySet``: the policies of one file, by name."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType

from resilience.classify import Classifier, default_classifier
from resilience.config.reader import suggest
from resilience.engine.policy import Policy
from resilience.errors import ConfigError
from resilience.stores.redis import RedisStorage

__all__ = ["PolicySet"]


class PolicySet(Mapping[str, Policy]):
    """A read-only mapping of policy name -> :class:`Policy`, as loaded from one file.

    Each policy owns its breaker state; Redis storage shares it across processes by
    namespace and policy name.

    Args:
        policies: The policies, by name (each name must be its policy's ``name``).
        classifier: The classifier the policies were built with (``None``: the default).
        breaker_storage: The breaker storage every policy's breaker uses (``None``: memory).
        source: Where the policies came from (a file name, ``"<string>"``), for messages.

    Raises:
        ValueError: a key is not the name of its policy.
    """

    __slots__ = ("_breaker_storage", "_classifier", "_policies", "_source")

    def __init__(
        self,
        policies: Mapping[str, Policy],
        *,
        classifier: Classifier | None = None,
        breaker_storage: RedisStorage | None = None,
        source: str | None = None,
    ) -> None:
        for name, item in policies.items():
            if not isinstance(item, Policy) or item.name != name:
                msg = (
                    f"PolicySet: the key {name!r} must map to the Policy of that name, not {item!r}"
                )
                raise ValueError(msg)
        self._policies: Mapping[str, Policy] = MappingProxyType(dict(policies))
        self._classifier = classifier
        self._breaker_storage = breaker_storage
        self._source = source

    def __getitem__(self, name: str) -> Policy:
        return self._policies[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._policies)

    def __len__(self) -> int:
        return len(self._policies)

    def __repr__(self) -> str:
        return f"PolicySet(source={self._source!r}, policies={list(self._policies)!r})"

    @property
    def classifier(self) -> Classifier:
        """The classifier of these policies: the file's ``classify`` rules over the catalogs."""
        return self._classifier or default_classifier()

    @property
    def breaker_storage(self) -> RedisStorage | None:
        """Where the breakers keep their state; ``None`` for each process's memory."""
        return self._breaker_storage

    @property
    def source(self) -> str | None:
        """The file the policies came from (``"<string>"`` for YAML text)."""
        return self._source

    def lookup(self, name: str) -> Policy:
        """The policy called ``name``.

        Raises:
            ConfigError: there is none; the message lists the known names and the likely one.
        """
        found = self._policies.get(name)
        if found is not None:
            return found
        known = sorted(self._policies)
        hint = suggest(name, known)
        guess = f"; did you mean {hint!r}?" if hint else "."
        listed = ", ".join(known) if known else "none"
        msg = f"no policy named {name!r}{guess} Known policies: {listed}"
        raise ConfigError(msg, source=self._source)
