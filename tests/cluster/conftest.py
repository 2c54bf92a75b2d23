"""Fixtures for the cluster tests: a real multi-node ring, and control over its nodes.

The ring comes from ``tools/dbnode.py start --nodes 3`` (``make cluster-start``, or the cluster
stage of ``make test``). ``SCYLLABATCH_CLUSTER_HOSTS`` names its nodes (comma-separated, first
one first); the node pids come from dbnode's state file (``cluster.json`` in
``SCYLLABATCH_CLUSTER_DIR``, default ``<repo>/.dbcluster``), so a test can SIGKILL, SIGSTOP or
restart exactly one node. Every test that disturbs a node puts it back in ``finally`` and waits
for the whole ring to be up and normal again, so a failing test leaves a healthy ring.

These tests carry the ``cluster`` marker and are left out of every run whose ``-m`` expression
does not mention ``cluster``: ``pytest -m cluster tests/cluster`` runs them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from scyllabatch.testing import node as dbnode

HOSTS_ENV = "SCYLLABATCH_CLUSTER_HOSTS"
REPO_ROOT = Path(__file__).resolve().parents[2]
RING_TIMEOUT = 240.0
_counter = itertools.count()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave cluster tests out unless the ``-m`` expression asks for them."""
    if "cluster" in (config.getoption("markexpr") or ""):
        return
    kept, dropped = [], []
    for item in items:
        (dropped if item.get_closest_marker("cluster") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


class Ring:
    """The running cluster: its hosts, and signals to one node at a time."""

    def __init__(self, hosts: list[str]) -> None:
        self.dbnode = dbnode
        self.hosts = hosts
        self.backend = dbnode.cluster_backend(len(hosts), hosts[0], REPO_ROOT / ".dbcluster")
        recorded = self.backend.hosts()
        if recorded != hosts:
            pytest.fail(
                f"{HOSTS_ENV}={','.join(hosts)} but dbnode's cluster in {self.backend.dir} runs "
                f"on {recorded}",
                pytrace=False,
            )

    def pid(self, host: str) -> int:
        """The live pid of the node on ``host`` (from dbnode's state, checked in /proc)."""
        pids = self.backend.node(self.hosts.index(host)).running_pids()
        assert len(pids) == 1, f"node {host} has pids {pids}"
        return int(pids[0])

    def signal(self, host: str, sig: signal.Signals) -> None:
        os.kill(self.pid(host), sig)

    def kill(self, host: str) -> None:
        """SIGKILL: a crash; the node's commitlog is replayed when it starts again."""
        pid = self.pid(host)
        os.kill(pid, signal.SIGKILL)
        self._wait_gone(pid)

    def stop(self, host: str) -> None:
        """SIGTERM: a clean shutdown, announced to the other nodes by gossip."""
        pid = self.pid(host)
        os.kill(pid, signal.SIGTERM)
        self._wait_gone(pid)

    def _wait_gone(self, pid: int) -> None:
        deadline = time.monotonic() + 90
        while self.dbnode.proc_cmdline(pid):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            assert time.monotonic() < deadline, f"pid {pid} did not end"
            time.sleep(0.05)

    def is_running(self, host: str) -> bool:
        return bool(self.backend.node(self.hosts.index(host)).running_pids())

    def restart(self, host: str) -> float:
        """Start a stopped node on its data again; returns seconds until it answers CQL."""
        began = time.monotonic()
        self.backend.restart_node(self.hosts.index(host), timeout=RING_TIMEOUT)
        return time.monotonic() - began

    def heal(self) -> None:
        """Resume paused nodes, start stopped ones (together), and wait until the ring is whole
        again."""
        stopped = []
        for index, host in enumerate(self.hosts):
            if self.is_running(host):
                with contextlib.suppress(ProcessLookupError):
                    self.signal(host, signal.SIGCONT)
            else:
                stopped.append(index)
        if stopped:
            self.backend.restart_nodes(stopped, timeout=RING_TIMEOUT)
        self.wait_ready()

    def wait_ready(self) -> None:
        self.dbnode.wait_for_ring(self.hosts, 9042, RING_TIMEOUT)


def cluster_hosts() -> list[str]:
    value = os.environ.get(HOSTS_ENV, "").strip()
    if not value:
        pytest.fail(
            f"{HOSTS_ENV} is not set: cluster tests need the local 3-node cluster. Start it with "
            f"`make cluster-start` and export {HOSTS_ENV}=127.0.0.1,127.0.0.2,127.0.0.3, or run "
            "`make test`, which does both.",
            pytrace=False,
        )
    return [h.strip() for h in value.split(",") if h.strip()]


@pytest.fixture(scope="session")
def ring() -> Iterator[Ring]:
    """The cluster, checked to be whole before the first test and healed after the last."""
    ring = Ring(cluster_hosts())
    ring.wait_ready()
    yield ring
    ring.heal()


@pytest.fixture
def healthy_ring(ring: Ring) -> Iterator[Ring]:
    """The ring for a test that disturbs nodes: healed in teardown, whatever happened."""
    yield ring
    ring.heal()


@pytest.fixture
def cluster_keyspace(ring: Ring) -> Iterator[str]:
    """A fresh keyspace name, dropped after the test (if the ring lets us)."""
    name = f"c_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    yield name
    from cassandra.cluster import Cluster

    cluster = Cluster(ring.hosts, connect_timeout=10)
    with contextlib.suppress(Exception):
        cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=60)
    cluster.shutdown()
