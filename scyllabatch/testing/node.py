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
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import ipaddress
import json
import logging
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POM_FILE = Path(__file__).resolve().with_name("cassandra-pom.xml")
COMPOSE_SERVICE = "scylla"

HOST = "127.0.0.1"
NODE_ADDRESS_ENV = "SCYLLABATCH_NODE_ADDRESS"
CQL_PORT = 9042
STORAGE_PORT = 7000
CLUSTER_NAME = "scyllabatch-test"
MAIN_CLASS = "org.apache.cassandra.service.CassandraDaemon"
RELEASE_QUERY = "SELECT release_version FROM system.local"

DEFAULT_TIMEOUT = 300.0
STOP_TIMEOUT = 60.0
EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_DOWN = 0, 1, 2, 3

# Files inside the node directory.
OWNER_MARK = "DBNODE"  # proves the directory was made by this tool, so it may be wiped
OWNER_TEXT = "made by scyllabatch.testing.node (tools/dbnode.py); its `stop` removes it\n"
PID_FILE = "cassandra.pid"
INFO_FILE = "node.json"
STDOUT_LOG = "logs/stdout.log"
SYSTEM_LOG = "logs/system.log"

# Batch size thresholds (warn, fail): ScyllaDB's defaults, and Cassandra's stock ones.
THRESHOLDS = {"scylla": ("128KiB", "1024KiB"), "cassandra": ("5KiB", "50KiB")}

# Java 17 needs these to run Cassandra 5.0 (from Cassandra's conf/jvm17-server.options).
JVM17_ADD_EXPORTS = (
    "java.base/jdk.internal.misc",
    "java.management.rmi/com.sun.jmx.remote.internal.rmi",
    "java.rmi/sun.rmi.registry",
    "java.rmi/sun.rmi.server",
    "java.sql/java.sql",
    "java.base/java.lang.ref",
    "jdk.unsupported/sun.misc",
    "jdk.compiler/com.sun.tools.javac.file",
    "jdk.attach/sun.tools.attach",
)
JVM17_ADD_OPENS = (
    "java.base/java.lang.module",
    "java.base/jdk.internal.loader",
    "java.base/jdk.internal.ref",
    "java.base/jdk.internal.reflect",
    "java.base/jdk.internal.math",
    "java.base/jdk.internal.module",
    "java.base/jdk.internal.util.jar",
    "jdk.management/com.sun.management.internal",
    "java.base/sun.nio.ch",
    "java.base/java.io",
    "java.base/java.lang.reflect",
    "jdk.compiler/com.sun.tools.javac",
    "java.base/java.lang",
    "java.base/java.util",
)


# Nodes started by this process: a node outlives the call that started it (the cluster tests
# restart nodes and go on), so its Popen object is kept rather than garbage-collected while the
# process runs (which Python reports as a ResourceWarning).
LAUNCHED: list[subprocess.Popen[bytes]] = []


class NodeError(Exception):
    """A failure to report to the user as one line (plus any log tail already printed)."""


def say(message: str) -> None:
    """Print a progress or result line, flushed so that background runs show progress."""
    print(f"dbnode: {message}", flush=True)


# --------------------------------------------------------------------------- CQL probing


def release_version(host: str, port: int, timeout: float = 5.0) -> str:
    """Return ``release_version`` from ``system.local``; raise ``OSError``/``NodeError`` if not."""
    try:
        import cassandra.cluster  # noqa: F401  (imported lazily: optional dependency)
    except ImportError:
        return _release_version_raw(host, port, timeout)
    return _release_version_driver(host, port, timeout)


def _release_version_driver(host: str, port: int, timeout: float) -> str:
    """Ask with the Python driver (the same code path the SDK uses)."""
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import RoundRobinPolicy

    driver_log = logging.getLogger("cassandra")
    saved = driver_log.level, driver_log.propagate
    driver_log.setLevel(logging.CRITICAL)  # connection retries while starting are expected
    driver_log.propagate = False
    cluster = Cluster(
        [host],
        port=port,
        connect_timeout=timeout,
        control_connection_timeout=timeout,
        execution_profiles={
            EXEC_PROFILE_DEFAULT: ExecutionProfile(
                load_balancing_policy=RoundRobinPolicy(), request_timeout=timeout
            )
        },
    )
    try:
        session = cluster.connect()
        row = session.execute(RELEASE_QUERY).one()
        return str(row[0])
    except Exception as exc:  # the driver raises many unrelated types; all mean "not ready"
        raise NodeError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        cluster.shutdown()
        driver_log.setLevel(saved[0])
        driver_log.propagate = saved[1]


def _release_version_raw(host: str, port: int, timeout: float) -> str:
    """Ask with a minimal CQL native protocol v4 client (STARTUP, then one QUERY)."""

    def frame(stream: int, opcode: int, body: bytes) -> bytes:
        return struct.pack(">BBhBi", 0x04, 0, stream, opcode, len(body)) + body

    def recv_exact(sock: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = sock.recv(size - len(data))
            if not chunk:
                raise NodeError("connection closed by the server")
            data += chunk
        return data

    def request(sock: socket.socket, stream: int, opcode: int, body: bytes) -> tuple[int, bytes]:
        sock.sendall(frame(stream, opcode, body))
        _, _, _, reply_opcode, length = struct.unpack(">BBhBi", recv_exact(sock, 9))
        reply = recv_exact(sock, length)
        if reply_opcode == 0x00:  # ERROR: [int code][string message]
            (msg_len,) = struct.unpack(">H", reply[4:6])
            raise NodeError(f"CQL error: {reply[6 : 6 + msg_len].decode(errors='replace')}")
        return reply_opcode, reply

    def cql_string(text: str) -> bytes:
        raw = text.encode()
        return struct.pack(">H", len(raw)) + raw

    with socket.create_connection((host, port), timeout=timeout) as sock:
        startup = struct.pack(">H", 1) + cql_string("CQL_VERSION") + cql_string("3.0.0")
        opcode, _ = request(sock, 1, 0x01, startup)
        if opcode == 0x03:  # AUTHENTICATE: it is a CQL server, but we have no credentials
            raise NodeError("the server requires authentication")
        query = struct.pack(">i", len(RELEASE_QUERY)) + RELEASE_QUERY.encode()
        query += struct.pack(">HB", 0x0001, 0)  # consistency ONE, no flags
        opcode, body = request(sock, 2, 0x07, query)
    try:
        return _parse_single_text_cell(body)
    except (struct.error, UnicodeDecodeError) as exc:
        raise NodeError(f"unreadable CQL result: {exc}") from exc


def _parse_single_text_cell(body: bytes) -> str:
    """Extract the first cell of a v4 RESULT/Rows body holding one text column."""
    pos = 0

    def take(fmt: str) -> int:
        nonlocal pos
        (value,) = struct.unpack_from(fmt, body, pos)
        pos += struct.calcsize(fmt)
        return int(value)

    def skip(size_fmt: str) -> None:
        nonlocal pos
        size = take(size_fmt)  # read first: `pos += take(...)` would lose take's own advance
        pos += size

    if take(">i") != 2:  # kind Rows
        raise NodeError("unexpected CQL result kind")
    flags, columns = take(">i"), take(">i")
    if flags & 0x0002:  # has_more_pages: skip the paging state
        skip(">i")
    if flags & 0x0001:  # global_tables_spec
        skip(">H")
        skip(">H")
    for _ in range(columns):
        if not flags & 0x0001:
            skip(">H")
            skip(">H")
        skip(">H")  # column name
        take(">H")  # type id (text/varchar: no parameters)
    if take(">i") < 1:
        raise NodeError("system.local returned no row")
    size = take(">i")
    return body[pos : pos + size].decode()


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """Return True if a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def try_release_version(host: str, port: int, timeout: float = 5.0) -> str | None:
    """Like :func:`release_version`, but ``None`` instead of an error."""
    try:
        return release_version(host, port, timeout)
    except (OSError, NodeError):
        return None


def wait_for_cql(
    hosts: Sequence[str], port: int, timeout: float, alive: Callable[[], None] | None = None
) -> str:
    """Poll until one of ``hosts`` answers the release query; return its version.

    ``alive`` (optional) is called between attempts and raises ``NodeError`` when the
    process being waited for has died, so a crash is reported at once.
    """
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    while True:
        if alive is not None:
            alive()
        for host in hosts:
            if not port_open(host, port):
                last_error = f"{host}:{port} refuses connections"
                continue
            try:
                return release_version(host, port, timeout=min(10.0, max(1.0, timeout)))
            except (OSError, NodeError) as exc:
                last_error = f"{host}:{port}: {exc}"
        if time.monotonic() >= deadline:
            raise NodeError(f"not ready after {timeout:.0f} s ({last_error})")
        time.sleep(1.0)


# --------------------------------------------------------------------------- processes


def proc_cmdline(pid: int) -> list[str]:
    """Return the command line of ``pid`` (empty if gone, a zombie, or unreadable)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_cassandra(pid: int, node_dir: Path | None = None) -> bool:
    """True if ``pid`` is a live Cassandra daemon (optionally: the one of ``node_dir``)."""
    args = proc_cmdline(pid)
    if MAIN_CLASS not in args:
        return False
    return node_dir is None or f"-Dcassandra.storagedir={node_dir}" in args


def find_node_pids(node_dir: Path) -> list[int]:
    """All live Cassandra daemons started for ``node_dir`` (also those whose pid file is lost)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and is_cassandra(int(entry.name), node_dir):
            pids.append(int(entry.name))
    return sorted(pids)


def rss_bytes(pid: int) -> int | None:
    """Resident memory of ``pid`` from /proc (None if unknown)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def terminate(pid: int, timeout: float) -> None:
    """SIGTERM ``pid``, wait up to ``timeout`` seconds, then SIGKILL it."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):  # reap it if it is our own child
                os.waitpid(pid, os.WNOHANG)
            if not proc_cmdline(pid):
                return
            time.sleep(0.2)
        if sig == signal.SIGTERM:
            say(f"pid {pid} still running after {timeout:.0f} s: SIGKILL")
    raise NodeError(f"pid {pid} survived SIGKILL")


def tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of a text file (empty if it does not exist)."""
    try:
        with path.open(errors="replace") as handle:
            return [line.rstrip("\n") for line in deque(handle, maxlen=lines)]
    except OSError:
        return []


def format_bytes(size: int | None) -> str:
    """Human-readable MiB."""
    return "unknown" if size is None else f"{size / 2**20:.0f} MiB"


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Serialize concurrent start/stop calls with an advisory lock file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cache_root() -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/scyllabatch``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scyllabatch"


# --------------------------------------------------------------------------- backends


@dataclass
class Options:
    """Parsed command-line options shared by the backends."""

    timeout: float
    thresholds: str
    lines: int
    keep_data: bool
    commitlog: str = "periodic"
    heap: str = "1G"


class Backend:
    """One way of providing a database; each subcommand returns an exit code."""

    def start(self, opts: Options) -> int:
        """Make the database answer CQL (start it if it is this backend's to start)."""
        raise NotImplementedError

    def stop(self, opts: Options) -> int:
        """Stop what this backend started (and remove its files unless ``keep_data``)."""
        raise NotImplementedError

    def status(self, opts: Options) -> int:
        """Print whether the database is up; ``EXIT_DOWN`` when it is not."""
        raise NotImplementedError

    def logs(self, opts: Options) -> int:
        """Print the end of the database's log."""
        raise NotImplementedError


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


def existing_cql_server(host: str = HOST) -> str | None:
    """If ``host``:9042 is already taken, the release version it answers with.

    Returns None when the port is free; raises NodeError when it is taken by something
    that does not answer CQL.
    """
    if not port_open(host, CQL_PORT):
        return None
    version = try_release_version(host, CQL_PORT, timeout=10.0)
    if version is None:
        raise NodeError(
            f"port {CQL_PORT} on {host} is taken by something that does not answer CQL: free it"
        )
    return version


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


class CassandraBackend(Backend):
    """A local Apache Cassandra 5.0 node run from jars resolved through Maven Central."""

    def __init__(self, node_dir: Path, host: str = HOST, superuser_setup_delay_ms: int = 0) -> None:
        self.dir = node_dir
        self.host = host
        # 0 starts a single node fast. In a cluster with a node down, the role manager retries
        # its default-role setup after this delay: 0 made it spin (190,000 log lines and a busy
        # core within minutes), so cluster nodes use a delay.
        self.superuser_setup_delay_ms = superuser_setup_delay_ms
        self.version = os.environ.get("SCYLLABATCH_CASSANDRA_VERSION") or pinned_version()
        self.home = cache_root() / f"cassandra-{self.version}"
        self.lib = self.home / "lib"
        self.complete_marker = self.home / "COMPLETE"
        self.pid_file = node_dir / PID_FILE
        # The node process that this object's last `start` launched; None when that start found
        # a node already answering (ours or someone else's), which then is not ours to stop.
        self.launched: subprocess.Popen[bytes] | None = None

    # ---- state

    def recorded_pid(self) -> int | None:
        """The pid from the pid file if it is still our Cassandra daemon, else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if is_cassandra(pid, self.dir) else None

    def running_pids(self) -> list[int]:
        """The recorded pid plus any daemon for this directory that lost its pid file."""
        pids = set(find_node_pids(self.dir))
        recorded = self.recorded_pid()
        if recorded is not None:
            pids.add(recorded)
        return sorted(pids)

    def info(self) -> dict[str, object]:
        try:
            return dict(json.loads((self.dir / INFO_FILE).read_text()))
        except (OSError, ValueError):
            return {}

    # ---- jars

    def ensure_jars(self) -> None:
        """Resolve cassandra-all and its runtime dependencies once; later runs reuse them."""
        if self.complete_marker.is_file() and any(self.lib.glob("cassandra-all-*.jar")):
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise NodeError("Maven (mvn) is needed once to fetch Cassandra: apt-get install maven")
        partial = self.home / "lib.partial"
        shutil.rmtree(partial, ignore_errors=True)
        self.complete_marker.unlink(missing_ok=True)
        say(f"resolving cassandra-all {self.version} from Maven Central into {self.lib} ...")
        began = time.monotonic()
        cmd = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM_FILE),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
            f"-Dcassandra.version={self.version}",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not (partial / f"cassandra-all-{self.version}.jar").is_file():
            output = (result.stdout + result.stderr).strip().splitlines()
            for line in output[-30:]:
                print(f"  mvn| {line}", file=sys.stderr)
            raise NodeError(f"Maven could not resolve cassandra-all {self.version}")
        shutil.rmtree(self.lib, ignore_errors=True)
        partial.rename(self.lib)
        jars = sorted(self.lib.glob("*.jar"))
        size = sum(jar.stat().st_size for jar in jars)
        self.complete_marker.write_text(f"{self.version} {len(jars)} jars {size} bytes\n")
        say(f"resolved {len(jars)} jars, {format_bytes(size)}, in {time.monotonic() - began:.1f} s")

    # ---- node directory

    def wipe_dir(self) -> None:
        """Remove the node directory, but only if this tool created it."""
        if not self.dir.exists():
            return
        if not (self.dir / OWNER_MARK).is_file() and any(self.dir.iterdir()):
            raise NodeError(f"{self.dir} is not empty and was not made by dbnode: not removing it")
        shutil.rmtree(self.dir)

    def write_config(
        self,
        thresholds: str,
        commitlog: str = "periodic",
        seeds: Sequence[str] | None = None,
        initial_token: int = 0,
    ) -> None:
        """Create a fresh node directory with cassandra.yaml and logback.xml."""
        self.wipe_dir()
        for sub in ("conf", "data", "logs", "tmp", "triggers"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        (self.dir / OWNER_MARK).write_text(OWNER_TEXT)
        yaml = cassandra_yaml(
            self.dir,
            thresholds,
            host=self.host,
            seeds=seeds or (self.host,),
            initial_token=initial_token,
            commitlog=commitlog,
        )
        (self.dir / "conf" / "cassandra.yaml").write_text(yaml)
        (self.dir / "conf" / "logback.xml").write_text(logback_xml(self.dir / SYSTEM_LOG))

    def java_command(self, heap: str = "1G") -> list[str]:
        """The JVM command line that runs the node in the foreground of its own session."""
        java = find_java()
        conf = self.dir / "conf"
        classpath = os.pathsep.join([str(conf), *sorted(str(j) for j in self.lib.glob("*.jar"))])
        cmd = [java, f"-Xms{heap}", f"-Xmx{heap}", "-XX:+ExitOnOutOfMemoryError"]
        cmd.append("-XX:+PerfDisableSharedMem")
        jamm = sorted(self.lib.glob("jamm-*.jar"))
        if jamm:  # exact object sizes for memtable accounting (5.0 falls back to Unsafe)
            cmd.append(f"-javaagent:{jamm[-1]}")
        cmd += [f"--add-exports={module}=ALL-UNNAMED" for module in JVM17_ADD_EXPORTS]
        cmd += [f"--add-opens={module}=ALL-UNNAMED" for module in JVM17_ADD_OPENS]
        props = {
            "jdk.attach.allowAttachSelf": "true",
            "io.netty.tryReflectionSetAccessible": "true",
            "java.net.preferIPv4Stack": "true",
            "java.io.tmpdir": self.dir / "tmp",  # native libraries unpack here
            "cassandra-foreground": "yes",
            "cassandra.config": (conf / "cassandra.yaml").as_uri(),
            "cassandra.storagedir": self.dir,
            "cassandra.logdir": self.dir / "logs",
            "cassandra.triggers_dir": self.dir / "triggers",
            "logback.configurationFile": (conf / "logback.xml").as_uri(),
            "cassandra.skip_wait_for_gossip_to_settle": "0",
            "cassandra.superuser_setup_delay_ms": str(self.superuser_setup_delay_ms),
            "cassandra.available_processors": "2",
            "chronicle.analytics.disable": "true",
        }
        cmd += [f"-D{key}={value}" for key, value in props.items()]
        cmd += ["-cp", classpath, MAIN_CLASS]
        return cmd

    # ---- commands

    def start(self, opts: Options) -> int:
        with exclusive_lock(cache_root() / "dbnode.lock"):
            return self._start(opts)

    def _start(self, opts: Options) -> int:
        pids = self.running_pids()
        if pids:
            pid = pids[0]
            say(f"a node started by dbnode is already running (pid {pid}); checking it answers")
            version = wait_for_cql([self.host], CQL_PORT, opts.timeout)
            running = self.info().get("thresholds")
            if running and running != opts.thresholds:
                say(
                    f"warning: it runs with {running} batch thresholds, not {opts.thresholds}: "
                    "run `stop` first to change them"
                )
            where = f"{self.host}:{CQL_PORT}"
            say(f"ready: Cassandra {version} on {where} (pid {pid}, already running)")
            return EXIT_OK
        existing = existing_cql_server(self.host)
        if existing:
            say(
                f"{self.host}:{CQL_PORT} already answers CQL (release_version {existing}), "
                "not started by dbnode: using it"
            )
            return EXIT_OK
        if port_open(self.host, STORAGE_PORT):
            raise NodeError(
                f"port {STORAGE_PORT} on {self.host} (Cassandra's storage port) is taken"
            )

        self.ensure_jars()
        self.write_config(opts.thresholds, opts.commitlog)
        say(
            f"starting Cassandra {self.version} in {self.dir} "
            f"({opts.thresholds} batch thresholds {'/'.join(THRESHOLDS[opts.thresholds])}, "
            f"commitlog_sync {opts.commitlog})"
        )
        began = time.monotonic()
        proc = self.launch(opts)

        def alive() -> None:
            code = proc.poll()
            if code is not None:
                raise NodeError(f"the Cassandra process exited with code {code}")

        try:
            version = wait_for_cql([self.host], CQL_PORT, opts.timeout, alive)
        except (NodeError, KeyboardInterrupt) as exc:
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
            say(f"start failed: {reason}")
            self.print_log_tail(60)
            with contextlib.suppress(NodeError):
                terminate(proc.pid, 10.0)
            self.pid_file.unlink(missing_ok=True)
            say(f"the node's files are kept in {self.dir} (`stop` removes them)")
            raise NodeError("Cassandra did not become ready") from None
        elapsed = time.monotonic() - began
        self.launched = proc
        say(
            f"ready: Cassandra {version} on {self.host}:{CQL_PORT} (pid {proc.pid}), "
            f"started in {elapsed:.1f} s"
        )
        return EXIT_OK

    def launch(self, opts: Options) -> subprocess.Popen[bytes]:
        """Start the JVM on the configured directory (kept as it is); record its pid and info."""
        cmd = self.java_command(opts.heap)
        with (self.dir / STDOUT_LOG).open("ab") as out:
            proc = subprocess.Popen(  # fixed argv, no shell
                cmd,
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        LAUNCHED.append(proc)
        (self.dir / INFO_FILE).write_text(
            json.dumps(
                {
                    "version": self.version,
                    "thresholds": opts.thresholds,
                    "commitlog": opts.commitlog,
                    "heap": opts.heap,
                    "started": time.time(),
                    "host": self.host,
                    "port": CQL_PORT,
                    "pid": proc.pid,
                }
            )
            + "\n"
        )
        return proc

    def stop(self, opts: Options) -> int:
        with exclusive_lock(cache_root() / "dbnode.lock"):
            pids = self.running_pids()
            for pid in pids:
                say(f"stopping Cassandra pid {pid} (SIGTERM)")
                began = time.monotonic()
                terminate(pid, STOP_TIMEOUT)
                say(f"pid {pid} ended after {time.monotonic() - began:.1f} s")
            if not pids:
                say("no node started by dbnode is running")
            if opts.keep_data:
                self.pid_file.unlink(missing_ok=True)
                say(f"kept {self.dir}")
            elif self.dir.exists():
                self.wipe_dir()
                say(f"removed {self.dir}")
        return EXIT_OK

    def status(self, opts: Options) -> int:
        pids = self.running_pids()
        if not pids:
            version = try_release_version(self.host, CQL_PORT)
            if version:
                say(
                    f"up: {self.host}:{CQL_PORT} answers CQL (release_version {version}), "
                    "but not from a node started by dbnode"
                )
                return EXIT_OK
            say("down: no node started by dbnode is running")
            return EXIT_DOWN
        pid = pids[0]
        info = self.info()
        version = try_release_version(self.host, CQL_PORT)
        started = info.get("started")
        uptime = f"{time.time() - float(str(started)):.0f} s" if started else "unknown"
        thresholds = str(info.get("thresholds", "?"))
        print(f"state:           {'up' if version else 'running, not answering CQL'}")
        print("backend:         local Apache Cassandra (scyllabatch.testing.node)")
        print(f"pid:             {pid}")
        print(f"address:         {self.host}:{CQL_PORT}")
        print(f"release_version: {version or '-'}")
        print(f"rss:             {format_bytes(rss_bytes(pid))}")
        print(f"uptime:          {uptime}")
        print(f"batch limits:    {thresholds} {'/'.join(THRESHOLDS.get(thresholds, ()))}")
        print(f"commitlog_sync:  {info.get('commitlog', '?')}")
        print(f"directory:       {self.dir}")
        return EXIT_OK if version else EXIT_DOWN

    def logs(self, opts: Options) -> int:
        log = self.dir / SYSTEM_LOG
        if not log.exists():
            log = self.dir / STDOUT_LOG
        lines = tail(log, opts.lines)
        if not lines:
            say(f"no log in {self.dir}")
            return EXIT_FAIL
        print("\n".join(lines))
        return EXIT_OK

    def print_log_tail(self, lines: int) -> None:
        for name in (SYSTEM_LOG, STDOUT_LOG):
            content = tail(self.dir / name, lines)
            if content:
                print(f"----- last {len(content)} lines of {self.dir / name}", file=sys.stderr)
                print("\n".join(content), file=sys.stderr)


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
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import WhiteListRoundRobinPolicy

    driver_log = logging.getLogger("cassandra")
    saved = driver_log.level, driver_log.propagate
    driver_log.setLevel(logging.CRITICAL)
    driver_log.propagate = False
    cluster = Cluster(
        [host],
        port=port,
        connect_timeout=timeout,
        control_connection_timeout=timeout,
        execution_profiles={
            EXEC_PROFILE_DEFAULT: ExecutionProfile(
                load_balancing_policy=WhiteListRoundRobinPolicy([host]), request_timeout=timeout
            )
        },
    )
    try:
        session = cluster.connect()
        peers = {
            str(row.peer)
            for row in session.execute(RING_QUERY)
            if row.host_id is not None and row.tokens
        }
        local = session.execute("SELECT bootstrapped FROM system.local").one()
        return peers, bool(local) and local.bootstrapped == "COMPLETED"
    except Exception as exc:  # the driver raises many unrelated types; all mean "not ready"
        raise NodeError(f"{host}: {type(exc).__name__}: {exc}") from exc
    finally:
        cluster.shutdown()
        driver_log.setLevel(saved[0])
        driver_log.propagate = saved[1]


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
            for index, pids in sorted(running.items()):
                for pid in pids:
                    say(f"stopping node {index + 1} ({self.hosts()[index]}), pid {pid} (SIGTERM)")
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGCONT)  # a paused node cannot handle SIGTERM
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


def pinned_version() -> str:
    """The Cassandra version pinned in ``cassandra-pom.xml`` (next to this module)."""
    match = re.search(r"<cassandra\.version>\s*([^<\s]+)\s*</", POM_FILE.read_text())
    if match is None:
        raise NodeError(f"no <cassandra.version> property in {POM_FILE}")
    return match.group(1)


def find_java() -> str:
    """The java executable from ``JAVA_HOME`` or ``PATH``; Cassandra 5.0 wants Java 11 or 17."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        raise NodeError("no java found (set JAVA_HOME or install openjdk-17-jre-headless)")
    probe = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)', probe.stderr)
    if match and match.group(1) not in ("11", "17"):
        say(f"warning: Cassandra 5.0 supports Java 11 and 17; found Java {match.group(1)}")
    return java


def cassandra_yaml(
    node_dir: Path,
    thresholds: str,
    *,
    host: str = HOST,
    seeds: Sequence[str] = (HOST,),
    initial_token: int = 0,
    commitlog: str = "periodic",
) -> str:
    """A small-machine cassandra.yaml (Cassandra 5.0 option names) for one node.

    ``commitlog`` is ``periodic`` (fsync every 10 s: a crash may lose the last ~10 s of
    acknowledged writes on this node) or ``batch`` (fsync before acknowledging: nothing
    acknowledged is lost).
    """
    warn, fail = THRESHOLDS[thresholds]
    data = node_dir / "data"
    seed_list = ",".join(f"{seed}:{STORAGE_PORT}" for seed in seeds)
    if commitlog == "batch":
        sync = "commitlog_sync: batch"
    else:
        sync = "commitlog_sync: periodic\ncommitlog_sync_period: 10000ms"
    return f"""\
# Written by scyllabatch.testing.node for one throw-away test node; its `stop` deletes it.
cluster_name: {CLUSTER_NAME}
num_tokens: 1
initial_token: {initial_token}
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "{seed_list}"
listen_address: {host}
rpc_address: {host}
storage_port: {STORAGE_PORT}
native_transport_port: {CQL_PORT}
start_native_transport: true
auto_bootstrap: false
storage_compatibility_mode: NONE

data_file_directories:
  - {data / "data"}
commitlog_directory: {data / "commitlog"}
saved_caches_directory: {data / "saved_caches"}
hints_directory: {data / "hints"}
cdc_raw_directory: {data / "cdc_raw"}
{sync}
disk_access_mode: standard
auto_snapshot: false

authenticator:
  class_name: org.apache.cassandra.auth.AllowAllAuthenticator
authorizer:
  class_name: org.apache.cassandra.auth.AllowAllAuthorizer
role_manager:
  class_name: org.apache.cassandra.auth.CassandraRoleManager
network_authorizer:
  class_name: org.apache.cassandra.auth.AllowAllNetworkAuthorizer

# Batch limits: ScyllaDB's 128/1024 KiB by default, Cassandra's stock 5/50 KiB on request.
batch_size_warn_threshold: {warn}
batch_size_fail_threshold: {fail}
unlogged_batch_across_partitions_warn_threshold: 10

# A shared 2-core machine: generous timeouts so that tests are not flaky.
read_request_timeout: 10000ms
range_request_timeout: 10000ms
write_request_timeout: 5000ms
counter_write_request_timeout: 5000ms
cas_contention_timeout: 5000ms
truncate_request_timeout: 60000ms
request_timeout: 10000ms

# Small machine.
concurrent_reads: 4
concurrent_writes: 4
concurrent_counter_writes: 4
concurrent_compactors: 1
memtable_heap_space: 128MiB
memtable_offheap_space: 128MiB
file_cache_size: 64MiB
key_cache_size: 16MiB
counter_cache_size: 8MiB
hinted_handoff_enabled: false
"""


def logback_xml(log_file: Path) -> str:
    """Log INFO and above to ``log_file`` only (nothing to the console)."""
    return f"""\
<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>{log_file}</file>
    <encoder>
      <pattern>%-5level [%thread] %date{{ISO8601}} %F:%L - %msg%n</pattern>
    </encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="FILE" />
  </root>
  <logger name="org.apache.cassandra" level="INFO" />
</configuration>
"""


# --------------------------------------------------------------------------- CLI


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


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_FAIL)
