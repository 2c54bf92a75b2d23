"""The pytest plugin without a database: which cluster it picks, which raw baseline a workload
gets, and that a run which uses none of its fixtures pays nothing (checked in a fresh pytest
process, through the installed ``pytest11`` entry point)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scyllabatch import GetOp, PutOp, StoreValidationError
from scyllabatch.testing.benchmark import BaselineComparison, CallTimes, baselines_for
from scyllabatch.testing.cluster import ClusterUnavailable, plan_cluster

FIXTURES = (
    "scyllabatch_cluster",
    "scyllabatch_keyspace",
    "scyllabatch_store",
    "scyllabatch_async_store",
    "scyllabatch_store_options",
    "scyllabatch_benchmark",
)


# -- which cluster ------------------------------------------------------------------------------


def test_hosts_from_the_environment_are_used_as_they_are(tmp_path: Path) -> None:
    plan = plan_cluster(
        {"SCYLLABATCH_HOSTS": " 10.1.2.3, db2:9142 ,", "SCYLLABATCH_PORT": "9043"}, tmp_path
    )
    assert plan.hosts == ("10.1.2.3", "db2:9142")
    assert plan.port == 9043
    assert plan.start_node is False
    assert plan.node_dir is None


def test_without_hosts_a_local_node_is_planned_in_the_scratch_directory(tmp_path: Path) -> None:
    plan = plan_cluster({}, tmp_path / "node")
    assert plan.start_node is True
    assert plan.hosts == ("127.0.0.1",)
    assert plan.node_address == "127.0.0.1"
    assert plan.port == 9042
    assert plan.node_dir == (tmp_path / "node").resolve()
    assert plan.node_thresholds == "scylla"


def test_the_local_node_takes_its_address_directory_and_limits_from_the_environment(
    tmp_path: Path,
) -> None:
    environ = {
        "SCYLLABATCH_HOSTS": "  ",
        "SCYLLABATCH_NODE_ADDRESS": "127.0.0.31",
        "SCYLLABATCH_NODE_DIR": str(tmp_path / "mine"),
        "SCYLLABATCH_NODE_TIMEOUT": "120",
        "SCYLLABATCH_NODE_THRESHOLDS": "Cassandra",
    }
    plan = plan_cluster(environ, tmp_path / "scratch")
    assert plan.start_node is True
    assert plan.hosts == ("127.0.0.31",)
    assert plan.node_dir == (tmp_path / "mine").resolve()
    assert plan.node_timeout == 120.0
    assert plan.node_thresholds == "cassandra"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SCYLLABATCH_NODE_ADDRESS": "10.0.0.5"}, "not an IPv4 loopback address"),
        ({"SCYLLABATCH_NODE_ADDRESS": "localhost"}, "not an IPv4 loopback address"),
        ({"SCYLLABATCH_HOSTS": "db", "SCYLLABATCH_PORT": "ninety"}, "not a port number"),
        ({"SCYLLABATCH_NODE_TIMEOUT": "soon"}, "is not seconds"),
    ],
)
def test_values_that_cannot_work_are_refused_with_the_variable_named(
    tmp_path: Path, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ClusterUnavailable, match=message) as info:
        plan_cluster(environ, tmp_path)
    assert next(iter(environ)) in str(info.value) or "SCYLLABATCH_PORT" in str(info.value)


# -- which baseline -----------------------------------------------------------------------------


def puts(count: int) -> list[PutOp]:
    return [PutOp(("users", str(i % 3)), f"k{i}", {"n": i}) for i in range(count)]


def test_puts_get_the_raw_batch_and_execute_concurrent_or_the_logged_batch() -> None:
    assert baselines_for(puts(5), "UNLOGGED") == ("raw_batch_unlogged", "raw_concurrent")
    assert baselines_for(puts(5), "unlogged") == ("raw_batch_unlogged", "raw_concurrent")
    assert baselines_for(puts(5), "LOGGED") == ("raw_batch_logged",)


def test_gets_get_concurrent_selects_whatever_the_batch_type() -> None:
    gets = [GetOp(("users", "1"), f"k{i}") for i in range(4)]
    assert baselines_for(gets, "UNLOGGED") == ("raw_get_concurrent",)
    assert baselines_for(gets, "LOGGED") == ("raw_get_concurrent",)


def test_a_mix_of_puts_and_gets_names_the_first_op_out_of_place() -> None:
    ops = [*puts(2), GetOp(("users", "1"), "k0")]
    with pytest.raises(StoreValidationError, match="op 2 is a GetOp") as info:
        baselines_for(ops, "UNLOGGED")
    assert info.value.op_index == 2


def test_deletes_and_empty_workloads_and_unknown_batch_types_are_refused() -> None:
    with pytest.raises(StoreValidationError, match="op 1 is a delete") as info:
        baselines_for([*puts(1), PutOp(("users",), "gone", None)], "UNLOGGED")
    assert (info.value.op_index, info.value.field) == (1, "value")
    with pytest.raises(StoreValidationError, match="no ops"):
        baselines_for([], "UNLOGGED")
    with pytest.raises(StoreValidationError, match="batch_type") as info:
        baselines_for(puts(1), "COUNTER")
    assert info.value.field == "batch_type"


def test_the_comparison_is_against_the_fastest_baseline() -> None:
    sdk = CallTimes("sdk", "SDK", 10, median_ms=2.0, mean_ms=2.5, cpu_ms_per_call=1.0)
    slow = CallTimes("raw_concurrent", "c", 10, median_ms=4.0, mean_ms=4.0, cpu_ms_per_call=3.0)
    fast = CallTimes("raw_batch_unlogged", "b", 10, median_ms=1.0, mean_ms=1.0, cpu_ms_per_call=0.5)
    comparison = BaselineComparison(10, "UNLOGGED", sdk, (slow, fast))
    assert comparison.best is fast
    assert comparison.speed_vs_raw == pytest.approx(0.5)  # the SDK takes twice as long
    assert comparison.cpu_vs_raw == pytest.approx(2.0)
    info = comparison.extra_info()
    assert info["baseline"] == "raw_batch_unlogged"
    assert info["baselines"] == {"raw_concurrent": 4.0, "raw_batch_unlogged": 1.0}
    assert "0.50x speed" in comparison.summary()


# -- what an unused plugin costs ----------------------------------------------------------------

UNUSED = """
import sys

import pytest


@pytest.fixture
def store():
    return "the project's own store"


@pytest.fixture
def keyspace():
    return "the project's own keyspace"


def test_own_fixtures_of_the_same_names_win(store, keyspace):
    assert store == "the project's own store"
    assert keyspace == "the project's own keyspace"


def test_nothing_of_scyllabatch_or_the_driver_was_imported():
    assert "pytest_scyllabatch" in sys.modules  # the plugin is loaded ...
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("scyllabatch", "cassandra"))
    assert loaded == []  # ... and imported nothing: no connection, no node
"""


def test_a_run_that_uses_no_fixture_of_the_plugin_imports_nothing_and_starts_nothing(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Were anything started, it would be a node on an address nothing else uses.
    monkeypatch.delenv("SCYLLABATCH_HOSTS", raising=False)
    monkeypatch.setenv("SCYLLABATCH_NODE_ADDRESS", "127.0.0.45")
    monkeypatch.setenv("SCYLLABATCH_NODE_DIR", str(pytester.path / "node"))
    pytester.makepyfile(test_unused=UNUSED)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert not (pytester.path / "node").exists()


def test_the_entry_point_registers_the_fixtures_and_can_be_turned_off(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    listed = pytester.runpytest("--fixtures", "-p", "no:cacheprovider")
    assert listed.ret == 0
    text = listed.stdout.str()
    for name in FIXTURES:
        assert name in text, f"{name} missing from pytest --fixtures"
    assert "pytest_scyllabatch.py" in text
    off = pytester.runpytest("--fixtures", "-p", "no:scyllabatch")
    assert off.ret == 0
    assert "scyllabatch_store" not in off.stdout.str()
