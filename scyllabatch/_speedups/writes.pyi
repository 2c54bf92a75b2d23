from collections.abc import Callable, Hashable, Sequence
from typing import Any

UPSERT_VALUES: int
DELETE_VALUES: int
MAX_STATEMENTS: int
FAST_MAX_LABEL_BYTES: int
FAST_MAX_KEY_BYTES: int
FAST_MAX_PARTITION_BYTES: int

def fast_partition(namespace: object, cache: dict[object, str]) -> str | None: ...
def fast_put(
    op: object, cache: dict[object, str]
) -> tuple[tuple[str, ...], str, str, object, object] | None: ...
def statement_head(statement_id: bytes, value_count: int) -> bytes: ...
def encode_writes(
    rows: Sequence[tuple[bytes, bytes, bytes | None, int, int]],
    upsert_id: bytes,
    delete_id: bytes,
    timestamp_us: int,
) -> bytes: ...

STATEMENT_OVERHEAD_BYTES: int

class MergedWrite:
    put: Any
    op_indices: list[int]
    deleted_first: bool
    partition_utf8: bytes
    key_utf8: bytes
    estimated_bytes: int
    def __init__(self, put: Any, op_indices: list[int]) -> None: ...
    def replace(self, put: Any) -> None: ...
    def row(self, created_us: int) -> tuple[bytes, bytes, bytes | None, int, int]: ...

def merge_writes(ops: Sequence[Any], put_type: type) -> list[MergedWrite]: ...
def group_chunks(
    writes: Sequence[MergedWrite],
    replica_group: Callable[[str], Hashable],
    max_ops: int,
    partition_ops: int,
    max_bytes: int,
    max_partitions: int,
) -> list[list[MergedWrite]]: ...
