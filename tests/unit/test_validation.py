"""Validation before any I/O, planning, and the public API surface (no database)."""

from __future__ import annotations

import math
from typing import Any

import pytest

import scyllabatch
from scyllabatch import (
    BatchLimits,
    BatchType,
    CreatedAtMode,
    GetOp,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchOp,
    StoreBatchSizeWarning,
    StoreConfig,
    StoreValidationError,
)
from scyllabatch._core.filters import FilterError, compile_filter, matches
from scyllabatch._core.planner import plan_call
from scyllabatch._core.validation import (
    MAX_TTL_SECONDS,
    parse_batch_type,
    ttl_to_seconds,
    validate_ops,
)
from scyllabatch._impl import codec

NS = ("a", "b")


def test_public_api_is_pinned() -> None:
    assert sorted(scyllabatch.__all__) == sorted(
        [
            "IMPLEMENTATION",
            "AsyncStore",
            "BatchLimits",
            "BatchType",
            "ConditionalPutOp",
            "ConditionalResult",
            "CounterOp",
            "CreatedAtMode",
            "GetCountersOp",
            "GetOp",
            "IfAbsent",
            "IfUnchanged",
            "Item",
            "ListNamespacesOp",
            "MatchCondition",
            "PutOp",
            "RetryPolicy",
            "SearchItem",
            "SearchOp",
            "Secret",
            "Store",
            "StoreAuthenticationError",
            "StoreBatchSizeWarning",
            "StoreConfig",
            "StoreConnectionError",
            "StoreError",
            "StorePartialWriteError",
            "StoreQueryError",
            "StoreTimeoutError",
            "StoreUnavailableError",
            "StoreValidationError",
            "__version__",
        ]
    )
    for name in scyllabatch.__all__:
        assert getattr(scyllabatch, name) is not None


def test_error_tree() -> None:
    for name in [
        "StoreValidationError",
        "StoreQueryError",
        "StoreTimeoutError",
        "StoreUnavailableError",
        "StoreConnectionError",
        "StoreAuthenticationError",
        "StorePartialWriteError",
    ]:
        assert issubclass(getattr(scyllabatch, name), scyllabatch.StoreError)


def test_op_field_order_and_defaults_match_langgraph() -> None:
    base = pytest.importorskip("langgraph.store.base")
    for ours, theirs in [
        (GetOp, base.GetOp),
        (PutOp, base.PutOp),
        (SearchOp, base.SearchOp),
        (ListNamespacesOp, base.ListNamespacesOp),
        (MatchCondition, base.MatchCondition),
    ]:
        assert ours._fields == theirs._fields
        assert ours._field_defaults == theirs._field_defaults


def test_langgraph_ops_are_accepted_as_they_are() -> None:
    base = pytest.importorskip("langgraph.store.base")
    ops = [
        base.PutOp(("x", "y"), "k", {"v": 1}, ttl=1.5),
        base.GetOp(("x", "y"), "k"),
        base.SearchOp(("x",), {"v": {"$gt": 0}}),
        base.ListNamespacesOp((base.MatchCondition("prefix", ("x",)),), max_depth=2),
    ]
    normalized = validate_ops(ops, codec)
    assert [type(n).__name__ for n in normalized] == [
        "PutWrite",
        "GetRead",
        "SearchRead",
        "ListRead",
    ]
    assert normalized[0].ttl_seconds == 91  # type: ignore[union-attr]  # 90 s + 1


@pytest.mark.parametrize(
    ("ttl", "seconds"),
    [
        (None, None),
        (1e-9, 2),  # at least one asked second, plus one
        (0.001, 2),
        (1 / 60, 2),
        (31 / 60, 32),  # 31.000000000000004 s in floating point: float noise, not 32 s
        (0.1, 7),  # 6.000000000000001 s
        (0.5, 31),
        (1, 61),
        (1.001, 62),  # 60.06 s rounds up to 61
        (2.5, 151),
    ],
)
def test_ttl_minutes_to_stored_seconds_rounded_up_plus_one(ttl: Any, seconds: Any) -> None:
    assert ttl_to_seconds(ttl, 0) == seconds


def test_every_whole_second_ttl_is_stored_as_that_many_seconds_plus_one() -> None:
    for seconds in range(1, 5000):
        assert ttl_to_seconds(seconds / 60, 0) == seconds + 1, seconds


def test_longest_ttl_is_accepted_and_one_second_more_is_not() -> None:
    longest = (MAX_TTL_SECONDS - 1) / 60  # stored as MAX_TTL_SECONDS with the extra second
    assert ttl_to_seconds(longest, 0) == MAX_TTL_SECONDS
    with pytest.raises(StoreValidationError, match="longer than the server allows"):
        ttl_to_seconds(MAX_TTL_SECONDS / 60, 0)


@pytest.mark.parametrize(
    "ttl", [-0.1, -(10**400), math.nan, math.inf, -math.inf, "5", True, 10**9, 1e308, 10**400]
)
@pytest.mark.parametrize("value", [{}, None], ids=["put", "delete"])
def test_bad_ttls_are_validation_errors_for_puts_and_deletes(
    ttl: Any, value: dict[str, Any] | None
) -> None:
    with pytest.raises(StoreValidationError) as info:
        validate_ops([GetOp(NS, "k"), PutOp(NS, "k", value, ttl=ttl)], codec)
    assert (info.value.op_index, info.value.field) == (1, "ttl")
    assert "op 1" in str(info.value)


@pytest.mark.parametrize("ttl", [0, 0.0, -0.0])
def test_zero_ttl_is_refused_and_says_none_means_no_expiry(ttl: float) -> None:
    with pytest.raises(StoreValidationError, match=r"ttl=None") as info:
        validate_ops([PutOp(NS, "k", {}, ttl=ttl)], codec)
    assert info.value.field == "ttl"


@pytest.mark.parametrize(
    ("op", "field"),
    [
        (PutOp((), "k", {}), "namespace"),
        (PutOp("ab", "k", {}), "namespace"),  # type: ignore[arg-type]
        (PutOp(("a.b",), "k", {}), "namespace[0]"),
        (PutOp(("a", ""), "k", {}), "namespace[1]"),
        (PutOp(("a", 3), "k", {}), "namespace[1]"),  # type: ignore[arg-type]
        (PutOp(NS, None, {}), "key"),  # type: ignore[arg-type]
        (PutOp(NS, "k", "text"), "value"),  # type: ignore[arg-type]
        (PutOp(NS, "k", {"x": object()}), "value"),
        (PutOp(NS, "k", {1: "int key"}), "value"),  # type: ignore[dict-item]
        (PutOp(NS, "k", {}, index="yes"), "index"),  # type: ignore[arg-type]
        (GetOp(NS, "k", refresh_ttl="no"), "refresh_ttl"),  # type: ignore[arg-type]
        (SearchOp(NS, limit=-1), "limit"),
        (SearchOp(NS, offset=-1), "offset"),
        (SearchOp(NS, filter={"x": {"$regex": "a"}}), "filter"),
        (SearchOp(NS, query=42), "query"),  # type: ignore[arg-type]
        (ListNamespacesOp(limit=-5), "limit"),
        (ListNamespacesOp(max_depth=0), "max_depth"),
        (
            ListNamespacesOp(match_conditions=(MatchCondition("middle", ("a",)),)),  # type: ignore[arg-type]
            "match_conditions[0].match_type",
        ),
    ],
)
def test_bad_ops_name_index_and_field(op: Any, field: str) -> None:
    with pytest.raises(StoreValidationError) as info:
        validate_ops([GetOp(NS, "fine"), op], codec)
    assert info.value.op_index == 1
    assert info.value.field == field
    assert "op 1" in str(info.value)


def test_value_error_names_path_inside_value() -> None:
    with pytest.raises(StoreValidationError, match=r"value\['tags'\]\[1\]"):
        validate_ops([PutOp(NS, "k", {"tags": ["ok", {1, 2}]})], codec)


def test_non_op_is_rejected() -> None:
    with pytest.raises(StoreValidationError, match="op 0 is a dict"):
        validate_ops([{"namespace": NS}], codec)


def test_batch_type_parsing() -> None:
    assert parse_batch_type("logged") is BatchType.LOGGED
    assert parse_batch_type(BatchType.UNLOGGED) is BatchType.UNLOGGED
    with pytest.raises(StoreValidationError):
        parse_batch_type("COUNTER")


def plan(
    ops: list[Any], batch_type: BatchType = BatchType.UNLOGGED, limits: BatchLimits | None = None
) -> Any:
    return plan_call(validate_ops(ops, codec), batch_type, 1, limits or BatchLimits(), codec, 100)


def test_logged_limit_is_checked_before_io() -> None:
    with pytest.raises(StoreValidationError, match="never"):
        plan([PutOp(NS, f"k{i}", {}) for i in range(101)], BatchType.LOGGED)


def test_merged_duplicates_do_not_count_against_the_limit() -> None:
    ops = [PutOp(NS, "same", {"i": i}) for i in range(150)]
    assert len(plan(ops, BatchType.LOGGED).writes) == 1


def test_logged_above_warn_threshold_warns() -> None:
    with pytest.warns(StoreBatchSizeWarning):
        plan([PutOp(NS, f"k{i}", {}) for i in range(51)], BatchType.LOGGED)


def test_unlogged_is_split_without_warnings(recwarn: pytest.WarningsRecorder) -> None:
    from scyllabatch._core.planner import _batch_chunks

    big = plan([PutOp(NS, f"k{i}", {"pad": "x" * 100}) for i in range(260)])
    assert not [w for w in recwarn if issubclass(w.category, StoreBatchSizeWarning)]
    assert [len(c) for c in big.chunks] == [50] * 5 + [10]
    by_bytes = _batch_chunks(big.writes, BatchLimits(max_bytes=2_000, warn_bytes=1_000), str)
    assert all(sum(w.estimated_bytes for w in chunk) <= 1_000 for chunk in by_bytes)


def test_partitions_combine_only_within_a_replica_group() -> None:
    ops = [PutOp(("t", str(p)), f"k{i}", {"i": i}) for p in range(25) for i in range(3)]
    writes = plan(ops).writes
    from scyllabatch._core.planner import _batch_chunks

    # Default: every partition is its own group, one batch per partition.
    assert len(_batch_chunks(writes, BatchLimits(), str)) == 25
    # One group (a single replica set): at most 10 partitions per batch, partitions kept whole.
    chunks = _batch_chunks(writes, BatchLimits(max_partitions_per_batch=10), lambda p: "same")
    assert [len({w.put.partition for w in c}) for c in chunks] == [10, 10, 5]
    assert all(len(c) == 3 * len({w.put.partition for w in c}) for c in chunks)
    # Two groups never share a batch.
    by_parity = _batch_chunks(writes, BatchLimits(), lambda p: int(p.split(".")[1]) % 2)
    for chunk in by_parity:
        assert len({int(w.put.partition.split(".")[1]) % 2 for w in chunk}) == 1
    single = _batch_chunks(writes, BatchLimits(max_partitions_per_batch=1), lambda p: "same")
    assert len(single) == 25


def test_created_at_lookups_read_exactly_the_written_keys() -> None:
    ops = [PutOp(("t", str(p)), "k", {"p": p}) for p in range(30)] + [PutOp(("t", "0"), "x", None)]
    ops += [PutOp(("t", "1"), f"more{i}", {"i": i}) for i in range(150)]

    def planned(mode: CreatedAtMode) -> Any:
        return plan_call(
            validate_ops(ops, codec),
            BatchType.UNLOGGED,
            1,
            BatchLimits(),
            codec,
            100,
            lambda p: "same",
            mode,
        )

    exact = planned(CreatedAtMode.EXACT)
    # 182 writes of one replica group: at most 100 per batch and 50 of one partition per batch;
    # the parts of the split partition t.1 travel alone, the whole partitions together
    assert sorted(len(chunk) for chunk in exact.chunks) == [1, 30, 50, 50, 50]
    for chunk in exact.chunks:
        per_partition: dict[str, int] = {}
        for write in chunk:
            per_partition[write.put.partition] = per_partition.get(write.put.partition, 0) + 1
        assert max(per_partition.values()) <= 50
    # One look-up per partition (the 151 keys of partition t.1 split at 100 keys), each asking
    # for exactly the keys written there: no cross product of partitions and keys; not the delete.
    wanted = sorted(
        (lookup.partition, key) for lookup in exact.created_lookups for key in lookup.keys
    )
    assert len(exact.created_lookups) == 31
    assert wanted == sorted((w.put.partition, w.put.key) for w in exact.writes if w.put.encoded)
    assert max(len(lookup.keys) for lookup in exact.created_lookups) == 100
    # write-only mode reads nothing before writing
    assert planned(CreatedAtMode.WRITE_ONLY).created_lookups == []


def test_config_validation() -> None:
    with pytest.raises(StoreValidationError, match="keyspace"):
        StoreConfig(keyspace="bad-name; DROP")
    with pytest.raises(StoreValidationError, match="consistency"):
        StoreConfig(read_consistency="MOST")
    with pytest.raises(StoreValidationError, match="together"):
        StoreConfig(username="u")
    assert StoreConfig(hosts="h1").hosts == ("h1",)
    assert BatchLimits.cassandra().max_bytes == 50 * 1024
    assert BatchLimits.scylladb().max_bytes == 1024 * 1024


FILTER_CASES = [
    ({"n": 10}, {"n": {"$gt": 9}}, True),
    ({"n": 10}, {"n": {"$lt": 9}}, False),
    ({"n": 9.5}, {"n": {"$gte": 9, "$lte": 10}}, True),
    ({"n": "9"}, {"n": {"$gt": "10"}}, True),  # strings compare as strings
    ({"n": "9"}, {"n": {"$gt": 1}}, False),  # type mismatch: no match
    ({"n": True}, {"n": {"$gt": 0}}, False),  # bool is not a number here
    ({"n": 1}, {"n": True}, False),
    ({"a": {"b": {"c": 3}}}, {"a.b.c": 3}, True),
    ({"a": {"b": {"c": 3}}}, {"a.b.c": {"$ne": 3}}, False),
    ({"a": 1}, {"missing": {"$ne": 3}}, True),
    ({"a": 1}, {"missing": 1}, False),
    ({"tags": ["x", "y"]}, {"tags": ["x", "y"]}, True),
    ({"s": "abc"}, {"s": {"$eq": "abc"}}, True),
]


@pytest.mark.parametrize(("value", "filter_", "expected"), FILTER_CASES)
def test_filters(value: dict[str, Any], filter_: dict[str, Any], expected: bool) -> None:
    assert matches(value, compile_filter(filter_)) is expected


@pytest.mark.parametrize(
    "filter_", [{"x": {"$in": [1]}}, {"x": {"$gt": [1]}}, {"": 1}, {"x": {"$gt": 1, "plain": 2}}]
)
def test_bad_filters(filter_: dict[str, Any]) -> None:
    with pytest.raises(FilterError):
        compile_filter(filter_)


def test_items_are_hashable_by_location() -> None:
    from datetime import datetime, timezone

    from scyllabatch import Item, SearchItem

    now = datetime.now(timezone.utc)
    item = Item(value={"a": 1}, key="k", namespace=("a",), created_at=now, updated_at=now)
    hit = SearchItem(value={"a": 1}, key="k", namespace=("a",), created_at=now, updated_at=now)
    assert hash(item) == hash(hit)
    assert len({item, item}) == 1
    assert hit.dict()["score"] is None


def test_ttl_refreshes_are_split_by_bytes_like_writes() -> None:
    from scyllabatch._core.items import StoredRow
    from scyllabatch._core.planner import _refresh_requests

    big = b"x" * (9 * 1024 * 1024)
    rows = [(StoredRow(("t",), "t", f"k{i}", big, 1, 1, 60, 1), (i,)) for i in range(3)] + [
        (StoredRow(("t",), "t", f"s{i}", b"v", 1, 1, 60, 1), (10 + i,)) for i in range(120)
    ]
    planned = plan([GetOp(("t",), "k0")])
    requests = _refresh_requests(planned, rows, BatchLimits())
    # each 9 MiB item alone (two would pass the 16 MiB message limit); small ones 50 a batch
    assert sorted(len(r.queries) for r in requests) == [1, 1, 1, 20, 50, 50]
    assert all(r.internal for r in requests)
