"""The command line of ``python -m scyllabatch.testing.node`` and ``tools/dbnode.py``: its
options, where nodes live when the environment does not say, the choice of backend, and ``main``.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ._node_base import (
    CQL_PORT,
    DEFAULT_TIMEOUT,
    EXIT_FAIL,
    EXIT_OK,
    HOST,
    Backend,
    NodeError,
    Options,
    say,
)
from ._node_cassandra import CassandraBackend
from ._node_external import DockerBackend, ExternalBackend, docker_engine_available
from ._node_ring import ClusterBackend

NODE_ADDRESS_ENV = "SCYLLABATCH_NODE_ADDRESS"


@dataclass(frozen=True)
class Places:
    """Where the command-line tool keeps its nodes when the environment does not say.

    ``node_dir`` and ``cluster_dir`` are the defaults of ``SCYLLABATCH_NODE_DIR`` and
    ``SCYLLABATCH_CLUSTER_DIR``; ``compose_file`` (a ``docker-compose.yml`` with a ``scylla``
    service) enables the Docker backend.
    """

    node_dir: Path = Path(".dbnode")
    cluster_dir: Path = Path(".dbcluster")
    compose_file: Path | None = None


def node_address(environ: Mapping[str, str] = os.environ) -> str:
    """The single node's loopback address: ``SCYLLABATCH_NODE_ADDRESS``, default 127.0.0.1."""
    address = environ.get(NODE_ADDRESS_ENV, "").strip() or HOST
    try:
        loopback = ipaddress.IPv4Address(address).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise NodeError(f"{NODE_ADDRESS_ENV}={address!r} is not an IPv4 loopback address")
    return address


def cluster_backend(
    nodes: int = 3, first_address: str | None = None, default_dir: Path = Places.cluster_dir
) -> ClusterBackend:
    """The local cluster of ``nodes`` nodes (directory and first address from the environment,
    else ``default_dir`` and 127.0.0.1)."""
    cluster_dir = Path(os.environ.get("SCYLLABATCH_CLUSTER_DIR") or default_dir)
    first = first_address or os.environ.get("SCYLLABATCH_CLUSTER_FIRST_ADDRESS") or HOST
    return ClusterBackend(cluster_dir.resolve(), first, nodes)


def choose_backend(
    forced: str,
    command: str,
    nodes: int = 1,
    first_address: str | None = None,
    places: Places = Places(),
) -> Backend:
    """Pick the backend: forced by option/env, else external > running local > docker > local.

    A local node that is running (or, for ``stop``/``logs``, left its directory behind) is
    managed even where a Docker engine has appeared since it was started. ``nodes`` above one
    always means the local multi-node Cassandra cluster. Docker is only considered when
    ``places`` names a compose file.
    """
    if nodes > 1:
        return cluster_backend(nodes, first_address, places.cluster_dir)
    node_dir = Path(os.environ.get("SCYLLABATCH_NODE_DIR") or places.node_dir).resolve()
    hosts = [h.strip() for h in os.environ.get("SCYLLABATCH_HOSTS", "").split(",") if h.strip()]
    port = int(os.environ.get("SCYLLABATCH_PORT") or CQL_PORT)
    if forced == "external" or (forced == "auto" and hosts):
        if not hosts:
            raise NodeError("--backend external needs SCYLLABATCH_HOSTS")
        return ExternalBackend(hosts, port)
    local = CassandraBackend(node_dir, node_address())
    if forced == "cassandra":
        return local
    compose = places.compose_file
    if forced == "docker":
        if compose is None:
            raise NodeError(
                "--backend docker needs a docker-compose.yml (the repository's tools/dbnode.py "
                "passes its own)"
            )
        return DockerBackend(compose)
    if local.running_pids() or (command in ("stop", "logs") and local.dir.exists()):
        return local
    return DockerBackend(compose) if compose and docker_engine_available() else local


def parse_args(argv: Sequence[str] | None, prog: str | None = None) -> argparse.Namespace:
    """Command-line interface."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Start/stop a CQL database for tests of code that uses scyllabatch.",
    )
    parser.add_argument(
        "--backend",
        choices=("auto", "external", "docker", "cassandra"),
        default=os.environ.get("SCYLLABATCH_NODE_BACKEND", "auto"),
        help="where the database comes from (default: auto; env SCYLLABATCH_NODE_BACKEND)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start the database and wait until it answers CQL")
    start.add_argument(
        "--cassandra-thresholds",
        action="store_true",
        default=os.environ.get("SCYLLABATCH_NODE_THRESHOLDS", "").lower() == "cassandra",
        help="Cassandra's stock batch thresholds 5/50 KiB instead of ScyllaDB's 128/1024 KiB",
    )
    start.add_argument(
        "--timeout",
        type=float,
        default=float(os.environ.get("SCYLLABATCH_NODE_TIMEOUT") or DEFAULT_TIMEOUT),
        help=f"seconds to wait for readiness (default {DEFAULT_TIMEOUT:.0f})",
    )
    start.add_argument(
        "--commitlog",
        choices=("periodic", "batch"),
        default=None,
        help="commitlog_sync: periodic (fsync every 10 s; default for one node) or batch (fsync "
        "before acknowledging; default for a cluster, which the fault tests use)",
    )
    start.add_argument(
        "--heap",
        default=None,
        help="JVM heap per node (default 1G for one node, 768M in a cluster)",
    )
    stop = sub.add_parser("stop", help="stop the database and delete its data")
    stop.add_argument("--keep-data", action="store_true", help="keep the node directory")
    status = sub.add_parser(
        "status", help="is it up? pid, memory, release version (exit 3 if down)"
    )
    logs = sub.add_parser("logs", help="print the end of the node's log")
    logs.add_argument("-n", "--lines", type=int, default=50, help="how many lines (default 50)")
    hosts = sub.add_parser(
        "hosts", help="print the cluster's addresses, comma-separated (SCYLLABATCH_CLUSTER_HOSTS)"
    )
    for command in (start, stop, status, logs, hosts):
        command.add_argument(
            "--nodes",
            type=int,
            default=1,
            help="1 (default): the single node; more: a local cluster of that many nodes on "
            "consecutive loopback addresses (directory SCYLLABATCH_CLUSTER_DIR, default "
            ".dbcluster)",
        )
        command.add_argument(
            "--first-address",
            default=None,
            help="the cluster's first node address (default 127.0.0.1, or "
            "SCYLLABATCH_CLUSTER_FIRST_ADDRESS)",
        )
    return parser.parse_args(argv)


def main(
    argv: Sequence[str] | None = None,
    places: Places = Places(),
    prog: str | None = None,
) -> int:
    """Entry point: run one subcommand and return its exit code."""
    args = parse_args(argv, prog)
    nodes = max(1, args.nodes)
    opts = Options(
        timeout=getattr(args, "timeout", DEFAULT_TIMEOUT),
        thresholds="cassandra" if getattr(args, "cassandra_thresholds", False) else "scylla",
        lines=getattr(args, "lines", 50),
        keep_data=getattr(args, "keep_data", False),
        commitlog=getattr(args, "commitlog", None) or ("batch" if nodes > 1 else "periodic"),
        heap=getattr(args, "heap", None) or ("768M" if nodes > 1 else "1G"),
    )
    try:
        if args.command == "hosts":
            backend = cluster_backend(nodes, args.first_address, places.cluster_dir)
            print(",".join(backend.hosts()))
            return EXIT_OK
        chosen = choose_backend(args.backend, args.command, nodes, args.first_address, places)
        command: Callable[[Options], int] = getattr(chosen, args.command)
        return command(opts)
    except NodeError as exc:
        say(f"error: {exc}")
        return EXIT_FAIL
