"""Shared fixtures.

Integration tests run against the CQL node named by ``SCYLLABATCH_HOSTS`` (``make test`` starts
one and sets it). They are never skipped: without a reachable node they fail and say how to start
one. Every integration test gets its own keyspace, so tests never see each other's data.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

HOSTS_ENV = "SCYLLABATCH_HOSTS"
_counter = itertools.count()


def node_hosts() -> list[str]:
    value = os.environ.get(HOSTS_ENV, "").strip()
    if not value:
        pytest.fail(
            f"{HOSTS_ENV} is not set: integration tests need a running CQL node. Start one with "
            "`make node-start` (Cassandra 5 from Maven Central, or ScyllaDB via docker compose) "
            f"and export {HOSTS_ENV}=127.0.0.1, or run `make test`, which does both.",
            pytrace=False,
        )
    return [h.strip() for h in value.split(",") if h.strip()]


def node_port() -> int:
    return int(os.environ.get("SCYLLABATCH_PORT", "9042"))


@pytest.fixture(scope="session")
def cql_session() -> Iterator[Any]:
    """One driver session for the whole run (connecting is slow)."""
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
    from cassandra.policies import RoundRobinPolicy

    hosts = node_hosts()
    profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy(), request_timeout=60)
    cluster = Cluster(
        contact_points=hosts,
        port=node_port(),
        connect_timeout=10,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
    )
    try:
        session = cluster.connect()
    except NoHostAvailable as exc:
        cluster.shutdown()
        pytest.fail(
            f"no CQL node answers at {hosts}:{node_port()} ({exc}). Start one with "
            "`make node-start` (or `python tools/dbnode.py start`), or point "
            f"{HOSTS_ENV} at a running cluster.",
            pytrace=False,
        )
    yield session
    cluster.shutdown()


@pytest.fixture
def keyspace(cql_session: Any) -> Iterator[str]:
    """A fresh keyspace name for this test (created by the store's setup())."""
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
