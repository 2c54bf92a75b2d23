"""What coalescing concurrent single calls of the LangGraph adapter gains: calls, requests, time.

N tasks each ``await store.aget(...)`` one item at the same time (``asyncio.gather``), through
``ScyllaBatchStore`` over an ``AsyncStore``. Two ways are measured in the same run:

- ``one abatch per call``: every task calls ``abatch([GetOp])`` itself, which is what ``aget``
  did before the adapter coalesced calls (one store call per ``aget``);
- ``aget (coalesced)``: the adapter's ``aget``, whose ops issued in the same loop tick run as one
  ``abatch``.

For each: store calls (``batch_stats.total_batches`` of ``get_metrics()``), read requests sent to
the node (``read_requests``) and the wall time of the whole gather (median of the rounds).

Run against a node (a fresh keyspace is created and dropped):
    SCYLLABATCH_HOSTS=127.0.0.1 .venv/bin/python benchmarks/langgraph_coalescing.py [--calls 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from langgraph.store.base import GetOp

from scyllabatch import AsyncStore, StoreConfig
from scyllabatch.langgraph import ScyllaBatchStore

NAMESPACES = 20


async def _measure(
    astore: AsyncStore, run: Callable[[], Awaitable[list[Any]]], calls: int, rounds: int
) -> dict[str, float]:
    times = []
    batches = requests = 0
    for _ in range(rounds):
        astore.reset_metrics()
        started = time.perf_counter()
        results = await run()
        times.append(time.perf_counter() - started)
        if sum(r is not None for r in results) != calls:
            raise SystemExit("some items were not found: the measurement is wrong")
        stats = astore.get_metrics()["batch_stats"]
        batches, requests = stats["total_batches"], stats["read_requests"]
    return {"calls": batches, "requests": requests, "ms": statistics.median(times) * 1000}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    hosts = os.environ.get("SCYLLABATCH_HOSTS", "127.0.0.1").split(",")
    keyspace = f"bench_lg_{uuid.uuid4().hex[:8]}"
    astore = await AsyncStore.connect(hosts=hosts, config=StoreConfig(keyspace=keyspace))
    try:
        await astore.asetup()
        lg = ScyllaBatchStore(async_=astore)
        keys = [(("bench", f"ns{i % NAMESPACES}"), f"k{i}") for i in range(args.calls)]
        await astore.abatch([GetOp(ns, k) for ns, k in keys[:1]])  # statements prepared
        for start in range(0, len(keys), 500):
            await lg.abatch(
                [_put(ns, k, {"n": i}) for i, (ns, k) in enumerate(keys[start : start + 500])]
            )

        async def per_call() -> list[Any]:
            async def one(ns: tuple[str, ...], key: str) -> Any:
                return (await lg.abatch([GetOp(ns, key, refresh_ttl=False)]))[0]

            return await asyncio.gather(*(one(ns, k) for ns, k in keys))

        async def coalesced() -> list[Any]:
            return await asyncio.gather(*(lg.aget(ns, k, refresh_ttl=False) for ns, k in keys))

        print(f"{args.calls} concurrent gets of existing items, median of {args.rounds} rounds")
        print(f"{'':24} {'store calls':>12} {'read requests':>14} {'wall ms':>9}")
        for name, run in (("one abatch per call", per_call), ("aget (coalesced)", coalesced)):
            m = await _measure(astore, run, args.calls, args.rounds)
            print(f"{name:24} {m['calls']:>12} {m['requests']:>14} {m['ms']:>9.1f}")
    finally:
        await asyncio.to_thread(astore.session.execute, f"DROP KEYSPACE IF EXISTS {keyspace}")
        await astore.aclose()


def _put(ns: tuple[str, ...], key: str, value: dict[str, Any]) -> Any:
    from langgraph.store.base import PutOp

    return PutOp(ns, key, value)


if __name__ == "__main__":
    asyncio.run(main())
