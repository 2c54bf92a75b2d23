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
FAST_MAX_PARTITION_BYTES = 65_535

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
    if PyUnicode_GET_LENGTH(partition) > FAST_MAX_PARTITION_BYTES:  # ASCII: characters are bytes
        return None
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


# -- merging and grouping (see the pure twin for the contract) -------------------------------

STATEMENT_OVERHEAD_BYTES = 48


cdef class MergedWrite:
    """The surviving write of one (namespace, key), and every op index merged into it."""

    cdef public object put
    cdef public list op_indices
    cdef public bint deleted_first
    cdef public bytes partition_utf8
    cdef public bytes key_utf8
    cdef public Py_ssize_t estimated_bytes

    def __init__(self, put, list op_indices):
        self.put = put
        self.op_indices = op_indices
        self.deleted_first = False
        self.partition_utf8 = (<str>put.partition).encode("utf-8")
        self.key_utf8 = (<str>put.key).encode("utf-8")
        self.estimated_bytes = self._size()

    cdef Py_ssize_t _size(self):
        return (
            <Py_ssize_t>self.put.encoded_size
            + PyBytes_GET_SIZE(self.key_utf8)
            + PyBytes_GET_SIZE(self.partition_utf8)
            + 48
        )

    cpdef replace(self, put):
        """A later op of the same (namespace, key) wins."""
        if self.put.encoded is None:
            self.deleted_first = True
        self.put = put
        self.op_indices.append(put.index)
        self.estimated_bytes = self._size()

    cpdef tuple row(self, object created_us):
        """The serializer's row (see :func:`encode_writes`)."""
        put = self.put
        return (self.partition_utf8, self.key_utf8, put.encoded, created_us, put.ttl_seconds or 0)


def merge_writes(ops, type put_type):
    """Merge the puts (ops of ``put_type``) per (namespace, key): the last op wins."""
    cdef dict merged = {}
    cdef MergedWrite existing
    for op in ops:
        if type(op) is put_type:
            slot = (op.partition, op.key)
            found = merged.get(slot)
            if found is None:
                merged[slot] = MergedWrite(op, [op.index])
            else:
                existing = <MergedWrite>found
                existing.replace(op)
    return list(merged.values())


def group_chunks(
    writes,
    replica_group,
    Py_ssize_t max_ops,
    Py_ssize_t partition_ops,
    Py_ssize_t max_bytes,
    Py_ssize_t max_partitions,
):
    """Pack whole partitions of one replica group into batches within the bounds."""
    cdef dict by_partition = {}
    cdef MergedWrite write
    cdef list group, part, chunk
    cdef Py_ssize_t size, part_size, estimated
    for item in writes:
        write = <MergedWrite>item
        partition = write.put.partition
        found = by_partition.get(partition)
        if found is None:
            by_partition[partition] = [write]
        else:
            (<list>found).append(write)
    cdef list chunks = []
    cdef dict open_chunks = {}
    cdef list order = []
    cdef list totals
    for partition, found in by_partition.items():
        group = <list>found
        size = 0
        for item in group:
            size += (<MergedWrite>item).estimated_bytes
        if len(group) > partition_ops or size > max_bytes:
            part = []
            part_size = 0
            for item in group:
                estimated = (<MergedWrite>item).estimated_bytes
                if part and (len(part) >= partition_ops or part_size + estimated > max_bytes):
                    chunks.append(part)
                    part = []
                    part_size = 0
                part.append(item)
                part_size += estimated
            chunks.append(part)
            continue
        key = replica_group(partition)
        current = open_chunks.get(key)
        if current is not None:
            chunk = <list>(<tuple>current)[0]
            totals = <list>(<tuple>current)[1]
            if (
                <Py_ssize_t>totals[1] < max_partitions
                and len(chunk) + len(group) <= max_ops
                and <Py_ssize_t>totals[0] + size <= max_bytes
            ):
                chunk.extend(group)
                totals[0] = <Py_ssize_t>totals[0] + size
                totals[1] = <Py_ssize_t>totals[1] + 1
                continue
        chunk = list(group)
        open_chunks[key] = (chunk, [size, 1])
        order.append(chunk)
    return chunks + order
