"""Counters: merging a call's increments, ``COUNTER`` batches, and reading an item's counters.

Counters live in their own table (the server keeps counter columns apart from other columns),
one partition per namespace like items. Increments are not idempotent: re-sending one after a
timeout could count it twice, so their requests are marked non-idempotent and the engine never
re-sends them after an ambiguous failure (see :mod:`scyllabatch._core.retry`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from scyllabatch._core.reads import MAX_KEYS_PER_LOOKUP, Reader, read_request
from scyllabatch._core.requests import Consistency, Query, Request, Rows
from scyllabatch._core.schema import Statement
from scyllabatch._core.validation import CounterRead, CounterWrite, counter_delta_problem
from scyllabatch._pure.writes import STATEMENT_OVERHEAD_BYTES
from scyllabatch.config import BatchLimits
from scyllabatch.errors import StoreValidationError
from scyllabatch.ops import BatchType


@dataclass(slots=True)
class MergedIncrement:
    """The sum of a call's increments of one counter, and the ops it serves."""

    partition: str
    key: str
    counter: str
    delta: int
    op_indices: list[int] = field(default_factory=list)

    @property
    def estimated_bytes(self) -> int:
        """What the increment adds to a batch, roughly (for the byte bound of a batch)."""
        return (
            len(self.partition.encode("utf-8"))
            + len(self.key.encode("utf-8"))
            + len(self.counter.encode("utf-8"))
            + STATEMENT_OVERHEAD_BYTES
        )


def merge_increments(writes: Sequence[CounterWrite]) -> list[MergedIncrement]:
    """Add up the increments of each counter (one statement per counter, however many ops).

    Addition commutes, so merging changes nothing but the number of statements. A sum outside
    the server's 64-bit range is refused before any I/O; a sum of zero sends nothing.
    """
    merged: dict[tuple[str, str, str], MergedIncrement] = {}
    for write in writes:
        slot = (write.partition, write.key, write.counter)
        increment = merged.get(slot)
        if increment is None:
            merged[slot] = increment = MergedIncrement(write.partition, write.key, write.counter, 0)
        increment.delta += write.delta
        increment.op_indices.append(write.index)
        if counter_delta_problem(increment.delta) is not None:
            raise StoreValidationError(
                f"op {write.index} (CounterOp) delta: the call's increments of counter "
                f"{write.counter!r} of key {write.key!r} add up to {increment.delta}, outside the "
                "server's 64-bit counters; split them over several calls; nothing of the batch "
                "was sent",
                op_index=write.index,
                field="delta",
            )
    return [increment for increment in merged.values() if increment.delta]


def counter_requests(
    increments: Sequence[MergedIncrement],
    limits: BatchLimits,
    replica_group: Callable[[str], Hashable],
) -> list[Request]:
    """``COUNTER`` batches, grouped like UNLOGGED writes.

    A partition's increments share batches of at most ``min(max_ops, warn_ops)`` statements
    and ``min(max_bytes, warn_bytes)`` bytes; whole partitions of one replica group are
    combined up to ``max_partitions_per_batch`` partitions, so the token-aware coordinator is a
    replica of everything it updates. Each request is non-idempotent.
    """
    max_ops = min(limits.max_ops, limits.warn_ops)
    max_bytes = min(limits.max_bytes, limits.warn_bytes)
    by_partition: dict[str, list[MergedIncrement]] = {}
    for increment in increments:
        by_partition.setdefault(increment.partition, []).append(increment)
    batches: list[list[MergedIncrement]] = []
    # replica group -> (open batch, its partitions, its bytes)
    open_batches: dict[Hashable, tuple[list[MergedIncrement], list[int]]] = {}
    for partition, group in by_partition.items():
        size = sum(increment.estimated_bytes for increment in group)
        if len(group) > max_ops or size > max_bytes:  # too large to share: it travels alone
            part: list[MergedIncrement] = []
            part_size = 0
            for increment in group:
                if part and (
                    len(part) >= max_ops or part_size + increment.estimated_bytes > max_bytes
                ):
                    batches.append(part)
                    part, part_size = [], 0
                part.append(increment)
                part_size += increment.estimated_bytes
            batches.append(part)
            continue
        key = replica_group(partition)
        current = open_batches.get(key)
        if current is not None:
            batch, counts = current
            if (
                counts[0] < limits.max_partitions_per_batch
                and len(batch) + len(group) <= max_ops
                and counts[1] + size <= max_bytes
            ):
                batch.extend(group)
                counts[0] += 1
                counts[1] += size
                continue
        batch = list(group)
        batches.append(batch)
        open_batches[key] = (batch, [1, size])
    return [_counter_request(batch) for batch in batches]


def _counter_request(batch: Sequence[MergedIncrement]) -> Request:
    return Request(
        queries=tuple(
            Query(Statement.ADD_TO_COUNTER, (i.delta, i.partition, i.key, i.counter)) for i in batch
        ),
        consistency=Consistency.WRITE,
        idempotent=False,
        op_indices=tuple(index for i in batch for index in i.op_indices),
        batch_type=BatchType.UNLOGGED if len(batch) > 1 else None,
        estimated_bytes=sum(i.estimated_bytes for i in batch),
        counter=True,
    )


class CounterReader(Reader):
    """Serves the ``GetCountersOp`` s of one partition: ``key IN ?``, up to
    ``MAX_KEYS_PER_LOOKUP`` keys per request."""

    def __init__(self, reads: Sequence[CounterRead]) -> None:
        self.reads = reads
        self.partition = reads[0].partition
        self.keys = list(dict.fromkeys(read.key for read in reads))
        self.op_indices = tuple(read.index for read in reads)
        self.found: dict[str, dict[str, int]] = {}

    def start(self) -> list[Request]:
        return [
            read_request(
                Statement.SELECT_COUNTERS,
                (self.partition, self.keys[i : i + MAX_KEYS_PER_LOOKUP]),
                self.op_indices,
            )
            for i in range(0, len(self.keys), MAX_KEYS_PER_LOOKUP)
        ]

    def feed(self, request: Request, page: Rows) -> list[Request]:
        for key, name, value in page.rows:
            if value is not None:
                self.found.setdefault(key, {})[name] = int(value)
        return [request.next_page(page.paging_state)] if page.paging_state else []

    def counters(self, key: str) -> dict[str, int]:
        """The counters of ``key`` (a new dict per call: results never share one)."""
        return dict(self.found.get(key, {}))


__all__ = ["CounterReader", "MergedIncrement", "counter_requests", "merge_increments"]
