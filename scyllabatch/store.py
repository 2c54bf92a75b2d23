"""The blocking facade: :class:`Store`.

Safe to call from many threads at once, and from inside a running event loop (it never uses
``asyncio.run`` or the caller's loop; it waits on driver futures).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any

from scyllabatch import _driver
from scyllabatch._base import StoreBase, as_labels, config_from, list_namespaces_op
from scyllabatch._core.engine import run_call
from scyllabatch._core.iteration import Flow, Found
from scyllabatch._core.requests import Execute, Outcome, Request
from scyllabatch.config import StoreConfig
from scyllabatch.ops import BatchType, GetOp, Item, Op, PutOp, SearchItem, SearchOp

__all__ = ["Store"]


class _RateLimiter:
    """At most ``rate`` request starts per second, shared by every thread of one store."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            time.sleep(start - now)


class _Slots:
    """Requests in flight of one store, at most ``size``: the blocking facade's semaphore.

    A counter under a plain lock, so the hot path (a slot is free; a response gives its slot
    back) costs one uncontended lock; only a sender that finds no free slot waits on the
    condition. :meth:`take` hands out several slots at once to a call with many requests.
    """

    __slots__ = ("_free", "_lock", "_ready", "_waiting")

    def __init__(self, size: int) -> None:
        self._free = size
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._waiting = 0

    def take(self, wanted: int) -> int:
        """Wait until a slot is free; take up to ``wanted`` (at least one) and return how many."""
        with self._lock:
            while not self._free:
                self._waiting += 1
                try:
                    self._ready.wait()
                finally:
                    self._waiting -= 1
            taken = min(wanted, self._free)
            self._free -= taken
            return taken

    def give(self, count: int = 1) -> None:
        """Give ``count`` slots back."""
        with self._lock:
            self._free += count
            if self._waiting:
                self._ready.notify(count)


class Store(StoreBase):
    """A blocking store over a ScyllaDB/Cassandra session.

    Create it with :meth:`connect` (it then owns and closes the cluster), or wrap a session you
    already have: ``Store(session, keyspace="app")``. Call :meth:`setup` once to create the
    keyspace (if allowed) and tables. Use it as a context manager to close it.
    """

    def __init__(
        self,
        session: Any,
        keyspace: str | None = None,
        *,
        config: StoreConfig | None = None,
        cluster: Any = None,
    ) -> None:
        super().__init__(session, keyspace, config=config, cluster=cluster)
        self._slots = _Slots(self.config.max_concurrency)
        rate = self.config.requests_per_second
        self._rate = _RateLimiter(rate) if rate else None

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

    # -- the batch ---------------------------------------------------------------------------

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
    ) -> list[Any]:
        """Run a batch of operations; returns one result per op, in order.

        Validates every op before any I/O; reads see the state before the batch; writes are merged
        per (namespace, key) with the last op winning. ``batch_type`` picks ``"UNLOGGED"``
        (per-partition batches, concurrent) or ``"LOGGED"`` (one atomic batch). The retry
        arguments override the store's :class:`~scyllabatch.RetryPolicy` for this call;
        ``timeout`` (seconds per request) overrides ``StoreConfig.request_timeout`` and
        ``consistency`` (e.g. ``"QUORUM"``) the configured read and write consistency, for this
        call only.
        """
        call = self._prepare_call(
            ops, batch_type, max_retries, retry_delay, retry_backoff, timeout, consistency
        )
        error: BaseException | None = None
        try:
            if call.plan.is_empty:
                return [None] * call.plan.size
            statements = self._prepare_statements_blocking()
            call.context.statement_ids = statements.ids
            engine = run_call(call.plan, call.context)
            try:
                command = next(engine)
                while True:
                    if isinstance(command, Execute):
                        reply: Any = self._execute(statements, command.requests, call.options)
                    else:
                        time.sleep(command.seconds)
                        reply = None
                    command = engine.send(reply)
            except StopIteration as stop:
                results: list[Any] = stop.value
                return results
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._finish_call(call, error)

    def _execute(
        self,
        statements: _driver.Statements,
        requests: Sequence[Request],
        options: _driver.CallOptions,
    ) -> list[Outcome]:
        """Run requests concurrently (bounded by ``max_concurrency``); wait for all."""
        count = len(requests)
        outcomes: list[Any] = [None] * count
        remaining = count
        lock = threading.Lock()
        done = threading.Event()
        slots = self._slots

        def finish(index: int, outcome: Outcome) -> None:
            nonlocal remaining
            with lock:
                # The driver can complete one request twice: with speculative execution, a late
                # answer of one execution after the request timed out calls the callback after
                # the errback. Only the first completion counts.
                if outcomes[index] is not None:
                    return
                outcomes[index] = outcome
                remaining -= 1
                last = remaining == 0
            slots.give()
            if last:
                done.set()

        def on_rows(rows: Any, index: int, future: Any) -> None:
            try:
                outcome: Outcome = _driver.callback_outcome(rows, future)
            except BaseException as exc:  # never leave the waiter hanging
                outcome = _driver.failure(exc)
            finish(index, outcome)

        def on_error(exc: BaseException, index: int) -> None:
            finish(index, _driver.failure(exc))

        rate = self._rate
        credit = 0  # slots taken and not used yet
        try:
            for index, request in enumerate(requests):
                if not credit:
                    credit = slots.take(count - index)
                credit -= 1
                if rate is not None:
                    rate.wait()
                try:
                    future = statements.send(request, options)
                except Exception as exc:
                    finish(index, _driver.failure(exc))
                    continue
                future.add_callbacks(
                    callback=on_rows,
                    callback_args=(index, future),
                    errback=on_error,
                    errback_args=(index,),
                )
        finally:
            if credit:
                slots.give(credit)
        done.wait()
        return outcomes

    # -- single-op helpers -------------------------------------------------------------------

    def get(self, namespace: Sequence[str], key: str, *, refresh_ttl: bool = True) -> Item | None:
        """Read one item, or ``None``."""
        result: Item | None = self.batch([GetOp(as_labels(namespace), key, refresh_ttl)])[0]
        return result

    def put(
        self,
        namespace: Sequence[str],
        key: str,
        value: dict[str, Any] | None,
        ttl: float | None = None,
    ) -> None:
        """Write one item (``value=None`` deletes); ``ttl`` in minutes."""
        self.batch([PutOp(as_labels(namespace), key, value, None, ttl)])

    def delete(self, namespace: Sequence[str], key: str) -> None:
        """Delete one item (no error if it does not exist)."""
        self.batch([PutOp(as_labels(namespace), key, None)])

    def search(
        self,
        namespace_prefix: Sequence[str],
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        *,
        refresh_ttl: bool = True,
    ) -> list[SearchItem]:
        """Items under a namespace prefix (whole labels), newest first."""
        op = SearchOp(as_labels(namespace_prefix), filter, limit, offset, None, refresh_ttl)
        result: list[SearchItem] = self.batch([op])[0]
        return result

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
        iteration = self._search_iteration(as_labels(namespace_prefix), filter, page_size)
        return (item for found in self._run_flow(iteration.flow()) for item in found.items)

    def _run_flow(self, flow: Flow) -> Iterator[Found]:
        """Drive a streaming flow, handing out its pages as they come."""
        statements = self._prepare_statements_blocking()
        reply: Any = None
        while True:
            try:
                command = flow.send(reply)
            except StopIteration:
                return
            reply = None
            if isinstance(command, Found):
                yield command
            elif isinstance(command, Execute):
                reply = self._execute(statements, command.requests, _driver.DEFAULT_CALL)
            else:
                time.sleep(command.seconds)

    def list_namespaces(
        self,
        prefix: Sequence[str] | None = None,
        suffix: Sequence[str] | None = None,
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[tuple[str, ...]]:
        """Namespaces holding at least one live item, sorted; ``"*"`` matches one label."""
        op = list_namespaces_op(prefix, suffix, max_depth, limit, offset)
        result: list[tuple[str, ...]] = self.batch([op])[0]
        return result
