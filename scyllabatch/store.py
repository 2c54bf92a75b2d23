"""The blocking facade: :class:`Store`.

Everything a call decides is shared with the asyncio facade (:mod:`scyllabatch._base`); this
module only says how a blocking caller waits. Safe to call from many threads at once, and from
inside a running event loop (it never uses ``asyncio.run`` or the caller's loop; it waits on
driver callbacks).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any

from scyllabatch import _driver, _shortcuts
from scyllabatch._base import StoreBase, as_op_list, config_from
from scyllabatch._core.iteration import Found
from scyllabatch._core.requests import Sleep
from scyllabatch._flow import Blocking, Flow, Settled, TakeSlots, UserCall, WaitCommand
from scyllabatch.config import StoreConfig
from scyllabatch.ops import BatchType, Op, SearchItem

__all__ = ["Store"]


class Store(StoreBase):
    """A blocking store over a ScyllaDB/Cassandra session.

    Create it with :meth:`connect` (it then owns and closes the cluster), or wrap a session you
    already have: ``Store(session, keyspace="app")``. Call :meth:`setup` once to create the
    keyspace (if allowed) and tables. Use it as a context manager to close it.
    """

    @classmethod
    def connect(
        cls,
        hosts: Sequence[str] | str | None = None,
        port: int | None = None,
        keyspace: str | None = None,
        *,
        config: StoreConfig | None = None,
        **options: Any,
    ) -> Store:
        """Connect to a cluster; ``options`` are any :class:`StoreConfig` fields."""
        merged = config_from(config, hosts, port, keyspace, options)
        cluster, session = _driver.connect(merged)
        return cls(session, config=merged, cluster=cluster)

    def setup(self) -> None:
        """Create the keyspace (if ``create_keyspace``) and the tables. Idempotent."""
        self._setup_blocking()

    def close(self) -> None:
        """Close the store (and the cluster, if :meth:`connect` created it)."""
        self._shutdown_blocking()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def batch(
        self,
        ops: Iterable[Op],
        batch_type: BatchType | str = BatchType.UNLOGGED,
        max_retries: int | None = None,
        retry_delay: float | None = None,
        retry_backoff: float | None = None,
        *,
        timeout: float | None = None,
        consistency: str | None = None,
        serial_consistency: str | None = None,
    ) -> list[Any]:
        """Run a batch of operations; returns one result per op, in order.

        Validates every op before any I/O; reads see the state before the batch; writes are merged
        per (namespace, key) with the last op winning. ``batch_type`` picks ``"UNLOGGED"``
        (per-partition batches, concurrent) or ``"LOGGED"`` (one atomic batch). The retry
        arguments override the store's :class:`~scyllabatch.RetryPolicy` for this call;
        ``timeout`` (seconds per request) overrides ``StoreConfig.request_timeout`` and
        ``consistency`` (e.g. ``"QUORUM"``) the configured read and write consistency, and
        ``serial_consistency`` (``"SERIAL"``/``"LOCAL_SERIAL"``) that of conditional writes, for
        this call only.
        """
        ops = as_op_list(ops)
        retry = (max_retries, retry_delay, retry_backoff)
        levels = (consistency, serial_consistency)
        return _run(self._call(ops, batch_type, *retry, timeout, *levels))

    get = _shortcuts.blocking(_shortcuts.get)
    put = _shortcuts.blocking(_shortcuts.put)
    delete = _shortcuts.blocking(_shortcuts.delete)
    search = _shortcuts.blocking(_shortcuts.search)
    list_namespaces = _shortcuts.blocking(_shortcuts.list_namespaces)

    def iter_search(
        self,
        namespace_prefix: Sequence[str],
        filter: dict[str, Any] | None = None,
        *,
        page_size: int | None = None,
    ) -> Iterator[SearchItem]:
        """Every item under a namespace prefix (whole labels) matching ``filter``, streamed.

        Reads page by page with the driver's paging state (``page_size`` rows per request,
        default ``StoreConfig.page_size``), so memory stays bounded however many items match.
        Items come namespace by namespace, keys in ascending order within one (not newest first,
        unlike :meth:`search`); TTLs are not refreshed. Arguments are checked here; the first
        request is sent when iteration starts.
        """
        iteration = self._search_iteration(namespace_prefix, filter, page_size)
        return (item for page in _pages(self._stream(iteration)) for item in page.items)


def _run(flow: Flow) -> list[Any]:
    """Drive a call to its end, blocking the thread on each wait."""
    reply: Any = None
    while True:
        try:
            command = flow.send(reply)
        except StopIteration as stop:
            results: list[Any] = stop.value
            return results
        try:
            reply = _wait(command)
        except BaseException as exc:  # Ctrl-C while waiting: the call records it and re-raises
            flow.throw(exc)
            raise


def _pages(stream: Generator[WaitCommand | Found, Any, None]) -> Iterator[Found]:
    """Drive a stream, blocking on each wait, handing out its pages as they come."""
    reply: Any = None
    while True:
        try:
            command = stream.send(reply)
        except StopIteration:
            return
        if isinstance(command, Found):
            yield command
            reply = None
        else:
            reply = _wait(command)


def _wait(command: WaitCommand) -> Any:
    match command:
        case Settled(outcomes):
            outcomes.wait_blocking()
            return None
        case TakeSlots(slots, wanted):
            return slots.take_blocking(wanted)
        case Sleep(seconds):
            time.sleep(seconds)
            return None
        case Blocking(function):
            return function()
        case UserCall(blocking, _):
            return blocking()
    return None  # TURN: a blocking caller has no one to give the turn to
