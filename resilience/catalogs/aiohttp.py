"""aiohttp: every exception class the package defines, client and server side.

aiohttp's client retries nothing itself. Its connection errors are raised ``from`` the
``OSError`` or ``ssl`` error under them, so ``ClientConnectorError`` and its kin defer to
it: a refused connection is retried, a name that does not exist (``EAI_NONAME`` under
``ClientConnectorDNSError``) is not. A certificate that fails verification
(``ClientConnectorCertificateError``) or a pinned fingerprint that does not match is never
retried. ``ClientResponseError`` (``raise_for_status``), ``WSServerHandshakeError`` and
``ClientHttpProxyError`` are decided by their ``status`` (never the deprecated ``code``,
whose ``DeprecationWarning`` would replace the caller's exception under ``-W error``), with
the ``Retry-After`` of their ``headers`` as the server's hint. The server's
``web.HTTPException`` classes are decided by their ``status_code``.
"""

from __future__ import annotations

from resilience.catalogs import Catalog, Reader, Reading, by_class, by_status, http_statuses
from resilience.catalogs._read import as_status, attr, header, retry_after
from resilience.categories import Category

R, A, Q, P = Category.RETRYABLE, Category.AUTH, Category.QUEUE, Category.PERMANENT

_C = "aiohttp.client_exceptions."
_H = "aiohttp.http_exceptions."
_W = "aiohttp.web_exceptions."
_RESPONSE = _C + "ClientResponseError"
_WEB = _W + "HTTPException"


def _client(exc: BaseException) -> Reading:
    return (), as_status(attr(exc, "status"))


def _web(exc: BaseException) -> Reading:
    return (), as_status(attr(exc, "status_code"))


def _hint(exc: BaseException) -> float | None:
    return retry_after(header(attr(exc, "headers"), "retry-after"))


# name: (category, reason, defers)
_CLIENT = {
    "ClientError": (P, "an aiohttp client error with no transient cause", True),
    "ClientConnectionError": (R, "the connection failed; what it wraps decides", True),
    "ClientOSError": (R, "a socket error; what it wraps decides", True),
    "ClientConnectorError": (
        R,
        "could not connect; what it wraps decides (a refused connection is retried)",
        True,
    ),
    "ClientConnectorDNSError": (
        R,
        "the name did not resolve; its socket.gaierror decides (EAI_NONAME: no such name)",
        True,
    ),
    "ClientProxyConnectionError": (R, "could not connect to the proxy", True),
    "UnixClientConnectorError": (R, "could not connect to the Unix socket", True),
    "ClientSSLError": (P, "TLS failed; what it wraps decides", True),
    "ClientConnectorSSLError": (
        P,
        "TLS failed while connecting; what it wraps decides (an EOF is a dropped connection)",
        True,
    ),
    "ClientConnectorCertificateError": (
        P,
        "the server's certificate failed verification: retrying won't make it valid",
        False,
    ),
    "ClientConnectionResetError": (R, "the connection was reset", False),
    "ServerConnectionError": (R, "the connection to the server failed", True),
    "ServerDisconnectedError": (R, "the server closed the connection without answering", False),
    "ServerTimeoutError": (R, "the server did not answer in time", False),
    "ConnectionTimeoutError": (R, "the connection timed out", False),
    "SocketTimeoutError": (R, "a socket read timed out", False),
    "ServerFingerprintMismatch": (
        P,
        "the certificate does not match the pinned fingerprint: retrying won't change it",
        False,
    ),
    "ClientPayloadError": (R, "the response body broke off: a dropped connection", True),
    "ContentTypeError": (P, "the response is not of the content type expected (json())", False),
    "TooManyRedirects": (P, "a redirect loop or too long a chain: fix the URL", False),
    "InvalidURL": (P, "the URL is not valid: fix it", False),
    "InvalidUrlClientError": (P, "the URL is not valid: fix it", False),
    "InvalidUrlRedirectClientError": (P, "a redirect to an invalid URL", False),
    "NonHttpUrlClientError": (P, "the URL is not http(s)", False),
    "NonHttpUrlRedirectClientError": (P, "a redirect to a URL that is not http(s)", False),
    "RedirectClientError": (P, "a redirect could not be followed", False),
    "UploadAbortedError": (R, "the request body was never fully sent: the connection broke", True),
    "WSMessageTypeError": (P, "a WebSocket message of an unexpected type", False),
}

_HTTP = {
    "HttpProcessingError": (P, "an HTTP message could not be processed", False),
    "BadHttpMessage": (P, "a malformed HTTP message", False),
    "BadHttpMethod": (P, "a malformed HTTP method", False),
    "BadStatusLine": (P, "a malformed status line", False),
    "HttpBadRequest": (P, "a bad HTTP request", False),
    "InvalidHeader": (P, "a malformed header", False),
    "InvalidURLError": (P, "a malformed URL", False),
    "LineTooLong": (P, "a line over aiohttp's limit", False),
    "PayloadEncodingError": (P, "the body could not be decoded", False),
    "ContentEncodingError": (P, "the Content-Encoding could not be decoded", False),
    "DecompressSizeError": (P, "the decompressed body is over the limit", False),
    "ContentLengthError": (
        R,
        "the body ended before its Content-Length: a dropped connection",
        False,
    ),
    "TransferEncodingError": (R, "the chunked body broke off: a dropped connection", False),
}

_OTHER = {
    "aiohttp._websocket.models.WSHandshakeError": (P, "the WebSocket handshake is invalid"),
    "aiohttp._websocket.models.WebSocketError": (P, "a WebSocket protocol error (close code)"),
    "aiohttp.compression_utils.TooManyMembersError": (P, "too many gzip members in a body"),
    "aiohttp.payload.LookupError": (P, "no payload type for the body: a programming error"),
    "aiohttp.streams.EofStream": (P, "aiohttp's internal end-of-stream marker"),
    "aiohttp.web_app.CleanupError": (P, "a cleanup context of the web app failed"),
    "aiohttp.web_protocol.PayloadAccessError": (P, "the request body was read after the response"),
    "aiohttp.web_protocol.RequestPayloadError": (P, "the request body could not be read"),
    "aiohttp.web_runner.GracefulExit": (P, "the web runner is stopping: never retried"),
    "aiohttp.multipart.BadContentDispositionHeader": (P, "a warning: a bad Content-Disposition"),
    "aiohttp.multipart.BadContentDispositionParam": (P, "a warning: a bad Content-Disposition"),
    "aiohttp.web_exceptions.NotAppKeyWarning": (P, "a warning: an app key that is not an AppKey"),
}

# The server's web.HTTPException classes, all decided by their status_code.
_WEB_CLASSES = [
    "HTTPError",
    "HTTPSuccessful",
    "HTTPOk",
    "HTTPCreated",
    "HTTPAccepted",
    "HTTPNonAuthoritativeInformation",
    "HTTPNoContent",
    "HTTPResetContent",
    "HTTPPartialContent",
    "HTTPRedirection",
    "HTTPMove",
    "HTTPMultipleChoices",
    "HTTPMovedPermanently",
    "HTTPFound",
    "HTTPSeeOther",
    "HTTPNotModified",
    "HTTPUseProxy",
    "HTTPTemporaryRedirect",
    "HTTPPermanentRedirect",
    "HTTPClientError",
    "HTTPBadRequest",
    "HTTPUnauthorized",
    "HTTPPaymentRequired",
    "HTTPForbidden",
    "HTTPNotFound",
    "HTTPMethodNotAllowed",
    "HTTPNotAcceptable",
    "HTTPProxyAuthenticationRequired",
    "HTTPRequestTimeout",
    "HTTPConflict",
    "HTTPGone",
    "HTTPLengthRequired",
    "HTTPPreconditionFailed",
    "HTTPRequestEntityTooLarge",
    "HTTPRequestURITooLong",
    "HTTPUnsupportedMediaType",
    "HTTPRequestRangeNotSatisfiable",
    "HTTPExpectationFailed",
    "HTTPMisdirectedRequest",
    "HTTPUnprocessableEntity",
    "HTTPFailedDependency",
    "HTTPUpgradeRequired",
    "HTTPPreconditionRequired",
    "HTTPTooManyRequests",
    "HTTPRequestHeaderFieldsTooLarge",
    "HTTPUnavailableForLegalReasons",
    "HTTPServerError",
    "HTTPInternalServerError",
    "HTTPNotImplemented",
    "HTTPBadGateway",
    "HTTPServiceUnavailable",
    "HTTPGatewayTimeout",
    "HTTPVersionNotSupported",
    "HTTPVariantAlsoNegotiates",
    "HTTPInsufficientStorage",
    "HTTPNotExtended",
    "HTTPNetworkAuthenticationRequired",
]

CATALOG = Catalog(
    "aiohttp",
    "aiohttp: connection errors by what they wrap, ClientResponseError by status (with "
    "Retry-After), certificate failures, the server's HTTP exceptions by status",
    (
        *(
            by_class(_C + name, cat, reason, defers=defers)
            for name, (cat, reason, defers) in _CLIENT.items()
        ),
        by_class(_RESPONSE, None, "raise_for_status(): decided by the response's status"),
        *http_statuses(_RESPONSE),
        by_class(
            _C + "WSServerHandshakeError", None, "the WebSocket upgrade was refused: by status"
        ),
        by_class(_C + "ClientHttpProxyError", None, "the proxy refused the CONNECT: by status"),
        *(
            by_class(_H + name, cat, reason, defers=defers)
            for name, (cat, reason, defers) in _HTTP.items()
        ),
        *(by_class(name, cat, reason) for name, (cat, reason) in _OTHER.items()),
        by_class(_WEB, P, "a web.HTTPException with a status that says nothing transient"),
        *(by_class(_W + name, None, "decided by its status_code") for name in _WEB_CLASSES),
        *http_statuses(_WEB, "the handler"),
        by_status(_WEB, "2xx", P, "a success status raised as an exception: nothing to retry"),
        by_status(_WEB, "3xx", P, "a redirect raised as an exception: follow it, don't retry"),
    ),
    readers=(
        Reader(_C + "ClientError", _client, hint=_hint),
        Reader(_WEB, _web, hint=_hint),
    ),
    packages=("multidict",),
)
