"""Operation and result value types.

The operations are ``NamedTuple`` s with LangGraph's field order and defaults, so code written for
``langgraph.store.base`` ports unchanged, and LangGraph's own op objects are accepted by
:meth:`scyllabatch.Store.batch` as they are.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

__all__ = [
    "BatchType",
    "ConditionalPutOp",
    "ConditionalResult",
    "CounterOp",
    "GetCountersOp",
    "GetOp",
    "IfAbsent",
    "IfUnchanged",
    "Item",
    "ListNamespacesOp",
    "MatchCondition",
    "NamespacePath",
    "Op",
    "PutOp",
    "Result",
    "SearchItem",
    "SearchOp",
]

NamespacePath = tuple[str, ...]
"""A namespace path in a match condition; ``"*"`` matches exactly one label."""


class BatchType(str, enum.Enum):
    """How the writes of one :meth:`~scyllabatch.Store.batch` call are sent.

    ``UNLOGGED`` groups writes by partition (atomic and isolated inside each partition) and runs the
    partitions concurrently. ``LOGGED`` sends all writes of the call as one batchlog-protected
    batch: all or nothing, across partitions. Strings (``"LOGGED"``) are accepted wherever a
    ``BatchType`` is.
    """

    UNLOGGED = "UNLOGGED"
    LOGGED = "LOGGED"

    def __str__(self) -> str:
        return self.value


class GetOp(NamedTuple):
    """Read one item by namespace and key. Result: :class:`Item` or ``None``.

    ``refresh_ttl`` re-applies the item's TTL (if it was written with one) to all its cells.
    """

    namespace: tuple[str, ...]
    key: str
    refresh_ttl: bool = True


class PutOp(NamedTuple):
    """Write (``value`` a dict) or delete (``value=None``) one item. Result: ``None``.

    ``ttl`` is in minutes (float, LangGraph's unit), ``None`` for no expiry; it must be > 0. The
    item stays readable for at least that long: the server expires on whole seconds (``USING TTL
    n`` lives between n - 1 and n seconds), so the TTL stored is the asked seconds rounded up,
    plus one (``ttl=1/60`` is stored as 2 s). Reads with ``refresh_ttl`` re-apply the same stored
    seconds. ``index`` is accepted for LangGraph compatibility; scyllabatch keeps no vector index.
    """

    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any] | None
    index: Literal[False] | list[str] | None = None  # type: ignore[assignment]
    ttl: float | None = None


class SearchOp(NamedTuple):
    """Find items under a namespace prefix, newest first. Result: ``list[SearchItem]``.

    ``query`` is accepted and ignored, as by LangGraph's stores without a vector index: the result
    is the items under the prefix that match ``filter``.
    """

    namespace_prefix: tuple[str, ...]
    filter: dict[str, Any] | None = None
    limit: int = 10
    offset: int = 0
    query: str | None = None
    refresh_ttl: bool = True


class MatchCondition(NamedTuple):
    """A ``"prefix"`` or ``"suffix"`` pattern for :class:`ListNamespacesOp`.

    ``path`` is a tuple of labels (``"*"`` matches any one label); a single ``str`` is taken as a
    one-label path, as LangGraph accepts it.
    """

    match_type: Literal["prefix", "suffix"]
    path: NamespacePath


class ListNamespacesOp(NamedTuple):
    """List stored namespaces, sorted, optionally truncated to ``max_depth`` labels.

    Result: ``list[tuple[str, ...]]``.
    """

    match_conditions: tuple[MatchCondition, ...] | None = None
    max_depth: int | None = None
    limit: int = 100
    offset: int = 0


class IfAbsent(NamedTuple):
    """Condition of a :class:`ConditionalPutOp`: apply only if no item is stored at the key."""


class IfUnchanged(NamedTuple):
    """Condition of a :class:`ConditionalPutOp`: apply only if the stored item's ``updated_at``
    is exactly ``updated_at`` (pass the ``updated_at`` of the :class:`Item` you read).

    ``updated_at`` is the item's version: every write sets it to a new, strictly greater value,
    with microsecond resolution. A timezone-aware ``datetime`` (naive ones are taken as UTC).
    """

    updated_at: datetime


class ConditionalPutOp(NamedTuple):
    """Write (``value`` a dict) or delete (``value=None``) one item only if ``condition`` holds.

    ``condition`` is :class:`IfAbsent` (put-if-absent; a delete cannot have it) or
    :class:`IfUnchanged` (put- or delete-if-unchanged). Result: :class:`ConditionalResult`.

    Conditional writes are lightweight transactions (Paxos): about four round trips instead of
    one, linearizable, never re-sent after an ambiguous failure. The conditional writes of one
    namespace (one partition) in a call go in one conditional batch, which applies all of them
    or none: if one condition fails, none of that namespace's conditional writes is applied.
    ``ttl`` is in minutes, as for :class:`PutOp`. A call may not mix a conditional and a plain
    write of the same key, and ``LOGGED`` calls take no conditional writes.
    """

    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any] | None
    condition: IfAbsent | IfUnchanged
    ttl: float | None = None


class CounterOp(NamedTuple):
    """Add ``delta`` (an ``int``, may be negative) to the counter ``counter`` of an item.

    Result: ``None``. Counters live in a table of their own (the server keeps counter columns
    apart from other columns): they do not make an item exist, do not expire and are not
    removed by deleting the item. A counter that was never incremented reads as absent. Several
    ``CounterOp`` s of one counter in a call are added up and sent once. Counter updates are not
    idempotent: they are never re-sent after an ambiguous failure (the error lists them as
    ``unknown``), only when the server said nothing was applied.
    """

    namespace: tuple[str, ...]
    key: str
    counter: str
    delta: int = 1


class GetCountersOp(NamedTuple):
    """Read every counter of one item. Result: ``dict[str, int]`` (empty if none was set)."""

    namespace: tuple[str, ...]
    key: str


Op = GetOp | PutOp | SearchOp | ListNamespacesOp | ConditionalPutOp | CounterOp | GetCountersOp
"""Any operation accepted by :meth:`~scyllabatch.Store.batch`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    """A stored item. Timestamps are timezone-aware UTC with microsecond resolution."""

    value: dict[str, Any]
    key: str
    namespace: tuple[str, ...]
    created_at: datetime
    updated_at: datetime

    def __hash__(self) -> int:
        # The value is a dict (unhashable); an item is identified by where it lives.
        return hash((self.namespace, self.key))

    def dict(self) -> dict[str, Any]:
        """Return the item as a JSON-friendly dict (timestamps in ISO 8601), like LangGraph's."""
        return {
            "value": self.value,
            "key": self.key,
            "namespace": list(self.namespace),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchItem(Item):
    """An item returned by a search; ``score`` is ``None`` (no semantic ranking)."""

    score: float | None = field(default=None)

    __hash__ = Item.__hash__

    def dict(self) -> dict[str, Any]:
        """Return the item as a dict, including ``score``."""
        result = Item.dict(self)
        result["score"] = self.score
        return result


@dataclass(frozen=True, slots=True, kw_only=True)
class ConditionalResult:
    """The result of a :class:`ConditionalPutOp`.

    ``applied`` says whether the write was applied. ``current`` is the item at the key after
    the call: when applied, the item as written (``None`` after a delete); when not applied,
    the item stored, read right after the failed condition at the serial consistency (``None``
    if there is none). A write whose own condition held is also not applied when another
    conditional write of the same namespace in the call failed its condition (they apply
    together or not at all); its ``current`` then still matches its condition.
    """

    applied: bool
    current: Item | None


Result = Item | list[SearchItem] | list[tuple[str, ...]] | ConditionalResult | dict[str, int] | None
"""One positional result of :meth:`~scyllabatch.Store.batch`."""
