"""Semantic search without I/O: what a call embeds, how vectors are written, how a query is read.

Only stores with an index config (``StoreConfig.index``) come here; every other call keeps the
plain write path (``docs/write-path.md``) and the plain search reader.

Writes. One row per (item, field path) in ``item_vectors``, partitioned by namespace like the
item. A put deletes the item's earlier vectors (a range tombstone one microsecond before the
call's timestamp) and inserts the new ones at the call's timestamp, with the item's TTL; a delete
removes them at the call's timestamp. The item and its vectors share one batch per partition
(the same partition key in one keyspace: one mutation, applied atomically), so whichever call
wrote last (by client timestamp) owns both the value and the vectors.

Reads. A ``SearchOp`` with ``query`` walks the namespace registry like a plain search, then runs
one approximate-nearest-neighbour query per namespace (``ORDER BY embedding ANN OF ? LIMIT k``,
the storage-attached index, restricted to the partition), reads the candidate items by key
(``key IN ?``), applies the filter, and deepens ``k`` (x4, at most the server's 1000) for a
namespace whose candidates were all used up by the filter before ``offset + limit`` matched.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scyllabatch._core.filters import matches
from scyllabatch._core.items import StoredRow, from_micros
from scyllabatch._core.paths import field_texts
from scyllabatch._core.reads import (
    MAX_ACTIVE_SCANS,
    MAX_KEYS_PER_LOOKUP,
    Reader,
    RegistryWalk,
    decode_values,
    namespace_of,
    read_request,
)
from scyllabatch._core.requests import Consistency, Query, Request, Rows
from scyllabatch._core.schema import Statement
from scyllabatch._core.validation import SearchRead
from scyllabatch._pure.writes import STATEMENT_OVERHEAD_BYTES
from scyllabatch.config import BatchLimits
from scyllabatch.errors import StoreValidationError
from scyllabatch.index import Embedded, EmbeddingRequest, IndexConfig
from scyllabatch.ops import BatchType, SearchItem

if TYPE_CHECKING:
    from scyllabatch._core.speedups import MergedWrite

#: The largest ``LIMIT`` the server accepts on an ``ANN OF`` query.
MAX_NEAREST = 1000
#: How much deeper a namespace's nearest-neighbour query goes when the filter used it up.
DEEPEN_FACTOR = 4


def score(similarity: float, distance: str) -> float:
    """The ``score`` of a hit from the server's similarity (always in [0, 1]).

    The server reports ``(1 + cos) / 2`` for cosine, ``(1 + dot) / 2`` for the dot product and
    ``1 / (1 + d²)`` for euclidean; scores are the cosine similarity, the dot product and minus
    the distance, as LangGraph's stores report them (higher is nearer).
    """
    if distance == "euclidean":
        if similarity <= 0:
            return -math.inf
        return -math.sqrt(max(0.0, 1.0 / similarity - 1.0))
    return 2.0 * similarity - 1.0


# -- writes ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class VectorPlan:
    """What one call of an indexed store embeds and writes, decided before any I/O.

    ``targets[i]`` is the ``(position in plan.writes, stored path)`` of ``documents[i]``;
    ``queries`` are the distinct query texts of the call's vector searches.
    """

    index: IndexConfig
    documents: list[str] = field(default_factory=list)
    targets: list[tuple[int, str]] = field(default_factory=list)
    searches: list[VectorSearchReader] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    vectors: dict[int, list[tuple[str, list[float]]]] = field(default_factory=dict)

    @property
    def needs_embedding(self) -> bool:
        """Whether the call has anything to embed."""
        return bool(self.documents or self.queries)

    def embedding_request(self) -> EmbeddingRequest:
        """The texts to embed, documents and queries."""
        return EmbeddingRequest(documents=list(self.documents), queries=list(self.queries))

    def apply(self, embedded: Embedded) -> None:
        """Attach the vectors: to the writes, and to the searches as their query vector."""
        for (position, path), vector in zip(self.targets, embedded.documents, strict=True):
            self.vectors.setdefault(position, []).append((path, vector))
        by_text = dict(zip(self.queries, embedded.queries, strict=True))
        for search in self.searches:
            search.vector = by_text[search.query]


def plan_vectors(
    writes: Sequence[MergedWrite],
    searches: Sequence[VectorSearchReader],
    raw_ops: Sequence[Any],
    index: IndexConfig,
    batch_type: BatchType,
    limits: BatchLimits,
) -> VectorPlan:
    """Collect the texts of the surviving puts and the queries of the searches.

    A put's ``index`` field (``raw_ops[i][3]``) replaces the configured paths; ``False`` stores
    no vector. A LOGGED call whose item and vector statements exceed one atomic batch's limits is
    refused here, before any I/O.
    """
    plan = VectorPlan(index=index, searches=list(searches))
    for position, write in enumerate(writes):
        put = write.put
        if put.encoded is None:
            continue
        op = raw_ops[put.index]
        override = op.index
        if override is False:
            continue
        paths = index.fields if override is None else tuple(override)
        for path, text in field_texts(op.value, paths):
            plan.documents.append(text)
            plan.targets.append((position, path))
    plan.queries = list(dict.fromkeys(search.query for search in searches))
    if batch_type is BatchType.LOGGED and writes:
        statements = 2 * len(writes) + len(plan.documents)
        size = sum(w.estimated_bytes for w in writes) + sum(
            _vector_bytes(writes[position], path, index.dims) for position, path in plan.targets
        )
        if statements > limits.max_ops or size > limits.max_bytes:
            raise StoreValidationError(
                f"LOGGED batch of {len(writes)} writes with {len(plan.documents)} vectors "
                f"({statements} statements, ~{size} bytes) exceeds the limits of one atomic batch "
                f"({limits.max_ops} statements, {limits.max_bytes} bytes); an atomic batch is "
                "never split: use UNLOGGED, split the call, or raise StoreConfig.limits. Nothing "
                "was sent",
                field="ops",
            )
    return plan


def _vector_bytes(write: MergedWrite, path: str, dims: int) -> int:
    return (
        4 * dims
        + len(path.encode("utf-8"))
        + len(write.put.key.encode("utf-8"))
        + len(write.partition_utf8)
        + STATEMENT_OVERHEAD_BYTES
    )


def _write_request(
    queries: list[Query], batch_type: BatchType, op_indices: list[int], size: int
) -> Request:
    return Request(
        queries=tuple(queries),
        consistency=Consistency.WRITE,
        idempotent=True,
        op_indices=tuple(sorted(set(op_indices))),
        batch_type=batch_type if len(queries) > 1 else None,
        estimated_bytes=size,
    )


def vector_write_requests(
    writes: Sequence[MergedWrite],
    vectors: VectorPlan,
    batch_type: BatchType,
    timestamp: int,
    created: dict[tuple[str, str], int],
    limits: BatchLimits,
) -> list[Request]:
    """The data writes of an indexed store's call: each item with its vectors.

    LOGGED: one batch of everything. UNLOGGED: one batch per partition, cut within
    ``warn_ops`` statements and ``warn_bytes`` bytes between items (an item and its vectors
    always travel together). Statements are bound by the driver (this path does not use the
    pre-serialized write path: vectors are not among its column types).
    """
    units: dict[str, list[tuple[list[Query], int, list[int]]]] = {}
    dims = vectors.index.dims
    for position, write in enumerate(writes):
        put = write.put
        partition, key = put.partition, put.key
        if put.encoded is None:
            queries = [
                Query(Statement.DELETE, (timestamp, partition, key)),
                Query(Statement.VECTOR_DELETE, (timestamp, partition, key)),
            ]
            size = write.estimated_bytes * 2
        else:
            ttl = put.ttl_seconds or 0
            created_us = created.get((partition, key), timestamp)
            queries = [
                Query(
                    Statement.UPSERT,
                    (partition, key, put.encoded, created_us, timestamp, ttl, ttl, timestamp),
                ),
                # one microsecond earlier: it removes every older vector of the item, and not
                # the ones written next (a tombstone wins over a write of the same timestamp)
                Query(Statement.VECTOR_DELETE, (timestamp - 1, partition, key)),
            ]
            size = write.estimated_bytes + STATEMENT_OVERHEAD_BYTES
            for path, vector in vectors.vectors.get(position, ()):
                queries.append(
                    Query(Statement.VECTOR_INSERT, (partition, key, path, vector, ttl, timestamp))
                )
                size += _vector_bytes(write, path, dims)
        units.setdefault(partition, []).append((queries, size, list(write.op_indices)))
    if batch_type is BatchType.LOGGED:
        everything = [u for group in units.values() for u in group]
        return [
            _write_request(
                [q for u in everything for q in u[0]],
                BatchType.LOGGED,
                [i for u in everything for i in u[2]],
                sum(u[1] for u in everything),
            )
        ]
    max_statements = min(limits.max_ops, limits.warn_ops)
    max_bytes = min(limits.max_bytes, limits.warn_bytes)
    requests = []
    for group in units.values():
        batch: list[Query] = []
        indices: list[int] = []
        size = 0
        for unit_queries, unit_size, unit_indices in group:
            if batch and (
                len(batch) + len(unit_queries) > max_statements or size + unit_size > max_bytes
            ):
                requests.append(_write_request(batch, BatchType.UNLOGGED, indices, size))
                batch, indices, size = [], [], 0
            batch.extend(unit_queries)
            indices.extend(unit_indices)
            size += unit_size
        if batch:
            requests.append(_write_request(batch, BatchType.UNLOGGED, indices, size))
    return requests


# -- TTL refresh of vectors -----------------------------------------------------------------------


class VectorRefresh:
    """Re-applies the TTL of refreshed items to their vectors.

    A refresh rewrites the item's cells with their TTL; the vectors need their own values to
    be rewritten, so they are read first (``namespace = ? AND key IN ?``, in the write phase)
    and rewritten with their original write time, like the item's cells.
    """

    def __init__(self, rows: Sequence[tuple[StoredRow, tuple[int, ...]]]) -> None:
        self.ttl: dict[tuple[str, str], int] = {}
        self.indices: dict[tuple[str, str], tuple[int, ...]] = {}
        by_partition: dict[str, list[str]] = {}
        for row, op_indices in rows:
            if row.ttl_seconds is None:
                continue
            slot = (row.partition, row.key)
            if slot not in self.ttl:
                by_partition.setdefault(row.partition, []).append(row.key)
            self.ttl[slot] = row.ttl_seconds
            self.indices[slot] = op_indices
        self.reads: list[Request] = []
        for partition, keys in by_partition.items():
            for start in range(0, len(keys), MAX_KEYS_PER_LOOKUP):
                chunk = keys[start : start + MAX_KEYS_PER_LOOKUP]
                indices = sorted({i for k in chunk for i in self.indices[(partition, k)]})
                self.reads.append(
                    read_request(Statement.VECTOR_READ, (partition, chunk), tuple(indices))
                )
        self._read_ids = {id(request) for request in self.reads}

    def feed(self, request: Request, page: Rows) -> list[Request]:
        """The rewrite of the vectors read by ``request`` (and its next page, if any)."""
        if id(request) not in self._read_ids:
            return []
        follow: list[Request] = []
        if page.paging_state:
            next_page = request.next_page(page.paging_state)
            self._read_ids.add(id(next_page))
            follow.append(next_page)
        partition = request.queries[0].params[0]
        queries = []
        for key, path, embedding, _ttl, writetime in page.rows:
            ttl = self.ttl.get((partition, key))
            if ttl is None or embedding is None:
                continue
            queries.append(
                Query(
                    Statement.VECTOR_INSERT,
                    (partition, key, path, list(embedding), ttl, int(writetime)),
                )
            )
        for start in range(0, len(queries), 20):
            chunk = queries[start : start + 20]
            follow.append(
                Request(
                    queries=tuple(chunk),
                    consistency=Consistency.WRITE,
                    idempotent=True,
                    op_indices=request.op_indices,
                    batch_type=BatchType.UNLOGGED if len(chunk) > 1 else None,
                    internal=True,
                )
            )
        return follow


# -- reads ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Namespace:
    """The state of one namespace of a vector search."""

    partition: str
    limit: int
    best: dict[str, float] = field(default_factory=dict)  # key -> best similarity
    fetched: set[str] = field(default_factory=set)
    pending: int = 0
    returned: int = 0
    matched: int = 0


class VectorSearchReader(Reader):
    """Serves one ``SearchOp`` with ``query`` in an indexed store (see the module docstring).

    Keeps, per namespace, the similarities of its candidates and, overall, the matching items
    found (at most ``offset + limit`` per namespace are ever needed).

    When fewer than ``offset + limit`` items with vectors match, the page is filled with
    matching items that have no vector (put with ``index=False``, without text at the paths, or
    before the store had an index config), unscored, after the scored ones, as LangGraph's
    in-memory store does. They come from the namespaces whose nearest-neighbour query returned
    every vector of the partition (so an item absent from its answer has none), read one
    namespace at a time in namespace then key order, and the reading stops once enough are found.
    """

    def __init__(self, op: SearchRead, codec: Any, page_size: int, index: IndexConfig) -> None:
        assert op.query is not None
        self.op = op
        self.query: str = op.query
        self.codec = codec
        self.distance = index.distance
        self.vector: list[float] | None = None  # set once the query is embedded
        self.walk = RegistryWalk(op.prefix, op.index, page_size)
        self.keep = op.offset + op.limit
        self.first_limit = min(MAX_NEAREST, max(10, 2 * self.keep * len(index.fields)))
        self.queued: deque[str] = deque()
        self.active = 0
        self.namespaces: dict[str, _Namespace] = {}
        # (-score, partition, key, row, value): every matching item found
        self.found: list[tuple[float, str, str, Any, Any]] = []
        self.nearest_requests = 0
        self.page_size = page_size
        self.registry_pending = 0  # registry requests sent and not yet answered
        self.filling = False
        self.to_fill: deque[_Namespace] = deque()  # namespaces the fill has still to read
        # (partition, row, value) of matching items without a vector, in namespace, key order
        self.unscored: list[tuple[str, Any, Any]] = []

    def start(self) -> list[Request]:
        if self.op.limit == 0:
            return []
        requests = self.walk.start()
        self.registry_pending = len(requests)
        return requests

    def feed(self, request: Request, page: Rows) -> list[Request]:
        statement = request.queries[0].statement
        if statement is Statement.VECTOR_NEAREST:
            return self._candidates(request.queries[0].params[1], page.rows)
        if statement is Statement.SELECT_KEYS:
            partition = request.queries[0].params[0]
            follow = [request.next_page(page.paging_state)] if page.paging_state else []
            self._items(partition, page.rows)
            if not page.paging_state:
                self.namespaces[partition].pending -= 1
                follow.extend(self._settle(self.namespaces[partition]))
            return follow
        if statement is Statement.SCAN_PARTITION:
            return self._fill_page(request, page)
        follow, found = self.walk.feed(request, page)
        self.registry_pending += len(follow) - 1
        self.queued.extend(found)
        return follow + self._launch() or self._fill()

    def _nearest(self, namespace: _Namespace) -> Request:
        assert self.vector is not None, "the query was not embedded"
        self.nearest_requests += 1
        return Request(
            queries=(
                Query(
                    Statement.VECTOR_NEAREST,
                    (self.vector, namespace.partition, self.vector, namespace.limit),
                ),
            ),
            consistency=Consistency.NEAREST,
            idempotent=True,
            op_indices=(self.op.index,),
            fetch_size=MAX_NEAREST + 1,  # the server answers a top-k query within one page
        )

    def _launch(self) -> list[Request]:
        requests = []
        while self.queued and self.active < MAX_ACTIVE_SCANS:
            partition = self.queued.popleft()
            if partition in self.namespaces:  # listed twice by the registry walk
                continue
            namespace = _Namespace(partition, self.first_limit)
            self.namespaces[partition] = namespace
            self.active += 1
            requests.append(self._nearest(namespace))
        return requests

    def _candidates(self, partition: str, rows: Sequence[Any]) -> list[Request]:
        namespace = self.namespaces[partition]
        namespace.returned = len(rows)
        best = namespace.best
        for key, _path, similarity in rows:
            if similarity is None:
                continue
            if similarity > best.get(key, -math.inf):
                best[key] = similarity
        new_keys = [key for key in best if key not in namespace.fetched]
        namespace.fetched.update(new_keys)
        requests = [
            read_request(
                Statement.SELECT_KEYS,
                (partition, new_keys[i : i + MAX_KEYS_PER_LOOKUP]),
                (self.op.index,),
            )
            for i in range(0, len(new_keys), MAX_KEYS_PER_LOOKUP)
        ]
        namespace.pending += len(requests)
        if not requests:
            return self._settle(namespace)
        return requests

    def _items(self, partition: str, rows: Sequence[Any]) -> None:
        namespace = self.namespaces[partition]
        rows = [row for row in rows if row[1] is not None]
        if not rows:
            return
        labels = namespace_of(partition)
        stored = [StoredRow.from_row(labels, partition, row) for row in rows]
        values = decode_values(self.codec, stored)
        conditions = self.op.conditions
        for row, value in zip(rows, values, strict=True):
            if conditions and not (isinstance(value, dict) and matches(value, conditions)):
                continue
            similarity = namespace.best.get(row[0])
            if similarity is None:
                continue
            namespace.matched += 1
            self.found.append((-score(similarity, self.distance), partition, row[0], row, value))
        if len(self.found) > 2 * self.keep:  # memory stays bounded by the page asked for
            self.found = heapq.nsmallest(self.keep, self.found, key=_rank)

    def _settle(self, namespace: _Namespace) -> list[Request]:
        """A namespace's candidates are all read: go deeper, or finish it."""
        if namespace.pending:
            return []
        exhausted = namespace.returned < namespace.limit
        if not exhausted and namespace.matched < self.keep and namespace.limit < MAX_NEAREST:
            namespace.limit = min(MAX_NEAREST, namespace.limit * DEEPEN_FACTOR)
            return [self._nearest(namespace)]
        self.active -= 1
        return self._launch() or self._fill()

    # -- items without a vector -----------------------------------------------------------------

    def _fill(self) -> list[Request]:
        """Once every namespace is settled: start reading items without a vector, if needed."""
        if self.filling or self.registry_pending or self.queued or self.active:
            return []
        self.filling = True
        if len(self.found) >= self.keep:
            return []
        # A namespace whose query came back short returned all its vectors: an item missing
        # from the answer has none. One that hit the server's limit may hold unreturned vectors.
        self.to_fill.extend(
            sorted(
                (n for n in self.namespaces.values() if n.returned < n.limit),
                key=lambda n: n.partition,
            )
        )
        return self._scan_next()

    def _scan_next(self) -> list[Request]:
        if not self.to_fill or len(self.found) + len(self.unscored) >= self.keep:
            return []
        namespace = self.to_fill[0]
        needed = self.keep - len(self.found) - len(self.unscored)
        # Without a filter the first page holds every item needed (if the partition has them):
        # the items with vectors it skips are at most those the nearest query returned.
        fetch = min(self.page_size, needed + len(namespace.best))
        return [
            read_request(
                Statement.SCAN_PARTITION, (namespace.partition,), (self.op.index,), max(fetch, 1)
            )
        ]

    def _fill_page(self, request: Request, page: Rows) -> list[Request]:
        namespace = self.to_fill[0]
        needed = self.keep - len(self.found) - len(self.unscored)
        rows = [row for row in page.rows if row[1] is not None and row[0] not in namespace.best]
        if rows and needed > 0:
            labels = namespace_of(namespace.partition)
            values = decode_values(
                self.codec, [StoredRow.from_row(labels, namespace.partition, r) for r in rows]
            )
            conditions = self.op.conditions
            for row, value in zip(rows, values, strict=True):
                if conditions and not (isinstance(value, dict) and matches(value, conditions)):
                    continue
                self.unscored.append((namespace.partition, row, value))
                if len(self.found) + len(self.unscored) >= self.keep:
                    break
        if len(self.found) + len(self.unscored) >= self.keep:
            return []
        if page.paging_state:
            return [request.next_page(page.paging_state)]
        self.to_fill.popleft()
        return self._scan_next()

    def results(self) -> tuple[list[SearchItem], list[StoredRow]]:
        """The page of results (nearest first, then unscored) and their stored rows."""
        ranked = heapq.nsmallest(self.keep, self.found, key=_rank)
        chosen: list[tuple[float | None, str, Any, Any]] = [
            (-negative_score, partition, row, value)
            for negative_score, partition, _key, row, value in ranked
        ]
        chosen.extend((None, partition, row, value) for partition, row, value in self.unscored)
        items = []
        rows = []
        for item_score, partition, row, value in chosen[self.op.offset : self.keep]:
            stored = StoredRow.from_row(namespace_of(partition), partition, row)
            rows.append(stored)
            items.append(
                SearchItem(
                    namespace=stored.namespace,
                    key=stored.key,
                    value=value,
                    created_at=from_micros(stored.created_us),
                    updated_at=from_micros(stored.updated_us),
                    score=item_score,
                )
            )
        return items, rows


def _rank(candidate: tuple[float, str, str, Any, Any]) -> tuple[float, str, str]:
    """Nearest first; equal scores by namespace, then key."""
    return candidate[0], candidate[1], candidate[2]
