"""botocore (and so boto3): every class in ``botocore.exceptions``, and service errors by code.

A service error is a ``ClientError`` (or a modelled subclass from ``client.exceptions``, or an
``EventStreamError``), read by ``response["Error"]["Code"]`` first and then by
``response["ResponseMetadata"]["HTTPStatusCode"]``: a code beats a status, so SQS's
``RequestThrottled``, which comes with 403, is throttling and not "forbidden". botocore's own
retry lists (``botocore/retries/standard.py`` and the legacy ``data/_retry.json``) are the floor
of the retryable codes, and, as botocore's standard mode does (``ModeledRetryErrorDetector``),
an error the operation's service model marks with the ``retryable`` trait is retryable: read
from the installed botocore's own model files (:func:`modelled_retryable`), never copied here.
An ``EventStreamError`` carries the stream's camelCase code (Bedrock's
``throttlingException``): a code is also tried with its first letter upper-cased.

botocore keeps the error under a connection failure in ``kwargs["error"]``; ``SSLError``,
``EndpointConnectionError``, ``ProxyConnectionError`` and the ``ConnectionError`` and
``HTTPClientError`` bases defer to it (an ``SSLError`` over an ``SSLEOFError`` is a dropped
connection, over a failed certificate verification it is not).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import threading
import zlib
from collections.abc import Hashable
from pathlib import Path

from resilience.catalogs import Catalog, Code, Reader, Reading, by_class, by_code, by_status
from resilience.catalogs._read import as_status, as_str, attr, header, retry_after
from resilience.categories import Category

R, A, Q, P = Category.RETRYABLE, Category.AUTH, Category.QUEUE, Category.PERMANENT

_X = "botocore.exceptions."
_CLIENT = _X + "ClientError"

#: Pseudo-codes the reader adds for an error the operation's service model marks retryable.
TRAIT = "retryable-trait"
TRAIT_THROTTLING = "retryable-trait:throttling"


# --- the retryable trait of the installed botocore's service models ---------------------------

_models_lock = threading.Lock()
_models: dict[str, dict[str, bool]] | None = None


def _data_dir() -> Path | None:
    try:
        spec = importlib.util.find_spec("botocore")  # locates it; does not import it
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _scan(data: Path) -> dict[str, dict[str, bool]]:
    """operation -> {code: throttling?} for every error shape with the ``retryable`` trait."""
    found: dict[str, dict[str, bool]] = {}
    for path in sorted(data.glob("*/*/service-2.json*")):
        try:
            raw = path.read_bytes()
            text = zlib.decompress(raw, 47) if path.suffix == ".gz" else raw
        except (OSError, zlib.error):
            continue
        if b'"retryable"' not in text:
            continue  # most models have none; skip the JSON parse
        try:
            model = json.loads(text)
            shapes = model["shapes"]
            retryable = {
                name: (
                    (shape.get("error") or {}).get("code") or name,
                    bool(trait.get("throttling")),
                )
                for name, shape in shapes.items()
                if isinstance(trait := shape.get("retryable"), dict)
            }
            for operation, spec in model["operations"].items():
                for error in spec.get("errors", ()):
                    if error.get("shape") in retryable:
                        code, throttling = retryable[error["shape"]]
                        codes = found.setdefault(operation, {})
                        codes[code] = codes.get(code, False) or throttling
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return found


def _cache_file(data: Path) -> Path | None:
    try:
        version = importlib.metadata.version("botocore")
    except importlib.metadata.PackageNotFoundError:
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    digest = hashlib.sha256(str(data.resolve()).encode()).hexdigest()[:16]
    return Path(base) / "resilience" / f"botocore-{version}-{digest}-retryable.json"


def modelled_retryable() -> dict[str, dict[str, bool]]:
    """operation -> {error code: whether it is throttling} for every error the installed
    botocore's service models mark ``retryable``; empty when botocore is not installed.

    Read once per process from botocore's data files (about a second for every service), and
    kept in the user's cache directory per botocore version, so a later process reads one
    small file. Only looked at when a ``ClientError`` is first classified.
    """
    global _models  # noqa: PLW0603 - loaded once per process
    if _models is None:
        with _models_lock:
            if _models is None:
                _models = _load_models()
    return _models


def _load_models() -> dict[str, dict[str, bool]]:
    data = _data_dir()
    if data is None or not data.is_dir():
        return {}
    cache = _cache_file(data)
    if cache is not None:
        with contextlib.suppress(OSError, ValueError):
            cached = json.loads(cache.read_text(encoding="utf-8"))
            if isinstance(cached, dict):
                return cached
    found = _scan(data)
    if cache is not None:
        with contextlib.suppress(OSError):
            cache.parent.mkdir(parents=True, exist_ok=True)
            partial = cache.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps(found, sort_keys=True), encoding="utf-8")
            partial.replace(cache)
    return found


# --- reading a ClientError -------------------------------------------------------------------


def _client_error(exc: BaseException) -> Reading:
    response = attr(exc, "response")
    if type(response) is not dict:
        return (), None
    error = response.get("Error")
    metadata = response.get("ResponseMetadata")
    code = as_str(error.get("Code")) if type(error) is dict else None
    status = as_status(metadata.get("HTTPStatusCode")) if type(metadata) is dict else None
    if not code:
        return (), status
    codes: list[Code] = [code]
    if code[0].islower():  # an event stream's camelCase code
        codes.append(code[0].upper() + code[1:])
    operation = as_str(attr(exc, "operation_name"))
    if operation:
        traits = modelled_retryable().get(operation)
        if traits:
            for candidate in tuple(codes):
                if candidate in traits:
                    codes.append(TRAIT_THROTTLING if traits[candidate] else TRAIT)
                    break
    return tuple(codes), status


def _client_error_key(
    exc: BaseException, _type: type = type, _dict: type = dict, _str: type = str, _int: type = int
) -> Hashable:
    # The subscripts `_client_error` makes, on plain dicts, strs and ints only: anything else
    # raises, and is read in full every time. (Builtins bound as locals: this runs on every
    # classification of a ClientError.)
    response = exc.response  # type: ignore[attr-defined]
    if _type(response) is not _dict:
        raise TypeError
    error = response["Error"]
    metadata = response["ResponseMetadata"]
    if _type(error) is not _dict or _type(metadata) is not _dict:
        raise TypeError
    code = error["Code"]
    status = metadata["HTTPStatusCode"]
    if _type(code) is not _str or (status is not None and _type(status) is not _int):
        raise TypeError
    if code in _STATIC:  # a row of its own decides, whatever the operation's model says
        return code, status
    operation = exc.operation_name  # type: ignore[attr-defined]
    if _type(operation) is not _str:
        raise TypeError
    return code, status, operation


def _client_error_hint(exc: BaseException) -> float | None:
    response = attr(exc, "response")
    if type(response) is not dict:
        return None
    metadata = response.get("ResponseMetadata")
    if type(metadata) is not dict:
        return None
    return retry_after(header(metadata.get("HTTPHeaders"), "retry-after"))


def _spell(raw: str) -> tuple[Code, ...]:
    text = raw.strip()
    if text[:1].islower():  # an event stream's camelCase code
        return (text, text[0].upper() + text[1:])
    return (text,)


def _wrapped(exc: BaseException) -> BaseException | None:
    kwargs = attr(exc, "kwargs")
    inner = kwargs.get("error") if type(kwargs) is dict else None
    return inner if issubclass(type(inner), BaseException) else None


def _no_code(exc: BaseException) -> Reading:
    return (), None


# botocore.retries.standard.ThrottledRetryableChecker._THROTTLED_ERROR_CODES
_THROTTLED = (
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
)

# TransientRetryableChecker._TRANSIENT_ERROR_CODES (less the one already throttled), the
# legacy handler's extra codes, special.RetryIDPCommunicationError, and the usual names of a
# server-side failure (they come with a 5xx, except in event streams, which carry no status).
_TRANSIENT = {
    "RequestTimeout": "the request timed out at the service",
    "RequestTimeoutException": "the request timed out at the service",
    "ReplicatedWriteConflictException": "DynamoDB global tables: a concurrent replicated write",
    "BadDigest": "S3: the body's MD5 did not match, corrupted in transit",
    "IDPCommunicationError": "STS could not reach the identity provider",
    "InternalError": "the service failed internally",
    "InternalFailure": "the service failed internally",
    "InternalServerError": "the service failed internally",
    "InternalServerException": "the service failed internally",
    "ServiceUnavailable": "the service is unavailable for now",
    "ServiceUnavailableException": "the service is unavailable for now",
}

# Refused credentials or permissions: retrying sends the same credentials again.
_AUTH = {
    "AccessDenied": "access denied by IAM or a resource policy",
    "AccessDeniedException": "access denied by IAM or a resource policy",
    "UnauthorizedOperation": "EC2: not authorized for this operation",
    "UnauthorizedException": "not authorized",
    "NotAuthorized": "not authorized",
    "NotAuthorizedException": "not authorized (e.g. Cognito: wrong password or token)",
    "AuthorizationError": "SNS: not authorized",
    "AuthFailure": "EC2: the credentials could not be validated",
    "OptInRequired": "the account is not subscribed to this service",
    "UnrecognizedClientException": "the access key or security token is invalid",
    "InvalidClientTokenId": "the access key id does not exist",
    "InvalidAccessKeyId": "S3: the access key id does not exist",
    "InvalidToken": "the security token is malformed or invalid",
    "InvalidSignatureException": "the request signature is wrong: check the secret key",
    "SignatureDoesNotMatch": "the request signature is wrong: check the secret key",
    "IncompleteSignature": "the request signature is incomplete",
    "MissingAuthenticationToken": "the request was not signed",
    "MissingAuthenticationTokenException": "the request was not signed",
    "ExpiredToken": "the session token has expired: refresh the credentials",
    "ExpiredTokenException": "the session token has expired: refresh the credentials",
    "TokenRefreshRequired": "the token must be refreshed",
    "InvalidIdentityToken": "STS: the web identity token was rejected",
    "IDPRejectedClaim": "STS: the identity provider rejected the claim",
    # botocore does not correct clock skew, so a retry is signed with the same wrong clock.
    "RequestExpired": "the signature's time is outside the service's window: clock skew",
    "RequestTimeTooSkewed": "the signature's time is too far from the service's: clock skew",
}

# Classes of botocore.exceptions, by category.
_RETRYABLE_CLASSES = {
    "ConnectionError": "an HTTP client failed to connect",
    "EndpointConnectionError": "could not connect to the endpoint",
    "ConnectTimeoutError": "the connection timed out",
    "ProxyConnectionError": "could not connect to the proxy",
    "HTTPClientError": "the HTTP client failed in transit",
    "ReadTimeoutError": "the response did not arrive in time",
    "ConnectionClosedError": "the connection closed before a response",
    "ResponseStreamingError": "the connection failed while streaming the response",
    "IncompleteReadError": "the response body ended early",
    "ChecksumError": "the response's CRC32 did not match: corrupted in transit",
    "FlexibleChecksumError": "a response checksum did not match: corrupted in transit",
    "CapacityNotAvailableError": "client-side rate limiting: capacity refills over time",
    "MetadataRetrievalError": "the instance or container metadata service did not answer",
}

# Generic wrappers of an underlying error (in kwargs["error"], or the cause chain).
_WRAPPERS = {
    "ConnectionError",
    "EndpointConnectionError",
    "ProxyConnectionError",
    "HTTPClientError",
}

_AUTH_CLASSES = {
    "NoCredentialsError": "no credentials found: configure them",
    "PartialCredentialsError": "credentials are incomplete: configure them",
    "CredentialRetrievalError": "a credential provider failed to produce credentials",
    "RefreshWithMFAUnsupportedError": "credentials need an MFA token to refresh",
    "NoAuthTokenError": "no bearer token found",
    "TokenRetrievalError": "the bearer token could not be refreshed: log in again",
    "SSOError": "SSO credentials could not be resolved",
    "SSOTokenLoadError": "the SSO token could not be loaded: run aws sso login",
    "UnauthorizedSSOTokenError": "the SSO session has expired: run aws sso login",
    "LoginError": "login credentials could not be resolved",
    "LoginAuthorizationCodeError": "the login authorization code was not accepted",
    "LoginInsufficientPermissions": "not permitted to create or refresh login credentials",
    "LoginRefreshRequired": "the login session has expired: run aws login",
    "LoginTokenLoadError": "the login session token could not be loaded",
}

_PERMANENT_CLASSES = {
    "BotoCoreError": "a client-side error with no transient cause",
    "AliasConflictParameterError": "a parameter and its alias were both given",
    "ApiVersionNotFoundError": "the API version's data is not installed",
    "AwsChunkedWrapperError": "the chunked body stream cannot seek there: a programming error",
    "BaseEndpointResolverError": "the endpoint could not be resolved",
    "ConfigNotFound": "the config file does not exist",
    "ConfigParseError": "the config file cannot be parsed",
    "DataNotFoundError": "botocore's model data is missing",
    "EndpointProviderError": "the endpoint rules failed",
    "EndpointResolutionError": "the endpoint rules resolved to an error",
    "EndpointVariantError": "no endpoint for this FIPS/dual-stack variant",
    "InfiniteLoopConfigError": "the credential configuration loops",
    "InvalidChecksumConfigError": "invalid checksum configuration",
    "InvalidConfigError": "invalid configuration",
    "InvalidDNSNameError": "the bucket name is not DNS compatible",
    "InvalidDefaultsMode": "invalid defaults mode",
    "InvalidEndpointConfigurationError": "invalid endpoint configuration",
    "InvalidEndpointDiscoveryConfigurationError": "invalid endpoint discovery configuration",
    "InvalidExpressionError": "invalid expression",
    "InvalidHostLabelError": "the value cannot be part of a host name",
    "InvalidIMDSEndpointError": "invalid instance metadata endpoint",
    "InvalidIMDSEndpointModeError": "invalid instance metadata endpoint mode",
    "InvalidMaxRetryAttemptsError": "invalid max_attempts",
    "InvalidProxiesConfigError": "invalid proxies configuration",
    "InvalidRegionError": "the region name is not valid",
    "InvalidRetryConfigurationError": "invalid retry configuration",
    "InvalidRetryModeError": "invalid retry mode",
    "InvalidS3AddressingStyleError": "invalid S3 addressing style",
    "InvalidS3UsEast1RegionalEndpointConfigError": "invalid S3 us-east-1 endpoint option",
    "InvalidSTSRegionalEndpointsConfigError": "invalid STS regional endpoints option",
    "MD5UnavailableError": "this system cannot compute MD5",
    "MissingDependencyException": "an optional dependency is not installed",
    "MissingParametersError": "required parameters are missing",
    "MissingServiceIdError": "the service model has no serviceId",
    "NoRegionError": "no region configured",
    "OperationNotPageableError": "the operation cannot be paginated",
    "PaginationError": "pagination failed, e.g. a bad starting token",
    "ParamValidationError": "the parameters failed validation: fix the call",
    "ProfileNotFound": "the config profile does not exist",
    "RangeError": "a parameter is out of range",
    "ServiceNotInRegionError": "the service is not available in this region",
    "StubAssertionError": "a Stubber expectation failed: a test error",
    "StubResponseError": "a Stubber response is wrong: a test error",
    "UnStubbedResponseError": "no Stubber response queued: a test error",
    "UndefinedModelAttributeError": "the service model lacks an attribute",
    "UnknownClientMethodError": "the client has no such method",
    "UnknownCredentialError": "no credential provider of that name",
    "UnknownTokenProviderError": "no token provider of that name: fix the configuration",
    "UnknownEndpointError": "no endpoint for this service in this region",
    "UnknownEndpointResolutionBuiltInName": "unknown endpoint rules built-in",
    "UnknownFIPSEndpointError": "unknown FIPS pseudo-region for this service",
    "UnknownKeyError": "unknown key for a parameter",
    "UnknownParameterError": "unknown parameter for the operation",
    "UnknownRegionError": "unknown region",
    "UnknownServiceError": "unknown service name",
    "UnknownServiceStyle": "unknown service style",
    "UnknownSignatureVersionError": "unknown signature version",
    "UnseekableStreamError": "the body cannot be rewound, so it cannot be sent again",
    "UnsupportedOutpostResourceError": "unsupported S3 Outpost ARN",
    "UnsupportedS3AccesspointConfigurationError": "unsupported S3 access-point configuration",
    "UnsupportedS3ArnError": "unsupported S3 ARN",
    "UnsupportedS3ConfigurationError": "unsupported S3 configuration",
    "UnsupportedS3ControlArnError": "unsupported S3 Control ARN",
    "UnsupportedS3ControlConfigurationError": "unsupported S3 Control configuration",
    "UnsupportedServiceProtocolsError": "botocore supports none of the service's protocols",
    "UnsupportedSignatureVersionError": "unsupported signature version",
    "ValidationError": "a parameter value is invalid",
    "WaiterConfigError": "invalid waiter configuration",
    "WaiterError": "the waiter already polled until its limit or reached a failure state",
    "ImminentRemovalWarning": "a warning (raised only when warnings are errors), not transient",
    "UnsupportedTLSVersionWarning": "a warning (raised only when warnings are errors): old TLS",
}

#: Codes with a row of their own (the model's trait is only a pseudo-code after them).
_STATIC = frozenset((*_THROTTLED, *_TRANSIENT, *_AUTH))

CATALOG = Catalog(
    "botocore",
    "botocore and boto3: every class in botocore.exceptions; ClientError by error code, "
    "then by HTTP status",
    (
        # ClientError: code rows, then status rows, then the class row as a last resort.
        *(by_code(_CLIENT, code, R, "throttled: back off and retry") for code in _THROTTLED),
        *(by_code(_CLIENT, code, R, reason) for code, reason in _TRANSIENT.items()),
        *(by_code(_CLIENT, code, A, reason) for code, reason in _AUTH.items()),
        by_status(_CLIENT, 408, R, "HTTP 408: request timeout"),
        by_status(_CLIENT, 429, R, "HTTP 429: too many requests"),
        by_status(_CLIENT, 509, R, "HTTP 509: bandwidth limit exceeded"),
        by_code(
            _CLIENT,
            TRAIT,
            R,
            "the operation's service model marks this error retryable (botocore's standard "
            "mode retries it)",
        ),
        by_code(
            _CLIENT,
            TRAIT_THROTTLING,
            R,
            "the operation's service model marks this error retryable throttling (botocore's "
            "standard mode retries it)",
        ),
        by_status(_CLIENT, 501, P, "HTTP 501: not implemented, and it won't be"),
        by_status(_CLIENT, 505, P, "HTTP 505: the HTTP version is not supported"),
        by_status(_CLIENT, 511, A, "HTTP 511: the network wants authentication (captive portal)"),
        by_status(_CLIENT, "5xx", R, "HTTP 5xx: the service failed; it may recover"),
        by_status(_CLIENT, 401, A, "HTTP 401: unauthenticated"),
        by_status(_CLIENT, 403, A, "HTTP 403: forbidden"),
        by_status(_CLIENT, "4xx", P, "HTTP 4xx: the request is wrong; fix it"),
        by_class(_CLIENT, P, "a service error with an unknown code and no transient status"),
        by_class(_X + "EventStreamError", None, "an error inside an event stream, as ClientError"),
        *(
            by_class(_X + name, R, reason, defers=name in _WRAPPERS)
            for name, reason in _RETRYABLE_CLASSES.items()
        ),
        by_class(
            _X + "SSLError",
            P,
            "TLS failed, mostly certificate validation; what it wraps decides when it says more",
            defers=True,
        ),
        *(by_class(_X + name, A, reason) for name, reason in _AUTH_CLASSES.items()),
        *(by_class(_X + name, P, reason) for name, reason in _PERMANENT_CLASSES.items()),
    ),
    readers=(
        Reader(
            _CLIENT,
            _client_error,
            hint=_client_error_hint,
            key=_client_error_key,
            reads=("response", "operation_name"),
            spell=_spell,
        ),
        Reader(_X + "BotoCoreError", _no_code, inner=_wrapped),
    ),
)
