"""Everything that touches the driver's API, shared by both facades.

Building the cluster and session, preparing statements once per session, turning engine requests
into driver statements, and classifying driver exceptions for the retry policy.
"""

from __future__ import annotations

import io
import logging
import math
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cassandra import (
    AlreadyExists,
    AuthenticationFailed,
    ConsistencyLevel,
    CoordinationFailure,
    FunctionFailure,
    InvalidRequest,
    OperationTimedOut,
    ReadFailure,
    ReadTimeout,
    Unauthorized,
    Unavailable,
    UnresolvableContactPoints,
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
    BatchMessage,
    IsBootstrappingErrorMessage,
    OverloadedErrorMessage,
    ServerError,
    SyntaxException,
    UnauthorizedErrorMessage,
)
from cassandra.query import (
    BatchStatement,
    BoundStatement,
    PreparedStatement,
    SimpleStatement,
    tuple_factory,
)
from cassandra.query import BatchType as DriverBatchType
from cassandra.query import Statement as DriverStatement

from scyllabatch._core import schema
from scyllabatch._core.requests import Consistency, EncodedStatements, Failure, Request, Rows
from scyllabatch._core.retry import ErrorKind
from scyllabatch._pure.writes import decode_writes
from scyllabatch.config import StoreConfig
from scyllabatch.errors import (
    StoreAuthenticationError,
    StoreConnectionError,
    StoreError,
    StoreQueryError,
    StoreValidationError,
)
from scyllabatch.observability import CallObservation, RequestEnd, RequestObservation
from scyllabatch.ops import BatchType
from scyllabatch.secret import Secret

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


def contact_point(entry: str, default_port: int) -> tuple[str, int]:
    """``(host, port)`` for one ``hosts`` entry: ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``.

    A bare IPv6 address (``::1``) takes ``default_port``: its colons are not a port separator.
    Raises :class:`StoreValidationError` for an entry that cannot be a host.
    """
    text = entry.strip() if isinstance(entry, str) else ""
    host, port_text = text, None
    if text.startswith("["):
        close = text.find("]")
        rest = text[close + 1 :] if close > 0 else "?"
        if rest and not rest.startswith(":"):
            raise StoreValidationError(
                f"host {entry!r} is not valid: write an IPv6 address as [address] or "
                "[address]:port",
                field="hosts",
            )
        host, port_text = text[1:close], (rest[1:] if rest else None)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host or any(c.isspace() or c in "[]/" for c in host):
        raise StoreValidationError(
            f"host {entry!r} is not valid: use a host name or address, optionally with :port "
            "(an IPv6 address with a port as [address]:port)",
            field="hosts",
        )
    if port_text is None:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise StoreValidationError(
            f"host {entry!r} has an invalid port {port_text!r}: use a number from 1 to 65535",
            field="hosts",
        )
    return host, int(port_text)


def contact_points(config: StoreConfig) -> list[tuple[str, int]]:
    """The driver's contact points for ``config.hosts`` (each with its own port)."""
    return [contact_point(entry, config.port) for entry in config.hosts]


def cluster_port(config: StoreConfig) -> int:
    """The port for nodes the driver discovers and that do not advertise their own.

    The driver replaces a contact point by the node's entry in ``system.local`` and reaches it
    on this port. So when every host names the same port, that port is used; otherwise
    ``config.port``. (0 below stands for "no port given".)
    """
    given = {contact_point(entry, 0)[1] for entry in config.hosts}
    if len(given) == 1 and 0 not in given:
        return given.pop()
    return config.port


def _auth_failure(error: BaseException) -> bool:
    if isinstance(error, AuthenticationFailed):
        return True
    causes = getattr(error, "errors", None)
    return isinstance(causes, Mapping) and any(
        isinstance(cause, AuthenticationFailed) for cause in causes.values()
    )


def _target(points: list[tuple[str, int]]) -> str:
    return ", ".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in points)


def _auth_provider(config: StoreConfig) -> PlainTextAuthProvider | None:
    if config.username is None or config.password is None:
        return None
    password = config.password
    return PlainTextAuthProvider(
        username=config.username,
        password=password.get_secret_value() if isinstance(password, Secret) else password,
    )


def default_cluster(config: StoreConfig) -> Cluster:
    """A cluster with the driver's defaults for everything but reaching the nodes (contact
    points, port, credentials, TLS): what most hand-written code uses. For the benchmark."""
    return Cluster(
        contact_points=contact_points(config),
        port=cluster_port(config),
        auth_provider=_auth_provider(config),
        ssl_context=config.ssl_context,
    )


def connect(config: StoreConfig) -> tuple[Cluster, Session]:
    """Create a cluster and a session (blocking; the async facade runs this in a thread).

    Every failure is a :class:`StoreError`: a bad host entry is a :class:`StoreValidationError`,
    rejected credentials a :class:`StoreAuthenticationError`, anything else on the way (names
    that do not resolve, refused connections, timeouts) a :class:`StoreConnectionError`. The
    driver's exception is chained; the password never appears in a message.
    """
    points = contact_points(config)
    target = _target(points)
    auth = _auth_provider(config)
    profile = execution_profile(config)
    cluster: Cluster | None = None
    try:
        cluster = Cluster(
            contact_points=points,
            port=cluster_port(config),
            auth_provider=auth,
            ssl_context=config.ssl_context,
            connect_timeout=config.connect_timeout,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile, PROFILE: profile},
            sockopts=SOCKET_OPTIONS,
            # lz4 costs client CPU on every request and saves nothing on a LAN
            compression=False,
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
        session = cluster.connect()
    except BaseException as exc:
        if cluster is not None:
            cluster.shutdown()
        if not isinstance(exc, Exception):  # KeyboardInterrupt and the like pass through
            raise
        raise _connect_error(exc, config, target) from exc
    return cluster, session


def _connect_error(exc: Exception, config: StoreConfig, target: str) -> StoreError:
    """The :class:`StoreError` to raise for a failure to connect (never quoting the password)."""
    if _auth_failure(exc):
        if config.username is None:
            return StoreAuthenticationError(
                f"the cluster at {target} requires authentication: pass username and password "
                "(StoreConfig(username=..., password=...); on the command line --username, with "
                "the password in SCYLLABATCH_PASSWORD or typed at the prompt)"
            )
        return StoreAuthenticationError(
            f"the cluster at {target} rejected the credentials of user {config.username!r}: "
            "check the username and password (the role must exist and have LOGIN = true)"
        )
    if isinstance(exc, UnresolvableContactPoints):
        return StoreConnectionError(
            f"none of the hosts {list(config.hosts)} resolves to an address: check the host "
            "names (SCYLLABATCH_HOSTS on the command line)"
        )
    if config.ssl_context is not None and (
        isinstance(exc, ssl.SSLError) or _has_cause(exc, ssl.SSLError) or "[SSL" in str(exc)
    ):  # the driver re-raises some TLS failures as other OSErrors, keeping ssl's text
        return StoreConnectionError(
            f"TLS handshake with {target} failed: {_brief(exc)}. Check ssl_context (CA file, "
            "client certificate and key) and that the node's client encryption is enabled"
        )
    return StoreConnectionError(
        f"could not connect to {target}: {_brief(exc)}. Is the node running and reachable on "
        "that port? (set the hosts, e.g. SCYLLABATCH_HOSTS=10.0.0.5:9042, for another cluster)"
    )


def _has_cause(exc: BaseException, kind: type[BaseException]) -> bool:
    causes = getattr(exc, "errors", None)
    return isinstance(causes, Mapping) and any(isinstance(c, kind) for c in causes.values())


def _brief(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 500 else text[:500] + " ..."


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


class _EncodedBatchMessage(BatchMessage):  # type: ignore[misc]
    """A ``BATCH`` message whose statements the SDK serialized itself.

    Everything after the statements (consistency, flags, serial consistency, timestamp, keyspace)
    is still written by the driver's own :class:`BatchMessage` for the connection's protocol
    version: it writes an empty batch (type byte, a zero count) into a scratch buffer, and the
    pre-serialized head replaces those first three bytes. (The leading underscore keeps the
    driver's message registry from picking this class up.)
    """

    def __init__(self, base: Any, head: bytes) -> None:
        self.__dict__.update(base.__dict__)
        self.queries = ()
        self.head = head

    def send_body(self, f: Any, protocol_version: int, *args: Any, **kwargs: Any) -> None:
        tail = io.BytesIO()
        BatchMessage.send_body(self, tail, protocol_version, *args, **kwargs)
        f.write(self.head)
        f.write(tail.getbuffer()[3:])


def encoded_messages_supported(session: Any) -> bool:
    """Whether this driver exposes what sending pre-serialized batches needs.

    Those are non-public parts of the driver (pinned in pyproject, tested in
    ``tests/unit/test_driver_seam.py``): ``Session._create_response_future``,
    ``Session._on_request``, ``Session.client_protocol_handler`` and ``ResponseFuture.message``
    / ``send_request``. Without them, writes go through the public path: bound statements whose
    values are already serialized, added to a ``BatchStatement`` without ``bind()``.
    """
    methods = ("_create_response_future", "_on_request")
    return all(callable(getattr(session, name, None)) for name in methods) and hasattr(
        session, "client_protocol_handler"
    )


_BATCH_HEAD = struct.Struct(">BH")


@dataclass(frozen=True, slots=True)
class CallOptions:
    """Per-call overrides of ``batch()``/``abatch()``: ``timeout`` (seconds, per request) and a
    consistency level for every request of the call (``None``: the configured ones)."""

    timeout: float | None = None
    consistency: int | None = None
    observation: CallObservation | None = None
    """The call's telemetry (``None`` when the store has no observer following it)."""


DEFAULT_CALL = CallOptions()


def call_options(timeout: Any, consistency: Any) -> CallOptions:
    """Validate ``batch()``'s ``timeout=`` and ``consistency=`` (before any I/O)."""
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise StoreValidationError(
            f"timeout must be a number of seconds > 0 (or None for the configured "
            f"request_timeout), got {timeout!r}",
            field="timeout",
        )
    level = None
    if consistency is not None:
        name = consistency.upper() if isinstance(consistency, str) else consistency
        if name not in ConsistencyLevel.name_to_value or name in ("SERIAL", "LOCAL_SERIAL"):
            raise StoreValidationError(
                f"consistency {consistency!r} is not a consistency level; use one of ONE, QUORUM, "
                "LOCAL_QUORUM, ALL, ... (or None for the configured ones)",
                field="consistency",
            )
        level = consistency_level(name)
    if timeout is None and level is None:
        return DEFAULT_CALL
    return CallOptions(None if timeout is None else float(timeout), level)


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
        self.ids: dict[schema.Statement, bytes] = {
            statement: prepared.query_id for statement, prepared in self.prepared.items()
        }
        self._by_id = {prepared.query_id: prepared for prepared in self.prepared.values()}
        self.encoded_messages = encoded_messages_supported(session)

    def send(self, request: Request, options: CallOptions = DEFAULT_CALL) -> Any:
        """Start one request (non-blocking); returns the driver's ``ResponseFuture``."""
        if options.observation is not None:
            return self._send_observed(request, options, options.observation)
        return self._send(request, options)

    def _send_observed(
        self, request: Request, options: CallOptions, observation: CallObservation
    ) -> Any:
        watch = observation.request_started(request)
        if watch is None:
            return self._send(request, options)
        try:
            future = self._send(request, options)
        except BaseException as exc:
            watch.request_ended(request_end(None, None, exc))
            raise
        # Registered before the facade's callbacks, which drop the future's callbacks once run.
        future.add_callbacks(
            callback=_watched_rows,
            callback_args=(future, watch),
            errback=_watched_error,
            errback_args=(future, watch),
        )
        return future

    def _send(self, request: Request, options: CallOptions) -> Any:
        if request.encoded is not None:
            future = self._send_encoded(request, request.encoded, options)
        else:
            statement = self.build(request)
            if options.consistency is not None:
                statement.consistency_level = options.consistency
            future = self.session.execute_async(
                statement,
                timeout=options.timeout or self.config.request_timeout,
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

    def _send_encoded(
        self, request: Request, encoded: EncodedStatements, options: CallOptions
    ) -> Any:
        """Send a write batch whose statements are already serialized: no ``bind()`` at all.

        The driver still does everything else: token-aware routing from the routing key,
        the execution profile, timeouts, re-preparing after a server restart, the response.
        """
        batch_type = _DRIVER_BATCH_TYPES[request.batch_type or BatchType.UNLOGGED]
        batch = BatchStatement(
            batch_type=batch_type,
            retry_policy=NO_DRIVER_RETRIES,
            consistency_level=options.consistency or self.write_consistency,
        )
        timeout = options.timeout or self.config.request_timeout
        batch.routing_key = encoded.routing_key
        batch.keyspace = self.config.keyspace
        batch.is_idempotent = request.idempotent
        session: Any = self.session
        if not self.encoded_messages:
            for statement_id, values in decode_writes(encoded.body, encoded.count):
                bound = BoundStatement(self._by_id[statement_id])
                bound.values = values
                batch.add(bound)
            return session.execute_async(batch, timeout=timeout, execution_profile=self.profile)
        future = session._create_response_future(
            batch, None, False, {}, timeout, execution_profile=self.profile
        )
        future.message = _EncodedBatchMessage(
            future.message, _BATCH_HEAD.pack(batch_type.value, encoded.count) + encoded.body
        )
        future._protocol_handler = session.client_protocol_handler
        session._on_request(future)
        future.send_request()
        return future

    def build(self, request: Request) -> DriverStatement:
        """The driver statement for one engine request (reads, TTL refreshes, registrations).

        The common case (a batch of one statement kind) looks its prepared statement up once,
        and the driver binds each row as it adds it.
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


def read_schema(session: Any, cql: str, params: tuple[Any, ...]) -> list[Any]:
    """Rows of a ``system_schema`` query. Schema tables are kept on every node, so they are read
    at ``ONE`` whatever consistency the store's profile asks for (``THREE`` on a one-node cluster
    would make ``setup()`` fail before it created anything)."""
    statement = SimpleStatement(cql, consistency_level=ConsistencyLevel.ONE)
    return list(session.execute(statement, params))


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
            group = self._group(token_map, partition)
            if group is not None:
                self._cache[partition] = group
            else:  # metadata not ready for this keyspace yet: alone for now, asked again later
                group = partition
        return group

    def _group(self, token_map: Any, partition: str | bytes) -> Any:
        """``partition`` is a text partition key, or the serialized bytes of any other key."""
        key = partition.encode("utf-8") if isinstance(partition, str) else partition
        try:
            token = token_map.token_class.from_key(key)
            replicas = token_map.get_replicas(self._keyspace, token)
        except Exception:
            return None
        if not replicas:
            return None
        sharding = getattr(replicas[0], "sharding_info", None)
        shard = sharding.shard_id_from_token(token.value) if sharding is not None else None
        return (tuple(sorted(str(host.endpoint) for host in replicas)), shard)


class SessionTransport:
    """The real transport of a store: a driver session (see :class:`scyllabatch._flow.Transport`).

    Registers the SDK's execution profile on the session, groups partitions by replica from the
    driver's token map, prepares the statements once (under a lock: many threads may start
    their first call together) and sends requests with the driver's callbacks.
    """

    def __init__(self, session: Session, config: StoreConfig) -> None:
        self.session = session
        self.config = config
        self.profile = attach_profile(session, config)
        self.replica_group = ReplicaGroups(session, config.keyspace)
        self.statements: Statements | None = None
        self._prepare_lock = threading.Lock()

    @property
    def statement_ids(self) -> Mapping[schema.Statement, bytes] | None:
        """The prepared statements' ids, or ``None`` before :meth:`prepare`."""
        statements = self.statements
        return None if statements is None else statements.ids

    def prepare(self) -> Mapping[schema.Statement, bytes]:
        """Prepare every statement once (blocking); returns their ids."""
        with self._prepare_lock:
            if self.statements is None:
                try:
                    self.statements = Statements(self.session, self.config, self.profile)
                except Exception as exc:
                    raise StoreQueryError(
                        f"could not prepare statements in keyspace {self.config.keyspace!r} "
                        f"({exc}); call setup() first to create the keyspace and tables"
                    ) from exc
            return self.statements.ids

    def forget_statements(self) -> None:
        """Prepare again on next use."""
        self.statements = None

    def start(
        self,
        request: Request,
        options: CallOptions,
        settle: Callable[[int, Rows | Failure], None],
        index: int,
    ) -> None:
        """Send ``request``; ``settle(index, outcome)`` runs on the driver's I/O thread."""
        statements = self.statements
        if statements is None:  # never for a call: its flow prepares before it sends
            raise StoreQueryError("statements are not prepared; this is a bug in scyllabatch")
        future = statements.send(request, options)
        future.add_callbacks(
            callback=_settle_rows,
            callback_args=(future, settle, index),
            errback=_settle_error,
            errback_args=(settle, index),
        )


def _settle_rows(
    rows: Any, future: Any, settle: Callable[[int, Rows | Failure], None], index: int
) -> None:
    try:
        outcome: Rows | Failure = callback_outcome(rows, future)
    except BaseException as exc:  # never leave the caller waiting
        outcome = failure(exc)
    settle(index, outcome)


def _settle_error(
    error: BaseException, settle: Callable[[int, Rows | Failure], None], index: int
) -> None:
    settle(index, failure(error))


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


# Native protocol error codes of the driver exceptions that do not carry their own
# (``ErrorMessage`` subclasses have ``error_code``).
_PROTOCOL_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (Unavailable, 0x1000),
    (WriteTimeout, 0x1100),
    (ReadTimeout, 0x1200),
    (ReadFailure, 0x1300),
    (FunctionFailure, 0x1400),
    (WriteFailure, 0x1500),
    (Unauthorized, 0x2100),
    (InvalidRequest, 0x2200),
    (AlreadyExists, 0x2400),
)


def protocol_code(error: BaseException) -> int | None:
    """The native protocol error code the server answered with, or ``None`` (client errors)."""
    code = getattr(error, "error_code", None)
    if isinstance(code, int):
        return code
    for kind, number in _PROTOCOL_CODES:
        if isinstance(error, kind):
            return number
    return None


def request_end(future: Any, rows: Any, error: BaseException | None) -> RequestEnd:
    """What telemetry reports of a settled request: its coordinator, rows or error."""
    host = None
    if future is not None:
        host = future.coordinator_host or getattr(future, "_current_host", None)
    endpoint = getattr(host, "endpoint", None)
    host_id = getattr(host, "host_id", None)
    return RequestEnd(
        address=getattr(endpoint, "address", None),
        port=getattr(endpoint, "port", None),
        host_id=None if host_id is None else str(host_id),
        datacenter=getattr(host, "datacenter", None),
        rows=None if error is not None else (len(rows) if rows else 0),
        error=error,
        error_kind=None if error is None else classify(error),
        status_code=None if error is None else protocol_code(error),
    )


def _watched_rows(rows: Any, future: Any, watch: RequestObservation) -> None:
    watch.request_ended(request_end(future, rows, None))


def _watched_error(error: BaseException, future: Any, watch: RequestObservation) -> None:
    watch.request_ended(request_end(future, None, error))


def failure(error: BaseException) -> Failure:
    """A :class:`Failure` outcome for a driver exception."""
    return Failure(kind=classify(error), error=error)
