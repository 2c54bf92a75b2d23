"""Client CPU of one ``batch()``/``abatch()`` call without a node: the facade, validation,
planning, the engine and the serialization of the statements, over a fake driver session whose
requests complete at once. Deterministic enough for callgrind::

    valgrind --tool=callgrind .venv/bin/python benchmarks/facade_overhead.py sync write_only 100 200

(subtract a run with 0 calls for the instructions per call), or plain process time::

    .venv/bin/python benchmarks/facade_overhead.py async exact 1 2000

Arguments: facade (sync|async), created_at mode (write_only|exact), namespaces the 100 puts of a
call are spread over (each one its own request here: the fake session has no token map), calls.
"""

from __future__ import annotations

import asyncio
import sys
import time
from types import SimpleNamespace
from typing import Any

from scyllabatch import AsyncStore, PutOp, Store, StoreConfig, _driver
from scyllabatch._core.schema import Statement


class _AnsweredFuture:
    """A driver ``ResponseFuture`` that has already answered with no rows."""

    has_more_pages = False
    _final_result = None

    def add_callbacks(
        self, callback: Any, errback: Any, callback_args: Any = (), errback_args: Any = ()
    ) -> None:
        callback([], *callback_args)

    def add_errback(self, *args: Any, **kwargs: Any) -> None:
        pass

    def clear_callbacks(self) -> None:
        pass


class _Statements:
    ids = {statement: statement.name.encode() for statement in Statement}
    observer = None

    def send(self, request: Any, options: Any = None) -> _AnsweredFuture:
        return _AnsweredFuture()


_SESSION = SimpleNamespace(
    cluster=SimpleNamespace(
        profile_manager=SimpleNamespace(profiles={_driver.PROFILE: None}),
        metadata=SimpleNamespace(token_map=None),
    )
)


def make(cls: Any, mode: str) -> Any:
    store = cls(_SESSION, config=StoreConfig(created_at_mode=mode))
    store._transport.statements = _Statements()
    store.observers = ()
    return store


def main() -> None:
    facade, mode, namespaces, calls = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    batch = [
        PutOp(("bench", f"ns{i % namespaces}"), f"k{i}", {"i": i, "pad": "x" * 80})
        for i in range(100)
    ]
    if facade == "sync":
        store = make(Store, mode)
        for _ in range(50):
            store.batch(batch)
        started = time.process_time()
        for _ in range(calls):
            store.batch(batch)
        used = time.process_time() - started
    else:
        astore = make(AsyncStore, mode)

        async def run() -> float:
            for _ in range(50):
                await astore.abatch(batch)
            started = time.process_time()
            for _ in range(calls):
                await astore.abatch(batch)
            return time.process_time() - started

        used = asyncio.run(run())
    if calls:
        print(f"{facade} {mode} ns={namespaces}: {used / calls * 1e6:.0f} us CPU per 100-op call")


if __name__ == "__main__":
    main()
