"""A second, password-protected Cassandra node for the authentication tests.

Authentication is decided by the server, so it is tested against a real one: a throw-away
Cassandra 5.0 node with ``PasswordAuthenticator``, on another loopback address (127.0.0.2 by
default, ``SCYLLABATCH_AUTH_NODE_HOST`` to change it) so that it never disturbs the main test
node. It reuses ``scyllabatch.testing.node``'s jars (resolved once from Maven Central) and its
JVM command line; only the addresses and the authenticator differ. The node lives in a temporary
directory and is stopped (SIGTERM, then SIGKILL) when the test session ends.

A role with a distinctive password is created for the tests, so that "the password appears
nowhere" is a check that could fail (the default role's password equals its name).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from scyllabatch.testing import node as dbnode

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 240.0


@dataclass(frozen=True)
class AuthNode:
    """Where the node listens and the test role's credentials."""

    host: str
    port: int
    username: str
    password: str


def _session(host: str, port: int, username: str, password: str) -> tuple[Any, Any]:
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import RoundRobinPolicy

    profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy(), request_timeout=60)
    cluster = Cluster(
        contact_points=[host],
        port=port,
        auth_provider=PlainTextAuthProvider(username=username, password=password),
        connect_timeout=10,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
    )
    try:
        return cluster, cluster.connect()
    except Exception:
        cluster.shutdown()
        raise


@contextlib.contextmanager
def auth_node() -> Iterator[AuthNode]:
    """Start the node, create the test role, yield it; stop the node and delete its files."""
    host = os.environ.get("SCYLLABATCH_AUTH_NODE_HOST", "127.0.0.2")
    port = dbnode.CQL_PORT
    if dbnode.port_open(host, port) or dbnode.port_open(host, dbnode.STORAGE_PORT):
        raise RuntimeError(
            f"{host}:{port} or :{dbnode.STORAGE_PORT} is taken: the authentication tests start "
            "their own node there (set SCYLLABATCH_AUTH_NODE_HOST to another loopback address)"
        )
    node_dir = Path(tempfile.mkdtemp(prefix="scyllabatch-authnode-"))
    backend = dbnode.CassandraBackend(node_dir)
    backend.ensure_jars()
    for sub in ("conf", "data", "logs", "tmp", "triggers"):
        (node_dir / sub).mkdir(parents=True, exist_ok=True)
    config = dbnode.cassandra_yaml(node_dir, "scylla").replace(dbnode.HOST, host)
    allow_all = "class_name: org.apache.cassandra.auth.AllowAllAuthenticator"
    assert allow_all in config
    config = config.replace(
        allow_all, "class_name: org.apache.cassandra.auth.PasswordAuthenticator"
    )
    (node_dir / "conf" / "cassandra.yaml").write_text(config)
    (node_dir / "conf" / "logback.xml").write_text(dbnode.logback_xml(node_dir / "logs/system.log"))
    with (node_dir / "stdout.log").open("wb") as out:
        proc = subprocess.Popen(  # fixed argv, no shell
            backend.java_command(),
            cwd=node_dir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        admin = _wait_for_login(proc, host, port, node_dir, dbnode)
        username = "sb_tester"
        password = f"pw-{uuid.uuid4().hex}"
        cluster, session = admin
        try:
            session.execute(
                f"CREATE ROLE {username} WITH PASSWORD = %s AND LOGIN = true AND SUPERUSER = true",
                (password,),
            )
        finally:
            cluster.shutdown()
        yield AuthNode(host=host, port=port, username=username, password=password)
    finally:
        with contextlib.suppress(Exception):
            dbnode.terminate(proc.pid, 60.0)
        with contextlib.suppress(Exception):
            proc.wait(timeout=10)
        shutil.rmtree(node_dir, ignore_errors=True)


def _wait_for_login(
    proc: subprocess.Popen[bytes], host: str, port: int, node_dir: Path, dbnode: ModuleType
) -> Any:
    """Poll until the default superuser can log in (the node creates it after it starts)."""
    from cassandra.cluster import NoHostAvailable

    deadline = time.monotonic() + START_TIMEOUT
    last: BaseException | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = "\n".join(dbnode.tail(node_dir / "logs/system.log", 40))
            raise RuntimeError(
                f"the authentication test node exited with code {proc.returncode}:\n{log}"
            )
        try:
            return _session(host, port, "cassandra", "cassandra")
        except NoHostAvailable as exc:
            last = exc
        time.sleep(1.0)
    raise RuntimeError(
        f"the authentication test node was not ready in {START_TIMEOUT:.0f} s: {last}"
    )
