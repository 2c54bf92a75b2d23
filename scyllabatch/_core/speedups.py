"""What the core needs of the speedups, typed: the codec and the writes module.

Both are chosen once at import (:mod:`scyllabatch._impl`): the compiled modules of
``_speedups/`` or their pure-Python twins in ``scyllabatch._pure``, with the same functions. The
core receives the chosen module and sees it through these protocols, so a change of a twin's
signature is a type error here instead of a surprise at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol

WriteRow = tuple[bytes, bytes, "bytes | None", int, int]
"""``(partition, key, encoded value or None for a delete, created_at µs, ttl seconds)``."""


class Codec(Protocol):
    """The value codec (MessagePack): ``_speedups/codec.pyx`` or ``scyllabatch._pure.codec``."""

    def encode_batch(
        self, values: Sequence[object], default: Callable[[object], object] | None = None, /
    ) -> tuple[list[bytes], list[int]]:
        """Encode every value; returns the encodings and their sizes. ``default`` turns objects
        of types the codec does not know into ones it does (``StoreConfig.encode_default``)."""

    def decode_batch(self, datas: Sequence[bytes | bytearray | memoryview], /) -> list[object]:
        """Decode every stored value."""

    def decode(self, data: bytes | bytearray | memoryview, /) -> object:
        """Decode one stored value."""


class MergedWrite(Protocol):
    """The writes of one (namespace, key) of a call, merged: the last op wins."""

    put: Any
    op_indices: list[int]
    deleted_first: bool
    partition_utf8: bytes
    estimated_bytes: int

    def row(self, created_us: int, /) -> WriteRow:
        """The serializer's row."""


class Writes(Protocol):
    """The write path: ``_speedups/writes.pyx`` or ``scyllabatch._pure.writes``."""

    def fast_put(
        self, op: Any, cache: dict[object, str], /
    ) -> tuple[tuple[str, ...], str, str, object, object] | None:
        """``(namespace, partition, key, value, ttl)`` of a certainly valid put, else ``None``."""

    def merge_writes(self, ops: Sequence[Any], put_type: Any, /) -> Sequence[MergedWrite]:
        """Merge the puts per (namespace, key)."""

    def group_chunks(
        self,
        writes: Sequence[Any],
        replica_group: Callable[[str], Hashable],
        max_ops: int,
        partition_ops: int,
        max_bytes: int,
        max_partitions: int,
        /,
    ) -> Sequence[Sequence[MergedWrite]]:
        """Pack whole partitions of one replica group into batches within the bounds."""

    def encode_writes(
        self, rows: Sequence[WriteRow], upsert_id: bytes, delete_id: bytes, timestamp_us: int, /
    ) -> bytes:
        """Serialize the statements of one batch of upserts and deletes."""
