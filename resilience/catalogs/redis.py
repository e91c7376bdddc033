"""redis-py: every exception class the package defines.

Reasons follow redis-py's own ``Retry`` (``supported_errors``: ``ConnectionError`` and
``TimeoutError``, retried by default since redis-py 6) and its cluster client (``MOVED`` and
``ASK`` are followed, ``TRYAGAIN`` and ``CLUSTERDOWN`` retried). Where we differ: a
``ConnectionError`` subclass that is a refusal (``AuthenticationError``,
``AuthorizationError``) is auth, never retried (redis-py's Retry would retry it as a
``ConnectionError``); ``BusyLoadingError`` (the server is loading its data) and ``ReadOnlyError``
(a replica answered a write during a failover) are retried; ``WatchError`` (a watched key
changed) is retried, as an optimistic transaction is meant to be. A pool out of connections
is a client-side limit: queue.
"""

from __future__ import annotations

from resilience.catalogs import Catalog, by_class
from resilience.categories import Category

R, A, Q, P = Category.RETRYABLE, Category.AUTH, Category.QUEUE, Category.PERMANENT

_X = "redis.exceptions."

_EXCEPTIONS = {
    "RedisError": (P, "a redis-py error with no transient cause"),
    "ConnectionError": (R, "the connection failed or dropped (redis-py's Retry retries it)"),
    "TimeoutError": (R, "the server did not answer in time (redis-py's Retry retries it)"),
    "AuthenticationError": (A, "the password or user was refused"),
    "AuthorizationError": (A, "the user may not connect (ACL)"),
    "ExternalAuthProviderError": (A, "the external identity provider refused the credentials"),
    "AuthenticationWrongNumberOfArgsError": (
        P,
        "AUTH with a user name to a server without ACLs: fix the configuration",
    ),
    "BusyLoadingError": (R, "the server is loading its dataset into memory"),
    "MaxConnectionsError": (Q, "the connection pool is exhausted (max_connections)"),
    "InvalidResponse": (R, "the reply could not be parsed: a connection broken mid-reply"),
    "ResponseError": (P, "the server refused the command (wrong type, syntax, arguments)"),
    "DataError": (P, "a value of the wrong type for the command: a programming error"),
    "PubSubError": (P, "a pub/sub API misuse"),
    "WatchError": (R, "a WATCHed key changed: run the transaction again"),
    "NoScriptError": (P, "the script is not cached: load it first (SCRIPT LOAD)"),
    "OutOfMemoryError": (R, "the server is over maxmemory: it may recover as keys expire"),
    "ExecAbortError": (P, "the transaction was discarded for an error in a command"),
    "ReadOnlyError": (R, "a replica answered a write: a failover is in progress"),
    "NoPermissionError": (A, "the user may not run this command (ACL NOPERM)"),
    "ModuleError": (P, "a module could not be loaded or failed"),
    "NoSuchFieldsetError": (P, "no such fieldset"),
    "LockError": (P, "the lock could not be acquired, extended or released"),
    "LockNotOwnedError": (P, "the lock is not owned by this client any more"),
    "ChildDeadlockedError": (P, "a forked child deadlocked on a lock of the parent"),
    "RedisClusterException": (P, "a cluster client error"),
    "ClusterError": (R, "the cluster client ran out of its own redirections and retries"),
    "ClusterDownError": (R, "CLUSTERDOWN: the cluster is down or a slot is not served"),
    "MasterDownError": (R, "MASTERDOWN: the master is down, a failover may follow"),
    "TryAgainError": (R, "TRYAGAIN: the cluster is resharding the keys"),
    "AskError": (R, "ASK: the slot is migrating; the cluster client follows it"),
    "MovedError": (R, "MOVED: the slot moved; the cluster client follows it"),
    "ClusterCrossSlotError": (P, "CROSSSLOT: the keys are in different slots: fix the keys"),
    "SlotNotCoveredError": (R, "no node serves the slot right now"),
    "CrossSlotTransactionError": (P, "a transaction over keys in different slots"),
    "InvalidPipelineStack": (P, "a cluster pipeline was built wrong"),
    "IncorrectPolicyType": (P, "a request policy of the wrong type: a programming error"),
}

_OTHER = {
    "redis.sentinel.MasterNotFoundError": (R, "Sentinel knows no master for the service yet"),
    "redis.sentinel.SlaveNotFoundError": (R, "Sentinel knows no replica for the service yet"),
    "redis.asyncio.sentinel.MasterNotFoundError": (R, "Sentinel knows no master yet"),
    "redis.asyncio.sentinel.SlaveNotFoundError": (R, "Sentinel knows no replica yet"),
    "redis.auth.err.InvalidTokenSchemaErr": (A, "the identity token is not of the expected form"),
    "redis.auth.err.RequestTokenErr": (A, "the identity provider refused the token request"),
    "redis.auth.err.TokenRenewalErr": (A, "the identity token could not be renewed"),
    "redis.event.EventException": (P, "an event listener failed"),
    "redis.http.http_client.HttpError": (R, "the HTTP call of a redis-py helper failed"),
    "redis.multidb.exception.InitialHealthCheckFailedError": (
        R,
        "no database passed the first health check",
    ),
    "redis.multidb.exception.NoValidDatabaseException": (R, "no healthy database right now"),
    "redis.multidb.exception.TemporaryUnavailableException": (R, "the database is unavailable"),
    "redis.multidb.exception.UnhealthyDatabaseException": (R, "the database failed its check"),
}

CATALOG = Catalog(
    "redis",
    "redis-py: connection loss and timeouts as its Retry sees them, refused credentials, cluster "
    "redirections, command errors",
    (
        *(by_class(_X + name, cat, reason) for name, (cat, reason) in _EXCEPTIONS.items()),
        *(by_class(name, cat, reason) for name, (cat, reason) in _OTHER.items()),
    ),
)
