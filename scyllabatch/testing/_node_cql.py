"""Asking a CQL server whether it is up: its ``release_version`` through the Python driver when
it is importable (else a minimal native protocol v4 client of our own), open ports, and waiting
until a server answers.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ._node_base import CQL_PORT, HOST, NodeError

RELEASE_QUERY = "SELECT release_version FROM system.local"


def release_version(host: str, port: int, timeout: float = 5.0) -> str:
    """Return ``release_version`` from ``system.local``; raise ``OSError``/``NodeError`` if not."""
    try:
        import cassandra.cluster  # noqa: F401  (imported lazily: optional dependency)
    except ImportError:
        return _release_version_raw(host, port, timeout)
    return _release_version_driver(host, port, timeout)


@contextlib.contextmanager
def quiet_driver_session(
    host: str, port: int, timeout: float, load_balancing_policy: Any, error_prefix: str = ""
) -> Iterator[Any]:
    """A Python driver session through ``host`` alone as contact point, with the driver's logging
    silenced; whatever fails inside, connecting included, is raised as ``NodeError``."""
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile

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
                load_balancing_policy=load_balancing_policy, request_timeout=timeout
            )
        },
    )
    try:
        yield cluster.connect()
    except Exception as exc:  # the driver raises many unrelated types; all mean "not ready"
        raise NodeError(f"{error_prefix}{type(exc).__name__}: {exc}") from exc
    finally:
        cluster.shutdown()
        driver_log.setLevel(saved[0])
        driver_log.propagate = saved[1]


def _release_version_driver(host: str, port: int, timeout: float) -> str:
    """Ask with the Python driver (the same code path the SDK uses)."""
    from cassandra.policies import RoundRobinPolicy

    with quiet_driver_session(host, port, timeout, RoundRobinPolicy()) as session:
        row = session.execute(RELEASE_QUERY).one()
        return str(row[0])


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
