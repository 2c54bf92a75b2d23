"""The pytest plugin as a user meets it: their test files, run by pytester (in this process)
against the run's node (``SCYLLABATCH_HOSTS``), using the plugin's fixtures and benchmark helper.

The local-node path (no ``SCYLLABATCH_HOSTS``) starts a real Cassandra node on 127.0.0.31, an
address no other test uses, in a directory of its own, and checks it is gone afterwards.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from scyllabatch.testing import node

# The user's project has no configuration but this (pytest-asyncio asks for it).
INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"

STORES = """
import json
from pathlib import Path

import pytest

from scyllabatch import AsyncStore, CreatedAtMode, Store


def record(name, keyspace, cluster):
    line = {"test": name, "keyspace": keyspace, "hosts": list(cluster.hosts),
            "started_node": cluster.started_node}
    with Path("seen.jsonl").open("a") as out:
        out.write(json.dumps(line) + "\\n")


def test_sync_store(scyllabatch_store, scyllabatch_keyspace, scyllabatch_cluster):
    assert isinstance(scyllabatch_store, Store)
    assert scyllabatch_store.config.keyspace == scyllabatch_keyspace
    scyllabatch_store.put(("users", "1"), "profile", {"name": "Ada"})
    assert scyllabatch_store.get(("users", "1"), "profile").value == {"name": "Ada"}
    record("sync", scyllabatch_keyspace, scyllabatch_cluster)


@pytest.mark.asyncio
async def test_async_store(scyllabatch_async_store, scyllabatch_keyspace, scyllabatch_cluster):
    assert isinstance(scyllabatch_async_store, AsyncStore)
    await scyllabatch_async_store.aput(("users", "2"), "profile", {"name": "Grace"})
    item = await scyllabatch_async_store.aget(("users", "2"), "profile")
    assert item.value == {"name": "Grace"}
    record("async", scyllabatch_keyspace, scyllabatch_cluster)


def test_fresh_keyspace_per_test(scyllabatch_store, scyllabatch_keyspace, scyllabatch_cluster):
    assert scyllabatch_store.get(("users", "1"), "profile") is None  # not the first test's data
    record("fresh", scyllabatch_keyspace, scyllabatch_cluster)
"""

OPTIONS = """
import pytest

from scyllabatch import CreatedAtMode


@pytest.fixture
def scyllabatch_store_options():
    return {"created_at_mode": "write_only", "request_timeout": 30.0}


def test_options_reach_both_stores(scyllabatch_store, scyllabatch_async_store):
    for store in (scyllabatch_store, scyllabatch_async_store):
        assert store.config.created_at_mode is CreatedAtMode.WRITE_ONLY
        assert store.config.request_timeout == 30.0
"""


def keyspaces(session: Any) -> set[str]:
    return {row[0] for row in session.execute("SELECT keyspace_name FROM system_schema.keyspaces")}


def test_user_tests_get_set_up_stores_in_keyspaces_created_and_dropped_for_each_test(
    pytester: pytest.Pytester, cql_session: Any
) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_stores=STORES, test_options=OPTIONS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    seen = [json.loads(line) for line in (pytester.path / "seen.jsonl").read_text().splitlines()]
    assert [s["test"] for s in seen] == ["sync", "async", "fresh"]
    names = {s["keyspace"] for s in seen}
    assert len(names) == 3, "every test has a keyspace of its own"
    assert all(name.startswith("scyllabatch_pytest_") for name in names)
    assert not names & keyspaces(cql_session), "the plugin drops the keyspaces it created"
    hosts = [h.strip() for h in os.environ["SCYLLABATCH_HOSTS"].split(",")]
    assert all(s["hosts"] == hosts and s["started_node"] is False for s in seen)


BENCH = """
import pytest

from scyllabatch import GetOp, PutOp, StoreValidationError

OPS = 20


def fresh_puts(round_index):
    return [
        PutOp(("bench", f"ns{i % 5}"), f"r{round_index}-k{i}", {"i": i, "pad": "x" * 50})
        for i in range(OPS)
    ]


def rows(cluster, keyspace, table):
    return cluster.session.execute(f"SELECT COUNT(*) FROM {keyspace}.{table}").one()[0]


def test_unlogged_puts(scyllabatch_benchmark, scyllabatch_cluster, scyllabatch_keyspace):
    result = scyllabatch_benchmark(fresh_puts, rounds=3, warmup_rounds=1)
    assert {b.name for b in result.baselines} == {"raw_batch_unlogged", "raw_concurrent"}
    assert result.best in result.baselines
    assert result.sdk.calls == 3 and all(b.calls == 3 for b in result.baselines)
    assert result.ops_per_call == OPS
    # 1 warm-up + 3 rounds of fresh keys: the SDK and the raw code each wrote them all.
    assert rows(scyllabatch_cluster, scyllabatch_keyspace, "items") == 4 * OPS
    assert rows(scyllabatch_cluster, scyllabatch_keyspace, "raw_items") == 4 * OPS


@pytest.mark.filterwarnings("ignore::scyllabatch.StoreBatchSizeWarning")
def test_logged_puts(scyllabatch_benchmark):
    result = scyllabatch_benchmark(fresh_puts(0), batch_type="LOGGED", rounds=2)
    assert [b.name for b in result.baselines] == ["raw_batch_logged"]
    assert result.batch_type == "LOGGED"


def test_gets(scyllabatch_benchmark, scyllabatch_store):
    scyllabatch_store.batch(fresh_puts(0))
    gets = [GetOp(op.namespace, op.key) for op in fresh_puts(0)]
    result = scyllabatch_benchmark(gets, rounds=2)
    assert result.best.name == "raw_get_concurrent"


def test_async_store(scyllabatch_benchmark, scyllabatch_async_store):
    result = scyllabatch_benchmark(fresh_puts, rounds=2, store=scyllabatch_async_store)
    assert result.sdk.calls == 2


def test_mixed_ops_are_refused_before_anything_runs(scyllabatch_benchmark):
    with pytest.raises(StoreValidationError, match="op 1 is a GetOp"):
        scyllabatch_benchmark([fresh_puts(0)[0], GetOp(("bench",), "k")])
"""


def run_bench_file(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, list[Any]]:
    pytester.makeini(INI)
    pytester.makepyfile(test_bench=BENCH)
    report = pytester.path / "bench.json"
    result = pytester.runpytest("-p", "no:cacheprovider", f"--benchmark-json={report}", *args)
    return result, json.loads(report.read_text())["benchmarks"]


def test_the_benchmark_helper_times_the_sdk_and_the_raw_driver_in_the_same_rounds(
    pytester: pytest.Pytester,
) -> None:
    result, benchmarks = run_bench_file(pytester)
    result.assert_outcomes(passed=5)
    by_name = {b["name"]: b for b in benchmarks}
    assert set(by_name) == {
        "test_unlogged_puts",
        "test_logged_puts",
        "test_gets",
        "test_async_store",
    }
    for name, bench in by_name.items():
        info = bench["extra_info"]["scyllabatch"]
        assert info["ops_per_call"] == 20, name
        for ratio in ("speed_vs_raw", "cpu_vs_raw"):
            assert info[ratio] > 0, (name, ratio, info)
            assert math.isfinite(info[ratio]), (name, ratio, info)
        assert info["baseline"] in info["baselines"]
        # pytest-benchmark timed the SDK call in the recorded rounds (warm-up left out).
        assert bench["stats"]["rounds"] == (3 if name == "test_unlogged_puts" else 2)
    assert by_name["test_logged_puts"]["extra_info"]["scyllabatch"]["baseline"] == (
        "raw_batch_logged"
    )
    summary = result.stdout.str()
    assert "scyllabatch: the SDK next to the raw driver" in summary
    assert "test_bench.py::test_gets: 20 ops/call" in summary
    print("\n".join(line for line in result.outlines if "ops/call" in line))


def test_with_benchmarks_disabled_each_side_runs_once_and_is_still_compared(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        test_disabled="""
from scyllabatch import PutOp


def test_once(scyllabatch_benchmark, scyllabatch_cluster, scyllabatch_keyspace):
    ops = [PutOp(("once",), f"k{i}", {"i": i}) for i in range(5)]
    result = scyllabatch_benchmark(ops, rounds=10, warmup_rounds=3)
    assert result.sdk.calls == 1
    assert all(b.calls == 1 for b in result.baselines)
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--benchmark-disable")
    result.assert_outcomes(passed=1)


@pytest.mark.slow
def test_without_hosts_the_plugin_starts_a_local_node_and_stops_it_after_the_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    address = "127.0.0.31"  # never the shared node's 127.0.0.1
    if node.port_open(address, node.CQL_PORT) or node.port_open(address, node.STORAGE_PORT):
        pytest.fail(f"{address} ports 9042/7000 are taken: this test starts its own node there")
    node_dir = tmp_path / "node"
    monkeypatch.delenv("SCYLLABATCH_HOSTS", raising=False)
    monkeypatch.setenv("SCYLLABATCH_NODE_ADDRESS", address)
    monkeypatch.setenv("SCYLLABATCH_NODE_DIR", str(node_dir))
    monkeypatch.setenv("SCYLLABATCH_NODE_TIMEOUT", "240")
    pytester.makeini(INI)
    pytester.makepyfile(
        test_local=f"""
def test_local_node(scyllabatch_cluster, scyllabatch_store):
    assert scyllabatch_cluster.started_node is True
    assert scyllabatch_cluster.hosts == ("{address}",)
    scyllabatch_store.put(("local",), "k", {{"v": 1}})
    assert scyllabatch_store.get(("local",), "k").value == {{"v": 1}}
"""
    )
    try:
        result = pytester.runpytest("-p", "no:cacheprovider", "-s")
        result.assert_outcomes(passed=1)
    finally:
        leftover = node.find_node_pids(node_dir.resolve())
        for pid in leftover:  # only ever this test's own node
            node.terminate(pid, 30.0)
    assert leftover == [], "the plugin stops the node it started"
    assert not node.port_open(address, node.CQL_PORT)
    assert not node_dir.exists(), "the plugin removes the node's directory"
    started = [line for line in result.outlines if "ready: Cassandra" in line]
    print("\n".join(started))
    assert started, result.stdout.str()
