"""The single local Apache Cassandra 5.0 node: jars resolved once from Maven Central, a fresh
node directory with its configuration, the JVM started in its own session, and the ``start``,
``stop``, ``status`` and ``logs`` commands on it. The ring backend runs one of these per node.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ._node_base import (
    CQL_PORT,
    EXIT_DOWN,
    EXIT_FAIL,
    EXIT_OK,
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
from ._node_config import (
    JVM17_ADD_EXPORTS,
    JVM17_ADD_OPENS,
    POM_FILE,
    THRESHOLDS,
    cassandra_yaml,
    find_java,
    logback_xml,
    pinned_version,
)
from ._node_cql import existing_cql_server, port_open, try_release_version, wait_for_cql
from ._node_process import (
    cache_root,
    exclusive_lock,
    find_node_pids,
    format_bytes,
    is_cassandra,
    rss_bytes,
    tail,
    terminate,
)

# Nodes started by this process: a node outlives the call that started it (the cluster tests
# restart nodes and go on), so its Popen object is kept rather than garbage-collected while the
# process runs (which Python reports as a ResourceWarning).
LAUNCHED: list[subprocess.Popen[bytes]] = []


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
