"""Counters and conditional writes against the real node, over both facades.

What the server decides (COUNTER batches, lightweight transactions, which writer of a race
wins, what is stored after a failed condition) is checked on the node, never mocked.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from scyllabatch import (
    ConditionalPutOp,
    ConditionalResult,
    CounterOp,
    GetCountersOp,
    GetOp,
    IfAbsent,
    IfUnchanged,
    Item,
    PutOp,
    SearchOp,
    Store,
    StoreConfig,
    StoreValidationError,
)
from tests.integration.conftest import Facade

NS = ("users", "alice")
EPOCH_PLUS_ONE = datetime(1970, 1, 1, 0, 0, 1, tzinfo=timezone.utc)


def count_rows(session: Any, keyspace: str, table: str) -> int:
    return int(session.execute(f"SELECT COUNT(*) FROM {keyspace}.{table}").one()[0])


# -- counters -------------------------------------------------------------------------------------


async def test_counters_add_up_and_read_back(facade: Facade) -> None:
    results = await facade.batch(
        [
            CounterOp(NS, "page", "views", 2),
            CounterOp(NS, "page", "views", 3),
            CounterOp(NS, "page", "likes", -1),
            CounterOp(("other",), "page", "views", 7),
        ]
    )
    assert results == [None] * 4
    await facade.batch([CounterOp(NS, "page", "views")])  # delta defaults to 1
    got = await facade.batch(
        [
            GetCountersOp(NS, "page"),
            GetCountersOp(("other",), "page"),
            GetCountersOp(NS, "never"),
        ]
    )
    assert got == [{"views": 6, "likes": -1}, {"views": 7}, {}]


async def test_counters_of_one_partition_go_in_one_counter_batch(facade: Facade) -> None:
    facade.store.reset_metrics()
    await facade.batch([CounterOp(NS, f"k{i}", "n", i + 1) for i in range(20)])
    stats = facade.store.get_metrics()["batch_stats"]
    # the server accepted one COUNTER batch of 20 updates
    assert stats["write_requests"] == stats["counter_requests"] == 1
    got = await facade.batch([GetCountersOp(NS, f"k{i}") for i in range(20)])
    assert got == [{"n": i + 1} for i in range(20)]


async def test_counters_are_apart_from_items(facade: Facade) -> None:
    await facade.batch([CounterOp(("counted",), "k", "n", 5)])
    # a counter does not make an item exist, nor a namespace to list
    assert await facade.get(("counted",), "k") is None
    assert await facade.list_namespaces() == []
    await facade.put(("counted",), "k", {"v": 1})
    await facade.delete(("counted",), "k")  # deleting the item leaves its counters
    assert (await facade.batch([GetCountersOp(("counted",), "k")])) == [{"n": 5}]


async def test_reads_and_counters_in_one_call(facade: Facade) -> None:
    await facade.batch([CounterOp(NS, "k", "n", 1)])
    # reads see the state before the call's writes, counters included
    got = await facade.batch([GetCountersOp(NS, "k"), CounterOp(NS, "k", "n", 1)])
    assert got == [{"n": 1}, None]
    assert await facade.batch([GetCountersOp(NS, "k")]) == [{"n": 2}]


async def test_counter_validation_before_any_io(
    facade: Facade, cql_session: Any, keyspace: str
) -> None:
    bad: list[tuple[Any, str]] = [
        (CounterOp(NS, "k", "n", True), "delta"),
        (CounterOp(NS, "k", "n", 1.5), "delta"),  # type: ignore[arg-type]
        (CounterOp(NS, "k", "n", 2**63), "delta"),
        (CounterOp(NS, "k", "", 1), "counter"),
        (CounterOp(NS, 1, "n", 1), "key"),  # type: ignore[arg-type]
        (CounterOp(("a.b",), "k", "n", 1), "namespace[0]"),
    ]
    for op, field in bad:
        with pytest.raises(StoreValidationError) as info:
            await facade.batch([CounterOp(NS, "ok", "n", 1), op])
        assert info.value.op_index == 1
        assert info.value.field == field
    with pytest.raises(StoreValidationError) as info:  # the sum of one counter overflows
        await facade.batch([CounterOp(NS, "k", "n", 2**63 - 1), CounterOp(NS, "k", "n", 1)])
    assert info.value.field == "delta"
    with pytest.raises(StoreValidationError, match="LOGGED") as info:
        await facade.batch([PutOp(NS, "a", {}), CounterOp(NS, "k", "n", 1)], batch_type="LOGGED")
    assert info.value.op_index == 1
    assert count_rows(cql_session, keyspace, "counters") == 0
    assert count_rows(cql_session, keyspace, "items") == 0


# -- conditional writes ---------------------------------------------------------------------------


async def test_put_if_absent_applies_once_and_returns_the_stored_item(facade: Facade) -> None:
    first = await facade.batch([ConditionalPutOp(NS, "lock", {"owner": "a"}, IfAbsent())])
    assert isinstance(first[0], ConditionalResult)
    assert first[0].applied
    written = first[0].current
    assert isinstance(written, Item)
    assert written.value == {"owner": "a"}
    stored = await facade.get(NS, "lock")
    assert stored == written
    assert stored.updated_at == written.updated_at
    assert stored.created_at == written.created_at

    second = await facade.batch([ConditionalPutOp(NS, "lock", {"owner": "b"}, IfAbsent())])
    assert second[0].applied is False
    assert second[0].current is not None
    assert second[0].current.value == {"owner": "a"}
    assert second[0].current.updated_at == written.updated_at
    assert (await facade.get(NS, "lock")).value == {"owner": "a"}


async def test_put_if_unchanged_is_optimistic_locking(facade: Facade) -> None:
    await facade.put(NS, "doc", {"rev": 1})
    read = await facade.get(NS, "doc")
    await facade.put(NS, "doc", {"rev": 2})  # someone else writes meanwhile
    stale = await facade.batch(
        [ConditionalPutOp(NS, "doc", {"rev": 9}, IfUnchanged(read.updated_at))]
    )
    assert stale[0].applied is False
    assert stale[0].current.value == {"rev": 2}

    fresh = stale[0].current
    done = await facade.batch(
        [ConditionalPutOp(NS, "doc", {"rev": 3}, IfUnchanged(fresh.updated_at))]
    )
    assert done[0].applied
    assert done[0].current.updated_at > fresh.updated_at
    stored = await facade.get(NS, "doc")
    assert stored.value == {"rev": 3}
    assert stored.created_at == read.created_at  # created_at survives a conditional update
    assert stored.updated_at == done[0].current.updated_at
    # the version it returned is the one the next conditional write compares against
    again = await facade.batch(
        [ConditionalPutOp(NS, "doc", {"rev": 4}, IfUnchanged(stored.updated_at))]
    )
    assert again[0].applied


async def test_put_if_unchanged_on_a_missing_item_is_not_applied(facade: Facade) -> None:
    result = await facade.batch(
        [ConditionalPutOp(NS, "ghost", {"v": 1}, IfUnchanged(EPOCH_PLUS_ONE))]
    )
    assert result == [ConditionalResult(applied=False, current=None)]
    assert await facade.get(NS, "ghost") is None


async def test_delete_if_unchanged(facade: Facade) -> None:
    await facade.put(NS, "d", {"v": 1})
    read = await facade.get(NS, "d")
    wrong = await facade.batch(
        [ConditionalPutOp(NS, "d", None, IfUnchanged(read.updated_at - timedelta(microseconds=1)))]
    )
    assert wrong[0].applied is False
    assert wrong[0].current == read
    assert (await facade.get(NS, "d")) is not None
    right = await facade.batch([ConditionalPutOp(NS, "d", None, IfUnchanged(read.updated_at))])
    assert right == [ConditionalResult(applied=True, current=None)]
    assert await facade.get(NS, "d") is None


async def test_conditional_writes_of_one_namespace_apply_together(facade: Facade) -> None:
    await facade.put(NS, "taken", {"v": 0})
    results = await facade.batch(
        [
            ConditionalPutOp(NS, "free", {"v": 1}, IfAbsent()),
            ConditionalPutOp(NS, "taken", {"v": 1}, IfAbsent()),
            ConditionalPutOp(("elsewhere",), "free", {"v": 1}, IfAbsent()),
        ]
    )
    assert facade.store.get_metrics()["batch_stats"]["conditional_requests"] == 2
    # one conditional batch per namespace: the first op's condition held, but its batch failed
    assert [r.applied for r in results] == [False, False, True]
    assert results[0].current is None  # still absent, as its condition expected
    assert results[1].current.value == {"v": 0}
    assert await facade.get(NS, "free") is None
    assert (await facade.get(("elsewhere",), "free")).value == {"v": 1}


async def test_conditional_writes_with_ttl_expire_whole(
    facade: Facade, cql_session: Any, keyspace: str
) -> None:
    await facade.put(NS, "t", {"v": 1})  # no TTL: its row marker never expires
    read = await facade.get(NS, "t")
    done = await facade.batch(
        [ConditionalPutOp(NS, "t", {"v": 2}, IfUnchanged(read.updated_at), ttl=1.0)]
    )
    assert done[0].applied
    row = cql_session.execute(
        f"SELECT TTL(value), TTL(created_at), TTL(updated_at), ttl FROM {keyspace}.items "
        "WHERE namespace = %s AND key = %s",
        (".".join(NS), "t"),
    ).one()
    # every cell carries the TTL (the row is re-inserted, not only updated): the item expires
    # whole instead of leaving an empty row behind
    assert all(0 < ttl <= 61 for ttl in row[:3])
    assert row[3] == 61


async def test_conditional_put_registers_its_namespace(facade: Facade) -> None:
    await facade.batch([ConditionalPutOp(("fresh", "ns"), "k", {"v": 1}, IfAbsent())])
    assert await facade.list_namespaces() == [("fresh", "ns")]
    found = await facade.batch([SearchOp(("fresh",))])
    assert [item.key for item in found[0]] == ["k"]


async def test_conditional_and_plain_writes_of_one_key_are_refused(
    facade: Facade, cql_session: Any, keyspace: str
) -> None:
    with pytest.raises(StoreValidationError, match="clocks") as info:
        await facade.batch(
            [
                PutOp(NS, "other", {"v": 0}),
                PutOp(NS, "k", {"v": 1}),
                ConditionalPutOp(NS, "k", {"v": 2}, IfAbsent()),
            ]
        )
    assert info.value.op_index == 2
    assert info.value.field == "key"
    assert "op 1 (PutOp)" in str(info.value)
    with pytest.raises(StoreValidationError) as info:
        await facade.batch(
            [
                ConditionalPutOp(NS, "k", {"v": 1}, IfAbsent()),
                ConditionalPutOp(NS, "k", {"v": 2}, IfAbsent()),
            ]
        )
    assert info.value.op_index == 1
    with pytest.raises(StoreValidationError, match="LOGGED"):
        await facade.batch([ConditionalPutOp(NS, "k", {}, IfAbsent())], batch_type="LOGGED")
    assert count_rows(cql_session, keyspace, "items") == 0


async def test_conditional_validation(facade: Facade) -> None:
    bad: list[tuple[Any, str]] = [
        (ConditionalPutOp(NS, "k", None, IfAbsent()), "condition"),
        (ConditionalPutOp(NS, "k", {}, None), "condition"),  # type: ignore[arg-type]
        (ConditionalPutOp(NS, "k", {}, IfUnchanged("yesterday")), "condition.updated_at"),  # type: ignore[arg-type]
        (ConditionalPutOp(NS, "k", [1], IfAbsent()), "value"),  # type: ignore[arg-type]
        (ConditionalPutOp(NS, "k", {}, IfAbsent(), ttl=-1), "ttl"),
        (ConditionalPutOp(NS, "k", {"x": object()}, IfAbsent()), "value"),
    ]
    for op, field in bad:
        with pytest.raises(StoreValidationError) as info:
            await facade.batch([GetOp(NS, "k"), op])
        assert info.value.op_index == 1, op
        assert info.value.field == field, op
        assert "ConditionalPutOp" in str(info.value)


async def test_serial_consistency_per_call_and_configured(
    facade: Facade, cql_session: Any, keyspace: str
) -> None:
    result = await facade.batch(
        [ConditionalPutOp(NS, "s", {"v": 1}, IfAbsent())], serial_consistency="local_serial"
    )
    assert result[0].applied
    with pytest.raises(StoreValidationError) as info:
        await facade.batch([ConditionalPutOp(NS, "s", {}, IfAbsent())], serial_consistency="ONE")
    assert info.value.field == "serial_consistency"
    local = Store(
        cql_session, config=StoreConfig(keyspace=keyspace, serial_consistency="LOCAL_SERIAL")
    )
    again = local.batch([ConditionalPutOp(NS, "s", {"v": 2}, IfAbsent())])
    assert again[0].applied is False
    assert again[0].current.value == {"v": 1}
    with pytest.raises(StoreValidationError):
        StoreConfig(serial_consistency="QUORUM")


def test_two_writers_race_on_put_if_absent_exactly_one_wins(store: Store) -> None:
    """Two threads, released together by a barrier, put-if-absent the same key: in every round
    exactly one is applied, and the loser sees the winner's item."""
    rounds = 40
    barrier = threading.Barrier(2)
    outcomes: dict[str, list[ConditionalResult]] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for i in range(rounds):
                barrier.wait(timeout=60)
                op = ConditionalPutOp(("race",), f"r{i}", {"writer": name}, IfAbsent())
                outcomes[name].append(store.batch([op])[0])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=writer, args=(name,)) for name in outcomes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    wins = {"a": 0, "b": 0}
    for i, (a, b) in enumerate(zip(outcomes["a"], outcomes["b"], strict=True)):
        assert a.applied != b.applied, f"round {i}: applied {a.applied} and {b.applied}"
        winner, loser = ("a", b) if a.applied else ("b", a)
        wins[winner] += 1
        assert loser.current is not None
        assert loser.current.value == {"writer": winner}
        stored = store.get(("race",), f"r{i}")
        assert stored is not None
        assert stored.value == {"writer": winner}
    print(f"\n[race] {rounds} rounds: writer a won {wins['a']}, writer b won {wins['b']}")
