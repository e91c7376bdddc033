"""Every page of docs/ and README runs after the install command it names.

The rule, for every page (new ones too):

- **Each page names its install command**: the first ``pip install ...`` on the page, in a
  console block or in inline code, e.g. ``Install: `pip install 'resilience-policies[aws]'```.
  A page that names none needs only ``pip install resilience-policies`` (the core).
  ``pip install .`` and ``pip install -e '.[bench]'`` mean the same from a checkout.
- The page's ```python blocks (the ``not-tested`` ones too) may import only the standard
  library, ``resilience``, and what that command installs: the core dependencies, the named
  extras of pyproject.toml, and everything those depend on. An import of
  ``resilience.integrations.X`` needs what that module imports.
- Every ``pip install`` on a page names ``resilience-policies`` (or ``.``) and extras that
  exist; the name ``resilience`` on the package index is someone else's project.

Two checks hold pages to it: a static one (the imports of the code blocks against the
distributions the command installs, from ``importlib.metadata``), and a run of each page's
tested blocks in a child process where every module of a distribution the command would not
install fails to import, as in a fresh virtualenv with only that command run.
"""

from __future__ import annotations

import ast
import concurrent.futures
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .test_docs import PAGES, python_blocks

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
NAME = canonicalize_name(PYPROJECT["name"])
EXTRAS: dict[str, list[str]] = PYPROJECT["optional-dependencies"]
IDS = [str(page.relative_to(ROOT)) for page in PAGES]

# `pip install [-e] [-q] TARGET`, TARGET maybe quoted: resilience-policies[aws,mqtt], '.[bench]'
_PIP = re.compile(r"pip install\s+(?:-[eqU]\s+|--\S+\s+)*(?P<q>['\"]?)(?P<target>[^\s'\"`]+)(?P=q)")
_TARGET = re.compile(r"(?P<name>[A-Za-z0-9._-]+|\.)(?:\[(?P<extras>[^\]]*)\])?$")
# The distribution `resilience` named where `resilience-policies` is meant.
_WRONG_NAME = re.compile(r"(?<![\w./-])resilience\[|pip install ['\"]?resilience(?![\w-])")


# After the target, on the same line: more distributions, `... opentelemetry-sdk prometheus-client`.
_ALSO = re.compile(r"[ \t]+(?P<q>['\"]?)(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P=q)(?=[\s`]|$)")


def install_command(text: str) -> tuple[str, frozenset[str]]:
    """The page's install command, as it reads and as the extras it names."""
    match = _PIP.search(text)
    if match is None:
        return f"pip install {PYPROJECT['name']}", frozenset()
    end = match.end()
    while (more := _ALSO.match(text, end)) is not None:
        end = more.end()
    return text[match.start() : end], parse_target(match.group("target"))


def also_installed(command: str) -> frozenset[str]:
    """The distributions ``command`` installs beside this project (the names after the
    target: ``pip install 'resilience-policies[otel]' opentelemetry-sdk``)."""
    match = _PIP.match(command)
    assert match is not None, command
    return frozenset(
        canonicalize_name(name.strip("'\"")) for name in command[match.end() :].split()
    )


def parse_target(target: str) -> frozenset[str]:
    """The extras of ``resilience-policies[...]`` or ``.[...]``; fails on another project."""
    match = _TARGET.match(target)
    assert match is not None, f"can't read the install target {target!r}"
    name = match.group("name")
    assert name == "." or canonicalize_name(name) == NAME, (
        f"`pip install {target}` installs {name!r}, not this project ({PYPROJECT['name']!r})"
    )
    extras = frozenset(e.strip() for e in (match.group("extras") or "").split(",") if e.strip())
    unknown = sorted(extras - EXTRAS.keys())
    assert not unknown, f"`pip install {target}`: no extra {unknown} in pyproject.toml"
    return extras


def _wanted(requirement: Requirement, extras: frozenset[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras | {""})


@cache
def installed_by(extras: frozenset[str], also: frozenset[str] = frozenset()) -> frozenset[str]:
    """The distributions that ``pip install resilience-policies[extras] *also`` installs.

    This project's own requirements come from pyproject.toml (the checkout, not a stale
    install); those of its dependencies from their installed metadata, markers evaluated.
    """
    requirements = [
        *PYPROJECT["dependencies"],
        *(r for e in sorted(extras) for r in EXTRAS[e]),
        *sorted(also),
    ]
    found: set[str] = {NAME}
    todo = [Requirement(r) for r in requirements]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        found.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here: reported when a page imports it
        for text in requires:
            nested = Requirement(text)
            if _wanted(nested, frozenset(requirement.extras)):
                todo.append(nested)
    return frozenset(found)


@cache
def distributions_of() -> dict[str, frozenset[str]]:
    """Top-level module name -> the (canonical) distributions that provide it."""
    return {
        module: frozenset(canonicalize_name(d) for d in dists)
        for module, dists in importlib.metadata.packages_distributions().items()
    }


def _imports(tree: ast.AST, package: str | None, module_level: bool) -> set[str]:
    """Absolute names of the modules ``tree`` imports (at module level only, if asked)."""
    nodes = ast.iter_child_nodes(tree) if module_level else ast.walk(tree)
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                assert package is not None
                base = importlib.util.resolve_name("." * node.level + base, package)
            names.add(base)
            # `from resilience.integrations import boto3`: a submodule, not an attribute
            if base.startswith("resilience"):
                names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


@cache
def _direct_imports(name: str) -> frozenset[str] | None:
    """What module ``resilience.…`` ``name`` imports at module level; None for an attribute."""
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:
        spec = None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None  # an attribute (`from resilience import Policy`), not a module
    package = name if spec.submodule_search_locations is not None else name.rpartition(".")[0]
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    parents = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    return frozenset(_imports(tree, package, module_level=True) | parents)


@cache
def needs_of_resilience_module(name: str) -> frozenset[str]:
    """Top-level third-party modules that importing ``resilience.…`` ``name`` imports."""
    needs: set[str] = set()
    seen: set[str] = set()
    todo = [name]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for imported in _direct_imports(module) or ():
            if imported.partition(".")[0] == "resilience":
                todo.append(imported)
            else:
                needs.add(imported.partition(".")[0])
    return frozenset(needs)


def page_needs(text: str) -> dict[str, str]:
    """Top-level modules the page's code blocks need -> why (the import that needs it)."""
    needs: dict[str, str] = {}
    for line, code, _reason in python_blocks(text):
        for name in sorted(_imports(ast.parse(code), None, module_level=False)):
            top = name.partition(".")[0]
            if top == "resilience":
                for module in sorted(needs_of_resilience_module(name)):
                    needs.setdefault(module, f"line {line}: import {name} (imports {module})")
            else:
                needs.setdefault(top, f"line {line}: import {name}")
    return needs


def missing(text: str) -> list[str]:
    """What the page's code imports that its install command does not install."""
    command, extras = install_command(text)
    installed = installed_by(extras, also_installed(command))
    problems = []
    for module, why in page_needs(text).items():
        if module in sys.stdlib_module_names or module == "__future__":
            continue
        providers = distributions_of().get(module)
        if providers is None:
            problems.append(f"{why}: no installed distribution provides {module!r}")
        elif not providers & installed:
            problems.append(
                f"{why}: {module!r} comes from {', '.join(sorted(providers))}, "
                f"which `{command}` does not install"
            )
    return problems


# --- the rule's own tests ---------------------------------------------------------------------


def test_install_command_is_the_first_pip_install_of_the_page() -> None:
    text = "Run `pip install 'resilience-policies[aws,mqtt]'`, later `pip install .[redis]`."
    assert install_command(text) == (
        "pip install 'resilience-policies[aws,mqtt]'",
        frozenset({"aws", "mqtt"}),
    )
    assert install_command("```console\n$ pip install -e '.[bench]'\n```")[1] == {"bench"}
    assert install_command("pip install . && resilience demo")[1] == frozenset()
    assert install_command("no command") == ("pip install resilience-policies", frozenset())
    text = "`pip install 'resilience-policies[otel]' opentelemetry-sdk prometheus-client` then"
    command, extras = install_command(text)
    assert command == "pip install 'resilience-policies[otel]' opentelemetry-sdk prometheus-client"
    assert extras == {"otel"}
    assert also_installed(command) == {"opentelemetry-sdk", "prometheus-client"}
    assert also_installed(install_command("pip install . && resilience demo")[0]) == frozenset()
    with pytest.raises(AssertionError, match="not this project"):
        install_command("pip install resilience[aws]")
    with pytest.raises(AssertionError, match="no extra"):
        install_command("pip install 'resilience-policies[nope]'")


def test_a_page_that_imports_what_its_command_does_not_install_fails() -> None:
    page = "```python\nimport json\nimport pytest\nimport botocore.exceptions\n```\n"
    assert [problem.split(":")[0] for problem in missing(page)] == ["line 2", "line 2"]
    assert missing("Install: `pip install 'resilience-policies[aws,testing]'`\n" + page) == []
    integration = "```python\nfrom resilience.integrations import aiomqtt as mqtt\n```\n"
    assert any("(imports aiomqtt)" in problem for problem in missing(integration))
    assert missing("`pip install 'resilience-policies[mqtt]'`\n" + integration) == []


def test_the_closure_follows_dependencies_and_markers() -> None:
    core = installed_by(frozenset())
    assert {"tenacity", "pybreaker", "structlog", "pyyaml"} <= core
    assert "botocore" not in core
    assert "pytest" not in core
    assert {"boto3", "botocore", "jmespath"} <= installed_by(frozenset({"aws"}))


def test_the_test_extra_installs_every_other_extra() -> None:
    test = {canonicalize_name(Requirement(r).name) for r in EXTRAS["test"]}
    for extra, requirements in EXTRAS.items():
        if extra in ("test", "bench"):
            continue
        names = {canonicalize_name(Requirement(r).name) for r in requirements}
        assert names <= test, f"the test extra lacks {sorted(names - test)} of [{extra}]"


# --- the pages --------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_every_pip_install_names_this_project(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for match in _PIP.finditer(text):
        parse_target(match.group("target"))
    wrong = [text.count("\n", 0, m.start()) + 1 for m in _WRONG_NAME.finditer(text)]
    assert not wrong, f"lines {wrong} name `resilience`; on the index it is resilience-policies"


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_page_imports_only_what_its_install_command_installs(page: Path) -> None:
    problems = missing(page.read_text(encoding="utf-8"))
    assert not problems, "\n".join(problems)


# In the child: modules of every distribution the command does not install fail to import,
# as in a fresh virtualenv; then the page's tested blocks run as tests/test_docs.py runs them.
_CHILD = """
import importlib.abc, importlib.util, json, sys

job = json.loads(sys.stdin.read())
blocked, command = frozenset(job["blocked"]), job["command"]


class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            msg = f"No module named {name!r} (`{command}` does not install it)"
            raise ModuleNotFoundError(msg, name=name)
        return None


sys.meta_path.insert(0, NotInstalled())
_find_spec = importlib.util.find_spec


def find_spec(name, package=None):
    # A library probing for an optional one (yarl for pydantic_core) finds nothing, as in a
    # fresh environment, instead of an import error.
    if importlib.util.resolve_name(name, package).partition(".")[0] in blocked:
        return None
    return _find_spec(name, package)


importlib.util.find_spec = find_spec
from resilience.testing import no_wait

namespace = {"__name__": "__main__"}
with no_wait():
    for line, code in job["blocks"]:
        exec(compile("\\n" * (line - 1) + code, job["page"], "exec"), namespace)
"""


Alone = tuple[str, subprocess.CompletedProcess[str]] | AssertionError | None


def run_page_alone(page: Path) -> Alone:
    """Run the page's tested blocks in a child that has only what its command installs."""
    text = page.read_text(encoding="utf-8")
    try:
        command, extras = install_command(text)
    except AssertionError as unreadable:  # reported by the page's own test
        return unreadable
    blocks = [(line, code) for line, code, reason in python_blocks(text) if reason is None]
    if not blocks:
        return None
    installed = installed_by(extras, also_installed(command))
    blocked = sorted(m for m, dists in distributions_of().items() if not dists & installed)
    job = {"blocked": blocked, "command": command, "page": str(page), "blocks": blocks}
    run = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    return command, run


@pytest.fixture(name="alone", scope="module")
def _alone(request: pytest.FixtureRequest) -> dict[Path, Alone]:
    """The selected pages, each run alone, the children side by side (most of their time is
    imports)."""
    pages = [
        item.callspec.params["page"]
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.originalname == test_page_runs_with_only_its_install_command.__name__
    ]
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(zip(pages, pool.map(run_page_alone, pages), strict=True))


#: The pages with tested python blocks: the others have nothing to run.
RUNNABLE = [
    page
    for page in PAGES
    if any(reason is None for _, _, reason in python_blocks(page.read_text(encoding="utf-8")))
]


@pytest.mark.parametrize("page", RUNNABLE, ids=[str(p.relative_to(ROOT)) for p in RUNNABLE])
def test_page_runs_with_only_its_install_command(page: Path, alone: dict[Path, Alone]) -> None:
    result = alone[page]
    assert result is not None, f"{page.name} has no tested python block"
    if isinstance(result, AssertionError):
        raise result
    command, run = result
    assert run.returncode == 0, f"{page.name} after `{command}` only:\n{run.stderr}"
