"""Validation before I/O, setup() checks and TTL lifetime, against the real node.

Every refusal here is checked twice: no request reached the driver (a counting session), and the
keyspace holds nothing afterwards. Every acceptance at a limit's edge is a round trip through
the server, so the limits are no stricter than the database needs.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from scyllabatch import (
    GetOp,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchOp,
    Store,
    StoreConfig,
    StoreQueryError,
    StoreValidationError,
)
from scyllabatch._core.validation import MAX_NAMESPACE_BYTES, MAX_VALUE_BYTES
from scyllabatch.config import RESERVED_WORDS
from tests.conftest import async_wait_until
from tests.integration.conftest import Facade
from tests.integration.counting import CountingSession, stored_rows
from tests.lifetime import TRY_FOR, tries

NS = ("users", "alice")


def counting_store(cql_session: Any, keyspace: str, **config: Any) -> tuple[Store, CountingSession]:
    counting = CountingSession(cql_session)
    store = Store(counting, config=StoreConfig(keyspace=keyspace, **config))
    store.setup()
    counting.requests = 0
    return store, counting


def assert_refused_before_io(
    store: Store, counting: CountingSession, cql_session: Any, keyspace: str, ops: list[Any]
) -> StoreValidationError:
    with pytest.raises(StoreValidationError) as info:
        store.batch(ops)
    assert counting.requests == 0
    assert stored_rows(cql_session, keyspace) == 0
    return info.value


def big_namespace(size: int) -> tuple[str, ...]:
    """1 KiB labels joined with '.' into exactly ``size`` bytes."""
    labels = []
    remaining = size
    while remaining > 1024:
        labels.append("n" * 1024)
        remaining -= 1025
    labels.append("m" * remaining)
    assert len(".".join(labels).encode("utf-8")) == size
    return tuple(labels)


# -- refusals before any request ---------------------------------------------------------------


def test_an_oversized_namespace_is_refused_before_other_writes_land(
    cql_session: Any, keyspace: str
) -> None:
    store, counting = counting_store(cql_session, keyspace)
    huge = big_namespace(MAX_NAMESPACE_BYTES + 1)
    for op in (
        PutOp(huge, "k", {"v": 1}),
        GetOp(huge, "k"),
        SearchOp(huge),
        ListNamespacesOp(match_conditions=(MatchCondition("prefix", huge),)),
    ):
        error = assert_refused_before_io(
            store, counting, cql_session, keyspace, [PutOp(NS, "ok", {"v": 1}), op]
        )
        assert error.op_index == 1


def test_a_namespace_of_exactly_the_key_limit_round_trips(cql_session: Any, keyspace: str) -> None:
    store = Store(cql_session, config=StoreConfig(keyspace=keyspace))
    store.setup()
    widest = big_namespace(MAX_NAMESPACE_BYTES)
    store.put(widest, "k", {"v": 1})
    item = store.get(widest, "k")
    assert item is not None
    assert item.namespace == widest
    assert [hit.key for hit in store.search(widest)] == ["k"]
    assert store.list_namespaces(prefix=widest[:2]) == [widest]
    # Same check the server makes: one byte more is refused, by us, before anything is sent.
    with pytest.raises(StoreValidationError):
        store.put((*widest[:-1], widest[-1] + "m"), "k", {"v": 2})


def test_lone_surrogates_are_refused_before_io_for_every_op_kind(
    cql_session: Any, keyspace: str
) -> None:
    store, counting = counting_store(cql_session, keyspace)
    bad = ("users", "a\ud800")
    cases = [
        (PutOp(bad, "k", {"v": 1}), "namespace[1]"),
        (PutOp(bad, "k", None), "namespace[1]"),
        (GetOp(bad, "k"), "namespace[1]"),
        (SearchOp(bad), "namespace_prefix[1]"),
        (
            ListNamespacesOp(match_conditions=(MatchCondition("prefix", bad),)),
            "match_conditions[0].path[1]",
        ),
        (GetOp(NS, "k\udc00"), "key"),
    ]
    for op, field in cases:
        error = assert_refused_before_io(
            store, counting, cql_session, keyspace, [PutOp(NS, "ok", {"v": 1}), op]
        )
        assert (error.op_index, error.field) == (1, field)


def test_a_value_above_the_limit_is_refused_and_one_at_the_limit_round_trips(
    cql_session: Any, keyspace: str
) -> None:
    store, counting = counting_store(cql_session, keyspace)
    # {"b": <bin>} encodes to 1 + 2 + 5 bytes of headers plus the payload.
    too_big = {"b": b"\x01" * (MAX_VALUE_BYTES - 7)}
    error = assert_refused_before_io(
        store,
        counting,
        cql_session,
        keyspace,
        [PutOp(NS, "small", {"v": 1}), PutOp(NS, "k", too_big)],
    )
    assert (error.op_index, error.field) == (1, "value")
    assert "max_value_bytes" in str(error)
    largest = {"b": b"\x02" * (MAX_VALUE_BYTES - 8)}
    store.put(NS, "k", largest)
    item = store.get(NS, "k", refresh_ttl=False)
    assert item is not None
    assert item.value == largest


@pytest.mark.parametrize("ttl", [0, 1e308, 10**400, -(10**400)])
def test_unstorable_ttls_are_refused_before_io(cql_session: Any, keyspace: str, ttl: Any) -> None:
    store, counting = counting_store(cql_session, keyspace)
    for value in ({"v": 1}, None):
        error = assert_refused_before_io(
            store,
            counting,
            cql_session,
            keyspace,
            [PutOp(NS, "ok", {"v": 1}), PutOp(NS, "k", value, ttl=ttl)],
        )
        assert (error.op_index, error.field) == (1, "ttl")


# -- what LangGraph's stores accept ------------------------------------------------------------


async def test_labels_with_newlines_and_nul_are_stored_and_matched_exactly(
    facade: Facade,
) -> None:
    plain, newline, nul = ("users", "a"), ("users", "a\n"), ("users", "a\x00")
    await facade.batch(
        [PutOp(plain, "k", {"v": 0}), PutOp(newline, "k", {"v": 1}), PutOp(nul, "k", {"v": 2})]
    )
    assert (await facade.get(newline, "k")).value == {"v": 1}
    assert (await facade.get(nul, "k")).value == {"v": 2}
    # Prefix matching stays exact: ("users", "a") never sees ("users", "a\n") or ("users", "a\0").
    assert [i.value for i in await facade.search(plain)] == [{"v": 0}]
    assert [i.value for i in await facade.search(newline)] == [{"v": 1}]
    assert await facade.list_namespaces(prefix=("users",)) == sorted([plain, newline, nul])
    assert await facade.list_namespaces(suffix=("a\n",)) == [newline]


async def test_a_search_query_is_ignored_and_the_filtered_items_returned(facade: Facade) -> None:
    ns = ("docs", "q")
    await facade.batch([PutOp(ns, "a", {"kind": "x"}), PutOp(ns, "b", {"kind": "y"})])
    (with_query,) = await facade.batch([SearchOp(ns, {"kind": "x"}, query="hello")])
    assert [hit.key for hit in with_query] == ["a"]
    (everything,) = await facade.batch([SearchOp(ns, query="anything")])
    assert sorted(hit.key for hit in everything) == ["a", "b"]


async def test_a_str_match_condition_path_is_one_label(facade: Facade) -> None:
    await facade.batch(
        [
            PutOp(("a", "docs"), "k", {}),
            PutOp(("b", "docs"), "k", {}),
            PutOp(("c", "notes"), "k", {}),
            PutOp(("d", "o", "c", "s"), "k", {}),  # what splitting "docs" into letters matches
        ]
    )
    (found,) = await facade.batch(
        [ListNamespacesOp(match_conditions=(MatchCondition("suffix", "docs"),))]  # type: ignore[arg-type]
    )
    assert found == [("a", "docs"), ("b", "docs")]


# -- TTL lifetime ------------------------------------------------------------------------------


async def test_a_one_second_ttl_keeps_the_item_for_a_full_second_then_expires(
    facade: Facade, cql_session: Any, keyspace: str
) -> None:
    ns = ("ttl", "one")
    query = f"SELECT ttl FROM {keyspace}.items WHERE namespace = 'ttl.one' AND key = 'k'"
    # The server applies the write somewhere between the put's call and its return, and the
    # item must live a full second from then. So an empty read proves early expiry only if it
    # came back before one second had passed since the put was *called*; counting from the
    # put's return would charge the reply's trip (milliseconds on a loaded machine) to the TTL.
    # A try in which the machine stalled past that second proves nothing and is done again.
    for _ in tries():
        called = time.monotonic()
        await facade.put(ns, "k", {"v": 1}, ttl=1 / 60)
        stored = cql_session.execute(query).one()
        if stored is None:
            answered = time.monotonic()
            assert answered >= called + 1.0, f"expired {answered - called:.3f} s after the call"
            continue
        assert stored[0] == 2  # one asked second, plus the one whole-second expiry may take away
        reads_inside_the_second = 0
        while time.monotonic() < called + 1.0:
            item = await facade.get(ns, "k", refresh_ttl=False)
            answered = time.monotonic()
            if answered < called + 1.0:
                assert item is not None, f"expired {answered - called:.3f} s after the call"
                reads_inside_the_second += 1
        if reads_inside_the_second:
            break
    else:
        pytest.fail(f"no read came back within a second of the put in {TRY_FOR:.0f} s of tries")

    async def expired() -> bool:
        return await facade.get(ns, "k", refresh_ttl=False) is None

    await async_wait_until(expired, timeout=15, what="the 1-second item to expire")


async def test_reads_with_refresh_keep_a_short_ttl_item_alive_with_the_same_ttl(
    facade: Facade, cql_session: Any, keyspace: str
) -> None:
    ns = ("ttl", "refresh")
    query = (
        f"SELECT ttl, TTL(value) FROM {keyspace}.items "
        "WHERE namespace = 'ttl.refresh' AND key = 'k'"
    )
    # Each read re-applies the stored 2 s, so crossing whole seconds never expires the item
    # (with 1 s stored, the first read after a second boundary would find it gone). A write or
    # refresh applied after its call lives at least 1 s from that call: a read that came back
    # within 1 s of the last successful read's (or the put's) call must find the item. Reads
    # go on until one *called* 2 s after the put returned finds it, which the put's own TTL
    # could not explain. A stall that lets the item expire between two reads breaks the chain
    # without proving anything: the try starts again.
    kept_alive = False
    for _ in tries():
        kept_from = time.monotonic()
        await facade.put(ns, "k", {"v": 1}, ttl=1 / 60)
        put_returned = time.monotonic()
        while not kept_alive:
            await asyncio.sleep(0.2)  # a few reads a second keep it alive; fewer calls to stall
            called = time.monotonic()
            item = await facade.get(ns, "k")
            answered = time.monotonic()
            if item is None:
                assert answered >= kept_from + 1.0, (
                    f"expired {answered - kept_from:.3f} s after the last refresh was called"
                )
                break  # the machine stalled for more than a second: try again
            kept_from = called
            kept_alive = called >= put_returned + 2.0
            row = cql_session.execute(query).one()
            if row is None:
                answered = time.monotonic()
                assert answered >= kept_from + 1.0, (
                    f"expired {answered - kept_from:.3f} s after the last refresh was called"
                )
                break
            stored, remaining = row
            assert stored == 2
            assert remaining is not None
            assert remaining <= 2
        if kept_alive:
            break
    else:
        pytest.fail(f"reads never kept the item alive past its TTL in {TRY_FOR:.0f} s of tries")

    async def expired() -> bool:
        return await facade.get(ns, "k", refresh_ttl=False) is None

    await async_wait_until(expired, timeout=15, what="the item to expire once reads stop")


# -- configuration and setup() -----------------------------------------------------------------


def test_every_word_the_node_refuses_as_a_keyspace_name_is_refused_at_construction(
    cql_session: Any,
) -> None:
    from cassandra import InvalidRequest
    from cassandra.metadata import cql_keywords_reserved, cql_keywords_unreserved
    from cassandra.protocol import SyntaxException

    candidates = set(cql_keywords_reserved) | set(cql_keywords_unreserved) | {"between", "like"}
    refused_by_node = set()
    for word in sorted(candidates):
        try:
            cql_session.execute(f"SELECT * FROM {word}.items")
        except SyntaxException:
            refused_by_node.add(word)
        except InvalidRequest:
            pass  # parsed: the keyspace does not exist
    assert {"select", "table", "keyspace"} <= refused_by_node
    assert refused_by_node <= RESERVED_WORDS
    for word in refused_by_node:
        with pytest.raises(StoreValidationError, match="reserved"):
            StoreConfig(keyspace=word)


def test_setup_names_the_columns_of_a_clashing_table(cql_session: Any, keyspace: str) -> None:
    cql_session.execute(
        f"CREATE KEYSPACE {keyspace} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    cql_session.execute(
        f"CREATE TABLE {keyspace}.items (namespace text, key int, value text, "
        "PRIMARY KEY ((namespace), key))"
    )
    store = Store(cql_session, config=StoreConfig(keyspace=keyspace))
    with pytest.raises(StoreQueryError) as info:
        store.setup()
    message = str(info.value)
    for part in (
        f"{keyspace}.items",
        "column 'key' is int, expected text",
        "column 'value' is text, expected blob",
        "column 'created_at' (bigint) is missing",
        "column 'updated_at' (bigint) is missing",
        "column 'ttl' (int) is missing",
        "another keyspace",
    ):
        assert part in message
    assert "namespaces" not in message  # the tables setup() created itself are fine
    # A table with our columns and an extra regular one works: the SDK never touches it.
    cql_session.execute(f"DROP TABLE {keyspace}.items")
    cql_session.execute(
        f"CREATE TABLE {keyspace}.items (namespace text, key text, value blob, "
        "created_at bigint, updated_at bigint, ttl int, note text, PRIMARY KEY ((namespace), key))"
    )
    store.setup()
    store.put(NS, "k", {"v": 1})
    assert store.get(NS, "k").value == {"v": 1}  # type: ignore[union-attr]


class DeniedCreate(CountingSession):
    """A real session on which every CREATE fails as the server fails it without permission."""

    def __init__(self, session: Any) -> None:
        super().__init__(session)
        self.denied: list[str] = []

    def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        from cassandra.protocol import UnauthorizedErrorMessage

        if isinstance(query, str) and query.lstrip().upper().startswith("CREATE"):
            self.denied.append(query)
            raise UnauthorizedErrorMessage(
                0x2100,
                "User app has no CREATE permission on <all keyspaces> or any of its parents",
                None,
            ).to_exception()
        return super().execute(query, *args, **kwargs)


def test_setup_without_create_permission_says_what_to_do(cql_session: Any, keyspace: str) -> None:
    denied = DeniedCreate(cql_session)
    with pytest.raises(StoreQueryError) as info:
        Store(denied, config=StoreConfig(keyspace=keyspace)).setup()
    assert "create_keyspace=False" in str(info.value)
    assert f"CREATE KEYSPACE IF NOT EXISTS {keyspace}" in str(info.value)
    assert type(info.value.__cause__).__name__ == "Unauthorized"
    assert len(denied.denied) == 1
    # With the keyspace made by an administrator, the tables are what this account cannot make.
    cql_session.execute(
        f"CREATE KEYSPACE {keyspace} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    with pytest.raises(StoreQueryError) as info:
        Store(denied, config=StoreConfig(keyspace=keyspace)).setup()
    assert f"CREATE ON KEYSPACE {keyspace}" in str(info.value)
    assert f"CREATE TABLE IF NOT EXISTS {keyspace}.items" in str(info.value)
    # Once an administrator made the keyspace and tables, setup() creates nothing, so the same
    # account can run it.
    Store(cql_session, config=StoreConfig(keyspace=keyspace)).setup()
    denied.denied.clear()
    store = Store(denied, config=StoreConfig(keyspace=keyspace, create_keyspace=False))
    store.setup()
    assert denied.denied == []
    store.put(NS, "k", {"v": 1})
    assert store.get(NS, "k").value == {"v": 1}  # type: ignore[union-attr]


def test_setup_of_a_missing_keyspace_without_create_keyspace_says_what_to_do(
    cql_session: Any, keyspace: str
) -> None:
    store = Store(cql_session, config=StoreConfig(keyspace=keyspace, create_keyspace=False))
    with pytest.raises(StoreQueryError, match="create_keyspace=True"):
        store.setup()
    assert (
        cql_session.execute(
            "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = %s",
            (keyspace,),
        ).one()
        is None
    )
