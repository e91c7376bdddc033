"""The devopsagent catalog, on real devopsagent_api exceptions."""

from __future__ import annotations

from typing import Any

import botocore.exceptions as bce
import pytest
from devopsagent_api import exceptions as dx

from resilience import Category, Classifier, classify, explain

R, A, Q, P = Category.RETRYABLE, Category.AUTH, Category.QUEUE, Category.PERMANENT
X = "devopsagent_api.exceptions."


@pytest.fixture(name="classifier")
def _classifier() -> Classifier:
    return Classifier()


def response(code: str, status: int) -> dict[str, Any]:
    return {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "req-1"},
    }


@pytest.mark.parametrize(
    ("cls", "code", "status", "category"),
    [
        (dx.AuthenticationError, "AUTH_ERROR", 401, A),
        (dx.CredentialRefreshError, "AUTH_ERROR", 401, A),
        (dx.JWTGenerationError, "AUTH_ERROR", 403, A),
        (dx.CredentialExchangeError, "AUTH_ERROR", 401, A),
        (dx.UnauthorizedException, "UnauthorizedException", 403, A),
        (dx.ConfigurationError, "CONFIG_ERROR", 400, P),
        (dx.ServiceRegistrationError, "CONFIG_ERROR", 400, P),
        (dx.ModelValidationError, "VALIDATION_ERROR", 400, P),
        (dx.ValidationException, "ValidationException", 400, P),
        (dx.ResourceNotFoundException, "ResourceNotFoundException", 404, P),
        (dx.ConflictException, "ConflictException", 409, P),
        (dx.ThrottlingException, "ThrottlingException", 429, R),
        (dx.InternalServerException, "InternalServerException", 500, R),
        (dx.ServiceUnavailableException, "ServiceUnavailableException", 503, R),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else str(value),
)
def test_category_of_each_api_error(
    classifier: Classifier,
    cls: type[dx.DevOpsAgentError],
    code: str,
    status: int,
    category: Category,
) -> None:
    exc = cls(response(code, status), "ListTasks")
    assert isinstance(exc, bce.ClientError)
    verdict = classifier.explain(exc)
    assert (verdict.category, verdict.rule, verdict.catalog) == (
        category,
        X + cls.__name__,
        "devopsagent",
    )


def test_service_unavailable_503_is_retryable() -> None:
    exc = dx.ServiceUnavailableException(response("ServiceUnavailableException", 503), "GetTask")
    assert exc.http_status_code == 503
    verdict = explain(exc)
    assert verdict.category is R
    assert verdict.rule == X + "ServiceUnavailableException"
    assert "503" in verdict.reason


@pytest.mark.parametrize(
    ("code", "status", "category", "rule"),
    [
        ("ThrottlingException", 429, R, "code=ThrottlingException"),
        ("Mystery", 502, R, "status=5xx"),
        ("AccessDeniedException", 403, A, "code=AccessDeniedException"),
        ("Mystery", 404, P, "status=4xx"),
    ],
)
def test_a_bare_devopsagent_error_is_decided_by_the_client_error_rows(
    classifier: Classifier, code: str, status: int, category: Category, rule: str
) -> None:
    verdict = classifier.explain(dx.DevOpsAgentError(response(code, status), "ListTasks"))
    assert (verdict.category, verdict.rule, verdict.catalog) == (
        category,
        f"botocore.exceptions.ClientError {rule}",
        "botocore",
    )


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 429, dx.ThrottlingException),
        ("Mystery", 503, dx.ServiceUnavailableException),
        ("Mystery", 401, dx.UnauthorizedException),
        ("Mystery", 409, dx.ConflictException),
        ("Mystery", 418, dx.DevOpsAgentError),
    ],
)
def test_errors_converted_by_the_librarys_own_handler(
    code: str, status: int, expected: type[dx.DevOpsAgentError]
) -> None:
    original = bce.ClientError(response(code, status), "ListTasks")
    converted = dx.handle_client_error(original)
    assert type(converted) is expected
    assert classify(converted) is classify(original)


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (dx.NetworkError, None),
        (dx.ConnectionError, ConnectionError),
        (dx.TimeoutError, TimeoutError),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else str(value),
)
def test_network_errors_are_retryable_though_they_shadow_the_builtins(
    classifier: Classifier, cls: type[bce.BotoCoreError], builtin: type[BaseException] | None
) -> None:
    exc = cls()
    assert isinstance(exc, bce.BotoCoreError)
    if builtin is not None:
        assert not isinstance(exc, builtin)
    verdict = classifier.explain(exc)
    assert (verdict.category, verdict.rule, verdict.catalog) == (R, X + cls.__name__, "devopsagent")


def test_names_the_documentation_uses_but_the_package_lacks(classifier: Classifier) -> None:
    mro = ("devopsagent_api.exceptions.DevOpsAgentAPIError", "builtins.Exception")
    assert not hasattr(dx, "DevOpsAgentAPIError")
    documented = {
        "DevOpsAgentAuthError": A,
        "DevOpsAgentValidationError": P,
        "DevOpsAgentConfigError": P,
        "DevOpsAgentAPIError": P,
    }
    for name, category in documented.items():
        verdict = classifier.explain_name((X + name, "builtins.Exception"))
        assert verdict is not None
        assert verdict.category is category
        assert "not defined" in verdict.reason
    # The seed's retry example checks e.status_code == 429.
    throttled = classifier.explain_name(mro, status=429)
    assert throttled is not None
    assert throttled.category is R
