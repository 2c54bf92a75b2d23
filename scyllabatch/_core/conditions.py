"""Conditional writes: lightweight transactions, one conditional batch per partition.

The server runs a conditional batch only inside one partition, and applies all of its
statements or none. So the conditional writes of one namespace in a call share one request
(they apply together or not at all), and each op's :class:`~scyllabatch.ConditionalResult` is
filled from the answer: ``[applied]`` first. When a batch was not applied, the keys are read
again at the serial consistency (a linearizable read that sees every decided transaction), so
the result carries the item that is stored now.

Lightweight transactions take the server's timestamp (a client timestamp is refused), and are
not idempotent (a re-sent put-if-absent that had been applied reports "not applied"): their
requests are never re-sent after an ambiguous failure, nor speculated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from scyllabatch._core.items import StoredRow, from_micros
from scyllabatch._core.reads import MAX_KEYS_PER_LOOKUP, decode_values
from scyllabatch._core.requests import Consistency, Query, Request, Rows
from scyllabatch._core.schema import Statement
from scyllabatch._core.speedups import Codec
from scyllabatch._core.validation import ConditionalWrite
from scyllabatch._pure.writes import STATEMENT_OVERHEAD_BYTES
from scyllabatch.config import BatchLimits
from scyllabatch.errors import StoreValidationError
from scyllabatch.ops import BatchType, ConditionalResult, Item


def by_partition(writes: Sequence[ConditionalWrite]) -> dict[str, list[ConditionalWrite]]:
    """The conditional writes of each partition, in call order."""
    groups: dict[str, list[ConditionalWrite]] = {}
    for write in writes:
        groups.setdefault(write.put.partition, []).append(write)
    return groups


def _statement_count(write: ConditionalWrite) -> int:
    # a put-if-unchanged is a condition and the row it writes; the others are one statement
    return 2 if write.expected_updated_us is not None and write.put.encoded is not None else 1


def _estimated_bytes(write: ConditionalWrite) -> int:
    put = write.put
    return (
        len(put.partition.encode("utf-8"))
        + len(put.key.encode("utf-8"))
        + put.encoded_size
        + STATEMENT_OVERHEAD_BYTES * _statement_count(write)
    )


def check_limits(writes: Sequence[ConditionalWrite], limits: BatchLimits) -> None:
    """Refuse a partition whose conditional writes exceed one batch's limits (before any I/O).

    Its writes apply together or not at all, so the batch is never split.
    """
    for group in by_partition(writes).values():
        count = sum(_statement_count(write) for write in group)
        size = sum(_estimated_bytes(write) for write in group)
        if count > limits.max_ops or size > limits.max_bytes:
            first = group[0]
            raise StoreValidationError(
                f"op {first.index} (ConditionalPutOp) namespace: the call's {len(group)} "
                f"conditional writes of namespace {first.put.namespace!r} make one conditional "
                f"batch of {count} statements (~{size} bytes), above the limits of one batch "
                f"({limits.max_ops} statements, {limits.max_bytes} bytes); a conditional batch "
                "applies all or nothing and is never split: send fewer per call; nothing of the "
                "batch was sent",
                op_index=first.index,
                field="namespace",
            )


class ConditionalWriter:
    """Builds the conditional requests of a call and turns their answers into results."""

    def __init__(self, writes: Sequence[ConditionalWrite], codec: Codec) -> None:
        self.groups = list(by_partition(writes).values())
        self.codec = codec
        self.results: dict[int, ConditionalResult] = {}
        self._timestamp = 0
        self.rejected: set[int] = set()  # op indices whose batch the server did not apply
        self._group_of: dict[Request, list[ConditionalWrite]] = {}
        self._created: dict[int, int] = {}  # op index -> created_at written

    def start(self, created: dict[tuple[str, str], int], timestamp: int) -> list[Request]:
        """One request per partition. ``created`` holds the looked-up ``created_at`` of keys a
        put-if-unchanged rewrites (exact mode); ``timestamp`` is the call's ``updated_at``."""
        self._timestamp = timestamp
        requests = []
        for group in self.groups:
            queries: list[Query] = []
            for write in group:
                put = write.put
                ttl = put.ttl_seconds or 0
                if write.expected_updated_us is None:
                    self._created[write.index] = timestamp
                    queries.append(
                        Query(
                            Statement.INSERT_IF_ABSENT,
                            (put.partition, put.key, put.encoded, timestamp, timestamp, ttl, ttl),
                        )
                    )
                elif put.encoded is None:
                    queries.append(
                        Query(
                            Statement.DELETE_IF_UNCHANGED,
                            (put.partition, put.key, write.expected_updated_us),
                        )
                    )
                else:
                    created_us = created.get((put.partition, put.key), timestamp)
                    self._created[write.index] = created_us
                    queries.append(
                        Query(
                            Statement.CHECK_UNCHANGED,
                            (timestamp, put.partition, put.key, write.expected_updated_us),
                        )
                    )
                    queries.append(
                        Query(
                            Statement.UPSERT_IN_CONDITION,
                            (put.partition, put.key, put.encoded, created_us, timestamp, ttl, ttl),
                        )
                    )
            request = Request(
                queries=tuple(queries),
                consistency=Consistency.WRITE,
                idempotent=False,
                op_indices=tuple(write.index for write in group),
                batch_type=BatchType.UNLOGGED if len(queries) > 1 else None,
                estimated_bytes=sum(_estimated_bytes(write) for write in group),
                conditional=True,
            )
            self._group_of[request] = group
            requests.append(request)
        return requests

    def owns(self, request: Request) -> bool:
        """Whether ``request`` is one of this writer's (a conditional batch or its re-read)."""
        return request in self._group_of

    def feed(self, request: Request, page: Rows) -> list[Request]:
        """Take one answer; returns the re-read of a batch that was not applied."""
        group = self._group_of.pop(request)
        if request.conditional:
            applied = bool(page.rows[0][0]) if page.rows else True
            if applied:
                for write in group:
                    self.results[write.index] = ConditionalResult(
                        applied=True, current=self._written(write)
                    )
                return []
            self.rejected.update(write.index for write in group)
            return self._reread(group)
        # at most MAX_KEYS_PER_LOOKUP rows: one page, far below the driver's fetch size
        self._found(group, page)
        return []

    def _written(self, write: ConditionalWrite) -> Item | None:
        put = write.put
        if put.encoded is None:
            return None
        return Item(
            namespace=put.namespace,
            key=put.key,
            # encoded by this call from the op's dict: decoding gives what a get would return
            value=cast(dict[str, Any], self.codec.decode(put.encoded)),
            created_at=from_micros(self._created[write.index]),
            updated_at=from_micros(self._timestamp),
        )

    def _reread(self, group: list[ConditionalWrite]) -> list[Request]:
        partition = group[0].put.partition
        keys = list(dict.fromkeys(write.put.key for write in group))
        requests = []
        for start in range(0, len(keys), MAX_KEYS_PER_LOOKUP):
            chunk = set(keys[start : start + MAX_KEYS_PER_LOOKUP])
            members = [write for write in group if write.put.key in chunk]
            request = Request(
                queries=(Query(Statement.SELECT_KEYS, (partition, sorted(chunk))),),
                consistency=Consistency.SERIAL,
                idempotent=True,
                op_indices=tuple(write.index for write in members),
            )
            self._group_of[request] = members
            for write in members:  # a key with no row stays None
                self.results[write.index] = ConditionalResult(applied=False, current=None)
            requests.append(request)
        return requests

    def _found(self, group: list[ConditionalWrite], page: Rows) -> None:
        namespace = group[0].put.namespace
        partition = group[0].put.partition
        rows = [
            StoredRow.from_row(namespace, partition, row) for row in page.rows if row[1] is not None
        ]
        values = decode_values(self.codec, rows)
        items = {
            row.key: Item(
                namespace=namespace,
                key=row.key,
                value=value,
                created_at=from_micros(row.created_us),
                updated_at=from_micros(row.updated_us),
            )
            for row, value in zip(rows, values, strict=True)
        }
        for write in group:
            if write.put.key in items:
                self.results[write.index] = ConditionalResult(
                    applied=False, current=items[write.put.key]
                )


__all__ = ["ConditionalWriter", "by_partition", "check_limits"]
