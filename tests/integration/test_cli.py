"""`scyllabatch bench` and `scyllabatch doctor` against the real node, with small sizes.

Only the shape and the consistency of the reports are checked: never wall-clock times.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from scyllabatch import Store, StoreConfig
from scyllabatch._bench import APPROACHES
from scyllabatch.cli import main
from tests.conftest import node_hosts, node_port

pytestmark = pytest.mark.integration


def connection_args() -> list[str]:
    return ["--hosts", ",".join(node_hosts()), "--port", str(node_port())]


def keyspace_exists(session: Any, name: str) -> bool:
    row = session.execute(
        "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = %s", (name,)
    ).one()
    return row is not None


def run_json(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, dict[str, Any]]:
    status = main(args)
    out = capsys.readouterr().out
    return status, json.loads(out)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_bench_json_report(
    capsys: pytest.CaptureFixture[str], cql_session: Any, keyspace: str, mode: str
) -> None:
    args = [
        "bench",
        *connection_args(),
        "--json",
        "--mode",
        mode,
        "--keyspace",
        keyspace,
        "--total-ops",
        "60",
        "--namespaces",
        "6",
        "--batch-sizes",
        "5,10",
        "--rounds",
        "2",
        "--progress",
        "off",
    ]
    status, report = run_json(capsys, args)
    assert status == 0
    assert report["options"]["mode"] == mode
    assert report["environment"]["server"]["release_version"]
    assert isinstance(report["environment"]["driver"]["cython"], bool)
    rows = report["rows"]
    assert [row["batch_size"] for row in rows] == [5, 10]
    for row in rows:
        contestants = row["contestants"]
        for name in (*APPROACHES, "sdk_get", "raw_get_concurrent"):
            result = contestants[name]
            assert result["ops"] == 60
            assert result["calls"] == 60 // row["batch_size"]
            assert result["ops_per_s"] > 0
            assert result["cpu_ms_per_call"] > 0
            assert result["latency_ms_max"] >= result["latency_ms_p50"] > 0
        best = max(
            contestants["raw_batch_unlogged"]["ops_per_s"],
            contestants["raw_concurrent"]["ops_per_s"],
        )
        ratios = row["ratios"]
        assert ratios["unlogged_write_only_vs_best_raw"] == pytest.approx(
            contestants["sdk_unlogged_write_only"]["ops_per_s"] / best
        )
        assert ratios["unlogged_exact_vs_best_raw"] == pytest.approx(
            contestants["sdk_unlogged_exact"]["ops_per_s"] / best
        )
        assert ratios["logged_write_only_vs_raw_logged"] == pytest.approx(
            contestants["sdk_logged_write_only"]["ops_per_s"]
            / contestants["raw_batch_logged"]["ops_per_s"]
        )
        assert ratios["cpu_unlogged_write_only_vs_raw_batch"] == pytest.approx(
            contestants["sdk_unlogged_write_only"]["cpu_ms_per_call"]
            / contestants["raw_batch_unlogged"]["cpu_ms_per_call"]
        )
        assert row["best_raw_unlogged"] in ("raw_batch_unlogged", "raw_concurrent")
        # spread layout: every call touches min(batch, namespaces) partitions; on one node they
        # share one replica set, so they travel in one batch. Exact mode looks up each partition
        # first; write-only mode reads nothing.
        partitions = min(row["batch_size"], 6)
        requests = row["sdk_requests"]
        assert requests["sdk_unlogged_write_only"]["read_requests_per_call"] == 0
        assert requests["sdk_unlogged_write_only"]["write_requests_per_call"] == 1
        assert requests["sdk_unlogged_exact"]["read_requests_per_call"] == pytest.approx(partitions)
        assert requests["sdk_unlogged_exact"]["write_requests_per_call"] == 1
        assert requests["sdk_logged_write_only"]["write_requests_per_call"] == 1
    assert not keyspace_exists(cql_session, keyspace), "bench must drop its keyspace"


def test_bench_table_grouped_with_progress(
    capsys: pytest.CaptureFixture[str], cql_session: Any, keyspace: str
) -> None:
    args = [
        "bench",
        *connection_args(),
        "--keyspace",
        keyspace,
        "--layout",
        "grouped",
        "--total-ops",
        "40",
        "--namespaces",
        "2",
        "--batch-sizes",
        "20",
        "--rounds",
        "1",
        "--progress",
        "on",
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "100.0%" in captured.err  # the progress bar goes to stderr ...
    assert "%" not in captured.out.split("\n")[0]  # ... not into the table
    lines = captured.out.splitlines()
    assert "batch of 20 ops" in lines
    row = next(line for line in lines if line.strip().startswith("SDK UNLOGGED, created_at write"))
    assert row.count("x") == 2  # throughput and CPU, both against the raw code
    assert "below 1x it is slower" in captured.out  # the table says what a ratio means
    assert "grouped" in captured.out
    assert not keyspace_exists(cql_session, keyspace)


def test_bench_refuses_an_existing_keyspace(
    capsys: pytest.CaptureFixture[str], cql_session: Any, keyspace: str
) -> None:
    Store(cql_session, config=StoreConfig(keyspace=keyspace)).setup()
    status = main(
        [
            "bench",
            *connection_args(),
            "--keyspace",
            keyspace,
            "--total-ops",
            "10",
            "--batch-sizes",
            "5",
            "--rounds",
            "1",
        ]
    )
    assert status == 2
    assert "already exists" in capsys.readouterr().err
    assert keyspace_exists(cql_session, keyspace), "an existing keyspace is never dropped"


def test_bench_rejects_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["bench", "--total-ops", "10", "--batch-sizes", "50", "--rounds", "1"])
    assert status == 2
    assert "total_ops" in capsys.readouterr().err


def test_doctor_json(capsys: pytest.CaptureFixture[str], cql_session: Any, keyspace: str) -> None:
    args = ["doctor", *connection_args(), "--json", "--keyspace", keyspace, "--pings", "3"]
    status, report = run_json(capsys, args)
    assert status == 0
    assert report["scyllabatch"]["implementation"] in ("cython", "python")
    driver = report["driver"]
    assert driver["version"]
    assert driver["cython"] == driver["cluster_module"].endswith((".so", ".pyd"))
    server = report["server"]
    assert server["product"] in ("Apache Cassandra", "ScyllaDB")
    assert server["release_version"]
    thresholds = report["batch_thresholds"]
    assert thresholds["sdk"]["max_ops"] == 100
    assert thresholds["server"]["source"] in ("system_views.settings", "system.config")
    assert isinstance(thresholds["server"]["warn_kib"], int)
    assert isinstance(thresholds["server"]["fail_kib"], int)
    assert report["keyspace"] == {
        "name": keyspace,
        "exists": False,
        "replication": None,
        "tables": {"items": False, "namespaces": False, "namespace_roots": False},
        "ready": False,
    }
    assert report["round_trip"]["count"] == 3
    assert report["round_trip"]["max_ms"] >= report["round_trip"]["p50_ms"] > 0

    Store(cql_session, config=StoreConfig(keyspace=keyspace)).setup()
    status, report = run_json(capsys, args)
    assert status == 0
    assert report["keyspace"]["ready"] is True
    assert report["keyspace"]["replication"]["replication_factor"] == "1"


def test_doctor_text_and_unreachable_node(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", *connection_args(), "--pings", "2"]) == 0
    out = capsys.readouterr().out
    for label in ("driver", "server", "server batches", "sdk batches", "round trip"):
        assert f"\n{label} " in f"\n{out}"
    assert main(["doctor", "--hosts", "127.0.0.1", "--port", "1", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert "error" in report
    assert "driver" in report
