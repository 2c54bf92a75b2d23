"""The backends whose database is not a process of this tool: a cluster named by
``SCYLLABATCH_HOSTS``, used as it is, and ScyllaDB run by Docker Compose from a
``docker-compose.yml``.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from ._node_base import CQL_PORT, EXIT_DOWN, EXIT_OK, HOST, Backend, NodeError, Options, say
from ._node_cql import existing_cql_server, try_release_version, wait_for_cql

COMPOSE_SERVICE = "scylla"


class ExternalBackend(Backend):
    """A cluster given by ``SCYLLABATCH_HOSTS``: used as it is, never started or stopped."""

    def __init__(self, hosts: list[str], port: int) -> None:
        self.hosts, self.port = hosts, port
        self.where = ",".join(hosts) + f" port {port}"

    def start(self, opts: Options) -> int:
        say(f"using the external cluster {self.where} (SCYLLABATCH_HOSTS); waiting for it")
        began = time.monotonic()
        version = wait_for_cql(self.hosts, self.port, opts.timeout)
        say(f"ready: release_version {version}, answered after {time.monotonic() - began:.1f} s")
        return EXIT_OK

    def stop(self, opts: Options) -> int:
        say(f"external cluster {self.where}: nothing to stop")
        return EXIT_OK

    def status(self, opts: Options) -> int:
        for host in self.hosts:
            version = try_release_version(host, self.port)
            if version:
                say(f"up: external cluster {self.where}, release_version {version} (via {host})")
                return EXIT_OK
        say(f"down: external cluster {self.where} does not answer")
        return EXIT_DOWN

    def logs(self, opts: Options) -> int:
        say(f"external cluster {self.where}: its logs are not reachable from here")
        return EXIT_OK


def run_quiet(cmd: Sequence[str], timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    """Run a short helper command, capturing its output; a timeout counts as a failure."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(list(cmd), 1, "", str(exc))


@functools.cache
def compose_command() -> list[str] | None:
    """``docker compose`` (plugin) or ``docker-compose`` (standalone v2), if installed."""
    if shutil.which("docker") and run_quiet(["docker", "compose", "version"]).returncode == 0:
        return ["docker", "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


def docker_engine_available(timeout: float = 5.0) -> bool:
    """True if a Docker engine answers ``docker info`` quickly and Compose is installed."""
    if shutil.which("docker") is None:
        return False
    info = run_quiet(["docker", "info", "--format", "{{.ServerVersion}}"], timeout)
    if info.returncode != 0 or not info.stdout.strip():
        return False
    if compose_command() is None:
        say("a Docker engine answers but Docker Compose is not installed: not using Docker")
        return False
    return True


class DockerBackend(Backend):
    """ScyllaDB from a ``docker-compose.yml`` (service ``scylla``, 127.0.0.1:9042)."""

    def __init__(self, compose_file: Path) -> None:
        self.compose_file = compose_file

    def compose(self, *args: str, timeout: float | None = None, capture: bool = False) -> str:
        """Run a Compose subcommand on this repository's compose file."""
        cmd = [*(compose_command() or ["docker", "compose"]), "-f", str(self.compose_file), *args]
        try:
            result = subprocess.run(
                cmd, text=True, capture_output=capture, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise NodeError(f"`{' '.join(cmd)}` timed out after {timeout:.0f} s") from exc
        if result.returncode != 0:
            detail = (result.stderr or "").strip() if capture else ""
            raise NodeError(f"`{' '.join(cmd)}` failed ({result.returncode}) {detail}".strip())
        return result.stdout or ""

    def container_id(self) -> str:
        return self.compose("ps", "-q", COMPOSE_SERVICE, capture=True).strip()

    def start(self, opts: Options) -> int:
        if opts.thresholds != "scylla":
            say("note: --cassandra-thresholds only applies to the local Cassandra node")
        if not self.container_id():
            version = existing_cql_server()
            if version:
                say(f"{HOST}:{CQL_PORT} already answers CQL (release_version {version}): using it")
                return EXIT_OK
        compose_name = self.compose_file.name
        say(f"Docker engine found: starting service '{COMPOSE_SERVICE}' of {compose_name}")
        began = time.monotonic()
        self.compose("up", "-d", "--wait", COMPOSE_SERVICE, timeout=opts.timeout)
        remaining = max(1.0, opts.timeout - (time.monotonic() - began))
        version = wait_for_cql([HOST], CQL_PORT, remaining)
        elapsed = time.monotonic() - began
        say(
            f"ready: ScyllaDB on {HOST}:{CQL_PORT} (release_version {version}), "
            f"started in {elapsed:.1f} s"
        )
        return EXIT_OK

    def stop(self, opts: Options) -> int:
        # Only this service: a cluster started with `--profile cluster` is left alone.
        self.compose("rm", "--stop", "--force", "--volumes", COMPOSE_SERVICE, timeout=120)
        say(f"service '{COMPOSE_SERVICE}' stopped; its container and data volume removed")
        return EXIT_OK

    def status(self, opts: Options) -> int:
        container = self.container_id()
        if not container:
            say(f"down: the '{COMPOSE_SERVICE}' container is not running")
            return EXIT_DOWN
        health = run_quiet(["docker", "inspect", "-f", "{{.State.Health.Status}}", container])
        memory = run_quiet(
            ["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", container]
        )
        version = try_release_version(HOST, CQL_PORT)
        print(f"state:           {'up' if version else 'running, not answering CQL'}")
        print(f"backend:         ScyllaDB in Docker (service '{COMPOSE_SERVICE}')")
        print(f"container:       {container[:12]} ({health.stdout.strip() or 'unknown health'})")
        print(f"address:         {HOST}:{CQL_PORT}")
        print(f"release_version: {version or '-'}")
        print(f"memory:          {memory.stdout.strip() or 'unknown'}")
        return EXIT_OK if version else EXIT_DOWN

    def logs(self, opts: Options) -> int:
        self.compose("logs", "--no-color", "--tail", str(opts.lines), COMPOSE_SERVICE)
        return EXIT_OK
