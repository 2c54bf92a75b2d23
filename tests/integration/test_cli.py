"""`scyllabatch bench` and `scyllabatch doctor` against the real node, with small sizes.

Only the shape and the consistency of the reports are checked: never wall-clock times.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from scyllabatch import Store, StoreConfig, StoreQueryError
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
    assert "100%" in captured.err  # the progress bar goes to stderr ...
    assert "%" not in captured.out.split("\n")[0]  # ... not into the table
    lines = captured.out.splitlines()
    assert "batch of 20 ops" in lines
    row = next(line for line in lines if line.strip().startswith("SDK UNLOGGED, created_at write"))
    assert row.count("x") == 2  # throughput and CPU, both against the raw code
    assert "below 1x it is slower" in captured.out  # the table says what a ratio means
    assert "grouped" in captured.out
    assert not keyspace_exists(cql_session, keyspace)


def test_bench_shared_key_layout_shares_the_look_ups(
    capsys: pytest.CaptureFixture[str], cql_session: Any, keyspace: str
) -> None:
    # 50 namespaces, calls of 50 ops: each call writes one key in all 50 namespaces, so exact
    # mode's created_at look-ups (and the gets) share reads of 25 partitions: 2 per call.
    args = [
        "bench",
        *connection_args(),
        "--json",
        "--keyspace",
        keyspace,
        "--layout",
        "shared-key",
        "--total-ops",
        "100",
        "--namespaces",
        "50",
        "--batch-sizes",
        "50",
        "--rounds",
        "1",
        "--progress",
        "off",
    ]
    status, report = run_json(capsys, args)
    assert status == 0
    assert report["options"]["layout"] == "shared-key"
    (row,) = report["rows"]
    requests = row["sdk_requests"]
    assert requests["sdk_unlogged_exact"]["read_requests_per_call"] == pytest.approx(2)
    assert requests["sdk_unlogged_write_only"]["read_requests_per_call"] == 0
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
        "tables": {
            "items": False,
            "counters": False,
            "namespaces": False,
            "namespace_roots": False,
        },
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


# -- the tools never touch what they did not create -----------------------------------------------


def keyspace_names(session: Any) -> set[str]:
    return {row[0] for row in session.execute("SELECT keyspace_name FROM system_schema.keyspaces")}


def table_names(session: Any, name: str) -> set[str]:
    rows = session.execute(
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (name,)
    )
    return {row[0] for row in rows}


SMALL_BENCH = ["--total-ops", "10", "--batch-sizes", "5", "--rounds", "1", "--progress", "off"]


@pytest.mark.parametrize("tool", ["demo", "bench"])
def test_an_existing_keyspace_survives_with_its_table_and_data(
    capsys: pytest.CaptureFixture[str], cql_session: Any, keyspace: str, tool: str
) -> None:
    cql_session.execute(
        f"CREATE KEYSPACE {keyspace} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    cql_session.execute(f"CREATE TABLE {keyspace}.precious (id int PRIMARY KEY, note text)")
    cql_session.execute(f"INSERT INTO {keyspace}.precious (id, note) VALUES (1, 'keep me')")
    extra = SMALL_BENCH if tool == "bench" else ["--ops", "5"]
    status = main([tool, *connection_args(), "--keyspace", keyspace, *extra])
    assert status == 2
    err = capsys.readouterr().err
    assert "already exists" in err
    assert "never writes into an existing one" in err
    assert keyspace_exists(cql_session, keyspace), f"{tool} dropped a keyspace it did not create"
    assert table_names(cql_session, keyspace) == {"precious"}, "nothing may be added to it"
    rows = list(cql_session.execute(f"SELECT id, note FROM {keyspace}.precious"))
    assert [(row[0], row[1]) for row in rows] == [(1, "keep me")]


def test_demo_creates_its_keyspace_and_drops_it(
    capsys: pytest.CaptureFixture[str], cql_session: Any, keyspace: str
) -> None:
    assert main(["demo", *connection_args(), "--ops", "7"]) == 0
    out = capsys.readouterr().out
    assert "7/7 found" in out
    created = re.search(r"created keyspace (scyllabatch_demo_[0-9a-f]{8}) ", out)
    assert created, out
    assert not keyspace_exists(cql_session, created.group(1)), "the fresh keyspace is dropped"

    assert main(["demo", *connection_args(), "--keyspace", keyspace, "--ops", "3"]) == 0
    assert "3/3 found" in capsys.readouterr().out
    assert not keyspace_exists(cql_session, keyspace)


def test_demo_keep_keyspace(
    capsys: pytest.CaptureFixture[str], cql_session: Any, keyspace: str
) -> None:
    args = ["demo", *connection_args(), "--keyspace", keyspace, "--ops", "2", "--keep-keyspace"]
    assert main(args) == 0
    assert keyspace_exists(cql_session, keyspace)
    assert {"items", "namespaces", "namespace_roots"} <= table_names(cql_session, keyspace)
    # a second run refuses the keyspace it kept: it no longer created it
    assert main(args) == 2
    assert keyspace_exists(cql_session, keyspace)


def test_demo_with_zero_ops_is_a_usage_error_and_leaks_nothing(
    capsys: pytest.CaptureFixture[str], cql_session: Any
) -> None:
    def demo_keyspaces() -> set[str]:  # the node is shared: look at demo keyspaces only
        return {name for name in keyspace_names(cql_session) if name.startswith("scyllabatch_demo")}

    before = demo_keyspaces()
    with pytest.raises(SystemExit) as exited:
        main(["demo", *connection_args(), "--ops", "0"])
    assert exited.value.code == 2
    assert "--ops: must be >= 1" in capsys.readouterr().err
    assert demo_keyspaces() == before


def test_demo_drops_its_keyspace_when_the_run_fails(
    capsys: pytest.CaptureFixture[str],
    cql_session: Any,
    keyspace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import scyllabatch.cli as cli

    seen: list[bool] = []

    def failing_round_trip(store: Store, count: int) -> int:
        seen.append(keyspace_exists(cql_session, keyspace))
        raise StoreQueryError("the server said no")

    monkeypatch.setattr(cli, "_demo_round_trip", failing_round_trip)
    assert main(["demo", *connection_args(), "--keyspace", keyspace]) == 1
    assert seen == [True]  # the keyspace existed while the demo ran ...
    assert not keyspace_exists(cql_session, keyspace)  # ... and is gone after the failure
    assert "the server said no" in capsys.readouterr().err


def test_bench_drops_its_keyspace_when_the_run_fails(
    capsys: pytest.CaptureFixture[str],
    cql_session: Any,
    keyspace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import scyllabatch._bench as bench

    def failing_prepare(session: Any, name: str) -> None:
        raise StoreQueryError(f"cannot prepare {name}")

    monkeypatch.setattr(bench, "prepare_raw_table", failing_prepare)
    assert main(["bench", *connection_args(), "--keyspace", keyspace, *SMALL_BENCH]) == 1
    assert f"cannot prepare {keyspace}" in capsys.readouterr().err
    assert not keyspace_exists(cql_session, keyspace)


# -- connection settings through the command line -------------------------------------------------


def test_hosts_with_ports_from_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    hosts = ",".join(f"{host}:{node_port()}" for host in node_hosts())
    # the per-host port wins over SCYLLABATCH_PORT (nothing listens on port 1)
    environ = {"SCYLLABATCH_HOSTS": hosts, "SCYLLABATCH_PORT": "1"}
    assert main(["doctor", "--json", "--pings", "1"], environ=environ) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["server"]["release_version"]

    status = main(["demo"], environ={"SCYLLABATCH_HOSTS": "127.0.0.1:9999"})
    assert status == 1
    err = capsys.readouterr().err
    assert "StoreConnectionError" in err
    assert "127.0.0.1:9999" in err
    assert "Traceback" not in err


def test_consistency_and_local_dc_reach_the_store(
    capsys: pytest.CaptureFixture[str], cql_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import scyllabatch.cli as cli

    data_center = cql_session.execute("SELECT data_center FROM system.local").one()[0]
    seen: list[StoreConfig] = []
    real = cli._demo_round_trip

    def spy(store: Store, count: int) -> int:
        seen.append(store.config)
        return real(store, count)

    monkeypatch.setattr(cli, "_demo_round_trip", spy)
    args = ["demo", *connection_args(), "--ops", "3", "--consistency", "one"]
    assert main([*args, "--local-dc", data_center]) == 0
    assert "3/3 found" in capsys.readouterr().out
    assert seen[0].read_consistency == seen[0].write_consistency == "ONE"
    assert seen[0].local_dc == data_center
    # a consistency the one-node cluster cannot meet fails the way the server decides
    assert main([*args[:-1], "THREE"]) == 1
    assert "StoreUnavailableError" in capsys.readouterr().err


def test_a_failing_query_of_a_tool_is_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cassandra import Unauthorized

    import scyllabatch._doctor as doctor

    def refused(session: Any, count: int) -> dict[str, float]:
        raise Unauthorized("User app has no SELECT permission on <table system.local>")

    monkeypatch.setattr(doctor, "round_trips", refused)
    assert main(["doctor", *connection_args()]) == 1
    err = capsys.readouterr().err
    assert "refused or failed a request: Unauthorized" in err
    assert "Traceback" not in err


def test_bench_uses_the_connection_options_and_drops_its_keyspace_on_failure(
    capsys: pytest.CaptureFixture[str], cql_session: Any, keyspace: str
) -> None:
    # THREE replicas cannot answer on a one-node cluster: the server says so on the first
    # request, which proves --consistency reached the SDK's stores; the keyspace is dropped anyway.
    args = ["bench", *connection_args(), "--keyspace", keyspace, *SMALL_BENCH]
    assert main([*args, "--consistency", "THREE"]) == 1
    err = capsys.readouterr().err
    assert "'consistency': 'THREE'" in err
    assert "Unavailable" in err
    assert not keyspace_exists(cql_session, keyspace)
