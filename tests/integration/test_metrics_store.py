"""Metrics of a real store: exact totals when one store serves many threads; Prometheus text."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from scyllabatch import AsyncStore, GetOp, PutOp, Store, StoreConfig

pytestmark = pytest.mark.integration


def test_one_store_from_many_threads_counts_exactly(store: Store) -> None:
    threads, calls, size = 8, 15, 4
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def worker(n: int) -> None:
        try:
            barrier.wait()
            for c in range(calls):
                # each call: `size` puts in one namespace of its own, then one get
                ns = ("threads", f"t{n}", f"c{c}")
                store.batch([PutOp(ns, f"k{i}", {"n": n, "c": c, "i": i}) for i in range(size)])
                store.batch([GetOp(ns, "k0")])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors
    metrics = store.get_metrics()
    b = metrics["batch_stats"]
    puts = threads * calls
    assert b["total_batches"] == 2 * puts
    assert b["total_batch_operations"] == puts * (size + 1)
    assert b["failed_batches"] == 0
    assert b["unlogged_calls"] == 2 * puts
    assert b["unlogged_batches"] == puts  # one partition batch per put call
    assert b["write_requests"] == puts
    # created_at look-up per put call, key look-up per get call
    assert b["read_requests"] == 2 * puts
    assert metrics["ops_by_type"] == {"PutOp": puts * size, "GetOp": puts}
    assert b["latency_ms_max"] >= b["latency_ms_p99"] >= b["latency_ms_p50"] > 0


async def test_metrics_text_on_both_facades(cql_session: Any, keyspace: str) -> None:
    config = StoreConfig(keyspace=keyspace)
    sync_store = Store(cql_session, config=config)
    sync_store.setup()
    async_store = AsyncStore(cql_session, config=config)
    sync_store.batch([PutOp(("p",), "a", {"v": 1}), PutOp(("p",), "b", {"v": 2})])
    await async_store.abatch([GetOp(("p",), "a")], batch_type="LOGGED")
    for store, ops in ((sync_store, 2), (async_store, 1)):
        text = store.metrics_text(labels={"store": "s"})
        families = {f.name: f for f in text_string_to_metric_families(text)}
        calls = families["scyllabatch_batch_calls"].samples[0]
        assert calls.value == 1
        assert calls.labels == {"store": "s"}
        total_ops = families["scyllabatch_batch_operations"].samples[0].value
        assert total_ops == ops
