"""Streaming every item under a namespace prefix, page by page, with bounded memory.

:class:`SearchIteration` is the sans-I/O state of one ``iter_search``: it walks the namespace
registry and scans the matching partitions with the driver's paging state (never offset paging),
and its :meth:`~SearchIteration.flow` generator yields the engine's ``Execute``/``Sleep``
commands plus :class:`Found` pages of items for the facade to hand to its caller. Requests are
retried by the engine's own rules.

Memory: at most ``prefetch`` pages of rows are held (the partition being emitted and the first
page of the next ones, fetched concurrently), plus one registry page of namespace names and the
registry requests still to send. Items come namespace by namespace, keys in ascending order
within one; nothing is sorted across namespaces, so nothing needs to be kept.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from scyllabatch._core.engine import CallContext, _execute
from scyllabatch._core.filters import matches
from scyllabatch._core.items import StoredRow, from_micros
from scyllabatch._core.reads import RegistryWalk, decode_values, namespace_of, read_request
from scyllabatch._core.requests import Command, Failure, Request, Rows
from scyllabatch._core.retry import category
from scyllabatch._core.schema import Statement
from scyllabatch._core.validation import SearchRead
from scyllabatch.ops import SearchItem

#: Partitions scanned at once: the one being emitted and the first pages of the next ones.
PREFETCH_PARTITIONS = 8


@dataclass(frozen=True, slots=True)
class Found:
    """A page of matching items (and their stored rows), for the facade to hand out.

    The facade sends ``None`` back once the caller has taken them.
    """

    items: list[SearchItem]
    rows: list[StoredRow]


Steps = Generator[Command | Found, Any, None]


@dataclass(slots=True)
class _Scan:
    """One partition being scanned: its next request, or its fetched page not yet emitted."""

    partition: str
    request: Request | None
    page: Rows | None = None


@dataclass(slots=True)
class SearchIteration:
    """Every item under ``op.prefix`` matching ``op.conditions``, one page at a time."""

    op: SearchRead
    context: CallContext
    page_size: int
    prefetch: int = PREFETCH_PARTITIONS
    walk: RegistryWalk = field(init=False)
    registry: list[Request] = field(init=False)  # registry requests to send, a stack
    namespaces: deque[str] = field(init=False, default_factory=deque)
    scans: deque[_Scan] = field(init=False, default_factory=deque)
    peak_rows_held: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.walk = RegistryWalk(self.op.prefix, self.op.index, self.page_size)
        self.registry = list(reversed(self.walk.start()))

    @property
    def rows_held(self) -> int:
        """Rows fetched and not yet handed out (the memory bound's measure)."""
        return sum(len(scan.page.rows) for scan in self.scans if scan.page is not None)

    def flow(self) -> Steps:
        """Run the iteration: yields commands for the facade and :class:`Found` pages."""
        while True:
            requests = self._next_requests()
            if not requests:
                return
            failures = yield from _execute(requests, self.context, self._on_page, fail_fast=True)
            if failures:
                _raise_failure(*failures[0])
            self.peak_rows_held = max(self.peak_rows_held, self.rows_held)
            while self.scans and self.scans[0].page is not None:
                head = self.scans[0]
                page = head.page
                assert page is not None
                head.page = None
                if page.paging_state:
                    assert head.request is not None
                    head.request = head.request.next_page(page.paging_state)
                else:
                    head.request = None
                    self.scans.popleft()
                found = self._found(head.partition, page.rows)
                if found.items:
                    yield found
                if head.request is not None:
                    break  # its next page must be fetched before anything after it is emitted

    def _next_requests(self) -> list[Request]:
        while len(self.scans) < self.prefetch and self.namespaces:
            partition = self.namespaces.popleft()
            request = read_request(
                Statement.SCAN_PARTITION, (partition,), (self.op.index,), self.page_size
            )
            self.scans.append(_Scan(partition, request))
        requests = [s.request for s in self.scans if s.page is None and s.request is not None]
        if len(self.namespaces) < self.prefetch and self.registry:
            requests.append(self.registry.pop())
        return requests

    def _on_page(self, request: Request, page: Rows) -> Sequence[Request]:
        if request.queries[0].statement is not Statement.SCAN_PARTITION:
            follow, found = self.walk.feed(request, page)
            # depth first: a root's namespaces before the next page of roots keeps the stack short
            self.registry.extend(reversed(follow))
            self.namespaces.extend(found)
            return ()
        for scan in self.scans:
            if scan.request is request:
                scan.page = page
                break
        return ()

    def _found(self, partition: str, rows: Sequence[Any]) -> Found:
        namespace = namespace_of(partition)
        stored = [StoredRow.from_row(namespace, partition, r) for r in rows if r[1] is not None]
        values = decode_values(self.context.codec, stored) if stored else []
        conditions = self.op.conditions
        items: list[SearchItem] = []
        kept: list[StoredRow] = []
        for row, value in zip(stored, values, strict=True):
            if conditions and not (isinstance(value, dict) and matches(value, conditions)):
                continue
            kept.append(row)
            items.append(
                SearchItem(
                    namespace=namespace,
                    key=row.key,
                    value=value,
                    created_at=from_micros(row.created_us),
                    updated_at=from_micros(row.updated_us),
                )
            )
        return Found(items, kept)


def _raise_failure(request: Request, failure: Failure) -> None:
    what = request.queries[0]
    if what.statement is Statement.SCAN_PARTITION:
        target = f"the items of namespace {namespace_of(what.params[0])!r}"
    else:
        target = "the namespace registry"
    raise category(failure.kind)(
        f"iter_search could not read {target} ({type(failure.error).__name__}: "
        f"{failure.error}); the items handed out before are valid, and iterating again starts "
        "over"
    ) from failure.error


__all__ = ["PREFETCH_PARTITIONS", "Found", "SearchIteration", "Steps"]
