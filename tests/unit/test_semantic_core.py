"""Semantic search without a database: field paths, index configs, embedding calls, planning,
vector writes and the nearest-neighbour reader's state machine."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import pytest
from langgraph.store.base.embed import get_text_at_path

from scyllabatch import (
    AsyncStore,
    IndexConfig,
    PutOp,
    SearchOp,
    Store,
    StoreConfig,
    StoreError,
    StoreValidationError,
)
from scyllabatch._core.paths import field_texts, split_path, texts_at
from scyllabatch._core.planner import plan_call, write_requests
from scyllabatch._core.requests import Consistency, Rows
from scyllabatch._core.schema import Statement
from scyllabatch._core.validation import validate_ops
from scyllabatch._core.vectors import (
    MAX_NEAREST,
    VectorSearchReader,
    score,
)
from scyllabatch._impl import codec
from scyllabatch.config import BatchLimits
from scyllabatch.index import Embedded, Embedder, EmbeddingRequest
from scyllabatch.ops import BatchType
from tests.unit.scripted import ScriptedTransport

VALUE: dict[str, Any] = {
    "text": "hello",
    "n": 3,
    "flag": True,
    "none": None,
    "tags": ["a", "b", {"deep": "c"}],
    "meta": {"author": "ann", "year": 2024, "nested": {"x": [1, 2]}},
    "items": [{"name": "one", "v": 1}, {"name": "two", "v": 2}],
}
PATHS = [
    "$",
    "",
    "text",
    "n",
    "flag",
    "none",
    "missing",
    "tags",
    "tags[0]",
    "tags[-1]",
    "tags[5]",
    "tags[*]",
    "tags[x]",
    "meta",
    "meta.author",
    "meta.nested.x",
    "meta.*",
    "items[*].name",
    "items[1].v",
    "meta.{author,year}",
    "meta.{author,nested.x,missing}",
    "items[*].{name,v}",
    "text[0]",
    "*",
    "text.deeper",
]


@pytest.mark.parametrize("path", PATHS)
def test_field_paths_reach_the_texts_langgraph_reaches(path: str) -> None:
    assert texts_at(VALUE, path) == get_text_at_path(VALUE, path)


def test_split_path_and_stored_path_names() -> None:
    assert split_path("a.b[0].{c,d.e}[*]") == ("a", "b", "[0]", "{c,d.e}", "[*]")
    assert field_texts(VALUE, ["text", "tags[*]", "missing"]) == [
        ("text", "hello"),
        ("tags[*].0", "a"),
        ("tags[*].1", "b"),
        ("tags[*].2", '{"deep": "c"}'),
    ]


def test_scores_from_server_similarities() -> None:
    assert score(1.0, "cosine") == 1.0
    assert score(0.5, "cosine") == 0.0
    assert score(0.0, "cosine") == -1.0
    assert score(0.75, "dot_product") == 0.5
    assert score(1.0, "euclidean") == 0.0
    assert score(0.2, "euclidean") == pytest.approx(-2.0)  # 1 / (1 + 4)
    assert score(0.0, "euclidean") == -math.inf


def embed_words(texts: Sequence[str]) -> list[list[float]]:
    return [[float(len(t)), 1.0, 0.0] for t in texts]


def test_index_config_from_langgraph_dicts_and_errors() -> None:
    config = StoreConfig(index={"dims": 3, "embed": embed_words, "fields": ["text"]})
    assert config.index_config == IndexConfig(dims=3, embed=embed_words, fields=("text",))
    assert StoreConfig().index_config is None
    assert IndexConfig(dims=3, embed=embed_words, fields="text").fields == ("text",)  # type: ignore[arg-type]
    problems: list[tuple[Any, str]] = [
        ({"embed": embed_words}, "index.dims"),
        ({"dims": 0, "embed": embed_words}, "index.dims"),
        ({"dims": True, "embed": embed_words}, "index.dims"),
        ({"dims": 3, "embed": 42}, "index.embed"),
        ({"dims": 3, "embed": embed_words, "fields": []}, "index.fields"),
        ({"dims": 3, "embed": embed_words, "fields": [1]}, "index.fields"),
        ({"dims": 3, "embed": embed_words, "distance": "manhattan"}, "index.distance"),
        ({"dims": 3, "embed": embed_words, "ann": True}, "index"),
        ("dims=3", "index"),
    ]
    for index, field in problems:
        with pytest.raises(StoreValidationError) as info:
            StoreConfig(index=index)
        assert info.value.field == field, index


def test_index_config_accepts_postgres_stores_dict() -> None:
    config = IndexConfig.coerce(
        {
            "dims": 3,
            "embed": embed_words,
            "fields": None,
            "distance_type": "inner_product",
            "ann_index_config": {"kind": "hnsw", "vector_type": "halfvec", "m": 16},
        }
    )
    assert config == IndexConfig(dims=3, embed=embed_words, distance="dot_product")
    for postgres, ours in (("cosine", "cosine"), ("l2", "euclidean")):
        given = {"dims": 3, "embed": embed_words, "distance_type": postgres}
        assert IndexConfig.coerce(given).distance == ours
    problems: list[tuple[dict[str, Any], str, str]] = [
        ({"distance_type": "hamming"}, "index.distance_type", "'hamming' is not supported"),
        ({"distance_type": "l2", "distance": "euclidean"}, "index.distance_type", "give one"),
        ({"ann_index_config": {"vector_type": "bit"}}, "index.ann_index_config", "32-bit"),
        ({"ann_index_config": {"lists": 3}}, "index.ann_index_config", "unknown keys"),
        ({"ann_index_config": "hnsw"}, "index.ann_index_config", "must be a dict"),
    ]
    for extra, field, message in problems:
        with pytest.raises(StoreValidationError, match=message) as info:
            IndexConfig.coerce({"dims": 3, "embed": embed_words, **extra})
        assert info.value.field == field, extra


class WordEmbeddings:
    """LangChain's Embeddings interface, duck-typed, with async twins."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(("documents", list(texts)))
        return embed_words(texts)

    def embed_query(self, text: str) -> list[float]:
        self.calls.append(("query", text))
        return embed_words([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(("adocuments", list(texts)))
        return embed_words(texts)

    async def aembed_query(self, text: str) -> list[float]:
        self.calls.append(("aquery", text))
        return embed_words([text])[0]


def test_embedder_calls_functions_and_embeddings_objects() -> None:
    request = EmbeddingRequest(documents=["ab", "abc"], queries=["q"])
    calls: list[list[str]] = []

    def function(texts: Sequence[str]) -> list[list[float]]:
        calls.append(list(texts))
        return embed_words(texts)

    embedded = Embedder(IndexConfig(dims=3, embed=function)).embed_blocking(request)
    assert calls == [["ab", "abc", "q"]]  # documents and queries in one call
    assert embedded == Embedded(documents=[[2, 1, 0], [3, 1, 0]], queries=[[1, 1, 0]])
    assert (
        asyncio.run(Embedder(IndexConfig(dims=3, embed=function)).embed_async(request)) == embedded
    )

    async def coroutine(texts: Sequence[str]) -> list[list[float]]:
        return embed_words(texts)

    assert Embedder(IndexConfig(dims=3, embed=coroutine)).embed_blocking(request) == embedded
    assert (
        asyncio.run(Embedder(IndexConfig(dims=3, embed=coroutine)).embed_async(request)) == embedded
    )

    words = WordEmbeddings()
    assert Embedder(IndexConfig(dims=3, embed=words)).embed_blocking(request) == embedded
    assert asyncio.run(Embedder(IndexConfig(dims=3, embed=words)).embed_async(request)) == embedded
    assert words.calls == [
        ("documents", ["ab", "abc"]),
        ("query", "q"),
        ("adocuments", ["ab", "abc"]),
        ("aquery", "q"),
    ]


@pytest.mark.parametrize(
    ("returned", "distance", "message"),
    [
        ([[1.0, 0, 0]], "cosine", "returned 1 vectors for 2 texts"),
        ([[1.0, 0], [1.0, 0]], "cosine", "2 dimensions"),
        ([[1.0, 0, math.nan], [1.0, 0, 0]], "cosine", "NaN"),
        ([[0.0, 0, 0], [1.0, 0, 0]], "cosine", "all zeros"),
        (["abc", [1.0, 0, 0]], "cosine", "3 dimensions|not a list of numbers"),
        (None, "cosine", "one vector per text"),
    ],
)
def test_embedder_checks_what_the_function_returns(
    returned: Any, distance: str, message: str
) -> None:
    embedder = Embedder(IndexConfig(dims=3, embed=lambda texts: returned, distance=distance))  # type: ignore[arg-type]
    with pytest.raises(StoreValidationError, match=message):
        embedder.embed_blocking(EmbeddingRequest(documents=["a", "b"], queries=[]))


def test_zero_vectors_are_fine_for_other_distances() -> None:
    embedder = Embedder(
        IndexConfig(dims=2, embed=lambda texts: [[0.0, 0.0] for _ in texts], distance="euclidean")
    )
    assert embedder.embed_blocking(EmbeddingRequest(["a"], [])).documents == [[0.0, 0.0]]


INDEX = IndexConfig(dims=3, embed=embed_words, fields=("text",))


def plan(ops: list[Any], batch_type: BatchType = BatchType.UNLOGGED, **kwargs: Any) -> Any:
    return plan_call(
        validate_ops(ops, codec),
        batch_type,
        1_000_000,
        kwargs.pop("limits", BatchLimits()),
        codec,
        1000,
        index=kwargs.pop("index", INDEX),
        raw_ops=ops,
        **kwargs,
    )


def test_plan_collects_texts_of_surviving_puts_and_queries() -> None:
    ops = [
        PutOp(("a",), "k", {"text": "first"}),
        PutOp(("a",), "k", {"text": "second", "title": "t"}),  # the last put of a key wins
        PutOp(("a",), "skip", {"text": "no"}, index=False),
        PutOp(("a",), "own", {"text": "x", "title": "mine"}, index=["title"]),
        PutOp(("a",), "gone", None),
        SearchOp(("a",), query="q1"),
        SearchOp(("a",), query="q1"),
        SearchOp(("a",), query="q2"),
        SearchOp(("a",)),  # no query: a plain search
    ]
    planned = plan(ops)
    vectors = planned.vectors
    assert vectors.documents == ["second", "mine"]
    assert [planned.writes[p].put.key for p, _ in vectors.targets] == ["k", "own"]
    assert vectors.queries == ["q1", "q2"]
    assert [type(s).__name__ for s in planned.searches] == [
        "VectorSearchReader",
        "VectorSearchReader",
        "VectorSearchReader",
        "SearchReader",
    ]
    assert planned.chunks == []  # indexed writes are batched by the vector path


def test_plan_without_index_is_unchanged() -> None:
    ops = [PutOp(("a",), "k", {"text": "x"}), SearchOp(("a",), query="q")]
    planned = plan(ops, index=None)
    assert planned.vectors is None
    assert [type(s).__name__ for s in planned.searches] == ["SearchReader"]
    assert len(planned.chunks) == 1


def test_vector_writes_share_the_items_batch_and_timestamp() -> None:
    ops = [
        PutOp(("a",), "k", {"text": "hello"}, ttl=1.0),
        PutOp(("a",), "d", None),
        PutOp(("b",), "k", {"text": "x"}, index=False),
    ]
    planned = plan(ops)
    planned.vectors.apply(Embedded(documents=[[5.0, 1.0, 0.0]], queries=[]))
    requests, _ = write_requests(planned, {("a", "k"): 7}, [], set(), BatchLimits(), {}, None)
    by_partition = {
        r.queries[0].params[0]
        if r.queries[0].statement is Statement.UPSERT
        else r.queries[0].params[1]: r
        for r in requests
    }
    first = [(q.statement, q.params) for q in by_partition["a"].queries]
    ts = 1_000_000
    encoded = planned.writes[0].put.encoded
    assert first == [
        (Statement.UPSERT, ("a", "k", encoded, 7, ts, 61, 61, ts)),
        (Statement.VECTOR_DELETE, (ts - 1, "a", "k")),
        (Statement.VECTOR_INSERT, ("a", "k", "text", [5.0, 1.0, 0.0], 61, ts)),
        (Statement.DELETE, (ts, "a", "d")),
        (Statement.VECTOR_DELETE, (ts, "a", "d")),
    ]
    assert by_partition["a"].batch_type is BatchType.UNLOGGED
    assert [q.statement for q in by_partition["b"].queries] == [
        Statement.UPSERT,
        Statement.VECTOR_DELETE,  # index=False: the item's old vectors go, no new one
    ]
    logged = plan(ops, BatchType.LOGGED)
    logged.vectors.apply(Embedded(documents=[[5.0, 1.0, 0.0]], queries=[]))
    requests, _ = write_requests(logged, {}, [], set(), BatchLimits(), {}, None)
    assert len(requests) == 1
    assert requests[0].batch_type is BatchType.LOGGED
    assert len(requests[0].queries) == 7


def test_unlogged_vector_writes_split_between_items() -> None:
    ops = [PutOp(("a",), f"k{i}", {"text": "t"}) for i in range(30)]
    planned = plan(ops, limits=BatchLimits(warn_ops=10, max_ops=20))
    planned.vectors.apply(Embedded(documents=[[1.0, 1.0, 0.0]] * 30, queries=[]))
    requests, _ = write_requests(
        planned, {}, [], set(), BatchLimits(warn_ops=10, max_ops=20), {}, None
    )
    assert [len(r.queries) for r in requests] == [9] * 10  # 3 statements per item, never split
    assert sorted(i for r in requests for i in r.op_indices) == list(range(30))


def test_logged_call_too_large_with_its_vectors_is_refused() -> None:
    ops = [PutOp(("a",), f"k{i}", {"text": "t"}) for i in range(40)]
    with pytest.raises(StoreValidationError, match="vectors"):
        plan(ops, BatchType.LOGGED)  # 40 items, 120 statements > 100


def reader_for(op: SearchOp, index: IndexConfig = INDEX) -> VectorSearchReader:
    read = validate_ops([op], codec)[0]
    reader = VectorSearchReader(read, codec, 1000, index)  # type: ignore[arg-type]
    reader.vector = [1.0, 0.0, 0.0]
    return reader


def item_row(key: str, value: dict[str, Any], updated: int = 5) -> tuple[Any, ...]:
    return (key, codec.encode(value), 1, updated, None, updated)


def test_reader_ranks_by_best_vector_and_deepens_when_the_filter_eats_candidates() -> None:
    reader = reader_for(SearchOp(("t",), filter={"keep": True}, limit=2, query="q"))
    [registry] = reader.start()
    follow = reader.feed(registry, Rows(rows=[("t.a",)]))
    [nearest] = follow
    assert nearest.queries[0].statement is Statement.VECTOR_NEAREST
    assert nearest.consistency is Consistency.NEAREST
    assert nearest.queries[0].params[1:] == ("t.a", [1.0, 0.0, 0.0], 10)
    rows = [(f"k{i}", "text", 1.0 - i / 100) for i in range(10)] + [("k0", "title", 0.2)]
    [lookup] = reader.feed(nearest, Rows(rows=rows))
    assert lookup.queries[0].statement is Statement.SELECT_KEYS
    assert lookup.queries[0].params == ("t.a", [f"k{i}" for i in range(10)])
    # only k3 matches the filter: the namespace was used up, so it goes 4 times deeper
    items = [item_row(f"k{i}", {"keep": i == 3}) for i in range(10)]
    [deeper] = reader.feed(lookup, Rows(rows=items))
    assert deeper.queries[0].params[3] == 40
    rows += [(f"k{i}", "text", 0.5 - i / 100) for i in range(10, 40)]
    [more] = reader.feed(deeper, Rows(rows=rows))
    assert more.queries[0].params[1] == [f"k{i}" for i in range(10, 40)]  # only new keys
    assert reader.feed(more, Rows(rows=[item_row("k12", {"keep": True})])) == []
    found, stored = reader.results()
    assert [(i.key, i.score) for i in found] == [
        ("k3", pytest.approx(2 * 0.97 - 1)),
        ("k12", pytest.approx(2 * 0.38 - 1)),
    ]
    assert [row.key for row in stored] == ["k3", "k12"]


def test_reader_merges_namespaces_and_pages_by_offset() -> None:
    reader = reader_for(SearchOp(("t",), limit=3, offset=2, query="q"))
    assert reader.first_limit == 10
    [registry] = reader.start()
    nearest = reader.feed(registry, Rows(rows=[("t.a",), ("t.b",), ("t.a",)]))
    assert [r.queries[0].params[1] for r in nearest] == ["t.a", "t.b"]  # each namespace once
    similarities = {"t.a": [0.9, 0.7, 0.5], "t.b": [0.8, 0.6]}
    for request in nearest:
        partition = request.queries[0].params[1]
        rows = [(f"{partition}-{n}", "text", s) for n, s in enumerate(similarities[partition])]
        [lookup] = reader.feed(request, Rows(rows=rows))
        items = [item_row(key, {"n": 1}) for key, _, _ in rows]
        assert reader.feed(lookup, Rows(rows=items)) == []  # fewer than k came back: done
    found, _ = reader.results()
    assert [i.key for i in found] == ["t.a-1", "t.b-1", "t.a-2"]  # ranks 2 to 4 of 5
    assert [i.namespace for i in found] == [("t", "a"), ("t", "b"), ("t", "a")]
    assert reader_for(SearchOp(("t",), limit=800, query="q")).first_limit == MAX_NEAREST


def test_reader_fills_the_page_with_items_without_vectors_after_the_scored_ones() -> None:
    reader = reader_for(SearchOp(("t",), filter={"keep": True}, limit=3, offset=1, query="q"))
    [registry] = reader.start()
    [nearest] = reader.feed(registry, Rows(rows=[("t.a",)]))
    rows = [("k0", "text", 0.9), ("k1", "text", 0.8)]  # 2 of k=10: every vector of t.a
    [lookup] = reader.feed(nearest, Rows(rows=rows))
    items = [item_row("k0", {"keep": True}), item_row("k1", {"keep": True})]
    # 2 scored of offset + limit = 4: read t.a for items without a vector
    [scan] = reader.feed(lookup, Rows(rows=items))
    assert scan.queries[0].statement is Statement.SCAN_PARTITION
    assert scan.queries[0].params == ("t.a",)
    assert scan.fetch_size == 4  # the 2 still needed and the 2 with vectors it will skip
    first = [item_row(k, {"keep": k != "k3"}) for k in ("k0", "k1", "k2", "k3")]
    [next_page] = reader.feed(scan, Rows(rows=first, paging_state=b"p"))
    assert next_page.paging_state == b"p"
    last = [item_row(k, {"keep": True}) for k in ("k4", "k5")]
    assert reader.feed(next_page, Rows(rows=last)) == []  # k4 completes the page: stop there
    found, stored = reader.results()
    assert [(i.key, i.score) for i in found] == [
        ("k1", pytest.approx(2 * 0.8 - 1)),
        ("k2", None),
        ("k4", None),
    ]
    assert [row.key for row in stored] == ["k1", "k2", "k4"]


def test_reader_does_not_fill_from_a_namespace_that_may_hold_unreturned_vectors() -> None:
    reader = reader_for(SearchOp(("t",), filter={"keep": True}, limit=2, query="q"))
    reader.first_limit = MAX_NEAREST
    [registry] = reader.start()
    [nearest] = reader.feed(registry, Rows(rows=[("t.a",)]))
    rows = [(f"k{i}", "text", 0.9) for i in range(MAX_NEAREST)]  # the server's most: maybe more
    lookups = reader.feed(nearest, Rows(rows=rows))
    follow = [
        reader.feed(lookup, Rows(rows=[item_row(key, {"keep": key == "k0"}) for key in keys]))
        for lookup in lookups
        for keys in [lookup.queries[0].params[1]]
    ]
    assert follow == [[]] * len(lookups)  # one match of 2, yet no scan: k1000... may have vectors
    found, _ = reader.results()
    assert [(i.key, i.score is not None) for i in found] == [("k0", True)]


def test_reader_with_limit_zero_sends_nothing() -> None:
    assert reader_for(SearchOp(("t",), limit=0, query="q")).start() == []


# -- both facades over a scripted transport (no database) -------------------------------------


def indexed_config(embed: Any, **changes: Any) -> StoreConfig:
    return StoreConfig(
        created_at_mode="write_only",
        index=IndexConfig(dims=3, embed=embed, fields=("text",), **changes),
    )


def run_on(facade: str, transport: Any, ops: list[Any], config: StoreConfig) -> list[Any]:
    if facade == "Store":
        return Store._over(transport, config).batch(ops)
    return asyncio.run(AsyncStore._over(transport, config).abatch(ops))


def inserts_open_at_once(transport: Any) -> int:
    """The most vector-inserting requests in flight at the same time."""
    open_now = most = 0
    for event, request in transport.events:
        if any(q.statement is Statement.VECTOR_INSERT for q in request.queries):
            open_now += 1 if event == "sent" else -1
            most = max(most, open_now)
    return most


@pytest.mark.parametrize("facade", ["Store", "AsyncStore"])
def test_one_embedding_call_per_batch_and_bounded_vector_inserts(facade: str) -> None:
    calls: list[int] = []

    def embed(texts: Sequence[str]) -> list[list[float]]:
        calls.append(len(texts))
        return embed_words(texts)

    transport = ScriptedTransport(lambda _request: [(0.01, Rows())])  # answered from a thread
    ops = [PutOp(("ns", f"p{i % 10}"), f"k{i}", {"text": f"t{i}"}) for i in range(200)]
    assert (
        run_on(facade, transport, ops, indexed_config(embed, write_concurrency=2)) == [None] * 200
    )
    assert calls == [200]
    inserting = [
        r for r in transport.sent if any(q.statement is Statement.VECTOR_INSERT for q in r.queries)
    ]
    assert len(inserting) >= 10  # one batch per partition at least
    assert 1 <= inserts_open_at_once(transport) <= 2


@pytest.mark.parametrize("facade", ["Store", "AsyncStore"])
def test_a_failing_embedding_function_sends_nothing(facade: str) -> None:
    def embed(texts: Sequence[str]) -> list[list[float]]:
        raise RuntimeError("model offline")

    transport = ScriptedTransport()
    with pytest.raises(StoreError, match="model offline"):
        run_on(facade, transport, [PutOp(("ns",), "k", {"text": "x"})], indexed_config(embed))
    assert transport.sent == []


def test_conditional_writes_are_refused_by_an_indexed_store() -> None:
    from scyllabatch import ConditionalPutOp, IfAbsent

    ops = [
        PutOp(("a",), "k", {"text": "x"}),
        ConditionalPutOp(("a",), "c", {"text": "y"}, IfAbsent()),
    ]
    with pytest.raises(StoreValidationError, match="index config") as info:
        plan(ops)
    assert info.value.op_index == 1
