"""A local Cassandra ring: several nodes on consecutive loopback addresses with balanced tokens,
each a :class:`CassandraBackend` in its own directory, started one after another and ready when
every node sees every other one as a normal ring member; ``cluster.json`` records what runs.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._node_base import (
    CQL_PORT,
    DEFAULT_TIMEOUT,
    EXIT_DOWN,
    EXIT_FAIL,
    EXIT_OK,
    OWNER_MARK,
    OWNER_TEXT,
    STOP_TIMEOUT,
    STORAGE_PORT,
    SYSTEM_LOG,
    Backend,
    NodeError,
    Options,
    say,
)
from ._node_cassandra import CassandraBackend
from ._node_cql import port_open, quiet_driver_session, try_release_version, wait_for_cql
from ._node_process import exclusive_lock, format_bytes, rss_bytes, tail, terminate

CLUSTER_STATE = "cluster.json"
CLUSTER_SUPERUSER_DELAY_MS = 2000
RING_QUERY = "SELECT peer, host_id, tokens FROM system.peers"


def balanced_tokens(count: int) -> list[int]:
    """One Murmur3 token per node, evenly spaced over the ring."""
    return [-(2**63) + index * (2**64 // count) for index in range(count)]


def consecutive_addresses(first: str, count: int) -> list[str]:
    """``count`` loopback addresses starting at ``first`` (127.0.0.1 -> .1, .2, .3)."""
    start = ipaddress.IPv4Address(first)
    addresses = [str(start + index) for index in range(count)]
    for address in addresses:
        if not ipaddress.IPv4Address(address).is_loopback:
            raise NodeError(f"{address} is not a loopback address")
    return addresses


def ring_view(host: str, port: int, timeout: float = 10.0) -> tuple[set[str], bool]:
    """Ask one node (and only that node) which peers it knows with tokens, and if it is up.

    Returns the addresses of the peers that have a host id and tokens (state NORMAL in the
    gossip sense) and whether the node itself reports ``bootstrapped = 'COMPLETED'``.
    """
    from cassandra.policies import WhiteListRoundRobinPolicy

    policy = WhiteListRoundRobinPolicy([host])
    with quiet_driver_session(host, port, timeout, policy, error_prefix=f"{host}: ") as session:
        peers = {
            str(row.peer)
            for row in session.execute(RING_QUERY)
            if row.host_id is not None and row.tokens
        }
        local = session.execute("SELECT bootstrapped FROM system.local").one()
        return peers, bool(local) and local.bootstrapped == "COMPLETED"


def ring_ready(hosts: Sequence[str], port: int) -> str | None:
    """None when every node answers CQL, is bootstrapped and sees all others with tokens
    (what ``nodetool status`` shows as UN everywhere); else the first reason it is not."""
    for host in hosts:
        if not port_open(host, port):
            return f"{host}:{port} refuses connections"
        try:
            peers, bootstrapped = ring_view(host, port)
        except NodeError as exc:
            return str(exc)
        if not bootstrapped:
            return f"{host} is not bootstrapped yet"
        missing = set(hosts) - {host} - peers
        if missing:
            return f"{host} does not see {sorted(missing)} as normal ring members yet"
    return None


def wait_for_ring(
    hosts: Sequence[str], port: int, timeout: float, alive: Callable[[], None] | None = None
) -> None:
    """Poll :func:`ring_ready` until it holds (or raise ``NodeError`` after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        if alive is not None:
            alive()
        reason = ring_ready(hosts, port)
        if reason is None:
            return
        if time.monotonic() >= deadline:
            raise NodeError(f"ring not ready after {timeout:.0f} s ({reason})")
        time.sleep(1.0)


class ClusterBackend(Backend):
    """Several local Cassandra nodes on consecutive loopback addresses, one directory each.

    Every node uses the same ports on its own address (127.0.0.1, .2, .3 by default), is a
    seed, and owns one balanced token. Nodes start one after another; the cluster is ready when
    every node answers CQL and sees every other one as a normal ring member. The state file
    ``<dir>/cluster.json`` records each node's address, directory and pid: ``stop`` stops
    exactly those processes, and the cluster tests read it to kill, pause and restart nodes.
    """

    def __init__(self, cluster_dir: Path, first_address: str, nodes: int) -> None:
        self.dir = cluster_dir
        self.count = nodes
        self.first_address = first_address
        self.state_file = cluster_dir / CLUSTER_STATE

    # ---- state

    def state(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.state_file.read_text()))
        except (OSError, ValueError):
            return {}

    def hosts(self) -> list[str]:
        recorded = self.state().get("hosts")
        if recorded:
            return [str(host) for host in recorded]
        return consecutive_addresses(self.first_address, self.count)

    def node(self, index: int, host: str | None = None) -> CassandraBackend:
        host = host or self.hosts()[index]
        return CassandraBackend(self.dir / f"node{index + 1}", host, CLUSTER_SUPERUSER_DELAY_MS)

    def nodes(self) -> list[CassandraBackend]:
        return [self.node(index) for index in range(len(self.hosts()))]

    def options(self) -> Options:
        state = self.state()
        return Options(
            timeout=DEFAULT_TIMEOUT,
            thresholds=str(state.get("thresholds", "scylla")),
            lines=50,
            keep_data=True,
            commitlog=str(state.get("commitlog", "batch")),
            heap=str(state.get("heap", "768M")),
        )

    def write_state(self, opts: Options, hosts: Sequence[str]) -> None:
        nodes = []
        for index, host in enumerate(hosts):
            node = self.node(index, host)
            nodes.append({"host": host, "dir": str(node.dir), "pid": node.recorded_pid()})
        state = {
            "hosts": list(hosts),
            "port": CQL_PORT,
            "nodes": nodes,
            "thresholds": opts.thresholds,
            "commitlog": opts.commitlog,
            "heap": opts.heap,
            "started": self.state().get("started", time.time()),
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_file)

    def running(self) -> dict[int, list[int]]:
        """Node index -> live pids of that node's directory."""
        found: dict[int, list[int]] = {}
        for index, node in enumerate(self.nodes()):
            pids = node.running_pids()
            if pids:
                found[index] = pids
        return found

    def lock(self) -> contextlib.AbstractContextManager[None]:
        return exclusive_lock(self.dir.with_name(self.dir.name + ".lock"))

    # ---- commands

    def start(self, opts: Options) -> int:
        with self.lock():
            return self._start(opts)

    def _start(self, opts: Options) -> int:
        hosts = consecutive_addresses(self.first_address, self.count)
        if self.running():
            if self.hosts() != hosts:
                raise NodeError(f"a cluster on {self.hosts()} is running from {self.dir}")
            say(f"a cluster started by dbnode is running on {hosts}; checking the ring")
            wait_for_ring(hosts, CQL_PORT, opts.timeout)
            say(f"ready: {len(hosts)} nodes on {', '.join(hosts)} (already running)")
            return EXIT_OK
        for host in hosts:
            for port in (CQL_PORT, STORAGE_PORT):
                if port_open(host, port):
                    raise NodeError(f"port {port} on {host} is taken: choose another address")
        if self.dir.exists():
            if not (self.dir / OWNER_MARK).is_file() and any(self.dir.iterdir()):
                raise NodeError(f"{self.dir} was not made by dbnode: not using it")
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        (self.dir / OWNER_MARK).write_text(OWNER_TEXT)
        self.state_file.unlink(missing_ok=True)
        first = CassandraBackend(self.dir / "node1", hosts[0])
        first.ensure_jars()
        tokens = balanced_tokens(len(hosts))
        say(
            f"starting a {len(hosts)}-node Cassandra {first.version} cluster on "
            f"{', '.join(hosts)} in {self.dir} (heap {opts.heap} each, "
            f"commitlog_sync {opts.commitlog})"
        )
        began = time.monotonic()
        procs: list[subprocess.Popen[bytes]] = []

        def alive() -> None:
            for proc in procs:
                code = proc.poll()
                if code is not None:
                    raise NodeError(f"the Cassandra process {proc.pid} exited with code {code}")

        try:
            for index, host in enumerate(hosts):
                node = self.node(index, host)
                node.write_config(opts.thresholds, opts.commitlog, hosts, tokens[index])
                procs.append(node.launch(opts))
                self.write_state(opts, hosts)
                version = wait_for_cql([host], CQL_PORT, opts.timeout, alive)
                say(f"node {index + 1} ({host}, pid {procs[-1].pid}) answers CQL {version}")
            wait_for_ring(hosts, CQL_PORT, opts.timeout, alive)
        except (NodeError, KeyboardInterrupt) as exc:
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
            say(f"start failed: {reason}")
            for index in range(len(procs)):
                self.node(index).print_log_tail(40)
            for proc in procs:
                with contextlib.suppress(NodeError):
                    terminate(proc.pid, 10.0)
            say(f"the nodes' files are kept in {self.dir} (`stop --nodes N` removes them)")
            raise NodeError("the cluster did not become ready") from None
        say(
            f"ready: {len(hosts)} nodes up and normal on {', '.join(hosts)} port {CQL_PORT} "
            f"(pids {' '.join(str(p.pid) for p in procs)}), started in "
            f"{time.monotonic() - began:.1f} s"
        )
        return EXIT_OK

    def restart_node(self, index: int, timeout: float = DEFAULT_TIMEOUT) -> int:
        """Start node ``index`` again on its existing data (after a kill); returns its pid once
        it answers CQL. Used by the cluster tests."""
        return self.restart_nodes([index], timeout)[0]

    def restart_nodes(self, indices: Sequence[int], timeout: float = DEFAULT_TIMEOUT) -> list[int]:
        """Start several stopped nodes again, all at once (their data and tokens are already
        there, so nothing joins or bootstraps); returns their pids once each answers CQL."""
        with self.lock():
            opts = self.options()
            launched = []
            for index in indices:
                node = self.node(index)
                if node.running_pids():
                    raise NodeError(f"node {index + 1} is still running")
                launched.append((index, node, node.launch(opts)))
            self.write_state(opts, self.hosts())
        for index, node, proc in launched:

            def alive(index: int = index, proc: subprocess.Popen[bytes] = proc) -> None:
                code = proc.poll()
                if code is not None:
                    raise NodeError(f"node {index + 1} exited with code {code}")

            wait_for_cql([node.host], CQL_PORT, timeout, alive)
        return [proc.pid for _, _, proc in launched]

    def stop(self, opts: Options) -> int:
        with self.lock():
            running = self.running()
            # Resume every paused node first: a paused node cannot handle SIGTERM, and a live
            # node's shutdown can wait on a paused peer (it took 60 s and a SIGKILL).
            for pids in running.values():
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGCONT)
            for index, pids in sorted(running.items()):
                for pid in pids:
                    say(f"stopping node {index + 1} ({self.hosts()[index]}), pid {pid} (SIGTERM)")
                    began = time.monotonic()
                    terminate(pid, STOP_TIMEOUT)
                    say(f"pid {pid} ended after {time.monotonic() - began:.1f} s")
            if not running:
                say(f"no cluster node started by dbnode from {self.dir} is running")
            if opts.keep_data:
                say(f"kept {self.dir}")
            elif self.dir.exists():
                if not (self.dir / OWNER_MARK).is_file():
                    raise NodeError(f"{self.dir} was not made by dbnode: not removing it")
                shutil.rmtree(self.dir)
                say(f"removed {self.dir}")
        return EXIT_OK

    def status(self, opts: Options) -> int:
        hosts = self.hosts()
        running = self.running()
        if not running and not self.state_file.exists():
            say(f"down: no cluster started by dbnode in {self.dir}")
            return EXIT_DOWN
        state = self.state()
        print("backend:         local Apache Cassandra cluster (scyllabatch.testing.node)")
        print(f"directory:       {self.dir}")
        print(f"commitlog_sync:  {state.get('commitlog', '?')}   heap: {state.get('heap', '?')}")
        all_up = True
        for index, host in enumerate(hosts):
            pids = running.get(index, [])
            version = try_release_version(host, CQL_PORT) if pids else None
            try:
                peers, _ = ring_view(host, CQL_PORT) if version else (set(), False)
            except NodeError:
                peers = set()
            up = bool(version) and set(hosts) - {host} <= peers
            all_up = all_up and up
            pid = pids[0] if pids else None
            state_text = "UN" if up else ("up" if version else "DN")
            print(
                f"node {index + 1}: {state_text}  {host}:{CQL_PORT}"
                f"  pid {pid or '-'}  rss {format_bytes(rss_bytes(pid) if pid else None)}"
                f"  release {version or '-'}  sees {len(peers)} peer(s)"
            )
        return EXIT_OK if all_up else EXIT_DOWN

    def logs(self, opts: Options) -> int:
        status = EXIT_FAIL
        for node in self.nodes():
            lines = tail(node.dir / SYSTEM_LOG, opts.lines)
            if lines:
                print(f"----- {node.host}: {node.dir / SYSTEM_LOG}")
                print("\n".join(lines))
                status = EXIT_OK
        return status
