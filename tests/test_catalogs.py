"""The built-in catalogs as data: shape, completeness against the installed packages, seed names.

The completeness tests enumerate the exception classes each installed package defines, so a new
release that adds a class fails here, naming it, until a catalog row classifies it.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from types import ModuleType

import pytest

from resilience import Category, Classifier
from resilience.catalogs import BUILTIN, Catalog, load, load_all
from resilience.classify import qualified_name

LIBRARY_CATALOGS = (
    "awsiot",
    "aiomqtt",
    "botocore",
    "devopsagent",
    "engineio",
    "requests",
    "urllib3",
    "httpx",
    "aiohttp",
    "grpc",
    "redis",
    "websockets",
)
LIBRARY_MODULES = (
    "AWSIoTPythonSDK",
    "aiomqtt",
    "paho",
    "botocore",
    "boto3",
    "devopsagent_api",
    "engineio",
    "requests",
    "urllib3",
    "httpx",
    "httpcore",
    "aiohttp",
    "multidict",
    "grpc",
    "websockets",
)


@pytest.fixture(name="catalogs")
def _catalogs() -> dict[str, Catalog]:
    return {catalog.name: catalog for catalog in load_all()}


def targets(catalog: Catalog) -> set[str]:
    return {entry.target for entry in catalog}


def _modules(package: str, *, walk: bool) -> Iterator[ModuleType]:
    pytest.importorskip(package.partition(".")[0])
    module = importlib.import_module(package)
    yield module
    if not walk or not hasattr(module, "__path__"):
        return
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # deprecated modules warn when imported
                yield importlib.import_module(info.name)
        except ImportError:
            # An optional driver whose dependency is not installed (engineio's eventlet,
            # gevent, tornado): it can't raise anything in this environment either.
            continue


def defined_exceptions(package: str, *, walk: bool) -> dict[str, type[BaseException]]:
    """Every exception class defined (not merely imported) in ``package``'s modules."""
    found: dict[str, type[BaseException]] = {}
    for module in _modules(package, walk=walk):
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ):
                found[qualified_name(value)] = value
    return found


# (package or module, walk its submodules, the catalog that must list its classes, at least)
PACKAGES = [
    pytest.param("AWSIoTPythonSDK.exception", True, "awsiot", 29, id="AWSIoTPythonSDK"),
    pytest.param("aiomqtt", True, "aiomqtt", 4, id="aiomqtt"),
    pytest.param("paho", True, "aiomqtt", 4, id="paho-mqtt"),
    pytest.param("botocore.exceptions", False, "botocore", 100, id="botocore"),
    pytest.param("devopsagent_api.exceptions", False, "devopsagent", 18, id="devopsagent-api"),
    pytest.param("engineio", True, "engineio", 6, id="python-engineio"),
    pytest.param("requests", True, "requests", 25, id="requests"),
    pytest.param("urllib3", True, "urllib3", 39, id="urllib3"),
    pytest.param("httpx", True, "httpx", 28, id="httpx"),
    pytest.param("httpcore", True, "httpx", 15, id="httpcore"),
    pytest.param("aiohttp", True, "aiohttp", 100, id="aiohttp"),
    pytest.param("grpc", True, "grpc", 30, id="grpcio"),
    pytest.param("redis", True, "redis", 45, id="redis"),
    pytest.param("websockets", True, "websockets", 35, id="websockets"),
    pytest.param("http.client", False, "builtins", 14, id="http.client"),
    pytest.param("urllib.error", False, "builtins", 3, id="urllib.error"),
    pytest.param("asyncio.exceptions", False, "builtins", 6, id="asyncio"),
    pytest.param("asyncio.queues", False, "builtins", 2, id="asyncio.queues"),
    pytest.param("ssl", False, "builtins", 7, id="ssl"),
    pytest.param("resilience.errors", False, "refusals", 5, id="resilience"),
]


@pytest.mark.parametrize(("package", "walk", "catalog_name", "at_least"), PACKAGES)
def test_every_exception_class_of_the_installed_package_is_in_its_catalog(
    catalogs: dict[str, Catalog], package: str, walk: bool, catalog_name: str, at_least: int
) -> None:
    found = defined_exceptions(package, walk=walk)
    # Guards the enumeration itself: finding nothing would make this test pass vacuously.
    assert len(found) >= at_least, sorted(found)
    missing = sorted(set(found) - targets(catalogs[catalog_name]))
    assert not missing, f"not in the {catalog_name!r} catalog: {', '.join(missing)}"


@pytest.mark.parametrize(("package", "walk", "catalog_name", "at_least"), PACKAGES)
def test_every_exception_class_of_the_installed_package_gets_a_verdict_from_its_catalog(
    package: str, walk: bool, catalog_name: str, at_least: int
) -> None:
    classifier = Classifier()
    for name, cls in defined_exceptions(package, walk=walk).items():
        plan_names = [qualified_name(k) for k in cls.__mro__]
        verdict = classifier.explain_name(plan_names)
        assert verdict is not None, name
        assert verdict.rule != "default", f"{name} falls to the default"


# Every exception class the documents in shared/seeds/ name, where the real package defines
# it (the seeds print bare names; these are the qualified names the classes really report).
_IOT = "AWSIoTPythonSDK.exception.AWSIoTExceptions."
SEED_NAMES = {
    "awsiot": [
        "AWSIoTPythonSDK.exception.operationError.operationError",
        "AWSIoTPythonSDK.exception.operationTimeoutException.operationTimeoutException",
        *(
            _IOT + name
            for name in (
                "acceptTimeoutException",
                "connectTimeoutException",
                "connectError",
                "disconnectTimeoutException",
                "disconnectError",
                "publishTimeoutException",
                "publishError",
                "publishQueueFullException",
                "publishQueueDisabledException",
                "subscribeTimeoutException",
                "subscribeError",
                "subackError",
                "subscribeQueueFullException",
                "subscribeQueueDisabledException",
                "unsubscribeTimeoutException",
                "unsubscribeError",
                "unsubscribeQueueFullException",
                "unsubscribeQueueDisabledException",
                "wssNoKeyInEnvironmentError",
                "wssHandShakeError",
                "DiscoveryTimeoutException",
                "DiscoveryUnauthorizedException",
                "DiscoveryDataNotFoundException",
                "DiscoveryInvalidRequestException",
                "DiscoveryThrottlingException",
                "DiscoveryFailure",
                "ClientError",
            )
        ),
    ],
    "aiomqtt": [
        "aiomqtt.exceptions.MqttError",
        "aiomqtt.exceptions.MqttCodeError",
        "aiomqtt.exceptions.MqttReentrantError",
    ],
    "botocore": [
        "botocore.exceptions." + name
        for name in (
            "AliasConflictParameterError",
            "ApiVersionNotFoundError",
            "BaseEndpointResolverError",
            "BotoCoreError",
            "ChecksumError",
            "ClientError",
            "ConfigNotFound",
            "ConfigParseError",
            "ConnectTimeoutError",
            "ConnectionClosedError",
            "ConnectionError",
            "CredentialRetrievalError",
            "DataNotFoundError",
            "EndpointConnectionError",
            "EventStreamError",
            "HTTPClientError",
            "ImminentRemovalWarning",
            "IncompleteReadError",
            "InfiniteLoopConfigError",
            "InvalidConfigError",
            "InvalidDNSNameError",
            "InvalidExpressionError",
            "InvalidMaxRetryAttemptsError",
            "InvalidRetryConfigurationError",
            "InvalidS3AddressingStyleError",
            "InvalidS3UsEast1RegionalEndpointConfigError",
            "InvalidSTSRegionalEndpointsConfigError",
            "MD5UnavailableError",
            "MetadataRetrievalError",
            "MissingParametersError",
            "MissingServiceIdError",
            "NoCredentialsError",
            "NoRegionError",
            "OperationNotPageableError",
            "PaginationError",
            "ParamValidationError",
            "PartialCredentialsError",
            "ProfileNotFound",
            "ProxyConnectionError",
            "RangeError",
            "ReadTimeoutError",
            "RefreshWithMFAUnsupportedError",
            "SSLError",
            "ServiceNotInRegionError",
            "StubAssertionError",
            "StubResponseError",
            "UnStubbedResponseError",
            "UndefinedModelAttributeError",
            "UnknownClientMethodError",
            "UnknownCredentialError",
            "UnknownEndpointError",
            "UnknownKeyError",
            "UnknownParameterError",
            "UnknownServiceError",
            "UnknownServiceStyle",
            "UnknownSignatureVersionError",
            "UnseekableStreamError",
            "UnsupportedS3AccesspointConfigurationError",
            "UnsupportedS3ArnError",
            "UnsupportedSignatureVersionError",
            "UnsupportedTLSVersionWarning",
            "ValidationError",
            "WaiterConfigError",
            "WaiterError",
        )
    ],
    "devopsagent": [
        "devopsagent_api.exceptions." + name
        for name in (
            "DevOpsAgentError",
            "AuthenticationError",
            "CredentialRefreshError",
            "JWTGenerationError",
            "CredentialExchangeError",
            "ConfigurationError",
            "ServiceRegistrationError",
            "ModelValidationError",
            "ValidationException",
            "UnauthorizedException",
            "ResourceNotFoundException",
            "ConflictException",
            "ThrottlingException",
            "InternalServerException",
            "ServiceUnavailableException",
            "NetworkError",
            "ConnectionError",
            "TimeoutError",
            # Named by the seed, not defined by devopsagent-api 1.0.x.
            "DevOpsAgentAPIError",
            "DevOpsAgentAuthError",
            "DevOpsAgentValidationError",
            "DevOpsAgentConfigError",
        )
    ],
    "engineio": [
        "engineio.exceptions." + name
        for name in (
            "EngineIOError",
            "ContentTooLongError",
            "UnknownPacketError",
            "QueueEmpty",
            "SocketIsClosedError",
            "ConnectionError",
        )
    ],
}


@pytest.mark.parametrize("catalog_name", sorted(SEED_NAMES))
def test_every_class_the_seeds_name_is_in_its_catalog(
    catalogs: dict[str, Catalog], catalog_name: str
) -> None:
    missing = sorted(set(SEED_NAMES[catalog_name]) - targets(catalogs[catalog_name]))
    assert not missing, f"not in the {catalog_name!r} catalog: {', '.join(missing)}"


def test_seed_names_are_the_qualified_names_the_real_classes_report() -> None:
    undefined = {
        "devopsagent_api.exceptions.DevOpsAgentAPIError",
        "devopsagent_api.exceptions.DevOpsAgentAuthError",
        "devopsagent_api.exceptions.DevOpsAgentValidationError",
        "devopsagent_api.exceptions.DevOpsAgentConfigError",
    }
    for names in SEED_NAMES.values():
        for name in names:
            module_name, _, attr = name.rpartition(".")
            module = importlib.import_module(module_name)
            if name in undefined:
                assert not hasattr(module, attr), f"{name} is defined now: classify it for real"
                continue
            assert qualified_name(getattr(module, attr)) == name


@pytest.mark.parametrize("name", BUILTIN)
def test_each_builtin_catalog_is_named_after_its_module_and_has_rows(name: str) -> None:
    catalog = load(name)
    assert catalog.name == name
    assert catalog.description
    assert len(catalog) > 0


@pytest.mark.parametrize("name", LIBRARY_CATALOGS)
def test_every_row_has_a_one_line_reason_and_a_qualified_target(name: str) -> None:
    for entry in load(name):
        assert entry.reason.strip(), entry
        assert "\n" not in entry.reason, entry
        parts = entry.target.split(".")
        assert len(parts) >= 2, entry
        assert all(part.isidentifier() for part in parts), entry
        assert entry.code is None or entry.status is None, entry


@pytest.mark.parametrize("name", LIBRARY_CATALOGS)
def test_no_row_is_listed_twice(name: str) -> None:
    keys = [(e.target, e.code, e.status) for e in load(name)]
    duplicates = sorted({str(k) for k in keys if keys.count(k) > 1})
    assert not duplicates, duplicates


def test_no_class_is_claimed_by_two_catalogs() -> None:
    seen: dict[str, str] = {}
    for catalog in load_all():
        for target in targets(catalog):
            assert target not in seen, f"{target} is in both {seen[target]} and {catalog.name}"
            seen[target] = catalog.name


def test_classifying_never_imports_the_libraries_it_knows() -> None:
    code = (
        "import sys\n"
        "import resilience\n"
        "from resilience.catalogs import load_all\n"
        "load_all()\n"
        "assert resilience.classify(TimeoutError()) == 'retryable'\n"
        f"leaked = sorted(set({LIBRARY_MODULES!r}) & set(sys.modules))\n"
        "assert not leaked, leaked\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_categories_used_are_categories() -> None:
    for catalog in load_all():
        for entry in catalog:
            assert entry.category is None or isinstance(entry.category, Category)
