"""The batch contract of docs/design.md against the real node, over both facades."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import pytest

from scyllabatch import (
    BatchLimits,
    BatchType,
    GetOp,
    Item,
    PutOp,
    StoreBatchSizeWarning,
    StoreConfig,
    StoreValidationError,
)
from tests.conftest import async_wait_until
from tests.integration.conftest import Facade, make_store, setup_store
from tests.lifetime import assert_refreshes_ttl, read_before_expiry

NS = ("users", "alice")


def count_rows(session: Any, keyspace: str) -> int:
    return int(session.execute(f"SELECT COUNT(*) FROM {keyspace}.items").one()[0])


async def test_unlogged_batch_writes_and_reads_back(facade: Facade) -> None:
    ops = [PutOp(NS, f"k{i}", {"i": i, "tags": ["a", "b"]}) for i in range(10)]
    assert await facade.batch(ops) == [None] * 10
    got = await facade.batch([GetOp(NS, f"k{i}") for i in range(10)])
    assert [item.value["i"] for item in got] == list(range(10))
    assert all(isinstance(item, Item) and item.namespace == NS for item in got)


async def test_logged_batch_writes_across_partitions(facade: Facade) -> None:
    ops = [PutOp(("tenant", str(i % 3)), f"k{i}", {"i": i}) for i in range(9)]
    await facade.batch(ops, batch_type="LOGGED")
    got = await facade.batch([GetOp(("tenant", str(i % 3)), f"k{i}") for i in range(9)])
    assert [g.value for g in got] == [{"i": i} for i in range(9)]
    stats = facade.store.get_metrics()["batch_stats"]
    assert stats["logged_batches"] == 1
    assert stats["logged_calls"] == 1


async def test_batch_type_enum_and_lowercase_string(facade: Facade) -> None:
    await facade.batch([PutOp(NS, "a", {"v": 1})], batch_type=BatchType.LOGGED)
    await facade.batch([PutOp(NS, "b", {"v": 2})], batch_type="unlogged")
    assert (await facade.get(NS, "a")).value == {"v": 1}
    assert (await facade.get(NS, "b")).value == {"v": 2}


async def test_mixed_ops_results_are_positional(facade: Facade) -> None:
    await facade.put(NS, "existing", {"v": "old"})
    results = await facade.batch(
        [
            GetOp(NS, "existing"),
            PutOp(NS, "new", {"v": "new"}),
            GetOp(NS, "missing"),
            PutOp(NS, "existing", {"v": "newer"}),
        ]
    )
    assert results[0].value == {"v": "old"}
    assert results[1] is None
    assert results[2] is None
    assert results[3] is None
    assert (await facade.get(NS, "existing")).value == {"v": "newer"}
    assert (await facade.get(NS, "new")).value == {"v": "new"}


async def test_gets_of_one_key_in_many_namespaces_share_one_read(facade: Facade) -> None:
    # One key in 25 namespaces (every third one missing): one read request on one node, each
    # result from its own namespace, in order; TTLs of what was found are refreshed.
    namespaces = [("users", f"u{n:02d}") for n in range(25)]
    await facade.batch(
        [PutOp(ns, "profile", {"n": n}, ttl=1.0) for n, ns in enumerate(namespaces) if n % 3]
    )
    facade.store.reset_metrics()
    results = await facade.batch([GetOp(ns, "profile") for ns in namespaces])
    for n, (ns, item) in enumerate(zip(namespaces, results, strict=True)):
        if n % 3 == 0:
            assert item is None
        else:
            assert (item.namespace, item.key, item.value) == (ns, "profile", {"n": n})
    stats = facade.store.get_metrics()["batch_stats"]
    assert stats["read_requests"] == 1
    assert stats["rows_read"] == 16
    assert stats["internal_writes"] >= 1  # the 16 found items' TTLs were refreshed


async def test_empty_batch_returns_empty_list(facade: Facade) -> None:
    assert await facade.batch([]) == []
    assert facade.store.get_metrics()["batch_stats"]["write_requests"] == 0


async def test_single_op(facade: Facade) -> None:
    assert await facade.batch([PutOp(NS, "one", {"x": 1.5})]) == [None]
    [item] = await facade.batch([GetOp(NS, "one")])
    assert item.value == {"x": 1.5}
    assert item.key == "one"


async def test_namespace_as_list_behaves_like_tuple(facade: Facade) -> None:
    await facade.batch([PutOp(["users", "alice"], "k", {"v": 1})])  # type: ignore[arg-type]
    item = await facade.get(["users", "alice"], "k")
    assert item.namespace == NS
    assert item.value == {"v": 1}


async def test_same_key_put_put_last_wins(facade: Facade) -> None:
    # "zzz" compares larger than "a": CQL's same-timestamp tie-break would keep it.
    await facade.batch([PutOp(NS, "k", {"v": "zzz"}), PutOp(NS, "k", {"v": "a"})])
    assert (await facade.get(NS, "k")).value == {"v": "a"}


async def test_same_key_put_then_delete(facade: Facade) -> None:
    await facade.batch([PutOp(NS, "k", {"v": 1}), PutOp(NS, "k", None)])
    assert await facade.get(NS, "k") is None


async def test_same_key_delete_then_put(facade: Facade) -> None:
    await facade.put(NS, "k", {"v": "before"})
    await facade.batch([PutOp(NS, "k", None), PutOp(NS, "k", {"v": "after"})])
    assert (await facade.get(NS, "k")).value == {"v": "after"}


@pytest.mark.parametrize("batch_type", ["UNLOGGED", "LOGGED"])
async def test_same_key_last_wins_in_both_batch_types(facade: Facade, batch_type: str) -> None:
    ops = [PutOp(NS, "k", {"n": n}) for n in (9, 1, 5, 2)]
    await facade.batch(ops, batch_type=batch_type)
    assert (await facade.get(NS, "k")).value == {"n": 2}


async def test_reads_see_state_before_the_batch(facade: Facade) -> None:
    await facade.put(NS, "k", {"v": "before"})
    results = await facade.batch(
        [
            PutOp(NS, "k", {"v": "after"}),
            GetOp(NS, "k"),
            PutOp(NS, "new", {"v": 1}),
            GetOp(NS, "new"),
        ]
    )
    assert results[1].value == {"v": "before"}
    assert results[3] is None
    assert (await facade.get(NS, "k")).value == {"v": "after"}


async def test_value_none_deletes(facade: Facade) -> None:
    await facade.put(NS, "k", {"v": 1})
    await facade.batch([PutOp(NS, "k", None)])
    assert await facade.get(NS, "k") is None
    await facade.put(NS, "k2", {"v": 1})
    await facade.delete(NS, "k2")
    assert await facade.get(NS, "k2") is None


async def test_delete_of_missing_key_is_fine(facade: Facade) -> None:
    await facade.batch([PutOp(NS, "never-written", None)])
    assert await facade.get(NS, "never-written") is None


async def test_created_at_survives_update_and_updated_at_moves(facade: Facade) -> None:
    await facade.put(NS, "k", {"v": 1})
    first = await facade.get(NS, "k")
    await facade.put(NS, "k", {"v": 2})
    second = await facade.get(NS, "k")
    assert second.value == {"v": 2}
    assert second.created_at == first.created_at
    assert second.updated_at > first.updated_at
    assert first.created_at.tzinfo is not None
    assert first.created_at.utcoffset().total_seconds() == 0
    assert abs((first.created_at - datetime.now(timezone.utc)).total_seconds()) < 120


async def test_created_at_resets_after_delete(facade: Facade) -> None:
    await facade.put(NS, "k", {"v": 1})
    first = await facade.get(NS, "k")
    await facade.delete(NS, "k")
    await facade.put(NS, "k", {"v": 2})
    again = await facade.get(NS, "k")
    assert again.created_at > first.created_at


async def test_updated_at_strictly_increases_on_immediate_reputs(facade: Facade) -> None:
    stamps = []
    for n in range(5):
        await facade.put(NS, "k", {"n": n})
        stamps.append((await facade.get(NS, "k")).updated_at)
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 5


async def test_idempotency_running_a_batch_twice_gives_one_state(
    facade: Facade, cql_session: Any, keyspace: str
) -> None:
    ops = [PutOp(("ns", str(i % 4)), f"k{i}", {"i": i}) for i in range(40)] + [
        PutOp(("ns", "0"), "k0", None)
    ]
    await facade.batch(ops)
    state1 = sorted(cql_session.execute(f"SELECT namespace, key, value FROM {keyspace}.items"))
    await facade.batch(ops)
    state2 = sorted(cql_session.execute(f"SELECT namespace, key, value FROM {keyspace}.items"))
    assert state1 == state2
    assert len(state1) == 39


async def test_unlogged_5000_ops_over_50_namespaces_all_land(
    facade: Facade, cql_session: Any, keyspace: str
) -> None:
    ops = [PutOp(("bulk", f"ns{i % 50}"), f"k{i}", {"i": i, "pad": "x" * 50}) for i in range(5000)]
    await facade.batch(ops)
    assert count_rows(cql_session, keyspace) == 5000
    stats = facade.store.get_metrics()["batch_stats"]
    # 100 ops per namespace: two batches each (within the 50-op warn threshold), never
    # combined with another partition's writes.
    assert stats["unlogged_batches"] == 100
    got = await facade.batch([GetOp(("bulk", f"ns{i % 50}"), f"k{i}") for i in range(0, 5000, 97)])
    assert [g.value["i"] for g in got] == list(range(0, 5000, 97))


async def test_unlogged_partition_split_by_count(
    facade: Facade, cql_session: Any, keyspace: str
) -> None:
    ops = [PutOp(NS, f"k{i}", {"i": i}) for i in range(250)]
    await facade.batch(ops)  # split automatically: no StoreBatchSizeWarning (warnings are errors)
    assert count_rows(cql_session, keyspace) == 250
    assert facade.store.get_metrics()["batch_stats"]["unlogged_batches"] == 5


async def test_unlogged_split_by_bytes(cql_session: Any, keyspace: str) -> None:
    store = make_store(
        "sync",
        cql_session,
        keyspace,
        limits=BatchLimits(max_ops=100, warn_ops=100, max_bytes=20_000, warn_bytes=20_000),
    )
    await setup_store(store)
    ops = [PutOp(NS, f"k{i}", {"blob": "x" * 3000}) for i in range(20)]
    store.batch(ops)  # type: ignore[union-attr]
    assert count_rows(cql_session, keyspace) == 20
    # ~3 KB each, at most 20 KB per batch: at least 4 batches.
    assert store.get_metrics()["batch_stats"]["unlogged_batches"] >= 4


async def test_logged_above_limit_raises_and_writes_nothing(
    facade: Facade, cql_session: Any, keyspace: str
) -> None:
    ops = [PutOp(("t", str(i % 5)), f"k{i}", {"i": i}) for i in range(101)]
    with pytest.raises(StoreValidationError, match="LOGGED"):
        await facade.batch(ops, batch_type="LOGGED")
    assert count_rows(cql_session, keyspace) == 0


async def test_logged_above_byte_limit_raises(cql_session: Any, keyspace: str) -> None:
    store = make_store("async", cql_session, keyspace, limits=BatchLimits.cassandra())
    await setup_store(store)
    ops = [PutOp(NS, f"k{i}", {"blob": "x" * 2000}) for i in range(30)]  # ~60 KB > 50 KiB
    with pytest.raises(StoreValidationError, match="bytes"):
        await store.abatch(ops, batch_type="LOGGED")  # type: ignore[union-attr]
    assert count_rows(cql_session, keyspace) == 0


async def test_large_batch_warns(facade: Facade) -> None:
    ops = [PutOp(NS, f"k{i}", {"i": i}) for i in range(60)]
    with pytest.warns(StoreBatchSizeWarning, match="warn threshold"):
        await facade.batch(ops, batch_type="LOGGED")
    assert (await facade.get(NS, "k59")).value == {"i": 59}


async def test_exactly_100_logged_ops_succeed(
    facade: Facade, cql_session: Any, keyspace: str
) -> None:
    ops = [PutOp(NS, f"k{i}", {"i": i}) for i in range(100)]
    with pytest.warns(StoreBatchSizeWarning):
        await facade.batch(ops, batch_type="LOGGED")
    assert count_rows(cql_session, keyspace) == 100


async def test_one_invalid_op_among_99_names_its_index_and_writes_nothing(
    facade: Facade, cql_session: Any, keyspace: str
) -> None:
    ops: list[Any] = [PutOp(NS, f"k{i}", {"i": i}) for i in range(99)]
    ops.insert(57, PutOp(NS, "bad", {"s": {1, 2}}))
    with pytest.raises(StoreValidationError) as info:
        await facade.batch(ops)
    assert info.value.op_index == 57
    assert "op 57" in str(info.value)
    assert "set" in str(info.value)
    assert count_rows(cql_session, keyspace) == 0


@pytest.mark.parametrize(
    ("op", "field"),
    [
        (PutOp((), "k", {}), "namespace"),
        (PutOp(("a.b",), "k", {}), "namespace[0]"),
        (PutOp(("",), "k", {}), "namespace[0]"),
        (PutOp(NS, 5, {}), "key"),  # type: ignore[arg-type]
        (PutOp(NS, "k", ["not", "a", "dict"]), "value"),  # type: ignore[arg-type]
        (PutOp(NS, "k", {}, ttl=-1), "ttl"),
        (PutOp(NS, "k", {}, ttl=math.nan), "ttl"),
        (GetOp("users", "k"), "namespace"),  # type: ignore[arg-type]
    ],
)
async def test_validation_errors_name_field(facade: Facade, op: Any, field: str) -> None:
    with pytest.raises(StoreValidationError) as info:
        await facade.batch([PutOp(NS, "ok", {"v": 1}), op])
    assert info.value.op_index == 1
    assert info.value.field == field
    assert await facade.get(NS, "ok") is None


async def test_unknown_batch_type_is_rejected(facade: Facade) -> None:
    with pytest.raises(StoreValidationError, match="batch_type"):
        await facade.batch([PutOp(NS, "k", {})], batch_type="COUNTERISH")


async def test_values_round_trip_rich_types(facade: Facade) -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
    value = {
        "s": "héllo",
        "i": -(2**63),
        "u": 2**64 - 1,
        "f": 0.1,
        "b": False,
        "n": None,
        "l": [1, [2, {"x": b"bytes"}]],
        "when": when,
        "nested": {"deep": {"er": True}},
    }
    await facade.put(NS, "rich", value)
    assert (await facade.get(NS, "rich")).value == value


async def test_metrics_counts(facade: Facade) -> None:
    await facade.batch([PutOp(NS, f"k{i}", {"i": i}) for i in range(10)])
    await facade.batch([GetOp(NS, "k1"), GetOp(NS, "k2")])
    metrics = facade.store.get_metrics()
    stats = metrics["batch_stats"]
    assert stats["total_batches"] == 2
    assert stats["total_batch_operations"] == 12
    assert stats["avg_batch_size"] == 6
    assert stats["batch_size_p50"] in (2, 10)
    assert metrics["ops_by_type"] == {"PutOp": 10, "GetOp": 2}
    facade.store.reset_metrics()
    assert facade.store.get_metrics()["batch_stats"]["total_batches"] == 0


async def test_ttl_is_applied_in_seconds_rounded_up_plus_one(
    facade: Facade, cql_session: Any, keyspace: str
) -> None:
    await facade.batch(
        [
            PutOp(NS, "short", {"v": 1}, ttl=0.501),  # 30.06 s
            PutOp(NS, "long", {"v": 2}, ttl=10),
            PutOp(NS, "forever", {"v": 3}),
        ]
    )
    rows = {
        r[0]: (r[1], r[2])
        for r in cql_session.execute(f"SELECT key, TTL(value), ttl FROM {keyspace}.items")
    }
    # 30.06 s rounds up to 31 s, plus the second that whole-second expiry can take away.
    assert rows["short"][1] == 32
    assert 20 <= rows["short"][0] <= 32  # the server's TTL counts down from 32
    assert rows["long"][1] == 601
    assert 590 <= rows["long"][0] <= 601
    assert rows["forever"] == (None, 0)


async def test_ttl_expires_on_the_server_mixed_ttls_separately(facade: Facade) -> None:
    async def write() -> None:
        await facade.batch(
            [
                PutOp(NS, "soon", {"v": 1}, ttl=3 / 60),  # lives at least 3 s
                PutOp(NS, "later", {"v": 2}, ttl=30),
                PutOp(NS, "never", {"v": 3}),
            ]
        )

    async def read_soon() -> Any:
        return await facade.get(NS, "soon", refresh_ttl=False)

    # Still there when read back within its 3 s (a read after a longer stall proves nothing).
    assert (await read_before_expiry(write, read_soon, lives=3.0)).value == {"v": 1}

    async def soon_gone() -> bool:
        return await facade.get(NS, "soon", refresh_ttl=False) is None

    await async_wait_until(soon_gone, timeout=30, what="the 3-second item to expire")
    assert (await facade.get(NS, "later", refresh_ttl=False)).value == {"v": 2}
    assert (await facade.get(NS, "never")).value == {"v": 3}


async def test_refresh_ttl_reapplies_ttl_to_all_cells(
    facade: Facade, cql_session: Any, keyspace: str
) -> None:
    await facade.put(NS, "k", {"v": 1}, ttl=1.0)  # 61 s stored
    query = (
        f"SELECT TTL(value), TTL(created_at), TTL(updated_at), TTL(ttl) FROM {keyspace}.items "
        "WHERE namespace = 'users.alice' AND key = 'k'"
    )

    def ttls() -> list[int]:
        return list(cql_session.execute(query).one())

    def lowered() -> bool:
        return max(ttls()) <= 56

    from tests.conftest import wait_until

    wait_until(lowered, timeout=30, what="the TTL to count down")
    await facade.get(NS, "k", refresh_ttl=False)
    assert max(ttls()) <= 56
    # Every cell is back near the stored 61 s (refresh_ttl=True is the default).
    await assert_refreshes_ttl(lambda: facade.get(NS, "k"), ttls, stored=61)
    item = await facade.get(NS, "k")
    assert item.value == {"v": 1}


async def test_refresh_does_not_undo_a_newer_write(facade: Facade) -> None:
    await facade.put(NS, "k", {"v": "old"}, ttl=5)
    results = await facade.batch([GetOp(NS, "k"), PutOp(NS, "k", {"v": "new"})])
    assert results[0].value == {"v": "old"}
    assert (await facade.get(NS, "k")).value == {"v": "new"}


async def test_put_without_ttl_clears_previous_ttl(
    facade: Facade, cql_session: Any, keyspace: str
) -> None:
    await facade.put(NS, "k", {"v": 1}, ttl=1)
    await facade.put(NS, "k", {"v": 2})
    row = cql_session.execute(
        f"SELECT TTL(value), ttl FROM {keyspace}.items "
        "WHERE namespace = 'users.alice' AND key = 'k'"
    ).one()
    assert row[0] is None
    assert row[1] == 0
    await facade.get(NS, "k")  # a refresh must not bring a TTL back
    assert (
        cql_session.execute(
            f"SELECT TTL(value) FROM {keyspace}.items WHERE namespace = 'users.alice' AND key = 'k'"
        ).one()[0]
        is None
    )


async def test_client_timestamp_is_pinned_per_call(
    facade: Facade, cql_session: Any, keyspace: str
) -> None:
    await facade.batch([PutOp(("a",), "x", {"v": 1}), PutOp(("b",), "y", {"v": 2})])
    stamps = {
        row[0] for row in cql_session.execute(f"SELECT WRITETIME(value) FROM {keyspace}.items")
    }
    assert len(stamps) == 1


async def test_store_config_from_connect_uses_env_hosts(keyspace: str) -> None:
    from scyllabatch import AsyncStore, Store
    from tests.conftest import node_hosts, node_port

    with Store.connect(hosts=node_hosts(), port=node_port(), keyspace=keyspace) as store:
        store.setup()
        store.put(NS, "k", {"v": 1})
        assert store.get(NS, "k").value == {"v": 1}  # type: ignore[union-attr]
    async with await AsyncStore.connect(
        hosts=node_hosts(), port=node_port(), keyspace=keyspace
    ) as astore:
        await astore.asetup()
        assert (await astore.aget(NS, "k")).value == {"v": 1}  # type: ignore[union-attr]


async def test_setup_is_idempotent(facade: Facade) -> None:
    await setup_store(facade.store)
    await setup_store(facade.store)
    await facade.put(NS, "k", {"v": 1})
    assert (await facade.get(NS, "k")).value == {"v": 1}


async def test_store_config_repr_hides_credentials() -> None:
    cfg = StoreConfig(username="app", password="s3cret-pw")
    assert "s3cret-pw" not in repr(cfg)


async def test_partitions_on_the_same_replicas_share_batches(
    facade: Facade, cql_session: Any, keyspace: str
) -> None:
    # On a one-node cluster every partition has the same replica set: 120 single-op partitions
    # travel as 2 batches (at most 100 ops and 100 partitions each), after created_at look-ups
    # shared by 25 partitions each (they write the same key: exactly the rows written).
    await facade.batch([PutOp(("spread", str(p)), "k", {"p": p}) for p in range(120)])
    stats = facade.store.get_metrics()["batch_stats"]
    assert stats["unlogged_batches"] == 2
    assert stats["read_requests"] == 5
    assert count_rows(cql_session, keyspace) == 120
    # An update keeps created_at through the look-up.
    first = await facade.get(("spread", "7"), "k")
    await facade.batch([PutOp(("spread", str(p)), "k", {"p": -p}) for p in range(120)])
    again = await facade.get(("spread", "7"), "k")
    assert again.value == {"p": -7}
    assert again.created_at == first.created_at
    assert again.updated_at > first.updated_at


async def test_any_iterable_of_ops_is_accepted(facade: Facade) -> None:
    await facade.batch(PutOp(NS, f"g{i}", {"i": i}) for i in range(3))  # a generator
    got = await facade.batch(iter([GetOp(NS, "g0"), GetOp(NS, "g2")]))
    assert [g.value for g in got] == [{"i": 0}, {"i": 2}]
    with pytest.raises(StoreValidationError, match="ops must be a list"):
        await facade.batch("not ops")  # type: ignore[arg-type]
