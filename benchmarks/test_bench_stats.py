"""Histogram benchmarks, side by side with numpy.percentile and the hdrhistogram package.

Run:
    python -m pytest benchmarks/test_bench_stats.py --benchmark-only --benchmark-group-by=group

Targets for the compiled twin: ``record_many`` under 20 ns per value (the "record_many 1M"
group: divide by 1,000,000), and three percentiles over 10 million recorded values in under
1 ms. ``numpy.percentile`` needs the raw samples (80 MB for 10M values); hdrhistogram
records one value per Python call.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from scyllabatch._pure import stats as pure_stats


def _compiled() -> ModuleType | None:
    try:
        return importlib.import_module("scyllabatch._speedups.stats")
    except ImportError:  # depends on the build
        return None


compiled_stats = _compiled()

HOUR_US = 3_600_000_000
QS = [50.0, 95.0, 99.0]
RECORD = "record_many 1M values"
PERCENTILES = "3 percentiles over 10M values"
SINGLE = "record one value"


def twin(name: str) -> ModuleType:
    if name == "python":
        return pure_stats
    if compiled_stats is None:
        pytest.skip("compiled stats not built (python setup.py build_ext --inplace)")
    return compiled_stats


def latencies(n: int, seed: int) -> np.ndarray:
    """Latency-like samples in microseconds (log-normal, median about 3 ms)."""
    rng = np.random.default_rng(seed)
    return np.minimum(rng.lognormal(mean=8.0, sigma=1.2, size=n), HOUR_US).astype(np.int64)


@pytest.fixture(scope="module")
def one_million() -> np.ndarray:
    return latencies(1_000_000, 1)


@pytest.fixture(scope="module")
def ten_million() -> np.ndarray:
    return latencies(10_000_000, 2)


@pytest.mark.benchmark(group=RECORD)
@pytest.mark.parametrize("name", ["cython", "python"])
def test_record_many(benchmark: Any, name: str, one_million: np.ndarray) -> None:
    hist = twin(name).Histogram()
    benchmark(hist.record_many, one_million)
    assert hist.count % one_million.size == 0


@pytest.mark.benchmark(group=RECORD)
@pytest.mark.parametrize("name", ["cython", "python"])
def test_record_many_float(benchmark: Any, name: str, one_million: np.ndarray) -> None:
    hist = twin(name).Histogram()
    values = one_million.astype(np.float64) + 0.25
    benchmark(hist.record_many, values)
    assert hist.count % one_million.size == 0


@pytest.mark.benchmark(group=RECORD)
def test_record_hdrhistogram_loop(benchmark: Any, one_million: np.ndarray) -> None:
    values = one_million.tolist()

    def run() -> HdrHistogram:
        hist = HdrHistogram(1, HOUR_US, 3)
        for v in values:
            hist.record_value(v)
        return hist

    hist = benchmark.pedantic(run, rounds=3, iterations=1)
    assert hist.get_total_count() == one_million.size


@pytest.mark.benchmark(group=SINGLE)
@pytest.mark.parametrize("name", ["cython", "python"])
def test_record_one(benchmark: Any, name: str) -> None:
    hist = twin(name).Histogram()
    benchmark(hist.record, 12_345)


@pytest.mark.benchmark(group=SINGLE)
def test_record_one_hdrhistogram(benchmark: Any) -> None:
    hist = HdrHistogram(1, HOUR_US, 3)
    benchmark(hist.record_value, 12_345)


@pytest.mark.benchmark(group=PERCENTILES)
@pytest.mark.parametrize("name", ["cython", "python"])
def test_percentiles(benchmark: Any, name: str, ten_million: np.ndarray) -> None:
    hist = twin(name).Histogram()
    hist.record_many(ten_million)
    result = benchmark(hist.percentiles, QS)
    exact = np.percentile(ten_million, QS, method="inverted_cdf")
    for got, want in zip(result, exact, strict=True):
        assert abs(got - want) <= 0.01 * want


@pytest.mark.benchmark(group=PERCENTILES)
def test_percentiles_numpy_raw_samples(benchmark: Any, ten_million: np.ndarray) -> None:
    result = benchmark(np.percentile, ten_million, QS, method="inverted_cdf")
    assert len(result) == len(QS)


@pytest.mark.benchmark(group=PERCENTILES)
def test_percentiles_hdrhistogram(benchmark: Any, ten_million: np.ndarray) -> None:
    hist = HdrHistogram(1, HOUR_US, 3)
    values, counts = np.unique(ten_million, return_counts=True)
    for v, c in zip(values.tolist(), counts.tolist(), strict=True):
        hist.record_value(max(v, 1), c)
    assert hist.get_total_count() == ten_million.size

    def run() -> list[int]:
        return [hist.get_value_at_percentile(q) for q in QS]

    assert len(benchmark(run)) == len(QS)
