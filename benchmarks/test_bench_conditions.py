"""Conditional and counter writes against the node, next to plain puts and the raw driver.

Needs a node: ``SCYLLABATCH_HOSTS``; without it these benchmarks are skipped. Every round writes
fresh keys (so every put-if-absent applies); one keyspace per run, dropped at the end. Compare
within a group only: absolute times depend on the machine and on whatever else it runs. Each
benchmark's ``extra_info`` holds the client CPU per call (``cpu_ms_per_call``, process time).

- ``sdk_plain``: ``Store.batch`` of plain ``PutOp`` s (exact ``created_at`` mode: one look-up
  per partition, then the writes).
- ``sdk_put_if_absent``: the same keys as ``ConditionalPutOp(..., IfAbsent())``: one
  lightweight transaction (Paxos: about four round trips) per namespace.
- ``raw_plain``: ``execute_concurrent_with_args`` of single prepared inserts.
- ``raw_put_if_absent``: the same with ``INSERT ... IF NOT EXISTS``, the best hand-written LWT.
- ``sdk_counters`` / ``raw_counters``: increments of 10 counters in one namespace; the SDK
  sends one ``COUNTER`` batch, the raw driver one prepared ``COUNTER`` batch.

Run:
    SCYLLABATCH_HOSTS=127.0.0.1 python -m pytest benchmarks/test_bench_conditions.py \\
        --benchmark-only --benchmark-group-by=group
``SCYLLABATCH_BENCH_ROUNDS`` sets the rounds per benchmark (default 30).
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import BatchStatement
from cassandra.query import BatchType as DriverBatchType

from scyllabatch import ConditionalPutOp, CounterOp, IfAbsent, PutOp, Store, StoreConfig, _driver
from scyllabatch._bench.contestants import RAW_TABLE, prepare_raw_table, raw_rows

ROUNDS = int(os.environ.get("SCYLLABATCH_BENCH_ROUNDS", "30"))
ONE = "conditional vs plain: 1 put"
SPREAD = "conditional vs plain: 10 puts over 10 namespaces"
COUNTERS = "counters: 10 increments in 1 namespace"
_keys = itertools.count()


@dataclass
class Node:
    session: Any
    store: Store
    insert: Any
    insert_if_absent: Any
    increment: Any


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    hosts = [h.strip() for h in os.environ.get("SCYLLABATCH_HOSTS", "").split(",") if h.strip()]
    if not hosts:
        pytest.skip("SCYLLABATCH_HOSTS is not set: these benchmarks need a node")
    keyspace = f"bench_cond_{uuid.uuid4().hex[:8]}"
    config = StoreConfig(
        hosts=hosts, port=int(os.environ.get("SCYLLABATCH_PORT", "9042")), keyspace=keyspace
    )
    cluster, session = _driver.connect(config)
    try:
        store = Store(session, config=config)
        store.setup()
        prepare_raw_table(session, keyspace)
        columns = "(namespace, key, value, created_at, updated_at, ttl) VALUES (?, ?, ?, ?, ?, ?)"
        yield Node(
            session,
            store,
            session.prepare(f"INSERT INTO {keyspace}.{RAW_TABLE} {columns}"),
            session.prepare(f"INSERT INTO {keyspace}.{RAW_TABLE} {columns} IF NOT EXISTS"),
            session.prepare(
                f"UPDATE {keyspace}.counters SET value = value + ? "
                "WHERE namespace = ? AND key = ? AND name = ?"
            ),
        )
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
        cluster.shutdown()


def fresh(count: int, namespaces: int) -> Callable[[], tuple[tuple[list[PutOp]], dict[str, Any]]]:
    def setup() -> tuple[tuple[list[PutOp]], dict[str, Any]]:
        start = next(_keys) * count
        ops = [
            PutOp(
                ("bench", f"ns{i % namespaces}"), f"k{start + i}", {"n": start + i, "s": "x" * 64}
            )
            for i in range(count)
        ]
        return (ops,), {}

    return setup


def approach(node: Node, name: str) -> Callable[[list[PutOp]], Any]:
    if name == "sdk_plain":
        return node.store.batch
    if name == "sdk_put_if_absent":

        def conditional(ops: list[PutOp]) -> None:
            results = node.store.batch(
                [ConditionalPutOp(op.namespace, op.key, op.value, IfAbsent()) for op in ops]
            )
            assert all(result.applied for result in results)

        return conditional
    if name == "raw_plain":
        return lambda ops: execute_concurrent_with_args(
            node.session, node.insert, raw_rows(ops), concurrency=64
        )
    assert name == "raw_put_if_absent"

    def raw_conditional(ops: list[PutOp]) -> None:
        outcomes = execute_concurrent_with_args(
            node.session, node.insert_if_absent, raw_rows(ops), concurrency=64
        )
        assert all(ok and rows.one()[0] for ok, rows in outcomes)

    return raw_conditional


def with_cpu(benchmark: Any, call: Callable[..., Any]) -> Callable[..., Any]:
    """``call``, recording the client CPU time of every round in the benchmark's extra info."""
    samples: list[float] = []

    def timed(*args: Any) -> Any:
        began = time.process_time()
        try:
            return call(*args)
        finally:
            samples.append(time.process_time() - began)
            benchmark.extra_info["cpu_ms_per_call"] = round(1000 * sum(samples) / len(samples), 3)

    return timed


def run(benchmark: Any, call: Callable[..., Any], setup: Callable[[], Any]) -> None:
    benchmark.pedantic(
        with_cpu(benchmark, call), setup=setup, rounds=ROUNDS, warmup_rounds=3, iterations=1
    )


@pytest.mark.benchmark(group=ONE)
@pytest.mark.parametrize(
    "name", ["sdk_plain", "sdk_put_if_absent", "raw_plain", "raw_put_if_absent"]
)
def test_one_put(benchmark: Any, node: Node, name: str) -> None:
    run(benchmark, approach(node, name), fresh(1, 1))


@pytest.mark.benchmark(group=SPREAD)
@pytest.mark.parametrize(
    "name", ["sdk_plain", "sdk_put_if_absent", "raw_plain", "raw_put_if_absent"]
)
def test_ten_puts(benchmark: Any, node: Node, name: str) -> None:
    run(benchmark, approach(node, name), fresh(10, 10))


@pytest.mark.benchmark(group=COUNTERS)
@pytest.mark.parametrize("name", ["sdk_counters", "raw_counters"])
def test_counters(benchmark: Any, node: Node, name: str) -> None:
    ops = [CounterOp(("bench",), "page", f"c{i}", 1) for i in range(10)]

    def raw() -> None:
        batch = BatchStatement(batch_type=DriverBatchType.COUNTER)
        for op in ops:
            batch.add(node.increment, (op.delta, ".".join(op.namespace), op.key, op.counter))
        node.session.execute(batch)

    call = (lambda: node.store.batch(ops)) if name == "sdk_counters" else raw
    benchmark.pedantic(with_cpu(benchmark, call), rounds=ROUNDS, warmup_rounds=3, iterations=1)
