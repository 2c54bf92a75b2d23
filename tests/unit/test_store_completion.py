"""The blocking facade counts each request once, however often the driver completes it.

With speculative execution the driver may call a request's errback (the request timed out) and
later its callback (a speculative execution answered after all). Found on the 3-node ring: the
second completion made the call return before another request had finished, and the engine then
read a missing outcome.
"""

from __future__ import annotations

import threading
from typing import Any

from scyllabatch import Store
from scyllabatch._core.requests import Consistency, Failure, Query, Request, Rows
from scyllabatch._core.retry import ErrorKind
from scyllabatch._core.schema import Statement
from scyllabatch._driver import DEFAULT_CALL
from scyllabatch.store import _Slots


class TwiceCompletedFuture:
    """Completes with an error, then (later, from another thread) with rows."""

    has_more_pages = False

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def add_callbacks(
        self, callback: Any, errback: Any, callback_args: Any = (), errback_args: Any = ()
    ) -> None:
        errback(TimeoutError("client timeout"), *errback_args)
        timer = threading.Timer(self.delay, callback, args=([], *callback_args))
        timer.start()
        timer.join()

    def clear_callbacks(self) -> None:
        pass

    def result(self) -> Any:
        raise AssertionError("no next page")


class SlowFuture(TwiceCompletedFuture):
    """Completes once, with rows, after ``delay``."""

    def add_callbacks(
        self, callback: Any, errback: Any, callback_args: Any = (), errback_args: Any = ()
    ) -> None:
        threading.Timer(self.delay, callback, args=([], *callback_args)).start()


class Statements:
    def __init__(self) -> None:
        self.futures = [TwiceCompletedFuture(0.0), SlowFuture(0.2)]

    def send(self, request: Request, options: Any = None) -> Any:
        return self.futures.pop(0)


def request() -> Request:
    return Request((Query(Statement.PROBE_PARTITION, ("ns",)),), Consistency.READ, True)


def test_a_request_completed_twice_is_counted_once() -> None:
    store = Store.__new__(Store)
    store._slots = _Slots(4)
    store._rate = None
    outcomes = store._execute(
        Statements(),  # type: ignore[arg-type]
        [request(), request()],
        DEFAULT_CALL,
    )
    assert isinstance(outcomes[0], Failure)  # the first completion wins
    assert outcomes[0].kind is ErrorKind.OTHER
    assert isinstance(outcomes[1], Rows)  # waited for, not returned early as None
    assert store._slots._free == 4  # each slot given back once


def driver_future() -> Any:
    """A real driver ``ResponseFuture`` with just the state its completion methods use."""
    from cassandra.cluster import _NOT_SET, ResponseFuture

    future = ResponseFuture.__new__(ResponseFuture)
    future._callback_lock = threading.Lock()
    future._callbacks, future._errbacks = [], []
    future._final_result, future._final_exception = _NOT_SET, None
    future._retry_aborted, future._metrics, future._timer = False, None, None
    future._event = threading.Event()
    return future


def test_a_driver_future_completed_twice_reaches_the_facade_once() -> None:
    from scyllabatch._driver import complete_once

    calls: list[str] = []
    future = driver_future()
    complete_once(future)
    future.add_callbacks(lambda rows: calls.append("rows"), lambda exc: calls.append("error"))
    future._set_final_exception(TimeoutError("client timeout"))
    future._set_final_result([])  # a speculative execution answers after all
    assert calls == ["error"]

    calls.clear()
    unguarded = driver_future()
    unguarded.add_callbacks(lambda rows: calls.append("rows"), lambda exc: calls.append("error"))
    unguarded._set_final_exception(TimeoutError("client timeout"))
    unguarded._set_final_result([])
    assert calls == ["error", "rows"]  # what the driver does on its own
