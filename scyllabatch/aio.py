"""The asyncio facade: :class:`AsyncStore`.

Everything a call decides is shared with the blocking facade (:mod:`scyllabatch._base`); this
module only says how a coroutine waits, without ever blocking the event loop: connecting, schema
set-up and statement preparation run in a thread; a batch of requests wakes the loop once, when
its last response arrives (``call_soon_threadsafe``); the store's work on the loop thread is
sliced so other tasks keep running (:class:`_LoopShare`).
"""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Generator, Iterable, Sequence
from types import TracebackType
from typing import Any

from scyllabatch import _driver, _shortcuts
from scyllabatch._base import StoreBase, as_op_list, config_from
from scyllabatch._core.iteration import Found
from scyllabatch._core.requests import Sleep
from scyllabatch._flow import (
    Blocking,
    Flow,
    Outcomes,
    Settled,
    Slots,
    TakeSlots,
    UserCall,
    WaitCommand,
)
from scyllabatch.config import StoreConfig
from scyllabatch.ops import BatchType, Op, SearchItem

__all__ = ["AsyncStore"]

# Planning a call this large (validation and encoding) runs in a thread, keeping the loop free.
_PLAN_IN_THREAD_ABOVE = 256
# Longest stretch of a store's work (planning, sending) in one turn of the event loop.
_LOOP_SLICE_SECONDS = 0.002
# Calls let through per turn once the store is out of its slice.
_RESUMED_PER_TURN = 8


class _LoopShare:
    """Keeps the stores' work on the loop thread to about ``_LOOP_SLICE_SECONDS`` per loop turn.

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


def _advance(flow: Flow, reply: Any) -> tuple[bool, Any]:
    """One step of a call: ``(False, wait command)``, or ``(True, results)`` at its end.

    ``StopIteration`` cannot cross ``asyncio.to_thread``, hence the flag.
    """
    try:
        return False, flow.send(reply)
    except StopIteration as stop:
        return True, stop.value


class AsyncStore(StoreBase):
    """An asyncio store; every method of :class:`~scyllabatch.Store` as a coroutine.

    ``async with await AsyncStore.connect(...) as store: await store.abatch(ops)``
    """

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
        serial_consistency: str | None = None,
    ) -> list[Any]:
        """Run a batch of operations; see :meth:`scyllabatch.Store.batch`."""
        ops = as_op_list(ops)
        share = _loop_share()
        await share.turn()
        # A large call's steps (validating and encoding thousands of ops, folding results) run
        # in a thread, so the loop keeps turning; a small call steps inline, in turns.
        offload = len(ops) > _PLAN_IN_THREAD_ABOVE
        flow = self._call(
            ops,
            batch_type,
            max_retries,
            retry_delay,
            retry_backoff,
            timeout,
            consistency,
            serial_consistency,
            turns=not offload,
        )
        reply: Any = None
        while True:
            if offload:
                done, command = await asyncio.to_thread(_advance, flow, reply)
            else:
                started = time.perf_counter()
                done, command = _advance(flow, reply)
                share.charge(time.perf_counter() - started)
            if done:
                results: list[Any] = command
                return results
            try:
                reply = await _wait(command, share)
            except BaseException as exc:  # cancelled while waiting: the call records it
                flow.throw(exc)
                raise

    aget = _shortcuts.awaiting(_shortcuts.get)
    aput = _shortcuts.awaiting(_shortcuts.put)
    adelete = _shortcuts.awaiting(_shortcuts.delete)
    asearch = _shortcuts.awaiting(_shortcuts.search)
    alist_namespaces = _shortcuts.awaiting(_shortcuts.list_namespaces)

    def aiter_search(
        self,
        namespace_prefix: Sequence[str],
        filter: dict[str, Any] | None = None,
        *,
        page_size: int | None = None,
    ) -> AsyncIterator[SearchItem]:
        """Every matching item under a prefix, streamed: ``async for item in
        store.aiter_search(prefix)``; see :meth:`scyllabatch.Store.iter_search`."""
        iteration = self._search_iteration(namespace_prefix, filter, page_size)
        return _items(self._stream(iteration, turns=True))


# One share per event loop, for every store on it (the slice is the loop's time). Keyed weakly:
# a store may serve several loops over its life, and a turn marker scheduled on a loop that has
# ended never runs.
_SHARES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopShare] = (
    weakref.WeakKeyDictionary()
)


def _loop_share() -> _LoopShare:
    loop = asyncio.get_running_loop()
    share = _SHARES.get(loop)
    if share is None:
        share = _SHARES[loop] = _LoopShare()
    return share


async def _wait(command: WaitCommand, share: _LoopShare) -> Any:
    match command:
        case Settled(outcomes):
            await _settled(outcomes)
        case TakeSlots(slots, wanted):
            return await _take(slots, wanted)
        case Sleep(seconds):
            await asyncio.sleep(seconds)
        case Blocking(function):
            return await asyncio.to_thread(function)
        case UserCall(_, awaitable):
            return await awaitable()
        case _:  # TURN
            await share.turn()
    return None


async def _items(stream: Generator[WaitCommand | Found, Any, None]) -> AsyncIterator[SearchItem]:
    """Drive a stream in the event loop, handing out its items as their pages come."""
    share = _loop_share()
    reply: Any = None
    while True:
        try:
            command = stream.send(reply)
        except StopIteration:
            return
        reply = None
        if isinstance(command, Found):
            for item in command.items:
                yield item
        else:
            reply = await _wait(command, share)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():  # its caller may have been cancelled
        waiter.set_result(None)


async def _settled(outcomes: Outcomes) -> None:
    """Wait for every request of ``outcomes``: one loop callback when the last completes."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    if not outcomes.when_done(functools.partial(loop.call_soon_threadsafe, _resolve, waiter)):
        await waiter


async def _take(slots: Slots, wanted: int) -> int:
    """Wait in the loop until a slot is free; take up to ``wanted``."""
    loop = asyncio.get_running_loop()
    while True:
        taken = slots.take(wanted)
        if taken:
            return taken
        waiter: asyncio.Future[None] = loop.create_future()
        wake = functools.partial(loop.call_soon_threadsafe, _resolve, waiter)
        if slots.sleep_until_free(wake):
            try:
                await waiter
            except BaseException:
                slots.stop_sleeping(wake)
                raise
