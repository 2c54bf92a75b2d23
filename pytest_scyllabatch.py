"""scyllabatch's pytest plugin: a ready cluster, stores in throw-away keyspaces, and benchmarks of
``batch()`` workloads next to the raw driver.

Registered under the ``pytest11`` entry point ``scyllabatch`` when scyllabatch is installed
(``pip install "scyllabatch[pytest]"`` also brings pytest and pytest-benchmark); ``-p
no:scyllabatch`` turns it off. Every fixture is prefixed ``scyllabatch_`` so that it never meets
a fixture of a project's own, and nothing here imports scyllabatch, connects or starts a node
until a test asks for one of them: a test run that uses none of them pays nothing.

Fixtures (docs/testing-with-pytest.md has examples):

``scyllabatch_cluster`` (session)
    The cluster of the run: ``SCYLLABATCH_HOSTS`` if set, else a local Cassandra node started
    for the run and stopped after it. Its ``session`` is one driver session shared by all tests.
``scyllabatch_keyspace``
    A keyspace created for the test (fresh name, one replica) and dropped after it.
``scyllabatch_store`` / ``scyllabatch_async_store``
    A set-up :class:`~scyllabatch.Store` / :class:`~scyllabatch.AsyncStore` in that keyspace.
``scyllabatch_store_options``
    ``StoreConfig`` fields for both stores (default none): override it to configure them.
``scyllabatch_benchmark``
    Runs a ``batch()`` workload under pytest-benchmark next to the raw driver code doing the
    same work, and returns the ratios.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from scyllabatch import AsyncStore, Store
    from scyllabatch.testing.benchmark import BaselineComparison, BatchBenchmark
    from scyllabatch.testing.cluster import ReadyCluster

_COMPARISONS = pytest.StashKey[list[tuple[str, "BaselineComparison"]]]()


@pytest.fixture(scope="session")
def scyllabatch_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReadyCluster]:
    """The run's cluster and one driver session on it (``.hosts``, ``.port``, ``.session``).

    ``SCYLLABATCH_HOSTS`` (comma-separated, ``host`` or ``host:port``) names a running cluster,
    used as it is. Without it a local Apache Cassandra node is started on
    ``SCYLLABATCH_NODE_ADDRESS`` (default 127.0.0.1; Java 17 and Maven needed) and stopped when
    the run ends; ``.started_node`` says which happened.
    """
    from scyllabatch.testing.cluster import ClusterUnavailable, plan_cluster, ready_cluster

    with contextlib.ExitStack() as stack:
        try:
            plan = plan_cluster(os.environ, tmp_path_factory.mktemp("scyllabatch") / "node")
            cluster = stack.enter_context(ready_cluster(plan))
        except ClusterUnavailable as exc:
            pytest.fail(f"scyllabatch_cluster: {exc}", pytrace=False)
        yield cluster


@pytest.fixture
def scyllabatch_keyspace(scyllabatch_cluster: ReadyCluster) -> Iterator[str]:
    """A keyspace created for this test (fresh name, one replica), dropped after it."""
    with scyllabatch_cluster.scratch_keyspace() as name:
        yield name


@pytest.fixture
def scyllabatch_store_options() -> dict[str, Any]:
    """``StoreConfig`` fields for ``scyllabatch_store`` and ``scyllabatch_async_store``.

    Empty: the defaults. Override it in a conftest or test module, e.g. to return
    ``{"created_at_mode": "write_only"}``.
    """
    return {}


@pytest.fixture
def scyllabatch_store(
    scyllabatch_cluster: ReadyCluster,
    scyllabatch_keyspace: str,
    scyllabatch_store_options: dict[str, Any],
) -> Iterator[Store]:
    """A set-up blocking :class:`~scyllabatch.Store` in the test's own keyspace."""
    from scyllabatch import Store

    config = scyllabatch_cluster.store_config(scyllabatch_keyspace, **scyllabatch_store_options)
    store = Store(scyllabatch_cluster.session, config=config)
    store.setup()
    yield store
    store.close()


@pytest.fixture
def scyllabatch_async_store(
    scyllabatch_cluster: ReadyCluster,
    scyllabatch_keyspace: str,
    scyllabatch_store_options: dict[str, Any],
) -> Iterator[AsyncStore]:
    """A set-up :class:`~scyllabatch.AsyncStore` in the test's own keyspace.

    A plain fixture (set up on a private event loop), so it works with any async test runner
    (pytest-asyncio in strict or auto mode, anyio).
    """
    from scyllabatch import AsyncStore
    from scyllabatch.testing.cluster import run_coroutine

    config = scyllabatch_cluster.store_config(scyllabatch_keyspace, **scyllabatch_store_options)
    store = AsyncStore(scyllabatch_cluster.session, config=config)
    run_coroutine(store.asetup())
    yield store
    run_coroutine(store.aclose())


@pytest.fixture
def scyllabatch_benchmark(
    request: pytest.FixtureRequest, scyllabatch_store: Store, scyllabatch_keyspace: str
) -> BatchBenchmark:
    """Benchmark a ``batch()`` workload with the raw driver beside it (needs pytest-benchmark).

    ``scyllabatch_benchmark(ops, batch_type="UNLOGGED", rounds=20, warmup_rounds=2,
    store=None)`` times ``scyllabatch_store.batch(ops)`` as the test's benchmark and the best
    hand-written driver code for the same ops in the same rounds; it returns a
    ``BaselineComparison`` (``speed_vs_raw``, ``cpu_vs_raw``, medians), saves it in
    ``extra_info["scyllabatch"]`` and prints it at the end of the run.
    """
    try:
        benchmark = request.getfixturevalue("benchmark")
    except pytest.FixtureLookupError:
        pytest.fail(
            "scyllabatch_benchmark needs pytest-benchmark: pip install 'scyllabatch[pytest]'",
            pytrace=False,
        )
    from scyllabatch.testing.benchmark import BatchBenchmark

    comparisons = request.config.stash.setdefault(_COMPARISONS, [])

    def report(comparison: BaselineComparison) -> None:
        comparisons.append((request.node.nodeid, comparison))

    return BatchBenchmark(benchmark, scyllabatch_store, scyllabatch_keyspace, report)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the SDK-vs-raw comparisons of the run, if any test made one."""
    comparisons = config.stash.get(_COMPARISONS, [])
    if not comparisons:
        return
    terminalreporter.write_sep("-", "scyllabatch: the SDK next to the raw driver, same rounds")
    for nodeid, comparison in comparisons:
        terminalreporter.write_line(f"{nodeid}: {comparison.summary()}")
