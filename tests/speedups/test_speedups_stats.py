"""Histogram twins: exactness, error bound, merge/reset/copy, bounded memory, twin identity."""

from __future__ import annotations

import math
import pickle
from collections.abc import Sequence
from types import ModuleType

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.speedups

HOUR_US = 3_600_000_000


def nearest_rank(samples: npt.ArrayLike, qs: Sequence[float]) -> list[float]:
    """The exact percentile the histogram approximates: the value of rank ceil(q * n / 100).

    Like ``numpy.percentile(method="inverted_cdf")``, except that the rank is computed as
    ``q * n / 100`` in float64, so p99.9 of 200,000 values is rank 199,800 (numpy's exact binary
    arithmetic on 99.9 = 99.9000000000000057 gives rank 199,801).
    """
    ordered = np.sort(np.asarray(samples, dtype=np.float64))
    n = len(ordered)
    return [float(ordered[min(max(math.ceil(q * n / 100.0), 1), n) - 1]) for q in qs]


def test_empty_histogram_reports_zero(stats: ModuleType) -> None:
    h = stats.Histogram()
    assert h.count == 0
    assert (h.min, h.max, h.mean) == (0.0, 0.0, 0.0)
    assert h.percentile(50) == 0.0
    assert h.percentiles([0, 50, 100]) == [0.0, 0.0, 0.0]
    h.record_many([])
    h.record_many(np.array([], dtype=np.float64))
    assert h.count == 0


def test_exact_for_integers_up_to_4095(stats: ModuleType) -> None:
    rng = np.random.default_rng(7)
    samples = rng.integers(0, 2049, size=50_000)
    h = stats.Histogram()
    h.record_many(samples)
    qs = [0, 0.1, 1, 10, 25, 33.3, 50, 66.6, 75, 90, 95, 99, 99.9, 99.99, 100]
    assert h.percentiles(qs) == nearest_rank(samples, qs)
    assert h.min == samples.min()
    assert h.max == samples.max()
    assert h.mean == pytest.approx(samples.mean(), rel=1e-12)
    # Every integer 0..4095 has its own counter.
    h = stats.Histogram()
    for v in (0, 1, 2047, 2048, 2049, 4095):
        h.reset()
        h.record_many([v, v, v])
        assert h.percentiles([10, 50, 90]) == [v, v, v]
    h.reset()
    h.record_many([2048, 2049])
    assert h.percentiles([50, 100]) == [2048.0, 2049.0]
    h.reset()
    h.record_many([1, 2048, 2049, 3000, 4095, 4096])
    assert h.percentiles([30, 50, 60, 80]) == [2048.0, 2049.0, 3000.0, 4095.0]


def test_batch_sizes_exact(stats: ModuleType) -> None:
    h = stats.Histogram()
    for size in [1, 5, 5, 100, 37, 2048, 250]:
        h.record(size)
    assert h.percentiles([0, 50, 100]) == [1.0, 37.0, 2048.0]
    assert h.count == 7


@pytest.mark.parametrize("dist", ["lognormal", "uniform", "pareto"])
def test_relative_error_within_one_percent_up_to_an_hour(stats: ModuleType, dist: str) -> None:
    rng = np.random.default_rng(42)
    if dist == "lognormal":
        samples = rng.lognormal(mean=9, sigma=3, size=200_000)
    elif dist == "uniform":
        samples = rng.uniform(0, HOUR_US, size=200_000)
    else:
        samples = (rng.pareto(1.2, size=200_000) + 1) * 1000
    samples = np.minimum(samples, HOUR_US).astype(np.int64)
    h = stats.Histogram()
    h.record_many(samples)
    qs = [1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99]
    assert nearest_rank(samples, qs)[:8] == [
        float(v) for v in np.percentile(samples, qs[:8], method="inverted_cdf")
    ]
    for got, want in zip(h.percentiles(qs), nearest_rank(samples, qs), strict=True):
        assert abs(got - want) <= 0.01 * want
        # The layout actually guarantees half a bucket: 1/4096 of the value.
        assert abs(got - want) <= want / 4096 + 0.5


def test_relative_error_for_float_values(stats: ModuleType) -> None:
    rng = np.random.default_rng(3)
    samples = rng.uniform(10_000, HOUR_US, size=100_000)
    h = stats.Histogram()
    h.record_many(samples)
    for got, want in zip(
        h.percentiles([5, 50, 95]), nearest_rank(samples, [5, 50, 95]), strict=True
    ):
        assert abs(got - want) <= 0.01 * want


def test_memory_is_fixed(stats: ModuleType) -> None:
    h = stats.Histogram()
    size = h.counts.size
    assert h.counts.dtype == np.int64
    assert size == 44394  # one hour in microseconds at 4096 sub-buckets
    rng = np.random.default_rng(0)
    for _ in range(20):
        h.record_many(rng.integers(0, 10 * HOUR_US, size=50_000))
    for v in (0, 1, 10**12, 2**70):
        h.record(v)
    assert h.counts.size == size
    assert h.counts.sum() == h.count == 20 * 50_000 + 4
    small = stats.Histogram(max_value=100)
    assert small.counts.size == 101
    with pytest.raises(ValueError, match="read-only"):
        h.counts[0] = 1


def test_values_above_max_value(stats: ModuleType) -> None:
    h = stats.Histogram(max_value=10_000)
    h.record_many([1, 2, 3, 50_000, 10**9])
    assert h.max == 10**9
    assert h.percentile(100) == 10**9
    assert h.count == 5
    assert h.counts[-1] == 2  # both counted in the top bucket
    h.record(math.inf)
    assert h.max == math.inf
    h.record(10**400)  # too large for a float: counted as infinity
    assert h.count == 7


@pytest.mark.parametrize("bad", [-1, -0.5, math.nan, -math.inf])
def test_negative_and_nan_are_rejected(stats: ModuleType, bad: float) -> None:
    h = stats.Histogram()
    with pytest.raises(ValueError, match="non-negative"):
        h.record(bad)
    with pytest.raises(ValueError, match="non-negative"):
        h.record_many([1.0, 2.0, bad])
    with pytest.raises(ValueError, match="non-negative"):
        h.record_many(np.array([5, bad, 7]))
    assert h.count == 0  # nothing recorded: record_many validates first
    assert h.counts.sum() == 0


def test_bad_arguments(stats: ModuleType) -> None:
    h = stats.Histogram()
    with pytest.raises(TypeError):
        h.record("12")
    with pytest.raises(TypeError):
        h.record(None)
    with pytest.raises(TypeError):
        h.record_many(["1", "2"])
    for q in (-1, 100.5, math.nan):
        with pytest.raises(ValueError, match="between 0 and 100"):
            h.percentile(q)
    with pytest.raises(ValueError, match="max_value"):
        stats.Histogram(max_value=0)
    with pytest.raises(ValueError, match="max_value"):
        stats.Histogram(max_value=2**53 + 1)
    with pytest.raises(TypeError):
        stats.Histogram(max_value=1.5)


def test_record_many_accepts_many_input_types(stats: ModuleType) -> None:
    expected = stats.Histogram()
    for v in (3, 7, 5000, 123456):
        expected.record(v)
    for values in (
        [3, 7, 5000, 123456],
        (3, 7, 5000, 123456),
        np.array([3, 7, 5000, 123456], dtype=np.int32),
        np.array([3, 7, 5000, 123456], dtype=np.uint32),
        np.array([3, 7, 5000, 123456], dtype=np.uint64),
        np.array([3.0, 7.0, 5000.0, 123456.0], dtype=np.float32),
        np.array([[3, 7], [5000, 123456]]),
        np.array([3, 7, 5000, 123456])[::-1],
    ):
        h = stats.Histogram()
        h.record_many(values)
        assert h.percentiles([10, 50, 90, 100]) == expected.percentiles([10, 50, 90, 100])
        assert (h.count, h.min, h.max, h.mean) == (
            expected.count, expected.min, expected.max, expected.mean,
        )  # fmt: skip


def test_merge_reset_copy(stats: ModuleType) -> None:
    rng = np.random.default_rng(5)
    a_values = rng.integers(0, 10**7, size=10_000)
    b_values = rng.uniform(0, 10**5, size=5_000)
    a, b, both = stats.Histogram(), stats.Histogram(), stats.Histogram()
    a.record_many(a_values)
    b.record_many(b_values)
    both.record_many(a_values)
    both.record_many(b_values)
    merged = a.copy()
    merged.merge(b)
    qs = [0, 1, 50, 90, 99, 99.9, 100]
    assert merged.percentiles(qs) == both.percentiles(qs)
    assert (merged.count, merged.min, merged.max) == (both.count, both.min, both.max)
    assert merged.mean == pytest.approx(both.mean, rel=1e-12)
    assert np.array_equal(merged.counts, both.counts)
    # copy() is independent
    assert a.count == 10_000
    snapshot = a.copy()
    a.record(1)
    assert snapshot.count == 10_000
    # merging an empty histogram changes nothing
    before = a.percentiles(qs)
    a.merge(stats.Histogram())
    assert a.percentiles(qs) == before
    a.reset()
    assert a.count == 0
    assert a.percentiles(qs) == [0.0] * len(qs)
    assert a.counts.sum() == 0
    assert a.counts.size == both.counts.size
    a.record(10)
    assert (a.min, a.max, a.mean, a.percentile(50)) == (10.0, 10.0, 10.0, 10.0)
    with pytest.raises(ValueError, match="different max_value"):
        a.merge(stats.Histogram(max_value=1000))


def test_single_value_and_extremes(stats: ModuleType) -> None:
    h = stats.Histogram()
    h.record(123_456_789.5)
    assert h.percentiles([0, 50, 100]) == [123_456_789.5] * 3
    h.record(0)
    assert h.percentile(0) == 0.0
    assert h.percentile(100) == 123_456_789.5
    assert h.mean == pytest.approx(123_456_789.5 / 2)


def test_percentiles_in_given_order(stats: ModuleType) -> None:
    h = stats.Histogram()
    h.record_many(np.arange(1, 1001))
    assert h.percentiles([99, 50, 1, 100, 0]) == [990.0, 500.0, 10.0, 1000.0, 1.0]
    assert h.percentile(99.9) == 999.0
    assert "count=1000" in repr(h)


# ------------------------------------------------------------------------- twins agree

numbers = st.one_of(
    st.integers(min_value=0, max_value=2**62),
    st.integers(min_value=0, max_value=5000),
    st.floats(min_value=0, max_value=1e12, allow_nan=False),
    st.floats(min_value=0, max_value=5000, allow_nan=False),
)


@settings(max_examples=200, deadline=None)
@given(
    chunks=st.lists(st.lists(numbers, max_size=50), min_size=1, max_size=5),
    singles=st.lists(numbers, max_size=10),
    qs=st.lists(st.floats(min_value=0, max_value=100), min_size=1, max_size=6),
    max_value=st.sampled_from([1, 100, 4095, 4096, 10**6, 3_600_000_000, 2**53]),
)
def test_twins_return_identical_results(
    stats_pair: tuple[ModuleType, ModuleType],
    chunks: list[list[float]],
    singles: list[float],
    qs: list[float],
    max_value: int,
) -> None:
    results = []
    for twin in stats_pair:
        h = twin.Histogram(max_value=max_value)
        other = twin.Histogram(max_value=max_value)
        for chunk in chunks:
            h.record_many(np.array(chunk, dtype=np.float64))
            other.record_many([int(v) for v in chunk])
        for v in singles:
            h.record(v)
        h.merge(other)
        results.append(
            (h.count, h.min, h.max, h.mean, h.percentiles(qs), [h.percentile(q) for q in qs],
             h.counts.tolist())
        )  # fmt: skip
    assert results[0] == results[1]


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.integers(min_value=0, max_value=4095), min_size=1, max_size=300))
def test_exact_property(stats: ModuleType, values: list[int]) -> None:
    h = stats.Histogram()
    h.record_many(values)
    qs = [0, 5, 25, 50, 75, 95, 99, 100]
    assert h.percentiles(qs) == nearest_rank(np.array(values), qs)


def test_record_and_record_many_agree(stats: ModuleType) -> None:
    rng = np.random.default_rng(11)
    values = rng.lognormal(5, 2, size=2000)
    one, many = stats.Histogram(), stats.Histogram()
    for v in values:
        one.record(float(v))
    many.record_many(values)
    qs = [1, 50, 99]
    assert (one.count, one.min, one.max, one.mean, one.percentiles(qs)) == (
        many.count, many.min, many.max, many.mean, many.percentiles(qs),
    )  # fmt: skip


def test_pickle_round_trip(stats: ModuleType) -> None:
    h = stats.Histogram(max_value=10**6)
    h.record_many([1, 5, 5000, 10**7, 0.5])
    clone = pickle.loads(pickle.dumps(h))
    assert type(clone) is type(h)
    assert clone.max_value == h.max_value
    assert (clone.count, clone.min, clone.max, clone.mean) == (h.count, h.min, h.max, h.mean)
    assert clone.percentiles([10, 50, 90]) == h.percentiles([10, 50, 90])
    assert np.array_equal(clone.counts, h.counts)
