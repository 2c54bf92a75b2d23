from collections.abc import Sequence

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
