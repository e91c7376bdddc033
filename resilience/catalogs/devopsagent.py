"""Community DevOps Agent API (``devopsagent_api``, on PyPI as ``devopsagent-api``).

Its API errors subclass botocore's ``ClientError`` (a bare ``DevOpsAgentError`` is decided by
the botocore catalog's code and status rows); its network errors subclass ``BotoCoreError``.
Its ``ConnectionError`` and ``TimeoutError`` shadow Python's without subclassing them, so the
built-in rows would never see them: they are listed here. The documentation also names four
classes that devopsagent-api 1.0.x does not define; they are listed too, should a release add
them.
"""

from __future__ import annotations

from resilience.catalogs import Catalog, by_class, by_status
from resilience.categories import Category

R, A, Q, P = Category.RETRYABLE, Category.AUTH, Category.QUEUE, Category.PERMANENT

_X = "devopsagent_api.exceptions."
_API = _X + "DevOpsAgentAPIError"
_UNDEFINED = "documented, but not defined by devopsagent-api 1.0.x"

CATALOG = Catalog(
    "devopsagent",
    "Community DevOps Agent API: API errors (botocore ClientError), auth, configuration and "
    "network errors",
    (
        by_class(
            _X + "DevOpsAgentError",
            None,
            "a ClientError: decided by the botocore catalog's code and status rows",
        ),
        # Authentication.
        by_class(_X + "AuthenticationError", A, "credentials, JWT or exchange refused"),
        by_class(_X + "CredentialRefreshError", A, "automatic credential refresh failed"),
        by_class(_X + "JWTGenerationError", A, "no JWT could be generated from the credentials"),
        by_class(_X + "CredentialExchangeError", A, "the JWT was not exchanged for credentials"),
        by_class(_X + "UnauthorizedException", A, "HTTP 401/403: unauthenticated or forbidden"),
        # Configuration.
        by_class(_X + "ConfigurationError", P, "the library is misconfigured"),
        by_class(_X + "ServiceRegistrationError", P, "the boto3 service model did not register"),
        by_class(_X + "ModelValidationError", P, "data failed model validation"),
        # API errors.
        by_class(_X + "ValidationException", P, "HTTP 400: the request is invalid"),
        by_class(_X + "ResourceNotFoundException", P, "HTTP 404: no such resource"),
        by_class(_X + "ConflictException", P, "HTTP 409: conflicts with the resource's state"),
        by_class(_X + "ThrottlingException", R, "HTTP 429: throttled, back off and retry"),
        by_class(_X + "InternalServerException", R, "HTTP 500: the service failed internally"),
        by_class(_X + "ServiceUnavailableException", R, "HTTP 503: the service is unavailable"),
        # Network (BotoCoreError subclasses).
        by_class(_X + "NetworkError", R, "the network failed before reaching the service"),
        by_class(_X + "ConnectionError", R, "could not connect to the API endpoint"),
        by_class(_X + "TimeoutError", R, "the request timed out"),
        # Named by the documentation only.
        by_status(_API, 408, R, "HTTP 408: request timeout"),
        by_status(_API, 429, R, "HTTP 429: rate limited"),
        by_status(_API, 501, P, "HTTP 501: not implemented"),
        by_status(_API, "5xx", R, "HTTP 5xx: the service failed; it may recover"),
        by_status(_API, 401, A, "HTTP 401: unauthenticated"),
        by_status(_API, 403, A, "HTTP 403: forbidden"),
        by_class(_API, P, f"an API error without a transient status; {_UNDEFINED}"),
        by_class(_X + "DevOpsAgentAuthError", A, f"authentication refused; {_UNDEFINED}"),
        by_class(_X + "DevOpsAgentValidationError", P, f"invalid data; {_UNDEFINED}"),
        by_class(_X + "DevOpsAgentConfigError", P, f"misconfiguration; {_UNDEFINED}"),
    ),
)
