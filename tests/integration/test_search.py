"""Search and namespace listing (issue 4) against the real node, over both facades.

Neither path may scan whole tables: a prefix becomes clustering ranges of the namespace registry,
items are read partition by partition with paging, and listings probe one row per candidate.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import pytest

from scyllabatch import (
    GetOp,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchItem,
    SearchOp,
    StoreValidationError,
)
from scyllabatch._core.schema import ROOT_BUCKETS
from tests.conftest import async_wait_until
from tests.integration.conftest import Facade
from tests.lifetime import assert_refreshes_ttl

LANGGRAPH_NAMESPACES = [
    ("a", "b", "c"),
    ("a", "b", "d", "e"),
    ("a", "b", "d", "i"),
    ("a", "b", "f"),
    ("a", "c", "f"),
]


async def put_each(facade: Facade, namespaces: Sequence[tuple[str, ...]], key: str = "k") -> None:
    await facade.batch([PutOp(ns, key, {"ns": list(ns)}) for ns in namespaces])


def keys(items: list[SearchItem]) -> list[tuple[tuple[str, ...], str]]:
    return [(item.namespace, item.key) for item in items]


def registry(cql_session: Any, keyspace: str) -> list[str]:
    return sorted(r[0] for r in cql_session.execute(f"SELECT namespace FROM {keyspace}.namespaces"))


def read_stats(facade: Facade) -> tuple[int, int]:
    stats = facade.store.get_metrics()["batch_stats"]
    return stats["read_requests"], stats["rows_read"]


# -- listing: LangGraph's documented behaviour --------------------------------------------------


async def test_langgraph_documented_example(facade: Facade) -> None:
    await put_each(facade, LANGGRAPH_NAMESPACES)
    assert await facade.list_namespaces(prefix=("a", "b"), max_depth=3) == [
        ("a", "b", "c"),
        ("a", "b", "d"),
        ("a", "b", "f"),
    ]
    assert await facade.list_namespaces() == sorted(LANGGRAPH_NAMESPACES)
    assert await facade.list_namespaces(max_depth=2) == [("a", "b"), ("a", "c")]
    assert await facade.list_namespaces(max_depth=1) == [("a",)]
    # The same through a raw op, as LangGraph builds it.
    op = ListNamespacesOp(
        match_conditions=(MatchCondition("prefix", ("a", "b")),), max_depth=3, limit=100
    )
    assert (await facade.batch([op]))[0] == [("a", "b", "c"), ("a", "b", "d"), ("a", "b", "f")]


async def test_listing_suffix_and_wildcards(facade: Facade) -> None:
    await put_each(facade, [*LANGGRAPH_NAMESPACES, ("x", "b", "f"), ("a", "b")])
    assert await facade.list_namespaces(suffix=("f",)) == [
        ("a", "b", "f"),
        ("a", "c", "f"),
        ("x", "b", "f"),
    ]
    assert await facade.list_namespaces(suffix=("b", "f")) == [("a", "b", "f"), ("x", "b", "f")]
    # "*" matches exactly one label, in prefixes and suffixes alike.
    assert await facade.list_namespaces(prefix=("a", "*", "f")) == [
        ("a", "b", "f"),
        ("a", "c", "f"),
    ]
    assert await facade.list_namespaces(prefix=("*", "b", "f")) == [
        ("a", "b", "f"),
        ("x", "b", "f"),
    ]
    assert await facade.list_namespaces(suffix=("d", "*")) == [
        ("a", "b", "d", "e"),
        ("a", "b", "d", "i"),
    ]
    assert await facade.list_namespaces(prefix=("a", "*", "*", "*")) == [
        ("a", "b", "d", "e"),
        ("a", "b", "d", "i"),
    ]
    assert await facade.list_namespaces(prefix=("a", "b", "*")) == [
        ("a", "b", "c"),
        ("a", "b", "d", "e"),
        ("a", "b", "d", "i"),
        ("a", "b", "f"),
    ]
    assert await facade.list_namespaces(prefix=("a", "b")) == [
        ("a", "b"),
        ("a", "b", "c"),
        ("a", "b", "d", "e"),
        ("a", "b", "d", "i"),
        ("a", "b", "f"),
    ]
    # Prefix and suffix together, with max_depth applied after matching.
    assert await facade.list_namespaces(prefix=("a",), suffix=("f",), max_depth=2) == [
        ("a", "b"),
        ("a", "c"),
    ]
    assert await facade.list_namespaces(prefix=("a", "*"), suffix=("*", "e")) == [
        ("a", "b", "d", "e")
    ]
    # A pattern longer than every namespace, and conditions that contradict each other.
    assert await facade.list_namespaces(prefix=("a", "b", "d", "e", "z")) == []
    op = ListNamespacesOp(
        (MatchCondition("prefix", ("a", "b")), MatchCondition("prefix", ("a", "c")))
    )
    assert (await facade.batch([op]))[0] == []
    op = ListNamespacesOp(
        (MatchCondition("prefix", ("a", "*")), MatchCondition("prefix", ("*", "c")))
    )
    assert (await facade.batch([op]))[0] == [("a", "c", "f")]


async def test_listing_offset_and_limit(facade: Facade) -> None:
    namespaces = [("app", f"user{i:02d}") for i in range(25)]
    await put_each(facade, namespaces)
    assert await facade.list_namespaces(prefix=("app",), limit=10) == namespaces[:10]
    assert await facade.list_namespaces(prefix=("app",), limit=10, offset=20) == namespaces[20:]
    assert await facade.list_namespaces(prefix=("app",), limit=10, offset=25) == []
    assert await facade.list_namespaces(prefix=("app",), limit=10, offset=1000) == []
    assert await facade.list_namespaces(prefix=("app",), limit=0) == []
    # Paging through listings gives every namespace exactly once, in order.
    pages = [await facade.list_namespaces(limit=7, offset=o) for o in range(0, 28, 7)]
    assert [ns for page in pages for ns in page] == namespaces
    assert await facade.list_namespaces(max_depth=1, offset=1) == []


# -- search: prefixes, isolation, order ---------------------------------------------------------


async def test_search_prefix_matches_whole_labels(facade: Facade) -> None:
    await put_each(facade, LANGGRAPH_NAMESPACES)
    found = await facade.search(("a", "b"))
    assert sorted(item.namespace for item in found) == sorted(LANGGRAPH_NAMESPACES[:4])
    assert {item.namespace for item in await facade.search(("a", "b", "d"))} == {
        ("a", "b", "d", "e"),
        ("a", "b", "d", "i"),
    }
    assert keys(await facade.search(("a", "b", "d", "e"))) == [(("a", "b", "d", "e"), "k")]
    assert await facade.search(("a", "b", "d", "x")) == []
    assert await facade.search(("b",)) == []
    assert all(isinstance(item, SearchItem) and item.score is None for item in found)
    assert found[0].value == {"ns": list(found[0].namespace)}


async def test_tenant_isolation_search_and_listing(facade: Facade) -> None:
    spaces = [
        ("tenant", "acme"),
        ("tenant", "acme", "users"),
        ("tenant", "acme-corp"),
        ("tenant", "acme-corp", "users"),
        ("tenant", "acmecorp"),
        ("tenant", "acm"),
        ("acme",),
        ("acme-corp",),
        ("acmex", "acme"),
    ]
    await facade.batch([PutOp(ns, f"k{i}", {"tenant": ns[-1]}) for i, ns in enumerate(spaces)])
    acme = {("tenant", "acme"), ("tenant", "acme", "users")}
    assert {item.namespace for item in await facade.search(("tenant", "acme"))} == acme
    assert {item.namespace for item in await facade.search(["tenant", "acme"])} == acme
    assert {item.namespace for item in await facade.search(("acme",))} == {("acme",)}
    assert {item.namespace for item in await facade.search(("tenant",))} == {
        ns for ns in spaces if ns[0] == "tenant"
    }
    assert await facade.list_namespaces(prefix=("tenant", "acme")) == sorted(acme)
    assert await facade.list_namespaces(prefix=("acme",)) == [("acme",)]
    assert await facade.list_namespaces(prefix=("tenant", "acme"), max_depth=2) == [
        ("tenant", "acme")
    ]
    assert await facade.list_namespaces(suffix=("acme",)) == [
        ("acme",),
        ("acmex", "acme"),
        ("tenant", "acme"),
    ]


async def test_empty_prefix_is_every_namespace(facade: Facade) -> None:
    spaces = [("r1",), ("r1", "x"), ("r2", "y", "z"), ("r3",)]
    await facade.batch([PutOp(ns, key, {"k": key}) for ns in spaces for key in ("a", "b")])
    found = await facade.search((), limit=100)
    assert sorted(keys(found)) == sorted((ns, key) for ns in spaces for key in ("a", "b"))
    assert await facade.search([], limit=3, offset=6) == found[6:]
    assert await facade.list_namespaces(prefix=()) == sorted(spaces)


async def test_results_newest_first_then_offset_limit(facade: Facade) -> None:
    ns1, ns2 = ("feed", "one"), ("feed", "two")
    order = [(ns1, "k0"), (ns2, "k1"), (ns1, "k2"), (ns2, "k3"), (ns1, "k4")]
    for ns, key in order:  # one call each: strictly increasing updated_at
        await facade.put(ns, key, {"key": key})
    await facade.put(ns2, "k1", {"key": "k1", "updated": True})  # now the newest
    newest_first = [(ns2, "k1"), (ns1, "k4"), (ns2, "k3"), (ns1, "k2"), (ns1, "k0")]
    found = await facade.search(("feed",))
    assert keys(found) == newest_first
    stamps = [item.updated_at for item in found]
    assert stamps == sorted(stamps, reverse=True)
    assert len(set(stamps)) == len(stamps)
    assert found[0].created_at < found[0].updated_at  # created_at survives the update
    assert found[0].updated_at.tzinfo is not None
    assert keys(await facade.search(("feed",), limit=2)) == newest_first[:2]
    assert keys(await facade.search(("feed",), limit=2, offset=2)) == newest_first[2:4]
    assert keys(await facade.search(("feed",), limit=10, offset=4)) == newest_first[4:]
    assert await facade.search(("feed",), limit=10, offset=5) == []
    assert await facade.search(("feed",), offset=10_000) == []
    assert await facade.search(("feed",), limit=0) == []
    assert await facade.search(("feed",), limit=0, offset=3) == []


# -- filters ------------------------------------------------------------------------------------

DOCS: dict[str, dict[str, Any]] = {
    "n9": {"n": 9, "kind": "doc", "meta": {"author": "ann", "year": 1999}},
    "n10": {"n": 10, "kind": "doc", "meta": {"author": "bob", "year": 2010}},
    "n10f": {"n": 10.5, "kind": "note", "meta": {"author": "ann", "year": 2021, "x": None}},
    "s9": {"n": "9", "kind": "doc", "meta": {"author": "cy"}},
    "s10": {"n": "10", "kind": "note"},
    "b": {"n": True, "kind": "flag", "tags": ["x", "y"]},
    "none": {"n": None, "kind": "empty", "meta": "not a dict"},
    "missing": {"kind": "doc"},
}


async def search_keys(facade: Facade, filter_: dict[str, Any]) -> set[str]:
    return {item.key for item in await facade.search(("f",), filter=filter_, limit=100)}


async def test_numeric_filters_compare_numbers_as_numbers(facade: Facade) -> None:
    await facade.batch([PutOp(("f", "x"), key, value) for key, value in DOCS.items()])
    assert await search_keys(facade, {"n": {"$gt": 9}}) == {"n10", "n10f"}
    assert await search_keys(facade, {"n": {"$gte": 9}}) == {"n9", "n10", "n10f"}
    assert await search_keys(facade, {"n": {"$lt": 10}}) == {"n9"}
    assert await search_keys(facade, {"n": {"$lte": 10, "$gt": 9.5}}) == {"n10"}
    assert await search_keys(facade, {"n": {"$gt": 9.99999, "$lt": 10.00001}}) == {"n10"}
    assert await search_keys(facade, {"n": 10}) == {"n10"}
    assert await search_keys(facade, {"n": 10.0}) == {"n10"}
    assert await search_keys(facade, {"n": {"$eq": 9}}) == {"n9"}


async def test_string_filters(facade: Facade) -> None:
    await facade.batch([PutOp(("f", "x"), key, value) for key, value in DOCS.items()])
    assert await search_keys(facade, {"kind": "note"}) == {"n10f", "s10"}
    assert await search_keys(facade, {"kind": {"$eq": "note"}}) == {"n10f", "s10"}
    # strings compare as strings: "9" > "10"
    assert await search_keys(facade, {"n": {"$gt": "10"}}) == {"s9"}
    assert await search_keys(facade, {"n": {"$gte": "10"}}) == {"s9", "s10"}
    assert await search_keys(facade, {"kind": {"$gt": "doc", "$lt": "note"}}) == {"b", "none"}
    assert await search_keys(facade, {"n": "9"}) == {"s9"}


async def test_nested_filters(facade: Facade) -> None:
    await facade.batch([PutOp(("f", "x"), key, value) for key, value in DOCS.items()])
    assert await search_keys(facade, {"meta.author": "ann"}) == {"n9", "n10f"}
    assert await search_keys(facade, {"meta.year": {"$gte": 2010}}) == {"n10", "n10f"}
    # LangGraph's nested form: a plain dict matches the keys it names (containment).
    assert await search_keys(facade, {"meta": {"author": "ann"}}) == {"n9", "n10f"}
    assert await search_keys(facade, {"meta": {"author": "ann", "year": {"$gt": 2000}}}) == {"n10f"}
    assert await search_keys(facade, {"meta": {"x": None}}) == {"n10f"}
    # $eq on a dict is exact equality.
    assert await search_keys(facade, {"meta": {"$eq": {"author": "bob", "year": 2010}}}) == {"n10"}
    assert await search_keys(facade, {"meta": {"$eq": {"author": "bob"}}}) == set()
    assert await search_keys(facade, {"tags": ["x", "y"]}) == {"b"}
    assert await search_keys(facade, {"tags": ("x", "y")}) == {"b"}
    assert await search_keys(facade, {"tags": ["y", "x"]}) == set()


async def test_mixed_type_filters_never_match_across_kinds(facade: Facade) -> None:
    await facade.batch([PutOp(("f", "x"), key, value) for key, value in DOCS.items()])
    assert await search_keys(facade, {"n": {"$gt": 0}}) == {"n9", "n10", "n10f"}  # no True
    assert await search_keys(facade, {"n": {"$gt": ""}}) == {"s9", "s10"}
    assert await search_keys(facade, {"n": True}) == {"b"}
    assert await search_keys(facade, {"n": 1}) == set()  # True is not 1
    assert await search_keys(facade, {"n": None}) == {"none"}  # null, not missing
    assert await search_keys(facade, {"n": {"$ne": 10}}) == set(DOCS) - {"n10"}
    assert await search_keys(facade, {"n": {"$ne": "10"}}) == set(DOCS) - {"s10"}
    assert await search_keys(facade, {"meta.author": {"$gt": "a"}}) == {"n9", "n10", "n10f", "s9"}
    assert await search_keys(facade, {"n": {"$gt": 9}, "kind": "doc"}) == {"n10"}
    # Filters combine with offset/limit after matching, newest first.
    found = await facade.search(("f",), filter={"kind": "doc"}, limit=2, offset=1)
    assert len(found) == 2
    assert all(item.value["kind"] == "doc" for item in found)


async def test_bad_filters_and_query_raise_before_io(facade: Facade) -> None:
    for bad in ({"n": {"$regex": "a"}}, {"n": {"$gt": [1]}}, {"n": {"$gt": 1, "plain": 2}}):
        with pytest.raises(StoreValidationError, match="filter"):
            await facade.search(("f",), filter=bad)
    with pytest.raises(StoreValidationError, match="str or None") as info:
        await facade.batch([PutOp(("f",), "k", {"v": 1}), SearchOp(("f",), query=7)])  # type: ignore[arg-type]
    assert info.value.op_index == 1
    assert info.value.field == "query"
    assert await facade.search(("f",)) == []  # the put was not sent


# -- TTL refresh --------------------------------------------------------------------------------


async def test_search_refresh_ttl_reapplies_ttl(
    facade: Facade, cql_session: Any, keyspace: str
) -> None:
    ns = ("ttl", "s")
    await facade.batch(
        [
            PutOp(ns, "short", {"v": 1}, ttl=1.0),  # 61 s stored
            PutOp(ns, "other", {"v": 2}, ttl=1.0),
            PutOp(ns, "forever", {"v": 3}),
        ]
    )

    def ttls(key: str) -> list[int | None]:
        return list(
            cql_session.execute(
                f"SELECT TTL(value), TTL(created_at), TTL(updated_at), TTL(ttl) "
                f"FROM {keyspace}.items WHERE namespace = %s AND key = %s",
                ("ttl.s", key),
            ).one()
        )

    async def lowered() -> bool:
        return max(t or 0 for t in ttls("short") + ttls("other")) <= 56

    await async_wait_until(lowered, timeout=30, what="the TTL to count down")
    await facade.search(ns, filter={"v": 1}, refresh_ttl=False)
    assert max(t or 0 for t in ttls("short")) <= 56

    async def search_short() -> None:  # refresh_ttl=True by default
        found = await facade.search(ns, filter={"v": 1})
        assert [item.key for item in found] == ["short"]

    await assert_refreshes_ttl(search_short, lambda: ttls("short"), stored=61)
    assert max(t or 0 for t in ttls("other")) <= 56  # not returned: not refreshed
    assert ttls("forever") == [None, None, None, None]

    async def search_all() -> None:
        assert len(await facade.search(ns, limit=10)) == 3

    await assert_refreshes_ttl(search_all, lambda: ttls("other"), stored=61)
    assert ttls("forever") == [None, None, None, None]  # a refresh never adds a TTL
    assert (await facade.get(ns, "short")).value == {"v": 1}


# -- reads inside a batch see the state before it -----------------------------------------------


async def test_search_and_listing_in_a_batch_see_state_before_it(facade: Facade) -> None:
    await facade.put(("m", "old"), "k1", {"v": "old"})
    await facade.put(("m", "old"), "gone", {"v": "soon deleted"})
    results = await facade.batch(
        [
            PutOp(("m", "new"), "k1", {"v": "new"}),
            SearchOp(("m",), limit=100),
            ListNamespacesOp(),
            PutOp(("m", "old"), "k1", {"v": "changed"}),
            PutOp(("m", "old"), "gone", None),
            SearchOp(("m",), filter={"v": "changed"}),
            ListNamespacesOp((MatchCondition("prefix", ("m", "new")),)),
            GetOp(("m", "new"), "k1"),
        ]
    )
    assert sorted((item.key, item.value["v"]) for item in results[1]) == [
        ("gone", "soon deleted"),
        ("k1", "old"),
    ]
    assert results[2] == [("m", "old")]
    assert results[5] == []
    assert results[6] == []
    assert results[7] is None
    after = await facade.search(("m",), limit=100)
    assert sorted((item.namespace, item.key, item.value["v"]) for item in after) == [
        (("m", "new"), "k1", "new"),
        (("m", "old"), "k1", "changed"),
    ]
    assert await facade.list_namespaces() == [("m", "new"), ("m", "old")]


# -- registry entries of namespaces whose items are all gone ------------------------------------


async def test_namespace_with_all_items_deleted_is_not_listed(
    facade: Facade, cql_session: Any, keyspace: str
) -> None:
    await facade.batch(
        [
            PutOp(("d", "x", "one"), "k1", {"v": 1}),
            PutOp(("d", "x", "one"), "k2", {"v": 2}),
            PutOp(("d", "x", "two"), "k1", {"v": 3}),
            PutOp(("d", "y"), "k1", {"v": 4}),
        ]
    )
    assert await facade.list_namespaces() == [("d", "x", "one"), ("d", "x", "two"), ("d", "y")]
    await facade.batch([PutOp(("d", "x", "one"), "k1", None), PutOp(("d", "x", "one"), "k2", None)])
    assert await facade.list_namespaces() == [("d", "x", "two"), ("d", "y")]
    assert await facade.list_namespaces(max_depth=2) == [("d", "x"), ("d", "y")]
    assert await facade.search(("d", "x", "one")) == []
    assert [i.key for i in await facade.search(("d", "x"))] == ["k1"]
    # The registry keeps the entry; the liveness probe hides it.
    assert registry(cql_session, keyspace) == ["d.x.one", "d.x.two", "d.y"]
    await facade.delete(("d", "x", "two"), "k1")
    assert await facade.list_namespaces(max_depth=2) == [("d", "y")]
    assert await facade.list_namespaces(prefix=("d", "x")) == []
    # A put brings it back (the store still remembers it registered the namespace).
    await facade.put(("d", "x", "one"), "k3", {"v": 5})
    assert await facade.list_namespaces(max_depth=2) == [("d", "x"), ("d", "y")]
    assert await facade.list_namespaces(prefix=("d", "x")) == [("d", "x", "one")]
    # Deletes never register anything.
    await facade.delete(("never", "written"), "k")
    assert "never.written" not in registry(cql_session, keyspace)
    assert await facade.list_namespaces(prefix=("never",)) == []


async def test_namespace_with_all_items_expired_is_not_listed(
    facade: Facade, cql_session: Any, keyspace: str
) -> None:
    await facade.batch(
        [
            PutOp(("e", "short"), "k1", {"v": 1}, ttl=1 / 60),  # 1 second
            PutOp(("e", "short"), "k2", {"v": 2}, ttl=1 / 60),
            PutOp(("e", "mixed"), "k1", {"v": 3}, ttl=1 / 60),
            PutOp(("e", "mixed"), "k2", {"v": 4}),
            PutOp(("e", "long"), "k1", {"v": 5}, ttl=30),
        ]
    )

    async def expired() -> bool:
        listed = await facade.list_namespaces(prefix=("e",))
        return bool(listed == [("e", "long"), ("e", "mixed")])

    await async_wait_until(expired, timeout=30, what="the 1-second namespace to expire")
    assert await facade.search(("e", "short"), refresh_ttl=False) == []

    async def mixed_expired() -> bool:
        found = await facade.search(("e", "mixed"), refresh_ttl=False)
        return [i.key for i in found] == ["k2"]

    await async_wait_until(mixed_expired, timeout=30, what="the 1-second item to expire")
    assert registry(cql_session, keyspace) == ["e.long", "e.mixed", "e.short"]
    assert await facade.list_namespaces(max_depth=1) == [("e",)]


# -- cost: no full scans -------------------------------------------------------------------------


async def test_search_and_listing_read_only_what_matches(facade: Facade) -> None:
    # 3 namespaces of 50 items under ("p", ...), 20 other namespaces elsewhere.
    target = [("p", "t", str(i)) for i in range(3)]
    others = [("p", "tx", str(i)) for i in range(10)] + [("q", str(i)) for i in range(10)]
    await facade.batch(
        [PutOp(ns, f"k{i}", {"i": i}) for ns in target for i in range(50)]
        + [PutOp(ns, f"k{i}", {"i": i}) for ns in others for i in range(5)]
    )
    facade.store.reset_metrics()
    found = await facade.search(("p", "t"), limit=5, refresh_ttl=False)
    assert len(found) == 5
    # two registry ranges (the namespace itself and everything under it) + one scan each
    assert read_stats(facade) == (2 + 3, 3 + 150)
    facade.store.reset_metrics()
    assert await facade.list_namespaces(prefix=("p", "t")) == target
    assert read_stats(facade) == (2 + 3, 3 + 3)  # ranges + one LIMIT 1 probe per namespace
    facade.store.reset_metrics()
    assert len(await facade.list_namespaces(limit=5)) == 5
    requests, rows = read_stats(facade)
    # every roots bucket + 2 roots, then probes only until 5 live namespaces are known
    assert requests == ROOT_BUCKETS + 2 + 5
    assert rows == 2 + 23 + 5


# -- large namespace: bounded memory ------------------------------------------------------------

BIG = 20_000
BIG_NS = ("big", "one")


def big_value(i: int) -> dict[str, Any]:
    return {"i": i, "text": f"item {i:05d} " + "lorem ipsum " * 16}


def held_decoded_items_bytes() -> int:
    """What holding BIG decoded search results would take (traced, same value shapes)."""
    now = datetime.now(timezone.utc)
    gc.collect()
    tracemalloc.start()
    try:
        held = [
            SearchItem(
                namespace=BIG_NS,
                key=f"k{i:05d}",
                value=big_value(i),
                created_at=now,
                updated_at=now,
            )
            for i in range(BIG)
        ]
        size = tracemalloc.get_traced_memory()[0]
        del held
    finally:
        tracemalloc.stop()
    return size


@pytest.mark.slow
async def test_search_20000_items_limit_10_is_newest_with_bounded_memory(facade: Facade) -> None:
    chunk = 5_000
    for start in range(0, BIG, chunk):
        await facade.batch(
            [PutOp(BIG_NS, f"k{i:05d}", big_value(i)) for i in range(start, start + chunk)],
            batch_type="UNLOGGED",
        )
    # Ten keys spread over the whole partition become the ten newest, one call each.
    newest = [f"k{i:05d}" for i in (17_333, 3, 19_999, 9_001, 12_345, 0, 4_444, 15_000, 777, 8)]
    for key in newest:
        await facade.put(BIG_NS, key, {**big_value(int(key[1:])), "touched": True})
    await facade.search(BIG_NS, limit=1, refresh_ttl=False)  # warm up (prepared statements)

    facade.store.reset_metrics()
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        started = time.perf_counter()
        found = await facade.search(BIG_NS, limit=10)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    held = held_decoded_items_bytes()
    requests, rows = read_stats(facade)
    print(
        f"\n[{'async' if facade.is_async else 'sync'}] search of {BIG} items, limit 10: "
        f"{requests} read requests, {rows} rows read, {elapsed:.2f} s, traced peak "
        f"{peak / 1e6:.2f} MB; holding {BIG} decoded items: {held / 1e6:.2f} MB"
    )
    assert [item.key for item in found] == list(reversed(newest))
    assert all(item.value["touched"] for item in found)
    assert rows == 1 + BIG  # the registry row + every item once; no row read twice
    # What a search keeps is one page per active scan plus offset + limit rows, whatever the
    # namespace size (~2 MB here); finished pages are released as soon as they are consumed.
    assert peak < held / 5, (peak, held)


# -- measured cost (numbers quoted in docs/search.md; run with -s to see them) -------------------


@pytest.mark.slow
async def test_measured_cost_of_search_and_listing(facade: Facade) -> None:
    target = [("t", "acme", f"n{i}") for i in range(3)]
    others = [("t", f"other{i:02d}") for i in range(25)] + [(f"r{i:02d}", "x") for i in range(25)]
    listed = [("l", f"ns{i:03d}") for i in range(200)]
    for ns in target:
        await facade.batch([PutOp(ns, f"k{i:04d}", {"i": i}) for i in range(1000)])
    await facade.batch([PutOp(ns, f"k{i}", {"i": i}) for ns in others for i in range(20)])
    await facade.batch([PutOp(ns, "k", {"i": 0}) for ns in listed])
    lines = []

    async def measure(label: str, call: Any) -> tuple[int, int, Any]:
        facade.store.reset_metrics()
        started = time.perf_counter()
        result = await call
        elapsed = (time.perf_counter() - started) * 1000
        requests, rows = read_stats(facade)
        lines.append(f"  {label:<58} {requests:>4} requests {rows:>6} rows {elapsed:7.1f} ms")
        return requests, rows, result

    requests, rows, found = await measure(
        "search ('t','acme') limit 10 [3 x 1000 items]",
        facade.search(("t", "acme"), limit=10, refresh_ttl=False),
    )
    assert len(found) == 10
    assert rows == 3 + 3000  # 3 registry rows + each item once; the 50 others are never read
    assert 2 + 3 <= requests <= 2 + 3 * 2  # 2 registry ranges + 1-2 pages per namespace
    requests, rows, found = await measure(
        "search ('t','acme') filter i >= 995 limit 10",
        facade.search(("t", "acme"), filter={"i": {"$gte": 995}}, limit=10, refresh_ttl=False),
    )
    assert len(found) == 10
    assert rows == 3 + 3000
    _, rows, found = await measure(
        "search ('t','acme','n1') limit 10 [1 x 1000 items]",
        facade.search(("t", "acme", "n1"), limit=10, refresh_ttl=False),
    )
    assert rows == 1 + 1000
    requests, rows, spaces = await measure(
        "list_namespaces(prefix=('l',), limit=1000) [200 namespaces]",
        facade.list_namespaces(prefix=("l",), limit=1000),
    )
    assert spaces == listed
    assert (requests, rows) == (1 + 200, 200 + 200)  # registry page + one probe each
    requests, rows, spaces = await measure(
        "list_namespaces(prefix=('l',)) [limit 100 of 200]",
        facade.list_namespaces(prefix=("l",)),
    )
    assert spaces == listed[:100]
    assert (requests, rows) == (1 + 100, 200 + 100)  # probing stops after 100 live ones
    requests, rows, spaces = await measure(
        "list_namespaces(prefix=('l',), limit=10, offset=50)",
        facade.list_namespaces(prefix=("l",), limit=10, offset=50),
    )
    assert spaces == listed[50:60]
    assert (requests, rows) == (1 + 60, 200 + 60)
    requests, rows, spaces = await measure(
        "list_namespaces(max_depth=1) [253 namespaces, 27 roots]",
        facade.list_namespaces(max_depth=1),
    )
    assert len(spaces) == 27
    # every roots bucket, each root, 1 probe per group
    assert (requests, rows) == (ROOT_BUCKETS + 27 + 27, 27 + 253 + 27)
    requests, rows, spaces = await measure(
        "list_namespaces() [253 namespaces, limit 100]",
        facade.list_namespaces(),
    )
    assert len(spaces) == 100
    assert (requests, rows) == (ROOT_BUCKETS + 27 + 100, 27 + 253 + 100)
    print(f"\n[{'async' if facade.is_async else 'sync'}] measured cost:\n" + "\n".join(lines))
