"""What the engine asks a facade to do, and what the facade answers.

The engine yields :class:`Execute` (run these requests, concurrently, and send back one outcome
per request, in order) or :class:`Sleep` (wait, then send back ``None``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from scyllabatch._core.retry import ErrorKind
from scyllabatch._core.schema import Statement
from scyllabatch.ops import BatchType


class Consistency(enum.Enum):
    """Which configured consistency level a request uses."""

    READ = "read"
    WRITE = "write"
    # A nearest-neighbour query: the server supports them only at ONE / LOCAL_ONE (the items
    # found are then read by key at the configured read consistency).
    NEAREST = "nearest"
    SERIAL = "serial"  # a linearizable read: the serial consistency of conditional writes


@dataclass(frozen=True, slots=True)
class Query:
    """One prepared statement with its bound values."""

    statement: Statement
    params: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class EncodedStatements:
    """The statements of a write batch, already serialized (see ``_speedups/writes.pyx``).

    ``body`` is the statements section of a CQL ``BATCH`` message (``count`` statements); the
    request carries the first statement's partition key as its ``routing_key``.
    """

    count: int
    body: bytes


@dataclass(frozen=True, slots=True, eq=False)
class Request:
    """One round trip: a single statement or, with ``batch_type``, a batch of them.

    ``op_indices`` are the positions of the ops this request serves (used to report what was and
    was not applied). ``idempotent`` tells the retry policy whether re-sending after an ambiguous
    error is safe. A data write carries its statements pre-serialized in ``encoded`` (and no
    ``queries``); every other request carries ``queries`` for the driver to bind. Requests
    compare and hash by identity: the engine keys its bookkeeping by request.
    ``counter`` marks counter updates (a ``COUNTER`` batch when there are several);
    ``conditional`` a lightweight transaction (sent with the serial consistency).
    """

    queries: tuple[Query, ...]
    consistency: Consistency
    idempotent: bool
    op_indices: tuple[int, ...] = ()
    batch_type: BatchType | None = None
    paging_state: bytes | None = None
    fetch_size: int | None = None
    estimated_bytes: int = 0
    internal: bool = False  # a TTL refresh or registry write, not one of the caller's writes
    encoded: EncodedStatements | None = None
    counter: bool = False
    conditional: bool = False
    routing_key: bytes | None = None
    """The serialized partition key to route by, where the driver cannot tell it from bound
    values: pre-serialized writes, and reads of several partitions on the same replicas."""

    @property
    def is_write(self) -> bool:
        """Whether the request modifies data."""
        return self.consistency is Consistency.WRITE

    def next_page(self, paging_state: bytes) -> Request:
        """The same read, continued from ``paging_state``."""
        return Request(
            queries=self.queries,
            consistency=self.consistency,
            idempotent=self.idempotent,
            op_indices=self.op_indices,
            batch_type=self.batch_type,
            paging_state=paging_state,
            fetch_size=self.fetch_size,
            routing_key=self.routing_key,
        )


@dataclass(frozen=True, slots=True)
class Rows:
    """A successful outcome: the rows of this page (tuples in SELECT order) and the paging state
    for the next page, if any."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    paging_state: bytes | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed outcome: the driver's exception and its classification."""

    kind: ErrorKind
    error: BaseException


Outcome = Rows | Failure


@dataclass(frozen=True, slots=True)
class Execute:
    """Run every request concurrently (bounded) and send back ``list[Outcome]`` in order."""

    requests: tuple[Request, ...]


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait ``seconds`` (before a retry), then send back ``None``."""

    seconds: float


Command = Execute | Sleep
