# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled fixed-size log-linear histogram (twin of ``scyllabatch._pure.stats``).

Same layout, same arithmetic and same results as the pure-Python twin; see its module
docstring for the bucket layout, the accuracy guarantees and the percentile definition.
"""

import math
import operator

import numpy as np

from libc.math cimport ceil
from libc.stdint cimport int64_t, uint64_t

__all__ = ["DEFAULT_MAX_VALUE", "MAX_MAX_VALUE", "SUB_BUCKET_COUNT", "Histogram"]

cdef extern from *:
    """
    static inline int sb_bit_length(unsigned long long v) {
    #if defined(__GNUC__) || defined(__clang__)
        return v ? 64 - __builtin_clzll(v) : 0;
    #else
        int n = 0;
        while (v) { n++; v >>= 1; }
        return n;
    #endif
    }
    """
    int sb_bit_length(unsigned long long v) nogil

DEFAULT_MAX_VALUE = 3_600_000_000
MAX_MAX_VALUE = 2**53
SUB_BUCKET_COUNT = 4096

cdef enum:
    SUB_COUNT = 4096
    SUB_BITS = 12
    HALF_BITS = 11

cdef double INF = float("inf")


cdef inline Py_ssize_t bucket_index(int64_t v) noexcept nogil:
    cdef int k = sb_bit_length(<unsigned long long>v) - SUB_BITS
    if k < 0:
        k = 0
    return (<Py_ssize_t>k << HALF_BITS) + <Py_ssize_t>(v >> k)


cdef inline double bucket_middle(Py_ssize_t idx) noexcept nogil:
    cdef int k
    cdef int64_t low
    if idx < SUB_COUNT:
        return <double>idx
    k = <int>(idx >> HALF_BITS) - 1
    low = <int64_t>(idx - (<Py_ssize_t>k << HALF_BITS)) << k
    return <double>low + (<double>((<int64_t>1 << k) - 1)) / 2.0


def _as_array(values):
    """Return ``values`` as a contiguous 1-D int64 or float64 array (same rules as the twin)."""
    arr = np.asarray(values)
    kind = arr.dtype.kind
    if kind == "b" or kind == "i" or (kind == "u" and arr.dtype.itemsize < 8):
        arr = arr.astype(np.int64, copy=False)
    elif kind in "fuO":
        arr = arr.astype(np.float64, copy=False)
    else:
        raise TypeError(f"histogram values must be numbers, not an array of {arr.dtype}")
    return np.ascontiguousarray(arr.ravel())


cdef double to_float(object value) except? -1.0:
    if isinstance(value, (str, bytes, bytearray)):
        raise TypeError(f"histogram values must be numbers, not {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:
        return INF


cdef double check_q(object q) except? -1.0:
    cdef double fq = float(q)
    if not (0.0 <= fq <= 100.0):
        raise ValueError(f"percentile must be between 0 and 100, got {q!r}")
    return fq


cdef class Histogram:
    """Fixed-size log-linear histogram of non-negative numbers.

    See :mod:`scyllabatch._pure.stats` for the layout and the guarantees; an empty histogram
    reports 0.0 for every percentile and for ``min``, ``max`` and ``mean``. Not synchronized:
    share one between threads only behind a lock.
    """

    cdef object _array
    cdef int64_t[::1] _counts
    cdef Py_ssize_t _size
    cdef int64_t _max_value
    cdef int64_t _count
    cdef double _sum
    cdef double _min
    cdef double _max

    def __init__(self, max_value=DEFAULT_MAX_VALUE):
        mv = operator.index(max_value)
        if not 1 <= mv <= MAX_MAX_VALUE:
            raise ValueError(f"max_value must be between 1 and 2**53, got {mv}")
        self._max_value = mv
        self._size = bucket_index(self._max_value) + 1
        self._array = np.zeros(self._size, dtype=np.int64)
        self._counts = self._array
        self._count = 0
        self._sum = 0.0
        self._min = INF
        self._max = -INF

    # ------------------------------------------------------------------------- recording

    def record(self, value):
        """Record one value (``ValueError`` if it is negative or NaN)."""
        cdef double fv = to_float(value)
        cdef int64_t iv
        if not fv >= 0.0:
            raise ValueError(f"histogram values must be non-negative numbers, got {value!r}")
        if fv >= <double>self._max_value:
            iv = self._max_value
        else:
            iv = <int64_t>fv
        self._counts[bucket_index(iv)] += 1
        self._count += 1
        self._sum += fv
        if fv < self._min:
            self._min = fv
        if fv > self._max:
            self._max = fv

    def record_many(self, values):
        """Record every value of a numpy array or sequence; nothing is recorded on error."""
        arr = _as_array(values)
        if arr.size == 0:
            return
        if arr.dtype == np.int64:
            self._record_int64(arr)
        else:
            self._record_float64(arr)

    cdef int _record_int64(self, const int64_t[::1] values) except -1:
        cdef Py_ssize_t i, n = values.shape[0]
        cdef int64_t v, top = self._max_value
        cdef int64_t[::1] counts = self._counts
        cdef double fv, total = self._sum, lo = self._min, hi = self._max
        cdef int64_t bad = 0
        cdef bint invalid = False
        # The GIL stays held: a call is atomic for other threads using the same histogram.
        for i in range(n):
            if values[i] < 0:
                bad = values[i]
                invalid = True
                break
        if not invalid:
            for i in range(n):
                v = values[i]
                fv = <double>v
                total += fv
                if fv < lo:
                    lo = fv
                if fv > hi:
                    hi = fv
                if v > top:
                    v = top
                counts[bucket_index(v)] += 1
        if invalid:
            raise ValueError(f"histogram values must be non-negative numbers, got {bad!r}")
        self._sum = total
        self._min = lo
        self._max = hi
        self._count += n
        return 0

    cdef int _record_float64(self, const double[::1] values) except -1:
        cdef Py_ssize_t i, n = values.shape[0]
        cdef int64_t iv, top = self._max_value
        cdef double ftop = <double>self._max_value
        cdef int64_t[::1] counts = self._counts
        cdef double fv, total = self._sum, lo = self._min, hi = self._max
        cdef double bad = 0.0
        cdef bint invalid = False
        for i in range(n):
            if not values[i] >= 0.0:
                bad = values[i]
                invalid = True
                break
        if not invalid:
            for i in range(n):
                fv = values[i]
                total += fv
                if fv < lo:
                    lo = fv
                if fv > hi:
                    hi = fv
                if fv >= ftop:
                    iv = top
                else:
                    iv = <int64_t>fv
                counts[bucket_index(iv)] += 1
        if invalid:
            raise ValueError(f"histogram values must be non-negative numbers, got {bad!r}")
        self._sum = total
        self._min = lo
        self._max = hi
        self._count += n
        return 0

    # ------------------------------------------------------------------------- queries

    @property
    def count(self):
        """Number of values recorded."""
        return self._count

    @property
    def min(self):
        """Smallest value recorded (exact), or 0.0 when empty."""
        return self._min if self._count else 0.0

    @property
    def max(self):
        """Largest value recorded (exact, even above ``max_value``), or 0.0 when empty."""
        return self._max if self._count else 0.0

    @property
    def mean(self):
        """Mean of the values recorded (exact sum), or 0.0 when empty."""
        return self._sum / <double>self._count if self._count else 0.0

    @property
    def total(self):
        """Sum of the values recorded."""
        return self._sum

    @property
    def max_value(self):
        """Largest value with its own bucket; larger ones are counted in the top bucket."""
        return self._max_value

    @property
    def counts(self):
        """Read-only view of the counters (their number never changes)."""
        view = self._array.view()
        view.flags.writeable = False
        return view

    cdef inline int64_t _rank(self, double q) noexcept:
        cdef double r = ceil(q * <double>self._count / 100.0)
        if r < 1.0:
            return 1
        if r >= <double>self._count:
            return self._count
        return <int64_t>r

    cdef inline double _value_at(self, int64_t rank, Py_ssize_t idx) noexcept:
        cdef double value
        if rank <= 1:
            return self._min
        if rank >= self._count:
            return self._max
        value = bucket_middle(idx)
        if value < self._min:
            value = self._min
        if value > self._max:
            value = self._max
        return value

    def percentile(self, q):
        """Value at percentile ``q`` (0 <= q <= 100); 0.0 when empty."""
        cdef double fq = check_q(q)
        cdef int64_t rank, seen = 0
        cdef Py_ssize_t idx
        cdef int64_t[::1] counts = self._counts
        if self._count == 0:
            return 0.0
        rank = self._rank(fq)
        for idx in range(self._size):
            seen += counts[idx]
            if seen >= rank:
                return self._value_at(rank, idx)
        return self._max  # not reached: the counters add up to count

    def percentiles(self, qs):
        """Values at several percentiles, in the order given (one pass over the counters)."""
        fqs = [check_q(q) for q in qs]
        cdef Py_ssize_t m = len(fqs), j, idx = 0
        cdef int64_t seen = 0
        cdef int64_t[::1] counts = self._counts
        if self._count == 0:
            return [0.0] * m
        ranks = sorted((self._rank(fqs[j]), j) for j in range(m))
        out = [0.0] * m
        cdef int64_t rank
        for rank, j in ranks:
            while seen < rank and idx < self._size:
                seen += counts[idx]
                idx += 1
            out[j] = self._value_at(rank, idx - 1)
        return out

    # ------------------------------------------------------------------------- combining

    def merge(self, Histogram other not None):
        """Add every value recorded in ``other`` (same ``max_value``) to this histogram."""
        cdef Py_ssize_t i
        cdef int64_t[::1] mine = self._counts
        cdef int64_t[::1] theirs = other._counts
        if other._max_value != self._max_value:
            raise ValueError(
                f"cannot merge histograms with different max_value "
                f"({self._max_value} and {other._max_value})"
            )
        if other._count == 0:
            return
        for i in range(self._size):
            mine[i] += theirs[i]
        self._count += other._count
        self._sum += other._sum
        if other._min < self._min:
            self._min = other._min
        if other._max > self._max:
            self._max = other._max

    def reset(self):
        """Forget every value recorded (the counters are kept, zeroed)."""
        self._array.fill(0)
        self._count = 0
        self._sum = 0.0
        self._min = INF
        self._max = -INF

    def copy(self):
        """Return an independent histogram with the same contents."""
        cdef Histogram clone = Histogram(self._max_value)
        clone._array[:] = self._array
        clone._count = self._count
        clone._sum = self._sum
        clone._min = self._min
        clone._max = self._max
        return clone

    def __reduce__(self):
        return (
            _restore,
            (self._max_value, self._array.copy(), self._count, self._sum, self._min, self._max),
        )

    def __repr__(self):
        return (
            f"Histogram(max_value={self._max_value}, count={self._count}, "
            f"min={self.min}, max={self.max}, mean={self.mean})"
        )


def _restore(max_value, counts, count, total, lo, hi):
    """Unpickle a :class:`Histogram`."""
    cdef Histogram hist = Histogram(max_value)
    hist._array[:] = counts
    hist._count = count
    hist._sum = total
    hist._min = lo
    hist._max = hi
    return hist
