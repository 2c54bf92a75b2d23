"""Batch metrics: counters and fixed-size histograms, safe to update from many threads.

Memory does not grow with traffic: percentiles come from the speedups' log-linear histogram
(a fixed array of counters, whatever the number of calls recorded). See :meth:`Metrics.snapshot`
for what each key counts (``docs/metrics.md`` has the same list), and :func:`prometheus_text` for
the Prometheus text exposition of a snapshot.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from scyllabatch._core.engine import CallStats
from scyllabatch._impl import IMPLEMENTATION, stats
from scyllabatch._version import __version__
from scyllabatch.ops import BatchType

__all__ = ["Metrics", "prometheus_text"]


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
            self.logged_batches = 0
            self.unlogged_batches = 0
            self.single_writes = 0
            self.counter_requests = 0
            self.conditional_requests = 0
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
                self._add_requests(call)

    def record_requests(self, call: CallStats) -> None:
        """Record the requests of work that is not a ``batch()`` call (an ``iter_search``)."""
        with self._lock:
            self._add_requests(call)

    def _add_requests(self, call: CallStats) -> None:
        """Add a call's request counts; the caller holds the lock."""
        self.logged_batches += call.logged_batches
        self.unlogged_batches += call.unlogged_batches
        self.single_writes += call.single_writes
        self.counter_requests += call.counter_requests
        self.conditional_requests += call.conditional_requests
        self.internal_writes += call.internal_writes
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
            ``single_writes``: writes sent as one statement; ``counter_requests`` /
            ``conditional_requests``: counter updates and conditional writes sent (one statement
            or a ``COUNTER`` / conditional batch each).
          - ``logged_calls`` / ``unlogged_calls``: calls by ``batch_type``.
          - ``batch_size_p50/p95/p99``: percentiles of ops per call.
          - ``failed_batches``: calls that raised; ``retries``: requests re-sent.
          - ``latency_ms_p50/p95/p99/max/mean``: wall time per call in milliseconds, from the
            start of validation to the result or the error (failed calls included).
          - ``read_requests`` / ``write_requests`` / ``rows_read``: requests and rows on the wire,
            ``iter_search`` pages included (``write_requests`` counts the caller's writes only);
            ``internal_writes``: TTL refreshes and namespace-registry writes.
          - ``ops_by_type``: ops per kind; ``errors_by_class``: raised errors per class;
            ``server_errors_by_kind``: every failed request (retried or not) per kind.
        """
        with self._lock:
            count = self.total_batches
            size_p = self.batch_sizes.percentiles([50, 95, 99])
            lat_p = self.latency_us.percentiles([50, 95, 99])
            lat_max = self.latency_us.max if count else 0.0
            lat_mean = self.latency_us.mean if count else 0.0
            return {
                "batch_stats": {
                    "total_batches": count,
                    "total_batch_operations": self.total_operations,
                    "avg_batch_size": self.total_operations / count if count else 0.0,
                    # The original store's names, kept: other names for the counts below.
                    "atomic_batches": self.logged_batches,
                    "concurrent_batches": self.unlogged_batches + self.single_writes,
                    "logged_batches": self.logged_batches,
                    "unlogged_batches": self.unlogged_batches,
                    "single_writes": self.single_writes,
                    "counter_requests": self.counter_requests,
                    "conditional_requests": self.conditional_requests,
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
                    "latency_ms_max": lat_max / 1000.0,
                    "latency_ms_mean": lat_mean / 1000.0,
                    "read_requests": self.read_requests,
                    "write_requests": self.write_requests,
                    "rows_read": self.rows_read,
                    "internal_writes": self.internal_writes,
                },
                "ops_by_type": dict(self.ops_by_type),
                "errors_by_class": dict(self.errors_by_class),
                "server_errors_by_kind": dict(self.server_errors_by_kind),
            }


# -- Prometheus text exposition ------------------------------------------------------------------

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_QUANTILES = (("0.5", "p50"), ("0.95", "p95"), ("0.99", "p99"))


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Exposition:
    """Accumulates metric families in the text format (version 0.0.4)."""

    def __init__(self, prefix: str, labels: Mapping[str, str]) -> None:
        self.prefix = prefix
        self.constant = "".join(f'{k}="{_escape(str(v))}",' for k, v in labels.items())
        self.lines: list[str] = []

    def _labels(self, extra: Mapping[str, str]) -> str:
        text = self.constant + "".join(f'{k}="{_escape(str(v))}",' for k, v in extra.items())
        return "{" + text.rstrip(",") + "}" if text else ""

    def family(
        self,
        name: str,
        kind: str,
        help_text: str,
        samples: Iterable[tuple[str, Mapping[str, str], float]],
    ) -> None:
        """One ``# HELP``/``# TYPE`` block; samples are (suffix, labels, value)."""
        full = f"{self.prefix}_{name}"
        self.lines.append(f"# HELP {full} {help_text}")
        self.lines.append(f"# TYPE {full} {kind}")
        for suffix, labels, value in samples:
            self.lines.append(f"{full}{suffix}{self._labels(labels)} {_number(value)}")

    def counter(self, name: str, help_text: str, value: float) -> None:
        self.family(name, "counter", help_text, [("", {}, value)])

    def labelled_counter(
        self, name: str, help_text: str, label: str, values: Mapping[str, float]
    ) -> None:
        self.family(
            name, "counter", help_text, [("", {label: k}, v) for k, v in sorted(values.items())]
        )

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def prometheus_text(
    snapshot: Mapping[str, Any],
    *,
    prefix: str = "scyllabatch",
    labels: Mapping[str, str] | None = None,
) -> str:
    """Render a :meth:`Metrics.snapshot` (``get_metrics()``) in the Prometheus text format.

    Counters end in ``_total``; percentiles become summaries (``quantile`` 0.5/0.95/0.99, with
    ``_sum`` and ``_count``); latencies are in seconds. ``labels`` are added to every sample
    (for example ``{"store": "memories"}`` when a process has several stores). Serve the text
    from any HTTP endpoint with the content type ``text/plain; version=0.0.4``.
    """
    if not _METRIC_NAME.fullmatch(prefix):
        raise ValueError(f"prefix {prefix!r} is not a valid Prometheus metric name")
    constant = dict(labels or {})
    for name in constant:
        if not _LABEL_NAME.fullmatch(name) or name.startswith("__") or name == "quantile":
            raise ValueError(f"label name {name!r} is not allowed")
    b = snapshot["batch_stats"]
    out = _Exposition(prefix, constant)
    out.family(
        "info",
        "gauge",
        "scyllabatch version and speedups implementation (always 1).",
        [("", {"version": __version__, "implementation": IMPLEMENTATION}, 1)],
    )
    out.counter("batch_calls_total", "batch() calls, successful or not.", b["total_batches"])
    out.counter(
        "batch_operations_total", "Operations passed to batch() calls.", b["total_batch_operations"]
    )
    out.counter("batch_calls_failed_total", "batch() calls that raised.", b["failed_batches"])
    out.labelled_counter(
        "batch_calls_by_type_total",
        "batch() calls by requested batch_type.",
        "batch_type",
        {"logged": b["logged_calls"], "unlogged": b["unlogged_calls"]},
    )
    out.labelled_counter(
        "write_statements_total",
        "Caller write requests sent, by form: logged batch, unlogged (single-partition) batch, "
        "single statement, counter updates, or conditional write.",
        "form",
        {
            "logged_batch": b["logged_batches"],
            "unlogged_batch": b["unlogged_batches"],
            "single": b["single_writes"],
            "counter": b["counter_requests"],
            "conditional": b["conditional_requests"],
        },
    )
    out.counter(
        "atomic_batches_total",
        "Logged batches sent (all-or-nothing across partitions).",
        b["atomic_batches"],
    )
    out.counter(
        "concurrent_batches_total",
        "Unlogged partition batches and single writes sent concurrently.",
        b["concurrent_batches"],
    )
    out.labelled_counter(
        "requests_total",
        "Requests sent to the cluster (including retries and pages), by kind.",
        "kind",
        {
            "read": b["read_requests"],
            "write": b["write_requests"],
            "internal_write": b["internal_writes"],
        },
    )
    out.counter("retries_total", "Requests re-sent after a retryable failure.", b["retries"])
    out.counter("rows_read_total", "Rows received by read requests.", b["rows_read"])
    out.labelled_counter(
        "operations_total", "Operations by type.", "op", snapshot.get("ops_by_type", {})
    )
    out.labelled_counter(
        "errors_total",
        "batch() calls that raised, by exception class.",
        "error",
        snapshot.get("errors_by_class", {}),
    )
    out.labelled_counter(
        "server_errors_total",
        "Failed requests (retried or not), by failure kind.",
        "kind",
        snapshot.get("server_errors_by_kind", {}),
    )
    out.family(
        "batch_size_average",
        "gauge",
        "Mean operations per batch() call.",
        [("", {}, b["avg_batch_size"])],
    )
    out.family(
        "batch_size_operations",
        "summary",
        "Operations per batch() call.",
        [
            *(("", {"quantile": q}, b[f"batch_size_{p}"]) for q, p in _QUANTILES),
            ("_sum", {}, b["total_batch_operations"]),
            ("_count", {}, b["total_batches"]),
        ],
    )
    count = b["total_batches"]
    out.family(
        "batch_latency_seconds",
        "summary",
        "Wall time per batch() call, validation to result.",
        [
            *(("", {"quantile": q}, b[f"latency_ms_{p}"] / 1000.0) for q, p in _QUANTILES),
            ("_sum", {}, b["latency_ms_mean"] * count / 1000.0),
            ("_count", {}, count),
        ],
    )
    out.family(
        "batch_latency_max_seconds",
        "gauge",
        "Longest batch() call since the last reset.",
        [("", {}, b["latency_ms_max"] / 1000.0)],
    )
    return out.text()
