"""Semantic search against the real node: vectors in a storage-attached index, ranked by ANN.

A deterministic embedding function (``tests/vectors.py``) makes the expected ranking computable:
results are checked against a brute-force cosine ranking of the same vectors.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from scyllabatch import (
    AsyncStore,
    GetOp,
    IndexConfig,
    PutOp,
    SearchOp,
    Store,
    StoreConfig,
    StoreError,
    StoreQueryError,
    StoreValidationError,
)
from tests.conftest import async_wait_until, wait_until
from tests.integration.conftest import Facade, make_store, setup_store
from tests.lifetime import assert_refreshes_ttl, read_before_expiry, seconds_left_after
from tests.vectors import HashEmbeddings, cosine_ranking, embed_array

pytestmark = pytest.mark.integration

DIMS = 32
FRUIT = [
    "red apple fruit",
    "green apple pie",
    "blue sky ocean",
    "red car fast",
    "ocean wave blue",
    "yellow banana fruit",
    "apple orchard red",
]


@pytest.fixture(params=["sync", "async"])
async def indexed(
    request: pytest.FixtureRequest, cql_session: Any, keyspace: str
) -> tuple[Facade, HashEmbeddings]:
    """A set-up store with an index config on the ``text`` field, over each facade."""
    embed = HashEmbeddings(DIMS)
    store = make_store(
        request.param,
        cql_session,
        keyspace,
        index={"dims": DIMS, "embed": embed, "fields": ["text"]},
    )
    await setup_store(store)
    return Facade(store), embed


def vector_rows(session: Any, keyspace: str, namespace: str) -> list[Any]:
    return list(
        session.execute(
            f"SELECT key, path, TTL(embedding) FROM {keyspace}.item_vectors WHERE namespace = %s",
            (namespace,),
        )
    )


async def test_nearest_first_with_cosine_scores(indexed: tuple[Facade, HashEmbeddings]) -> None:
    facade, embed = indexed
    ns = ("docs", "fruit")
    await facade.batch([PutOp(ns, f"k{i}", {"text": t, "n": i}) for i, t in enumerate(FRUIT)])
    assert embed.calls == [len(FRUIT)]  # one embedding call for the whole batch

    hits = await facade.search(("docs",), query="red apple", limit=len(FRUIT))
    vectors = embed_array(FRUIT, DIMS)
    expected = cosine_ranking(embed_array(["red apple"], DIMS)[0], vectors)
    order = [f"k{i}" for i in np.argsort(-expected)]
    assert [hit.key for hit in hits] == order
    for hit in hits:
        assert hit.score == pytest.approx(float(expected[int(hit.key[1:])]), abs=1e-4)
        assert hit.value["text"] == FRUIT[int(hit.key[1:])]
        assert hit.namespace == ns


async def test_filters_pagination_and_prefixes(indexed: tuple[Facade, HashEmbeddings]) -> None:
    facade, _ = indexed
    await facade.batch(
        [PutOp(("t", "acme", "a"), f"k{i}", {"text": t, "n": i}) for i, t in enumerate(FRUIT)]
        + [PutOp(("t", "acme-corp"), "x", {"text": "red apple", "n": 0})]  # not under ("t","acme")
        + [PutOp(("t", "acme", "b"), "y", {"text": "red apple red", "n": 99})]
    )
    everything = await facade.search(("t", "acme"), query="red apple", limit=20)
    assert "x" not in {hit.key for hit in everything}  # labels match whole
    assert everything[0].key == "y"
    assert len(everything) == len(FRUIT) + 1

    filtered = await facade.search(
        ("t", "acme"), query="red apple", filter={"n": {"$gte": 2, "$lt": 99}}, limit=20
    )
    assert [h.key for h in filtered] == [
        h.key for h in everything if h.value["n"] >= 2 and h.value["n"] < 99
    ]
    pages = [
        await facade.search(("t", "acme"), query="red apple", limit=3, offset=offset)
        for offset in (0, 3, 6)
    ]
    assert [h.key for page in pages for h in page] == [h.key for h in everything]
    assert await facade.search(("t", "acme"), query="red apple", limit=0) == []


async def test_updates_deletes_and_index_override(
    indexed: tuple[Facade, HashEmbeddings], cql_session: Any, keyspace: str
) -> None:
    facade, embed = indexed
    ns = ("u",)
    await facade.batch([PutOp(ns, f"k{i}", {"text": t}) for i, t in enumerate(FRUIT)])
    top = await facade.search(ns, query="yellow banana", limit=1)
    assert top[0].key == "k5"

    await facade.put(ns, "k5", {"text": "grey stone"})  # overwrite: the old vector goes
    after = await facade.search(ns, query="yellow banana", limit=len(FRUIT))
    assert [h.key for h in after].count("k5") == 1
    assert after[0].key != "k5"
    assert {r.key for r in vector_rows(cql_session, keyspace, "u")} == {
        f"k{i}" for i in range(len(FRUIT))
    }

    await facade.delete(ns, "k5")
    assert "k5" not in {h.key for h in await facade.search(ns, query="grey stone", limit=10)}
    assert "k5" not in {r.key for r in vector_rows(cql_session, keyspace, "u")}

    calls = len(embed.calls)
    await facade.batch([PutOp(ns, "k0", {"text": "red apple fruit"}, index=False)])
    assert len(embed.calls) == calls  # nothing to embed
    assert "k0" not in {r.key for r in vector_rows(cql_session, keyspace, "u")}
    await facade.batch([PutOp(ns, "k1", {"text": "x", "title": "two words"}, index=["title"])])
    assert {(r.key, r.path) for r in vector_rows(cql_session, keyspace, "u") if r.key == "k1"} == {
        ("k1", "title")
    }
    assert (await facade.search(ns, query="two words", limit=1))[0].key == "k1"


async def test_items_without_vectors_fill_the_page_unscored_after_the_scored_ones(
    indexed: tuple[Facade, HashEmbeddings],
) -> None:
    facade, _ = indexed
    await facade.batch(
        [PutOp(("f",), f"k{i}", {"text": FRUIT[i], "kind": "fruit"}) for i in range(3)]
        + [PutOp(("f",), f"n{i}", {"text": "red", "kind": "plain"}, index=False) for i in range(3)]
        + [PutOp(("f", "sub"), "s0", {"text": "red apple", "kind": "sub"}, index=False)]
    )
    await facade.batch(  # many items without vectors: a search must not read them all
        [PutOp(("f",), f"z{i:03}", {"kind": "plain"}, index=False) for i in range(200)]
    )
    scored = [h.key for h in await facade.search(("f",), query="red apple", limit=3)]
    assert sorted(scored) == ["k0", "k1", "k2"]

    hits = await facade.search(("f",), query="red apple", limit=10)
    # the scored ones first, then unscored ones in namespace then key order
    assert [h.key for h in hits] == [*scored, "n0", "n1", "n2", "z000", "z001", "z002", "z003"]
    assert [h.score is None for h in hits] == [False] * 3 + [True] * 7
    pages = [
        await facade.search(("f",), query="red apple", limit=2, offset=offset)
        for offset in range(0, 10, 2)
    ]
    assert [h.key for page in pages for h in page] == [h.key for h in hits]

    facade.store.reset_metrics()
    assert [h.key for h in await facade.search(("f",), query="red apple", limit=4)] == [
        *scored,
        "n0",
    ]
    rows_read = facade.store.get_metrics()["batch_stats"]["rows_read"]
    print(f"\nquery search filling 1 of 4 from a namespace of 206 items: {rows_read} rows read")
    assert rows_read < 30  # registry, 3 vectors, 3 items, then 4 rows of the first scan page

    only_sub = await facade.search(("f",), query="red apple", filter={"kind": "sub"})
    assert [(h.namespace, h.key, h.score) for h in only_sub] == [(("f", "sub"), "s0", None)]


async def test_empty_query_is_a_plain_search(indexed: tuple[Facade, HashEmbeddings]) -> None:
    facade, embed = indexed
    await facade.batch([PutOp(("e",), f"k{i}", {"text": t}) for i, t in enumerate(FRUIT[:3])])
    calls = len(embed.calls)
    hits = await facade.search(("e",), query="", limit=10)
    assert sorted(h.key for h in hits) == ["k0", "k1", "k2"]
    assert all(h.score is None for h in hits)
    assert len(embed.calls) == calls  # nothing embedded: "" is no query, as in LangGraph


async def test_wildcard_fields_store_one_vector_per_text(cql_session: Any, keyspace: str) -> None:
    embed = HashEmbeddings(DIMS)
    store = Store(
        cql_session,
        config=StoreConfig(
            keyspace=keyspace,
            index=IndexConfig(dims=DIMS, embed=embed, fields=("tags[*]", "title")),
        ),
    )
    store.setup()
    store.put(("w",), "doc", {"title": "report", "tags": ["ocean wave", "red car"]})
    store.put(("w",), "other", {"title": "ocean wave blue sky", "tags": []})
    paths = {(r.key, r.path) for r in vector_rows(cql_session, keyspace, "w")}
    assert paths == {
        ("doc", "tags[*].0"),
        ("doc", "tags[*].1"),
        ("doc", "title"),
        ("other", "title"),
    }
    hits = store.search(("w",), query="red car")
    assert hits[0].key == "doc"  # its best vector (one tag) decides its score
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert [h.key for h in hits] == ["doc", "other"]  # one result per item


async def test_ttl_expires_vectors_with_the_item(
    indexed: tuple[Facade, HashEmbeddings], cql_session: Any, keyspace: str
) -> None:
    facade, _ = indexed
    # 4 s stored, lives at least 3 s: the vector row must be there when read back in that time.
    rows = await read_before_expiry(
        lambda: facade.batch([PutOp(("e",), "short", {"text": "red apple"}, ttl=3 / 60)]),
        lambda: vector_rows(cql_session, keyspace, "e"),
        lives=3.0,
    )
    assert [r.key for r in rows] == ["short"]
    assert 0 < rows[0][2] <= 4

    async def gone() -> bool:
        return await facade.get(("e",), "short", refresh_ttl=False) is None and not vector_rows(
            cql_session, keyspace, "e"
        )

    await async_wait_until(gone, timeout=30, what="the item and its vector to expire")
    assert await facade.search(("e",), query="red apple") == []


async def test_refresh_ttl_reapplies_the_ttl_to_vectors(
    indexed: tuple[Facade, HashEmbeddings], cql_session: Any, keyspace: str
) -> None:
    facade, _ = indexed
    called = time.monotonic()
    await facade.put(("r",), "k", {"text": "red apple"}, ttl=1.0)  # 61 s
    left = vector_rows(cql_session, keyspace, "r")[0][2]
    assert left >= seconds_left_after(61, called, time.monotonic())

    def vector_ttl() -> list[int]:
        return [vector_rows(cql_session, keyspace, "r")[0][2]]

    def counted_down() -> bool:  # far enough below 61 s to tell a refresh from none
        return vector_ttl()[0] <= 56

    wait_until(counted_down, timeout=30, what="the vector's TTL to count down")
    await assert_refreshes_ttl(
        lambda: facade.get(("r",), "k", refresh_ttl=True), vector_ttl, stored=61
    )
    wait_until(counted_down, timeout=30, what="the vector's TTL to count down again")

    async def search() -> None:  # a search refreshes too
        hits = await facade.search(("r",), query="red apple")
        assert [h.key for h in hits] == ["k"]

    await assert_refreshes_ttl(search, vector_ttl, stored=61)
    await facade.search(("r",), query="red apple", refresh_ttl=False)
    await facade.batch([GetOp(("r",), "k", refresh_ttl=False)])


async def test_logged_calls_and_mixed_reads(indexed: tuple[Facade, HashEmbeddings]) -> None:
    facade, embed = indexed
    ns = ("l",)
    await facade.batch([PutOp(ns, "a", {"text": "red apple"})])
    results = await facade.batch(
        [
            PutOp(ns, "b", {"text": "red apple fruit"}),
            SearchOp(ns, query="red apple"),  # reads see the state before the batch
            PutOp(ns, "a", None),
        ],
        batch_type="LOGGED",
    )
    assert [h.key for h in results[1]] == ["a"]
    assert embed.calls[-1] == 2  # the put's text and the query, in one call
    assert [h.key for h in await facade.search(ns, query="red apple")] == ["b"]


async def test_embedding_problems_send_nothing(cql_session: Any, keyspace: str) -> None:
    def wrong_dims(texts: Sequence[str]) -> list[list[float]]:
        return [[1.0, 0.0] for _ in texts]

    store = Store(
        cql_session, config=StoreConfig(keyspace=keyspace, index={"dims": 4, "embed": wrong_dims})
    )
    store.setup()
    with pytest.raises(StoreValidationError) as info:
        store.put(("p",), "k", {"text": "hello"})
    assert info.value.field == "index.dims"
    assert store.get(("p",), "k") is None

    def zeros(texts: Sequence[str]) -> list[list[float]]:
        return [[0.0] * 4 for _ in texts]

    broken = Store(
        cql_session, config=StoreConfig(keyspace=keyspace, index={"dims": 4, "embed": zeros})
    )
    with pytest.raises(StoreValidationError, match="all zeros"):
        broken.put(("p",), "k", {"text": "hello"})

    def raising(texts: Sequence[str]) -> list[list[float]]:
        raise RuntimeError("model offline")

    failing = Store(
        cql_session, config=StoreConfig(keyspace=keyspace, index={"dims": 4, "embed": raising})
    )
    with pytest.raises(StoreError, match="model offline") as raised:
        failing.batch([PutOp(("p",), "k", {"text": "hello"}), GetOp(("p",), "k")])
    assert isinstance(raised.value.__cause__, RuntimeError)
    assert store.get(("p",), "k") is None


async def test_setup_refuses_another_dimension(cql_session: Any, keyspace: str) -> None:
    Store(
        cql_session,
        config=StoreConfig(keyspace=keyspace, index={"dims": 8, "embed": HashEmbeddings(8)}),
    ).setup()
    other = Store(
        cql_session,
        config=StoreConfig(keyspace=keyspace, index={"dims": 16, "embed": HashEmbeddings(16)}),
    )
    with pytest.raises(StoreQueryError, match="vector<float, 8>"):
        other.setup()
    dot = Store(
        cql_session,
        config=StoreConfig(
            keyspace=keyspace,
            index={"dims": 8, "embed": HashEmbeddings(8), "distance": "dot_product"},
        ),
    )
    with pytest.raises(StoreQueryError, match="similarity function 'cosine'"):
        dot.setup()


async def test_without_index_config_nothing_changes(
    facade: Facade, cql_session: Any, keyspace: str
) -> None:
    await facade.batch(
        [PutOp(("n",), "a", {"text": "red apple"}), PutOp(("n",), "b", {"text": "sky"})]
    )
    hits = await facade.search(("n",), query="red apple")  # ignored: newest first, no score
    assert {h.key for h in hits} == {"a", "b"}
    assert all(h.score is None for h in hits)
    tables = {
        row.table_name
        for row in cql_session.execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (keyspace,)
        )
    }
    assert "item_vectors" not in tables


@pytest.mark.parametrize("distance", ["dot_product", "euclidean"])
async def test_other_distances(cql_session: Any, keyspace: str, distance: str) -> None:
    store = Store(
        cql_session,
        config=StoreConfig(
            keyspace=keyspace,
            index={
                "dims": DIMS,
                "embed": HashEmbeddings(DIMS),
                "fields": ["text"],
                "distance": distance,
            },
        ),
    )
    store.setup()
    store.batch([PutOp(("d",), f"k{i}", {"text": t}) for i, t in enumerate(FRUIT)])
    hits = store.search(("d",), query="red apple", limit=len(FRUIT))
    vectors = embed_array(FRUIT, DIMS).astype(np.float64)
    query = embed_array(["red apple"], DIMS)[0].astype(np.float64)
    if distance == "dot_product":
        expected = vectors @ query
    else:
        expected = -np.linalg.norm(vectors - query, axis=1)
    assert [h.key for h in hits] == [f"k{i}" for i in np.argsort(-expected)]
    for hit in hits:
        assert hit.score == pytest.approx(float(expected[int(hit.key[1:])]), abs=1e-3)


class CountingEmbeddings(Embeddings):
    """A LangChain ``Embeddings`` object over the deterministic function."""

    def __init__(self) -> None:
        self.documents: list[int] = []
        self.queries: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.documents.append(len(texts))
        return embed_array(texts, DIMS).tolist()

    def embed_query(self, text: str) -> list[float]:
        self.queries.append(text)
        return embed_array([text], DIMS)[0].tolist()


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_langchain_embeddings_objects(cql_session: Any, keyspace: str, kind: str) -> None:
    embeddings = CountingEmbeddings()
    store = make_store(
        kind, cql_session, keyspace, index={"dims": DIMS, "embed": embeddings, "fields": ["text"]}
    )
    await setup_store(store)
    facade = Facade(store)
    await facade.batch(
        [PutOp(("lc",), f"k{i}", {"text": t}) for i, t in enumerate(FRUIT)]
        + [SearchOp(("lc",), query="red apple"), SearchOp(("lc",), query="red apple")]
    )
    assert embeddings.documents == [len(FRUIT)]
    assert embeddings.queries == ["red apple"]  # distinct queries, each embedded once
    hits = await facade.search(("lc",), query="blue ocean", limit=2)
    assert {h.key for h in hits} == {"k2", "k4"}


async def test_async_store_never_blocks_the_loop_while_embedding(
    cql_session: Any, keyspace: str
) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def blocking(texts: Sequence[str]) -> list[list[float]]:
        seen.append(threading.get_ident())
        return embed_array(list(texts), DIMS).tolist()

    store = AsyncStore(
        cql_session, config=StoreConfig(keyspace=keyspace, index={"dims": DIMS, "embed": blocking})
    )
    await store.asetup()
    await store.aput(("a",), "k", {"text": "red apple"})
    assert seen
    assert loop_thread not in seen  # a sync function runs in a thread

    awaited: list[int] = []

    async def coroutine(texts: Sequence[str]) -> list[list[float]]:
        awaited.append(threading.get_ident())
        await asyncio.sleep(0)
        return embed_array(list(texts), DIMS).tolist()

    async_store = AsyncStore(
        cql_session, config=StoreConfig(keyspace=keyspace, index={"dims": DIMS, "embed": coroutine})
    )
    await async_store.asetup()
    hits = await async_store.asearch(("a",), query="red apple")
    assert awaited == [loop_thread]  # an async function is awaited on the loop
    assert [h.key for h in hits] == ["k"]

    # A blocking Store runs an async-only function on an event loop of its own.
    sync_store = Store(
        cql_session, config=StoreConfig(keyspace=keyspace, index={"dims": DIMS, "embed": coroutine})
    )
    assert [h.key for h in sync_store.search(("a",), query="red apple")] == ["k"]


def test_langgraph_adapter_search_by_query(cql_session: Any, keyspace: str) -> None:
    from scyllabatch.langgraph import ScyllaBatchStore

    store = Store(cql_session, config=StoreConfig(keyspace=keyspace))
    embed = HashEmbeddings(DIMS)
    memory = ScyllaBatchStore(sync=store, index={"dims": DIMS, "embed": embed, "fields": ["text"]})
    store.setup()  # creates the vector table for the index config given to the adapter
    for i, text in enumerate(FRUIT):
        memory.put(("users", "ann", "memories"), f"m{i}", {"text": text, "i": i})
    memory.put(("users", "ann", "memories"), "skip", {"text": "red apple"}, index=False)
    hits = memory.search(("users", "ann"), query="red apple", limit=3)
    assert [h.key for h in hits] == ["m0", "m6", "m1"]
    assert all(isinstance(h.score, float) for h in hits)
    assert hits[0].score > hits[1].score > hits[2].score
    filtered = memory.search(("users", "ann"), query="red apple", filter={"i": {"$gt": 0}}, limit=2)
    assert [h.key for h in filtered] == ["m6", "m1"]
    assert memory.index_config is not None
    assert memory.index_config["dims"] == DIMS
    assert memory.index_config["embed"] is embed

    async def through_async() -> list[Any]:
        return await memory.asearch(("users",), query="blue ocean", limit=2)

    assert {h.key for h in asyncio.run(through_async())} == {"m2", "m4"}


def test_recall_at_10_over_10000_items(cql_session: Any, keyspace: str) -> None:
    """10,000 items of 256 dimensions in 10 namespaces: recall@10 against brute force."""
    dims = 256
    embed = HashEmbeddings(dims)
    store = Store(
        cql_session,
        config=StoreConfig(
            keyspace=keyspace, index={"dims": dims, "embed": embed, "fields": ["text"]}
        ),
    )
    store.setup()
    rng = random.Random(16)
    vocabulary = [f"w{n}" for n in range(2000)]
    texts = [" ".join(rng.sample(vocabulary, 4)) for _ in range(10_000)]
    for start in range(0, len(texts), 500):
        store.batch(
            [
                PutOp(("corpus", f"n{i % 10}"), f"k{i}", {"text": texts[i]})
                for i in range(start, start + 500)
            ]
        )
    vectors = embed_array(texts, dims).astype(np.float64)
    recalls = []
    for _ in range(20):
        query = " ".join(rng.sample(vocabulary, 2))
        expected = cosine_ranking(embed_array([query], dims)[0].astype(np.float64), vectors)
        tenth = np.sort(expected)[-10]
        hits = store.search(("corpus",), query=query, limit=10, refresh_ttl=False)
        assert len(hits) == 10
        # ties at the 10th score count as hits: any of them is a correct 10th neighbour
        recalls.append(sum(expected[int(h.key[1:])] >= tenth - 1e-5 for h in hits) / 10)
        for hit in hits:
            assert hit.score == pytest.approx(expected[int(hit.key[1:])], abs=1e-4)
    recall = sum(recalls) / len(recalls)
    print(f"recall@10 over 20 queries: {recall:.3f} (min {min(recalls):.1f})")
    assert recall >= 0.95
