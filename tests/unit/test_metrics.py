"""Metrics without a database: exact totals from many threads, flat memory, Prometheus text."""

from __future__ import annotations

import gc
import re
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from scyllabatch import StoreTimeoutError, StoreValidationError
from scyllabatch import metrics as metrics_module
from scyllabatch._core.engine import CallStats
from scyllabatch.metrics import Metrics, prometheus_text
from scyllabatch.ops import BatchType

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"

BATCH_STATS_KEYS = {
    "total_batches",
    "total_batch_operations",
    "avg_batch_size",
    "atomic_batches",
    "concurrent_batches",
    "logged_batches",
    "unlogged_batches",
    "single_writes",
    "counter_requests",
    "conditional_requests",
    "logged_calls",
    "unlogged_calls",
    "batch_size_p50",
    "batch_size_p95",
    "batch_size_p99",
    "failed_batches",
    "retries",
    "latency_ms_p50",
    "latency_ms_p95",
    "latency_ms_p99",
    "latency_ms_max",
    "latency_ms_mean",
    "read_requests",
    "write_requests",
    "rows_read",
    "internal_writes",
}


def record(
    metrics: Metrics,
    size: int = 10,
    *,
    batch_type: BatchType = BatchType.UNLOGGED,
    latency_us: float = 2_000.0,
    error: BaseException | None = None,
    call: CallStats | None = None,
) -> None:
    metrics.record_call(
        size=size,
        batch_type=batch_type,
        op_kinds={"PutOp": size - 1, "GetOp": 1},
        call=call,
        latency_us=latency_us,
        error=error,
    )


def sample_call() -> CallStats:
    return CallStats(
        read_requests=2,
        write_requests=3,
        logged_batches=0,
        unlogged_batches=2,
        single_writes=1,
        internal_writes=1,
        retries=1,
        rows_read=4,
        error_kinds=["unavailable"],
    )


def test_empty_snapshot_has_every_key_and_zeros() -> None:
    snap = Metrics().snapshot()
    assert set(snap) == {"batch_stats", "ops_by_type", "errors_by_class", "server_errors_by_kind"}
    assert set(snap["batch_stats"]) == BATCH_STATS_KEYS
    assert all(value == 0 for value in snap["batch_stats"].values())


def test_every_key_is_documented() -> None:
    if not DOCS.exists():  # e.g. tests run from an installed wheel
        pytest.skip("docs/metrics.md is not next to the tests")
    text = DOCS.read_text(encoding="utf-8")
    documented = set(re.findall(r"`([a-z0-9_]+)`", text))
    missing = (BATCH_STATS_KEYS | {"ops_by_type", "errors_by_class", "server_errors_by_kind"}) - (
        documented
    )
    assert not missing, f"keys missing from docs/metrics.md: {sorted(missing)}"


def test_counts_percentiles_and_reset() -> None:
    m = Metrics()
    for size in range(1, 101):
        record(m, size, latency_us=size * 1000.0, call=sample_call())
    record(m, 3, batch_type=BatchType.LOGGED, error=StoreTimeoutError("x"))
    record(m, 2, error=StoreValidationError("bad"))
    b = m.snapshot()["batch_stats"]
    assert b["total_batches"] == 102
    assert b["total_batch_operations"] == sum(range(1, 101)) + 5
    assert b["avg_batch_size"] == pytest.approx(b["total_batch_operations"] / 102)
    assert b["logged_calls"] == 1
    assert b["unlogged_calls"] == 101
    assert b["failed_batches"] == 2
    # sizes are small integers: exact percentiles (nearest rank)
    assert b["batch_size_p50"] == 49  # rank 51 of 1..100 plus 2 and 3
    assert b["batch_size_p99"] == 99
    assert b["unlogged_batches"] == 200
    assert b["concurrent_batches"] == 300  # unlogged batches + single writes
    assert b["atomic_batches"] == b["logged_batches"] == 0
    assert b["retries"] == 100
    assert b["read_requests"] == 200
    assert b["rows_read"] == 400
    assert b["latency_ms_max"] == pytest.approx(100.0)
    assert b["latency_ms_p50"] == pytest.approx(49.0, rel=1e-3)
    assert b["latency_ms_mean"] == pytest.approx(sum(range(1, 101)) / 102 + 4 / 102, rel=1e-6)
    snap = m.snapshot()
    assert snap["errors_by_class"] == {"StoreTimeoutError": 1, "StoreValidationError": 1}
    assert snap["server_errors_by_kind"] == {"unavailable": 100}
    assert snap["ops_by_type"] == {"PutOp": sum(range(100)) + 3, "GetOp": 102}
    m.reset()
    assert Metrics().snapshot() == m.snapshot()


def test_totals_are_exact_from_many_threads() -> None:
    m = Metrics()
    threads, calls = 16, 2_000
    barrier = threading.Barrier(threads)

    def worker(n: int) -> None:
        barrier.wait()
        for i in range(calls):
            record(m, 1 + (i + n) % 7, call=sample_call())
            if i % 100 == 0:
                m.snapshot()  # readers run concurrently with writers

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    b = m.snapshot()["batch_stats"]
    expected_ops = sum(1 + (i + n) % 7 for n in range(threads) for i in range(calls))
    assert b["total_batches"] == threads * calls
    assert b["total_batch_operations"] == expected_ops
    assert b["retries"] == threads * calls
    assert b["write_requests"] == 3 * threads * calls
    assert m.snapshot()["ops_by_type"]["GetOp"] == threads * calls


def test_memory_stays_flat() -> None:
    m = Metrics()
    record(m)
    sizes = (m.batch_sizes.counts.size, m.latency_us.counts.size)
    rng = np.random.default_rng(7)
    # A million calls' worth of samples, recorded in bulk ...
    m.batch_sizes.record_many(rng.integers(1, 5_000, size=1_000_000))
    m.latency_us.record_many(rng.lognormal(8.0, 1.5, size=1_000_000))
    # Count what the package's code and this test allocate and still hold; other threads of the
    # test process (driver sessions of other tests) allocate meanwhile and are filtered out.
    only_scyllabatch = [
        tracemalloc.Filter(True, f"{Path(metrics_module.__file__).parent}/*"),
        tracemalloc.Filter(True, __file__),
    ]
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.take_snapshot().filter_traces(only_scyllabatch)
        # ... and 50,000 more through the per-call path, errors and op kinds included.
        for i in range(50_000):
            record(
                m,
                1 + i % 200,
                latency_us=float(i),
                error=StoreTimeoutError("t") if i % 10 == 0 else None,
                call=sample_call(),
            )
        gc.collect()
        after = tracemalloc.take_snapshot().filter_traces(only_scyllabatch)
    finally:
        tracemalloc.stop()
    assert (m.batch_sizes.counts.size, m.latency_us.counts.size) == sizes
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert grown < 16 * 1024, f"metrics grew by {grown} bytes"
    assert m.snapshot()["batch_stats"]["total_batches"] == 50_001


# -- Prometheus ---------------------------------------------------------------------------------


def families(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_prometheus_text_parses_with_help_and_type() -> None:
    m = Metrics()
    for size in (5, 10, 100):
        record(m, size, latency_us=size * 100.0, call=sample_call())
    record(m, 4, batch_type=BatchType.LOGGED, error=StoreTimeoutError("t"))
    snap = m.snapshot()
    text = prometheus_text(snap)
    fams = families(text)
    for line in text.splitlines():
        if line.startswith("# TYPE"):
            name = line.split()[2]
            assert f"# HELP {name} " in text
    assert fams["scyllabatch_batch_calls"].type == "counter"
    calls = fams["scyllabatch_batch_calls"].samples[0]
    assert calls.name == "scyllabatch_batch_calls_total"
    assert calls.value == 4
    ops = {s.labels["op"]: s.value for s in fams["scyllabatch_operations"].samples}
    assert ops == {"PutOp": 115, "GetOp": 4}
    errors = {s.labels["error"]: s.value for s in fams["scyllabatch_errors"].samples}
    assert errors == {"StoreTimeoutError": 1}
    by_type = {
        s.labels["batch_type"]: s.value for s in fams["scyllabatch_batch_calls_by_type"].samples
    }
    assert by_type == {"logged": 1, "unlogged": 3}
    latency = fams["scyllabatch_batch_latency_seconds"]
    assert latency.type == "summary"
    quantiles = {s.labels["quantile"]: s.value for s in latency.samples if "quantile" in s.labels}
    assert set(quantiles) == {"0.5", "0.95", "0.99"}
    assert quantiles["0.5"] == pytest.approx(snap["batch_stats"]["latency_ms_p50"] / 1000)
    by_name = {s.name: s.value for s in latency.samples}
    assert by_name["scyllabatch_batch_latency_seconds_count"] == 4
    assert by_name["scyllabatch_batch_latency_seconds_sum"] == pytest.approx(0.0135)
    sizes = {s.name: s.value for s in fams["scyllabatch_batch_size_operations"].samples}
    assert sizes["scyllabatch_batch_size_operations_sum"] == 119
    assert fams["scyllabatch_batch_size_average"].type == "gauge"
    info = fams["scyllabatch_info"].samples[0]
    assert info.labels["implementation"] in ("cython", "python")


def test_prometheus_labels_prefix_and_escaping() -> None:
    m = Metrics()
    record(m, error=type('Odd"Name\\', (Exception,), {})())
    text = prometheus_text(m.snapshot(), prefix="app_store", labels={"store": 'mem"ories'})
    fams = families(text)
    sample = fams["app_store_batch_calls"].samples[0]
    assert sample.labels == {"store": 'mem"ories'}
    error = fams["app_store_errors"].samples[0]
    assert error.labels["error"] == 'Odd"Name\\'
    with pytest.raises(ValueError, match="prefix"):
        prometheus_text(m.snapshot(), prefix="1bad")
    with pytest.raises(ValueError, match="label"):
        prometheus_text(m.snapshot(), labels={"quantile": "x"})


def test_prometheus_text_of_empty_metrics() -> None:
    fams = families(prometheus_text(Metrics().snapshot()))
    assert fams["scyllabatch_batch_calls"].samples[0].value == 0
    assert fams["scyllabatch_operations"].samples == []
