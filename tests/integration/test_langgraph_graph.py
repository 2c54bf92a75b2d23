"""A LangGraph graph compiled with the adapter as its store, run with invoke and ainvoke.

Each run counts a user's visits in the store: a node reads the counter and writes it back
incremented, so every run depends on what the previous run stored on the node.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

import pytest

from scyllabatch import AsyncStore, Store, StoreConfig

pytest.importorskip("langgraph.graph")
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from scyllabatch.langgraph import ScyllaBatchStore

pytestmark = pytest.mark.integration


class Visit(TypedDict):
    user: str
    visits: int


def count_visit(state: Visit, runtime: Runtime[Any]) -> dict[str, Any]:
    store = runtime.store
    assert store is not None
    namespace = ("users", state["user"])
    seen = store.get(namespace, "visits")
    visits = (seen.value["n"] if seen else 0) + 1
    store.put(namespace, "visits", {"n": visits})
    return {"visits": visits}


async def acount_visit(state: Visit, runtime: Runtime[Any]) -> dict[str, Any]:
    store = runtime.store
    assert store is not None
    namespace = ("users", state["user"])
    seen = await store.aget(namespace, "visits")
    visits = (seen.value["n"] if seen else 0) + 1
    await store.aput(namespace, "visits", {"n": visits})
    return {"visits": visits}


def list_users(state: Visit, runtime: Runtime[Any]) -> dict[str, Any]:
    assert runtime.store is not None
    users = runtime.store.list_namespaces(prefix=("users",))
    assert ("users", state["user"]) in users
    return {}


def build(store: ScyllaBatchStore, *, async_node: bool) -> Any:
    graph = StateGraph(Visit)
    graph.add_node("count", acount_visit if async_node else count_visit)
    graph.add_node("list", list_users)
    graph.add_edge(START, "count")
    graph.add_edge("count", "list")
    graph.add_edge("list", END)
    return graph.compile(store=store)


@pytest.fixture
def store(cql_session: Any, keyspace: str) -> Store:
    s = Store(cql_session, config=StoreConfig(keyspace=keyspace))
    s.setup()
    return s


@pytest.fixture
def astore(cql_session: Any, keyspace: str, store: Store) -> AsyncStore:
    return AsyncStore(cql_session, config=StoreConfig(keyspace=keyspace))


def stored_visits(store: Store, user: str) -> int:
    item = store.get(("users", user), "visits")
    assert item is not None
    return int(item.value["n"])


async def test_graph_with_a_sync_only_adapter(store: Store) -> None:
    lg = ScyllaBatchStore(sync=store)
    sync_graph = build(lg, async_node=False)
    async_graph = build(lg, async_node=True)
    # invoke: sync nodes call the Store directly (here even on the loop's thread: a Store may).
    assert sync_graph.invoke({"user": "ann", "visits": 0})["visits"] == 1
    # ainvoke: sync nodes run in worker threads, async nodes' aget/aput go through the executor.
    assert (await sync_graph.ainvoke({"user": "ann", "visits": 0}))["visits"] == 2
    assert (await async_graph.ainvoke({"user": "ann", "visits": 0}))["visits"] == 3
    assert stored_visits(store, "ann") == 3


async def test_graph_with_an_async_only_adapter(store: Store, astore: AsyncStore) -> None:
    lg = ScyllaBatchStore(async_=astore)
    sync_graph = build(lg, async_node=False)
    async_graph = build(lg, async_node=True)
    assert (await async_graph.ainvoke({"user": "bo", "visits": 0}))["visits"] == 1
    # Sync nodes under ainvoke run in worker threads: their calls hop onto the store's loop.
    assert (await sync_graph.ainvoke({"user": "bo", "visits": 0}))["visits"] == 2
    # invoke from a worker thread: sync calls again run on the store's loop.
    result = await asyncio.to_thread(sync_graph.invoke, {"user": "bo", "visits": 0})
    assert result["visits"] == 3
    # invoke on the loop's own thread would block the loop: refused, LangGraph's convention.
    with pytest.raises(asyncio.InvalidStateError, match=r"await store\.aget\("):
        sync_graph.invoke({"user": "bo", "visits": 0})
    assert stored_visits(store, "bo") == 3
    assert astore.get_metrics()["batch_stats"]["total_batches"] >= 9


def test_graph_with_a_dual_adapter(store: Store, astore: AsyncStore) -> None:
    lg = ScyllaBatchStore(sync=store, async_=astore)
    sync_graph = build(lg, async_node=False)
    async_graph = build(lg, async_node=True)
    assert sync_graph.invoke({"user": "cy", "visits": 0})["visits"] == 1  # no loop: the Store
    assert asyncio.run(async_graph.ainvoke({"user": "cy", "visits": 0}))["visits"] == 2
    assert asyncio.run(sync_graph.ainvoke({"user": "cy", "visits": 0}))["visits"] == 3
    assert sync_graph.invoke({"user": "cy", "visits": 0})["visits"] == 4
    assert stored_visits(store, "cy") == 4
    assert astore.get_metrics()["batch_stats"]["total_batches"] == 2  # the async node's calls
