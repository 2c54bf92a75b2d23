"""Random op lists against the real node, with both codec twins.

Property: a call holding a bad op fails with a :class:`StoreError` (a validation error naming
one of the bad ops) before any request is sent, and nothing is written. A call of good ops only
succeeds, so the "good" strategy really is good and the first property is not vacuous.
Requests are counted by a session wrapper; the database still decides everything else.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scyllabatch._base
from scyllabatch import (
    BatchType,
    GetOp,
    Item,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchOp,
    Store,
    StoreConfig,
    StoreError,
    StoreValidationError,
)
from scyllabatch._core.validation import MAX_KEY_BYTES, MAX_LABEL_BYTES, MAX_NAMESPACE_BYTES
from tests.integration.counting import CountingSession, stored_rows
from tests.speedups.conftest import TWINS, load_twin

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def op(cls: Any, *fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``cls(*drawn fields)``; fields not given keep their defaults (nothing is inferred)."""
    return st.tuples(*fields).map(lambda drawn: cls(*drawn))


# -- good inputs -------------------------------------------------------------------------------

# Any text but lone surrogates; labels also exclude the separator. Control characters included.
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)
labels = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="."), min_size=1, max_size=6
)
namespaces = st.tuples(st.just("fz"), labels) | st.tuples(st.just("fz"), labels, labels)
keys = text
leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | text
    | st.binary(max_size=8)
)
values = st.dictionaries(
    text, st.recursive(leaves, lambda inner: st.lists(inner, max_size=3), max_leaves=6), max_size=4
)
ttls = st.none() | st.floats(min_value=0.5, max_value=60) | st.integers(min_value=1, max_value=60)
filters = st.none() | st.dictionaries(
    st.sampled_from(["a", "b.c"]),
    st.integers() | st.fixed_dictionaries({"$gt": st.integers()}),
    max_size=2,
)
patterns = st.lists(labels | st.just("*"), max_size=3).map(tuple) | labels

good_ops = st.one_of(
    op(PutOp, namespaces, keys, values | st.none(), st.none(), ttls),
    op(GetOp, namespaces, keys, st.booleans()),
    op(
        SearchOp,
        namespaces | st.just(("fz",)),
        filters,
        st.integers(0, 5),
        st.integers(0, 3),
        st.none() | text,
        st.booleans(),
    ),
    op(
        ListNamespacesOp,
        st.none()
        | st.lists(
            op(MatchCondition, st.sampled_from(["prefix", "suffix"]), patterns), max_size=2
        ).map(tuple),
        st.none() | st.integers(1, 3),
        st.integers(0, 5),
        st.integers(0, 3),
    ),
)

# -- bad inputs: each op below has exactly one field that cannot be accepted ---------------------

huge = ("n" * 1024,) * (MAX_NAMESPACE_BYTES // 1025 + 1)
bad_namespaces = st.sampled_from(
    [(), "fz", ("a.b",), ("",), ("fz", 3), ("fz", "a\ud800"), ("x" * (MAX_LABEL_BYTES + 1),), huge]
)
bad_keys = st.sampled_from([None, 5, b"k", "k\udfff", "k" * (MAX_KEY_BYTES + 1)])
bad_values = st.sampled_from(
    ["text", [1], {"x": object()}, {1: "int key"}, {"s": "\ud800"}, {"set": {1, 2}}]
)
bad_ttls = st.sampled_from([0, 0.0, -1, math.nan, math.inf, 1e308, 10**400, "5", True])
bad_patterns = st.sampled_from([("a.b",), ("",), (None,), ("a\ud800",), "", huge])

bad_ops = st.one_of(
    op(PutOp, bad_namespaces, keys, values),
    op(PutOp, namespaces, bad_keys, values | st.none()),
    op(PutOp, namespaces, keys, bad_values),
    op(PutOp, namespaces, keys, values | st.none(), st.none(), bad_ttls),
    op(PutOp, namespaces, keys, values, st.just("yes")),
    op(GetOp, bad_namespaces, keys),
    op(GetOp, namespaces, bad_keys),
    op(GetOp, namespaces, keys, st.sampled_from(["no", 1, None])),
    op(SearchOp, bad_namespaces.filter(lambda ns: ns != ())),
    op(SearchOp, namespaces, st.just({"a": {"$regex": "x"}})),
    op(SearchOp, namespaces, filters, st.sampled_from([-1, 1.5, "3"])),
    op(SearchOp, namespaces, filters, st.just(10), st.just(-1)),
    op(SearchOp, namespaces, filters, st.just(10), st.just(0), st.sampled_from([5, b"q"])),
    op(
        ListNamespacesOp,
        op(MatchCondition, st.sampled_from(["prefix", "suffix"]), bad_patterns).map(lambda c: (c,)),
    ),
    op(ListNamespacesOp, st.just((MatchCondition("middle", ("a",)),))),  # type: ignore[arg-type]
    op(ListNamespacesOp, st.none(), st.sampled_from([0, -1, "2"])),
    op(ListNamespacesOp, st.none(), st.none(), st.just(-1)),
    st.sampled_from([{"namespace": ("fz",)}, None, ("fz", "k")]),
)


@st.composite
def lists_with_bad_ops(draw: st.DrawFn) -> tuple[list[Any], set[int]]:
    """Good ops with one or more bad ops at random places; returns the bad indices too."""
    ops: list[Any] = draw(st.lists(good_ops, max_size=6))
    bad: list[Any] = draw(st.lists(bad_ops, min_size=1, max_size=2))
    for op in bad:
        ops.insert(draw(st.integers(0, len(ops))), op)
    return ops, {i for i, op in enumerate(ops) if any(op is b for b in bad)}


@pytest.fixture(params=TWINS)
def twin(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the stores of the test with one codec twin (compiled or pure Python)."""
    monkeypatch.setattr(scyllabatch._base, "codec", load_twin(request.param, "codec"))
    return request.param


def counting_store(cql_session: Any, keyspace: str) -> tuple[Store, CountingSession]:
    counting = CountingSession(cql_session)
    store = Store(counting, config=StoreConfig(keyspace=keyspace))
    store.setup()
    return store, counting


def test_a_call_with_a_bad_op_sends_nothing_and_writes_nothing(
    twin: str, cql_session: Any, keyspace: str
) -> None:
    store, counting = counting_store(cql_session, keyspace)

    @FUZZ
    @given(lists_with_bad_ops(), st.sampled_from(list(BatchType)))
    def check(case: tuple[list[Any], set[int]], batch_type: BatchType) -> None:
        ops, bad = case
        counting.requests = 0
        with pytest.raises(StoreError) as info:
            store.batch(ops, batch_type=batch_type)
        assert isinstance(info.value, StoreValidationError)
        assert info.value.op_index in bad
        assert f"op {info.value.op_index}" in str(info.value)
        assert counting.requests == 0

    check()
    assert stored_rows(cql_session, keyspace) == 0


def test_a_call_of_good_ops_succeeds(twin: str, cql_session: Any, keyspace: str) -> None:
    store, _ = counting_store(cql_session, keyspace)

    @settings(FUZZ, max_examples=60)
    @given(st.lists(good_ops, max_size=6), st.sampled_from(list(BatchType)))
    def check(ops: list[Any], batch_type: BatchType) -> None:
        results = store.batch(ops, batch_type=batch_type)
        assert len(results) == len(ops)
        for op, result in zip(ops, results, strict=True):
            if isinstance(op, PutOp):
                assert result is None
            elif isinstance(op, GetOp):
                assert result is None or isinstance(result, Item)
            else:
                assert isinstance(result, list)

    check()
