# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled MessagePack codec for stored values (twin of ``scyllabatch._pure.codec``).

Output is byte-identical to the pure-Python twin and to
``msgpack.packb(value, use_bin_type=True, datetime=True)``; errors are the same classes with the
same messages. Only the public CPython C API is used (no private struct layouts), so the module
builds unchanged on CPython 3.10 to 3.13.
"""

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.datetime cimport (
    PyDateTime_Check,
    datetime_day,
    datetime_hour,
    datetime_microsecond,
    datetime_minute,
    datetime_month,
    datetime_new,
    datetime_second,
    datetime_tzinfo,
    datetime_year,
    get_utc,
    import_datetime,
    timedelta_days,
    timedelta_microseconds,
    timedelta_seconds,
)
from cpython.dict cimport PyDict_New, PyDict_Next, PyDict_SetItem
from cpython.exc cimport PyErr_Clear, PyErr_ExceptionMatches
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_AsDouble, PyFloat_FromDouble
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE, PyList_New
from cpython.long cimport PyLong_FromLong, PyLong_FromLongLong, PyLong_FromUnsignedLongLong
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

import datetime as _dt

from scyllabatch._codec_errors import NOT_SERIALIZABLE, CodecError, DecodeError, EncodeError

cdef extern from "Python.h":
    # Declared here with raw pointers so that references are stolen / returned exactly as the
    # C API documents (Cython's own declarations take ``object`` and add reference counting).
    void PyList_SET_ITEM_steal "PyList_SET_ITEM" (object lst, Py_ssize_t i, PyObject* item)
    void PyUnicode_InternInPlace(PyObject** p)
    long long PyLong_AsLongLongAndOverflow(object o, int* overflow) except? -1
    unsigned long long PyLong_AsUnsignedLongLong(object o) except? -1
    object PyNumber_Index(object o)
    const char* PyUnicode_AsUTF8AndSize_raw "PyUnicode_AsUTF8AndSize" (
        object o, Py_ssize_t* size
    )
    PyObject* PyUnicode_DecodeUTF8_raw "PyUnicode_DecodeUTF8" (
        const char* s, Py_ssize_t size, const char* errors
    )

cdef extern from *:
    """
    #include <string.h>
    #include <stdint.h>
    /* Equality of two short byte strings without calling memcmp: whole 8-byte words, the
       last one overlapping; never reads outside [p, p + n). */
    static inline int sb_short_eq(const unsigned char* a, const unsigned char* b, Py_ssize_t n) {
        uint64_t x, y;
        uint32_t u, v;
        Py_ssize_t i;
        if (n >= 8) {
            for (i = 0; i + 8 < n; i += 8) {
                memcpy(&x, a + i, 8); memcpy(&y, b + i, 8);
                if (x != y) return 0;
            }
            memcpy(&x, a + n - 8, 8); memcpy(&y, b + n - 8, 8);
            return x == y;
        }
        if (n >= 4) {
            memcpy(&u, a, 4); memcpy(&v, b, 4);
            if (u != v) return 0;
            memcpy(&u, a + n - 4, 4); memcpy(&v, b + n - 4, 4);
            return u == v;
        }
        for (i = 0; i < n; i++) if (a[i] != b[i]) return 0;
        return 1;
    }
    static inline uint64_t sb_short_hash(const unsigned char* p, Py_ssize_t n) {
        uint64_t a = 0, b = 0, h;
        uint32_t u = 0, v = 0;
        if (n >= 8) {
            memcpy(&a, p, 8); memcpy(&b, p + n - 8, 8);
        } else if (n >= 4) {
            memcpy(&u, p, 4); memcpy(&v, p + n - 4, 4);
            a = u; b = v;
        } else if (n > 0) {
            a = ((uint64_t)p[0] << 16) | ((uint64_t)p[n >> 1] << 8) | p[n - 1];
        }
        h = (a ^ (b * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)n) * 0xFF51AFD7ED558CCDULL;
        return h ^ (h >> 29);
    }
    """
    bint sb_short_eq(const unsigned char* a, const unsigned char* b, Py_ssize_t n) noexcept
    uint64_t sb_short_hash(const unsigned char* p, Py_ssize_t n) noexcept

import_datetime()

__all__ = [
    "MAX_DEPTH",
    "CodecError",
    "DecodeError",
    "EncodeError",
    "decode",
    "decode_batch",
    "encode",
    "encode_batch",
]

cdef enum:
    C_MAX_DEPTH = 256
    STACK_BUF = 1024
    KEY_CACHE_MAX_LEN = 32
    KEY_CACHE_SLOTS = 1024
    VALUE_CACHE_MAX_LEN = 16
    VALUE_CACHE_SLOTS = 1024

#: Maximum number of nested containers (lists, tuples, dicts) in one value, when encoding and
#: when decoding. A self-referencing value hits it and raises :class:`EncodeError`.
MAX_DEPTH = C_MAX_DEPTH

cdef object _UTC = get_utc()
cdef object _datetime_utcoffset = _dt.datetime.utcoffset
cdef object _datetime_type = _dt.datetime

# First and last second representable by ``datetime`` (years 1 to 9999), as Unix seconds.
cdef int64_t MIN_SECONDS = -62135596800
cdef int64_t MAX_SECONDS = 253402300799

# What a value may be made of (``bool`` is an ``int``); a default hook must return one of these.
NATIVE_TYPES = (str, int, float, dict, list, tuple, bytes, bytearray, _dt.datetime)
cdef tuple _NATIVE_TYPES = NATIVE_TYPES

cdef str _DEPTH_REASON = f"nesting deeper than {C_MAX_DEPTH} levels (a self-referencing value?)"
cdef str _NAIVE_REASON = (
    "naive datetime is not serializable (give it a tzinfo, e.g. timezone.utc)"
)


cdef str _short_repr(object obj):
    cdef str text = repr(obj)
    return text if len(text) <= 60 else text[:57] + "..."


# ------------------------------------------------------------------------------------ encoding

cdef struct Enc:
    char* data
    Py_ssize_t length
    Py_ssize_t capacity
    bint on_heap
    # Path of the value being packed, one entry per enclosing container: the dict key
    # (borrowed: the packing frame holds a reference) or NULL and the list index.
    PyObject* keys[C_MAX_DEPTH]
    Py_ssize_t indices[C_MAX_DEPTH]
    # The caller's ``default`` hook (borrowed: the encode call holds a reference), or NULL.
    PyObject* hook


cdef int enc_grow(Enc* e, Py_ssize_t extra) except -1:
    cdef Py_ssize_t needed = e.length + extra
    cdef Py_ssize_t capacity = e.capacity * 2
    cdef char* data
    if capacity < needed:
        capacity = needed
    if e.on_heap:
        data = <char*>PyMem_Realloc(e.data, capacity)
        if data == NULL:
            raise MemoryError()
    else:
        data = <char*>PyMem_Malloc(capacity)
        if data == NULL:
            raise MemoryError()
        memcpy(data, e.data, e.length)
        e.on_heap = True
    e.data = data
    e.capacity = capacity
    return 0


cdef inline int reserve(Enc* e, Py_ssize_t extra) except -1:
    if e.capacity - e.length < extra:
        return enc_grow(e, extra)
    return 0


cdef inline void put8(Enc* e, uint8_t b) noexcept:
    e.data[e.length] = <char>b
    e.length += 1


cdef inline void put16(Enc* e, uint8_t b, uint16_t v) noexcept:
    cdef unsigned char* p = <unsigned char*>e.data + e.length
    p[0] = b
    p[1] = <unsigned char>(v >> 8)
    p[2] = <unsigned char>v
    e.length += 3


cdef inline void put32(Enc* e, uint8_t b, uint32_t v) noexcept:
    cdef unsigned char* p = <unsigned char*>e.data + e.length
    p[0] = b
    p[1] = <unsigned char>(v >> 24)
    p[2] = <unsigned char>(v >> 16)
    p[3] = <unsigned char>(v >> 8)
    p[4] = <unsigned char>v
    e.length += 5


cdef inline void put64(Enc* e, uint8_t b, uint64_t v) noexcept:
    cdef unsigned char* p = <unsigned char*>e.data + e.length
    p[0] = b
    p[1] = <unsigned char>(v >> 56)
    p[2] = <unsigned char>(v >> 48)
    p[3] = <unsigned char>(v >> 40)
    p[4] = <unsigned char>(v >> 32)
    p[5] = <unsigned char>(v >> 24)
    p[6] = <unsigned char>(v >> 16)
    p[7] = <unsigned char>(v >> 8)
    p[8] = <unsigned char>v
    e.length += 9


cdef str build_path(Enc* e, int depth):
    parts = ["value"]
    cdef int level
    for level in range(depth):
        if e.keys[level] != NULL:
            parts.append(f"[{(<object>e.keys[level])!r}]")
        else:
            parts.append(f"[{e.indices[level]}]")
    return "".join(parts)


cdef int fail(Enc* e, int depth, str reason) except -1:
    raise EncodeError(reason, build_path(e, depth))


cdef inline int pack_int(Enc* e, object o, int depth) except -1:
    cdef int overflow = 0
    cdef long long v = PyLong_AsLongLongAndOverflow(o, &overflow)
    cdef unsigned long long u
    if overflow == 0:
        reserve(e, 9)
        if v >= 0:
            if v < 0x80:
                put8(e, <uint8_t>v)
            elif v <= 0xFF:
                e.data[e.length] = <char>0xCC
                e.data[e.length + 1] = <char>v
                e.length += 2
            elif v <= 0xFFFF:
                put16(e, 0xCD, <uint16_t>v)
            elif v <= 0xFFFFFFFF:
                put32(e, 0xCE, <uint32_t>v)
            else:
                put64(e, 0xCF, <uint64_t>v)
        elif v >= -0x20:
            put8(e, <uint8_t>(<int8_t>v))
        elif v >= -0x80:
            e.data[e.length] = <char>0xD0
            e.data[e.length + 1] = <char>(<int8_t>v)
            e.length += 2
        elif v >= -0x8000:
            put16(e, 0xD1, <uint16_t>(<int16_t>v))
        elif v >= -0x80000000:
            put32(e, 0xD2, <uint32_t>(<int32_t>v))
        else:
            put64(e, 0xD3, <uint64_t>v)
        return 0
    if overflow > 0:
        try:
            u = PyLong_AsUnsignedLongLong(o)
        except OverflowError:
            pass
        else:
            reserve(e, 9)
            put64(e, 0xCF, u)
            return 0
    return fail(e, depth, "int is out of the 64-bit range")


cdef inline int pack_raw_header(Enc* e, Py_ssize_t n, int depth) except -1:
    if n < 32:
        put8(e, 0xA0 | <uint8_t>n)
    elif n <= 0xFF:
        e.data[e.length] = <char>0xD9
        e.data[e.length + 1] = <char>n
        e.length += 2
    elif n <= 0xFFFF:
        put16(e, 0xDA, <uint16_t>n)
    elif <uint64_t>n <= 0xFFFFFFFFULL:
        put32(e, 0xDB, <uint32_t>n)
    else:
        return fail(e, depth, "str is too large (4 GiB or more)")
    return 0


cdef int str_fail(Enc* e, int depth) except -1:
    # PyUnicode_AsUTF8AndSize failed: a lone surrogate becomes an EncodeError, anything else
    # (MemoryError) propagates as it is.
    if PyErr_ExceptionMatches(UnicodeEncodeError):
        PyErr_Clear()
        return fail(e, depth, "str cannot be encoded as UTF-8 (lone surrogate)")
    return -1


cdef inline void store32(unsigned char* p, uint32_t v) noexcept:
    p[0] = <unsigned char>(v >> 24)
    p[1] = <unsigned char>(v >> 16)
    p[2] = <unsigned char>(v >> 8)
    p[3] = <unsigned char>v


cdef inline int pack_str(Enc* e, object o, int depth) except -1:
    cdef Py_ssize_t n
    cdef const char* s = PyUnicode_AsUTF8AndSize_raw(o, &n)
    if s == NULL:
        return str_fail(e, depth)
    reserve(e, n + 5)
    pack_raw_header(e, n, depth)
    memcpy(e.data + e.length, s, n)
    e.length += n
    return 0


cdef int pack_bin(Enc* e, const char* s, Py_ssize_t n, int depth) except -1:
    reserve(e, n + 5)
    if n <= 0xFF:
        e.data[e.length] = <char>0xC4
        e.data[e.length + 1] = <char>n
        e.length += 2
    elif n <= 0xFFFF:
        put16(e, 0xC5, <uint16_t>n)
    elif <uint64_t>n <= 0xFFFFFFFFULL:
        put32(e, 0xC6, <uint32_t>n)
    else:
        return fail(e, depth, "bytes is too large (4 GiB or more)")
    memcpy(e.data + e.length, s, n)
    e.length += n
    return 0


cdef inline int pack_double(Enc* e, double d) except -1:
    cdef uint64_t bits
    reserve(e, 9)
    memcpy(&bits, &d, 8)
    put64(e, 0xCB, bits)
    return 0


cdef inline int64_t days_from_civil(int64_t y, int64_t m, int64_t d) noexcept:
    # Howard Hinnant's algorithm; exact for the proleptic Gregorian calendar.
    y -= m <= 2
    cdef int64_t era = (y if y >= 0 else y - 399) // 400
    cdef int64_t yoe = y - era * 400
    cdef int64_t doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    cdef int64_t doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef int pack_datetime(Enc* e, object o, int depth) except -1:
    cdef int64_t offset_us = 0
    cdef int64_t total_us, seconds, micros
    cdef uint64_t data64
    tz = datetime_tzinfo(o)
    if tz is None:
        return fail(e, depth, _NAIVE_REASON)
    if tz is not _UTC:
        offset = _datetime_utcoffset(o)
        if offset is None:
            return fail(e, depth, _NAIVE_REASON)
        offset_us = (
            (<int64_t>timedelta_days(offset) * 86400 + timedelta_seconds(offset)) * 1000000
            + timedelta_microseconds(offset)
        )
    total_us = (
        (
            days_from_civil(datetime_year(o), datetime_month(o), datetime_day(o)) * 86400
            + datetime_hour(o) * 3600
            + datetime_minute(o) * 60
            + datetime_second(o)
        ) * 1000000
        + datetime_microsecond(o)
        - offset_us
    )
    seconds = total_us // 1000000
    micros = total_us % 1000000
    if micros < 0:
        micros += 1000000
        seconds -= 1
    # The smallest of the three forms, exactly like msgpack: timestamp 32 (fixext 4) when the
    # seconds fit 32 bits without nanoseconds, timestamp 64 (fixext 8) when they fit 34 bits,
    # else timestamp 96 (ext 8 of length 12). The ext type is -1 (0xff).
    reserve(e, 15)
    cdef unsigned char* p = <unsigned char*>e.data + e.length
    if seconds >= 0 and (seconds >> 34) == 0:
        data64 = (<uint64_t>(micros * 1000) << 34) | <uint64_t>seconds
        if (data64 & 0xFFFFFFFF00000000ULL) == 0:
            p[0] = 0xD6
            p[1] = 0xFF
            store32(p + 2, <uint32_t>data64)
            e.length += 6
        else:
            p[0] = 0xD7
            p[1] = 0xFF
            store32(p + 2, <uint32_t>(data64 >> 32))
            store32(p + 6, <uint32_t>data64)
            e.length += 10
    else:
        p[0] = 0xC7
        p[1] = 12
        p[2] = 0xFF
        store32(p + 3, <uint32_t>(micros * 1000))
        store32(p + 7, <uint32_t>(<uint64_t>seconds >> 32))
        store32(p + 11, <uint32_t>(<uint64_t>seconds))
        e.length += 15
    return 0


cdef int pack_array_header(Enc* e, Py_ssize_t n, int depth) except -1:
    reserve(e, 5)
    if n < 16:
        put8(e, 0x90 | <uint8_t>n)
    elif n <= 0xFFFF:
        put16(e, 0xDC, <uint16_t>n)
    elif <uint64_t>n <= 0xFFFFFFFFULL:
        put32(e, 0xDD, <uint32_t>n)
    else:
        return fail(e, depth, "list is too large (2**32 items or more)")
    return 0


cdef int pack_map_header(Enc* e, Py_ssize_t n, int depth) except -1:
    reserve(e, 5)
    if n < 16:
        put8(e, 0x80 | <uint8_t>n)
    elif n <= 0xFFFF:
        put16(e, 0xDE, <uint16_t>n)
    elif <uint64_t>n <= 0xFFFFFFFFULL:
        put32(e, 0xDF, <uint32_t>n)
    else:
        return fail(e, depth, "dict is too large (2**32 items or more)")
    return 0


cdef int pack_list(Enc* e, list o, int depth) except -1:
    cdef Py_ssize_t i, n = PyList_GET_SIZE(o)
    if depth >= C_MAX_DEPTH:
        return fail(e, depth, _DEPTH_REASON)
    pack_array_header(e, n, depth)
    e.keys[depth] = NULL
    i = 0
    # The list may shrink while user code runs (a custom tzinfo): re-check the size each time.
    while i < PyList_GET_SIZE(o):
        e.indices[depth] = i
        item = <object>PyList_GET_ITEM(o, i)
        pack(e, item, depth + 1)
        i += 1
    if i != n:
        raise RuntimeError("list changed size during iteration")
    return 0


cdef int pack_tuple(Enc* e, tuple o, int depth) except -1:
    cdef Py_ssize_t i, n = PyTuple_GET_SIZE(o)
    if depth >= C_MAX_DEPTH:
        return fail(e, depth, _DEPTH_REASON)
    pack_array_header(e, n, depth)
    e.keys[depth] = NULL
    for i in range(n):
        e.indices[depth] = i
        pack(e, <object>PyTuple_GET_ITEM(o, i), depth + 1)
    return 0


cdef inline int pack_key(Enc* e, object key, int depth) except -1:
    if type(key) is not str and not isinstance(key, str):
        return fail(
            e, depth, f"dict key {_short_repr(key)} is not a str ({type(key).__name__})"
        )
    return pack_str(e, key, depth)


cdef int pack_dict(Enc* e, dict o, int depth) except -1:
    cdef Py_ssize_t pos = 0, n = len(o), done = 0
    cdef PyObject* k
    cdef PyObject* v
    if depth >= C_MAX_DEPTH:
        return fail(e, depth, _DEPTH_REASON)
    pack_map_header(e, n, depth)
    while PyDict_Next(o, &pos, &k, &v):
        key = <object>k
        item = <object>v
        pack_key(e, key, depth)
        e.keys[depth] = k
        pack(e, item, depth + 1)
        done += 1
    if done != n:
        raise RuntimeError("dictionary changed size during iteration")
    return 0


cdef int pack_pairs(Enc* e, list pairs, int depth) except -1:
    # Dict subclasses: whatever their ``items()`` yields, like msgpack.
    if depth >= C_MAX_DEPTH:
        return fail(e, depth, _DEPTH_REASON)
    pack_map_header(e, len(pairs), depth)
    for key, item in pairs:
        pack_key(e, key, depth)
        e.keys[depth] = <PyObject*>key
        pack(e, item, depth + 1)
    return 0


cdef int pack(Enc* e, object o, int depth) except -1:
    cdef type t = type(o)
    if t is str:
        return pack_str(e, o, depth)
    if t is int:
        return pack_int(e, o, depth)
    if t is float:
        return pack_double(e, PyFloat_AS_DOUBLE(o))
    if o is None:
        reserve(e, 1)
        put8(e, 0xC0)
        return 0
    if o is True:
        reserve(e, 1)
        put8(e, 0xC3)
        return 0
    if o is False:
        reserve(e, 1)
        put8(e, 0xC2)
        return 0
    if t is dict:
        return pack_dict(e, <dict>o, depth)
    if t is list:
        return pack_list(e, <list>o, depth)
    if t is tuple:
        return pack_tuple(e, <tuple>o, depth)
    if t is bytes:
        return pack_bin(e, PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o), depth)
    if t is _datetime_type:
        return pack_datetime(e, o, depth)
    if t is bytearray:
        return pack_bin(e, PyByteArray_AS_STRING(o), PyByteArray_GET_SIZE(o), depth)
    # Subclasses (IntEnum, str enums, OrderedDict, ...), in msgpack's order.
    if isinstance(o, int):
        return pack_int(e, PyNumber_Index(o), depth)
    if isinstance(o, bytes):
        return pack_bin(e, PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o), depth)
    if isinstance(o, bytearray):
        return pack_bin(e, PyByteArray_AS_STRING(o), PyByteArray_GET_SIZE(o), depth)
    if isinstance(o, str):
        return pack_str(e, o, depth)
    if isinstance(o, float):
        return pack_double(e, PyFloat_AsDouble(o))
    if isinstance(o, (list, tuple)):
        return pack_tuple(e, tuple(o), depth)
    if isinstance(o, dict):
        return pack_pairs(e, list(o.items()), depth)
    if PyDateTime_Check(o):
        return pack_datetime(e, o, depth)
    if e.hook != NULL:
        return pack(e, replacement(e, o, depth), depth)
    return fail(e, depth, f"{t.__name__} {NOT_SERIALIZABLE}")


cdef object replacement(Enc* e, object o, int depth):
    # What the hook turns an unsupported ``o`` into; it must be something ``pack`` packs. The
    # replacement's own items may go through the hook again (a dataclass becomes a dict holding
    # a UUID), but the replacement itself may not: a hook returning its argument would recurse.
    cdef str name = type(o).__name__
    try:
        result = (<object>e.hook)(o)
    except Exception as exc:
        raise EncodeError(
            f"{name} {NOT_SERIALIZABLE}: the default hook raised {type(exc).__name__}: {exc}",
            build_path(e, depth),
        ) from exc
    if result is not None and not isinstance(result, _NATIVE_TYPES):
        fail(
            e,
            depth,
            f"{name} {NOT_SERIALIZABLE}: the default hook returned a value of type "
            f"{type(result).__name__}, which is not serializable either",
        )
    return result


cdef int check_hook(object default) except -1:
    if default is not None and not callable(default):
        raise TypeError(f"default must be callable or None, got {type(default).__name__}")
    return 0


cdef inline void enc_init(Enc* e, char* stack_buffer, object default) noexcept:
    e.data = stack_buffer
    e.length = 0
    e.capacity = STACK_BUF
    e.on_heap = False
    e.hook = NULL if default is None else <PyObject*>default


cdef inline void enc_free(Enc* e) noexcept:
    if e.on_heap:
        PyMem_Free(e.data)
        e.on_heap = False


def encode(value, default=None):
    """Encode one value to MessagePack bytes; raise :class:`EncodeError` naming the path.

    ``default`` (as msgpack's) is called with each object of a type the codec does not know
    and returns what to encode instead (a str, dict, list, ...).
    """
    cdef Enc e
    cdef char stack_buffer[STACK_BUF]
    check_hook(default)
    enc_init(&e, stack_buffer, default)
    try:
        pack(&e, value, 0)
        return PyBytes_FromStringAndSize(e.data, e.length)
    finally:
        enc_free(&e)


def encode_batch(values, default=None):
    """Encode many values; return the encoded bytes and each one's size in bytes.

    An unserializable value raises :class:`EncodeError` with ``index`` set to its position.
    ``default`` is the hook of :func:`encode`.
    """
    cdef Enc e
    cdef char stack_buffer[STACK_BUF]
    cdef Py_ssize_t i = 0, n
    check_hook(default)
    # A tuple cannot change while user code (a custom tzinfo) runs during the loop.
    if type(values) is not tuple:
        values = tuple(values)
    n = len(values)
    encoded = PyList_New(n)
    sizes = PyList_New(n)
    enc_init(&e, stack_buffer, default)
    try:
        for i in range(n):
            e.length = 0
            pack(&e, <object>PyTuple_GET_ITEM(values, i), 0)
            data = PyBytes_FromStringAndSize(e.data, e.length)
            Py_INCREF(data)
            PyList_SET_ITEM_steal(encoded, i, <PyObject*>data)
            size = PyLong_FromLongLong(e.length)
            Py_INCREF(size)
            PyList_SET_ITEM_steal(sizes, i, <PyObject*>size)
    except EncodeError as exc:
        raise exc.with_index(i) from exc.__cause__
    finally:
        enc_free(&e)
    return encoded, sizes


# ------------------------------------------------------------------------------------ decoding

cdef struct KeySlot:
    PyObject* value  # strong reference to an interned str, or NULL
    Py_ssize_t length
    char data[KEY_CACHE_MAX_LEN]

cdef KeySlot _key_cache[KEY_CACHE_SLOTS]
cdef KeySlot _value_cache[VALUE_CACHE_SLOTS]


cdef struct Dec:
    const unsigned char* buf
    Py_ssize_t pos
    Py_ssize_t end


cdef inline uint16_t be16(const unsigned char* p) noexcept:
    return (<uint16_t>p[0] << 8) | p[1]


cdef inline uint32_t be32(const unsigned char* p) noexcept:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline uint64_t be64(const unsigned char* p) noexcept:
    return (<uint64_t>be32(p) << 32) | be32(p + 4)


cdef object truncated(Py_ssize_t start):
    raise DecodeError(f"truncated input: value at offset {start}")


cdef object utf8_error(Py_ssize_t start):
    if PyErr_ExceptionMatches(UnicodeDecodeError):
        PyErr_Clear()
        raise DecodeError(f"invalid UTF-8 in str at offset {start}")
    # Anything else (MemoryError) is already set: re-raise it as it is.
    raise


cdef inline object steal(PyObject* p):
    result = <object>p
    Py_XDECREF(p)
    return result


cdef inline object decode_str(Dec* d, Py_ssize_t start, Py_ssize_t n):
    if n > d.end - d.pos:
        return truncated(start)
    cdef PyObject* s = PyUnicode_DecodeUTF8_raw(<const char*>d.buf + d.pos, n, NULL)
    if s == NULL:
        return utf8_error(start)
    d.pos += n
    return steal(s)


cdef object decode_key(Dec* d):
    cdef Py_ssize_t start = d.pos, n
    cdef const unsigned char* p
    cdef KeySlot* slot
    cdef PyObject* s
    if start >= d.end:
        return truncated(start)
    cdef unsigned char b = d.buf[start]
    d.pos = start + 1
    if 0xA0 <= b <= 0xBF:
        n = b & 0x1F
    elif b == 0xD9:
        if d.end - d.pos < 1:
            return truncated(start)
        n = d.buf[d.pos]
        d.pos += 1
    elif b == 0xDA:
        if d.end - d.pos < 2:
            return truncated(start)
        n = be16(d.buf + d.pos)
        d.pos += 2
    elif b == 0xDB:
        if d.end - d.pos < 4:
            return truncated(start)
        n = be32(d.buf + d.pos)
        d.pos += 4
    else:
        raise DecodeError(f"map key at offset {start} is not a str (type byte 0x{b:02x})")
    if n > KEY_CACHE_MAX_LEN:
        return decode_str(d, start, n)
    return cached_str(d, start, n, _key_cache, KEY_CACHE_SLOTS - 1, True)


cdef inline object cached_str(
    Dec* d, Py_ssize_t start, Py_ssize_t n, KeySlot* table, Py_ssize_t mask, bint intern
):
    # Short strings repeat (map keys above all): look the bytes up in a small direct-mapped
    # cache of str objects before decoding; strs are immutable, so sharing them is safe.
    cdef const unsigned char* p
    cdef KeySlot* slot
    cdef PyObject* s
    if n > d.end - d.pos:
        return truncated(start)
    p = d.buf + d.pos
    slot = &table[sb_short_hash(p, n) & mask]
    if slot.value != NULL and slot.length == n and sb_short_eq(<unsigned char*>slot.data, p, n):
        d.pos += n
        return <object>slot.value
    s = PyUnicode_DecodeUTF8_raw(<const char*>p, n, NULL)
    if s == NULL:
        return utf8_error(start)
    d.pos += n
    if intern:
        PyUnicode_InternInPlace(&s)  # consumes our reference, gives one to the interned str
    Py_XDECREF(slot.value)
    slot.value = s  # the cache keeps this reference
    slot.length = n
    memcpy(slot.data, p, n)
    return <object>s


cdef inline int64_t floordiv(int64_t a, int64_t b) noexcept:
    cdef int64_t q = a // b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q


cdef object decode_timestamp(Dec* d, Py_ssize_t start, Py_ssize_t n):
    cdef const unsigned char* p = d.buf + d.pos
    cdef int64_t seconds, days, secs_of_day, z, era, doe, yoe, y, doy, mp, day, month
    cdef uint64_t data64
    cdef uint32_t nanoseconds
    if n == 4:
        seconds = be32(p)
        nanoseconds = 0
    elif n == 8:
        data64 = be64(p)
        seconds = <int64_t>(data64 & 0x00000003FFFFFFFFULL)
        nanoseconds = <uint32_t>(data64 >> 34)
    elif n == 12:
        nanoseconds = be32(p)
        seconds = <int64_t>be64(p + 4)
    else:
        raise DecodeError(f"invalid timestamp length {n} at offset {start}")
    if nanoseconds > 999999999:
        raise DecodeError(f"invalid timestamp nanoseconds at offset {start}")
    if seconds < MIN_SECONDS or seconds > MAX_SECONDS:
        raise DecodeError(f"timestamp out of datetime range at offset {start}")
    d.pos += n
    days = floordiv(seconds, 86400)
    secs_of_day = seconds - days * 86400
    # Howard Hinnant's civil_from_days (days are >= -719162 here, so z > 0).
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    if month <= 2:
        y += 1
    return datetime_new(
        <int>y, <int>month, <int>day,
        <int>(secs_of_day // 3600), <int>((secs_of_day // 60) % 60), <int>(secs_of_day % 60),
        <int>(nanoseconds // 1000), _UTC,
    )


# Bytes that follow the type byte before the payload (ext: length bytes and the code byte);
# 0 marks bytes handled before the lookup or invalid (0xc1).
cdef Py_ssize_t _FIXED_SIZES[256]


cdef void _init_sizes() noexcept:
    cdef int i
    for i in range(256):
        _FIXED_SIZES[i] = 0
    for i, size in (
        (0xCA, 4), (0xCB, 8), (0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8),
        (0xD0, 1), (0xD1, 2), (0xD2, 4), (0xD3, 8),
        (0xD9, 1), (0xDA, 2), (0xDB, 4), (0xC4, 1), (0xC5, 2), (0xC6, 4),
        (0xDC, 2), (0xDD, 4), (0xDE, 2), (0xDF, 4),
        (0xD4, 1), (0xD5, 1), (0xD6, 1), (0xD7, 1), (0xD8, 1), (0xC7, 2), (0xC8, 3), (0xC9, 5),
    ):
        _FIXED_SIZES[i] = size


_init_sizes()


cdef object unpack_array(Dec* d, Py_ssize_t start, Py_ssize_t n, int depth):
    cdef Py_ssize_t i
    if depth >= C_MAX_DEPTH:
        raise DecodeError(f"nesting deeper than {C_MAX_DEPTH} levels at offset {start}")
    if n > d.end - d.pos:
        raise DecodeError(f"array length {n} at offset {start} exceeds the remaining input")
    result = PyList_New(n)
    for i in range(n):
        item = unpack(d, depth + 1)
        Py_INCREF(item)
        PyList_SET_ITEM_steal(result, i, <PyObject*>item)
    return result


cdef object unpack_map(Dec* d, Py_ssize_t start, Py_ssize_t n, int depth):
    cdef Py_ssize_t i
    if depth >= C_MAX_DEPTH:
        raise DecodeError(f"nesting deeper than {C_MAX_DEPTH} levels at offset {start}")
    if n > (d.end - d.pos) // 2:
        raise DecodeError(f"map length {n} at offset {start} exceeds the remaining input")
    result = PyDict_New()
    for i in range(n):
        key = decode_key(d)
        PyDict_SetItem(result, key, unpack(d, depth + 1))
    return result


cdef object unpack(Dec* d, int depth):
    cdef Py_ssize_t start = d.pos, n, size
    cdef const unsigned char* p
    cdef uint64_t bits
    cdef double dv
    cdef float fv
    cdef uint32_t bits32
    cdef int8_t code
    if start >= d.end:
        return truncated(start)
    cdef unsigned char b = d.buf[start]
    d.pos = start + 1
    if b <= 0x7F:
        return PyLong_FromLong(b)
    if 0xA0 <= b <= 0xBF:
        n = b & 0x1F
        if n <= VALUE_CACHE_MAX_LEN:
            return cached_str(d, start, n, _value_cache, VALUE_CACHE_SLOTS - 1, False)
        return decode_str(d, start, n)
    if 0x80 <= b <= 0x8F:
        return unpack_map(d, start, b & 0x0F, depth)
    if 0x90 <= b <= 0x9F:
        return unpack_array(d, start, b & 0x0F, depth)
    if b >= 0xE0:
        return PyLong_FromLong(<long>b - 0x100)
    if b == 0xC0:
        return None
    if b == 0xC2:
        return False
    if b == 0xC3:
        return True
    size = _FIXED_SIZES[b]
    if size == 0:
        raise DecodeError(f"invalid type byte 0x{b:02x} at offset {start}")
    if d.end - d.pos < size:
        return truncated(start)
    p = d.buf + d.pos
    d.pos += size
    if b == 0xCB:
        bits = be64(p)
        memcpy(&dv, &bits, 8)
        return PyFloat_FromDouble(dv)
    if b == 0xCC:
        return PyLong_FromLong(p[0])
    if b == 0xCD:
        return PyLong_FromLong(be16(p))
    if b == 0xCE:
        return PyLong_FromLongLong(be32(p))
    if b == 0xCF:
        return PyLong_FromUnsignedLongLong(be64(p))
    if b == 0xD0:
        return PyLong_FromLong(<int8_t>p[0])
    if b == 0xD1:
        return PyLong_FromLong(<int16_t>be16(p))
    if b == 0xD2:
        return PyLong_FromLong(<int32_t>be32(p))
    if b == 0xD3:
        return PyLong_FromLongLong(<int64_t>be64(p))
    if b == 0xCA:
        bits32 = be32(p)
        memcpy(&fv, &bits32, 4)
        return PyFloat_FromDouble(fv)
    if b == 0xD9:
        return decode_str(d, start, p[0])
    if b == 0xDA:
        return decode_str(d, start, be16(p))
    if b == 0xDB:
        return decode_str(d, start, be32(p))
    if b == 0xC4 or b == 0xC5 or b == 0xC6:
        n = p[0] if b == 0xC4 else (be16(p) if b == 0xC5 else be32(p))
        if n > d.end - d.pos:
            return truncated(start)
        d.pos += n
        return PyBytes_FromStringAndSize(<const char*>p + size, n)
    if b == 0xDC:
        return unpack_array(d, start, be16(p), depth)
    if b == 0xDD:
        return unpack_array(d, start, be32(p), depth)
    if b == 0xDE:
        return unpack_map(d, start, be16(p), depth)
    if b == 0xDF:
        return unpack_map(d, start, be32(p), depth)
    # Extension types: fixext 1/2/4/8/16 (0xd4..0xd8) and ext 8/16/32 (0xc7..0xc9).
    if b >= 0xD4:
        n = 1 << (b - 0xD4)
    elif b == 0xC7:
        n = p[0]
    elif b == 0xC8:
        n = be16(p)
    else:
        n = be32(p)
    code = <int8_t>p[size - 1]
    if code != -1:
        raise DecodeError(f"unsupported ext type {code} at offset {start}")
    if n > d.end - d.pos:
        return truncated(start)
    return decode_timestamp(d, start, n)




cdef object decode_buffer(const unsigned char* buf, Py_ssize_t length):
    cdef Dec d
    d.buf = buf
    d.pos = 0
    d.end = length
    value = unpack(&d, 0)
    if d.pos != d.end:
        raise DecodeError(
            f"trailing data: {d.end - d.pos} bytes after the value at offset {d.pos}"
        )
    return value


cdef inline object decode_one(object data):
    if type(data) is not bytes:
        data = memoryview(data).tobytes()
    return decode_buffer(<const unsigned char*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))


def decode(data):
    """Decode one MessagePack value; raise :class:`DecodeError` on any malformed input."""
    return decode_one(data)


def decode_batch(datas):
    """Decode many values; a malformed one raises :class:`DecodeError` with ``index`` set."""
    cdef Py_ssize_t i = 0, n
    if type(datas) is not list and type(datas) is not tuple:
        datas = list(datas)
    n = len(datas)
    result = PyList_New(n)
    try:
        for i in range(n):
            value = decode_one(datas[i])
            Py_INCREF(value)
            PyList_SET_ITEM_steal(result, i, <PyObject*>value)
    except DecodeError as exc:
        raise exc.with_index(i) from exc.__cause__
    return result
