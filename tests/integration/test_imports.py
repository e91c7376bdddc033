"""The integrations are optional: ``import resilience`` imports none of their libraries."""

from __future__ import annotations

import subprocess
import sys

import pytest

LIBRARIES = ("AWSIoTPythonSDK", "aiomqtt", "paho", "boto3", "botocore", "engineio", "aiohttp")
INTEGRATIONS = ("greengrass", "aiomqtt", "boto3", "engineio")


def imported_after(statement: str) -> set[str]:
    code = (
        f"import sys; {statement}; "
        f"print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({LIBRARIES!r}))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_resilience_imports_no_client_library() -> None:
    assert imported_after("import resilience, resilience.integrations") == set()


@pytest.mark.parametrize("name", INTEGRATIONS)
def test_each_integration_imports_and_exports_what_it_says(name: str) -> None:
    module = pytest.importorskip(f"resilience.integrations.{name}")
    assert module.__all__ == sorted(module.__all__)
    assert all(hasattr(module, item) for item in module.__all__)
