"""The planner: from validated ops to the requests of each phase.

Phase 1 (reads): every get, search and listing, plus the ``created_at`` look-ups of keys about to
be written, concurrently. Phase 2 (writes): the writes, merged per (namespace, key) with the last
op winning, as one logged batch (``LOGGED``) or unlogged batches of whole partitions from one
replica group (``UNLOGGED``, see :func:`_batch_chunks`), plus TTL refreshes of items read with
``refresh_ttl`` and namespace registrations. Counter increments (``COUNTER`` batches, see
:mod:`~scyllabatch._core.counters`) and conditional writes (one conditional batch per partition,
see :mod:`~scyllabatch._core.conditions`) take a path of their own in phase 2, so plain puts keep
the compiled fast path unchanged.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scyllabatch._core import conditions
from scyllabatch._core.counters import CounterReader, MergedIncrement, merge_increments
from scyllabatch._core.items import StoredRow
from scyllabatch._core.reads import (
    MAX_KEYS_PER_LOOKUP,
    CreatedAtReader,
    GetReader,
    ListReader,
    Reader,
    SearchReader,
)
from scyllabatch._core.requests import Consistency, EncodedStatements, Query, Request
from scyllabatch._core.schema import Statement, bucket_key, root_bucket
from scyllabatch._core.speedups import Codec, MergedWrite, Writes
from scyllabatch._core.validation import (
    ConditionalWrite,
    CounterRead,
    CounterWrite,
    GetRead,
    ListRead,
    NormalizedOp,
    PutWrite,
    SearchRead,
)
from scyllabatch._core.vectors import (
    VectorPlan,
    VectorSearchReader,
    plan_vectors,
    vector_write_requests,
)
from scyllabatch._impl import writes as selected_writes
from scyllabatch._pure.writes import STATEMENT_OVERHEAD_BYTES
from scyllabatch.config import BatchLimits, CreatedAtMode
from scyllabatch.errors import StoreBatchSizeWarning, StoreValidationError
from scyllabatch.index import IndexConfig
from scyllabatch.ops import BatchType

logger = logging.getLogger("scyllabatch")

# A replica reads the partitions of one ``namespace IN ?`` one after another: on a one-node test
# machine one read of 100 partitions took 30-40 ms and four concurrent reads of 25 took 11-17 ms
# for the same client CPU (ten of 10 cost twice the CPU).
MAX_PARTITIONS_PER_SHARED_READ = 25
ReplicaGroup = Callable[[str], Hashable]
"""Maps a partition (namespace text) to the key of its replica group."""

StatementIds = Mapping[Statement, bytes]
"""The prepared ids of the session's statements (the driver's ``PreparedStatement.query_id``)."""


@dataclass(slots=True)
class CallPlan:
    """Everything decided before I/O for one batch call."""

    size: int
    batch_type: BatchType
    timestamp_us: int
    gets: list[GetReader] = field(default_factory=list)
    searches: list[SearchReader | VectorSearchReader] = field(default_factory=list)
    listings: list[ListReader] = field(default_factory=list)
    created_lookups: list[CreatedAtReader] = field(default_factory=list)
    chunks: Sequence[Sequence[MergedWrite]] = field(default_factory=list)
    writes: Sequence[MergedWrite] = field(default_factory=list)
    counter_reads: list[CounterReader] = field(default_factory=list)
    increments: list[MergedIncrement] = field(default_factory=list)
    conditionals: list[ConditionalWrite] = field(default_factory=list)
    op_kinds: dict[str, int] = field(default_factory=dict)
    # The replica grouping the plan was made with; namespace registration groups by it too.
    replica_group: Callable[[Any], Hashable] = str
    # Set only for stores with an index config: what the call embeds and its vector writes.
    vectors: VectorPlan | None = None

    @property
    def readers(self) -> list[Reader]:
        """Every reader of phase 1."""
        return [
            *self.gets,
            *self.searches,
            *self.listings,
            *self.created_lookups,
            *self.counter_reads,
        ]

    @property
    def is_empty(self) -> bool:
        """Whether the call needs no I/O at all."""
        return (
            not self.readers and not self.writes and not self.increments and not self.conditionals
        )

    @property
    def write_indices(self) -> set[int]:
        """The positions of every write op of the call (plain, counter and conditional)."""
        indices = {i for w in self.writes for i in w.op_indices}
        indices.update(i for increment in self.increments for i in increment.op_indices)
        indices.update(write.index for write in self.conditionals)
        return indices


_OP_NAMES: dict[type, str] = {
    PutWrite: "PutOp",
    GetRead: "GetOp",
    SearchRead: "SearchOp",
    ListRead: "ListNamespacesOp",
    ConditionalWrite: "ConditionalPutOp",
    CounterWrite: "CounterOp",
    CounterRead: "GetCountersOp",
}


def merge_writes(
    ops: Sequence[NormalizedOp], writes: Writes = selected_writes
) -> Sequence[MergedWrite]:
    """Merge writes per (namespace, key): the last op in the list wins; ``value=None`` deletes.

    CQL gives every statement of a batch one timestamp and breaks ties by comparing value bytes,
    so sending two writes of one key would let the larger value win, not the later one. Runs in
    the writes speedup (``writes``: the selected twin).
    """
    return writes.merge_writes(ops, PutWrite)


def plan_call(
    ops: Sequence[NormalizedOp],
    batch_type: BatchType,
    timestamp_us: int,
    limits: BatchLimits,
    codec: Codec,
    page_size: int,
    replica_group: ReplicaGroup = str,
    created_at_mode: CreatedAtMode = CreatedAtMode.EXACT,
    writes: Writes = selected_writes,
    index: IndexConfig | None = None,
    raw_ops: Sequence[Any] = (),
) -> CallPlan:
    """Plan one call; checks batch limits (raising or warning) before any I/O.

    ``replica_group`` maps a partition to a key shared by exactly the partitions stored on the
    same replicas (and shard); the facade derives it from the driver's token map. The default
    puts every partition in a group of its own. In ``EXACT`` mode the keys about to be written
    are looked up first (one request per partition, or per group of partitions written with the
    same keys on the same replicas), so ``created_at`` survives updates.
    With an ``index`` config (``raw_ops`` are the ops as given, for the values to embed), searches
    with a query become vector searches and the writes carry their vectors (``plan.vectors``).
    """
    plan = CallPlan(
        size=len(ops), batch_type=batch_type, timestamp_us=timestamp_us, replica_group=replica_group
    )
    gets_by_partition: dict[str, list[GetRead]] = {}
    counter_reads: dict[str, list[CounterRead]] = {}
    increments: list[CounterWrite] = []
    for op in ops:
        kind = _OP_NAMES[type(op)]
        plan.op_kinds[kind] = plan.op_kinds.get(kind, 0) + 1
        if kind == "PutOp":  # merged below, in the writes speedup
            continue
        if isinstance(op, GetRead):
            gets_by_partition.setdefault(op.partition, []).append(op)
        elif isinstance(op, SearchRead):
            if index is not None and op.query:  # "" is no query, as in LangGraph's stores
                plan.searches.append(VectorSearchReader(op, codec, page_size, index))
            else:
                plan.searches.append(SearchReader(op, codec, page_size))
        elif isinstance(op, ListRead):
            plan.listings.append(ListReader(op, page_size))
        elif isinstance(op, ConditionalWrite):
            plan.conditionals.append(op)
        elif isinstance(op, CounterWrite):
            increments.append(op)
        elif isinstance(op, CounterRead):
            counter_reads.setdefault(op.partition, []).append(op)
    gets_by_key = {p: [g.key for g in gets] for p, gets in gets_by_partition.items()}
    plan.gets = [
        GetReader([get for partition in group for get in gets_by_partition[partition]])
        for group in _shared_reads(gets_by_key, replica_group)
    ]
    plan.writes = merge_writes(ops, writes)
    if increments or plan.conditionals:
        _check_special_writes(plan, batch_type, increments)
        plan.increments = merge_increments(increments)
        conditions.check_limits(plan.conditionals, limits)
    plan.counter_reads = [CounterReader(reads) for reads in counter_reads.values()]
    _check_limits(plan.writes, batch_type, limits)
    if batch_type is BatchType.UNLOGGED and index is None:
        plan.chunks = _batch_chunks(plan.writes, limits, replica_group, writes)
    if created_at_mode is CreatedAtMode.EXACT:
        plan.created_lookups = _created_lookups(plan.writes, replica_group)
        plan.created_lookups.extend(_conditional_created_lookups(plan.conditionals, replica_group))
    if index is not None:
        if plan.conditionals:
            first = min(w.index for w in plan.conditionals)
            raise StoreValidationError(
                f"op {first} (ConditionalPutOp): conditional writes are not supported by a store "
                "with an index config (the item's vectors would not follow its value); use "
                "PutOp, or a store without an index config. Nothing of the batch was sent",
                op_index=first,
                field="op",
            )
        searches = [s for s in plan.searches if isinstance(s, VectorSearchReader)]
        plan.vectors = plan_vectors(plan.writes, searches, raw_ops, index, batch_type, limits)
    return plan


def _check_special_writes(
    plan: CallPlan, batch_type: BatchType, increments: Sequence[CounterWrite]
) -> None:
    """Refuse, before any I/O, what counter and conditional writes cannot do in this call."""
    if batch_type is BatchType.LOGGED:
        first = min([w.index for w in plan.conditionals] + [w.index for w in increments])
        kind = "CounterOp" if any(w.index == first for w in increments) else "ConditionalPutOp"
        raise StoreValidationError(
            f"op {first} ({kind}) op: a LOGGED call promises that all its writes apply "
            "together, but counter updates and conditional writes cannot join a logged batch "
            "(the server runs them as COUNTER and conditional batches of their own); use "
            "batch_type='UNLOGGED', or send them in another call; nothing of the batch was sent",
            op_index=first,
            field="op",
        )
    plain = {(w.put.partition, w.put.key): w.op_indices[0] for w in plan.writes}
    seen: dict[tuple[str, str], int] = {}
    for write in plan.conditionals:
        slot = (write.put.partition, write.put.key)
        other = plain.get(slot)
        if other is not None:
            raise StoreValidationError(
                f"op {write.index} (ConditionalPutOp) key: op {other} (PutOp) of the same call "
                f"writes key {write.put.key!r} of namespace {write.put.namespace!r} too. A "
                "conditional write is a lightweight transaction stamped by the server; a plain "
                "write carries the call's client timestamp and does not take part in the "
                "transaction, so which of the two would win depends on the clocks, not on the "
                "order of the ops or the condition. Send them in separate calls; nothing of the "
                "batch was sent",
                op_index=write.index,
                field="key",
            )
        if slot in seen:
            raise StoreValidationError(
                f"op {write.index} (ConditionalPutOp) key: op {seen[slot]} of the same call is a "
                f"conditional write of key {write.put.key!r} of namespace "
                f"{write.put.namespace!r} too; both would go in one conditional batch, where "
                "neither sees the other's write: send them in separate calls; nothing of the "
                "batch was sent",
                op_index=write.index,
                field="key",
            )
        seen[slot] = write.index


def _conditional_created_lookups(
    writes: Sequence[ConditionalWrite], replica_group: ReplicaGroup
) -> list[CreatedAtReader]:
    """Look-ups of ``created_at`` for puts-if-unchanged, which rewrite the whole row."""
    keys: dict[str, list[tuple[str, Sequence[int]]]] = {}
    for write in writes:
        if write.expected_updated_us is not None and write.put.encoded is not None:
            keys.setdefault(write.put.partition, []).append((write.put.key, (write.index,)))
    return _lookups(keys, replica_group)


def _created_lookups(
    writes: Sequence[MergedWrite], replica_group: ReplicaGroup
) -> list[CreatedAtReader]:
    """Look-ups of ``created_at`` for the upserts (deletes and delete-then-put need none)."""
    keys: dict[str, list[tuple[str, Sequence[int]]]] = {}
    for write in writes:
        if write.put.encoded is not None and not write.deleted_first:
            keys.setdefault(write.put.partition, []).append((write.put.key, write.op_indices))
    return _lookups(keys, replica_group)


def _lookups(
    keys: dict[str, list[tuple[str, Sequence[int]]]], replica_group: ReplicaGroup
) -> list[CreatedAtReader]:
    """The look-ups of ``keys``, which maps each partition to its (key, op indices) pairs: one
    per group of :func:`_shared_reads`, a partition of more than ``MAX_KEYS_PER_LOOKUP`` keys
    split into several."""
    lookups = []
    for group in _shared_reads({p: [key for key, _ in keys[p]] for p in keys}, replica_group):
        entries = [entry for partition in group for entry in keys[partition]]
        if len(group) > 1:
            indices = tuple(i for _, op_indices in entries for i in op_indices)
            same_keys = sorted(key for key, _ in keys[group[0]])
            lookups.append(CreatedAtReader(group, same_keys, indices))
            continue
        for start in range(0, len(entries), MAX_KEYS_PER_LOOKUP):
            some = entries[start : start + MAX_KEYS_PER_LOOKUP]
            indices = tuple(i for _, op_indices in some for i in op_indices)
            lookups.append(CreatedAtReader(group, [key for key, _ in some], indices))
    return lookups


def _shared_reads(
    keys: Mapping[str, Sequence[str]], replica_group: ReplicaGroup
) -> list[list[str]]:
    """Which partitions are read together, for reads of given keys (gets, ``created_at``
    look-ups): each partition alone, except that partitions asked for exactly the same keys and
    stored on the same replicas share one read (``namespace IN ? AND key IN ?`` then asks for
    exactly the rows wanted; the common agent-memory call reads or writes one key, such as a
    profile or a thread's state, in many namespaces). At most ``MAX_KEYS_PER_LOOKUP`` rows and
    ``MAX_PARTITIONS_PER_SHARED_READ`` partitions per shared read. Partitions with different
    keys never share one: their cross product would read rows nobody asked for."""
    groups: list[list[str]] = []
    sharing: dict[tuple[Hashable, tuple[str, ...]], list[str]] = {}
    for partition, wanted in keys.items():
        same_keys = tuple(sorted(set(wanted)))
        if 2 * len(same_keys) > MAX_KEYS_PER_LOOKUP:  # two such partitions pass the rows limit
            groups.append([partition])
        else:
            sharing.setdefault((replica_group(partition), same_keys), []).append(partition)
    for (_, same_keys), partitions in sharing.items():
        per_read = min(MAX_KEYS_PER_LOOKUP // len(same_keys), MAX_PARTITIONS_PER_SHARED_READ)
        groups.extend(partitions[i : i + per_read] for i in range(0, len(partitions), per_read))
    return groups


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _warn(message: str) -> None:
    logger.warning(message)
    warnings.warn(message, StoreBatchSizeWarning, stacklevel=_caller_stacklevel())


def _caller_stacklevel() -> int:
    """``warnings.warn``'s stacklevel of the first frame outside the package: the caller's line
    (``store.batch(...)``, ``await store.abatch(...)``), however deep the call went inside."""
    frame = sys._getframe(1)  # the function that calls warnings.warn
    level = 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


def _check_limits(
    writes: Sequence[MergedWrite], batch_type: BatchType, limits: BatchLimits
) -> None:
    # UNLOGGED calls are split by the SDK itself within the thresholds (see _batch_chunks), so
    # only a LOGGED call can need an oversized batch.
    if not writes or batch_type is not BatchType.LOGGED:
        return
    count = len(writes)
    size = sum(w.estimated_bytes for w in writes)
    if count > limits.max_ops or size > limits.max_bytes:
        raise StoreValidationError(
            f"LOGGED batch of {count} writes (~{size} bytes) exceeds the limits of one atomic "
            f"batch ({limits.max_ops} ops, {limits.max_bytes} bytes); an atomic batch is never "
            "split: use UNLOGGED, split the call yourself, or raise StoreConfig.limits. "
            "Nothing was sent",
            field="ops",
        )
    if count > limits.warn_ops or size > limits.warn_bytes:
        _warn(
            f"LOGGED batch of {count} writes (~{size} bytes) is above the warn threshold "
            f"({limits.warn_ops} ops, {limits.warn_bytes} bytes)"
        )


def _batch_chunks(
    writes: Sequence[MergedWrite],
    limits: BatchLimits,
    replica_group: ReplicaGroup,
    speedup: Writes = selected_writes,
) -> Sequence[Sequence[MergedWrite]]:
    """Split writes into UNLOGGED batches (in the writes speedup).

    Each partition's writes form an atomic batch of their own (atomic and isolated inside the
    partition), so they stay within the warn thresholds (``warn_ops`` writes, ``warn_bytes``
    bytes): a partition above them is cut into parts that travel alone, and the SDK's splitting
    never produces a batch worth a warning. Whole partitions of the same replica group are
    combined, up to ``max_partitions_per_batch`` partitions, ``max_ops`` writes and
    ``warn_bytes`` bytes (the server's size check counts the whole batch), so the token-aware
    coordinator is a replica of everything in the batch and nothing fans out.
    """
    return speedup.group_chunks(
        writes,
        replica_group,
        limits.max_ops,
        min(limits.max_ops, limits.warn_ops),
        min(limits.max_bytes, limits.warn_bytes),
        limits.max_partitions_per_batch,
    )


def _request(
    queries: Sequence[Query],
    batch_type: BatchType,
    op_indices: Sequence[int],
    estimated_bytes: int,
    *,
    internal: bool = False,
) -> Request:
    return Request(
        queries=tuple(queries),
        consistency=Consistency.WRITE,
        idempotent=True,
        op_indices=tuple(op_indices),
        batch_type=batch_type if len(queries) > 1 else None,
        estimated_bytes=estimated_bytes,
        internal=internal,
    )


def _data_request(
    writes: Sequence[MergedWrite],
    batch_type: BatchType,
    created: dict[tuple[str, str], int],
    timestamp: int,
    statement_ids: StatementIds,
    serializer: Writes,
) -> Request:
    """One batch of the caller's writes, its statements serialized by the writes speedup.

    ``created_at`` is the looked-up value in exact mode, else this write's own timestamp. The
    ``ttl`` column is written as 0, never null: a null would be a tombstone, and an update without
    TTL must clear the TTL a previous put recorded.
    """
    rows = [w.row(created.get((w.put.partition, w.put.key), timestamp)) for w in writes]
    body = serializer.encode_writes(
        rows, statement_ids[Statement.UPSERT], statement_ids[Statement.DELETE], timestamp
    )
    return Request(
        queries=(),
        consistency=Consistency.WRITE,
        idempotent=True,
        op_indices=tuple(i for w in writes for i in w.op_indices),
        batch_type=batch_type if len(writes) > 1 else None,
        estimated_bytes=sum(w.estimated_bytes for w in writes),
        encoded=EncodedStatements(len(writes), body),
        routing_key=writes[0].partition_utf8,
    )


def write_requests(
    plan: CallPlan,
    created: dict[tuple[str, str], int],
    refreshes: Sequence[tuple[StoredRow, tuple[int, ...]]],
    registered: Collection[str],
    limits: BatchLimits,
    statement_ids: StatementIds,
    serializer: Writes,
) -> tuple[list[Request], list[tuple[Request, list[str]]]]:
    """Build phase-2 requests.

    Returns the data and refresh requests, and the registry requests paired with the namespaces
    (partition names) each one registers, so the caller can remember them once written.
    ``statement_ids`` are the prepared ids of the upsert and delete statements; ``serializer`` is
    the selected writes speedup.
    """
    timestamp = plan.timestamp_us
    requests: list[Request] = []
    if plan.vectors is not None:
        requests.extend(
            vector_write_requests(
                plan.writes, plan.vectors, plan.batch_type, timestamp, created, limits
            )
        )
    elif plan.writes:
        chunks = [plan.writes] if plan.batch_type is BatchType.LOGGED else plan.chunks
        requests.extend(
            _data_request(chunk, plan.batch_type, created, timestamp, statement_ids, serializer)
            for chunk in chunks
        )
    requests.extend(_refresh_requests(plan, refreshes, limits))
    return requests, _registry_requests(plan, registered, limits)


def _refresh_requests(
    plan: CallPlan, refreshes: Sequence[tuple[StoredRow, tuple[int, ...]]], limits: BatchLimits
) -> list[Request]:
    """Re-write items read with ``refresh_ttl`` so every cell gets the item's TTL again.

    The cells are re-written with their original write timestamp and unchanged values: a newer
    write made meanwhile (by anyone) still wins, and for equal timestamps both Cassandra and
    ScyllaDB keep the cell that expires later. Keys written by this call (conditionally or not)
    are skipped.
    """
    written = {(w.put.partition, w.put.key) for w in plan.writes}
    written.update((c.put.partition, c.put.key) for c in plan.conditionals)
    by_partition: dict[str, dict[str, tuple[StoredRow, tuple[int, ...]]]] = {}
    for row, indices in refreshes:
        if row.ttl_seconds is None or (row.partition, row.key) in written:
            continue
        by_partition.setdefault(row.partition, {})[row.key] = (row, indices)
    requests = []
    max_ops = min(limits.max_ops, limits.warn_ops)
    max_bytes = min(limits.max_bytes, limits.warn_bytes)
    for rows in by_partition.values():
        # split like data writes, by count and bytes: two 9 MiB items in one refresh batch were
        # above the server's 16 MiB message limit
        chunks: list[list[tuple[StoredRow, tuple[int, ...]]]] = [[]]
        size = 0
        for entry in rows.values():
            estimated = len(entry[0].blob) + len(entry[0].key) + STATEMENT_OVERHEAD_BYTES
            if chunks[-1] and (len(chunks[-1]) >= max_ops or size + estimated > max_bytes):
                chunks.append([])
                size = 0
            chunks[-1].append(entry)
            size += estimated
        for chunk in chunks:
            queries = [
                Query(
                    Statement.UPSERT,
                    (
                        row.partition,
                        row.key,
                        row.blob,
                        row.created_us,
                        row.updated_us,
                        row.ttl_seconds,
                        row.ttl_seconds,
                        row.writetime_us,
                    ),
                )
                for row, _ in chunk
            ]
            requests.append(
                _request(
                    queries,
                    BatchType.UNLOGGED,
                    sorted({i for _, ix in chunk for i in ix}),
                    sum(len(row.blob) for row, _ in chunk),
                    internal=True,
                )
            )
    return requests


def _registry_requests(
    plan: CallPlan, registered: Collection[str], limits: BatchLimits
) -> list[tuple[Request, list[str]]]:
    """Register namespaces written by this call that this store has not registered before.

    Two kinds of rows: the namespace's row (``namespaces``, partition = its first label) and
    its root's row (``namespace_roots``, partition = the root's hash bucket). Rows are grouped
    like data writes: partitions of one replica group share an unlogged batch (so its
    coordinator is a replica of all of them), within the per-batch partition, count and byte
    bounds. 100 new namespaces on a 3-node RF=3 ring take about as many requests as their data
    writes, spread over the replicas, not 100 requests to one root partition's owner.

    Each request is paired with every namespace that needs it; the engine remembers a namespace
    as registered only once all of its requests (its own row and its root's row) succeeded: a
    root missing after a partial failure would hide the namespace from unprefixed listings.
    """
    timestamp = plan.timestamp_us
    op_indices: dict[str, list[int]] = {}
    under_root: dict[str, list[str]] = {}
    # Conditional puts register their namespace whether or not their condition holds.
    puts: list[tuple[PutWrite, Sequence[int]]] = [(w.put, w.op_indices) for w in plan.writes]
    puts += [(c.put, (c.index,)) for c in plan.conditionals]
    for put, indices in puts:
        if put.encoded is None or put.partition in registered:
            continue
        if put.partition not in op_indices:
            op_indices[put.partition] = []
            under_root.setdefault(put.namespace[0], []).append(put.partition)
        op_indices[put.partition].extend(indices)
    if not op_indices:
        return []

    def group_of(key: str | bytes) -> Hashable:
        try:
            return plan.replica_group(key)
        except Exception:  # a grouping that only knows text keys: the key is its own group
            return key

    # partition -> its rows, each with the namespaces that depend on it; and its estimated size
    rows_of: dict[tuple[str, Any], list[tuple[Query, list[str]]]] = {}
    size_of: dict[tuple[str, Any], int] = {}
    group_partitions: dict[Hashable, list[tuple[str, Any]]] = {}

    def add(partition: tuple[str, Any], group: Hashable, query: Query, names: list[str]) -> None:
        if partition not in rows_of:
            rows_of[partition] = []
            size_of[partition] = 0
            group_partitions.setdefault(group, []).append(partition)
        rows_of[partition].append((query, names))
        size_of[partition] += STATEMENT_OVERHEAD_BYTES + sum(
            len(str(param).encode("utf-8")) for param in query.params[:2]
        )

    for root, new_names in under_root.items():
        bucket = root_bucket(root)
        root_row = Query(Statement.REGISTER_ROOT, (bucket, root, timestamp))
        add(("roots", bucket), group_of(bucket_key(bucket)), root_row, new_names)
        for name in new_names:
            name_row = Query(Statement.REGISTER_NAMESPACE, (root, name, timestamp))
            add(("namespaces", root), group_of(root), name_row, [name])

    max_ops = min(limits.max_ops, limits.warn_ops)
    max_bytes = min(limits.max_bytes, limits.warn_bytes)
    pairs: list[tuple[Request, list[str]]] = []
    queries: list[Query] = []
    names: list[str] = []

    def emit() -> None:
        unique = list(dict.fromkeys(names))
        indices = sorted({i for name in unique for i in op_indices[name]})
        request = _request(queries, BatchType.UNLOGGED, indices, 0, internal=True)
        pairs.append((request, unique))
        queries.clear()
        names.clear()

    for members in group_partitions.values():
        size = count = 0
        for partition in members:
            rows = rows_of[partition]
            fits = (
                count < limits.max_partitions_per_batch
                and len(queries) + len(rows) <= max_ops
                and size + size_of[partition] <= max_bytes
            )
            if queries and not fits:
                emit()
                size = count = 0
            count += 1
            for query, dependents in rows:
                if len(queries) >= max_ops:  # a partition too large on its own is split
                    emit()
                    size, count = 0, 1
                queries.append(query)
                names.extend(dependents)
            size += size_of[partition]
        if queries:
            emit()
    return pairs
