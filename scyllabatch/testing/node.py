"""Start, stop and inspect a CQL database for tests: the code behind ``tools/dbnode.py`` and the
pytest plugin's local node.

Usage::

    python -m scyllabatch.testing.node start [--cassandra-thresholds] [--timeout S] [--backend B]
    python -m scyllabatch.testing.node status
    python -m scyllabatch.testing.node logs [-n N]
    python -m scyllabatch.testing.node stop [--keep-data]
    python -m scyllabatch.testing.node start --nodes 3 [--first-address 127.0.0.1] [--heap 768M]
    python -m scyllabatch.testing.node status|logs|stop|hosts --nodes 3

In this repository ``tools/dbnode.py`` runs the same commands with the checkout's directories
(``<repo>/.dbnode``, ``<repo>/.dbcluster``) and its ``docker-compose.yml``; run as a module, the
directories default to ``.dbnode`` and ``.dbcluster`` in the current directory and Docker is not
used.

``--commitlog periodic|batch`` picks the node's commitlog sync mode: ``periodic`` (the default
for one node) fsyncs every 10 s, so a crash (SIGKILL, power loss) may lose the last ~10 s of
writes the node acknowledged; ``batch`` (the default for a cluster, used by the fault tests)
fsyncs before acknowledging, so nothing acknowledged is lost.

``--nodes N`` (N > 1) runs a local Apache Cassandra cluster: N nodes on consecutive loopback
addresses from ``--first-address`` (default 127.0.0.1, or ``SCYLLABATCH_CLUSTER_FIRST_ADDRESS``),
same ports on each, one directory each under ``SCYLLABATCH_CLUSTER_DIR`` (default
``.dbcluster``), started one after another and ready when every node answers CQL and lists every
other one in ``system.peers`` with its tokens. ``<dir>/cluster.json`` records the addresses and
pids; ``stop --nodes N`` stops exactly those processes.

Where the database comes from (first match wins, or forced with ``--backend`` /
``SCYLLABATCH_NODE_BACKEND``):

``external``
    ``SCYLLABATCH_HOSTS`` is set (comma-separated hosts, port from ``SCYLLABATCH_PORT``,
    default 9042). Nothing is started: ``start`` waits until the cluster answers a query and
    ``stop`` does nothing.
``docker``
    (``tools/dbnode.py`` only) A Docker engine answers: the ``scylla`` service of the
    repository's ``docker-compose.yml`` (ScyllaDB) is brought up and waited for until healthy.
``cassandra``
    Otherwise, Apache Cassandra 5.0 (``org.apache.cassandra:cassandra-all`` from Maven Central,
    resolved once by the ``cassandra-pom.xml`` next to this module into
    ``${XDG_CACHE_HOME:-~/.cache}/scyllabatch/cassandra-<version>/lib``; needs ``mvn`` and Java
    11 or 17) runs as a single local node on ``SCYLLABATCH_NODE_ADDRESS`` (default 127.0.0.1),
    port 9042, in a fresh directory (``SCYLLABATCH_NODE_DIR``) that ``stop`` removes again.

Other environment variables: ``SCYLLABATCH_NODE_THRESHOLDS=cassandra`` (same as
``--cassandra-thresholds``: Cassandra's stock 5/50 KiB batch size thresholds instead of
ScyllaDB's 128/1024 KiB), ``SCYLLABATCH_NODE_TIMEOUT`` (seconds to wait for readiness),
``SCYLLABATCH_CASSANDRA_VERSION`` (override the version pinned in the pom), ``JAVA_HOME``.

Exit codes: 0 success / database up; 1 failure; 2 usage error; 3 (``status``) database not up.

Only the standard library is needed. The readiness query uses the Python driver
(``scylla-driver`` / ``cassandra-driver``) when it is importable, and otherwise a minimal
built-in CQL (native protocol v4) client.

This module is the public entry point; the code lives in private modules next to it, whose names
it re-exports: ``_node_base`` (ports, exit codes, ``NodeError``, ``Options``, ``Backend``),
``_node_cql`` (is a CQL server up), ``_node_process`` (local processes, logs, locks),
``_node_config`` (Java, ``cassandra.yaml``, ``logback.xml``), ``_node_cassandra`` (the single
node), ``_node_ring`` (the local cluster), ``_node_external`` (``SCYLLABATCH_HOSTS`` and Docker)
and ``_node_cli`` (the command line).
"""

from __future__ import annotations

import os
import sys

# The parts are imported relatively: tools/dbnode.py loads this directory as a package of its own,
# without ``scyllabatch/__init__.py`` and so without the driver, for machines with no virtualenv.
from ._node_base import (
    CQL_PORT,
    DEFAULT_TIMEOUT,
    EXIT_DOWN,
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    HOST,
    INFO_FILE,
    MAIN_CLASS,
    OWNER_MARK,
    OWNER_TEXT,
    PID_FILE,
    STDOUT_LOG,
    STOP_TIMEOUT,
    STORAGE_PORT,
    SYSTEM_LOG,
    Backend,
    NodeError,
    Options,
    say,
)
from ._node_cassandra import (
    LAUNCHED,
    CassandraBackend,
)
from ._node_cli import (
    NODE_ADDRESS_ENV,
    Places,
    choose_backend,
    cluster_backend,
    main,
    node_address,
    parse_args,
)
from ._node_config import (
    CLUSTER_NAME,
    JVM17_ADD_EXPORTS,
    JVM17_ADD_OPENS,
    POM_FILE,
    THRESHOLDS,
    cassandra_yaml,
    find_java,
    logback_xml,
    pinned_version,
)
from ._node_cql import (
    RELEASE_QUERY,
    existing_cql_server,
    port_open,
    release_version,
    try_release_version,
    wait_for_cql,
)
from ._node_external import (
    COMPOSE_SERVICE,
    DockerBackend,
    ExternalBackend,
    compose_command,
    docker_engine_available,
    run_quiet,
)
from ._node_process import (
    cache_root,
    exclusive_lock,
    find_node_pids,
    format_bytes,
    is_cassandra,
    proc_cmdline,
    rss_bytes,
    tail,
    terminate,
)
from ._node_ring import (
    CLUSTER_STATE,
    CLUSTER_SUPERUSER_DELAY_MS,
    RING_QUERY,
    ClusterBackend,
    balanced_tokens,
    consecutive_addresses,
    ring_ready,
    ring_view,
    wait_for_ring,
)

__all__ = [
    "CLUSTER_NAME",
    "CLUSTER_STATE",
    "CLUSTER_SUPERUSER_DELAY_MS",
    "COMPOSE_SERVICE",
    "CQL_PORT",
    "DEFAULT_TIMEOUT",
    "EXIT_DOWN",
    "EXIT_FAIL",
    "EXIT_OK",
    "EXIT_USAGE",
    "HOST",
    "INFO_FILE",
    "JVM17_ADD_EXPORTS",
    "JVM17_ADD_OPENS",
    "LAUNCHED",
    "MAIN_CLASS",
    "NODE_ADDRESS_ENV",
    "OWNER_MARK",
    "OWNER_TEXT",
    "PID_FILE",
    "POM_FILE",
    "RELEASE_QUERY",
    "RING_QUERY",
    "STDOUT_LOG",
    "STOP_TIMEOUT",
    "STORAGE_PORT",
    "SYSTEM_LOG",
    "THRESHOLDS",
    "Backend",
    "CassandraBackend",
    "ClusterBackend",
    "DockerBackend",
    "ExternalBackend",
    "NodeError",
    "Options",
    "Places",
    "balanced_tokens",
    "cache_root",
    "cassandra_yaml",
    "choose_backend",
    "cluster_backend",
    "compose_command",
    "consecutive_addresses",
    "docker_engine_available",
    "exclusive_lock",
    "existing_cql_server",
    "find_java",
    "find_node_pids",
    "format_bytes",
    "is_cassandra",
    "logback_xml",
    "main",
    "node_address",
    "parse_args",
    "pinned_version",
    "port_open",
    "proc_cmdline",
    "release_version",
    "ring_ready",
    "ring_view",
    "rss_bytes",
    "run_quiet",
    "say",
    "tail",
    "terminate",
    "try_release_version",
    "wait_for_cql",
    "wait_for_ring",
]


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_FAIL)
