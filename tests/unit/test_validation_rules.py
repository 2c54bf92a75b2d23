"""The validation rules of issues 11 and 12, without a database.

Labels, namespace sizes, lone surrogates, value sizes, search queries, match-condition paths,
keyspace names and replication options: every refusal names the op index and field, and every
accepted edge case is what LangGraph's stores accept too.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

import pytest

from scyllabatch import (
    BatchLimits,
    GetOp,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchOp,
    StoreConfig,
    StoreValidationError,
)
from scyllabatch._core import schema, validation
from scyllabatch._core.validation import (
    MAX_LABEL_BYTES,
    MAX_NAMESPACE_BYTES,
    MAX_VALUE_BYTES,
    GetRead,
    ListRead,
    PutWrite,
    SearchRead,
    validate_ops,
)
from scyllabatch.config import RESERVED_WORDS
from tests.speedups.conftest import TWINS, load_twin

NS = ("a", "b")
SURROGATE = "a\ud800"


@pytest.fixture(params=TWINS)
def codec(request: pytest.FixtureRequest) -> ModuleType:
    """Both codec twins: validation encodes values with the selected one."""
    return load_twin(request.param, "codec")


def refused(ops: list[Any], codec: ModuleType, **kwargs: Any) -> StoreValidationError:
    with pytest.raises(StoreValidationError) as info:
        validate_ops(ops, codec, **kwargs)
    return info.value


def namespace_of_size(size: int, label_bytes: int = MAX_LABEL_BYTES) -> tuple[str, ...]:
    """Labels of at most ``label_bytes`` bytes whose ``.``-joined UTF-8 is exactly ``size`` bytes.

    The last label uses a two-byte character, so multi-byte text is counted in bytes.
    """
    labels: list[str] = []
    remaining = size
    while remaining > label_bytes:
        labels.append("x" * label_bytes)
        remaining -= label_bytes + 1  # the label and its separator
    labels.append("é" * (remaining // 2) + "y" * (remaining % 2))
    assert len(".".join(labels).encode("utf-8")) == size
    return tuple(labels)


# -- lone surrogates ---------------------------------------------------------------------------


SURROGATE_CASES: list[tuple[Any, str]] = [
    (PutOp((SURROGATE,), "k", {"v": 1}), "namespace[0]"),
    (PutOp(("ok", SURROGATE), "k", None), "namespace[1]"),
    (GetOp((SURROGATE,), "k"), "namespace[0]"),
    (SearchOp(("ok", SURROGATE)), "namespace_prefix[1]"),
    (
        ListNamespacesOp(match_conditions=(MatchCondition("prefix", (SURROGATE,)),)),
        "match_conditions[0].path[0]",
    ),
    (
        ListNamespacesOp(match_conditions=(MatchCondition("suffix", ("*", SURROGATE)),)),
        "match_conditions[0].path[1]",
    ),
    # Keys and values were refused before; checked here so every op kind is covered.
    (PutOp(NS, SURROGATE, {"v": 1}), "key"),
    (GetOp(NS, "k\udfff"), "key"),
    (PutOp(NS, "k", {"text": SURROGATE}), "value"),
    (PutOp(NS, "k", {SURROGATE: 1}), "value"),
]


def test_lone_surrogates_are_refused_for_every_op_kind(codec: ModuleType) -> None:
    for op, field in SURROGATE_CASES:
        error = refused([PutOp(NS, "fine", {"v": 1}), op], codec)
        assert (error.op_index, error.field) == (1, field), op
        assert "surrogate" in str(error)


# -- labels ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "label", ["alice\n", "tab\there", "nul\x00", "bell\x07", "\x1b[0m", "\r\n"]
)
def test_labels_with_control_characters_and_any_text_are_accepted(label: str) -> None:
    from scyllabatch._impl import codec

    ns = ("users", label)
    normalized = validate_ops(
        [
            PutOp(ns, "k", {"v": 1}),
            GetOp(ns, "k"),
            SearchOp(ns),
            ListNamespacesOp(match_conditions=(MatchCondition("suffix", (label,)),)),
        ],
        codec,
    )
    put, get, search, listing = normalized
    assert isinstance(put, PutWrite)
    assert put.namespace == ns
    assert put.partition == "users." + label
    assert isinstance(get, GetRead)
    assert get.namespace == ns
    assert isinstance(search, SearchRead)
    assert search.prefix == ns
    assert isinstance(listing, ListRead)
    assert listing.suffixes == ((label,),)


def test_the_label_byte_limit_applies_to_patterns_too() -> None:
    from scyllabatch._impl import codec

    fits = "é" * (MAX_LABEL_BYTES // 2)  # 1024 bytes, 512 characters
    validate_ops([PutOp((fits,), "k", {})], codec)
    validate_ops([ListNamespacesOp(match_conditions=(MatchCondition("prefix", (fits,)),))], codec)
    assert refused([PutOp((fits + "x",), "k", {})], codec).field == "namespace[0]"
    op = ListNamespacesOp(match_conditions=(MatchCondition("suffix", ("ok", fits + "x")),))
    error = refused([op], codec)
    assert error.field == "match_conditions[0].path[1]"
    assert f"{MAX_LABEL_BYTES + 1} bytes" in str(error)


# -- namespace size ----------------------------------------------------------------------------


def size_ops(namespace: tuple[str, ...]) -> list[Any]:
    return [
        PutOp(namespace, "k", {"v": 1}),
        PutOp(namespace, "k", None),
        GetOp(namespace, "k"),
        SearchOp(namespace),
        ListNamespacesOp(match_conditions=(MatchCondition("prefix", namespace),)),
        ListNamespacesOp(match_conditions=(MatchCondition("suffix", namespace),)),
    ]


@pytest.mark.parametrize("position", range(6))
def test_namespaces_up_to_the_key_limit_are_accepted_one_byte_more_is_not(position: int) -> None:
    from scyllabatch._impl import codec

    fits = namespace_of_size(MAX_NAMESPACE_BYTES)
    assert len(".".join(fits).encode("utf-8")) == MAX_NAMESPACE_BYTES
    validate_ops([size_ops(fits)[position]], codec)
    op = size_ops(namespace_of_size(MAX_NAMESPACE_BYTES + 1))[position]
    error = refused([GetOp(NS, "fine"), op], codec)
    assert error.op_index == 1
    assert error.field in {"namespace", "namespace_prefix", "match_conditions[0].path"}
    assert f"{MAX_NAMESPACE_BYTES + 1} bytes" in str(error)
    assert "fewer or shorter labels" in str(error)


def test_pattern_wildcards_count_as_one_byte_labels() -> None:
    from scyllabatch._impl import codec

    labels = namespace_of_size(MAX_NAMESPACE_BYTES - 2)  # room for ".*"
    ok = ListNamespacesOp(match_conditions=(MatchCondition("prefix", (*labels, "*")),))
    validate_ops([ok], codec)
    over = ListNamespacesOp(match_conditions=(MatchCondition("prefix", (*labels, "**")),))
    assert refused([over], codec).field == "match_conditions[0].path"


# -- values ------------------------------------------------------------------------------------


def test_value_size_limit_default_and_config() -> None:
    assert MAX_VALUE_BYTES == 15 * 1024 * 1024
    assert BatchLimits().max_value_bytes == MAX_VALUE_BYTES
    assert BatchLimits.cassandra().max_value_bytes == MAX_VALUE_BYTES
    assert BatchLimits(max_value_bytes=10).max_value_bytes == 10
    for bad in (0, -1, 1.5, True):
        with pytest.raises(StoreValidationError, match="max_value_bytes"):
            BatchLimits(max_value_bytes=bad)  # type: ignore[arg-type]


def test_values_above_the_limit_are_refused_before_io(codec: ModuleType) -> None:
    # {"b": bin of n bytes} is 1 (map) + 2 ("b") + 5 (bin 32 header) + n bytes once encoded.
    limit = 70_000
    at_limit = {"b": b"x" * (limit - 8)}
    assert len(codec.encode(at_limit)) == limit
    (put,) = validate_ops([PutOp(NS, "k", at_limit)], codec, max_value_bytes=limit)
    assert isinstance(put, PutWrite)
    assert put.encoded is not None
    assert len(put.encoded) == limit
    over = {"b": b"x" * (limit - 7)}
    error = refused(
        [PutOp(NS, "small", {"v": 1}), GetOp(NS, "k"), PutOp(NS, "k", over)],
        codec,
        max_value_bytes=limit,
    )
    assert (error.op_index, error.field) == (2, "value")
    assert f"{limit + 1:,} bytes" in str(error)
    assert "max_value_bytes" in str(error)


def test_the_default_value_limit_applies_without_a_config() -> None:
    from scyllabatch._impl import codec

    big = {"b": b"x" * MAX_VALUE_BYTES}
    assert refused([PutOp(NS, "k", big)], codec).field == "value"


# -- search query, match condition paths -------------------------------------------------------


def test_search_query_is_accepted_ignored_and_logged_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scyllabatch._impl import codec

    monkeypatch.setattr(validation, "_query_notice_logged", False)
    caplog.set_level(logging.DEBUG, logger="scyllabatch")
    first = validate_ops([SearchOp(NS, {"v": 1}, query="hello")], codec)
    second = validate_ops([SearchOp(NS, query="again"), SearchOp(NS, query="more")], codec)
    without = validate_ops([SearchOp(NS, {"v": 1})], codec)
    assert first == [
        SearchRead(
            index=0,
            prefix=NS,
            conditions=without[0].conditions,  # type: ignore[union-attr]
            limit=10,
            offset=0,
            refresh_ttl=True,
            query="hello",  # kept for stores with an index config; the planner decides
        )
    ]
    assert len(second) == 2
    notices = [r for r in caplog.records if "query is ignored" in r.getMessage()]
    assert len(notices) == 1
    assert notices[0].levelno == logging.DEBUG


STR_NAMESPACES_STILL_REFUSED: list[tuple[Any, str]] = [
    (PutOp("docs", "k", {}), "namespace"),  # type: ignore[arg-type]
    (GetOp("docs", "k"), "namespace"),  # type: ignore[arg-type]
    (SearchOp("docs"), "namespace_prefix"),  # type: ignore[arg-type]
    (
        ListNamespacesOp(match_conditions=(MatchCondition("suffix", ""),)),  # type: ignore[arg-type]
        "match_conditions[0].path[0]",
    ),
    (
        ListNamespacesOp(match_conditions=(MatchCondition("suffix", "a.b"),)),  # type: ignore[arg-type]
        "match_conditions[0].path[0]",
    ),
]


def test_a_str_is_a_one_label_path_only_in_match_conditions() -> None:
    from scyllabatch._impl import codec

    (listing,) = validate_ops(
        [
            ListNamespacesOp(
                match_conditions=(
                    MatchCondition("suffix", "docs"),  # type: ignore[arg-type]
                    MatchCondition("prefix", "*"),  # type: ignore[arg-type]
                )
            )
        ],
        codec,
    )
    assert isinstance(listing, ListRead)
    assert listing.suffixes == (("docs",),)
    assert listing.prefixes == (("*",),)
    # A namespace is never split into one-letter labels; a str path is still one checked label.
    for op, field in STR_NAMESPACES_STILL_REFUSED:
        error = refused([op], codec)
        assert (error.op_index, error.field) == (0, field), op


# -- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["select", "table", "keyspace", "from", "search", "default"])
def test_reserved_keyspace_names_are_refused_at_construction(name: str) -> None:
    with pytest.raises(StoreValidationError, match="reserved") as info:
        StoreConfig(keyspace=name)
    assert info.value.field == "keyspace"
    assert f"{name}_store" in str(info.value)
    assert StoreConfig(keyspace=f"{name}_store").keyspace == f"{name}_store"


def test_reserved_words_cover_the_drivers_list() -> None:
    metadata = pytest.importorskip("cassandra.metadata")
    assert set(metadata.cql_keywords_reserved) <= RESERVED_WORDS


@pytest.mark.parametrize(("name", "suggestion"), [("MixedCase", "mixedcase"), ("APP_1", "app_1")])
def test_upper_case_keyspace_names_are_refused_with_the_lower_case_spelling(
    name: str, suggestion: str
) -> None:
    with pytest.raises(StoreValidationError, match=f"use '{suggestion}'") as info:
        StoreConfig(keyspace=name)
    assert info.value.field == "keyspace"


@pytest.mark.parametrize("name", ["", "1abc", "_x", "a-b", "a" * 49, "ünï", "a b"])
def test_malformed_keyspace_names_are_refused(name: str) -> None:
    with pytest.raises(StoreValidationError, match="lower-case letter"):
        StoreConfig(keyspace=name)


@pytest.mark.parametrize(
    ("replication", "problem"),
    [
        ({"class": "SimpleStrategy", "replication_factor": "1'"}, "quotes"),
        ({"class": "Simple'Strategy"}, "quotes"),
        ({"class": "NetworkTopologyStrategy", "dc'1": 3}, "quotes"),
        ({"class": "SimpleStrategy", "replication_factor": "1\\"}, "backslashes"),
        ({"class": "SimpleStrategy", "replication_factor": "1\n"}, "control"),
        ({"class": "SimpleStrategy", "replication_factor": ""}, "empty"),
        ({"class": "SimpleStrategy", "replication_factor": True}, "str or an int"),
        ({"class": "SimpleStrategy", "replication_factor": 1.5}, "str or an int"),
        ({"class": "SimpleStrategy", 3: 1}, "non-empty str"),
        ({"replication_factor": 1}, "'class'"),
        ("SimpleStrategy", "mapping"),
    ],
)
def test_bad_replication_is_refused_at_construction(replication: Any, problem: str) -> None:
    with pytest.raises(StoreValidationError, match="replication") as info:
        StoreConfig(replication=replication)
    assert info.value.field == "replication"
    assert problem in str(info.value)


def test_replication_changed_after_construction_is_still_refused() -> None:
    config = StoreConfig(replication={"class": "NetworkTopologyStrategy", "dc1": 3, "dc_2": "2"})
    assert schema.keyspace_cql("app", config.replication) == (
        "CREATE KEYSPACE IF NOT EXISTS app WITH replication = "
        "{'class': 'NetworkTopologyStrategy', 'dc1': '3', 'dc_2': '2'}"
    )
    config.replication["class"] = "x'); DROP KEYSPACE y; --"  # type: ignore[index]
    with pytest.raises(StoreValidationError, match="quotes"):
        schema.keyspace_cql("app", config.replication)


# -- schema comparison -------------------------------------------------------------------------


def our_columns(table: str) -> dict[str, tuple[str, str]]:
    return {c.name: (c.kind, c.type) for c in schema.TABLES[table]}


def test_our_own_tables_have_no_differences() -> None:
    for table in schema.TABLES:
        assert schema.schema_differences(table, our_columns(table)) == []


def test_extra_regular_columns_are_tolerated_extra_key_columns_are_not() -> None:
    columns = our_columns(schema.ITEMS) | {"note": ("regular", "text")}
    assert schema.schema_differences(schema.ITEMS, columns) == []
    columns["version"] = ("clustering", "int")
    assert schema.schema_differences(schema.ITEMS, columns) == [
        "column 'version' (int) is an extra clustering column"
    ]


def test_differences_name_each_column() -> None:
    columns = our_columns(schema.ITEMS)
    del columns["ttl"]
    columns["value"] = ("regular", "text")
    columns["key"] = ("regular", "text")
    assert schema.schema_differences(schema.ITEMS, columns) == [
        "column 'key' is a regular column, expected a clustering column",
        "column 'value' is text, expected blob",
        "column 'ttl' (int) is missing",
    ]
