"""The public face: __all__ is sorted and complete, and private names stay private."""

from __future__ import annotations

import subprocess
import sys

import resilience


def test_all_is_sorted() -> None:
    assert resilience.__all__ == sorted(resilience.__all__)


def test_all_is_complete() -> None:
    public = {
        name
        for name, value in vars(resilience).items()
        if not name.startswith("_") and not isinstance(value, type(resilience))
    }
    public -= {"annotations"}
    assert public == set(resilience.__all__)


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
