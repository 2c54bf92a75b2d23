"""What a call waits for, and the in-flight bookkeeping both facades share.

A call runs as a generator (:meth:`scyllabatch._base.StoreBase._call`) that yields *wait
commands* and receives what each wait produced; it makes every decision itself. A facade is only
a loop that performs the waits: :class:`scyllabatch.Store` blocks the thread,
:class:`scyllabatch.AsyncStore` awaits in the event loop. The commands:

- :class:`~scyllabatch._core.requests.Sleep`: wait ``seconds`` (a retry's back-off, the rate
  limit), reply ``None``.
- :class:`TakeSlots`: wait until one of the store's in-flight :class:`Slots` is free, take up
  to ``wanted``, reply how many were taken.
- :class:`Settled`: wait until every request of an :class:`Outcomes` has completed, reply
  ``None``.
- :class:`Blocking`: run a blocking function (preparing statements), reply its result; the
  asyncio facade runs it in a thread.
- :data:`TURN`: the asyncio facade may let other tasks run here (see ``aio._LoopShare``); only
  yielded to a facade that asked for turns.

Requests complete on the driver's I/O thread; the classes here are thread-safe, and a facade
learns of completions through one callback per :class:`Outcomes` (not one per request), which
keeps the event loop's work per call small.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Final, Protocol

from scyllabatch._core.planner import ReplicaGroup, StatementIds
from scyllabatch._core.requests import Outcome, Request, Sleep
from scyllabatch._driver import CallOptions, failure
from scyllabatch.config import StoreConfig

Settle = Callable[[int, Outcome], None]
"""Called with a request's index and outcome when it completes (on any thread)."""


class Transport(Protocol):
    """Where a store's requests go: the seam between the facades and the driver.

    :class:`scyllabatch._driver.SessionTransport` is the real one; tests substitute a scripted
    one to check the facades' concurrency, ordering and error paths without a node.
    """

    @property
    def replica_group(self) -> ReplicaGroup:
        """Which partitions share replicas (the planner combines only those)."""

    @property
    def statement_ids(self) -> StatementIds | None:
        """The prepared statements' ids, or ``None`` before :meth:`prepare`."""

    def prepare(self) -> StatementIds:
        """Prepare every statement (blocking, once; again after :meth:`forget_statements`)."""

    def forget_statements(self) -> None:
        """Prepare again on next use (after ``setup()`` may have re-created the tables)."""

    def use_config(self, config: StoreConfig) -> None:
        """Use ``config`` from now on (an index config was added: more statements to prepare)."""

    def start(self, request: Request, options: CallOptions, settle: Settle, index: int) -> None:
        """Send ``request`` without waiting; ``settle(index, outcome)`` is called when it
        completes, possibly on another thread and possibly more than once (the first counts).
        A failure to send raises."""


@dataclass(frozen=True, slots=True)
class TakeSlots:
    """Wait until one of ``slots`` is free; reply how many (1 to ``wanted``) were taken."""

    slots: Slots
    wanted: int


@dataclass(frozen=True, slots=True)
class Settled:
    """Wait until every request of ``outcomes`` has completed; reply ``None``."""

    outcomes: Outcomes


@dataclass(frozen=True, slots=True)
class Blocking:
    """Run ``function`` (blocking I/O); reply its result."""

    function: Callable[[], Any]


@dataclass(frozen=True, slots=True)
class UserCall:
    """Run the user's code that comes in two ways (the embedding function); reply its result.

    The blocking facade calls ``blocking()``; the asyncio one awaits ``awaitable()``, which
    awaits async code on the caller's loop and runs sync code in a thread.
    """

    blocking: Callable[[], Any]
    awaitable: Callable[[], Awaitable[Any]]


class _Turn:
    __slots__ = ()

    def __repr__(self) -> str:
        return "TURN"


TURN: Final = _Turn()

WaitCommand = Sleep | TakeSlots | Settled | Blocking | UserCall | _Turn
Flow = Generator[WaitCommand, Any, list[Any]]
"""A whole call: yields wait commands, returns the call's results."""


class Slots:
    """The store's requests in flight, at most ``size``; shared by every caller and thread.

    Taking a free slot costs one uncontended lock. A caller that finds none registers a
    ``wake`` function; slots given back (on the driver's thread) wake that many callers, who
    then try again. :meth:`take` hands out several slots at once to a call with many requests.
    """

    __slots__ = ("_free", "_lock", "_sleepers")

    def __init__(self, size: int) -> None:
        self._free = size
        self._lock = threading.Lock()
        self._sleepers: deque[Callable[[], object]] = deque()

    @property
    def free(self) -> int:
        """Slots free right now."""
        return self._free

    def take(self, wanted: int) -> int:
        """Take up to ``wanted`` free slots without waiting; how many were taken (maybe 0)."""
        with self._lock:
            taken = min(wanted, self._free)
            self._free -= taken
            return taken

    def sleep_until_free(self, wake: Callable[[], object]) -> bool:
        """Register ``wake`` to be called once a slot is given back, unless one is free now.

        Returns whether it was registered (``False``: try :meth:`take` again at once).
        """
        with self._lock:
            if self._free:
                return False
            self._sleepers.append(wake)
            return True

    def stop_sleeping(self, wake: Callable[[], object]) -> None:
        """A registered caller gave up (cancelled): if it was already woken, wake another."""
        with self._lock:
            try:
                self._sleepers.remove(wake)
                return
            except ValueError:
                woken = [self._sleepers.popleft()] if self._sleepers and self._free else []
        for other in woken:
            other()

    def give(self, count: int = 1) -> None:
        """Give ``count`` slots back (from any thread)."""
        with self._lock:
            self._free += count
            sleepers = self._sleepers
            if not sleepers:  # the common case: nobody waits
                return
            woken = [sleepers.popleft() for _ in range(min(count, len(sleepers)))]
        for wake in woken:
            wake()

    def take_blocking(self, wanted: int) -> int:
        """Block the thread until a slot is free; take up to ``wanted``."""
        while True:
            taken = self.take(wanted)
            if taken:
                return taken
            event = threading.Event()
            if self.sleep_until_free(event.set):
                event.wait()


class Pacer:
    """At most ``rate`` request starts per second, shared by every caller of one store."""

    __slots__ = ("_clock", "_interval", "_lock", "_next")

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = 1.0 / rate
        self._clock = clock
        self._next = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Book the next start; returns how long to wait for it (seconds, maybe 0)."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self._interval
        return start - now


class Outcomes:
    """The outcomes of one batch of requests, filled in as they complete (on any thread).

    Each completion gives its in-flight slot back. A request the driver completes twice (with
    speculative execution: an errback when it timed out, then a callback when a slower
    execution answered anyway) counts once. When the last one completes, the one ``notify``
    registered by :meth:`when_done` is called.
    """

    __slots__ = ("_lock", "_notify", "_remaining", "_slots", "values")

    def __init__(self, count: int, slots: Slots) -> None:
        self.values: list[Any] = [None] * count
        self._remaining = count
        self._slots = slots
        self._lock = threading.Lock()
        self._notify: Callable[[], object] | None = None

    def settle(self, index: int, outcome: Outcome) -> None:
        """Record request ``index``'s outcome (the first one counts)."""
        with self._lock:
            if self.values[index] is not None:
                return
            self.values[index] = outcome
            self._remaining -= 1
            notify = self._notify if not self._remaining else None
        self._slots.give()
        if notify is not None:
            notify()

    def when_done(self, notify: Callable[[], object]) -> bool:
        """Call ``notify`` once every request has completed; ``True`` if they already have."""
        with self._lock:
            if not self._remaining:
                return True
            self._notify = notify
            return False

    def wait_blocking(self) -> None:
        """Block the thread until every request has completed."""
        event = threading.Event()
        if not self.when_done(event.set):
            event.wait()


def dispatch(
    transport: Transport,
    requests: tuple[Request, ...],
    options: CallOptions,
    slots: Slots,
    pacer: Pacer | None,
    turns: bool,
) -> Generator[WaitCommand, Any, list[Outcome]]:
    """Send every request (each holding a slot until it completes); return their outcomes.

    Slots are taken several at a time when free, so a call with many requests does not take
    the lock once per request. ``turns``: yield :data:`TURN` after each send (asyncio facade).
    """
    count = len(requests)
    outcomes = Outcomes(count, slots)
    settle = outcomes.settle
    credit = 0  # slots taken and not used yet
    try:
        for index, request in enumerate(requests):
            if not credit:
                credit = slots.take(count - index)
                if not credit:
                    credit = yield TakeSlots(slots, count - index)
            credit -= 1
            if pacer is not None and (delay := pacer.reserve()) > 0:
                yield Sleep(delay)
            try:
                transport.start(request, options, settle, index)
            except Exception as exc:
                settle(index, failure(exc))
            if turns:
                yield TURN
    finally:
        if credit:
            slots.give(credit)
    if count:
        yield Settled(outcomes)
    return outcomes.values
