"""Pure-Python twin of ``_speedups/writes.pyx``: the bound values of write statements, serialized.

The driver would bind every statement of a batch itself (one ``PreparedStatement.bind`` per
statement, one serializer call per value). The SDK knows the types of its own columns, so it
writes the statements section of a CQL ``BATCH`` message directly: for each statement the
prepared-statement flag, its id and its values in the native protocol's ``[bytes]`` form.
Output is byte-identical to the compiled twin.

Row layout (one tuple per write): ``(partition, key, value, created_us, ttl_seconds)`` with
``partition``/``key`` already UTF-8 encoded and ``value`` the encoded item, or ``None`` for a
delete. ``ttl_seconds`` is ``0`` for no expiry.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from struct import Struct
from typing import Any

_SHORT = Struct(">H")
_INT = Struct(">i")
_BIGINT_VALUE = Struct(">iq")  # a [bytes] value holding one bigint: length 8, then the number
_INT_VALUE = Struct(">ii")  # a [bytes] value holding one int: length 4, then the number

UPSERT_VALUES = 8
DELETE_VALUES = 3
MAX_STATEMENTS = 0xFFFF


def statement_head(statement_id: bytes, value_count: int) -> bytes:
    """The bytes before a prepared statement's values: kind 1, its id, the value count."""
    return b"\x01" + _SHORT.pack(len(statement_id)) + statement_id + _SHORT.pack(value_count)


def decode_writes(body: bytes, count: int) -> list[tuple[bytes, list[bytes]]]:
    """``(statement id, serialized values)`` of each of the ``count`` statements in ``body``.

    The inverse of :func:`encode_writes` (used by the driver's public fallback path and tests).
    """
    view = memoryview(body)
    position = 0
    statements = []
    for _ in range(count):
        position += 1  # kind: always 1, a prepared statement
        (id_length,) = _SHORT.unpack_from(view, position)
        statement_id = bytes(view[position + 2 : position + 2 + id_length])
        position += 2 + id_length
        (value_count,) = _SHORT.unpack_from(view, position)
        position += 2
        values = []
        for _ in range(value_count):
            (length,) = _INT.unpack_from(view, position)
            values.append(bytes(view[position + 4 : position + 4 + length]))
            position += 4 + length
        statements.append((statement_id, values))
    return statements


def encode_writes(
    rows: Sequence[tuple[bytes, bytes, bytes | None, int, int]],
    upsert_id: bytes,
    delete_id: bytes,
    timestamp_us: int,
) -> bytes:
    """Serialize the statements of one batch of upserts and deletes.

    Upsert values follow ``INSERT ... (namespace, key, value, created_at, updated_at, ttl)
    VALUES (?, ?, ?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?``; delete values follow
    ``DELETE ... USING TIMESTAMP ? WHERE namespace = ? AND key = ?``.
    """
    if len(rows) > MAX_STATEMENTS:
        raise ValueError(f"a batch holds at most {MAX_STATEMENTS} statements, got {len(rows)}")
    upsert_head = statement_head(upsert_id, UPSERT_VALUES)
    delete_head = statement_head(delete_id, DELETE_VALUES)
    stamp = _BIGINT_VALUE.pack(8, timestamp_us)
    int_value = _INT_VALUE.pack
    bigint_value = _BIGINT_VALUE.pack
    length = _INT.pack
    parts: list[bytes] = []
    append = parts.append
    for partition, key, value, created_us, ttl_seconds in rows:
        if value is None:
            append(delete_head)
            append(stamp)
            append(length(len(partition)))
            append(partition)
            append(length(len(key)))
            append(key)
            continue
        append(upsert_head)
        append(length(len(partition)))
        append(partition)
        append(length(len(key)))
        append(key)
        append(length(len(value)))
        append(value)
        append(bigint_value(8, created_us))
        append(stamp)  # updated_at is the write's own timestamp
        ttl = int_value(4, ttl_seconds)
        append(ttl)  # the ttl column, read back to refresh TTLs
        append(ttl)  # USING TTL
        append(stamp)  # USING TIMESTAMP
    return b"".join(parts)


# -- the fast path of put validation --------------------------------------------------------------
# A filter, not a validator: it accepts only puts that are certainly valid under every rule of
# ``scyllabatch._core.validation`` (ASCII labels and keys well inside the size limits), and
# answers ``None`` for anything else, which the full validator then checks (and names the error).

FAST_MAX_LABEL_BYTES = 255
FAST_MAX_KEY_BYTES = 1024
FAST_MAX_PARTITION_BYTES = 65_535


def _fast_label(label: object) -> bool:
    return (
        type(label) is str
        and 0 < len(label) <= FAST_MAX_LABEL_BYTES
        and label.isascii()
        and "." not in label
        and label.isprintable()
    )


def fast_partition(namespace: object, cache: dict[object, str]) -> str | None:
    """The partition text of a namespace of plain ASCII labels, or ``None`` (check it fully).

    ``cache`` remembers the namespaces of one call: a call often writes one namespace many times.
    """
    if type(namespace) is tuple:
        found = cache.get(namespace)
        if found is not None:
            return found
    elif type(namespace) is not list:
        return None
    if not namespace or not all(_fast_label(label) for label in namespace):
        return None
    partition = ".".join(namespace)
    if type(namespace) is tuple:
        cache[namespace] = partition
    return partition


def fast_put(
    op: tuple[object, ...], cache: dict[object, str]
) -> tuple[tuple[str, ...], str, str, object, object] | None:
    """``(namespace, partition, key, value, ttl)`` of a certainly valid put, else ``None``.

    ``value`` is a ``dict`` or ``None``; ``ttl`` is returned as given (the caller converts it).
    """
    if len(op) != 5:
        return None
    namespace, key, value, index, ttl = op
    partition = fast_partition(namespace, cache)
    if partition is None:
        return None
    if (
        type(key) is not str
        or len(key) > FAST_MAX_KEY_BYTES
        or not key.isascii()
        or (value is not None and type(value) is not dict)
        or (index is not None and index is not False)
    ):
        return None
    return tuple(namespace), partition, key, value, ttl  # type: ignore[arg-type]


# -- merging and grouping: from validated puts to the batches of a call ------------------------

# Per-statement overhead of the server's batch size accounting (clustering, timestamps, columns).
STATEMENT_OVERHEAD_BYTES = 48


class MergedWrite:
    """The surviving write of one (namespace, key), and every op index merged into it.

    Carries what the serializer needs (the partition and key as UTF-8) and its size as the
    server's batch size check counts it, each computed once. ``put`` is the validated put
    (``scyllabatch._core.validation.PutWrite``).
    """

    __slots__ = (
        "deleted_first",
        "estimated_bytes",
        "key_utf8",
        "op_indices",
        "partition_utf8",
        "put",
    )

    def __init__(self, put: Any, op_indices: list[int]) -> None:
        self.put = put
        self.op_indices = op_indices
        # A delete earlier in the same call ends the item's life: a put after it starts a new
        # one, so its created_at is this call's timestamp, not what a look-up would find.
        self.deleted_first = False
        self.partition_utf8: bytes = put.partition.encode("utf-8")
        self.key_utf8: bytes = put.key.encode("utf-8")
        self.estimated_bytes: int = self._size()

    def replace(self, put: Any) -> None:
        """A later op of the same (namespace, key) wins."""
        if self.put.encoded is None:
            self.deleted_first = True
        self.put = put
        self.op_indices.append(put.index)
        self.estimated_bytes = self._size()

    def _size(self) -> int:
        encoded_size: int = self.put.encoded_size
        return (
            encoded_size + len(self.key_utf8) + len(self.partition_utf8) + STATEMENT_OVERHEAD_BYTES
        )

    def row(self, created_us: int) -> tuple[bytes, bytes, bytes | None, int, int]:
        """The serializer's row (see :func:`encode_writes`)."""
        put = self.put
        return (self.partition_utf8, self.key_utf8, put.encoded, created_us, put.ttl_seconds or 0)


def merge_writes(ops: Sequence[Any], put_type: Any) -> list[MergedWrite]:
    """Merge the puts (ops of ``put_type``) per (namespace, key): the last op wins.

    CQL gives every statement of a batch one timestamp and breaks ties by comparing value bytes,
    so sending two writes of one key would let the larger value win, not the later one.
    """
    merged: dict[tuple[str, str], MergedWrite] = {}
    op: Any
    for op in ops:
        if type(op) is put_type:
            slot = (op.partition, op.key)
            existing = merged.get(slot)
            if existing is None:
                merged[slot] = MergedWrite(op, [op.index])
            else:
                existing.replace(op)
    return list(merged.values())


def group_chunks(
    writes: Sequence[MergedWrite],
    replica_group: Callable[[str], Hashable],
    max_ops: int,
    partition_ops: int,
    max_bytes: int,
    max_partitions: int,
) -> list[list[MergedWrite]]:
    """Pack whole partitions of one replica group into batches within the bounds.

    A partition above ``partition_ops`` writes or ``max_bytes`` bytes is cut into parts that
    travel alone, one batch each; whole partitions of one replica group share batches of at most
    ``max_partitions`` partitions, ``max_ops`` writes and ``max_bytes`` bytes.
    """
    by_partition: dict[str, list[MergedWrite]] = {}
    for write in writes:
        group = by_partition.get(write.put.partition)
        if group is None:
            by_partition[write.put.partition] = [write]
        else:
            group.append(write)
    chunks: list[list[MergedWrite]] = []
    open_chunks: dict[Hashable, tuple[list[MergedWrite], list[int]]] = {}  # group -> chunk, sizes
    order: list[list[MergedWrite]] = []  # chunks in the order they were opened
    for partition, group in by_partition.items():
        size = 0
        for write in group:
            size += write.estimated_bytes
        if len(group) > partition_ops or size > max_bytes:
            part: list[MergedWrite] = []
            part_size = 0
            for write in group:
                estimated = write.estimated_bytes
                if part and (len(part) >= partition_ops or part_size + estimated > max_bytes):
                    chunks.append(part)
                    part, part_size = [], 0
                part.append(write)
                part_size += estimated
            chunks.append(part)
            continue
        key = replica_group(partition)
        current = open_chunks.get(key)
        if current is not None:
            chunk, totals = current  # totals: [bytes, partitions]
            if (
                totals[1] < max_partitions
                and len(chunk) + len(group) <= max_ops
                and totals[0] + size <= max_bytes
            ):
                chunk.extend(group)
                totals[0] += size
                totals[1] += 1
                continue
        chunk = list(group)
        open_chunks[key] = (chunk, [size, 1])
        order.append(chunk)
    return chunks + order
