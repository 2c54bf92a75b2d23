"""Event loops, as LangGraph's stores handle them, for each kind of adapter, on the real node.

- sync-only (a ``Store``): async methods run the blocking call in the loop's executor;
- async-only (an ``AsyncStore``): sync calls on the loop's thread are refused with
  ``asyncio.InvalidStateError``; from other threads they run on the store's loop;
- dual: the same refusal on the loop's thread; other threads use the blocking ``Store``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from scyllabatch import AsyncStore, Store, StoreConfig, StoreError

base = pytest.importorskip("langgraph.store.base")
from scyllabatch.langgraph import ScyllaBatchStore  # noqa: E402

pytestmark = pytest.mark.integration

NS = ("loops", "u1")


@pytest.fixture
def store(cql_session: Any, keyspace: str) -> Store:
    s = Store(cql_session, config=StoreConfig(keyspace=keyspace))
    s.setup()
    return s


@pytest.fixture
def astore(cql_session: Any, keyspace: str, store: Store) -> AsyncStore:
    """An AsyncStore on the same keyspace as ``store`` (set up by it)."""
    return AsyncStore(cql_session, config=StoreConfig(keyspace=keyspace))


def calls(s: Store | AsyncStore) -> int:
    return int(s.get_metrics()["batch_stats"]["total_batches"])


async def test_sync_only_adapter_runs_async_calls_in_the_executor(store: Store) -> None:
    lg = ScyllaBatchStore(sync=store)
    threads: list[int] = []
    original = store.batch

    def recording_batch(ops: Any, *args: Any, **kwargs: Any) -> list[Any]:
        threads.append(threading.get_ident())
        return original(ops, *args, **kwargs)

    store.batch = recording_batch  # type: ignore[method-assign]
    await lg.aput(NS, "k", {"v": 1})
    item = await lg.aget(NS, "k")
    assert isinstance(item, base.Item)
    assert item.value == {"v": 1}
    assert [h.key for h in await lg.asearch(NS)] == ["k"]
    assert await lg.alist_namespaces() == [NS]
    results = await lg.abatch([base.GetOp(NS, "k"), base.GetOp(NS, "missing")])
    assert results[0].value == {"v": 1}
    assert results[1] is None
    assert len(threads) == 5
    assert threading.get_ident() not in threads  # never on the loop's thread
    # A sync-only adapter's sync methods still work inside a running loop (a Store blocks only
    # the calling thread on driver futures); LangGraph's PostgresStore behaves the same.
    assert lg.get(NS, "k") is not None


async def test_async_only_adapter_refuses_sync_calls_on_its_loop(astore: AsyncStore) -> None:
    lg = ScyllaBatchStore(async_=astore)
    for call, method in (
        (lambda: lg.put(NS, "k", {"v": 1}), "aput"),
        (lambda: lg.get(NS, "k"), "aget"),
        (lambda: lg.search(NS), "asearch"),
        (lambda: lg.delete(NS, "k"), "adelete"),
        (lambda: lg.list_namespaces(), "alist_namespaces"),
        (lambda: lg.batch([base.PutOp(NS, "k", {"v": 1})]), "abatch"),
    ):
        with pytest.raises(asyncio.InvalidStateError, match=rf"await store\.{method}\("):
            call()
    assert calls(astore) == 0  # nothing was sent
    assert await lg.aget(NS, "k") is None


async def test_async_only_adapter_runs_sync_calls_from_other_threads_on_its_loop(
    astore: AsyncStore,
) -> None:
    lg = ScyllaBatchStore(async_=astore)
    loop_thread = threading.get_ident()
    seen: list[int] = []
    original = astore.abatch

    async def recording_abatch(ops: Any, *args: Any, **kwargs: Any) -> list[Any]:
        seen.append(threading.get_ident())
        return await original(ops, *args, **kwargs)

    astore.abatch = recording_abatch  # type: ignore[method-assign]

    def worker() -> Any:
        lg.put(NS, "k", {"v": 1})
        return lg.get(NS, "k"), lg.search(NS), lg.list_namespaces(prefix=("loops",))

    item, hits, namespaces = await asyncio.to_thread(worker)
    assert item.value == {"v": 1}
    assert [h.key for h in hits] == ["k"]
    assert namespaces == [NS]
    assert seen == [loop_thread] * 4  # every call ran on the store's loop


async def test_async_only_adapter_used_from_another_loop_runs_on_its_own(
    astore: AsyncStore,
) -> None:
    lg = ScyllaBatchStore(async_=astore)  # bound to this test's loop
    await lg.aput(NS, "k", {"v": 1})
    store_loop = asyncio.get_running_loop()

    def in_another_loop() -> Any:
        async def use() -> Any:
            assert asyncio.get_running_loop() is not store_loop
            return await lg.aget(NS, "k"), await lg.abatch([base.GetOp(NS, "k")])

        return asyncio.run(use())

    item, (again,) = await asyncio.to_thread(in_another_loop)
    assert item.value == {"v": 1}
    assert again.value == {"v": 1}


def test_async_only_adapter_without_a_running_loop_says_what_to_do(
    cql_session: Any, keyspace: str, store: Store
) -> None:
    astore = AsyncStore(cql_session, config=StoreConfig(keyspace=keyspace))
    lg = ScyllaBatchStore(async_=astore)  # made outside any loop: not bound yet
    with pytest.raises(StoreError, match=r"sync=\.\.\."):
        lg.get(NS, "k")
    # Its async methods work from any loop (the first one binds it).
    assert asyncio.run(lg.aget(NS, "k")) is None


async def test_dual_adapter_refuses_on_the_loop_and_uses_the_store_elsewhere(
    store: Store, astore: AsyncStore
) -> None:
    lg = ScyllaBatchStore(sync=store, async_=astore)
    with pytest.raises(asyncio.InvalidStateError, match=r"await store\.aput\("):
        lg.put(NS, "k", {"v": 1})
    with pytest.raises(asyncio.InvalidStateError, match=r"await store\.abatch\("):
        lg.batch([base.GetOp(NS, "k")])
    assert calls(store) == calls(astore) == 0

    await asyncio.to_thread(lg.put, NS, "k", {"v": 1})
    assert calls(store) == 1  # a worker thread: the blocking Store, no hop to the loop
    assert calls(astore) == 0
    item = await lg.aget(NS, "k")
    assert item is not None
    assert item.value == {"v": 1}
    assert calls(astore) == 1  # async methods: the AsyncStore
    assert calls(store) == 1


def test_dual_adapter_made_outside_a_loop_binds_to_the_first_loop(
    store: Store, astore: AsyncStore
) -> None:
    lg = ScyllaBatchStore(sync=store, async_=astore)
    lg.put(NS, "k", {"v": 1})  # no loop anywhere: the blocking Store

    async def inside() -> None:
        with pytest.raises(asyncio.InvalidStateError):
            lg.get(NS, "k")
        item = await lg.aget(NS, "k")
        assert item is not None
        with pytest.raises(asyncio.InvalidStateError):
            lg.get(NS, "k")

    asyncio.run(inside())
    assert lg.get(NS, "k") is not None  # outside the loop again: fine


@pytest.fixture
def background_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in a thread of its own."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


def test_sync_calls_from_the_main_thread_run_on_the_stores_loop_thread(
    astore: AsyncStore, background_loop: asyncio.AbstractEventLoop
) -> None:
    async def make() -> ScyllaBatchStore:
        return ScyllaBatchStore(async_=astore)  # bound to the background loop

    lg = asyncio.run_coroutine_threadsafe(make(), background_loop).result(timeout=30)
    lg.put(NS, "k", {"v": 1})
    item = lg.get(NS, "k")
    assert item is not None
    assert item.value == {"v": 1}
    assert calls(astore) == 2
