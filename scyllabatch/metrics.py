"""Batch metrics: counters and fixed-size histograms, safe to update from many threads.

Memory does not grow with traffic: percentiles come from the speedups' log-linear histogram.
See :meth:`Metrics.snapshot` for what each key counts.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from scyllabatch._core.engine import CallStats
from scyllabatch._impl import stats
from scyllabatch.ops import BatchType


class Metrics:
    """Counters and histograms of one store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self.batch_sizes = stats.Histogram()
            self.latency_us = stats.Histogram()
            self.total_batches = 0
            self.total_operations = 0
            self.failed_batches = 0
            self.logged_calls = 0
            self.unlogged_calls = 0
            self.atomic_batches = 0
            self.concurrent_batches = 0
            self.logged_batches = 0
            self.unlogged_batches = 0
            self.single_writes = 0
            self.internal_writes = 0
            self.read_requests = 0
            self.write_requests = 0
            self.retries = 0
            self.rows_read = 0
            self.ops_by_type: Counter[str] = Counter()
            self.errors_by_class: Counter[str] = Counter()
            self.server_errors_by_kind: Counter[str] = Counter()

    def record_call(
        self,
        *,
        size: int,
        batch_type: BatchType,
        op_kinds: dict[str, int],
        call: CallStats | None,
        latency_us: float,
        error: BaseException | None,
    ) -> None:
        """Record one finished ``batch()`` call (successful or not)."""
        with self._lock:
            self.total_batches += 1
            self.total_operations += size
            self.batch_sizes.record(size)
            self.latency_us.record(max(0.0, latency_us))
            if batch_type is BatchType.LOGGED:
                self.logged_calls += 1
            else:
                self.unlogged_calls += 1
            self.ops_by_type.update(op_kinds)
            if error is not None:
                self.failed_batches += 1
                self.errors_by_class[type(error).__name__] += 1
            if call is not None:
                self.logged_batches += call.logged_batches
                self.unlogged_batches += call.unlogged_batches
                self.single_writes += call.single_writes
                self.internal_writes += call.internal_writes
                self.atomic_batches += call.logged_batches
                self.concurrent_batches += call.unlogged_batches + call.single_writes
                self.read_requests += call.read_requests
                self.write_requests += call.write_requests
                self.retries += call.retries
                self.rows_read += call.rows_read
                self.server_errors_by_kind.update(call.error_kinds)

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of every metric.

        ``batch_stats``:
          - ``total_batches``: ``batch()`` calls; ``total_batch_operations``: ops in them;
            ``avg_batch_size``: their ratio.
          - ``atomic_batches``: logged batches sent (all-or-nothing across partitions);
            ``concurrent_batches``: unlogged partition batches and single writes sent
            concurrently; ``logged_batches`` / ``unlogged_batches``: batch statements sent by type;
            ``single_writes``: writes sent as one statement.
          - ``logged_calls`` / ``unlogged_calls``: calls by ``batch_type``.
          - ``batch_size_p50/p95/p99``: percentiles of ops per call.
          - ``failed_batches``: calls that raised; ``retries``: requests re-sent.
          - ``latency_ms_p50/p95/p99/max``: wall time per call.
          - ``read_requests`` / ``write_requests`` / ``rows_read``: requests and rows on the wire
            (``write_requests`` counts the caller's writes only); ``internal_writes``: TTL
            refreshes and namespace-registry writes.
          - ``ops_by_type``: ops per kind; ``errors_by_class``: raised errors per class;
            ``server_errors_by_kind``: every failed request (retried or not) per kind.
        """
        with self._lock:
            count = self.total_batches
            size_p = self.batch_sizes.percentiles([50, 95, 99])
            lat_p = self.latency_us.percentiles([50, 95, 99])
            return {
                "batch_stats": {
                    "total_batches": count,
                    "total_batch_operations": self.total_operations,
                    "avg_batch_size": self.total_operations / count if count else 0.0,
                    "atomic_batches": self.atomic_batches,
                    "concurrent_batches": self.concurrent_batches,
                    "logged_batches": self.logged_batches,
                    "unlogged_batches": self.unlogged_batches,
                    "single_writes": self.single_writes,
                    "logged_calls": self.logged_calls,
                    "unlogged_calls": self.unlogged_calls,
                    "batch_size_p50": size_p[0],
                    "batch_size_p95": size_p[1],
                    "batch_size_p99": size_p[2],
                    "failed_batches": self.failed_batches,
                    "retries": self.retries,
                    "latency_ms_p50": lat_p[0] / 1000.0,
                    "latency_ms_p95": lat_p[1] / 1000.0,
                    "latency_ms_p99": lat_p[2] / 1000.0,
                    "latency_ms_max": (self.latency_us.max if count else 0.0) / 1000.0,
                    "read_requests": self.read_requests,
                    "write_requests": self.write_requests,
                    "rows_read": self.rows_read,
                    "internal_writes": self.internal_writes,
                },
                "ops_by_type": dict(self.ops_by_type),
                "errors_by_class": dict(self.errors_by_class),
                "server_errors_by_kind": dict(self.server_errors_by_kind),
            }
