"""The exception hierarchy. Every error scyllabatch raises is a :class:`StoreError`.

::

    StoreError
    ├── StoreValidationError     bad input; raised before anything is sent
    ├── StoreQueryError          the server rejected or failed a request (InvalidRequest, ...)
    ├── StoreTimeoutError        the request timed out (client or server side)
    ├── StoreUnavailableError    not enough live replicas, overloaded or bootstrapping
    └── StoreConnectionError     no host could be reached
        └── StoreAuthenticationError   the cluster refused the credentials (or needs some)

Every error of a call that had writes sorts the op indices of its writes into three sets:

``applied``
    the server acknowledged the write;
``not_applied``
    the server said it did not apply it (``Unavailable``, ``Overloaded``, ``IsBootstrapping``,
    an invalid request, ...), and no earlier attempt of it had an ambiguous outcome;
``unknown``
    the outcome is unknown: the last attempt (or an earlier one) timed out on the client or on
    the coordinator (``WriteTimeout`` of type ``SIMPLE``/``UNLOGGED_BATCH``) or lost its
    connection. The server may or may not have applied it, on some or all replicas.

When the writes of a failed call fall into more than one of these sets, the error is also a
:class:`StorePartialWriteError` (it subclasses both). Re-running the same call is safe for plain
puts and deletes. The driver's exception is always chained as ``__cause__``.
"""

from __future__ import annotations

__all__ = [
    "StoreAuthenticationError",
    "StoreBatchSizeWarning",
    "StoreConnectionError",
    "StoreError",
    "StorePartialWriteError",
    "StoreQueryError",
    "StoreTimeoutError",
    "StoreUnavailableError",
    "StoreValidationError",
]


class StoreError(Exception):
    """Base class of every scyllabatch error.

    ``applied``, ``not_applied`` and ``unknown`` are the op indices of the failed call's writes
    that were applied, that the server said were not applied, and whose outcome is unknown
    (timeouts, lost connections); all empty when the call failed before writing anything or had
    no writes. An op is in exactly one of them.
    """

    applied: tuple[int, ...] = ()
    not_applied: tuple[int, ...] = ()
    unknown: tuple[int, ...] = ()


class StoreValidationError(StoreError, ValueError):
    """An operation or argument is invalid; nothing of the call was sent.

    ``op_index`` is the position of the offending op in the batch (``None`` for arguments of the
    call itself) and ``field`` names the offending field.
    """

    def __init__(self, message: str, *, op_index: int | None = None, field: str | None = None):
        super().__init__(message)
        self.op_index = op_index
        self.field = field


class StoreQueryError(StoreError):
    """The server rejected or failed a request (invalid query, read/write failure, auth)."""


class StoreTimeoutError(StoreError, TimeoutError):
    """A request timed out on the client or on the server, and could not safely be retried."""


class StoreUnavailableError(StoreError):
    """Not enough replicas were alive (or the node was overloaded/bootstrapping) after retries."""


class StoreConnectionError(StoreError, ConnectionError):
    """No host could be reached, or the connection was lost."""


class StoreAuthenticationError(StoreConnectionError):
    """The cluster rejected the username or password, or requires credentials none were given.

    A subclass of :class:`StoreConnectionError`, so code that handles connection failures keeps
    working. The message never contains the password.
    """


class StorePartialWriteError(StoreError):
    """An ``UNLOGGED`` call failed with its writes in more than one of ``applied``,
    ``not_applied`` and ``unknown`` (for example some partitions written, one timed out).

    Raised as a subclass of both this class and the category of the failure (for example
    ``StoreUnavailableError``), so ``except StoreUnavailableError`` still catches it.
    Retrying the whole call is safe for plain puts and deletes: writes carry pinned timestamps.
    """


_PARTIAL_CLASSES: dict[type[StoreError], type[StorePartialWriteError]] = {}


def partial_write_error_class(category: type[StoreError]) -> type[StorePartialWriteError]:
    """Return the exception class for a partial write whose failure is of ``category``.

    For example ``StorePartialUnavailableError``, a subclass of both
    :class:`StorePartialWriteError` and :class:`StoreUnavailableError`.
    """
    if issubclass(category, StorePartialWriteError):
        return category
    cls = _PARTIAL_CLASSES.get(category)
    if cls is None:
        name = f"StorePartial{category.__name__.removeprefix('Store')}"
        cls = type(name, (StorePartialWriteError, category), {"__module__": __name__})
        _PARTIAL_CLASSES[category] = cls
    return cls


class StoreBatchSizeWarning(UserWarning):
    """A batch is larger than the configured warn threshold (count or bytes)."""
