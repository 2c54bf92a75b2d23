"""The event loop under load: 500 concurrent 50-op ``abatch`` calls on one ``AsyncStore``.

Prints how long the calls took and the largest delay of a 5 ms ticker running beside them
(issue: the loop must keep turning while a store works). Needs a node::

    SCYLLABATCH_HOSTS=127.0.0.1 .venv/bin/python benchmarks/loop_under_load.py [exact|write_only]
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid

from scyllabatch import AsyncStore, PutOp

TASKS, OPS = 500, 50


async def main(mode: str) -> None:
    hosts = os.environ.get("SCYLLABATCH_HOSTS", "127.0.0.1").split(",")
    keyspace = f"loop_{uuid.uuid4().hex[:8]}"
    store = await AsyncStore.connect(hosts=hosts, keyspace=keyspace, created_at_mode=mode)
    try:
        await store.asetup()
        value = {"text": "lorem ipsum " * 10, "n": 1}
        await store.abatch([PutOp(("loop", f"ns{i}"), "warm", value) for i in range(100)])
        delays: list[float] = []
        running = True

        async def ticker() -> None:
            last = time.perf_counter()
            while running:
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                delays.append(now - last - 0.005)
                last = now

        tick = asyncio.create_task(ticker())
        started = time.perf_counter()
        await asyncio.gather(
            *(
                store.abatch(
                    [
                        PutOp(("loop", f"ns{(t * OPS + i) % 100}"), f"k{t}-{i}", value)
                        for i in range(OPS)
                    ]
                )
                for t in range(TASKS)
            )
        )
        took = time.perf_counter() - started
        running = False
        await tick
        delays.sort()
        print(
            f"{mode}: {TASKS} x {OPS}-op abatch in {took:.2f} s ({TASKS * OPS / took:,.0f} ops/s); "
            f"5 ms ticker: largest extra delay {delays[-1] * 1000:.0f} ms, "
            f"p99 {delays[int(len(delays) * 0.99)] * 1000:.0f} ms"
        )
        await asyncio.to_thread(store.session.execute, f"DROP KEYSPACE {keyspace}", timeout=120)
    finally:
        await store.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "exact"))
