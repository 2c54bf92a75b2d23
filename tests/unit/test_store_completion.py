"""A request the driver completes twice reaches the facades once.

With speculative execution the driver may call a request's errback (the request timed out) and
later its callback (a speculative execution answered after all). Found on the 3-node ring: the
second completion made the call return before another request had finished, and the engine then
read a missing outcome. ``complete_once`` guards the driver's future; the facades' own guard is
tested in ``test_facades.py``.
"""

from __future__ import annotations

import threading
from typing import Any


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
