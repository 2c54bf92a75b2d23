"""Everything that touches the driver's API, shared by both facades.

Building the cluster and session, preparing statements once per session, turning engine requests
into driver statements, and classifying driver exceptions for the retry policy.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Mapping
from typing import Any

from cassandra import (
    AuthenticationFailed,
    ConsistencyLevel,
    CoordinationFailure,
    OperationTimedOut,
    ReadFailure,
    ReadTimeout,
    Unauthorized,
    Unavailable,
    WriteFailure,
    WriteTimeout,
)
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    Session,
)
from cassandra.connection import ConnectionException
from cassandra.policies import (
    ConstantSpeculativeExecutionPolicy,
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    FallthroughRetryPolicy,
    TokenAwarePolicy,
    WriteType,
)
from cassandra.protocol import (
    IsBootstrappingErrorMessage,
    OverloadedErrorMessage,
    ServerError,
    SyntaxException,
    UnauthorizedErrorMessage,
)
from cassandra.query import BatchStatement, PreparedStatement, tuple_factory
from cassandra.query import BatchType as DriverBatchType
from cassandra.query import Statement as DriverStatement

from scyllabatch._core import schema
from scyllabatch._core.requests import Consistency, Failure, Request, Rows
from scyllabatch._core.retry import ErrorKind
from scyllabatch.config import StoreConfig
from scyllabatch.errors import StoreConnectionError
from scyllabatch.ops import BatchType

logger = logging.getLogger("scyllabatch")

PROFILE = "scyllabatch"
# The SDK alone decides what is re-sent: the driver must never retry behind its back.
NO_DRIVER_RETRIES = FallthroughRetryPolicy()

# The driver leaves Nagle's algorithm on and writes any request above 4 KiB (after compression)
# in 4 KiB pieces: the last piece then waits for the server's delayed ACK, about 40 ms on Linux.
# A 100-put batch of 300-byte values took 45 ms instead of 2 ms. (The Java driver sets
# TCP_NODELAY by default too.)
SOCKET_OPTIONS = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]

_DRIVER_BATCH_TYPES = {
    BatchType.LOGGED: DriverBatchType.LOGGED,
    BatchType.UNLOGGED: DriverBatchType.UNLOGGED,
}

_WRITE_TIMEOUT_KINDS = {
    WriteType.SIMPLE: ErrorKind.WRITE_TIMEOUT_SIMPLE,
    WriteType.UNLOGGED_BATCH: ErrorKind.WRITE_TIMEOUT_UNLOGGED_BATCH,
    WriteType.BATCH: ErrorKind.WRITE_TIMEOUT_BATCH,
    WriteType.BATCH_LOG: ErrorKind.WRITE_TIMEOUT_BATCH_LOG,
}


def consistency_level(name: str) -> int:
    """The driver's numeric consistency level for a name such as ``"LOCAL_QUORUM"``."""
    return int(ConsistencyLevel.name_to_value[name])


def execution_profile(config: StoreConfig) -> ExecutionProfile:
    """The profile every SDK request uses: token-aware, no driver retries, tuple rows.

    Idempotent requests (the driver checks ``is_idempotent``, which the SDK sets on every read
    and every plain put/delete, whose client timestamps are pinned) are sent again to the next
    replica of the query plan after ``speculative_delay`` without an answer; the first answer
    wins. The token-aware plan shuffles the replicas, so a paused replica delays a request by
    one speculative delay instead of failing it after the request timeout. Counter and
    conditional writes are not idempotent and never speculated.
    """
    speculative = (
        ConstantSpeculativeExecutionPolicy(config.speculative_delay, config.speculative_attempts)
        if config.speculative_delay is not None
        else None
    )
    return ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=config.local_dc)),
        retry_policy=NO_DRIVER_RETRIES,
        consistency_level=consistency_level(config.write_consistency),
        request_timeout=config.request_timeout,
        row_factory=tuple_factory,
        speculative_execution_policy=speculative,
    )


def connect(config: StoreConfig) -> tuple[Cluster, Session]:
    """Create a cluster and a session (blocking; the async facade runs this in a thread)."""
    auth = (
        PlainTextAuthProvider(username=config.username, password=config.password)
        if config.username is not None
        else None
    )
    profile = execution_profile(config)
    cluster = Cluster(
        contact_points=list(config.hosts),
        port=config.port,
        auth_provider=auth,
        ssl_context=config.ssl_context,
        connect_timeout=config.connect_timeout,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile, PROFILE: profile},
        sockopts=SOCKET_OPTIONS,
        # Host-down detection: a connection that received nothing for `heartbeat_interval` is
        # probed, and closed (its host marked down) without an answer within the same time. A
        # paused node is then out of every query plan within about three intervals, instead
        # of 30 + 30 s with the driver's defaults.
        idle_heartbeat_interval=config.heartbeat_interval,
        idle_heartbeat_timeout=config.heartbeat_interval,
        # A node that comes back is reconnected within 10 s even if its "up" event is missed
        # (the driver's default waits up to 600 s between attempts).
        reconnection_policy=ExponentialReconnectionPolicy(0.5, 10.0),
    )
    try:
        session = cluster.connect()
    except NoHostAvailable as exc:
        cluster.shutdown()
        raise StoreConnectionError(
            f"could not connect to {list(config.hosts)} port {config.port}: {exc}. Is the node "
            "running? (`make node-start` starts a local one; set SCYLLABATCH_HOSTS for another)"
        ) from exc
    except Exception:
        cluster.shutdown()
        raise
    return cluster, session


def attach_profile(session: Session, config: StoreConfig) -> str:
    """Register the SDK's execution profile on a session the caller created.

    Returns the profile name to use. Clusters built with legacy (non-profile) parameters cannot
    take profiles; then the default profile is used and every statement still carries the SDK's
    retry policy and consistency level.
    """
    cluster = session.cluster
    if PROFILE in getattr(cluster.profile_manager, "profiles", {}):
        return PROFILE
    try:
        cluster.add_execution_profile(PROFILE, execution_profile(config))
    except Exception as exc:  # legacy-mode clusters raise ValueError
        logger.info("using the session's default execution profile: %s", exc)
        return EXEC_PROFILE_DEFAULT  # type: ignore[no-any-return]
    return PROFILE


class Statements:
    """Every statement of the SDK, prepared once per session and keyspace, and how to send them."""

    observer: Callable[[Request, Any], None] | None = None
    """Optional hook, off by default: called with every request and its driver
    ``ResponseFuture`` right after it is sent (the cluster tests use it to check which
    coordinator answered each batch). One attribute test on the hot path when unused."""

    def __init__(self, session: Session, config: StoreConfig, profile: str) -> None:
        self.session = session
        self.config = config
        self.profile = profile
        self.speculative = config.speculative_delay is not None
        self.read_consistency = consistency_level(config.read_consistency)
        self.write_consistency = consistency_level(config.write_consistency)
        self.prepared: dict[schema.Statement, PreparedStatement] = {}
        for statement, cql in schema.statement_cql(config.keyspace).items():
            prepared = session.prepare(cql)
            prepared.retry_policy = NO_DRIVER_RETRIES
            self.prepared[statement] = prepared

    def send(self, request: Request) -> Any:
        """Start one request (non-blocking); returns the driver's ``ResponseFuture``."""
        future = self.session.execute_async(
            self.build(request),
            timeout=self.config.request_timeout,
            execution_profile=self.profile,
            paging_state=request.paging_state,
        )
        if self.speculative and request.idempotent:
            # With speculative executions the driver can complete a request twice: its errback
            # when the request times out, then its callback when a slower execution answers
            # anyway. This errback (registered before the facade's) drops every callback after
            # the first error; after a first result, `callback_outcome` drops them.
            complete_once(future)
        if self.observer is not None:
            self.observer(request, future)
        return future

    def build(self, request: Request) -> DriverStatement:
        """The driver statement for one engine request.

        Runs once per request on the hot path: the common case (a batch of one statement kind)
        looks its prepared statement up once, and the driver binds each row as it adds it.
        """
        consistency = (
            self.write_consistency
            if request.consistency is Consistency.WRITE
            else self.read_consistency
        )
        queries = request.queries
        if request.batch_type is None:
            query = queries[0]
            bound = self.prepared[query.statement].bind(query.params)
            bound.consistency_level = consistency
            bound.retry_policy = NO_DRIVER_RETRIES
            bound.is_idempotent = request.idempotent
            if request.fetch_size:
                bound.fetch_size = request.fetch_size
            return bound
        batch = BatchStatement(
            batch_type=_DRIVER_BATCH_TYPES[request.batch_type],
            retry_policy=NO_DRIVER_RETRIES,
            consistency_level=consistency,
        )
        prepared = self.prepared
        add = batch.add
        kind: schema.Statement | None = None
        target: PreparedStatement | None = None
        for query in queries:
            if query.statement is not kind:
                kind = query.statement
                target = prepared[kind]
            add(target, query.params)
        batch.is_idempotent = request.idempotent
        return batch


class ReplicaGroups:
    """Which partitions live on the same replicas (and ScyllaDB shard), from the driver's token map.

    The planner combines only partitions of one group into an UNLOGGED batch, so the
    token-aware coordinator is a replica of every partition in it. Results are cached per
    token map (a topology change builds a new one); without metadata every partition is its own
    group, which is always correct.
    """

    _CACHE_SIZE = 100_000

    def __init__(self, session: Session, keyspace: str) -> None:
        self._cluster = session.cluster
        self._keyspace = keyspace
        self._token_map: Any = None
        self._cache: dict[str | bytes, Any] = {}

    def __call__(self, partition: str | bytes) -> Any:
        token_map = getattr(self._cluster.metadata, "token_map", None)
        if token_map is None:
            return partition
        if token_map is not self._token_map or len(self._cache) > self._CACHE_SIZE:
            self._token_map = token_map
            self._cache = {}
        group = self._cache.get(partition)
        if group is None:
            group = self._cache[partition] = self._group(token_map, partition)
        return group

    def _group(self, token_map: Any, partition: str | bytes) -> Any:
        """``partition`` is a text partition key, or the serialized bytes of any other key."""
        key = partition.encode("utf-8") if isinstance(partition, str) else partition
        try:
            token = token_map.token_class.from_key(key)
            replicas = token_map.get_replicas(self._keyspace, token)
        except Exception:  # metadata not ready for this keyspace: stay per partition
            return partition
        if not replicas:
            return partition
        sharding = getattr(replicas[0], "sharding_info", None)
        shard = sharding.shard_id_from_token(token.value) if sharding is not None else None
        return (tuple(sorted(str(host.endpoint) for host in replicas)), shard)


def complete_once(future: Any) -> None:
    """Make a ``ResponseFuture`` call the callbacks registered after this at most once.

    Register it before the facade's callbacks: after the first error every callback is dropped,
    so a late answer of a speculative execution is ignored (after a first result,
    :func:`callback_outcome` drops them).
    """
    future.add_errback(_forget_callbacks, future)


def _forget_callbacks(_error: BaseException, response: Any) -> None:
    response.clear_callbacks()


def callback_outcome(rows: Any, response: Any) -> Rows:
    """The :class:`Rows` outcome of a ``ResponseFuture`` callback, without building a ResultSet.

    ``rows`` is what the driver passes to the callback: the current page's rows (``None`` for
    a write). The paging state is looked up only when there is a next page. The future's
    callbacks are dropped: they reference the future, and that cycle would otherwise keep every
    finished page alive until the cyclic garbage collector runs (search memory grew with the
    namespace size).
    """
    paging_state = response.result().paging_state if response.has_more_pages else None
    response.clear_callbacks()
    # The future also keeps its last page as `_final_result`, and a future lives on in a cycle
    # with its timer until the cyclic GC runs. Nothing reads the result after this callback, so
    # drop it: a 20,000-item search then peaks at 2 MB instead of 4.5 MB, whatever its size.
    response._final_result = None
    if not rows:
        return Rows(rows=[], paging_state=paging_state)
    if isinstance(rows[0], Mapping):  # a session whose default row factory makes dicts
        return Rows(rows=[tuple(row.values()) for row in rows], paging_state=paging_state)
    return Rows(rows=rows if type(rows) is list else list(rows), paging_state=paging_state)


def classify(error: BaseException) -> ErrorKind:
    """Reduce a driver exception to what the retry policy needs to know."""
    if isinstance(error, Unavailable):
        return ErrorKind.UNAVAILABLE
    if isinstance(error, OverloadedErrorMessage):
        return ErrorKind.OVERLOADED
    if isinstance(error, IsBootstrappingErrorMessage):
        return ErrorKind.BOOTSTRAPPING
    if isinstance(error, WriteTimeout):
        return _WRITE_TIMEOUT_KINDS.get(error.write_type, ErrorKind.WRITE_TIMEOUT_OTHER)
    if isinstance(error, ReadTimeout):
        return ErrorKind.READ_TIMEOUT
    if isinstance(error, OperationTimedOut):
        return ErrorKind.CLIENT_TIMEOUT
    if isinstance(error, ReadFailure):
        return ErrorKind.READ_FAILURE
    if isinstance(error, (WriteFailure, CoordinationFailure)):
        return ErrorKind.WRITE_FAILURE
    if isinstance(error, SyntaxException):
        return ErrorKind.SYNTAX
    if isinstance(error, (Unauthorized, UnauthorizedErrorMessage, AuthenticationFailed)):
        return ErrorKind.AUTH
    if isinstance(error, NoHostAvailable):
        causes = list(getattr(error, "errors", {}).values())
        if causes and all(
            isinstance(c, (ConnectionException, OperationTimedOut, OSError)) for c in causes
        ):
            return ErrorKind.CONNECTION
        if not causes:
            return ErrorKind.CONNECTION
        return (
            ErrorKind.AUTH
            if any(isinstance(c, AuthenticationFailed) for c in causes)
            else ErrorKind.OTHER
        )
    if isinstance(error, ConnectionException) and "heartbeat" in str(error).lower():
        # The driver closed the connection because the node left a heartbeat unanswered (a
        # frozen or overloaded node): the request timed out, like OperationTimedOut.
        return ErrorKind.CLIENT_TIMEOUT
    if isinstance(error, (ConnectionException, ConnectionError)):
        return ErrorKind.CONNECTION
    if isinstance(error, ServerError):
        return ErrorKind.OTHER
    return (
        ErrorKind.INVALID
        if type(error).__name__
        in {
            "InvalidRequest",
            "ConfigurationException",
            "AlreadyExists",
            "InvalidRequestException",
        }
        else ErrorKind.OTHER
    )


def failure(error: BaseException) -> Failure:
    """A :class:`Failure` outcome for a driver exception."""
    return Failure(kind=classify(error), error=error)
