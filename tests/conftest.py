"""Shared fixtures, on top of scyllabatch's own pytest plugin (``pytest_scyllabatch``), so that
every integration run exercises it.

Integration tests run against the cluster of the plugin's ``scyllabatch_cluster``: the CQL node
named by ``SCYLLABATCH_HOSTS`` (``make test`` starts one and sets it), or else a local node that
the plugin starts for the run. They are never skipped: without a reachable node they fail and say
what to do. Every integration test gets its own keyspace, so tests never see each other's data.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from scyllabatch.testing.cluster import ClusterPlan, ReadyCluster

# pytester runs a user's test files with the plugin in tests/*/test_pytest_plugin*.py.
pytest_plugins = ["pytester"]
_counter = itertools.count()


def _plan() -> ClusterPlan:
    """The plugin's decision for this environment (no I/O)."""
    from scyllabatch.testing.cluster import ClusterUnavailable, plan_cluster

    try:
        return plan_cluster(os.environ, Path(".dbnode"))
    except ClusterUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


def node_hosts() -> list[str]:
    """The hosts of the run's cluster: ``SCYLLABATCH_HOSTS``, else the plugin's local node."""
    return list(_plan().hosts)


def node_port() -> int:
    """The CQL port of the run's cluster."""
    return _plan().port


@pytest.fixture(scope="session")
def cql_session(scyllabatch_cluster: ReadyCluster) -> Any:
    """One driver session for the whole run (connecting is slow): the plugin's."""
    return scyllabatch_cluster.session


@pytest.fixture
def keyspace(cql_session: Any) -> Iterator[str]:
    """A fresh keyspace name that nothing uses yet: the test's store creates it (or a test checks
    what happens when it is missing). Dropped after the test.

    Unlike the plugin's ``scyllabatch_keyspace``, which creates its keyspace itself."""
    name = f"t_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    yield name
    with contextlib.suppress(Exception):
        cql_session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=60)


def wait_until(
    predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


async def async_wait_until(
    predicate: Callable[[], Awaitable[Any]],
    timeout: float = 30.0,
    interval: float = 0.05,
    what: str = "",
) -> Any:
    """Async twin of :func:`wait_until`."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(interval)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under ``tests/integration`` as ``integration`` (a ``pytestmark`` in a
    conftest marks nothing), so ``-m "not integration"`` runs without a node."""
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)
