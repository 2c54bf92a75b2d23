"""Which failures are retried: the classification table of docs/design.md, item 9.

The facade's driver adapter maps each driver exception to an :class:`ErrorKind`; this module
decides, from the kind and from whether the request is a read, an idempotent write or a
non-idempotent write, whether re-sending is safe, and which :class:`~scyllabatch.StoreError`
category a final failure raises.
"""

from __future__ import annotations

import enum

from scyllabatch.errors import (
    StoreConnectionError,
    StoreError,
    StoreQueryError,
    StoreTimeoutError,
    StoreUnavailableError,
)


class ErrorKind(enum.Enum):
    """A driver failure, reduced to what matters for retrying."""

    UNAVAILABLE = "unavailable"
    OVERLOADED = "overloaded"
    BOOTSTRAPPING = "bootstrapping"
    WRITE_TIMEOUT_BATCH_LOG = "write_timeout_batch_log"  # nothing applied yet
    WRITE_TIMEOUT_SIMPLE = "write_timeout_simple"
    WRITE_TIMEOUT_UNLOGGED_BATCH = "write_timeout_unlogged_batch"
    WRITE_TIMEOUT_BATCH = "write_timeout_batch"  # in the batchlog: it will be applied
    WRITE_TIMEOUT_OTHER = "write_timeout_other"  # counter, CAS, view, CDC
    READ_TIMEOUT = "read_timeout"
    CLIENT_TIMEOUT = "client_timeout"  # OperationTimedOut: outcome unknown
    CONNECTION = "connection"  # NoHostAvailable from connection errors, lost connections
    INVALID = "invalid"  # InvalidRequest, ConfigurationException, ...
    SYNTAX = "syntax"
    AUTH = "auth"
    READ_FAILURE = "read_failure"
    WRITE_FAILURE = "write_failure"
    OTHER = "other"


class WriteKind(enum.Enum):
    """What kind of request failed; decides which ambiguous errors may be re-sent."""

    READ = "read"
    IDEMPOTENT_WRITE = "idempotent_write"  # plain puts/deletes with pinned timestamps
    NON_IDEMPOTENT_WRITE = "non_idempotent_write"  # counters, conditional writes


_SAFE_FOR_EVERY_WRITE = frozenset(
    {
        ErrorKind.UNAVAILABLE,
        ErrorKind.OVERLOADED,
        ErrorKind.BOOTSTRAPPING,
        ErrorKind.WRITE_TIMEOUT_BATCH_LOG,
    }
)
_SAFE_FOR_IDEMPOTENT_WRITES = _SAFE_FOR_EVERY_WRITE | {
    ErrorKind.WRITE_TIMEOUT_SIMPLE,
    ErrorKind.WRITE_TIMEOUT_UNLOGGED_BATCH,
    ErrorKind.CLIENT_TIMEOUT,
    ErrorKind.CONNECTION,
}
_SAFE_FOR_READS = frozenset(
    {
        ErrorKind.UNAVAILABLE,
        ErrorKind.OVERLOADED,
        ErrorKind.BOOTSTRAPPING,
        ErrorKind.READ_TIMEOUT,
        ErrorKind.CLIENT_TIMEOUT,
        ErrorKind.CONNECTION,
    }
)

_CATEGORY: dict[ErrorKind, type[StoreError]] = {
    ErrorKind.UNAVAILABLE: StoreUnavailableError,
    ErrorKind.OVERLOADED: StoreUnavailableError,
    ErrorKind.BOOTSTRAPPING: StoreUnavailableError,
    ErrorKind.WRITE_TIMEOUT_BATCH_LOG: StoreTimeoutError,
    ErrorKind.WRITE_TIMEOUT_SIMPLE: StoreTimeoutError,
    ErrorKind.WRITE_TIMEOUT_UNLOGGED_BATCH: StoreTimeoutError,
    ErrorKind.WRITE_TIMEOUT_BATCH: StoreTimeoutError,
    ErrorKind.WRITE_TIMEOUT_OTHER: StoreTimeoutError,
    ErrorKind.READ_TIMEOUT: StoreTimeoutError,
    ErrorKind.CLIENT_TIMEOUT: StoreTimeoutError,
    ErrorKind.CONNECTION: StoreConnectionError,
}


def is_retryable(kind: ErrorKind, write_kind: WriteKind) -> bool:
    """Whether re-sending a request that failed with ``kind`` is safe."""
    if write_kind is WriteKind.READ:
        return kind in _SAFE_FOR_READS
    if write_kind is WriteKind.IDEMPOTENT_WRITE:
        return kind in _SAFE_FOR_IDEMPOTENT_WRITES
    return kind in _SAFE_FOR_EVERY_WRITE


def category(kind: ErrorKind) -> type[StoreError]:
    """The :class:`~scyllabatch.StoreError` subclass a final failure of ``kind`` raises."""
    return _CATEGORY.get(kind, StoreQueryError)


class WriteOutcome(enum.Enum):
    """What a failed write's error says about whether the server applied it."""

    NOT_APPLIED = "not_applied"  # the server said so: nothing of this request was applied
    UNKNOWN = "unknown"  # ambiguous: some, all or none of it may have been applied
    WILL_BE_APPLIED = "will_be_applied"  # in the batchlog: the server finishes it


# Errors after which the server may have applied the write (or part of it): the coordinator or
# the client gave up waiting, or the connection went away with the request in flight.
_AMBIGUOUS = frozenset(
    {
        ErrorKind.WRITE_TIMEOUT_SIMPLE,
        ErrorKind.WRITE_TIMEOUT_UNLOGGED_BATCH,
        ErrorKind.WRITE_TIMEOUT_OTHER,
        ErrorKind.CLIENT_TIMEOUT,
        ErrorKind.CONNECTION,
        ErrorKind.WRITE_FAILURE,  # some replicas may have applied it before others failed
        ErrorKind.OTHER,  # an error we do not know: assume nothing about the outcome
    }
)


def write_outcome(kind: ErrorKind) -> WriteOutcome:
    """What a write that failed with ``kind`` left behind on the server.

    ``Unavailable``, ``Overloaded``, ``IsBootstrapping``, a batchlog write timeout and the
    request errors (invalid, syntax, auth) are decided before anything is written: not applied.
    A ``WriteTimeout`` of type ``BATCH`` reached the batchlog, which replays it: it will be
    applied. Timeouts, lost connections and write failures are ambiguous: unknown.
    """
    if kind is ErrorKind.WRITE_TIMEOUT_BATCH:
        return WriteOutcome.WILL_BE_APPLIED
    if kind in _AMBIGUOUS:
        return WriteOutcome.UNKNOWN
    return WriteOutcome.NOT_APPLIED


def will_be_applied(kind: ErrorKind) -> bool:
    """Whether a write that failed with ``kind`` is nevertheless applied by the server later.

    A ``WriteTimeout`` of type ``BATCH`` means the batch reached the batchlog, which replays it.
    """
    return write_outcome(kind) is WriteOutcome.WILL_BE_APPLIED
