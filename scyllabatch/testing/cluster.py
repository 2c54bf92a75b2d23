"""The cluster a test run uses: the one ``SCYLLABATCH_HOSTS`` names, or a local node started for
the run (and stopped after it), with one driver session on it for every test.

The choice is :func:`plan_cluster` (no I/O, so it is unit-tested as it is); :func:`ready_cluster`
carries it out. Environment variables:

``SCYLLABATCH_HOSTS``
    Comma-separated hosts (``host`` or ``host:port``) of a running cluster. Nothing is started
    or stopped. ``SCYLLABATCH_PORT`` (default 9042), ``SCYLLABATCH_USERNAME`` and
    ``SCYLLABATCH_PASSWORD`` apply as they do for the command-line tools.
otherwise a local node
    Apache Cassandra 5.0 from Maven Central (needs ``mvn`` once, and Java 11 or 17), started by
    :mod:`scyllabatch.testing.node` on ``SCYLLABATCH_NODE_ADDRESS`` (a loopback address, default
    127.0.0.1) port 9042, in ``SCYLLABATCH_NODE_DIR`` (default: a directory under pytest's
    temporary directory). If that address already answers CQL, the node there is used and left
    running. ``SCYLLABATCH_NODE_TIMEOUT`` (seconds, default 300) bounds the start and
    ``SCYLLABATCH_NODE_THRESHOLDS=cassandra`` gives it Cassandra's stock batch size thresholds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Coroutine, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scyllabatch.testing import node

HOSTS_ENV = "SCYLLABATCH_HOSTS"
PORT_ENV = "SCYLLABATCH_PORT"
USERNAME_ENV = "SCYLLABATCH_USERNAME"
PASSWORD_ENV = "SCYLLABATCH_PASSWORD"
NODE_DIR_ENV = "SCYLLABATCH_NODE_DIR"
NODE_TIMEOUT_ENV = "SCYLLABATCH_NODE_TIMEOUT"
NODE_THRESHOLDS_ENV = "SCYLLABATCH_NODE_THRESHOLDS"
# Generous for schema changes on a busy test machine; the stores use their own timeouts.
SESSION_REQUEST_TIMEOUT = 60.0
CONNECT_TIMEOUT = 10.0


def run_coroutine(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coroutine`` to the end on a private event loop, leaving the thread's current loop
    (an async test runner's) exactly as it was."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


class ClusterUnavailable(Exception):
    """No cluster could be had for the test run; the message says what to do."""


@dataclass(frozen=True)
class ClusterPlan:
    """What a test run will use: given hosts, or a local node to start at ``node_address``."""

    hosts: tuple[str, ...]
    port: int
    start_node: bool
    node_dir: Path | None = None
    node_timeout: float = node.DEFAULT_TIMEOUT
    node_thresholds: str = "scylla"

    @property
    def node_address(self) -> str:
        """The local node's address (the one host when ``start_node``)."""
        return self.hosts[0]


def plan_cluster(environ: Mapping[str, str], scratch_dir: Path) -> ClusterPlan:
    """Decide from the environment which cluster to use; ``scratch_dir`` is where a local node
    lives unless ``SCYLLABATCH_NODE_DIR`` says otherwise. Raises :class:`ClusterUnavailable` for
    values that cannot work."""
    port_text = environ.get(PORT_ENV, "").strip() or str(node.CQL_PORT)
    try:
        port = int(port_text)
    except ValueError:
        raise ClusterUnavailable(f"{PORT_ENV}={port_text!r} is not a port number") from None
    hosts = tuple(h.strip() for h in environ.get(HOSTS_ENV, "").split(",") if h.strip())
    if hosts:
        return ClusterPlan(hosts, port, start_node=False)
    try:
        address = node.node_address(environ)
    except node.NodeError as exc:
        raise ClusterUnavailable(str(exc)) from None
    timeout_text = environ.get(NODE_TIMEOUT_ENV, "").strip() or str(node.DEFAULT_TIMEOUT)
    try:
        timeout = float(timeout_text)
    except ValueError:
        raise ClusterUnavailable(f"{NODE_TIMEOUT_ENV}={timeout_text!r} is not seconds") from None
    node_dir = Path(environ.get(NODE_DIR_ENV, "").strip() or scratch_dir).resolve()
    thresholds = (
        "cassandra" if environ.get(NODE_THRESHOLDS_ENV, "").lower() == "cassandra" else "scylla"
    )
    return ClusterPlan(
        (address,),
        node.CQL_PORT,
        start_node=True,
        node_dir=node_dir,
        node_timeout=timeout,
        node_thresholds=thresholds,
    )


class ReadyCluster:
    """A cluster that answers CQL, and one driver session on it for the whole test run.

    ``session`` is a plain driver session (the driver's row tuples with names, round-robin,
    60 s request timeout for schema changes) with the socket settings of ``Store.connect``
    (``TCP_NODELAY``, no compression). Stores built on it get the SDK's own execution profile.
    ``started_node`` says whether the run started a local node (it is stopped at the end).
    """

    def __init__(
        self,
        hosts: tuple[str, ...],
        port: int,
        session: Any,
        *,
        started_node: bool,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.hosts = hosts
        self.port = port
        self.session = session
        self.started_node = started_node
        self._credentials = credentials

    def store_config(self, keyspace: str, **options: Any) -> Any:
        """A :class:`~scyllabatch.StoreConfig` for a store on this cluster in ``keyspace``;
        ``options`` are any other ``StoreConfig`` fields."""
        from scyllabatch.config import StoreConfig

        if self._credentials is not None:
            options.setdefault("username", self._credentials[0])
            options.setdefault("password", self._credentials[1])
        return StoreConfig(hosts=self.hosts, port=self.port, keyspace=keyspace, **options)

    @contextlib.contextmanager
    def scratch_keyspace(self) -> Iterator[str]:
        """Create a keyspace with a fresh name (one replica), yield the name, drop it after.

        Created with a plain ``CREATE KEYSPACE``: a name that is already taken is refused and
        left alone, so only what was created here is ever dropped.
        """
        from scyllabatch._scratch import fresh_name, replication_for, scratch_keyspace

        name = fresh_name("pytest")
        with scratch_keyspace(self.session, name, replication_for(None), tool="pytest plugin"):
            yield name


def _connect(
    plan: ClusterPlan, environ: Mapping[str, str]
) -> tuple[Any, Any, tuple[str, str] | None]:
    """The driver cluster and session for ``plan`` (credentials from the environment)."""
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import RoundRobinPolicy

    from scyllabatch import _driver
    from scyllabatch.config import StoreConfig
    from scyllabatch.errors import StoreError

    username = environ.get(USERNAME_ENV, "").strip() or None
    password = environ.get(PASSWORD_ENV) if username else None
    credentials = (username, password or "") if username else None
    try:
        config = StoreConfig(hosts=plan.hosts, port=plan.port, username=username, password=password)
        points = _driver.contact_points(config)
    except StoreError as exc:
        raise ClusterUnavailable(f"{HOSTS_ENV}={','.join(plan.hosts)}: {exc}") from None
    profile = ExecutionProfile(
        load_balancing_policy=RoundRobinPolicy(), request_timeout=SESSION_REQUEST_TIMEOUT
    )
    cluster = Cluster(
        contact_points=points,
        port=_driver.cluster_port(config),
        auth_provider=_driver._auth_provider(config),
        connect_timeout=CONNECT_TIMEOUT,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        sockopts=_driver.SOCKET_OPTIONS,
        compression=False,
    )
    try:
        session = cluster.connect()
    except Exception as exc:  # the driver raises many unrelated types; all mean "no cluster"
        cluster.shutdown()
        where = ", ".join(f"{host}:{port}" for host, port in points)
        hint = (
            f"point {HOSTS_ENV} at a running cluster"
            if not plan.start_node
            else "the node that was started stopped answering"
        )
        raise ClusterUnavailable(
            f"no CQL node answers at {where} ({type(exc).__name__}: {exc}): {hint}"
        ) from None
    return cluster, session, credentials


def _start_node(plan: ClusterPlan) -> node.CassandraBackend:
    assert plan.node_dir is not None
    backend = node.CassandraBackend(plan.node_dir, plan.node_address)
    options = node.Options(
        timeout=plan.node_timeout, thresholds=plan.node_thresholds, lines=50, keep_data=False
    )
    try:
        backend.start(options)
    except node.NodeError as exc:
        raise ClusterUnavailable(
            f"{HOSTS_ENV} is not set, and no local Cassandra node could be started on "
            f"{plan.node_address} in {plan.node_dir}: {exc}. Point {HOSTS_ENV} at a running "
            "cluster (e.g. SCYLLABATCH_HOSTS=127.0.0.1), or install Java 17 and Maven so the "
            "node can be fetched from Maven Central and started"
        ) from None
    return backend


def _stop_node(backend: node.CassandraBackend) -> None:
    options = node.Options(
        timeout=node.STOP_TIMEOUT, thresholds="scylla", lines=50, keep_data=False
    )
    backend.stop(options)


@contextlib.contextmanager
def ready_cluster(
    plan: ClusterPlan, environ: Mapping[str, str] = os.environ
) -> Iterator[ReadyCluster]:
    """Carry out ``plan``: start the local node if asked, connect, yield; then disconnect and
    stop the node, only if this call launched it. Raises :class:`ClusterUnavailable`."""
    backend = _start_node(plan) if plan.start_node else None
    started = backend is not None and backend.launched is not None
    try:
        cluster, session, credentials = _connect(plan, environ)
        try:
            yield ReadyCluster(
                plan.hosts, plan.port, session, started_node=started, credentials=credentials
            )
        finally:
            cluster.shutdown()
    finally:
        if backend is not None and started:
            _stop_node(backend)
