"""The asyncio store hands the loop back between slices of its own work (no database)."""

from __future__ import annotations

import asyncio

from scyllabatch.aio import _LOOP_SLICE_SECONDS, _loop_share, _LoopShare


async def test_concurrent_calls_spread_over_loop_turns() -> None:
    share = _LoopShare()
    done: list[int] = []
    per_turn: list[int] = []
    finished = asyncio.Event()

    def count_turn(seen: int = 0) -> None:
        # a callback that runs once per loop turn, like any other task's step
        per_turn.append(len(done) - seen)
        if not finished.is_set():
            asyncio.get_running_loop().call_soon(count_turn, len(done))

    async def call(i: int) -> None:
        await share.turn()
        share.charge(_LOOP_SLICE_SECONDS / 2)  # each call's planning and sending
        done.append(i)

    asyncio.get_running_loop().call_soon(count_turn)
    await asyncio.gather(*(call(i) for i in range(100)))
    finished.set()
    await asyncio.sleep(0)
    assert sorted(done) == list(range(100))  # every call ran, none was lost
    # within one turn, a store's calls use up one slice (and the call that crosses it)
    assert max(per_turn) <= 3
    assert len([n for n in per_turn if n]) >= 100 // 3


async def test_a_cancelled_caller_leaves_the_line() -> None:
    share = _LoopShare()

    async def hog() -> None:
        share.charge(1.0)  # spends this turn's slice

    tasks = [asyncio.create_task(hog())]
    waiting = asyncio.create_task(share.turn())
    later = asyncio.create_task(share.turn())
    await asyncio.sleep(0)  # hog ran; both callers now wait in line
    waiting.cancel()
    await asyncio.wait_for(later, timeout=5)  # the line moves on without the cancelled caller
    await asyncio.gather(*tasks)
    await asyncio.sleep(0)
    assert waiting.cancelled()
    assert later.done()
    assert not later.cancelled()


def test_each_event_loop_gets_its_own_share() -> None:
    """A loop that ends with its slice spent must not hold up calls in the next loop (a turn
    marker scheduled on the ended loop never runs)."""

    async def spend() -> _LoopShare:
        share = _loop_share()
        share.charge(1.0)  # the slice is spent; the marker would run on this loop's next turn
        return share

    async def next_loop() -> _LoopShare:
        share = _loop_share()
        await asyncio.wait_for(share.turn(), timeout=5)
        return share

    first = asyncio.run(spend())
    second = asyncio.run(next_loop())
    assert second is not first
