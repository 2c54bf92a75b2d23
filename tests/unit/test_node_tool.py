"""The node tool's shape without a database: ``scyllabatch.testing.node`` keeps every name its
callers import while its code lives in private modules, both ways of running it find those
modules, and the pom it resolves Cassandra with ships next to it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scyllabatch.testing import node

TOOL = Path(__file__).resolve().parents[2] / "tools" / "dbnode.py"

# What the pytest plugin, the cluster and authentication tests and the tools use of the module.
NAMES_IN_USE = (
    "CQL_PORT",
    "DEFAULT_TIMEOUT",
    "EXIT_FAIL",
    "HOST",
    "STOP_TIMEOUT",
    "STORAGE_PORT",
    "CassandraBackend",
    "NodeError",
    "Options",
    "Places",
    "cassandra_yaml",
    "cluster_backend",
    "find_node_pids",
    "logback_xml",
    "main",
    "node_address",
    "port_open",
    "proc_cmdline",
    "tail",
    "terminate",
    "wait_for_ring",
)


def test_the_names_callers_use_are_exported() -> None:
    assert set(NAMES_IN_USE) <= set(node.__all__)
    for name in node.__all__:
        assert getattr(node, name) is not None, name


def test_exported_names_are_the_objects_the_parts_use() -> None:
    # One object, not a copy: the cluster tests' restarted nodes join the list that start uses.
    from scyllabatch.testing import _node_cassandra, _node_cli

    assert node.LAUNCHED is _node_cassandra.LAUNCHED
    assert node.ClusterBackend is _node_cli.ClusterBackend


def test_the_pinned_cassandra_version_comes_from_the_pom_next_to_the_module() -> None:
    assert node.POM_FILE.parent == Path(node.__file__).resolve().parent
    assert node.pinned_version().startswith("5.0.")


def run(cluster_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run Python with ``args``; the cluster state is read from ``cluster_dir`` (empty), so a
    cluster left running in the checkout (``make cluster-start``) cannot change the answer:
    ``hosts`` prints a running cluster's recorded addresses."""
    env = {**os.environ, "SCYLLABATCH_CLUSTER_DIR": str(cluster_dir)}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )


def test_the_module_runs_as_a_command(tmp_path: Path) -> None:
    args = ("hosts", "--nodes", "3", "--first-address", "127.0.0.21")
    done = run(tmp_path, "-m", "scyllabatch.testing.node", *args)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "127.0.0.21,127.0.0.22,127.0.0.23\n"


def test_the_repository_wrapper_imports_neither_scyllabatch_nor_the_driver(tmp_path: Path) -> None:
    if not TOOL.is_file():
        pytest.skip("tools/dbnode.py is in the repository only, not in the sdist or wheel tests")
    probe = (
        "import sys\n"
        f"sys.path.insert(0, {str(TOOL.parent)!r})\n"
        "import dbnode\n"
        "code = dbnode.node.main(['hosts', '--nodes', '2', '--first-address', '127.0.0.21'])\n"
        "top = {m.split('.')[0] for m in sys.modules}\n"
        "loaded = sorted(top & {'scyllabatch', 'cassandra'})\n"
        "print(code, loaded)\n"
    )
    done = run(tmp_path, "-c", probe)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "127.0.0.21,127.0.0.22\n0 []\n"
