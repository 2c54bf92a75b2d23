"""End-to-end batches against the node, each group next to the raw driver doing the same writes.

Needs a node: ``SCYLLABATCH_HOSTS`` (``make bench`` starts one and sets it); without it these
benchmarks are skipped. Every round writes 100 fresh keys (inserts); one keyspace per run,
dropped at the end. Compare within a group only (the "(x)" columns): absolute times depend on the
machine and on whatever else it runs.

- ``sdk_sync`` / ``sdk_async``: ``Store.batch`` / ``AsyncStore.abatch`` of the 100 puts in the
  default exact ``created_at`` mode: the SDK first reads ``created_at`` of the written keys (one
  ``namespace = ? AND key IN ?`` look-up per partition), then writes unlogged batches (partitions
  on the same replicas combined, up to 50 per batch, 50 ops), or one logged batch.
- ``sdk_sync_write_only`` / ``sdk_async_write_only``: the same in write-only mode (no read).
- ``raw_batch``: one prepared ``BatchStatement`` of the 100 inserts, as hand-written code does it
  (for 100 namespaces that is the multi-partition unlogged batch docs/design.md warns against).
- ``raw_concurrent``: ``execute_concurrent_with_args`` of 100 single prepared inserts.

Run:
    SCYLLABATCH_HOSTS=127.0.0.1 python -m pytest benchmarks/test_bench_e2e.py --benchmark-only \\
        --benchmark-group-by=group
``SCYLLABATCH_BENCH_ROUNDS`` sets the rounds per benchmark (default 30).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import BatchType as DriverBatchType

from scyllabatch import AsyncStore, CreatedAtMode, PutOp, Store, StoreConfig, _driver
from scyllabatch._bench.contestants import (
    prepare_raw_insert,
    prepare_raw_table,
    raw_batch,
    raw_rows,
)

try:
    from benchmarks.corpus import CORPUS
except ImportError:  # benchmarks/ is not a package: pytest puts it on sys.path
    from corpus import CORPUS

OPS = 100
ROUNDS = int(os.environ.get("SCYLLABATCH_BENCH_ROUNDS", "30"))
SPREAD = "e2e UNLOGGED: 100 puts over 100 namespaces"
GROUPED = "e2e UNLOGGED: 100 puts in 1 namespace"
LOGGED = "e2e LOGGED: 100 puts over 10 namespaces"
_keys = itertools.count()
SDK = ["sdk_sync", "sdk_async", "sdk_sync_write_only", "sdk_async_write_only"]


@dataclass
class Node:
    session: Any
    store: Store
    astore: AsyncStore
    store_write_only: Store
    astore_write_only: AsyncStore
    loop: asyncio.AbstractEventLoop
    insert: Any


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    hosts = [h.strip() for h in os.environ.get("SCYLLABATCH_HOSTS", "").split(",") if h.strip()]
    if not hosts:
        pytest.skip("SCYLLABATCH_HOSTS is not set: end-to-end benchmarks need a node (make bench)")
    keyspace = f"bench_e2e_{uuid.uuid4().hex[:8]}"
    config = StoreConfig(
        hosts=hosts, port=int(os.environ.get("SCYLLABATCH_PORT", "9042")), keyspace=keyspace
    )
    cluster, session = _driver.connect(config)
    loop = asyncio.new_event_loop()
    try:
        store = Store(session, config=config)
        store.setup()
        prepare_raw_table(session, keyspace)
        insert = prepare_raw_insert(session, keyspace)
        write_only = replace(config, created_at_mode=CreatedAtMode.WRITE_ONLY)
        yield Node(
            session,
            store,
            AsyncStore(session, config=config),
            Store(session, config=write_only),
            AsyncStore(session, config=write_only),
            loop,
            insert,
        )
    finally:
        loop.close()
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
        cluster.shutdown()


def fresh_ops(namespaces: int) -> Callable[[], tuple[tuple[list[PutOp]], dict[str, Any]]]:
    def setup() -> tuple[tuple[list[PutOp]], dict[str, Any]]:
        start = next(_keys) * OPS
        ops = [
            PutOp(("bench", f"ns{i % namespaces}"), f"k{start + i}", CORPUS[i % len(CORPUS)])
            for i in range(OPS)
        ]
        return (ops,), {}

    return setup


def approach(node: Node, name: str, batch_type: str) -> Callable[[list[PutOp]], Any]:
    driver_type = DriverBatchType.LOGGED if batch_type == "LOGGED" else DriverBatchType.UNLOGGED
    if name == "sdk_sync":
        return lambda ops: node.store.batch(ops, batch_type=batch_type)
    if name == "sdk_async":
        return lambda ops: node.loop.run_until_complete(
            node.astore.abatch(ops, batch_type=batch_type)
        )
    if name == "sdk_sync_write_only":
        return lambda ops: node.store_write_only.batch(ops, batch_type=batch_type)
    if name == "sdk_async_write_only":
        return lambda ops: node.loop.run_until_complete(
            node.astore_write_only.abatch(ops, batch_type=batch_type)
        )
    if name == "raw_batch":
        return lambda ops: node.session.execute(raw_batch(node.insert, driver_type, ops))
    assert name == "raw_concurrent"
    return lambda ops: execute_concurrent_with_args(
        node.session, node.insert, raw_rows(ops), concurrency=64
    )


def run(benchmark: Any, node: Node, name: str, batch_type: str, namespaces: int) -> None:
    benchmark.extra_info["ops_per_call"] = OPS
    benchmark.pedantic(
        approach(node, name, batch_type),
        setup=fresh_ops(namespaces),
        rounds=ROUNDS,
        warmup_rounds=3,
        iterations=1,
    )
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["ops_per_s"] = round(OPS / stats.stats.mean)


@pytest.mark.benchmark(group=SPREAD)
@pytest.mark.parametrize("name", [*SDK, "raw_batch", "raw_concurrent"])
def test_unlogged_spread(benchmark: Any, node: Node, name: str) -> None:
    run(benchmark, node, name, "UNLOGGED", 100)


@pytest.mark.benchmark(group=GROUPED)
@pytest.mark.parametrize("name", [*SDK, "raw_batch", "raw_concurrent"])
def test_unlogged_grouped(benchmark: Any, node: Node, name: str) -> None:
    run(benchmark, node, name, "UNLOGGED", 1)


@pytest.mark.benchmark(group=LOGGED)
@pytest.mark.filterwarnings("ignore::scyllabatch.errors.StoreBatchSizeWarning")
@pytest.mark.parametrize("name", [*SDK, "raw_batch"])
def test_logged(benchmark: Any, node: Node, name: str) -> None:
    run(benchmark, node, name, "LOGGED", 10)
