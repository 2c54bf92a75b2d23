"""Running the measurement: a blocking driver (threads for calls in flight) and an asyncio
driver (tasks), both small loops over :func:`scyllabatch._bench.measure.measure`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from scyllabatch._bench.measure import Block, BlockResult, Measurement


def _timed_call(call: Any, chunk: Sequence[Any]) -> float:
    started = time.perf_counter()
    call(chunk)
    return (time.perf_counter() - started) * 1000.0


def run_block_sync(block: Block, pool: ThreadPoolExecutor | None) -> BlockResult:
    """Run a block's calls, one at a time or ``in_flight`` at a time on a thread pool."""
    wall, cpu = time.perf_counter(), time.process_time()
    if block.in_flight > 1 and pool is not None:
        calls_ms = list(pool.map(lambda chunk: _timed_call(block.call, chunk), block.calls))
    else:
        calls_ms = [_timed_call(block.call, chunk) for chunk in block.calls]
    return BlockResult(time.perf_counter() - wall, time.process_time() - cpu, calls_ms)


def drive_sync(measurement: Measurement, in_flight: int) -> list[dict[str, Any]]:
    """Drive the measurement with blocking calls."""
    pool = ThreadPoolExecutor(in_flight) if in_flight > 1 else None
    try:
        block = next(measurement)
        while True:
            block = measurement.send(run_block_sync(block, pool))
    except StopIteration as stop:
        rows: list[dict[str, Any]] = stop.value
        return rows
    finally:
        if pool is not None:
            pool.shutdown()


async def _timed_async(call: Any, chunk: Sequence[Any]) -> float:
    started = time.perf_counter()
    result = call(chunk)
    if isinstance(result, Awaitable):  # the raw execute_concurrent runners are blocking
        await result
    return (time.perf_counter() - started) * 1000.0


async def run_block_async(block: Block) -> BlockResult:
    """Run a block's calls as ``in_flight`` tasks, each taking the next call when it is done."""
    wall, cpu = time.perf_counter(), time.process_time()
    calls_ms: list[float] = []
    pending = iter(block.calls)

    async def worker() -> None:
        for chunk in pending:
            calls_ms.append(await _timed_async(block.call, chunk))

    await asyncio.gather(*(worker() for _ in range(max(1, block.in_flight))))
    return BlockResult(time.perf_counter() - wall, time.process_time() - cpu, calls_ms)


async def drive_async(measurement: Measurement) -> list[dict[str, Any]]:
    """Drive the measurement with ``AsyncStore`` and ``execute_async`` in the running loop."""
    try:
        block = next(measurement)
        while True:
            block = measurement.send(await run_block_async(block))
    except StopIteration as stop:
        rows: list[dict[str, Any]] = stop.value
        return rows
