"""What recording one batch call in the metrics costs (the price every call pays).

Run: ``python -m pytest benchmarks/test_bench_metrics.py --benchmark-only``. Compare with the
latency of a call (milliseconds): recording is a few microseconds.
"""

from __future__ import annotations

from typing import Any

import pytest

from scyllabatch._core.engine import CallStats
from scyllabatch.metrics import Metrics, prometheus_text
from scyllabatch.ops import BatchType


@pytest.mark.benchmark(group="metrics: record one call")
def test_record_call(benchmark: Any) -> None:
    metrics = Metrics()
    stats = CallStats(unlogged_batches=3, write_requests=3, read_requests=3, rows_read=10)

    def record() -> None:
        metrics.record_call(
            size=100,
            batch_type=BatchType.UNLOGGED,
            op_kinds={"PutOp": 100},
            call=stats,
            latency_us=2_500.0,
            error=None,
        )

    benchmark(record)
    assert metrics.snapshot()["batch_stats"]["total_batches"] >= 1


@pytest.mark.benchmark(group="metrics: snapshot and exposition")
def test_snapshot_and_prometheus_text(benchmark: Any) -> None:
    metrics = Metrics()
    for size in range(1, 1001):
        metrics.record_call(
            size=size,
            batch_type=BatchType.LOGGED,
            op_kinds={"PutOp": size},
            call=None,
            latency_us=float(size * 10),
            error=None,
        )
    text = benchmark(lambda: prometheus_text(metrics.snapshot()))
    assert "scyllabatch_batch_latency_max_seconds" in text
