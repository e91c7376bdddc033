"""The botocore catalog, on real botocore exceptions, real clients and botocore's own retry data."""

from __future__ import annotations

import inspect
import socket
import string
from collections.abc import Iterator
from typing import Any

import botocore.exceptions as bce
import botocore.session
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.retries.standard import ThrottledRetryableChecker, TransientRetryableChecker
from botocore.stub import Stubber

from resilience import Category, Classifier, classify, explain
from resilience.classify import qualified_name

R, A, Q, P = Category.RETRYABLE, Category.AUTH, Category.QUEUE, Category.PERMANENT
CLIENT_ERROR = "botocore.exceptions.ClientError"


@pytest.fixture(name="classifier")
def _classifier() -> Classifier:
    return Classifier()


@pytest.fixture(name="session", scope="module")
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


def _client(session: botocore.session.Session, service: str, **kwargs: Any) -> BaseClient:
    # Creating a client makes no network call.
    return session.create_client(
        service,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        **kwargs,
    )


@pytest.fixture(name="sqs")
def _sqs(session: botocore.session.Session) -> BaseClient:
    return _client(session, "sqs")


@pytest.fixture(name="s3")
def _s3(session: botocore.session.Session) -> BaseClient:
    return _client(session, "s3")


def client_error(code: str | None, status: int | None = None) -> bce.ClientError:
    response: dict[str, Any] = {}
    if code is not None:
        response["Error"] = {"Code": code, "Message": "m"}
    if status is not None:
        response["ResponseMetadata"] = {"HTTPStatusCode": status, "RequestId": "r"}
    return bce.ClientError(response, "Operation")


# --- every class of botocore.exceptions, as a real instance -----------------------------------


def _build(cls: type[BaseException]) -> BaseException:
    """A real instance of any botocore.exceptions class, its message fields filled in."""
    if issubclass(cls, bce.ClientError):
        return cls({"Error": {"Code": "SomethingNew", "Message": "m"}}, "Operation")
    fmt = getattr(cls, "fmt", None)
    if fmt is None:
        return cls("message")
    fields = {name for _, name, _, _ in string.Formatter().parse(fmt) if name}
    params = inspect.signature(cls.__init__).parameters.values()
    fields |= {
        p.name
        for p in params
        if p.name != "self"
        and p.default is inspect.Parameter.empty
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    return cls(**dict.fromkeys(fields, "x"))


def _botocore_classes() -> Iterator[type[BaseException]]:
    for value in vars(bce).values():
        if (
            isinstance(value, type)
            and issubclass(value, BaseException)
            and value.__module__ == bce.__name__
        ):
            yield value


_RETRYABLE = {
    "ConnectionError",
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ProxyConnectionError",
    "HTTPClientError",
    "ReadTimeoutError",
    "ConnectionClosedError",
    "ResponseStreamingError",
    "IncompleteReadError",
    "ChecksumError",
    "FlexibleChecksumError",
    "CapacityNotAvailableError",
    "MetadataRetrievalError",
}
_AUTH = {
    "NoCredentialsError",
    "PartialCredentialsError",
    "CredentialRetrievalError",
    "RefreshWithMFAUnsupportedError",
    "NoAuthTokenError",
    "TokenRetrievalError",
    "SSOError",
    "SSOTokenLoadError",
    "UnauthorizedSSOTokenError",
    "LoginError",
    "LoginAuthorizationCodeError",
    "LoginInsufficientPermissions",
    "LoginRefreshRequired",
    "LoginTokenLoadError",
}


@pytest.mark.parametrize("cls", sorted(_botocore_classes(), key=lambda c: c.__name__), ids=str)
def test_every_botocore_class_as_a_real_instance(
    classifier: Classifier, cls: type[BaseException]
) -> None:
    exc = _build(cls)
    verdict = classifier.explain(exc)
    name = cls.__name__
    expected = R if name in _RETRYABLE else A if name in _AUTH else P
    assert verdict.category is expected, (name, verdict)
    assert verdict.catalog == "botocore"
    if issubclass(cls, bce.ClientError):
        # An unknown code without a status: the ClientError class row, the last resort.
        assert verdict.rule == CLIENT_ERROR
    else:
        assert verdict.rule == qualified_name(cls)


def test_botocores_own_transient_classes_are_retryable_except_tls() -> None:
    # botocore's standard retry mode retries these families; so do we, except a TLS failure,
    # which is mostly certificate validation.
    for cls in _botocore_classes():
        if issubclass(cls, TransientRetryableChecker._TRANSIENT_EXCEPTION_CLS):
            expected = P if issubclass(cls, bce.SSLError) else R
            assert classify(_build(cls)) is expected, cls


# --- ClientError by code, then by status ------------------------------------------------------


@pytest.mark.parametrize("code", ThrottledRetryableChecker._THROTTLED_ERROR_CODES)
def test_botocore_throttling_codes_are_retryable(classifier: Classifier, code: str) -> None:
    verdict = classifier.explain(client_error(code, 400))
    assert verdict.category is R
    assert verdict.rule == f"{CLIENT_ERROR} code={code}"


@pytest.mark.parametrize("code", TransientRetryableChecker._TRANSIENT_ERROR_CODES)
def test_botocore_transient_codes_are_retryable(classifier: Classifier, code: str) -> None:
    verdict = classifier.explain(client_error(code, 400))
    assert verdict.category is R
    assert verdict.rule == f"{CLIENT_ERROR} code={code}"


@pytest.mark.parametrize("status", TransientRetryableChecker._TRANSIENT_STATUS_CODES)
def test_botocore_transient_statuses_are_retryable(classifier: Classifier, status: int) -> None:
    verdict = classifier.explain(client_error("SomethingNew", status))
    assert verdict.category is R
    assert verdict.rule == f"{CLIENT_ERROR} status=5xx"


def _legacy_conditions(session: botocore.session.Session) -> Iterator[dict[str, Any]]:
    retry = session.get_data("_retry")
    yield from (policy["applies_when"] for policy in retry["definitions"].values())
    for service, operations in retry["retry"].items():
        if service == "__default__":
            continue  # references to the definitions above
        for operation in operations.values():
            for policy in operation.get("policies", {}).values():
                yield policy.get("applies_when", {})


def test_the_legacy_retry_handlers_codes_and_statuses_are_retryable(
    session: botocore.session.Session, classifier: Classifier
) -> None:
    checked = 0
    for condition in _legacy_conditions(session):
        response = condition.get("response", {})
        if "service_error_code" not in response and "http_status_code" not in response:
            continue  # socket errors and CRC32 checks: classes, tested above
        exc = client_error(response.get("service_error_code"), response.get("http_status_code"))
        assert classifier.classify(exc) is R, (response, classifier.explain(exc))
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize(
    "code",
    [
        "AccessDenied",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "MissingAuthenticationToken",
        "IncompleteSignature",
        "NotAuthorized",
        "UnauthorizedOperation",
        "AuthFailure",
        "InvalidAccessKeyId",
        "InvalidToken",
        "TokenRefreshRequired",
        "RequestExpired",
        "RequestTimeTooSkewed",
    ],
)
def test_well_known_auth_codes(classifier: Classifier, code: str) -> None:
    verdict = classifier.explain(client_error(code, 400))
    assert verdict.category is A
    assert verdict.rule == f"{CLIENT_ERROR} code={code}"


@pytest.mark.parametrize(
    ("status", "category", "rule"),
    [
        (408, R, "status=408"),
        (429, R, "status=429"),
        (500, R, "status=5xx"),
        (502, R, "status=5xx"),
        (503, R, "status=5xx"),
        (504, R, "status=5xx"),
        (509, R, "status=509"),
        (501, P, "status=501"),
        (401, A, "status=401"),
        (403, A, "status=403"),
        (400, P, "status=4xx"),
        (404, P, "status=4xx"),
        (409, P, "status=4xx"),
    ],
)
def test_an_unknown_code_is_decided_by_its_status(
    classifier: Classifier, status: int, category: Category, rule: str
) -> None:
    verdict = classifier.explain(client_error("SomethingNew", status))
    assert (verdict.category, verdict.rule, verdict.catalog) == (
        category,
        f"{CLIENT_ERROR} {rule}",
        "botocore",
    )


def test_no_code_and_no_status_is_permanent(classifier: Classifier) -> None:
    verdict = classifier.explain(client_error(None))
    assert (verdict.category, verdict.rule) == (P, CLIENT_ERROR)


def test_a_code_beats_a_status(classifier: Classifier) -> None:
    # SQS's RequestThrottled comes with 403; ThrottlingException with 400.
    assert classifier.explain(client_error("RequestThrottled", 403)).category is R
    assert classifier.explain(client_error("AccessDenied", 503)).category is A


@pytest.mark.parametrize(
    ("code", "status", "category"),
    [
        ("LimitExceededException", 400, R),  # Kinesis, the seed's throttling example
        ("InternalError", 500, R),  # SQS, the seed's "generic error" example
        ("BucketAlreadyExists", 409, P),  # S3, the seed's resource example
    ],
)
def test_the_seeds_service_error_examples(
    classifier: Classifier, code: str, status: int, category: Category
) -> None:
    assert classifier.classify(client_error(code, status)) is category


# --- modelled service exceptions from real clients --------------------------------------------


def test_request_throttled_with_403_from_a_real_sqs_client(sqs: BaseClient) -> None:
    with Stubber(sqs) as stub:
        stub.add_client_error(
            "get_queue_url", service_error_code="RequestThrottled", http_status_code=403
        )
        with pytest.raises(sqs.exceptions.RequestThrottled) as raised:
            sqs.get_queue_url(QueueName="orders")
    exc = raised.value
    assert type(exc).__module__ == "botocore.errorfactory"  # a modelled subclass
    verdict = explain(exc)
    assert verdict.category is R
    assert verdict.rule == f"{CLIENT_ERROR} code=RequestThrottled"
    assert verdict.catalog == "botocore"
    assert "throttled" in verdict.reason


@pytest.mark.parametrize(
    ("code", "status", "category"),
    [
        ("QueueDoesNotExist", 400, P),
        ("AccessDenied", 403, A),
        ("InternalError", 500, R),
        ("KmsThrottled", 400, P),  # an unknown code: the status decides, fail fast
        ("ServiceUnavailable", 503, R),
    ],
)
def test_real_sqs_errors(sqs: BaseClient, code: str, status: int, category: Category) -> None:
    with Stubber(sqs) as stub:
        stub.add_client_error("get_queue_url", service_error_code=code, http_status_code=status)
        with pytest.raises(bce.ClientError) as raised:
            sqs.get_queue_url(QueueName="orders")
    assert classify(raised.value) is category


def test_a_modelled_s3_exception_class(s3: BaseClient) -> None:
    exc = s3.exceptions.NoSuchKey(
        {"Error": {"Code": "NoSuchKey"}, "ResponseMetadata": {"HTTPStatusCode": 404}}, "GetObject"
    )
    verdict = explain(exc)
    assert (verdict.category, verdict.rule) == (P, f"{CLIENT_ERROR} status=4xx")


def test_slow_down_from_a_real_s3_client(s3: BaseClient) -> None:
    with Stubber(s3) as stub:
        stub.add_client_error("head_bucket", service_error_code="SlowDown", http_status_code=503)
        with pytest.raises(bce.ClientError) as raised:
            s3.head_bucket(Bucket="bucket")
    assert explain(raised.value).rule == f"{CLIENT_ERROR} code=SlowDown"
    assert classify(raised.value) is R


@pytest.mark.parametrize(
    ("code", "category"),
    [("ThrottlingException", R), ("InternalFailure", R), ("AccessDeniedException", A)],
)
def test_event_stream_errors_by_code_without_a_status(code: str, category: Category) -> None:
    exc = bce.EventStreamError({"Error": {"Code": code, "Message": "m"}}, "SubscribeToShard")
    verdict = explain(exc)
    assert (verdict.category, verdict.rule) == (category, f"{CLIENT_ERROR} code={code}")


def test_an_unknown_event_stream_error_is_permanent() -> None:
    exc = bce.EventStreamError({"Error": {"Code": "Odd", "Message": "m"}}, "SubscribeToShard")
    assert explain(exc).rule == CLIENT_ERROR
    assert classify(exc) is P


# --- a real call to 127.0.0.1 -----------------------------------------------------------------


@pytest.mark.integration
def test_a_real_call_to_nothing_is_retryable(session: botocore.session.Session) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sqs = _client(
        session,
        "sqs",
        endpoint_url=f"http://127.0.0.1:{port}",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=2),
    )
    with pytest.raises(bce.EndpointConnectionError) as raised:
        sqs.get_queue_url(QueueName="orders")
    verdict = explain(raised.value)
    assert verdict.category is R
    # The wrapper defers to what refused: the connection itself.
    assert verdict.rule == "builtins.ConnectionRefusedError"
    assert verdict.via[0] == "botocore.exceptions.EndpointConnectionError"
    assert verdict.via[-1] == "builtins.ConnectionRefusedError"


def test_classify_remembers_answers_per_code_and_status_not_per_type(
    classifier: Classifier,
) -> None:
    cases = [
        (client_error("ThrottlingException", 400), R),
        (client_error("AccessDenied", 403), A),
        (client_error("SomethingNew", 503), R),
        (client_error("SomethingNew", 503.0), P),  # not an HTTP status: the class row
        (client_error("SomethingNew", True), P),
        (client_error("SomethingNew", 404), P),
        (bce.EventStreamError({"Error": {"Code": "ThrottlingException"}}, "Op"), R),
    ]
    for _ in range(3):  # the first round fills the memo, the others read it
        for exc, category in cases:
            assert classifier.classify(exc) is category, exc.response
            assert classifier.explain(exc).category is category
