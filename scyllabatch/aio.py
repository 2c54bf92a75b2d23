"""The asyncio facade: :class:`AsyncStore`.

It never blocks the event loop: connecting, schema set-up and statement preparation run in a
thread; driver futures are bridged into the loop with ``call_soon_threadsafe``; requests in flight
are bounded by a semaphore, and optionally rate-limited with ``asyncio-throttle``.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from types import TracebackType
from typing import Any

from asyncio_throttle.throttler import Throttler

from scyllabatch import _driver
from scyllabatch._base import (
    PreparedCall,
    StoreBase,
    as_labels,
    as_op_list,
    config_from,
    list_namespaces_op,
)
from scyllabatch._core.engine import Engine, run_call
from scyllabatch._core.iteration import Flow, Found
from scyllabatch._core.requests import Execute, Outcome, Request
from scyllabatch.config import StoreConfig
from scyllabatch.ops import BatchType, GetOp, Item, Op, PutOp, SearchItem, SearchOp

__all__ = ["AsyncStore"]

# Planning a call this large (validation and encoding) runs in a thread, keeping the loop free.
_PLAN_IN_THREAD_ABOVE = 256
# Longest stretch of a store's work (planning, sending) in one turn of the event loop.
_LOOP_SLICE_SECONDS = 0.002
# Calls let through per turn once the store is out of its slice.
_RESUMED_PER_TURN = 8


class _LoopShare:
    """Keeps one store's work on the loop thread to about ``_LOOP_SLICE_SECONDS`` per loop turn.

    Concurrent calls become ready in the same turn of the event loop, and asyncio runs every
    ready callback of a turn before it looks at its timers: 500 ``abatch`` calls planning and
    sending back to back stalled every other task for hundreds of milliseconds. Work done on the
    loop thread is charged here; once a turn's slice is spent, calls wait in line and a few are
    let through per later turn, so timers and other tasks run in between.
    """

    __slots__ = ("_busy", "_marker", "_waiters")

    def __init__(self) -> None:
        self._busy = 0.0
        self._marker = False
        self._waiters: deque[asyncio.Future[None]] = deque()

    def charge(self, seconds: float) -> None:
        """Count ``seconds`` of work done on the loop thread in this turn."""
        self._busy += seconds
        self._mark()

    async def turn(self) -> None:
        """Return at once while this turn's slice lasts; else wait for a later turn."""
        while self._busy > _LOOP_SLICE_SECONDS:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            self._mark()
            await waiter

    def _mark(self) -> None:
        if not self._marker:  # runs at the start of the next turn
            self._marker = True
            asyncio.get_running_loop().call_soon(self._new_turn)

    def _new_turn(self) -> None:
        self._marker = False
        self._busy = 0.0
        for _ in range(min(_RESUMED_PER_TURN, len(self._waiters))):
            waiter = self._waiters.popleft()
            if not waiter.done():  # a cancelled caller left the line
                waiter.set_result(None)
        if self._waiters:
            self._mark()


def _advance(engine: Engine, reply: Any) -> tuple[bool, Any]:
    """One engine step: ``(False, command)``, or ``(True, results)`` when it has finished.

    ``StopIteration`` cannot cross ``asyncio.to_thread``, hence the flag.
    """
    try:
        return False, engine.send(reply)
    except StopIteration as stop:
        return True, stop.value


class AsyncStore(StoreBase):
    """An asyncio store; every method of :class:`~scyllabatch.Store` as a coroutine.

    ``async with await AsyncStore.connect(...) as store: await store.abatch(ops)``
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
        self._slots = asyncio.Semaphore(self.config.max_concurrency)
        # One share per event loop: a store may serve several loops over its life (one at a
        # time), and a turn marker scheduled on a loop that has ended never runs.
        self._shares: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopShare] = (
            weakref.WeakKeyDictionary()
        )
        rate = self.config.requests_per_second
        self._throttler: Throttler | None = None
        if rate:
            # asyncio-throttle counts whole requests per period: express fractional rates as
            # N requests per N/rate seconds.
            per_period = max(1, round(rate))
            self._throttler = Throttler(rate_limit=per_period, period=per_period / rate)

    def _loop_share(self) -> _LoopShare:
        loop = asyncio.get_running_loop()
        share = self._shares.get(loop)
        if share is None:
            share = self._shares[loop] = _LoopShare()
        return share

    @classmethod
    async def connect(
        cls,
        hosts: Sequence[str] | str | None = None,
        port: int | None = None,
        keyspace: str | None = None,
        *,
        config: StoreConfig | None = None,
        **options: Any,
    ) -> AsyncStore:
        """Connect (in a thread); ``options`` are any :class:`StoreConfig` fields."""
        merged = config_from(config, hosts, port, keyspace, options)
        cluster, session = await asyncio.to_thread(_driver.connect, merged)
        return cls(session, config=merged, cluster=cluster)

    async def asetup(self) -> None:
        """Create the keyspace (if ``create_keyspace``) and the tables. Idempotent."""
        await asyncio.to_thread(self._setup_blocking)

    setup = asetup

    async def aclose(self) -> None:
        """Close the store (and the cluster, if :meth:`connect` created it)."""
        await asyncio.to_thread(self._shutdown_blocking)

    close = aclose

    async def __aenter__(self) -> AsyncStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- the batch ---------------------------------------------------------------------------

    async def abatch(
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
        """Run a batch of operations; see :meth:`scyllabatch.Store.batch`."""
        call: PreparedCall
        ops = as_op_list(ops)
        share = self._loop_share()
        await share.turn()
        started = time.perf_counter()
        if len(ops) > _PLAN_IN_THREAD_ABOVE:
            call = await asyncio.to_thread(
                self._prepare_call,
                ops,
                batch_type,
                max_retries,
                retry_delay,
                retry_backoff,
                timeout,
                consistency,
            )
        else:
            call = self._prepare_call(
                ops, batch_type, max_retries, retry_delay, retry_backoff, timeout, consistency
            )
            share.charge(time.perf_counter() - started)
        error: BaseException | None = None
        try:
            if call.plan.is_empty:
                return [None] * call.plan.size
            statements = self._statements
            if statements is None:
                statements = await asyncio.to_thread(self._prepare_statements_blocking)
            call.context.statement_ids = statements.ids
            engine = run_call(call.plan, call.context)
            # Steps of a large call (building thousands of statements, folding results) run in a
            # thread, so the loop keeps turning; small calls step inline.
            offload = call.plan.size > _PLAN_IN_THREAD_ABOVE
            reply: Any = None
            while True:
                if offload:
                    done, command = await asyncio.to_thread(_advance, engine, reply)
                else:
                    await share.turn()
                    started = time.perf_counter()
                    done, command = _advance(engine, reply)
                    share.charge(time.perf_counter() - started)
                if done:
                    results: list[Any] = command
                    return results
                if isinstance(command, Execute):
                    reply = await self._execute(statements, command.requests, call.options)
                else:
                    await asyncio.sleep(command.seconds)
                    reply = None
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._finish_call(call, error)

    async def _execute(
        self,
        statements: _driver.Statements,
        requests: Sequence[Request],
        options: _driver.CallOptions,
    ) -> list[Outcome]:
        """Send requests (bounded by the semaphore) and await every outcome.

        One dispatcher instead of a task per request: cheaper, and it hands the loop back every
        couple of milliseconds so a large call never stalls other tasks. Outcomes are settled
        in the loop (``call_soon_threadsafe``); one future resolves when the last one arrives.
        """
        loop = asyncio.get_running_loop()
        slots = self._slots
        count = len(requests)
        outcomes: list[Any] = [None] * count
        remaining = count
        all_done: asyncio.Future[None] = loop.create_future()

        def settle(index: int, outcome: Outcome) -> None:
            nonlocal remaining
            slots.release()
            outcomes[index] = outcome
            remaining -= 1
            if not remaining and not all_done.done():  # the call may have been cancelled
                all_done.set_result(None)

        def on_rows(rows: Any, index: int, response: Any) -> None:
            try:
                outcome: Outcome = _driver.callback_outcome(rows, response)
            except BaseException as exc:
                outcome = _driver.failure(exc)
            loop.call_soon_threadsafe(settle, index, outcome)

        def on_error(exc: BaseException, index: int) -> None:
            loop.call_soon_threadsafe(settle, index, _driver.failure(exc))

        share = self._loop_share()
        for index, request in enumerate(requests):
            await share.turn()
            await slots.acquire()
            started = time.perf_counter()
            try:
                if self._throttler is not None:
                    async with self._throttler:
                        pass
                    started = time.perf_counter()
                response = statements.send(request, options)
            except Exception as exc:
                settle(index, _driver.failure(exc))
            except BaseException:  # cancelled before sending: give the slot back
                slots.release()
                raise
            else:
                response.add_callbacks(
                    callback=on_rows,
                    callback_args=(index, response),
                    errback=on_error,
                    errback_args=(index,),
                )
            share.charge(time.perf_counter() - started)
        if count:
            await all_done
        return outcomes

    # -- single-op helpers -------------------------------------------------------------------

    async def aget(
        self, namespace: Sequence[str], key: str, *, refresh_ttl: bool = True
    ) -> Item | None:
        """Read one item, or ``None``."""
        result: Item | None = (await self.abatch([GetOp(as_labels(namespace), key, refresh_ttl)]))[
            0
        ]
        return result

    async def aput(
        self,
        namespace: Sequence[str],
        key: str,
        value: dict[str, Any] | None,
        ttl: float | None = None,
    ) -> None:
        """Write one item (``value=None`` deletes); ``ttl`` in minutes."""
        await self.abatch([PutOp(as_labels(namespace), key, value, None, ttl)])

    async def adelete(self, namespace: Sequence[str], key: str) -> None:
        """Delete one item (no error if it does not exist)."""
        await self.abatch([PutOp(as_labels(namespace), key, None)])

    async def asearch(
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
        result: list[SearchItem] = (await self.abatch([op]))[0]
        return result

    def aiter_search(
        self,
        namespace_prefix: Sequence[str],
        filter: dict[str, Any] | None = None,
        *,
        page_size: int | None = None,
    ) -> AsyncIterator[SearchItem]:
        """Every matching item under a prefix, streamed: ``async for item in
        store.aiter_search(prefix)``; see :meth:`scyllabatch.Store.iter_search`."""
        iteration = self._search_iteration(as_labels(namespace_prefix), filter, page_size)
        return self._aiter_items(iteration.flow())

    async def _aiter_items(self, flow: Flow) -> AsyncIterator[SearchItem]:
        async for found in self._arun_flow(flow):
            for item in found.items:
                yield item

    async def _arun_flow(self, flow: Flow) -> AsyncIterator[Found]:
        """Drive a streaming flow, handing out its pages as they come."""
        statements = self._statements
        if statements is None:
            statements = await asyncio.to_thread(self._prepare_statements_blocking)
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
                reply = await self._execute(statements, command.requests, _driver.DEFAULT_CALL)
            else:
                await asyncio.sleep(command.seconds)

    async def alist_namespaces(
        self,
        prefix: Sequence[str] | None = None,
        suffix: Sequence[str] | None = None,
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[tuple[str, ...]]:
        """Namespaces holding at least one live item, sorted; ``"*"`` matches one label."""
        op = list_namespaces_op(prefix, suffix, max_depth, limit, offset)
        result: list[tuple[str, ...]] = (await self.abatch([op]))[0]
        return result
