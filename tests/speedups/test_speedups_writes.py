"""The write-path twins: serialized statements and the fast put filter, compiled and pure.

The serialized values are checked against the driver's own serializers (what ``bind()`` would
produce), and the twins against each other, byte for byte.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from cassandra import cqltypes
from hypothesis import given, settings
from hypothesis import strategies as st

from scyllabatch import PutOp, StoreValidationError
from scyllabatch._core.validation import validate_ops
from scyllabatch._pure import codec as pure_codec
from scyllabatch._pure.writes import decode_writes

pytestmark = pytest.mark.speedups

UPSERT_ID = b"\x8a" * 16
DELETE_ID = b"\x01\x02"
PROTOCOL = 4

texts = st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass"))
rows = st.tuples(
    texts,
    texts,
    st.one_of(st.none(), st.binary(max_size=300)),
    st.integers(min_value=0, max_value=2**63 - 1),
    st.integers(min_value=0, max_value=630_720_000),
)


def driver_values(row: tuple[Any, ...], timestamp: int) -> list[bytes]:
    """What the driver's serializers make of an upsert's or a delete's bound values."""
    partition, key, value, created, ttl = row
    text = cqltypes.UTF8Type.serialize
    if value is None:
        return [
            cqltypes.LongType.serialize(timestamp, PROTOCOL),
            text(partition.decode("utf-8", "surrogatepass"), PROTOCOL),
            text(key.decode("utf-8", "surrogatepass"), PROTOCOL),
        ]
    long, int32 = cqltypes.LongType.serialize, cqltypes.Int32Type.serialize
    return [
        text(partition.decode("utf-8", "surrogatepass"), PROTOCOL),
        text(key.decode("utf-8", "surrogatepass"), PROTOCOL),
        cqltypes.BytesType.serialize(value, PROTOCOL),
        long(created, PROTOCOL),
        long(timestamp, PROTOCOL),
        int32(ttl, PROTOCOL),
        int32(ttl, PROTOCOL),
        long(timestamp, PROTOCOL),
    ]


@settings(max_examples=200, deadline=None)
@given(batch=st.lists(rows, max_size=30), timestamp=st.integers(0, 2**62))
def test_statements_are_what_the_driver_would_bind(
    writes: ModuleType, batch: list[Any], timestamp: int
) -> None:
    body = writes.encode_writes(batch, UPSERT_ID, DELETE_ID, timestamp)
    decoded = decode_writes(body, len(batch))
    assert [statement_id for statement_id, _ in decoded] == [
        DELETE_ID if row[2] is None else UPSERT_ID for row in batch
    ]
    assert [values for _, values in decoded] == [driver_values(row, timestamp) for row in batch]


@settings(max_examples=200, deadline=None)
@given(batch=st.lists(rows, max_size=30), timestamp=st.integers(0, 2**62))
def test_twins_serialize_byte_for_byte_alike(
    writes_pair: tuple[ModuleType, ModuleType], batch: list[Any], timestamp: int
) -> None:
    compiled, pure = writes_pair
    assert compiled.encode_writes(batch, UPSERT_ID, DELETE_ID, timestamp) == pure.encode_writes(
        batch, UPSERT_ID, DELETE_ID, timestamp
    )
    assert compiled.statement_head(UPSERT_ID, 8) == pure.statement_head(UPSERT_ID, 8)


def test_too_many_statements_are_refused(writes: ModuleType) -> None:
    row = (b"p", b"k", None, 0, 0)
    with pytest.raises(ValueError, match="at most 65535"):
        writes.encode_writes([row] * 65_536, UPSERT_ID, DELETE_ID, 1)


labels = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=8),
    st.text(max_size=6),  # anything: control characters, '.', non-ASCII, lone surrogates, empty
    st.sampled_from(["a.b", "", "\n", "é", "\ud800", "x" * 300]),
)
namespaces = st.one_of(
    st.lists(labels, max_size=4).map(tuple),
    st.lists(labels, max_size=4),
    st.sampled_from(["users", b"users", None, 7, ("users", 3)]),
)
keys = st.one_of(st.text(max_size=12), st.sampled_from(["", "k" * 2000, "\ud800", 5, None]))
values = st.one_of(st.none(), st.dictionaries(st.text(max_size=3), st.integers()), st.just([1]))
puts = st.builds(
    PutOp,
    namespaces,
    keys,
    values,
    st.sampled_from([None, False, ["text"], "bad"]),
    st.sampled_from([None, 1.5, 0.25, -1.0, "x"]),
)


@settings(max_examples=400, deadline=None)
@given(op=puts)
def test_fast_put_twins_agree(writes_pair: tuple[ModuleType, ModuleType], op: PutOp) -> None:
    compiled, pure = writes_pair
    assert compiled.fast_put(op, {}) == pure.fast_put(op, {})


class _NoFastPath:
    """A writes module whose filter never accepts: every put takes the careful path."""

    @staticmethod
    def fast_put(op: Any, cache: Any) -> None:
        return None


def outcome(op: PutOp, writes: Any) -> Any:
    try:
        return validate_ops([op], pure_codec, writes)
    except StoreValidationError as exc:
        return f"{type(exc).__name__}: {exc} ({exc.op_index}, {exc.field})"


@settings(max_examples=400, deadline=None)
@given(op=puts)
def test_fast_path_changes_no_outcome(writes: ModuleType, op: PutOp) -> None:
    """With or without the filter, validation gives the same writes or the same error."""
    assert outcome(op, writes) == outcome(op, _NoFastPath)


@pytest.mark.parametrize("ttl", [None, 0.5, -1.0, float("nan"), "x"])
@pytest.mark.parametrize("value", [None, {"v": 1}, [1]])
def test_fast_path_changes_no_outcome_of_plain_puts(
    writes: ModuleType, ttl: Any, value: Any
) -> None:
    op = PutOp(("users", "alice"), "key", value, None, ttl)
    assert writes.fast_put(op, {}) is None or isinstance(value, (dict, type(None)))
    assert outcome(op, writes) == outcome(op, _NoFastPath)


def test_fast_partition_cache_is_per_call(writes: ModuleType) -> None:
    cache: dict[object, str] = {}
    assert writes.fast_partition(("users", "alice"), cache) == "users.alice"
    assert cache == {("users", "alice"): "users.alice"}
    assert writes.fast_partition(["users", "bob"], cache) == "users.bob"  # lists are not cached
    assert writes.fast_partition(("a.b",), cache) is None
    assert writes.fast_partition("users", cache) is None


plain_puts = st.lists(
    st.builds(
        PutOp,
        st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["x", "y", "z", "w"])),
        st.sampled_from([f"k{i}" for i in range(12)]),
        st.one_of(
            st.none(),
            st.dictionaries(st.sampled_from("pq"), st.integers(-1000, 10**6), max_size=2),
        ),
        index=st.none(),
        ttl=st.one_of(st.none(), st.sampled_from([0.5, 60.0])),
    ),
    max_size=120,
)


def planned(writes: ModuleType, ops: list[PutOp], bounds: tuple[int, int, int, int]) -> Any:
    from scyllabatch._core.validation import PutWrite

    normalized = validate_ops(ops, pure_codec, writes)
    merged = writes.merge_writes(normalized, PutWrite)
    chunks = writes.group_chunks(merged, lambda p: p.startswith("a"), *bounds)
    shape = [
        [(w.put.partition, w.put.key, w.op_indices, w.deleted_first, w.estimated_bytes) for w in c]
        for c in chunks
    ]
    return [(w.put.partition, w.put.key, w.op_indices) for w in merged], shape


@settings(max_examples=300, deadline=None)
@given(
    ops=plain_puts,
    bounds=st.tuples(
        st.integers(1, 30), st.integers(1, 10), st.integers(60, 2000), st.integers(1, 5)
    ),
)
def test_merging_and_grouping_twins_agree(
    writes_pair: tuple[ModuleType, ModuleType], ops: list[PutOp], bounds: tuple[int, ...]
) -> None:
    compiled, pure = writes_pair
    max_ops, partition_ops, max_bytes, max_partitions = bounds
    args = (max_ops, min(partition_ops, max_ops), max_bytes, max_partitions)
    assert planned(compiled, ops, args) == planned(pure, ops, args)


@settings(max_examples=300, deadline=None)
@given(ops=plain_puts)
def test_grouping_keeps_every_bound(writes: ModuleType, ops: list[PutOp]) -> None:
    merged, chunks = planned(writes, ops, (20, 8, 500, 3))
    assert sorted(w for c in chunks for w in (x[:2] for x in c)) == sorted(
        (p, k) for p, k, _ in merged
    )  # every merged write in exactly one batch
    for chunk in chunks:
        partitions = {w[0] for w in chunk}
        assert len(chunk) <= 20
        assert len(partitions) <= 3
        assert len({p.startswith("a") for p in partitions}) == 1  # one replica group per batch
        if len(partitions) > 1:  # combined partitions are whole and within the byte bound
            assert sum(w[4] for w in chunk) <= 500
            assert all(sum(1 for w in chunk if w[0] == p) <= 8 for p in partitions)
