"""The LangGraph adapter against the real node: LangGraph's own helpers drive our batch()."""

from __future__ import annotations

from typing import Any

import pytest

from scyllabatch import AsyncStore, Store, StoreConfig

base = pytest.importorskip("langgraph.store.base")
from scyllabatch.langgraph import ScyllaBatchStore  # noqa: E402

pytestmark = pytest.mark.integration


def test_langgraph_helpers_round_trip(cql_session: Any, keyspace: str) -> None:
    store = Store(cql_session, config=StoreConfig(keyspace=keyspace))
    store.setup()
    lg = ScyllaBatchStore(sync=store)
    lg.put(("memories", "u1"), "a", {"text": "tea", "n": 1})
    lg.put(("memories", "u1"), "b", {"text": "oslo", "n": 2}, ttl=5)
    item = lg.get(("memories", "u1"), "a")
    assert isinstance(item, base.Item)
    assert item.value == {"text": "tea", "n": 1}
    hits = lg.search(("memories",), filter={"n": {"$gt": 1}})
    assert [h.key for h in hits] == ["b"]
    assert isinstance(hits[0], base.SearchItem)
    assert lg.list_namespaces(prefix=("memories",)) == [("memories", "u1")]
    lg.delete(("memories", "u1"), "a")
    assert lg.get(("memories", "u1"), "a") is None


def test_reserved_root_is_rejected_by_the_adapter_put(cql_session: Any, keyspace: str) -> None:
    store = Store(cql_session, config=StoreConfig(keyspace=keyspace))
    store.setup()
    lg = ScyllaBatchStore(sync=store)
    with pytest.raises(base.InvalidNamespaceError):
        lg.put(("langgraph", "x"), "k", {"v": 1})
    # batch() itself does not reserve the root: that rule belongs to the adapter's put.
    store.put(("langgraph", "x"), "k", {"v": 1})
    assert store.get(("langgraph", "x"), "k") is not None


async def test_async_adapter(cql_session: Any, keyspace: str) -> None:
    astore = AsyncStore(cql_session, config=StoreConfig(keyspace=keyspace))
    await astore.asetup()
    lg = ScyllaBatchStore(async_=astore)
    await lg.aput(("s",), "k", {"v": 1})
    got = await lg.aget(("s",), "k")
    assert got is not None
    assert got.value == {"v": 1}
