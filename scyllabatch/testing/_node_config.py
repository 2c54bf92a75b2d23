"""What a local Cassandra 5.0 node runs from: the version pinned in ``cassandra-pom.xml``, the
Java executable and the JVM options Java 17 needs, and the ``cassandra.yaml`` and ``logback.xml``
written into each node directory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ._node_base import CQL_PORT, HOST, STORAGE_PORT, NodeError, say

POM_FILE = Path(__file__).resolve().with_name("cassandra-pom.xml")
CLUSTER_NAME = "scyllabatch-test"

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
