"""Readers: small state machines that turn read ops into requests and rows into results.

A reader hands out its first requests with :meth:`Reader.start`, and receives each page of rows with
:meth:`Reader.feed`, which may ask for more requests (next pages, or the next stage). The engine
runs every reader of a call concurrently and knows nothing of what they read.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence
from typing import Any

from scyllabatch._codec_errors import DecodeError
from scyllabatch._core.filters import matches
from scyllabatch._core.items import KEY, PARTITION, VALUE, StoredRow, from_micros, updated_us
from scyllabatch._core.requests import Consistency, Query, Request, Rows
from scyllabatch._core.schema import ROOT_BUCKETS, Statement
from scyllabatch._core.speedups import Codec
from scyllabatch._core.validation import NAMESPACE_SEPARATOR, GetRead, ListRead, SearchRead
from scyllabatch.errors import StoreQueryError
from scyllabatch.ops import SearchItem

MAX_KEYS_PER_LOOKUP = 100
MAX_ACTIVE_SCANS = 16
MAX_ACTIVE_PROBES = 32


def read_request(
    statement: Statement,
    params: tuple[Any, ...],
    op_indices: tuple[int, ...],
    fetch_size: int | None = None,
) -> Request:
    """A single-statement read request (reads are always idempotent)."""
    return Request(
        queries=(Query(statement, params),),
        consistency=Consistency.READ,
        idempotent=True,
        op_indices=op_indices,
        fetch_size=fetch_size,
    )


def decode_values(codec: Codec, rows: Sequence[StoredRow]) -> list[Any]:
    """Decode stored values, turning corrupt data into a clear query error."""
    try:
        values: list[Any] = codec.decode_batch([row.blob for row in rows])
    except DecodeError:
        for row in rows:
            try:
                codec.decode(row.blob)
            except DecodeError as exc:
                raise StoreQueryError(
                    f"the stored value of namespace {row.namespace!r} key {row.key!r} is not "
                    f"valid MessagePack ({exc}); was it written by another program?"
                ) from exc
        raise
    return values


class Reader:
    """Base class of the readers."""

    def start(self) -> list[Request]:
        """The first requests."""
        raise NotImplementedError

    def feed(self, request: Request, page: Rows) -> list[Request]:
        """Consume one page of rows for ``request``; return follow-up requests."""
        raise NotImplementedError


def shared_read(
    statement: Statement, partitions: list[str], keys: list[str], op_indices: tuple[int, ...]
) -> Request:
    """One read of the same ``keys`` in several ``partitions`` stored on the same replicas
    (``namespace IN ? AND key IN ?``), routed to those replicas by the first partition."""
    return Request(
        queries=(Query(statement, (partitions, keys)),),
        consistency=Consistency.READ,
        idempotent=True,
        op_indices=op_indices,
        routing_key=partitions[0].encode("utf-8"),
    )


class GetReader(Reader):
    """Serves ``GetOp`` s: those of one partition (``key IN ?``, up to ``MAX_KEYS_PER_LOOKUP``
    keys per request), or those of several partitions asking for exactly the same keys and stored
    on the same replicas (one ``namespace IN ? AND key IN ?`` request of at most
    ``MAX_KEYS_PER_LOOKUP`` rows; the planner forms such groups)."""

    def __init__(self, gets: Sequence[GetRead]) -> None:
        self.gets = gets
        self.namespaces = {g.partition: g.namespace for g in gets}
        self.partitions = list(self.namespaces)
        self.keys = list(dict.fromkeys(g.key for g in gets))
        self.op_indices = tuple(g.index for g in gets)
        self.rows: dict[tuple[str, str], Any] = {}

    def start(self) -> list[Request]:
        if len(self.partitions) > 1:
            return [
                shared_read(Statement.SELECT_KEYS_IN, self.partitions, self.keys, self.op_indices)
            ]
        return [
            read_request(
                Statement.SELECT_KEYS,
                (self.partitions[0], self.keys[i : i + MAX_KEYS_PER_LOOKUP]),
                self.op_indices,
            )
            for i in range(0, len(self.keys), MAX_KEYS_PER_LOOKUP)
        ]

    def feed(self, request: Request, page: Rows) -> list[Request]:
        rows = self.rows
        if len(self.partitions) > 1:
            for row in page.rows:
                rows[(row[PARTITION], row[KEY])] = row
        else:
            partition = self.partitions[0]
            for row in page.rows:
                rows[(partition, row[KEY])] = row
        return [request.next_page(page.paging_state)] if page.paging_state else []

    def stored(self) -> dict[tuple[str, str], StoredRow]:
        """Every found row, by (partition, key)."""
        return {
            (partition, key): StoredRow.from_row(self.namespaces[partition], partition, row)
            for (partition, key), row in self.rows.items()
        }


class CreatedAtReader(Reader):
    """Looks up ``created_at`` of keys about to be written (exact mode), in one request.

    One partition: ``namespace = ? AND key IN ?``. Several partitions, written with exactly the
    same keys and stored on the same replicas: ``namespace IN ? AND key IN ?``, routed to one of
    those replicas. Either way the rows asked for are exactly the rows the call writes (the
    product of those partitions and keys is that set), never a cross product that reads rows
    nobody asked for; at most ``MAX_KEYS_PER_LOOKUP`` of them. It runs in phase 1, concurrently
    with the call's other reads.
    """

    def __init__(
        self, partitions: Sequence[str], keys: list[str], op_indices: tuple[int, ...]
    ) -> None:
        self.partitions = list(partitions)
        self.keys = keys
        self.op_indices = op_indices
        self.found: dict[tuple[str, str], int] = {}

    def start(self) -> list[Request]:
        if len(self.partitions) == 1:
            params: tuple[Any, ...] = (self.partitions[0], self.keys)
            return [read_request(Statement.SELECT_CREATED, params, self.op_indices)]
        return [
            shared_read(Statement.SELECT_CREATED_IN, self.partitions, self.keys, self.op_indices)
        ]

    def feed(self, request: Request, page: Rows) -> list[Request]:
        found = self.found
        if len(self.partitions) == 1:
            partition = self.partitions[0]
            for key, created in page.rows:
                if created is not None:
                    found[(partition, key)] = int(created)
        else:
            for partition, key, created in page.rows:
                if created is not None:
                    found[(partition, key)] = int(created)
        return [request.next_page(page.paging_state)] if page.paging_state else []


def namespace_of(text: str) -> tuple[str, ...]:
    """Split a stored partition name back into labels."""
    return tuple(text.split(NAMESPACE_SEPARATOR))


def registry_requests(prefix: tuple[str, ...], op_index: int, page_size: int) -> list[Request]:
    """Requests listing every registered namespace equal to or under ``prefix``.

    An empty prefix lists the roots first, one request per roots bucket (see
    :meth:`RegistryWalk.feed`). Prefixes of two or more
    labels become two exact clustering ranges: the namespace itself, and ``prefix + '.'`` up to
    ``prefix + '/'`` (``/`` sorts right after ``.``), so ``("a", "b")`` never sees ``("a", "bc")``.
    """
    indices = (op_index,)
    if not prefix:
        return [
            read_request(Statement.LIST_ROOTS, (bucket,), indices, page_size)
            for bucket in range(ROOT_BUCKETS)
        ]
    root = prefix[0]
    if len(prefix) == 1:
        return [read_request(Statement.LIST_UNDER_ROOT, (root,), indices, page_size)]
    text = NAMESPACE_SEPARATOR.join(prefix)
    return [
        read_request(Statement.LIST_RANGE, (root, text, text + "\x00"), indices, page_size),
        read_request(Statement.LIST_RANGE, (root, text + ".", text + "/"), indices, page_size),
    ]


class RegistryWalk:
    """Pages through the namespace registry; shared by search and listing."""

    def __init__(self, prefix: tuple[str, ...], op_index: int, page_size: int) -> None:
        self.prefix = prefix
        self.op_index = op_index
        self.page_size = page_size
        self.roots_seen: set[str] = set()  # a root may sit in two buckets (old and new layout)

    def start(self) -> list[Request]:
        return registry_requests(self.prefix, self.op_index, self.page_size)

    def feed(self, request: Request, page: Rows) -> tuple[list[Request], list[str]]:
        """Return follow-up requests and the namespaces (partition names) found on this page."""
        follow: list[Request] = []
        found: list[str] = []
        if request.queries[0].statement is Statement.LIST_ROOTS:
            for (root,) in page.rows:
                if root in self.roots_seen:
                    continue
                self.roots_seen.add(root)
                follow.append(
                    read_request(
                        Statement.LIST_UNDER_ROOT, (root,), (self.op_index,), self.page_size
                    )
                )
        else:
            found = [row[0] for row in page.rows]
        if page.paging_state:
            follow.append(request.next_page(page.paging_state))
        return follow, found


class SearchReader(Reader):
    """Serves one ``SearchOp``: registry walk, then paged scans of matching namespaces.

    Memory stays bounded whatever the data size: at most ``MAX_ACTIVE_SCANS`` pages are in flight,
    and at most ``2 * (offset + limit)`` candidates are kept between pages, as raw rows (values
    are decoded per page only when a filter needs them, else only for the results).
    """

    def __init__(self, op: SearchRead, codec: Codec, page_size: int) -> None:
        self.op = op
        self.codec = codec
        self.page_size = page_size
        self.walk = RegistryWalk(op.prefix, op.index, page_size)
        self.keep = op.offset + op.limit
        self.queued: deque[str] = deque()
        self.active = 0
        # (-updated_us, partition, key, row, decoded value or _UNDECODED), best first
        self.best: list[tuple[int, str, str, Any, Any]] = []
        self.rows_read = 0

    def start(self) -> list[Request]:
        if self.op.limit == 0:
            return []
        return self.walk.start()

    def feed(self, request: Request, page: Rows) -> list[Request]:
        statement = request.queries[0].statement
        if statement is not Statement.SCAN_PARTITION:
            follow, found = self.walk.feed(request, page)
            self.queued.extend(found)
            return follow + self._launch()
        partition = request.queries[0].params[0]
        self._consider(partition, page.rows)
        if page.paging_state:
            return [request.next_page(page.paging_state)]
        self.active -= 1
        return self._launch()

    def _launch(self) -> list[Request]:
        requests = []
        while self.queued and self.active < MAX_ACTIVE_SCANS:
            partition = self.queued.popleft()
            self.active += 1
            requests.append(
                read_request(
                    Statement.SCAN_PARTITION, (partition,), (self.op.index,), self.page_size
                )
            )
        return requests

    def _consider(self, partition: str, rows: Sequence[Any]) -> None:
        self.rows_read += len(rows)
        rows = [row for row in rows if row[VALUE] is not None]  # not an item without a value
        if not rows:
            return
        conditions = self.op.conditions
        values: Sequence[Any] = (
            self._decode_page(partition, rows) if conditions else [_UNDECODED] * len(rows)
        )
        page = [
            (-updated_us(row), partition, row[KEY], row, value)
            for row, value in zip(rows, values, strict=True)
            if not conditions or (_is_dict(value) and matches(value, conditions))
        ]
        self.best.extend(page)
        if len(self.best) > 2 * self.keep:  # amortized: O(rows x log(keep)) for the whole scan
            self.best = heapq.nsmallest(self.keep, self.best, key=_rank)

    def _decode_page(self, partition: str, rows: Sequence[Any]) -> list[Any]:
        try:
            values: list[Any] = self.codec.decode_batch([row[VALUE] for row in rows])
        except DecodeError:
            namespace = namespace_of(partition)
            decode_values(self.codec, [StoredRow.from_row(namespace, partition, r) for r in rows])
            raise
        return values

    def results(self) -> tuple[list[SearchItem], list[StoredRow]]:
        """The page of results (newest first) and their stored rows (for TTL refresh)."""
        self.best = heapq.nsmallest(self.keep, self.best, key=_rank)
        chosen = self.best[self.op.offset : self.op.offset + self.op.limit]
        stored = [
            StoredRow.from_row(namespace_of(partition), partition, row)
            for _, partition, _, row, _ in chosen
        ]
        undecoded = [s for s, (*_, v) in zip(stored, chosen, strict=True) if v is _UNDECODED]
        decoded = iter(decode_values(self.codec, undecoded) if undecoded else ())
        items = []
        for row, (*_, value) in zip(stored, chosen, strict=True):
            if value is _UNDECODED:
                value = next(decoded)
            items.append(
                SearchItem(
                    namespace=row.namespace,
                    key=row.key,
                    value=value,
                    created_at=from_micros(row.created_us),
                    updated_at=from_micros(row.updated_us),
                )
            )
        return items, stored


_UNDECODED = object()


def _rank(candidate: tuple[int, str, str, Any, Any]) -> tuple[int, str, str]:
    """Newest first; ties (one call writes many items with one timestamp) by namespace, key."""
    newest, partition, key, _row, _value = candidate
    return newest, partition, key


def _is_dict(value: Any) -> bool:
    return isinstance(value, dict)


def _matches_pattern(namespace: tuple[str, ...], pattern: tuple[str, ...], suffix: bool) -> bool:
    if len(pattern) > len(namespace):
        return False
    labels = namespace[len(namespace) - len(pattern) :] if suffix else namespace[: len(pattern)]
    return all(p == "*" or p == label for p, label in zip(pattern, labels, strict=False))


def _concrete_prefix(op: ListRead) -> tuple[str, ...] | None:
    """The longest wildcard-free leading labels shared by the prefix conditions.

    ``None`` means two prefix conditions disagree, so nothing can match.
    """
    best: tuple[str, ...] = ()
    for pattern in op.prefixes:
        concrete: list[str] = []
        for label in pattern:
            if label == "*":
                break
            concrete.append(label)
        candidate = tuple(concrete)
        shorter, longer = sorted((best, candidate), key=len)
        if longer[: len(shorter)] != shorter:
            return None
        best = longer
    return best


class ListReader(Reader):
    """Serves one ``ListNamespacesOp``: registry walk, match, then liveness probes.

    A namespace is listed only while it holds at least one live item, so namespaces whose items
    were all deleted or expired disappear from listings (their registry rows stay; see
    docs/search.md). Once the walk is done, candidates (namespaces, or their ``max_depth``
    truncations) are probed with a ``LIMIT 1`` read in sorted order, and probing stops as soon as
    ``offset + limit`` live ones are known: every candidate not probed sorts after them.
    """

    def __init__(self, op: ListRead, page_size: int) -> None:
        self.op = op
        prefix = _concrete_prefix(op)
        self.impossible = prefix is None
        self.walk = RegistryWalk(prefix or (), op.index, page_size)
        self.needed = op.offset + op.limit
        self.groups: dict[tuple[str, ...], list[str]] = {}
        self.order: list[tuple[str, ...]] = []
        self.next_group = 0
        self.live: set[tuple[str, ...]] = set()
        self.probing: dict[str, tuple[str, ...]] = {}
        self.walking = 0
        self.probes_sent = 0

    def start(self) -> list[Request]:
        if self.impossible or self.op.limit == 0:
            return []
        requests = self.walk.start()
        self.walking = len(requests)
        return requests

    def feed(self, request: Request, page: Rows) -> list[Request]:
        statement = request.queries[0].statement
        if statement is Statement.PROBE_PARTITION:
            group = self.probing.pop(request.queries[0].params[0])
            remaining = self.groups[group]
            if page.rows:
                self.live.add(group)
            elif remaining:  # not live yet: try the group's next namespace
                return [self._probe_request(group)]
            del self.groups[group]
            return self._probe()
        follow, found = self.walk.feed(request, page)
        self.walking += len(follow) - 1
        for partition in found:
            namespace = namespace_of(partition)
            if all(_matches_pattern(namespace, p, False) for p in self.op.prefixes) and all(
                _matches_pattern(namespace, s, True) for s in self.op.suffixes
            ):
                group = namespace[: self.op.max_depth] if self.op.max_depth else namespace
                self.groups.setdefault(group, []).append(partition)
        if self.walking:
            return follow
        self.order = sorted(self.groups)
        return self._probe()

    def _probe_request(self, group: tuple[str, ...]) -> Request:
        partition = self.groups[group].pop()
        self.probing[partition] = group
        self.probes_sent += 1
        return read_request(Statement.PROBE_PARTITION, (partition,), (self.op.index,))

    def _probe(self) -> list[Request]:
        """Probe the next groups in sorted order, no more than could still be needed."""
        requests = []
        room = min(MAX_ACTIVE_PROBES, self.needed - len(self.live))
        while self.next_group < len(self.order) and len(self.probing) < room:
            group = self.order[self.next_group]
            self.next_group += 1
            requests.append(self._probe_request(group))
        return requests

    def results(self) -> list[tuple[str, ...]]:
        """The sorted, de-duplicated namespaces, after offset and limit."""
        ordered = sorted(self.live)
        return ordered[self.op.offset : self.op.offset + self.op.limit]
