"""``Store.iter_search`` / ``AsyncStore.aiter_search`` against the real node.

More items than a page, over many namespaces; the rows held at once stay within the bound
(counted by the iteration itself, not measured as process memory).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from scyllabatch import AsyncStore, PutOp, SearchItem, Store, StoreValidationError
from scyllabatch._core.iteration import PREFETCH_PARTITIONS
from scyllabatch.store import _pages
from tests.integration.conftest import Facade

pytestmark = pytest.mark.integration


async def collect(facade: Facade, prefix: Sequence[str], **kwargs: Any) -> list[SearchItem]:
    store = facade.store
    if isinstance(store, AsyncStore):
        return [item async for item in store.aiter_search(prefix, **kwargs)]
    return list(store.iter_search(prefix, **kwargs))


async def fill(facade: Facade, namespaces: int, per_namespace: int) -> set[tuple[Any, ...]]:
    expected = set()
    ops = []
    for n in range(namespaces):
        namespace = ("it", "tenant", f"t{n:02d}")
        for k in range(per_namespace):
            ops.append(PutOp(namespace, f"k{k:04d}", {"n": n, "k": k}))
            expected.add((namespace, f"k{k:04d}"))
        if len(ops) >= 500:
            await facade.batch(ops)
            ops = []
    ops += [
        PutOp(("itx",), "outside", {"n": -1, "k": -1}),  # shares the root's text, not its label
        PutOp(("other", "tenant"), "outside", {"n": -1, "k": -1}),
    ]
    await facade.batch(ops)
    return expected


async def test_streams_every_item_over_many_pages(facade: Facade) -> None:
    expected = await fill(facade, namespaces=5, per_namespace=260)
    await facade.delete(("it", "tenant", "t01"), "k0003")
    expected.discard((("it", "tenant", "t01"), "k0003"))

    items = await collect(facade, ("it",), page_size=100)  # 13 pages of 100
    assert {(item.namespace, item.key) for item in items} == expected
    assert len(items) == len(expected)  # nothing twice
    for item in items:
        assert item.value == {"n": int(item.namespace[2][1:]), "k": int(item.key[1:])}
        assert item.created_at <= item.updated_at
    # namespace by namespace, keys ascending within one
    order = [item.namespace for item in items]
    runs = [ns for i, ns in enumerate(order) if i == 0 or ns != order[i - 1]]
    assert len(runs) == len(set(runs)) == 5
    for namespace in runs:
        keys = [item.key for item in items if item.namespace == namespace]
        assert keys == sorted(keys)

    narrower = await collect(facade, ["it", "tenant", "t03"], page_size=7)
    assert [item.key for item in narrower] == [f"k{k:04d}" for k in range(260)]


async def test_filter_is_applied_to_every_page(facade: Facade) -> None:
    await fill(facade, namespaces=3, per_namespace=150)
    wanted = {"k": {"$gte": 140}, "n": {"$ne": 1}}
    items = await collect(facade, ("it",), filter=wanted, page_size=25)
    assert sorted((item.namespace[2], item.key) for item in items) == [
        (f"t{n:02d}", f"k{k:04d}") for n in (0, 2) for k in range(140, 150)
    ]


async def test_empty_prefix_reaches_every_root(facade: Facade) -> None:
    expected = await fill(facade, namespaces=2, per_namespace=30)
    items = await collect(facade, (), page_size=16)
    found = {(item.namespace, item.key) for item in items}
    assert found == expected | {(("itx",), "outside"), (("other", "tenant"), "outside")}


async def test_nothing_matches(facade: Facade) -> None:
    await fill(facade, namespaces=1, per_namespace=3)
    assert await collect(facade, ("it", "nobody")) == []


def test_rows_held_at_once_stay_bounded(store: Store) -> None:
    per_namespace, namespaces, page_size = 150, 20, 40
    for n in range(namespaces):
        store.batch(
            [PutOp(("mem", f"n{n:02d}"), f"k{k:04d}", {"k": k}) for k in range(per_namespace)]
        )
    bound = PREFETCH_PARTITIONS * page_size
    assert namespaces * per_namespace > 5 * bound  # a whole result would not fit the bound

    iteration = store._search_iteration(("mem",), None, page_size)
    seen = 0
    for found in _pages(store._stream(iteration)):
        assert iteration.rows_held <= bound
        assert len(found.items) <= page_size
        seen += len(found.items)
    assert seen == namespaces * per_namespace
    assert 0 < iteration.peak_rows_held <= bound


def test_stopping_early_leaves_the_store_usable(store: Store) -> None:
    store.batch([PutOp(("early",), f"k{k:03d}", {"k": k}) for k in range(300)])
    iterator = store.iter_search(("early",), page_size=50)
    first = [next(iterator) for _ in range(10)]
    assert [item.key for item in first] == [f"k{k:03d}" for k in range(10)]
    del iterator
    assert len(list(store.iter_search(("early",), page_size=1000))) == 300


async def test_bad_arguments_are_refused_before_iterating(facade: Facade) -> None:
    store = facade.store
    iterate = store.aiter_search if isinstance(store, AsyncStore) else store.iter_search
    with pytest.raises(StoreValidationError) as info:
        iterate(("bad.label",))
    assert info.value.field == "namespace_prefix[0]"
    with pytest.raises(StoreValidationError) as info:
        iterate(("ok",), page_size=0)
    assert info.value.field == "page_size"
    with pytest.raises(StoreValidationError) as info:
        iterate(("ok",), filter={"n": {"$near": 1}})
    assert info.value.field == "filter"


async def test_iterations_count_their_requests_and_rows_in_the_metrics(facade: Facade) -> None:
    await fill(facade, namespaces=2, per_namespace=120)
    store = facade.store
    store.reset_metrics()
    items = await collect(facade, ("it",), page_size=50)
    stats = store.get_metrics()["batch_stats"]
    assert len(items) == 240
    assert stats["total_batches"] == 0  # an iteration is not a batch() call
    assert stats["read_requests"] >= 240 // 50  # at least one request per page
    assert stats["rows_read"] >= 240

    # Stopped after the first item: what it read so far is counted all the same.
    store.reset_metrics()
    if isinstance(store, AsyncStore):
        pages = store.aiter_search(("it",), page_size=50)
        await pages.__anext__()
        await pages.aclose()
    else:
        iterator = store.iter_search(("it",), page_size=50)
        next(iterator)
        iterator.close()  # type: ignore[attr-defined]
    stats = store.get_metrics()["batch_stats"]
    assert stats["read_requests"] >= 1
    assert 1 <= stats["rows_read"] < 240
