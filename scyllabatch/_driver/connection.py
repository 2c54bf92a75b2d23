"""Building the driver's cluster and session for a store.

Contact points and ports, the SDK's execution profile (token-aware routing, no driver retries,
speculative execution of idempotent requests, TCP_NODELAY), authentication and TLS, and the
errors of connecting, each said as a :class:`~scyllabatch.errors.StoreError`.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Mapping
from typing import Any

from cassandra import (
    AuthenticationFailed,
    ConsistencyLevel,
    UnresolvableContactPoints,
)
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    Session,
)
from cassandra.policies import (
    ConstantSpeculativeExecutionPolicy,
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    FallthroughRetryPolicy,
    TokenAwarePolicy,
)
from cassandra.query import (
    SimpleStatement,
    tuple_factory,
)

from scyllabatch.config import StoreConfig
from scyllabatch.errors import (
    StoreAuthenticationError,
    StoreConnectionError,
    StoreError,
    StoreValidationError,
)
from scyllabatch.secret import Secret

logger = logging.getLogger("scyllabatch")

PROFILE = "scyllabatch"
# The SDK alone decides what is re-sent: the driver must never retry behind its back.
NO_DRIVER_RETRIES = FallthroughRetryPolicy()

# The driver leaves Nagle's algorithm on and writes any request above 4 KiB (after compression)
# in 4 KiB pieces: the last piece then waits for the server's delayed ACK, about 40 ms on Linux.
# A 100-put batch of 300-byte values took 45 ms instead of 2 ms. (The Java driver sets
# TCP_NODELAY by default too.)
SOCKET_OPTIONS = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


def consistency_level(name: str) -> int:
    """The driver's numeric consistency level for a name such as ``"LOCAL_QUORUM"``."""
    return int(ConsistencyLevel.name_to_value[name])


def execution_profile(config: StoreConfig) -> ExecutionProfile:
    """The profile every SDK request uses: token-aware, no driver retries, tuple rows.

    Idempotent requests (the driver checks ``is_idempotent``, which the SDK sets on every read
    and every plain put/delete, whose client timestamps are pinned) are sent again to the next
    replica of the query plan after ``speculative_delay`` without an answer; the first answer
    wins. The token-aware plan shuffles the replicas, so a paused replica delays a request by
    one speculative delay instead of failing it after the request timeout. Counter and
    conditional writes are not idempotent and never speculated.
    """
    speculative = (
        ConstantSpeculativeExecutionPolicy(config.speculative_delay, config.speculative_attempts)
        if config.speculative_delay is not None
        else None
    )
    return ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=config.local_dc)),
        retry_policy=NO_DRIVER_RETRIES,
        consistency_level=consistency_level(config.write_consistency),
        request_timeout=config.request_timeout,
        row_factory=tuple_factory,
        speculative_execution_policy=speculative,
    )


def contact_point(entry: str, default_port: int) -> tuple[str, int]:
    """``(host, port)`` for one ``hosts`` entry: ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``.

    A bare IPv6 address (``::1``) takes ``default_port``: its colons are not a port separator.
    Raises :class:`StoreValidationError` for an entry that cannot be a host.
    """
    text = entry.strip() if isinstance(entry, str) else ""
    host, port_text = text, None
    if text.startswith("["):
        close = text.find("]")
        rest = text[close + 1 :] if close > 0 else "?"
        if rest and not rest.startswith(":"):
            raise StoreValidationError(
                f"host {entry!r} is not valid: write an IPv6 address as [address] or "
                "[address]:port",
                field="hosts",
            )
        host, port_text = text[1:close], (rest[1:] if rest else None)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host or any(c.isspace() or c in "[]/" for c in host):
        raise StoreValidationError(
            f"host {entry!r} is not valid: use a host name or address, optionally with :port "
            "(an IPv6 address with a port as [address]:port)",
            field="hosts",
        )
    if port_text is None:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise StoreValidationError(
            f"host {entry!r} has an invalid port {port_text!r}: use a number from 1 to 65535",
            field="hosts",
        )
    return host, int(port_text)


def contact_points(config: StoreConfig) -> list[tuple[str, int]]:
    """The driver's contact points for ``config.hosts`` (each with its own port)."""
    return [contact_point(entry, config.port) for entry in config.hosts]


def cluster_port(config: StoreConfig) -> int:
    """The port for nodes the driver discovers and that do not advertise their own.

    The driver replaces a contact point by the node's entry in ``system.local`` and reaches it
    on this port. So when every host names the same port, that port is used; otherwise
    ``config.port``. (0 below stands for "no port given".)
    """
    given = {contact_point(entry, 0)[1] for entry in config.hosts}
    if len(given) == 1 and 0 not in given:
        return given.pop()
    return config.port


def _auth_failure(error: BaseException) -> bool:
    if isinstance(error, AuthenticationFailed):
        return True
    causes = getattr(error, "errors", None)
    return isinstance(causes, Mapping) and any(
        isinstance(cause, AuthenticationFailed) for cause in causes.values()
    )


def _target(points: list[tuple[str, int]]) -> str:
    return ", ".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in points)


def _auth_provider(config: StoreConfig) -> PlainTextAuthProvider | None:
    if config.username is None or config.password is None:
        return None
    password = config.password
    return PlainTextAuthProvider(
        username=config.username,
        password=password.get_secret_value() if isinstance(password, Secret) else password,
    )


def default_cluster(config: StoreConfig) -> Cluster:
    """A cluster with the driver's defaults for everything but reaching the nodes (contact
    points, port, credentials, TLS): what most hand-written code uses. For the benchmark."""
    return Cluster(
        contact_points=contact_points(config),
        port=cluster_port(config),
        auth_provider=_auth_provider(config),
        ssl_context=config.ssl_context,
    )


def connect(config: StoreConfig) -> tuple[Cluster, Session]:
    """Create a cluster and a session (blocking; the async facade runs this in a thread).

    Every failure is a :class:`StoreError`: a bad host entry is a :class:`StoreValidationError`,
    rejected credentials a :class:`StoreAuthenticationError`, anything else on the way (names
    that do not resolve, refused connections, timeouts) a :class:`StoreConnectionError`. The
    driver's exception is chained; the password never appears in a message.
    """
    points = contact_points(config)
    target = _target(points)
    auth = _auth_provider(config)
    profile = execution_profile(config)
    cluster: Cluster | None = None
    try:
        cluster = Cluster(
            contact_points=points,
            port=cluster_port(config),
            auth_provider=auth,
            ssl_context=config.ssl_context,
            connect_timeout=config.connect_timeout,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile, PROFILE: profile},
            sockopts=SOCKET_OPTIONS,
            # lz4 costs client CPU on every request and saves nothing on a LAN
            compression=False,
            # Host-down detection: a connection that received nothing for `heartbeat_interval` is
            # probed, and closed (its host marked down) without an answer within the same time. A
            # paused node is then out of every query plan within about three intervals, instead
            # of 30 + 30 s with the driver's defaults.
            idle_heartbeat_interval=config.heartbeat_interval,
            idle_heartbeat_timeout=config.heartbeat_interval,
            # A node that comes back is reconnected within 10 s even if its "up" event is missed
            # (the driver's default waits up to 600 s between attempts).
            reconnection_policy=ExponentialReconnectionPolicy(0.5, 10.0),
        )
        session = cluster.connect()
    except BaseException as exc:
        if cluster is not None:
            cluster.shutdown()
        if not isinstance(exc, Exception):  # KeyboardInterrupt and the like pass through
            raise
        raise _connect_error(exc, config, target) from exc
    return cluster, session


def _connect_error(exc: Exception, config: StoreConfig, target: str) -> StoreError:
    """The :class:`StoreError` to raise for a failure to connect (never quoting the password)."""
    if _auth_failure(exc):
        if config.username is None:
            return StoreAuthenticationError(
                f"the cluster at {target} requires authentication: pass username and password "
                "(StoreConfig(username=..., password=...); on the command line --username, with "
                "the password in SCYLLABATCH_PASSWORD or typed at the prompt)"
            )
        return StoreAuthenticationError(
            f"the cluster at {target} rejected the credentials of user {config.username!r}: "
            "check the username and password (the role must exist and have LOGIN = true)"
        )
    if isinstance(exc, UnresolvableContactPoints):
        return StoreConnectionError(
            f"none of the hosts {list(config.hosts)} resolves to an address: check the host "
            "names (SCYLLABATCH_HOSTS on the command line)"
        )
    if config.ssl_context is not None and (
        isinstance(exc, ssl.SSLError) or _has_cause(exc, ssl.SSLError) or "[SSL" in str(exc)
    ):  # the driver re-raises some TLS failures as other OSErrors, keeping ssl's text
        return StoreConnectionError(
            f"TLS handshake with {target} failed: {_brief(exc)}. Check ssl_context (CA file, "
            "client certificate and key) and that the node's client encryption is enabled"
        )
    return StoreConnectionError(
        f"could not connect to {target}: {_brief(exc)}. Is the node running and reachable on "
        "that port? (set the hosts, e.g. SCYLLABATCH_HOSTS=10.0.0.5:9042, for another cluster)"
    )


def _has_cause(exc: BaseException, kind: type[BaseException]) -> bool:
    causes = getattr(exc, "errors", None)
    return isinstance(causes, Mapping) and any(isinstance(c, kind) for c in causes.values())


def _brief(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 500 else text[:500] + " ..."


def attach_profile(session: Session, config: StoreConfig) -> str:
    """Register the SDK's execution profile on a session the caller created.

    Returns the profile name to use. Clusters built with legacy (non-profile) parameters cannot
    take profiles; then the default profile is used and every statement still carries the SDK's
    retry policy and consistency level.
    """
    cluster = session.cluster
    if PROFILE in getattr(cluster.profile_manager, "profiles", {}):
        return PROFILE
    try:
        cluster.add_execution_profile(PROFILE, execution_profile(config))
    except Exception as exc:  # legacy-mode clusters raise ValueError
        logger.info("using the session's default execution profile: %s", exc)
        return EXEC_PROFILE_DEFAULT  # type: ignore[no-any-return]
    return PROFILE


def read_schema(session: Any, cql: str, params: tuple[Any, ...]) -> list[Any]:
    """Rows of a ``system_schema`` query. Schema tables are kept on every node, so they are read
    at ``ONE`` whatever consistency the store's profile asks for (``THREE`` on a one-node cluster
    would make ``setup()`` fail before it created anything)."""
    statement = SimpleStatement(cql, consistency_level=ConsistencyLevel.ONE)
    return list(session.execute(statement, params))
