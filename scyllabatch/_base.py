"""What the blocking and the asyncio facades share: configuration, planning and metrics.

The facades differ only in how they wait: :mod:`scyllabatch.store` blocks on driver futures and
``time.sleep``; :mod:`scyllabatch.aio` bridges driver futures into the event loop.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from scyllabatch import _driver
from scyllabatch._core import schema
from scyllabatch._core.engine import CallContext, TimestampClock
from scyllabatch._core.iteration import SearchIteration
from scyllabatch._core.planner import CallPlan, plan_call
from scyllabatch._core.retry import ErrorKind
from scyllabatch._core.validation import parse_batch_type, validate_iteration, validate_ops
from scyllabatch._impl import codec, writes
from scyllabatch.config import StoreConfig
from scyllabatch.errors import StoreError, StoreQueryError, StoreValidationError
from scyllabatch.metrics import Metrics, prometheus_text
from scyllabatch.ops import BatchType, ListNamespacesOp, MatchCondition, Op

# Remember at most this many registered namespaces per store (then start over).
_REGISTERED_CACHE_SIZE = 100_000


# Seconds a schema statement of setup() may take (at least the request timeout).
SETUP_TIMEOUT = 60.0


def now_us() -> int:
    """Wall-clock time in microseconds since the epoch."""
    return time.time_ns() // 1000


@dataclass(slots=True)
class PreparedCall:
    """A validated, planned call, ready for the engine."""

    plan: CallPlan
    context: CallContext
    started: float
    options: _driver.CallOptions = _driver.DEFAULT_CALL


class _BoundedSet(set[str]):
    """The registered-namespaces cache: a set that empties itself when it grows too large."""

    def update(self, *others: Any) -> None:
        if len(self) > _REGISTERED_CACHE_SIZE:
            self.clear()
        super().update(*others)


def _row_values(row: Any) -> tuple[Any, ...]:
    """A row's values in column order, whatever the session's row factory (tuples or dicts)."""
    return tuple(row.values()) if isinstance(row, Mapping) else tuple(row)


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


def as_labels(namespace: Sequence[str]) -> tuple[str, ...]:
    """Typed pass-through of a helper's namespace argument.

    It is not converted with ``tuple()``: validation then rejects a plain ``str`` instead of
    splitting it into one-letter labels, and accepts lists like tuples.
    """
    return namespace  # type: ignore[return-value]


def list_namespaces_op(
    prefix: Sequence[str] | None,
    suffix: Sequence[str] | None,
    max_depth: int | None,
    limit: int,
    offset: int,
) -> ListNamespacesOp:
    """The op behind the ``list_namespaces`` helpers."""
    conditions = []
    if prefix is not None:
        conditions.append(MatchCondition("prefix", as_labels(prefix)))
    if suffix is not None:
        conditions.append(MatchCondition("suffix", as_labels(suffix)))
    return ListNamespacesOp(
        match_conditions=tuple(conditions) or None, max_depth=max_depth, limit=limit, offset=offset
    )


class StoreBase:
    """State and logic shared by the blocking and the asyncio store."""

    def __init__(
        self,
        session: Any,
        keyspace: str | None = None,
        *,
        config: StoreConfig | None = None,
        cluster: Any = None,
    ) -> None:
        self.config = config_from(config, keyspace=keyspace)
        self.session = session
        self._cluster = cluster  # set when the store created (and so owns) the cluster
        self._profile = _driver.attach_profile(session, self.config)
        self._statements: _driver.Statements | None = None
        self._replica_groups = _driver.ReplicaGroups(session, self.config.keyspace)
        self._prepare_lock = threading.Lock()
        self._clock = TimestampClock()
        self._registered: set[str] = _BoundedSet()
        self._random = random.Random()
        self._metrics = Metrics()
        self._closed = False

    # -- planning (no I/O) -------------------------------------------------------------------

    def _prepare_call(
        self,
        ops: Iterable[Op],
        batch_type: BatchType | str,
        max_retries: int | None,
        retry_delay: float | None,
        retry_backoff: float | None,
        timeout: float | None = None,
        consistency: str | None = None,
    ) -> PreparedCall:
        started = time.perf_counter()
        if self._closed:
            raise StoreError("this store is closed; create a new one")
        kind = parse_batch_type(batch_type)
        options = _driver.call_options(timeout, consistency)
        retry = self.config.retry.with_overrides(max_retries, retry_delay, retry_backoff)
        ops = as_op_list(ops)
        try:
            normalized = validate_ops(
                ops,
                codec,
                max_value_bytes=self.config.limits.max_value_bytes,
                encode_default=self.config.encode_default,
            )
            plan = plan_call(
                normalized,
                kind,
                self._clock.next(now_us()),
                self.config.limits,
                codec,
                self.config.page_size,
                self._replica_groups,
                self.config.created_at_mode,
            )
        except StoreValidationError as exc:
            self._metrics.record_call(
                size=len(ops) if isinstance(ops, Sequence) else 0,
                batch_type=kind,
                op_kinds={},
                call=None,
                latency_us=(time.perf_counter() - started) * 1e6,
                error=exc,
            )
            raise
        context = CallContext(
            retry=retry,
            limits=self.config.limits,
            codec=codec,
            writes=writes,
            registered=self._registered,
            random_unit=self._random.random,
        )
        return PreparedCall(plan=plan, context=context, started=started, options=options)

    def _search_iteration(
        self, namespace_prefix: Sequence[str], filter: Any, page_size: int | None
    ) -> SearchIteration:
        """The validated state of one ``iter_search``/``aiter_search`` (no I/O)."""
        if self._closed:
            raise StoreError("this store is closed; create a new one")
        size = self.config.page_size if page_size is None else page_size
        op = validate_iteration(namespace_prefix, filter, size)
        context = CallContext(
            retry=self.config.retry,
            limits=self.config.limits,
            codec=codec,
            writes=writes,
            registered=self._registered,
            random_unit=self._random.random,
        )
        return SearchIteration(op, context, size)

    def _finish_call(self, call: PreparedCall, error: BaseException | None) -> None:
        self._metrics.record_call(
            size=call.plan.size,
            batch_type=call.plan.batch_type,
            op_kinds=call.plan.op_kinds,
            call=call.context.stats,
            latency_us=(time.perf_counter() - call.started) * 1e6,
            error=error,
        )

    # -- blocking helpers used by both facades (the async one runs them in a thread) ---------

    def _prepare_statements_blocking(self) -> _driver.Statements:
        with self._prepare_lock:
            if self._statements is None:
                try:
                    self._statements = _driver.Statements(self.session, self.config, self._profile)
                except Exception as exc:
                    raise StoreQueryError(
                        f"could not prepare statements in keyspace {self.config.keyspace!r} "
                        f"({exc}); call setup() first to create the keyspace and tables"
                    ) from exc
            return self._statements

    def _setup_blocking(self) -> None:
        """Create what is missing (keyspace if allowed, tables), then check existing tables.

        Nothing is created that exists already, so an account without CREATE permission can set
        up a store whose keyspace and tables an administrator made. A table of ours with another
        schema is reported, naming the differing columns, instead of failing later.
        """
        keyspace = self.config.keyspace
        if not self._keyspace_exists():
            if not self.config.create_keyspace:
                raise StoreQueryError(
                    f"keyspace {keyspace!r} does not exist and create_keyspace is False: create "
                    "it first (with the replication your cluster needs), or pass "
                    "create_keyspace=True"
                )
            self._run_ddl(schema.keyspace_cql(keyspace, self.config.replication), "keyspace")
        existing = self._existing_columns()
        for table, cql in schema.table_cql_by_name(keyspace).items():
            if table not in existing:
                self._run_ddl(cql, f"table {keyspace}.{table}")
        existing = self._existing_columns()
        clashes = [
            f"{keyspace}.{table}: " + "; ".join(problems)
            for table in schema.TABLES
            if (problems := schema.schema_differences(table, existing.get(table, {})))
        ]
        if clashes:
            raise StoreQueryError(
                "setup() found tables with another schema than scyllabatch's ("
                + " | ".join(clashes)
                + "); use another keyspace, or drop or rename those tables if their data is not "
                "needed"
            )
        self._statements = None
        self._registered.clear()  # the keyspace may have been dropped and created again
        self._prepare_statements_blocking()

    def _setup_query(self, cql: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            return _driver.read_schema(self.session, cql, params)
        except Exception as exc:
            raise StoreQueryError(
                f"setup of keyspace {self.config.keyspace!r} could not read the schema: {exc}"
            ) from exc

    def _keyspace_exists(self) -> bool:
        return bool(self._setup_query(schema.KEYSPACE_QUERY, (self.config.keyspace,)))

    def _existing_columns(self) -> dict[str, dict[str, tuple[str, str]]]:
        """``{table: {column: (kind, type)}}`` of the SDK's tables in the keyspace."""
        columns: dict[str, dict[str, tuple[str, str]]] = {}
        for row in self._setup_query(schema.COLUMNS_QUERY, (self.config.keyspace,)):
            table, column, kind, type_ = _row_values(row)
            if table in schema.TABLES:
                columns.setdefault(table, {})[column] = (kind, type_)
        return columns

    def _run_ddl(self, cql: str, what: str) -> None:
        keyspace = self.config.keyspace
        try:
            # Schema changes wait for every node to agree on the new schema: seconds on a loaded
            # multi-node ring, so they get more time than a data request's timeout.
            self.session.execute(cql, timeout=max(self.config.request_timeout, SETUP_TIMEOUT))
        except Exception as exc:
            if _driver.classify(exc) is not ErrorKind.AUTH:
                raise StoreQueryError(f"setup could not create {what}: {exc}") from exc
            if what == "keyspace":
                advice = (
                    "this account may not create keyspaces: have one that may run "
                    f"`{cql}`, then pass create_keyspace=False"
                )
            else:
                advice = (
                    f"this account may not create tables in keyspace {keyspace!r}: grant it "
                    f"CREATE ON KEYSPACE {keyspace}, or have an account that may run `{cql}`"
                )
            raise StoreQueryError(f"setup could not create {what}: {advice} ({exc})") from exc

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
