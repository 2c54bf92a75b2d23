"""Sound checks of TTL lifetimes and TTL refreshes on a machine that can pause for seconds.

The server expires on whole seconds of its own clock, somewhere between a request's call and its
answer, and a loaded machine can stall for a second or two between any two steps of a test. So
a check here never compares a TTL with a fixed margin: it derives its bound from what the test
itself measured (when the step was *called*, when the read *came back*), so that a correct store
always passes, and a step that was too slow to prove anything is done again instead of being
taken as a failure. Early expiry and a missing refresh are still caught whenever they happen.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
TRY_FOR = 60.0


def tries(budget: float = TRY_FOR) -> Iterator[int]:
    """Try numbers 1, 2, ... for ``budget`` seconds (at least 3 tries). A try that a stalled
    machine left inconclusive is done again; only a machine that stalls through every try for
    the whole budget runs out of them (and fails the test, saying so)."""
    end = time.monotonic() + budget
    count = 0
    while count < 3 or time.monotonic() < end:
        count += 1
        yield count


async def _run(step: Callable[[], Any]) -> Any:
    value = step()
    return await value if inspect.isawaitable(value) else value


async def read_before_expiry(
    write: Callable[[], Any], read: Callable[[], Awaitable[T] | T], lives: float
) -> T:
    """``write()`` an item that must live at least ``lives`` seconds, then ``read()`` it; return
    the first truthy read.

    A falsy read is early expiry only if it came back less than ``lives`` seconds after the write
    was *called* (the server applied the write after that, so it lives at least until then): that
    fails the test. A falsy read that came back later proves nothing (the machine stalled between
    the two steps), so the write and the read are done again.
    """
    for _ in tries():
        called = time.monotonic()
        await _run(write)
        found = await _run(read)
        answered = time.monotonic()
        if found:
            return found  # type: ignore[no-any-return]
        assert answered >= called + lives, (
            f"gone {answered - called:.3f} s after the write was called; it must live {lives} s"
        )
    pytest.fail(
        f"the machine never read the item back within {lives} s of writing it "
        f"({TRY_FOR:.0f} s of tries): too slow to check the lifetime",
        pytrace=False,
    )


def seconds_left_after(stored: int, called: float, answered: float) -> int:
    """The fewest seconds a cell written (or refreshed) with a TTL of ``stored`` seconds can have
    left when read: written after ``called``, read before ``answered`` (``time.monotonic()``).

    The server counts whole seconds, so the cell loses at most ``ceil(answered - called)`` of
    them in that time; one more second allows for the server's wall clock against our monotonic
    one.
    """
    return stored - math.ceil(answered - called) - 1


async def assert_refreshes_ttl(
    refresh: Callable[[], Any],
    seconds_left: Callable[[], Awaitable[Sequence[int | None]] | Sequence[int | None]],
    stored: int,
) -> None:
    """``refresh()`` must re-apply a TTL of ``stored`` seconds to every cell ``seconds_left()``
    reads (the server's ``TTL(...)`` of each).

    Without a refresh a cell's seconds left only go down, so they stay at most what they were
    before the first attempt. After a refresh called at ``c`` and read back at ``a``, every cell
    has at least :func:`seconds_left_after` ``(stored, c, a)``: asserted on every attempt. That
    bound tells a refresh from none only while it is above the seconds left before; when the
    machine was too slow between the two steps for that, the refresh is done again (doing it
    twice changes nothing these tests check).
    """
    before = await _run(seconds_left)
    assert all(s is not None for s in before), f"a cell has no TTL before the refresh: {before}"
    not_refreshed = max(before)
    for _ in tries():
        called = time.monotonic()
        await _run(refresh)
        after = await _run(seconds_left)
        answered = time.monotonic()
        bound = seconds_left_after(stored, called, answered)
        assert all(s is not None for s in after), f"a cell lost its TTL: {after}"
        assert min(after) >= bound, (
            f"seconds left {after} after a refresh to {stored} s read back "
            f"{answered - called:.2f} s after it was called (before it: {before})"
        )
        if bound > not_refreshed:
            return
    pytest.fail(
        f"every refresh took too long to read back to tell it from no refresh ({TRY_FOR:.0f} s "
        f"of tries, seconds left before: {before}, TTL {stored} s)",
        pytrace=False,
    )
