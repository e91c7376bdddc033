"""The public face: __all__ is sorted and complete, and private names stay private."""

from __future__ import annotations

import subprocess
import sys

import resilience


def test_all_is_sorted() -> None:
    assert resilience.__all__ == sorted(resilience.__all__)


def test_all_is_complete() -> None:
    exported = {name for name in dir(resilience) if not name.startswith("_")}
    exported -= {"annotations", "importlib", "TYPE_CHECKING", "Any"}  # the module's own tools
    submodules = {
        name for name in exported if isinstance(getattr(resilience, name), type(resilience))
    }
    assert exported - submodules == set(resilience.__all__) - {"__version__"}
    for name in resilience.__all__:
        assert getattr(resilience, name) is not None


def test_names_load_when_first_used() -> None:
    code = (
        "import sys, resilience\n"
        "print(sorted(m for m in ('pybreaker', 'redis', 'yaml', 'asyncio') if m in sys.modules))\n"
        "from resilience import Breaker, Policy, Retry\n"
        "Policy('p', retry=Retry(), breaker=Breaker())\n"
        "print(sorted(m for m in ('pybreaker', 'redis', 'yaml') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split("\n")[:2] == ["[]", "[]"]


def test_importing_resilience_imports_no_client_library() -> None:
    # (pybreaker itself imports redis when it is installed, so redis is not checked here)
    code = (
        "import sys, resilience; "
        "resilience.classify(TimeoutError()); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'botocore', 'boto3', 'aiomqtt', 'paho', 'AWSIoTPythonSDK', 'engineio', "
        "'devopsagent_api'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
