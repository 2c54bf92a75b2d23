"""What a driver response or exception means to the engine.

Rows and errors become :class:`~scyllabatch._core.requests.Rows` and
:class:`~scyllabatch._core.requests.Failure`; driver exceptions are classified for the retry
policy; telemetry gets each request's end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cassandra import (
    AlreadyExists,
    AuthenticationFailed,
    CoordinationFailure,
    FunctionFailure,
    InvalidRequest,
    OperationTimedOut,
    ReadFailure,
    ReadTimeout,
    Unauthorized,
    Unavailable,
    WriteFailure,
    WriteTimeout,
)
from cassandra.cluster import NoHostAvailable
from cassandra.connection import ConnectionException
from cassandra.policies import WriteType
from cassandra.protocol import (
    IsBootstrappingErrorMessage,
    OverloadedErrorMessage,
    ServerError,
    SyntaxException,
    UnauthorizedErrorMessage,
)

from scyllabatch._core.requests import Failure, Rows
from scyllabatch._core.retry import ErrorKind
from scyllabatch.observability import RequestEnd, RequestObservation

_WRITE_TIMEOUT_KINDS = {
    WriteType.SIMPLE: ErrorKind.WRITE_TIMEOUT_SIMPLE,
    WriteType.UNLOGGED_BATCH: ErrorKind.WRITE_TIMEOUT_UNLOGGED_BATCH,
    WriteType.BATCH: ErrorKind.WRITE_TIMEOUT_BATCH,
    WriteType.BATCH_LOG: ErrorKind.WRITE_TIMEOUT_BATCH_LOG,
}


def complete_once(future: Any) -> None:
    """Make a ``ResponseFuture`` call the callbacks registered after this at most once.

    Register it before the facade's callbacks: after the first error every callback is dropped,
    so a late answer of a speculative execution is ignored (after a first result,
    :func:`callback_outcome` drops them).
    """
    future.add_errback(_forget_callbacks, future)


def _forget_callbacks(_error: BaseException, response: Any) -> None:
    response.clear_callbacks()


def callback_outcome(rows: Any, response: Any) -> Rows:
    """The :class:`Rows` outcome of a ``ResponseFuture`` callback, without building a ResultSet.

    ``rows`` is what the driver passes to the callback: the current page's rows (``None`` for
    a write). The paging state is looked up only when there is a next page. The future's
    callbacks are dropped: they reference the future, and that cycle would otherwise keep every
    finished page alive until the cyclic garbage collector runs (search memory grew with the
    namespace size).
    """
    paging_state = response.result().paging_state if response.has_more_pages else None
    response.clear_callbacks()
    # The future also keeps its last page as `_final_result`, and a future lives on in a cycle
    # with its timer until the cyclic GC runs. Nothing reads the result after this callback, so
    # drop it: a 20,000-item search then peaks at 2 MB instead of 4.5 MB, whatever its size.
    response._final_result = None
    if not rows:
        return Rows(rows=[], paging_state=paging_state)
    if isinstance(rows[0], Mapping):  # a session whose default row factory makes dicts
        return Rows(rows=[tuple(row.values()) for row in rows], paging_state=paging_state)
    return Rows(rows=rows if type(rows) is list else list(rows), paging_state=paging_state)


def classify(error: BaseException) -> ErrorKind:
    """Reduce a driver exception to what the retry policy needs to know."""
    if isinstance(error, Unavailable):
        return ErrorKind.UNAVAILABLE
    if isinstance(error, OverloadedErrorMessage):
        return ErrorKind.OVERLOADED
    if isinstance(error, IsBootstrappingErrorMessage):
        return ErrorKind.BOOTSTRAPPING
    if isinstance(error, WriteTimeout):
        return _WRITE_TIMEOUT_KINDS.get(error.write_type, ErrorKind.WRITE_TIMEOUT_OTHER)
    if isinstance(error, ReadTimeout):
        return ErrorKind.READ_TIMEOUT
    if isinstance(error, OperationTimedOut):
        return ErrorKind.CLIENT_TIMEOUT
    if isinstance(error, ReadFailure):
        return ErrorKind.READ_FAILURE
    if isinstance(error, (WriteFailure, CoordinationFailure)):
        return ErrorKind.WRITE_FAILURE
    if isinstance(error, SyntaxException):
        return ErrorKind.SYNTAX
    if isinstance(error, (Unauthorized, UnauthorizedErrorMessage, AuthenticationFailed)):
        return ErrorKind.AUTH
    if isinstance(error, NoHostAvailable):
        causes = list(getattr(error, "errors", {}).values())
        if causes and all(
            isinstance(c, (ConnectionException, OperationTimedOut, OSError)) for c in causes
        ):
            return ErrorKind.CONNECTION
        if not causes:
            return ErrorKind.CONNECTION
        return (
            ErrorKind.AUTH
            if any(isinstance(c, AuthenticationFailed) for c in causes)
            else ErrorKind.OTHER
        )
    if isinstance(error, ConnectionException) and "heartbeat" in str(error).lower():
        # The driver closed the connection because the node left a heartbeat unanswered (a
        # frozen or overloaded node): the request timed out, like OperationTimedOut.
        return ErrorKind.CLIENT_TIMEOUT
    if isinstance(error, (ConnectionException, ConnectionError)):
        return ErrorKind.CONNECTION
    if isinstance(error, ServerError):
        return ErrorKind.OTHER
    return (
        ErrorKind.INVALID
        if type(error).__name__
        in {
            "InvalidRequest",
            "ConfigurationException",
            "AlreadyExists",
            "InvalidRequestException",
        }
        else ErrorKind.OTHER
    )


# Native protocol error codes of the driver exceptions that do not carry their own
# (``ErrorMessage`` subclasses have ``error_code``).
_PROTOCOL_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (Unavailable, 0x1000),
    (WriteTimeout, 0x1100),
    (ReadTimeout, 0x1200),
    (ReadFailure, 0x1300),
    (FunctionFailure, 0x1400),
    (WriteFailure, 0x1500),
    (Unauthorized, 0x2100),
    (InvalidRequest, 0x2200),
    (AlreadyExists, 0x2400),
)


def protocol_code(error: BaseException) -> int | None:
    """The native protocol error code the server answered with, or ``None`` (client errors)."""
    code = getattr(error, "error_code", None)
    if isinstance(code, int):
        return code
    for kind, number in _PROTOCOL_CODES:
        if isinstance(error, kind):
            return number
    return None


def request_end(future: Any, rows: Any, error: BaseException | None) -> RequestEnd:
    """What telemetry reports of a settled request: its coordinator, rows or error."""
    host = None
    if future is not None:
        host = future.coordinator_host or getattr(future, "_current_host", None)
    endpoint = getattr(host, "endpoint", None)
    host_id = getattr(host, "host_id", None)
    return RequestEnd(
        address=getattr(endpoint, "address", None),
        port=getattr(endpoint, "port", None),
        host_id=None if host_id is None else str(host_id),
        datacenter=getattr(host, "datacenter", None),
        rows=None if error is not None else (len(rows) if rows else 0),
        error=error,
        error_kind=None if error is None else classify(error),
        status_code=None if error is None else protocol_code(error),
    )


def watched_rows(rows: Any, future: Any, watch: RequestObservation) -> None:
    watch.request_ended(request_end(future, rows, None))


def watched_error(error: BaseException, future: Any, watch: RequestObservation) -> None:
    watch.request_ended(request_end(future, None, error))


def failure(error: BaseException) -> Failure:
    """A :class:`Failure` outcome for a driver exception."""
    return Failure(kind=classify(error), error=error)
