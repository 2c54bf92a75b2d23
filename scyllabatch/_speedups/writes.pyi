from collections.abc import Sequence

UPSERT_VALUES: int
DELETE_VALUES: int
MAX_STATEMENTS: int

def statement_head(statement_id: bytes, value_count: int) -> bytes: ...
def encode_writes(
    rows: Sequence[tuple[bytes, bytes, bytes | None, int, int]],
    upsert_id: bytes,
    delete_id: bytes,
    timestamp_us: int,
) -> bytes: ...
