"""The write path against the real node: created_at modes, the public fallback of the driver
seam, exact-mode look-ups, and per-call timeout and consistency."""

from __future__ import annotations

from typing import Any

import pytest

from scyllabatch import (
    CreatedAtMode,
    GetOp,
    PutOp,
    Store,
    StoreConfig,
    StoreUnavailableError,
    StoreValidationError,
)
from tests.integration.conftest import Facade, make_store, setup_store
from tests.integration.counting import prepared_statements

NS = ("users", "alice")


async def mode_facade(kind: str, session: Any, keyspace: str, mode: str) -> Facade:
    store = make_store(kind, session, keyspace, created_at_mode=mode)
    await setup_store(store)
    return Facade(store)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_exact_mode_keeps_created_at_until_a_delete(
    kind: str, cql_session: Any, keyspace: str
) -> None:
    facade = await mode_facade(kind, cql_session, keyspace, "exact")
    await facade.put(NS, "k", {"v": 1})
    first = await facade.get(NS, "k")
    await facade.put(NS, "k", {"v": 2})
    second = await facade.get(NS, "k")
    assert second.value == {"v": 2}
    assert second.created_at == first.created_at
    assert second.updated_at > first.updated_at
    # a delete starts a new life: the next put is a first write again
    await facade.delete(NS, "k")
    await facade.put(NS, "k", {"v": 3})
    third = await facade.get(NS, "k")
    assert third.created_at > first.created_at
    assert third.created_at == third.updated_at
    # delete and put of one key in one call: the last op wins, as a fresh item
    await facade.batch([PutOp(NS, "k", None), PutOp(NS, "k", {"v": 4})])
    fourth = await facade.get(NS, "k")
    assert fourth.value == {"v": 4}
    assert fourth.created_at == fourth.updated_at > third.created_at
    stats = facade.store.get_metrics()["batch_stats"]
    assert stats["read_requests"] >= 4  # the look-ups happened


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_write_only_mode_reads_nothing_and_stamps_every_put(
    kind: str, cql_session: Any, keyspace: str
) -> None:
    facade = await mode_facade(kind, cql_session, keyspace, "write_only")
    await facade.batch([PutOp(NS, "k", {"v": 1}), PutOp(("users", "bob"), "k", {"v": 1})])
    assert facade.store.get_metrics()["batch_stats"]["read_requests"] == 0
    first = await facade.get(NS, "k")
    assert first.created_at == first.updated_at
    await facade.put(NS, "k", {"v": 2})
    second = await facade.get(NS, "k")
    assert second.created_at == second.updated_at > first.created_at
    await facade.delete(NS, "k")
    assert await facade.get(NS, "k") is None
    await facade.put(NS, "k", {"v": 3})
    third = await facade.get(NS, "k")
    assert third.value == {"v": 3}
    assert third.created_at == third.updated_at > second.created_at


def test_mode_is_validated() -> None:
    assert StoreConfig(created_at_mode="write_only").created_at_mode is CreatedAtMode.WRITE_ONLY
    with pytest.raises(StoreValidationError, match="created_at_mode"):
        StoreConfig(created_at_mode="sometimes")


def test_exact_look_ups_share_a_request_only_for_the_same_keys(store: Store) -> None:
    # 7 namespaces written with the same 3 keys, on one node (one replica set): one look-up
    # asks for exactly those 21 rows (namespace IN ? AND key IN ?).
    same = [PutOp(("same", str(p)), f"k{i}", {"i": i}) for p in range(7) for i in range(3)]
    store.batch(same)
    first = {(op.namespace, op.key): store.get(op.namespace, op.key) for op in same}
    store.reset_metrics()
    store.batch([PutOp(op.namespace, op.key, {"again": True}) for op in same])
    stats = store.get_metrics()["batch_stats"]
    assert stats["read_requests"] == 1
    assert stats["unlogged_batches"] == 1  # one replica set: 21 writes of 7 partitions together
    for (namespace, key), before in first.items():
        after = store.get(namespace, key)
        assert after.value == {"again": True}
        assert after.created_at == before.created_at  # each row found under its own partition
        assert after.updated_at > before.updated_at
    # 7 namespaces written with keys of their own: one look-up per partition, never the cross
    # product of partitions and keys.
    store.reset_metrics()
    store.batch([PutOp(("own", str(p)), f"k{p}-{i}", {"i": i}) for p in range(7) for i in range(3)])
    assert store.get_metrics()["batch_stats"]["read_requests"] == 7


def test_public_fallback_path_writes_the_same(store: Store) -> None:
    """Without the driver's non-public seam, writes go as bound statements of serialized
    values: same rows, same TTL, same created_at semantics."""
    statements = prepared_statements(store)
    statements.encoded_messages = False
    try:
        store.batch(
            [
                PutOp(NS, "a", {"v": "é" * 10}),
                PutOp(NS, "b", {"v": 2}, ttl=10.0),
                PutOp(("other",), "c", {"v": 3}),
                PutOp(NS, "gone", None),
            ],
            batch_type="LOGGED",
        )
        a, b, c = store.batch([GetOp(NS, "a"), GetOp(NS, "b", False), GetOp(("other",), "c")])
        assert (a.value, b.value, c.value) == ({"v": "é" * 10}, {"v": 2}, {"v": 3})
        store.batch([PutOp(NS, "a", None)])
        assert store.get(NS, "a") is None
    finally:
        statements.encoded_messages = True


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_per_call_consistency_reaches_the_server(
    kind: str, cql_session: Any, keyspace: str
) -> None:
    facade = await mode_facade(kind, cql_session, keyspace, "exact")
    await facade.batch([PutOp(NS, "k", {"v": 1})], consistency="ONE")
    # RF=1 on one node: THREE replicas cannot be found, and the server says so
    with pytest.raises(StoreUnavailableError):
        await facade.batch([PutOp(NS, "k", {"v": 2})], consistency="THREE", max_retries=0)
    with pytest.raises(StoreUnavailableError):
        await facade.batch([GetOp(NS, "k")], consistency="THREE", max_retries=0)
    assert (await facade.get(NS, "k")).value == {"v": 1}  # nothing of the failed call landed


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_per_call_options_are_validated_before_any_io(
    kind: str, cql_session: Any, keyspace: str
) -> None:
    facade = await mode_facade(kind, cql_session, keyspace, "exact")
    for bad in (0, -1, float("nan"), "5"):
        with pytest.raises(StoreValidationError, match="timeout"):
            await facade.batch([PutOp(NS, "k", {"v": 1})], timeout=bad)
    with pytest.raises(StoreValidationError, match="consistency"):
        await facade.batch([PutOp(NS, "k", {"v": 1})], consistency="MOST")
    assert await facade.get(NS, "k") is None
    await facade.batch([PutOp(NS, "k", {"v": 1})], timeout=30, consistency="local_quorum")
    assert (await facade.get(NS, "k")).value == {"v": 1}
