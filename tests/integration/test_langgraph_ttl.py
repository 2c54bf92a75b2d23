"""The adapter's TTLConfig against the real node: default TTL, refresh on read, no-op sweeper.

TTLs are checked where the database keeps them (``TTL(value)`` and the ``ttl`` column), so these
tests see what the server will expire, not what the adapter believes it sent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from scyllabatch import AsyncStore, Store, StoreConfig, StoreValidationError
from tests.conftest import wait_until
from tests.lifetime import assert_refreshes_ttl, read_before_expiry

base = pytest.importorskip("langgraph.store.base")
from scyllabatch.langgraph import ScyllaBatchStore  # noqa: E402

pytestmark = pytest.mark.integration

NS = ("memories", "u1")


@pytest.fixture
def store(cql_session: Any, keyspace: str) -> Store:
    s = Store(cql_session, config=StoreConfig(keyspace=keyspace))
    s.setup()
    return s


def cell_ttls(cql_session: Any, keyspace: str, key: str) -> tuple[int | None, int]:
    """(seconds left on the value cell, TTL in seconds the item was written with; 0: none)."""
    row = cql_session.execute(
        f"SELECT TTL(value), ttl FROM {keyspace}.items WHERE namespace = %s AND key = %s",
        (".".join(NS), key),
    ).one()
    assert row is not None, f"item {key!r} is not stored"
    return row[0], row[1]


def test_ttl_config_is_kept_and_checked(store: Store) -> None:
    config = {"default_ttl": 2.5, "refresh_on_read": False, "sweep_interval_minutes": 1}
    lg = ScyllaBatchStore(sync=store, ttl=config)  # type: ignore[arg-type]
    assert lg.ttl_config == config
    assert lg.ttl_config is not config  # a copy: later edits of the caller's dict do not leak in
    assert lg.supports_ttl is True
    assert ScyllaBatchStore(sync=store).ttl_config is None
    for bad in (
        {"default_ttl": -1},
        {"default_ttl": math.inf},
        {"default_ttl": "10"},
        {"refresh_on_read": "yes"},
        {"sweep_interval_minutes": -5},
        [("default_ttl", 1)],
    ):
        with pytest.raises(StoreValidationError, match="ttl"):
            ScyllaBatchStore(sync=store, ttl=bad)  # type: ignore[arg-type]


def test_default_ttl_applies_to_puts_without_ttl(
    store: Store, cql_session: Any, keyspace: str
) -> None:
    lg = ScyllaBatchStore(sync=store, ttl={"default_ttl": 10})
    lg.put(NS, "default", {"v": 1})
    lg.put(NS, "explicit", {"v": 2}, ttl=1)
    lg.put(NS, "never", {"v": 3}, ttl=None)  # None means "never expires", as in LangGraph
    # The stored TTL is the asked minutes in seconds (rounded up; +1 s once the lifetime fix lands).
    left, written = cell_ttls(cql_session, keyspace, "default")
    assert written in (600, 601)
    assert left is not None
    assert 590 <= left <= written
    assert cell_ttls(cql_session, keyspace, "explicit")[1] in (60, 61)
    assert cell_ttls(cql_session, keyspace, "never") == (None, 0)
    # A delete carries no TTL, whatever the default.
    lg.delete(NS, "default")
    assert lg.get(NS, "default") is None
    # Ops given to batch() are taken as they are: PutOp(ttl=None) never expires (as PostgresStore).
    lg.batch([base.PutOp(NS, "raw", {"v": 4})])
    assert cell_ttls(cql_session, keyspace, "raw") == (None, 0)


async def test_default_ttl_applies_to_async_puts(cql_session: Any, keyspace: str) -> None:
    astore = AsyncStore(cql_session, config=StoreConfig(keyspace=keyspace))
    await astore.asetup()
    lg = ScyllaBatchStore(async_=astore, ttl={"default_ttl": 10})
    await asyncio.gather(lg.aput(NS, "default", {"v": 1}), lg.aput(NS, "never", {"v": 2}, ttl=None))
    assert cell_ttls(cql_session, keyspace, "default")[1] in (600, 601)
    assert cell_ttls(cql_session, keyspace, "never") == (None, 0)


async def test_refresh_on_read_is_the_default_for_reads_without_refresh_ttl(
    store: Store, cql_session: Any, keyspace: str
) -> None:
    no_refresh = ScyllaBatchStore(sync=store, ttl={"default_ttl": 10, "refresh_on_read": False})
    refresh = ScyllaBatchStore(sync=store, ttl={"default_ttl": 10, "refresh_on_read": True})
    no_refresh.put(NS, "k", {"v": 1})
    stored = cell_ttls(cql_session, keyspace, "k")[1]

    def left() -> int:
        seconds = cell_ttls(cql_session, keyspace, "k")[0]
        assert seconds is not None
        return seconds

    def counted_down() -> bool:  # far enough below the stored TTL to tell a refresh from none
        return left() <= stored - 5

    def refreshed(read: Callable[[], Any]) -> Awaitable[None]:
        return assert_refreshes_ttl(read, lambda: [left()], stored)

    wait_until(counted_down, timeout=30, what="the TTL to count down 5 s")
    assert no_refresh.get(NS, "k") is not None
    assert no_refresh.search(NS)[0].key == "k"
    assert left() <= stored - 5  # refresh_on_read=False: neither read refreshed
    # the caller's choice wins
    await refreshed(lambda: no_refresh.get(NS, "k", refresh_ttl=True))

    wait_until(counted_down, timeout=30, what="the TTL to count down again")

    def search() -> None:
        assert [h.key for h in refresh.search(NS)] == ["k"]

    await refreshed(search)  # refresh_on_read=True: the search refreshed it

    wait_until(counted_down, timeout=30, what="the TTL to count down once more")
    assert refresh.get(NS, "k", refresh_ttl=False) is not None
    assert left() <= stored - 5
    # A raw GetOp whose refresh_ttl is None ("unset") gets the configured default too.
    no_refresh.batch([base.GetOp(NS, "k", None)])
    assert left() <= stored - 5
    await refreshed(lambda: refresh.batch([base.GetOp(NS, "k", None)]))


async def test_sweeper_methods_remove_nothing_and_return_what_langgraph_expects(
    store: Store, cql_session: Any, keyspace: str
) -> None:
    lg = ScyllaBatchStore(sync=store, ttl={"default_ttl": 10, "sweep_interval_minutes": 1})
    lg.put(NS, "k", {"v": 1})
    future = lg.start_ttl_sweeper()
    assert isinstance(future, concurrent.futures.Future)
    assert future.done()
    assert future.result() is None
    assert lg.sweep_ttl() == 0
    assert await lg.asweep_ttl() == 0
    task = await lg.astart_ttl_sweeper()
    assert isinstance(task, asyncio.Task)
    assert await task is None
    assert lg.stop_ttl_sweeper() is True
    assert await lg.astop_ttl_sweeper(timeout=1) is True
    assert lg.get(NS, "k") is not None  # nothing was swept
    assert cell_ttls(cql_session, keyspace, "k")[1] in (600, 601)


async def test_expired_item_is_gone_without_any_sweep(store: Store) -> None:
    lg = ScyllaBatchStore(sync=store, ttl={"default_ttl": 2 / 60})  # lives at least 2 s
    # There when read back within those 2 s (a read after a longer stall proves nothing).
    await read_before_expiry(
        lambda: lg.put(NS, "k", {"v": 1}), lambda: lg.get(NS, "k", refresh_ttl=False), lives=2.0
    )
    wait_until(
        lambda: lg.get(NS, "k", refresh_ttl=False) is None,
        timeout=30,
        what="the server to expire the item",
    )
    assert lg.search(NS) == []
    assert lg.list_namespaces() == []
    assert lg.sweep_ttl() == 0
