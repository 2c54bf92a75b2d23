"""Search and listing logic without a database: registry ranges, readers, filters, registration.

The readers are state machines; these tests feed them synthetic pages the way the engine does.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from scyllabatch import (
    BatchLimits,
    BatchType,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    RetryPolicy,
    SearchOp,
    StoreError,
)
from scyllabatch._core.engine import CallContext, run_call
from scyllabatch._core.filters import FilterError, compile_filter, matches
from scyllabatch._core.planner import plan_call, write_requests
from scyllabatch._core.reads import (
    MAX_ACTIVE_PROBES,
    MAX_ACTIVE_SCANS,
    ListReader,
    RegistryWalk,
    SearchReader,
    _concrete_prefix,
    _matches_pattern,
    registry_requests,
)
from scyllabatch._core.requests import Execute, Failure, Request, Rows
from scyllabatch._core.retry import ErrorKind
from scyllabatch._core.schema import ROOT_BUCKETS, Statement, root_bucket
from scyllabatch._core.validation import ListRead, SearchRead, validate_ops
from scyllabatch._impl import codec, writes

# -- registry ranges ----------------------------------------------------------------------------

STATEMENT_IDS = {Statement.UPSERT: b"upsert-id", Statement.DELETE: b"delete-id"}


def in_range(name: str, low: str, high: str) -> bool:
    """CQL compares text clustering columns by UTF-8 bytes."""
    return low.encode() <= name.encode() < high.encode()


def test_registry_requests_per_prefix_length() -> None:
    roots = registry_requests((), 0, 50)
    assert [r.queries[0].statement for r in roots] == [Statement.LIST_ROOTS] * ROOT_BUCKETS
    assert sorted(r.queries[0].params for r in roots) == [(b,) for b in range(ROOT_BUCKETS)]
    assert all(r.fetch_size == 50 for r in roots)
    (under,) = registry_requests(("tenant",), 3, 50)
    assert under.queries[0].statement is Statement.LIST_UNDER_ROOT
    assert under.queries[0].params == ("tenant",)
    assert under.op_indices == (3,)
    ranges = registry_requests(("tenant", "acme"), 0, 50)
    assert [r.queries[0].statement for r in ranges] == [Statement.LIST_RANGE] * 2
    assert all(r.queries[0].params[0] == "tenant" for r in ranges)
    assert not any(r.is_write for r in ranges)


@pytest.mark.parametrize(
    ("name", "included"),
    [
        ("tenant.acme", True),
        ("tenant.acme.users", True),
        ("tenant.acme.users.deep", True),
        ("tenant.acme-corp", False),
        ("tenant.acme-corp.users", False),
        ("tenant.acmecorp", False),
        ("tenant.acm", False),
        ("tenant.acme/x", False),
        ("tenant.acme\u00e9", False),
        ("tenant.acme.\u00e9", True),
    ],
)
def test_prefix_ranges_match_whole_labels(name: str, included: bool) -> None:
    ranges = [r.queries[0].params for r in registry_requests(("tenant", "acme"), 0, 10)]
    assert any(in_range(name, low, high) for _, low, high in ranges) is included


@pytest.mark.parametrize(
    ("prefixes", "expected"),
    [
        ((), ()),
        ((("a", "b"),), ("a", "b")),
        ((("a", "*", "c"),), ("a",)),
        ((("*", "b"),), ()),
        ((("a",), ("a", "b", "*")), ("a", "b")),
        ((("a", "*"), ("*", "c")), ("a",)),
        ((("a", "b"), ("a", "c")), None),
        ((("x",), ("y", "*")), None),
    ],
)
def test_concrete_prefix(prefixes: tuple[tuple[str, ...], ...], expected: Any) -> None:
    op = ListRead(index=0, prefixes=prefixes, suffixes=(), max_depth=None, limit=10, offset=0)
    assert _concrete_prefix(op) == expected


@pytest.mark.parametrize(
    ("namespace", "pattern", "suffix", "expected"),
    [
        (("a", "b", "c"), ("a", "b"), False, True),
        (("a", "b", "c"), ("a", "*", "c"), False, True),
        (("a", "b"), ("a", "*", "c"), False, False),
        (("a", "b", "c"), ("b", "c"), True, True),
        (("a", "b", "c"), ("*", "c"), True, True),
        (("a", "b", "c"), ("*", "b"), True, False),
        (("c",), ("*", "c"), True, False),
        (("a",), (), False, True),
    ],
)
def test_match_pattern(
    namespace: tuple[str, ...], pattern: tuple[str, ...], suffix: bool, expected: bool
) -> None:
    assert _matches_pattern(namespace, pattern, suffix) is expected


# -- SearchReader --------------------------------------------------------------------------------


def search_read(
    prefix: tuple[str, ...] = ("a",),
    limit: int = 10,
    offset: int = 0,
    filter_: dict[str, Any] | None = None,
) -> SearchRead:
    (op,) = validate_ops([SearchOp(prefix, filter_, limit, offset)], codec)
    assert isinstance(op, SearchRead)
    return op


def item_row(key: str, updated: int, value: dict[str, Any] | None = None) -> tuple[Any, ...]:
    blob = codec.encode(value if value is not None else {"key": key})
    return (key, blob, updated - 5, updated, None, updated)


def registry_page(names: list[str]) -> Rows:
    return Rows(rows=[(name,) for name in names])


def scans(requests: list[Request]) -> list[Request]:
    return [r for r in requests if r.queries[0].statement is Statement.SCAN_PARTITION]


def test_search_keeps_only_the_best_candidates_across_pages() -> None:
    reader = SearchReader(search_read(limit=3, offset=2), codec, page_size=4)
    (walk,) = reader.start()
    (scan,) = scans(reader.feed(walk, registry_page(["a.x"])))
    assert scan.fetch_size == 4
    stamps = list(range(100, 140))
    for start in range(0, len(stamps), 4):
        rows = [item_row(f"k{t}", t) for t in stamps[start : start + 4]]
        last = start + 4 >= len(stamps)
        follow = reader.feed(scan, Rows(rows=rows, paging_state=None if last else b"p"))
        assert len(reader.best) <= 2 * 5  # 2 x (offset + limit)
        if not last:
            assert [r.paging_state for r in follow] == [b"p"]
            scan = follow[0]
    items, stored = reader.results()
    assert [i.key for i in items] == ["k137", "k136", "k135"]
    assert [s.key for s in stored] == ["k137", "k136", "k135"]
    assert items[0].value == {"key": "k137"}
    assert items[0].namespace == ("a", "x")
    assert reader.rows_read == 40


@pytest.mark.parametrize(("limit", "offset"), [(10, 0), (5, 50), (7, 290), (400, 0)])
def test_search_matches_a_full_sort_over_many_pages(limit: int, offset: int) -> None:
    rng = random.Random(limit * 1000 + offset)
    names = [f"a.p{i}" for i in range(3)]
    rows = {n: [item_row(f"k{i:03d}", rng.randrange(50)) for i in range(100)] for n in names}
    reader = SearchReader(search_read(limit=limit, offset=offset), codec, page_size=7)
    (walk,) = reader.start()
    pending = scans(reader.feed(walk, registry_page(names)))
    while pending:
        request = pending.pop(0)
        name = request.queries[0].params[0]
        start = int(request.paging_state or b"0")
        chunk = rows[name][start : start + 7]
        more = str(start + 7).encode() if start + 7 < len(rows[name]) else None
        pending.extend(reader.feed(request, Rows(rows=chunk, paging_state=more)))
        assert len(reader.best) <= 2 * (limit + offset) + 7
    expected = sorted((-r[3], n, r[0]) for n in names for r in rows[n])
    items, _ = reader.results()
    assert [(i.namespace, i.key) for i in items] == [
        (tuple(n.split(".")), k) for _, n, k in expected[offset : offset + limit]
    ]


def test_search_ties_break_by_namespace_then_key() -> None:
    reader = SearchReader(search_read(), codec, page_size=100)
    (walk,) = reader.start()
    first, second = scans(reader.feed(walk, registry_page(["a.y", "a.x"])))
    reader.feed(first, Rows(rows=[item_row("b", 7), item_row("a", 7), item_row("old", 1)]))
    reader.feed(second, Rows(rows=[item_row("z", 7)]))
    items, _ = reader.results()
    assert [(i.namespace, i.key) for i in items] == [
        (("a", "x"), "z"),
        (("a", "y"), "a"),
        (("a", "y"), "b"),
        (("a", "y"), "old"),
    ]


def test_search_filter_decodes_pages_and_skips_non_matching() -> None:
    reader = SearchReader(search_read(filter_={"n": {"$gt": 1}}), codec, page_size=100)
    (walk,) = reader.start()
    (scan,) = scans(reader.feed(walk, registry_page(["a"])))
    reader.feed(
        scan,
        Rows(
            rows=[
                item_row("one", 1, {"n": 1}),
                item_row("two", 2, {"n": 2}),
                item_row("str", 3, {"n": "3"}),
                ("novalue", None, 0, 4, None, 4),
            ]
        ),
    )
    items, _ = reader.results()
    assert [(i.key, i.value) for i in items] == [("two", {"n": 2})]


def test_search_corrupt_value_is_a_clear_error() -> None:
    reader = SearchReader(search_read(filter_={"n": 1}), codec, page_size=100)
    (walk,) = reader.start()
    (scan,) = scans(reader.feed(walk, registry_page(["a"])))
    with pytest.raises(StoreError, match="'bad'"):
        reader.feed(scan, Rows(rows=[item_row("ok", 1), ("bad", b"\xc1", 0, 2, None, 2)]))


def test_search_bounds_concurrent_scans() -> None:
    reader = SearchReader(search_read(()), codec, page_size=100)
    roots, *others = reader.start()
    assert roots.queries[0].statement is Statement.LIST_ROOTS
    assert all(not reader.feed(other, Rows(rows=[])) for other in others)
    (under,) = reader.feed(roots, Rows(rows=[("a",)]))
    names = [f"a.n{i}" for i in range(MAX_ACTIVE_SCANS + 5)]
    launched = scans(reader.feed(under, registry_page(names)))
    assert len(launched) == MAX_ACTIVE_SCANS
    more = reader.feed(launched[0], Rows(rows=[]))
    assert [r.queries[0].params for r in more] == [(f"a.n{MAX_ACTIVE_SCANS}",)]
    paged = reader.feed(launched[1], Rows(rows=[], paging_state=b"next"))
    assert [r.paging_state for r in paged] == [b"next"]  # same scan continues, no new one


def test_search_limit_zero_sends_nothing() -> None:
    assert SearchReader(search_read(limit=0, offset=5), codec, 100).start() == []


# -- ListReader ----------------------------------------------------------------------------------


def list_read(
    prefix: tuple[str, ...] | None = None,
    suffix: tuple[str, ...] | None = None,
    max_depth: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> ListRead:
    conditions = []
    if prefix is not None:
        conditions.append(MatchCondition("prefix", prefix))
    if suffix is not None:
        conditions.append(MatchCondition("suffix", suffix))
    (op,) = validate_ops([ListNamespacesOp(tuple(conditions), max_depth, limit, offset)], codec)
    assert isinstance(op, ListRead)
    return op


def probes(requests: list[Request]) -> list[str]:
    assert all(r.queries[0].statement is Statement.PROBE_PARTITION for r in requests)
    return [r.queries[0].params[0] for r in requests]


def run_listing(reader: ListReader, registry: dict[str, list[str]], live: set[str]) -> int:
    """Answer every request like a node would; return the number of probes sent."""
    pending = reader.start()
    sent = 0
    while pending:
        request = pending.pop(0)
        statement = request.queries[0].statement
        if statement is Statement.LIST_ROOTS:
            bucket = request.queries[0].params[0]
            page = Rows(rows=[(root,) for root in sorted(registry) if root_bucket(root) == bucket])
        elif statement is Statement.LIST_UNDER_ROOT:
            page = registry_page(sorted(registry[request.queries[0].params[0]]))
        elif statement is Statement.LIST_RANGE:
            root, low, high = request.queries[0].params
            page = registry_page([n for n in sorted(registry[root]) if in_range(n, low, high)])
        else:
            sent += 1
            page = Rows(rows=[("k",)] if request.queries[0].params[0] in live else [])
        pending.extend(reader.feed(request, page))
    return sent


def test_listing_probes_in_order_and_stops_when_enough_are_live() -> None:
    names = [f"app.u{i:03d}" for i in range(200)]
    reader = ListReader(list_read(limit=10), page_size=1000)
    assert run_listing(reader, {"app": names}, set(names)) == 10
    assert reader.results() == [("app", f"u{i:03d}") for i in range(10)]
    reader = ListReader(list_read(limit=10, offset=185), page_size=1000)
    assert run_listing(reader, {"app": names}, set(names)) == 195
    assert reader.results() == [("app", f"u{i:03d}") for i in range(185, 195)]


def test_listing_skips_dead_namespaces_and_tries_the_rest_of_a_group() -> None:
    registry = {"a": ["a.b.c", "a.b.d.e", "a.b.d.i", "a.b.f", "a.c.f"], "z": ["z"]}
    live = {"a.b.d.e", "a.c.f", "z"}
    reader = ListReader(list_read(max_depth=2), page_size=1000)
    run_listing(reader, registry, live)
    assert reader.results() == [("a", "b"), ("a", "c"), ("z",)]
    reader = ListReader(list_read(prefix=("a", "b"), max_depth=3), page_size=1000)
    run_listing(reader, registry, live)
    assert reader.results() == [("a", "b", "d")]
    reader = ListReader(list_read(suffix=("f",)), page_size=1000)
    assert run_listing(reader, registry, live) == 2
    assert reader.results() == [("a", "c", "f")]
    reader = ListReader(list_read(limit=2), page_size=1000)
    run_listing(reader, registry, set())
    assert reader.results() == []


def test_listing_probes_are_bounded_in_flight() -> None:
    names = [f"r.n{i:03d}" for i in range(100)]
    reader = ListReader(list_read(), page_size=1000)
    walk, *others = reader.start()
    assert all(not reader.feed(other, Rows(rows=[])) for other in others)
    (under,) = reader.feed(walk, Rows(rows=[("r",)]))
    first = probes(reader.feed(under, registry_page(names)))
    assert len(first) == MAX_ACTIVE_PROBES
    assert first == sorted(first)


def test_a_root_found_in_two_buckets_is_walked_once() -> None:
    # Older versions put every root in bucket 0; the same root may also sit in its own bucket.
    walk = RegistryWalk((), 0, 100)
    first, second, *_ = walk.start()
    follow, _ = walk.feed(first, Rows(rows=[("r",), ("s",)]))
    assert [r.queries[0].params for r in follow] == [("r",), ("s",)]
    follow, _ = walk.feed(second, Rows(rows=[("r",), ("t",)]))
    assert [r.queries[0].params for r in follow] == [("t",)]


def test_listing_walk_follows_registry_pages() -> None:
    reader = ListReader(list_read(prefix=("a",)), page_size=2)
    (walk,) = reader.start()
    follow = reader.feed(walk, Rows(rows=[("a.x",), ("a.y",)], paging_state=b"more"))
    assert [r.paging_state for r in follow] == [b"more"]  # no probe before the walk ends
    tail = probes(reader.feed(follow[0], Rows(rows=[("a.z",)])))
    assert tail == ["a.x", "a.y", "a.z"]


def test_listing_that_cannot_match_or_has_limit_zero_sends_nothing() -> None:
    op = list_read()
    impossible = ListRead(
        index=0,
        prefixes=(("a",), ("b",)),
        suffixes=(),
        max_depth=None,
        limit=10,
        offset=0,
    )
    assert ListReader(impossible, 100).start() == []
    assert ListReader(impossible, 100).results() == []
    assert ListReader(list_read(limit=0), 100).start() == []
    assert ListReader(op, 100).start() != []


# -- filters -------------------------------------------------------------------------------------

VALUE = {
    "n": 10,
    "s": "abc",
    "meta": {"author": "ann", "year": 2020, "tags": ["x", "y"], "empty": {}},
    "flag": True,
    "none": None,
}


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"meta": {"author": "ann"}}, True),  # LangGraph's nested form: containment
        ({"meta": {"author": "bob"}}, False),
        ({"meta": {"author": "ann", "year": {"$gte": 2020}}}, True),
        ({"meta": {"year": {"$lt": 2020}}}, False),
        ({"meta": {"missing": {"$ne": 1}}}, True),
        ({"meta": {}}, True),  # any dict
        ({"s": {}}, False),
        ({"meta": {"empty": {}}}, True),
        ({"meta": {"$eq": {"author": "ann"}}}, False),  # $eq is exact
        ({"meta.tags": ("x", "y")}, True),  # tuples equal lists
        ({"meta": {"tags": ["x", "y"]}}, True),
        ({"meta.tags": ["x"]}, False),
        ({"meta.tags": {"$ne": ["y", "x"]}}, True),
        ({"n": 10.0}, True),
        ({"n": {"$eq": 10}}, True),
        ({"flag": 1}, False),
        ({"flag": {"$ne": 1}}, True),
        ({"none": None}, True),
        ({"missing": None}, False),
        ({"none": {"$ne": None}}, False),
        ({"n": {"$gt": float("nan")}}, False),
        ({"s": {"$gte": "abc", "$lt": "abd"}}, True),
    ],
)
def test_filter_semantics(filter_: dict[str, Any], expected: bool) -> None:
    assert matches(VALUE, compile_filter(filter_)) is expected


@pytest.mark.parametrize(
    "filter_",
    [
        {"meta": {"": 1}},
        {"meta": {"author": {"$like": "a"}}},
        {"meta": {"year": {"$gt": None}}},
        {"meta": {"a": 1, "$eq": 2}},
        {"a..b": 1},
    ],
)
def test_bad_nested_filters(filter_: dict[str, Any]) -> None:
    with pytest.raises(FilterError):
        compile_filter(filter_)


def test_filter_nesting_is_limited() -> None:
    deep: dict[str, Any] = {"x": 1}
    for _ in range(40):
        deep = {"d": deep}
    with pytest.raises(FilterError, match="nested"):
        compile_filter(deep)


# -- namespace registration ----------------------------------------------------------------------


def write_plan(ops: list[Any]) -> Any:
    return plan_call(validate_ops(ops, codec), BatchType.UNLOGGED, 1_000, BatchLimits(), codec, 100)


def test_registry_requests_are_chunked_and_cover_every_new_namespace() -> None:
    ops = [PutOp(("r", f"n{i:03d}"), "k", {"i": i}) for i in range(120)]
    ops += [PutOp(("s",), "k", {}), PutOp(("gone",), "k", None)]
    plan = write_plan(ops)
    _, registry = write_requests(plan, {}, [], {"r.n000"}, BatchLimits(), STATEMENT_IDS, writes)
    assert all(r.internal and r.is_write for r, _ in registry)
    rows = [q for r, _ in registry for q in r.queries]
    names = [q.params[1] for q in rows if q.statement is Statement.REGISTER_NAMESPACE]
    assert names == [f"r.n{i:03d}" for i in range(1, 120)] + ["s"]
    roots = {q.params for q in rows if q.statement is Statement.REGISTER_ROOT}
    assert {(root, bucket) for bucket, root, _ in roots} == {
        ("r", root_bucket("r")),
        ("s", root_bucket("s")),
    }
    for request, needing in registry:
        assert len(request.queries) <= BatchLimits().warn_ops
        for query in request.queries:  # every row's namespaces are paired with its request
            if query.statement is Statement.REGISTER_NAMESPACE:
                assert query.params[1] in needing
                assert query.params[0] == query.params[1].split(".")[0]
            else:
                root = query.params[1]
                assert {n for n in needing if n.split(".")[0] == root} == {
                    n for n in names if n.split(".")[0] == root
                }
    # Without a replica grouping every partition is its own group: one request per partition
    # ("r" split by count), never one per namespace.
    assert len(registry) == 2 + 3 + 1  # two roots buckets (or one) + "r" in 3 + "s"


def test_registry_rows_of_one_replica_group_share_requests() -> None:
    # 100 new single-label namespaces, all on the same replicas (RF = nodes): as few requests
    # as the partition limit allows, not one per namespace.
    ops = [PutOp((f"tenant{i:03d}",), "k", {"i": i}) for i in range(100)]
    plan = plan_call(
        validate_ops(ops, codec),
        BatchType.UNLOGGED,
        1_000,
        BatchLimits(),
        codec,
        100,
        lambda key: "everyone",
    )
    _, registry = write_requests(plan, {}, [], set(), BatchLimits(), STATEMENT_IDS, writes)
    data = write_requests(plan, {}, [], set(), BatchLimits(), STATEMENT_IDS, writes)[0]
    root_buckets = {root_bucket(f"tenant{i:03d}") for i in range(100)}
    rows = 100 + len(root_buckets)
    assert len(data) == 1  # 100 single-op partitions of one replica group: one batch
    # registry rows go at most 50 to a batch (the warn threshold), grouped like the data: a few
    # requests, not one per namespace
    assert -(-rows // BatchLimits().warn_ops) <= len(registry) <= 5
    assert all(len(r.queries) <= BatchLimits().warn_ops for r, _ in registry)


def drive_registration(
    registered: set[str], fail: bool
) -> tuple[list[Request], BaseException | None]:
    plan = write_plan([PutOp(("t", "a"), "k", {"v": 1}), PutOp(("t", "b"), "k", {"v": 2})])
    ctx = CallContext(
        retry=RetryPolicy(max_retries=0),
        limits=BatchLimits(),
        codec=codec,
        writes=writes,
        statement_ids=STATEMENT_IDS,
        registered=registered,
        random_unit=lambda: 0.5,
    )
    engine = run_call(plan, ctx)
    sent: list[Request] = []
    try:
        command = next(engine)
        while True:
            assert isinstance(command, Execute)
            outcomes: list[Any] = []
            for request in command.requests:
                sent.append(request)
                registry = (
                    bool(request.queries)
                    and request.queries[0].statement is Statement.REGISTER_ROOT
                )
                if fail and registry:
                    outcomes.append(Failure(ErrorKind.WRITE_FAILURE, RuntimeError("boom")))
                else:
                    outcomes.append(Rows())
            command = engine.send(outcomes)
    except StopIteration:
        return sent, None
    except StoreError as exc:
        return sent, exc


def test_namespaces_are_remembered_only_once_registered_with_their_root() -> None:
    registered: set[str] = set()
    sent, error = drive_registration(registered, fail=True)
    assert error is not None
    assert registered == set()
    sent, error = drive_registration(registered, fail=False)
    assert error is None
    assert registered == {"t.a", "t.b"}
    rows = [q.params[1] for r in sent if r.internal for q in r.queries]
    assert sorted(rows) == ["t", "t.a", "t.b"]
    sent, _ = drive_registration(registered, fail=False)
    assert not [r for r in sent if r.internal]


def test_a_failed_namespace_row_keeps_it_unregistered_though_its_root_succeeded() -> None:
    plan = write_plan([PutOp(("u", "a"), "k", {"v": 1})])
    registered: set[str] = set()
    ctx = CallContext(
        retry=RetryPolicy(max_retries=0),
        limits=BatchLimits(),
        codec=codec,
        writes=writes,
        statement_ids=STATEMENT_IDS,
        registered=registered,
        random_unit=lambda: 0.5,
    )
    engine = run_call(plan, ctx)

    def play() -> None:
        command = next(engine)
        while True:
            assert isinstance(command, Execute)
            command = engine.send(
                [
                    Failure(ErrorKind.UNAVAILABLE, RuntimeError("no"))
                    if r.queries and r.queries[0].statement is Statement.REGISTER_NAMESPACE
                    else Rows()
                    for r in command.requests
                ]
            )

    with pytest.raises(StoreError):
        play()
    assert registered == set()
