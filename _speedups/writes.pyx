# cython: language_level=3
"""Compiled twin of ``scyllabatch/_pure/writes.py``: write statements serialized for a BATCH.

Computes the exact size first, then fills one ``bytes`` object in place: no intermediate
objects per value. Output is byte-identical to the pure-Python twin (tests compare them).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

UPSERT_VALUES = 8
DELETE_VALUES = 3
MAX_STATEMENTS = 0xFFFF


cdef inline char* _put_u16(char* out, uint16_t value) noexcept:
    out[0] = <char>(value >> 8)
    out[1] = <char>(value & 0xFF)
    return out + 2


cdef inline char* _put_u32(char* out, uint32_t value) noexcept:
    out[0] = <char>(value >> 24)
    out[1] = <char>((value >> 16) & 0xFF)
    out[2] = <char>((value >> 8) & 0xFF)
    out[3] = <char>(value & 0xFF)
    return out + 4


cdef inline char* _put_u64(char* out, uint64_t value) noexcept:
    cdef int i
    for i in range(8):
        out[i] = <char>((value >> (56 - 8 * i)) & 0xFF)
    return out + 8


cdef inline char* _put_value(char* out, bytes data):
    cdef Py_ssize_t size = PyBytes_GET_SIZE(data)
    out = _put_u32(out, <uint32_t>size)
    memcpy(out, PyBytes_AS_STRING(data), size)
    return out + size


cdef inline char* _put_head(char* out, bytes statement_id, uint16_t value_count):
    out[0] = 1
    out = _put_u16(out + 1, <uint16_t>PyBytes_GET_SIZE(statement_id))
    memcpy(out, PyBytes_AS_STRING(statement_id), PyBytes_GET_SIZE(statement_id))
    out += PyBytes_GET_SIZE(statement_id)
    return _put_u16(out, value_count)


def statement_head(bytes statement_id, int value_count):
    """The bytes before a prepared statement's values: kind 1, its id, the value count."""
    cdef bytes result = PyBytes_FromStringAndSize(NULL, 5 + PyBytes_GET_SIZE(statement_id))
    _put_head(PyBytes_AS_STRING(result), statement_id, <uint16_t>value_count)
    return result


def encode_writes(list rows, bytes upsert_id, bytes delete_id, int64_t timestamp_us):
    """Serialize the statements of one batch of upserts and deletes (see the pure twin)."""
    cdef Py_ssize_t count = len(rows)
    if count > MAX_STATEMENTS:
        raise ValueError(f"a batch holds at most {MAX_STATEMENTS} statements, got {count}")
    cdef Py_ssize_t upsert_head = 5 + PyBytes_GET_SIZE(upsert_id)
    cdef Py_ssize_t delete_head = 5 + PyBytes_GET_SIZE(delete_id)
    cdef Py_ssize_t total = 0
    cdef Py_ssize_t i
    cdef tuple row
    cdef object value
    for i in range(count):
        row = <tuple>rows[i]
        if len(row) != 5:
            raise ValueError("each write row is (partition, key, value, created_us, ttl_seconds)")
        value = row[2]
        if value is None:
            total += delete_head + 12 + 8 + PyBytes_GET_SIZE(<bytes>row[0])
            total += PyBytes_GET_SIZE(<bytes>row[1])
        else:
            total += upsert_head + 4 * 8 + 8 + 8 + 4 + 4 + 8
            total += PyBytes_GET_SIZE(<bytes>row[0]) + PyBytes_GET_SIZE(<bytes>row[1])
            total += PyBytes_GET_SIZE(<bytes>value)
    cdef bytes result = PyBytes_FromStringAndSize(NULL, total)
    cdef char* out = PyBytes_AS_STRING(result)
    cdef int64_t created
    cdef int ttl
    for i in range(count):
        row = <tuple>rows[i]
        value = row[2]
        if value is None:
            out = _put_head(out, delete_id, DELETE_VALUES)
            out = _put_u64(_put_u32(out, 8), <uint64_t>timestamp_us)
            out = _put_value(out, <bytes>row[0])
            out = _put_value(out, <bytes>row[1])
            continue
        created = row[3]
        ttl = row[4]
        out = _put_head(out, upsert_id, UPSERT_VALUES)
        out = _put_value(out, <bytes>row[0])
        out = _put_value(out, <bytes>row[1])
        out = _put_value(out, <bytes>value)
        out = _put_u64(_put_u32(out, 8), <uint64_t>created)
        out = _put_u64(_put_u32(out, 8), <uint64_t>timestamp_us)
        out = _put_u32(_put_u32(out, 4), <uint32_t>ttl)
        out = _put_u32(_put_u32(out, 4), <uint32_t>ttl)
        out = _put_u64(_put_u32(out, 8), <uint64_t>timestamp_us)
    return result


# -- the fast path of put validation (see the pure twin for the contract) --------------------

FAST_MAX_LABEL_BYTES = 255
FAST_MAX_KEY_BYTES = 1024

from cpython.unicode cimport PyUnicode_GET_LENGTH, PyUnicode_READ_CHAR


cdef bint _fast_label(object label):
    if type(label) is not str:
        return False
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(label)
    if n == 0 or n > FAST_MAX_LABEL_BYTES:
        return False
    cdef Py_ssize_t i
    cdef Py_UCS4 c
    for i in range(n):
        c = PyUnicode_READ_CHAR(label, i)
        # printable ASCII without '.': exactly what isascii() and isprintable() and no '.' accept
        if c < 32 or c > 126 or c == 46:
            return False
    return True


cpdef object fast_partition(object namespace, dict cache):
    """The partition text of a namespace of plain ASCII labels, or ``None`` (check it fully)."""
    cdef object found
    cdef bint is_tuple = type(namespace) is tuple
    if is_tuple:
        found = cache.get(namespace)
        if found is not None:
            return found
    elif type(namespace) is not list:
        return None
    if not namespace:
        return None
    for label in namespace:
        if not _fast_label(label):
            return None
    partition = ".".join(namespace)
    if is_tuple:
        cache[namespace] = partition
    return partition


cdef bint _fast_key(object key):
    if type(key) is not str:
        return False
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(key)
    if n > FAST_MAX_KEY_BYTES:
        return False
    cdef Py_ssize_t i
    for i in range(n):
        if PyUnicode_READ_CHAR(key, i) > 127:
            return False
    return True


def fast_put(object op, dict cache):
    """``(namespace, partition, key, value, ttl)`` of a certainly valid put, else ``None``."""
    if len(op) != 5:
        return None
    namespace, key, value, index, ttl = op
    partition = fast_partition(namespace, cache)
    if partition is None:
        return None
    if not _fast_key(key):
        return None
    if value is not None and type(value) is not dict:
        return None
    if index is not None and index is not False:
        return None
    return (namespace if type(namespace) is tuple else tuple(namespace)), partition, key, value, ttl
