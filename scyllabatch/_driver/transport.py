"""Sending the engine's requests through a driver session.

Statements are prepared once per session; write batches whose statements the compiled write
path already serialized go out without ``bind()``; everything else is bound by the driver.
:class:`SessionTransport` is the real transport of both facades.
"""

from __future__ import annotations

import io
import struct
import threading
from collections.abc import Callable, Mapping
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cluster import Session
from cassandra.protocol import BatchMessage
from cassandra.query import (
    BatchStatement,
    BoundStatement,
    PreparedStatement,
)
from cassandra.query import BatchType as DriverBatchType
from cassandra.query import Statement as DriverStatement

from scyllabatch._core import schema
from scyllabatch._core.requests import Consistency, EncodedStatements, Failure, Request, Rows
from scyllabatch._driver.connection import NO_DRIVER_RETRIES, attach_profile, consistency_level
from scyllabatch._driver.options import DEFAULT_CALL, CallOptions
from scyllabatch._driver.outcomes import (
    callback_outcome,
    complete_once,
    failure,
    request_end,
    watched_error,
    watched_rows,
)
from scyllabatch._pure.writes import decode_writes
from scyllabatch.config import StoreConfig
from scyllabatch.errors import StoreQueryError
from scyllabatch.observability import CallObservation
from scyllabatch.ops import BatchType

_DRIVER_BATCH_TYPES = {
    BatchType.LOGGED: DriverBatchType.LOGGED,
    BatchType.UNLOGGED: DriverBatchType.UNLOGGED,
}


class _RoutedStatement(BoundStatement):  # type: ignore[misc]
    """A bound statement routed by a partition key the driver cannot read from its values.

    The driver routes a bound statement by the values bound to the partition key; a statement
    restricting the partition key with ``IN ?`` has none, so it would go to any node, which
    then asks the replicas. The SDK only sends such a statement for partitions stored on the
    same replicas, and names one of them.
    """

    def __init__(self, prepared: PreparedStatement, routing_key: bytes) -> None:
        super().__init__(prepared)
        self._routed_by = routing_key

    @property
    def routing_key(self) -> bytes:
        return self._routed_by


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

# Requests whose consistency level is their own, never a call's ``consistency=``: serial reads,
# and nearest-neighbour queries (the server answers those only at ONE / LOCAL_ONE).
_OWN_LEVELS = (Consistency.SERIAL, Consistency.NEAREST)


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
        self.serial_consistency = consistency_level(config.serial_consistency)
        self.prepared: dict[schema.Statement, PreparedStatement] = {}
        texts = schema.statement_cql(config.keyspace)
        if config.index_config is not None:
            texts.update(schema.vector_statement_cql(config.keyspace, config.index_config.distance))
        for statement, cql in texts.items():
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
            callback=watched_rows,
            callback_args=(future, watch),
            errback=watched_error,
            errback_args=(future, watch),
        )
        return future

    def _send(self, request: Request, options: CallOptions) -> Any:
        if request.encoded is not None:
            future = self._send_encoded(request, request.encoded, options)
        else:
            statement = self.build(request)
            if options.consistency is not None and request.consistency not in _OWN_LEVELS:
                statement.consistency_level = options.consistency
            if options.serial_consistency is not None:
                if request.conditional:
                    statement.serial_consistency_level = options.serial_consistency
                elif request.consistency is Consistency.SERIAL:
                    statement.consistency_level = options.serial_consistency
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
        batch.routing_key = request.routing_key
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
        and the driver binds each row as it adds it. Conditional writes carry the serial
        consistency, their re-reads use it as their consistency, and several counter updates
        make a ``COUNTER`` batch.
        """
        if request.consistency is Consistency.WRITE:
            consistency = self.write_consistency
        elif request.consistency is Consistency.READ:
            consistency = self.read_consistency
        elif request.consistency is Consistency.NEAREST:
            consistency = ConsistencyLevel.LOCAL_ONE
        else:
            consistency = self.serial_consistency
        queries = request.queries
        if request.batch_type is None:
            query = queries[0]
            if request.routing_key is None:
                bound = self.prepared[query.statement].bind(query.params)
            else:
                bound = _RoutedStatement(self.prepared[query.statement], request.routing_key)
                bound.bind(query.params)
            bound.consistency_level = consistency
            bound.retry_policy = NO_DRIVER_RETRIES
            bound.is_idempotent = request.idempotent
            if request.fetch_size:
                bound.fetch_size = request.fetch_size
            if request.conditional:
                bound.serial_consistency_level = self.serial_consistency
            return bound
        batch = BatchStatement(
            batch_type=(
                DriverBatchType.COUNTER
                if request.counter
                else _DRIVER_BATCH_TYPES[request.batch_type]
            ),
            retry_policy=NO_DRIVER_RETRIES,
            consistency_level=consistency,
            serial_consistency_level=self.serial_consistency if request.conditional else None,
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

    def use_config(self, config: StoreConfig) -> None:
        """Use ``config`` from now on; statements are prepared again on next use."""
        self.config = config
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
