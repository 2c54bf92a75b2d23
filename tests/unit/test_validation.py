"""Validation before any I/O and the public API surface (no database); the planner's tests are
in ``test_planner.py``."""

from __future__ import annotations

import math
from typing import Any

import pytest

import scyllabatch
from scyllabatch import (
    BatchLimits,
    BatchType,
    GetOp,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchOp,
    StoreConfig,
    StoreValidationError,
)
from scyllabatch._core.filters import FilterError, compile_filter, matches
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
            "CreatedAtMode",
            "GetOp",
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
