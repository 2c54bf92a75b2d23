"""What the blocking and the asyncio facades share: everything but how they wait.

A call is one generator, :meth:`StoreBase._call`: it validates and plans the ops, prepares the
statements if needed, walks the engine, sends each batch of requests and waits for them, and
records the call's metrics. It yields the waits it needs (:mod:`scyllabatch._flow`);
:class:`scyllabatch.Store` performs them by blocking, :class:`scyllabatch.AsyncStore` by awaiting.
"""

from __future__ import annotations

import random
import time
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar

from scyllabatch import _driver
from scyllabatch._core.engine import CallContext, TimestampClock, run_call
from scyllabatch._core.iteration import Found, SearchIteration
from scyllabatch._core.planner import CallPlan, StatementIds, plan_call
from scyllabatch._core.requests import Execute
from scyllabatch._core.validation import parse_batch_type, validate_iteration, validate_ops
from scyllabatch._flow import (
    Blocking,
    Flow,
    Pacer,
    Slots,
    Transport,
    UserCall,
    WaitCommand,
    dispatch,
)
from scyllabatch._impl import codec, writes
from scyllabatch._setup import setup_schema
from scyllabatch.config import RetryPolicy, StoreConfig
from scyllabatch.errors import StoreError, StoreValidationError
from scyllabatch.index import Embedder, IndexConfig
from scyllabatch.metrics import Metrics, prometheus_text
from scyllabatch.observability import CallEnd, CallObservation, Observed, default_observers
from scyllabatch.ops import BatchType, Op

R = TypeVar("R")

# Remember at most this many registered namespaces per store (then start over).
_REGISTERED_CACHE_SIZE = 100_000


def now_us() -> int:
    """Wall-clock time in microseconds since the epoch."""
    return time.time_ns() // 1000


class _BoundedSet(set[str]):
    """The registered-namespaces cache: a set that empties itself when it grows too large."""

    def update(self, *others: Any) -> None:
        if len(self) > _REGISTERED_CACHE_SIZE:
            self.clear()
        super().update(*others)


def config_from(
    config: StoreConfig | None,
    hosts: Sequence[str] | str | None = None,
    port: int | None = None,
    keyspace: str | None = None,
    options: dict[str, Any] | None = None,
) -> StoreConfig:
    """Merge explicit arguments into a config (arguments win)."""
    changes: dict[str, Any] = dict(options or {})
    if hosts is not None:
        changes["hosts"] = (hosts,) if isinstance(hosts, str) else tuple(hosts)
    if port is not None:
        changes["port"] = port
    if keyspace is not None:
        changes["keyspace"] = keyspace
    base = config or StoreConfig()
    try:
        return replace(base, **changes)
    except TypeError as exc:
        raise StoreValidationError(f"unknown store option: {exc}") from None


def as_op_list(ops: Iterable[Op]) -> Sequence[Op]:
    """Accept any iterable of ops (LangGraph passes iterables), but not a str or a mapping."""
    if isinstance(ops, Sequence) and not isinstance(ops, (str, bytes)):
        return ops
    if isinstance(ops, (str, bytes, Mapping)) or not isinstance(ops, Iterable):
        raise StoreValidationError(
            f"ops must be a list of operations, got {type(ops).__name__}", field="ops"
        )
    return list(ops)


class StoreBase(Observed):
    """State and logic shared by the blocking and the asyncio store.

    Create a store with ``connect()``, or over a driver session you already have:
    ``Store(session, keyspace="app")`` (the store then never closes that session's cluster).
    """

    def __init__(
        self,
        session: Any,
        keyspace: str | None = None,
        *,
        config: StoreConfig | None = None,
        cluster: Any = None,
    ) -> None:
        merged = config_from(config, keyspace=keyspace)
        self._start(session, merged, cluster, _driver.SessionTransport(session, merged))

    @classmethod
    def _over(cls, transport: Transport, config: StoreConfig | None = None) -> Any:
        """A store whose requests go to ``transport`` instead of a session (the test seam)."""
        store = cls.__new__(cls)
        store._start(None, config or StoreConfig(), None, transport)
        return store

    def _start(self, session: Any, config: StoreConfig, cluster: Any, transport: Transport) -> None:
        self.config = config
        self.session = session
        self._cluster = cluster  # set when the store created (and so owns) the cluster
        self._transport = transport
        self._slots = Slots(config.max_concurrency)
        self._pacer = Pacer(config.requests_per_second) if config.requests_per_second else None
        self._clock = TimestampClock()
        self._registered: set[str] = _BoundedSet()
        self._random = random.Random()
        self._metrics = Metrics()
        self.observers = default_observers()
        self._closed = False
        index = config.index_config
        self._embedder = Embedder(index) if index is not None else None

    def _use_index(self, index: Any) -> None:
        """Turn on semantic search with ``index`` (an IndexConfig or LangGraph's dict).

        For adapters given the index config after the store was made; ``setup()`` must run
        afterwards (it creates the vector table and index). A store that already has another
        index config refuses.
        """
        config = IndexConfig.coerce(index)
        if self.config.index_config is not None and self.config.index_config != config:
            raise StoreValidationError(
                "this store already has another index config (StoreConfig.index); give the "
                "index config in one place only",
                field="index",
            )
        self.config = replace(self.config, index=config)
        self._embedder = Embedder(config)
        self._transport.use_config(self.config)

    # -- one call ----------------------------------------------------------------------------

    def _call(
        self,
        ops: Sequence[Op],
        batch_type: BatchType | str,
        max_retries: int | None,
        retry_delay: float | None,
        retry_backoff: float | None,
        timeout: float | None,
        consistency: str | None,
        serial_consistency: str | None = None,
        *,
        turns: bool = False,
    ) -> Flow:
        """One ``batch()`` call from validation to results; ``ops`` as :func:`as_op_list` made.

        Nothing is sent before every op is valid and the call is planned. ``turns``: yield
        :data:`~scyllabatch._flow.TURN` after each request sent (the asyncio facade).
        """
        started = time.perf_counter()
        if self._closed:
            raise StoreError("this store is closed; create a new one")
        kind = parse_batch_type(batch_type)
        observation = None
        if self._observers is not None:
            observation = self._observe_call(self.config, kind, ops, consistency)
        try:
            options = _driver.call_options(timeout, consistency, serial_consistency)
            retry = self.config.retry.with_overrides(max_retries, retry_delay, retry_backoff)
            plan = self._plan(ops, kind)
        except StoreValidationError as exc:
            self._record(len(ops), kind, None, started, exc, None, observation)
            raise
        if plan.is_empty:
            self._record(plan.size, kind, plan, started, None, None, observation)
            return [None] * plan.size
        context = self._context(retry)
        if observation is not None:
            context.on_retry = observation.retrying
            options = replace(options, observation=observation)
        error: BaseException | None = None
        try:
            vectors = plan.vectors
            if vectors is not None and vectors.needs_embedding and self._embedder is not None:
                # after validation, before any request: one embedding call for the whole batch
                embedder, texts = self._embedder, vectors.embedding_request()
                vectors.apply(
                    (
                        yield UserCall(
                            partial(embedder.embed_blocking, texts),
                            partial(embedder.embed_async, texts),
                        )
                    )
                )
            context.statement_ids = yield from self._statement_ids()
            results: list[Any] = yield from self._drive(run_call(plan, context), options, turns)
            return results
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._record(plan.size, kind, plan, started, error, context, observation)

    def _context(self, retry: RetryPolicy) -> CallContext:
        """What the engine needs of this store for one call or iteration."""
        return CallContext(
            retry=retry,
            limits=self.config.limits,
            codec=codec,
            writes=writes,
            registered=self._registered,
            random_unit=self._random.random,
        )

    def _plan(self, ops: Sequence[Op], kind: BatchType) -> CallPlan:
        limits = self.config.limits
        return plan_call(
            validate_ops(
                ops,
                codec,
                max_value_bytes=limits.max_value_bytes,
                encode_default=self.config.encode_default,
            ),
            kind,
            self._clock.next(now_us()),
            limits,
            codec,
            self.config.page_size,
            self._transport.replica_group,
            self.config.created_at_mode,
            index=self.config.index_config,
            raw_ops=ops,
        )

    # -- streaming every match of a search (iter_search / aiter_search) ------------------------

    def _search_iteration(
        self, namespace_prefix: Sequence[str], filter: Any, page_size: int | None
    ) -> SearchIteration:
        """The validated state of one ``iter_search``/``aiter_search`` (no I/O)."""
        if self._closed:
            raise StoreError("this store is closed; create a new one")
        size = self.config.page_size if page_size is None else page_size
        op = validate_iteration(namespace_prefix, filter, size)
        return SearchIteration(op, self._context(self.config.retry), size)

    def _stream(
        self, iteration: SearchIteration, *, turns: bool = False
    ) -> Generator[WaitCommand | Found, Any, None]:
        """Walk an iteration: yields its waits, like :meth:`_call`, and each :class:`Found` page
        for the facade to hand out (it sends back ``None``). Its requests, rows and retries
        are added to the store's metrics when it ends, also when the caller stops early."""
        try:
            yield from self._statement_ids()
            yield from self._drive(iteration.flow(), _driver.DEFAULT_CALL, turns)
        finally:
            self._metrics.record_requests(iteration.context.stats)

    # -- what calls and iterations share ------------------------------------------------------

    def _statement_ids(self) -> Generator[WaitCommand, Any, StatementIds]:
        """The prepared statements' ids; prepares them first (blocking work) if needed."""
        transport = self._transport
        statement_ids = transport.statement_ids
        if statement_ids is None:
            statement_ids = yield Blocking(transport.prepare)
        return statement_ids

    def _drive(
        self, engine: Generator[Any, Any, R], options: _driver.CallOptions, turns: bool
    ) -> Generator[Any, Any, R]:
        """Run an engine generator to its end: each ``Execute`` is dispatched over the store's
        transport, every other command (waits, found pages) goes to the facade; returns what
        the engine returns."""
        reply: Any = None
        while True:
            try:
                command = engine.send(reply)
            except StopIteration as stop:
                result: R = stop.value
                return result
            if isinstance(command, Execute):
                reply = yield from dispatch(
                    self._transport, command.requests, options, self._slots, self._pacer, turns
                )
            else:
                reply = yield command

    def _record(
        self,
        size: int,
        kind: BatchType,
        plan: CallPlan | None,
        started: float,
        error: BaseException | None,
        context: CallContext | None = None,
        observation: CallObservation | None = None,
    ) -> None:
        latency = time.perf_counter() - started
        stats = context.stats if context is not None else None
        op_kinds = plan.op_kinds if plan is not None else {}
        self._metrics.record_call(
            size=size,
            batch_type=kind,
            op_kinds=op_kinds,
            call=stats,
            latency_us=latency * 1e6,
            error=error,
        )
        if observation is not None:
            observation.call_ended(CallEnd(size, kind, op_kinds, stats, latency, error))

    # -- blocking work (the asyncio facade runs it in a thread) -------------------------------

    def _setup_blocking(self) -> None:
        setup_schema(self.session, self.config)
        self._registered.clear()  # the keyspace may have been dropped and created again
        self._transport.forget_statements()
        self._transport.prepare()

    def _shutdown_blocking(self) -> None:
        self._closed = True
        if self._cluster is not None:
            self._cluster.shutdown()
            self._cluster = None

    # -- metrics -----------------------------------------------------------------------------

    def get_metrics(self) -> dict[str, Any]:
        """Counters and percentiles of this store's calls (see :mod:`scyllabatch.metrics`)."""
        return self._metrics.snapshot()

    def reset_metrics(self) -> None:
        """Reset every metric to zero."""
        self._metrics.reset()

    def metrics_text(
        self, *, prefix: str = "scyllabatch", labels: Mapping[str, str] | None = None
    ) -> str:
        """The metrics in the Prometheus text format.

        See :func:`scyllabatch.metrics.prometheus_text`. No I/O: serve it from your HTTP endpoint
        with ``Content-Type: text/plain; version=0.0.4``.
        """
        return prometheus_text(self._metrics.snapshot(), prefix=prefix, labels=labels)
