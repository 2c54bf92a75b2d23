"""Pure-Python twin of ``scyllabatch._speedups.stats``: a fixed-size log-linear histogram.

Layout (HdrHistogram-style, 4096 sub-buckets): integers ``0..4095`` each have their own
counter, so they are recorded and reported exactly (batch sizes); above that, every power-of-two
range ``[2**(k+11), 2**(k+12))`` is split into 2048 equal buckets of width ``2**k``, so a
reported percentile is within 1/4096 (0.025 %) of the true value. With the default
``max_value`` (one hour in microseconds) the histogram holds 44,394 int64 counters (355 KB)
whatever the number of values recorded.

Values are non-negative numbers. They are bucketed at integer resolution (a float is truncated
toward zero, so record microseconds rather than seconds); ``min``, ``max`` and ``mean`` use the
values as given. Values above ``max_value`` are counted in the top bucket; ``max`` still reports
the true maximum. An empty histogram reports ``0.0`` for every percentile and for ``min``,
``max`` and ``mean``.

Percentiles use the nearest-rank definition: the value of rank ``ceil(q * count / 100)``
(computed in float64, at least 1), i.e. the smallest recorded value such that at least ``q`` %
of the values are less than or equal to it, like HdrHistogram and
``numpy.percentile(..., method="inverted_cdf")``. It is reported as the middle of its bucket,
clamped to ``[min, max]``; ranks 1 and ``count`` report ``min`` and ``max`` exactly.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any, SupportsFloat, SupportsIndex

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_MAX_VALUE", "MAX_MAX_VALUE", "SUB_BUCKET_COUNT", "Histogram"]

#: One hour in microseconds.
DEFAULT_MAX_VALUE = 3_600_000_000
#: Largest accepted ``max_value``: every integer up to it is exact as a float64.
MAX_MAX_VALUE = 2**53
#: Counters per power-of-two range; integers below it are exact.
SUB_BUCKET_COUNT = 4096
_SUB_BITS = 12
_HALF_BITS = 11
_CHUNK = 1 << 20


def _index(v: int) -> int:
    k = v.bit_length() - _SUB_BITS
    if k < 0:
        k = 0
    return (k << _HALF_BITS) + (v >> k)


def _bucket_middle(idx: int) -> float:
    if idx < SUB_BUCKET_COUNT:
        return float(idx)
    k = (idx >> _HALF_BITS) - 1
    low = (idx - (k << _HALF_BITS)) << k
    return low + ((1 << k) - 1) / 2


def _as_array(values: object) -> npt.NDArray[Any]:
    """Return ``values`` as a contiguous 1-D int64 or float64 array (shared by both twins)."""
    arr = np.asarray(values)
    kind = arr.dtype.kind
    if kind == "b" or kind == "i" or (kind == "u" and arr.dtype.itemsize < 8):
        arr = arr.astype(np.int64, copy=False)
    elif kind in "fuO":
        arr = arr.astype(np.float64, copy=False)
    else:
        raise TypeError(f"histogram values must be numbers, not an array of {arr.dtype}")
    return np.ascontiguousarray(arr.ravel())


def _to_float(value: object) -> float:
    if isinstance(value, (str, bytes, bytearray)):
        raise TypeError(f"histogram values must be numbers, not {type(value).__name__}")
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:
        return math.inf


def _check_q(q: SupportsFloat) -> float:
    fq = float(q)
    if not 0.0 <= fq <= 100.0:
        raise ValueError(f"percentile must be between 0 and 100, got {q!r}")
    return fq


class Histogram:
    """Fixed-size log-linear histogram of non-negative numbers (see the module docstring).

    Not synchronized: share one between threads only behind a lock.
    """

    __slots__ = ("_count", "_counts", "_max", "_max_value", "_min", "_sum")

    def __init__(self, max_value: SupportsIndex = DEFAULT_MAX_VALUE) -> None:
        mv = operator.index(max_value)
        if not 1 <= mv <= MAX_MAX_VALUE:
            raise ValueError(f"max_value must be between 1 and 2**53, got {mv}")
        self._max_value = mv
        self._counts: npt.NDArray[np.int64] = np.zeros(_index(mv) + 1, dtype=np.int64)
        self._count = 0
        self._sum = 0.0
        self._min = math.inf
        self._max = -math.inf

    # ------------------------------------------------------------------------- recording

    def record(self, value: SupportsFloat | SupportsIndex) -> None:
        """Record one value (``ValueError`` if it is negative or NaN)."""
        fv = _to_float(value)
        if not fv >= 0.0:
            raise ValueError(f"histogram values must be non-negative numbers, got {value!r}")
        iv = self._max_value if fv >= self._max_value else int(fv)
        self._counts[_index(iv)] += 1
        self._count += 1
        self._sum += fv
        if fv < self._min:
            self._min = fv
        if fv > self._max:
            self._max = fv

    def record_many(self, values: npt.ArrayLike) -> None:
        """Record every value of a numpy array or sequence; nothing is recorded on error."""
        arr = _as_array(values)
        if arr.size == 0:
            return
        is_int = arr.dtype == np.int64
        ok = arr >= 0
        if not ok.all():
            bad = arr[~ok][0]
            shown = int(bad) if is_int else float(bad)
            raise ValueError(f"histogram values must be non-negative numbers, got {shown!r}")
        for start in range(0, arr.size, _CHUNK):
            self._record_chunk(arr[start : start + _CHUNK], is_int)

    def _record_chunk(self, arr: npt.NDArray[Any], is_int: bool) -> None:
        floats = arr.astype(np.float64)
        if is_int:
            clamped = np.minimum(arr, self._max_value)
        else:
            clamped = np.minimum(floats, float(self._max_value)).astype(np.int64)
        bits = np.frexp(clamped.astype(np.float64))[1].astype(np.int64)
        k = np.maximum(bits - _SUB_BITS, 0)
        idx = (k << _HALF_BITS) + (clamped >> k)
        self._counts += np.bincount(idx, minlength=self._counts.size)
        # Sequential (not pairwise) summation, the same order as the compiled loop.
        running = np.empty(floats.size + 1, dtype=np.float64)
        running[0] = self._sum
        running[1:] = floats
        self._sum = float(np.add.accumulate(running)[-1])
        self._count += int(arr.size)
        self._min = min(self._min, float(floats.min()))
        self._max = max(self._max, float(floats.max()))

    # ------------------------------------------------------------------------- queries

    @property
    def count(self) -> int:
        """Number of values recorded."""
        return self._count

    @property
    def min(self) -> float:
        """Smallest value recorded (exact), or 0.0 when empty."""
        return self._min if self._count else 0.0

    @property
    def max(self) -> float:
        """Largest value recorded (exact, even above ``max_value``), or 0.0 when empty."""
        return self._max if self._count else 0.0

    @property
    def mean(self) -> float:
        """Mean of the values recorded (exact sum), or 0.0 when empty."""
        return self._sum / self._count if self._count else 0.0

    @property
    def total(self) -> float:
        """Sum of the values recorded."""
        return self._sum

    @property
    def max_value(self) -> int:
        """Largest value with its own bucket; larger ones are counted in the top bucket."""
        return self._max_value

    @property
    def counts(self) -> npt.NDArray[np.int64]:
        """Read-only view of the counters (their number never changes)."""
        view: npt.NDArray[np.int64] = self._counts.view()
        view.flags.writeable = False
        return view

    def _rank(self, q: float) -> int:
        rank = math.ceil(q * self._count / 100.0)
        return 1 if rank < 1 else min(rank, self._count)

    def _value_at(self, rank: int, idx: int) -> float:
        if rank <= 1:
            return self._min
        if rank >= self._count:
            return self._max
        value = _bucket_middle(idx)
        if value < self._min:
            value = self._min
        if value > self._max:
            value = self._max
        return value

    def percentile(self, q: SupportsFloat) -> float:
        """Value at percentile ``q`` (0 <= q <= 100); 0.0 when empty."""
        return self.percentiles([q])[0]

    def percentiles(self, qs: Sequence[SupportsFloat]) -> list[float]:
        """Values at several percentiles, in the order given (one pass over the counters)."""
        fqs = [_check_q(q) for q in qs]
        if not self._count:
            return [0.0 for _ in fqs]
        ranks = [self._rank(q) for q in fqs]
        cumulative = np.cumsum(self._counts)
        positions = np.searchsorted(cumulative, np.array(ranks, dtype=np.int64), side="left")
        return [self._value_at(rank, int(idx)) for rank, idx in zip(ranks, positions, strict=True)]

    # ------------------------------------------------------------------------- combining

    def merge(self, other: Histogram) -> None:
        """Add every value recorded in ``other`` (same ``max_value``) to this histogram."""
        if not isinstance(other, Histogram):
            raise TypeError(f"can only merge a Histogram, not {type(other).__name__}")
        if other._max_value != self._max_value:
            raise ValueError(
                f"cannot merge histograms with different max_value "
                f"({self._max_value} and {other._max_value})"
            )
        if not other._count:
            return
        self._counts += other._counts
        self._count += other._count
        self._sum += other._sum
        if other._min < self._min:
            self._min = other._min
        if other._max > self._max:
            self._max = other._max

    def reset(self) -> None:
        """Forget every value recorded (the counters are kept, zeroed)."""
        self._counts.fill(0)
        self._count = 0
        self._sum = 0.0
        self._min = math.inf
        self._max = -math.inf

    def copy(self) -> Histogram:
        """Return an independent histogram with the same contents."""
        clone = Histogram(self._max_value)
        clone._counts[:] = self._counts
        clone._count = self._count
        clone._sum = self._sum
        clone._min = self._min
        clone._max = self._max
        return clone

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (
            _restore,
            (self._max_value, self._counts.copy(), self._count, self._sum, self._min, self._max),
        )

    def __repr__(self) -> str:
        return (
            f"Histogram(max_value={self._max_value}, count={self._count}, "
            f"min={self.min}, max={self.max}, mean={self.mean})"
        )


def _restore(
    max_value: int, counts: npt.NDArray[np.int64], count: int, total: float, lo: float, hi: float
) -> Histogram:
    """Unpickle a :class:`Histogram`."""
    hist = Histogram(max_value)
    hist._counts[:] = counts
    hist._count = count
    hist._sum = total
    hist._min = lo
    hist._max = hi
    return hist
