"""Prometheus metrics through ``prometheus_client``: bucketed histograms that aggregate.

Needs ``prometheus-client`` (``pip install scyllabatch[prometheus]``). Unlike
:meth:`~scyllabatch.Store.metrics_text` (a summary of one store since its last reset), these are
``prometheus_client`` counters and histograms updated on every call: Prometheus aggregates their
buckets across stores, processes and hosts, and ``prometheus_client``'s multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, for gunicorn-style workers) sums every worker's values.

    metrics = PrometheusMetrics()                  # registers in prometheus_client.REGISTRY
    store.observers = (*store.observers, metrics)  # one instance may serve many stores

``docs/observability.md`` lists the metrics.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from scyllabatch.observability import CallEnd, CallObservation, CallStart, Observer

__all__ = ["LATENCY_BUCKETS", "SIZE_BUCKETS", "PrometheusMetrics"]

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
"""Default upper bounds (seconds) of the call latency histogram."""

SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
"""Default upper bounds of the ops-per-call histogram."""


class PrometheusMetrics(Observer):
    """Counters and histograms of every call of the stores it observes.

    Every metric has a ``keyspace`` label. ``registry`` defaults to ``prometheus_client``'s
    global one; create one instance per registry (registering the same names twice fails).
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = REGISTRY,
        *,
        prefix: str = "scyllabatch",
        latency_buckets: Sequence[float] = LATENCY_BUCKETS,
        size_buckets: Sequence[float] = SIZE_BUCKETS,
    ) -> None:
        def counter(name: str, help_text: str, *labels: str) -> Counter:
            return Counter(f"{prefix}_{name}", help_text, ("keyspace", *labels), registry=registry)

        self.latency = Histogram(
            f"{prefix}_batch_latency_seconds",
            "Wall time per batch() call, validation to result (failed calls included).",
            ("keyspace", "batch_type"),
            registry=registry,
            buckets=tuple(latency_buckets),
        )
        self.size = Histogram(
            f"{prefix}_batch_size_operations",
            "Operations per batch() call.",
            ("keyspace",),
            registry=registry,
            buckets=tuple(size_buckets),
        )
        self.calls = counter("batch_calls", "batch() calls, successful or not.", "batch_type")
        self.failed = counter("batch_calls_failed", "batch() calls that raised, by class.", "error")
        self.operations = counter("operations", "Operations by type.", "op")
        self.requests = counter(
            "requests",
            "Requests sent to the cluster (including retries and pages), by kind.",
            "kind",
        )
        self.write_statements = counter(
            "write_statements",
            "Caller write requests sent, by form: logged batch, unlogged batch or single.",
            "form",
        )
        self.retries = counter("retries", "Requests re-sent after a retryable failure.")
        self.rows_read = counter("rows_read", "Rows received by read requests.")
        self.server_errors = counter(
            "server_errors", "Failed requests (retried or not), by failure kind.", "kind"
        )
        # Label look-ups take a lock and build a key: keep the children of each label set.
        self._children: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            with self._lock:
                child = self._children[key] = metric.labels(*labels)
        return child

    def call_started(self, start: CallStart) -> CallObservation | None:
        """Follow the call: its metrics are recorded when it ends."""
        return _Call(self, start.keyspace)

    def record(self, keyspace: str, end: CallEnd) -> None:
        """Fold one finished call into the metrics."""
        child = self._child
        batch_type = end.batch_type.value.lower()
        child(self.latency, keyspace, batch_type).observe(end.duration)
        child(self.size, keyspace).observe(end.size)
        child(self.calls, keyspace, batch_type).inc()
        if end.error is not None:
            child(self.failed, keyspace, type(end.error).__name__).inc()
        for op, count in end.op_kinds.items():
            child(self.operations, keyspace, op).inc(count)
        stats = end.stats
        if stats is None:
            return
        for kind, count in (
            ("read", stats.read_requests),
            ("write", stats.write_requests),
            ("internal_write", stats.internal_writes),
        ):
            if count:
                child(self.requests, keyspace, kind).inc(count)
        for form, count in (
            ("logged_batch", stats.logged_batches),
            ("unlogged_batch", stats.unlogged_batches),
            ("single", stats.single_writes),
        ):
            if count:
                child(self.write_statements, keyspace, form).inc(count)
        if stats.retries:
            child(self.retries, keyspace).inc(stats.retries)
        if stats.rows_read:
            child(self.rows_read, keyspace).inc(stats.rows_read)
        for kind in stats.error_kinds:
            child(self.server_errors, keyspace, kind).inc()


class _Call(CallObservation):
    __slots__ = ("_keyspace", "_owner")

    def __init__(self, owner: PrometheusMetrics, keyspace: str) -> None:
        self._owner = owner
        self._keyspace = keyspace

    def call_ended(self, end: CallEnd) -> None:
        self._owner.record(self._keyspace, end)
