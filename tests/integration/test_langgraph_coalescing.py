"""Concurrent single calls of the adapter become one store call per loop tick, on the real node.

Every caller keeps its own outcome: an op that is invalid on its own fails only its caller, with
an error about that op; the others are applied and answered.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from scyllabatch import AsyncStore, Store, StoreConfig, StoreValidationError

base = pytest.importorskip("langgraph.store.base")
from scyllabatch.langgraph import InvalidNamespaceError, ScyllaBatchStore  # noqa: E402

pytestmark = pytest.mark.integration

NS = ("co", "u1")


@pytest.fixture
def store(cql_session: Any, keyspace: str) -> Store:
    s = Store(cql_session, config=StoreConfig(keyspace=keyspace))
    s.setup()
    return s


@pytest.fixture(params=["async", "sync"])
def adapter(request: pytest.FixtureRequest, cql_session: Any, keyspace: str, store: Store) -> Any:
    """An adapter over an AsyncStore, or over a Store only (its abatch runs in the executor)."""
    if request.param == "async":
        astore = AsyncStore(cql_session, config=StoreConfig(keyspace=keyspace))
        return ScyllaBatchStore(async_=astore), astore
    return ScyllaBatchStore(sync=store), store


def calls(s: Store | AsyncStore) -> int:
    return int(s.get_metrics()["batch_stats"]["total_batches"])


async def test_concurrent_single_calls_run_as_one_call(adapter: Any) -> None:
    lg, inner = adapter
    keys = [f"k{i}" for i in range(50)]
    await asyncio.gather(*(lg.aput(NS, k, {"n": i}) for i, k in enumerate(keys)))
    assert calls(inner) == 1
    inner.reset_metrics()

    items = await asyncio.gather(*(lg.aget(NS, k) for k in [*keys, "missing"]))
    assert calls(inner) == 1
    assert [item.value["n"] for item in items[:-1]] == list(range(50))
    assert all(isinstance(item, base.Item) for item in items[:-1])
    assert items[-1] is None
    inner.reset_metrics()

    hits, namespaces, _ = await asyncio.gather(
        lg.asearch(NS, filter={"n": {"$gte": 48}}),
        lg.alist_namespaces(prefix=("co",)),
        lg.adelete(NS, "k0"),
    )
    assert calls(inner) == 1
    assert sorted(h.key for h in hits) == ["k48", "k49"]
    assert namespaces == [NS]
    assert await lg.aget(NS, "k0") is None


async def test_sequential_calls_are_not_held_back(adapter: Any) -> None:
    lg, inner = adapter
    await lg.aput(NS, "a", {"v": 1})
    assert (await lg.aget(NS, "a")).value == {"v": 1}
    assert calls(inner) == 2  # nothing waits for company: each awaited call runs at once


async def test_an_invalid_op_fails_only_its_own_caller(adapter: Any) -> None:
    lg, inner = adapter
    await lg.aput(NS, "existing", {"v": 0})
    inner.reset_metrics()
    outcomes = await asyncio.gather(
        lg.aput(NS, "good", {"v": 1}),
        lg.aput(NS, "unencodable", {"v": object()}),
        lg.aget(NS, "existing"),
        lg.aput(NS, "negative", {"v": 2}, ttl=-1),
        lg.asearch(NS, filter={"v": {"$regex": "x"}}),
        lg.adelete(NS, "existing"),
        return_exceptions=True,
    )
    good, unencodable, got, negative, bad_filter, deleted = outcomes
    assert good is None
    assert deleted is None
    assert got.value == {"v": 0}  # reads see the state before the writes of the call
    for error, field in ((unencodable, "value"), (negative, "ttl"), (bad_filter, "filter")):
        assert isinstance(error, StoreValidationError), error
        assert error.op_index == 0  # about the caller's own op, not a position in a merged call
        assert error.field == field
    assert (await lg.aget(NS, "good")).value == {"v": 1}
    assert await lg.aget(NS, "existing") is None
    assert await lg.aget(NS, "unencodable") is None
    assert await lg.aget(NS, "negative") is None


async def test_langgraph_namespace_rules_fail_the_caller_before_anything_is_queued(
    adapter: Any,
) -> None:
    lg, inner = adapter
    outcomes = await asyncio.gather(
        lg.aput(("langgraph", "x"), "k", {"v": 1}),
        lg.aput((), "k", {"v": 1}),
        lg.aput(("a.b",), "k", {"v": 1}),
        lg.aget(("ok", ""), "k"),
        lg.aput(NS, "fine", {"v": 1}),
        return_exceptions=True,
    )
    for error in outcomes[:4]:
        assert isinstance(error, InvalidNamespaceError)
        assert isinstance(error, base.InvalidNamespaceError)
        assert isinstance(error, StoreValidationError)
    assert outcomes[4] is None
    assert calls(inner) == 1  # only the valid put reached the store
    assert (await lg.aget(NS, "fine")).value == {"v": 1}


async def test_a_cancelled_caller_does_not_disturb_the_others(adapter: Any) -> None:
    lg, inner = adapter
    await asyncio.gather(*(lg.aput(NS, f"k{i}", {"v": i}) for i in range(4)))
    inner.reset_metrics()
    doomed = asyncio.ensure_future(lg.aget(NS, "k3"))
    others = [asyncio.ensure_future(lg.aget(NS, f"k{i}")) for i in range(3)]
    doomed.cancel()
    results = await asyncio.gather(*others)
    assert [r.value for r in results] == [{"v": 0}, {"v": 1}, {"v": 2}]
    assert doomed.cancelled()
    assert inner.get_metrics()["batch_stats"]["total_batch_operations"] == 3  # it was left out


async def test_writes_of_one_tick_to_the_same_key_keep_the_last(adapter: Any) -> None:
    lg, _ = adapter
    await asyncio.gather(*(lg.aput(NS, "k", {"n": i}) for i in range(10)))
    assert (await lg.aget(NS, "k")).value == {"n": 9}


async def test_identical_reads_of_one_tick_are_sent_once(adapter: Any) -> None:
    lg, inner = adapter
    await lg.aput(NS, "k", {"v": 1})
    inner.reset_metrics()
    got = await asyncio.gather(
        lg.aget(NS, "k"),
        lg.aget(NS, "k"),
        lg.asearch(NS, filter={"v": 1}),
        lg.asearch(NS, filter={"v": 1}),
        lg.aget(NS, "other"),
    )
    stats = inner.get_metrics()["batch_stats"]
    assert stats["total_batches"] == 1
    assert stats["total_batch_operations"] == 3  # two gets of "k" and two searches: one each
    assert got[0].value == got[1].value == {"v": 1}
    assert [h.key for h in got[2]] == [h.key for h in got[3]] == ["k"]
    assert got[4] is None


async def test_a_valid_put_is_kept_when_a_later_put_of_the_key_is_invalid(adapter: Any) -> None:
    lg, _ = adapter
    first, second = await asyncio.gather(
        lg.aput(NS, "k", {"v": "valid"}),
        lg.aput(NS, "k", {"v": object()}),
        return_exceptions=True,
    )
    assert first is None
    assert isinstance(second, StoreValidationError)
    assert (await lg.aget(NS, "k")).value == {"v": "valid"}
