"""Read a policy file: YAML text -> plain data, with the line of every key; message helpers.

Only PyYAML's safe loader is used, with these changes, all in :class:`_Loader`:

- every mapping remembers the line of each of its keys, so an error can name its line;
- a duplicate key is an error (PyYAML silently keeps the last one);
- ``yes``/``no``/``on``/``off`` are strings, as in YAML 1.2 and editors' YAML language servers
  (YAML 1.1 reads ``on:`` as ``true:``, which would break a fallback's ``on`` key);
- any tag the safe loader can't build, ``!!python/object`` first of all, is refused by name.
"""

from __future__ import annotations

import difflib
import re
import reprlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from resilience.errors import ConfigError

__all__ = [
    "Document",
    "KeyPath",
    "describe",
    "dotted",
    "lookup",
    "one_line",
    "read",
    "suggest",
    "unknown_key",
]

#: A key path from the top of the document, e.g. ``("policies", "iot-publish", "retry")``.
KeyPath = tuple[Any, ...]

#: No valid policy file comes near these; they keep aliases and nesting from blowing up.
MAX_VALUES = 100_000

_MERGE = "tag:yaml.org,2002:merge"
_VALUE = "tag:yaml.org,2002:value"
_BOOL = "tag:yaml.org,2002:bool"
_STANDARD = "tag:yaml.org,2002:"

_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a number"),
    (str, "a string"),
    (list, "a list"),
    (dict, "a mapping"),
)
_REPR = reprlib.Repr()  # keyword arguments only from Python 3.12
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxdict = 4
_REPR.maxlevel = 2


def describe(value: object) -> str:
    """A short account of a found value: ``'three' (a string)``."""
    if value is None:
        return "nothing (null)"
    kind = next((name for cls, name in _KINDS if isinstance(value, cls)), type(value).__name__)
    return f"{_REPR.repr(value)} ({kind})"


def suggest(word: object, choices: list[str]) -> str | None:
    """The one of ``choices`` that ``word`` looks like a misspelling of, if any."""
    matches = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_key(key: object, allowed: list[str]) -> str:
    """The message for a key that has no place here, with the likely one."""
    hint = suggest(key, allowed)
    guess = f"; did you mean {hint!r}?" if hint else "."
    return f"unknown key {key!r}{guess} Allowed keys: {', '.join(allowed)}"


def lookup(data: Any, path: KeyPath) -> tuple[bool, Any]:
    """Whether ``path`` leads to a value in nested mappings, and that value."""
    node = data
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _key(part: object) -> str:
    text = str(part)
    plain = text and text.isprintable() and not any(c.isspace() for c in text)
    return text if plain else repr(part)


def dotted(path: KeyPath) -> str:
    """``("policies", "p", "retry")`` -> ``policies.p.retry`` (odd keys quoted: ``''``)."""
    return ".".join(_key(part) for part in path)


def one_line(text: str) -> str:
    """Another library's message, fit for one line of ours."""
    return " ".join(text.split())


@dataclass(slots=True)
class Document:
    """A parsed policy file: its data and where each key stands."""

    data: Any
    source: str
    #: id(mapping) -> (line of the mapping, {key: line of the key}); 1-based lines.
    lines: dict[int, tuple[int, dict[Any, int]]] = field(default_factory=dict)
    #: Keeps every mapping alive, so the ids in ``lines`` stay theirs.
    mappings: list[dict[Any, Any]] = field(default_factory=list)

    def line(self, path: KeyPath) -> int | None:
        """The line of the key at ``path``, or of its nearest ancestor that exists."""
        node = self.data
        found: int | None = self.lines[id(node)][0] if isinstance(node, dict) else None
        for part in path:
            if not isinstance(node, dict):
                break
            if part not in node:
                break
            found = self.lines[id(node)][1].get(part, found)
            node = node[part]
        return found

    def error(self, path: KeyPath, message: str) -> ConfigError:
        """A :class:`ConfigError` about the key at ``path``, with its line."""
        return ConfigError(message, path=dotted(path), source=self.source, line=self.line(path))


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_STANDARD) if tag.startswith(_STANDARD) else tag


class _Loader(yaml.SafeLoader):
    """The safe loader, recording key lines and refusing duplicates and unknown tags."""

    def __init__(self, stream: str, document: Document) -> None:
        super().__init__(stream)
        self.document = document


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Iterator[dict[Any, Any]]:
    data: dict[Any, Any] = {}
    yield data
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag in (_MERGE, _VALUE):
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            earlier = seen.get(key)
        except TypeError:
            break  # an unhashable key: construct_mapping below says so, with its line
        if earlier is not None:
            msg = f"found duplicate key {key!r} (first on line {earlier})"
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, msg, key_node.start_mark
            )
        seen[key] = key_node.start_mark.line + 1
    data.update(loader.construct_mapping(node))  # flattens merge keys (<<) into node.value
    keys = {loader.construct_object(k): k.start_mark.line + 1 for k, _ in node.value}
    loader.document.lines[id(data)] = (node.start_mark.line + 1, keys)
    loader.document.mappings.append(data)


def _refuse_tag(loader: _Loader, node: yaml.Node) -> None:
    msg = (
        f"the tag {_short_tag(node.tag)} is not allowed: policy files are plain YAML data, "
        "read with the safe loader (remove the tag)"
    )
    raise yaml.constructor.ConstructorError(None, None, msg, node.start_mark)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor(None, _refuse_tag)
# YAML 1.2 booleans: only true/false (any case), so `on`, `off`, `yes` and `no` stay strings.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _syntax_error(exc: yaml.YAMLError, source: str) -> ConfigError:
    if not isinstance(exc, yaml.MarkedYAMLError):
        return ConfigError(f"invalid YAML: {one_line(str(exc))}", source=source)
    mark = exc.problem_mark or exc.context_mark
    line = None if mark is None else mark.line + 1
    problem = one_line(exc.problem or exc.context or "unreadable")
    if isinstance(exc, yaml.constructor.ConstructorError) and problem.startswith("the tag "):
        return ConfigError(problem, source=source, line=line)
    if exc.context and problem.startswith("but "):
        problem = f"{one_line(exc.context)}, {problem}"
    at = "" if mark is None else f" at column {mark.column + 1}"
    return ConfigError(f"invalid YAML{at}: {problem}", source=source, line=line)


def _check_shape(document: Document) -> None:
    """Refuse recursive aliases (``&a [*a]``) and alias bombs before anything walks the data."""
    budget = MAX_VALUES
    stack: list[tuple[Any, KeyPath, frozenset[int]]] = [(document.data, (), frozenset())]
    while stack:
        value, path, above = stack.pop()
        budget -= 1
        if budget < 0:
            msg = f"the document is too large (more than {MAX_VALUES} values, aliases included)"
            raise ConfigError(msg, source=document.source)
        if isinstance(value, dict):
            children: Any = value.items()
        elif isinstance(value, list):
            children = enumerate(value)
        else:
            continue
        if id(value) in above:
            msg = "an alias refers to a mapping or list that contains it; data can't be recursive"
            raise document.error(path, msg)
        inner = above | {id(value)}
        stack.extend((child, (*path, key), inner) for key, child in children)


def read(source: Path | str) -> Document:
    """Parse a policy file (a path, a file name, or YAML text containing a newline).

    Raises:
        ConfigError: the file can't be read, isn't valid YAML, or uses a refused tag.
        TypeError: ``source`` is neither a ``Path`` nor a ``str``.
    """
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source):
        path = Path(source)
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            msg = f"cannot read the policy file: not UTF-8 text ({exc.reason} at byte {exc.start})"
            raise ConfigError(msg, source=name) from exc
        except OSError as exc:
            msg = f"cannot read the policy file: {exc.strerror or exc}"
            raise ConfigError(msg, source=name) from exc
    elif isinstance(source, str):
        name, text = "<string>", source
    else:
        kind = type(source).__name__
        msg = f"load_policies() takes a pathlib.Path, a file name or YAML text, not {kind}"
        raise TypeError(msg)
    document = Document(None, name)
    try:
        loader = _Loader(text, document)  # the reader checks every character here
        try:
            document.data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        msg = f"invalid YAML: unacceptable character #x{exc.character:04x}: {exc.reason}"
        raise ConfigError(msg, source=name, line=line) from exc
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, name) from exc
    except RecursionError as exc:
        msg = "the document nests too deeply to be a policy file"
        raise ConfigError(msg, source=name) from exc
    _check_shape(document)
    return document
