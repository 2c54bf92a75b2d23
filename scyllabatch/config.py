"""Configuration value types: :class:`StoreConfig`, :class:`BatchLimits`, :class:`RetryPolicy`."""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from scyllabatch._core.validation import MAX_VALUE_BYTES
from scyllabatch.errors import StoreValidationError
from scyllabatch.index import IndexConfig
from scyllabatch.secret import Secret

if TYPE_CHECKING:
    import ssl

__all__ = ["BatchLimits", "CreatedAtMode", "RetryPolicy", "StoreConfig"]

_CONSISTENCY_LEVELS = frozenset(
    {"ANY", "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE"}
)

#: A keyspace name the SDK accepts: lower case, as CQL stores unquoted names, 48 characters at most.
KEYSPACE_NAME = re.compile(r"[a-z][a-z0-9_]{0,47}")

#: Words that cannot be used unquoted as a keyspace name on Cassandra, ScyllaDB or DataStax
#: Enterprise (the set the Python driver quotes), so a store's keyspace works on each of them.
_RESERVED_WORDS_TEXT = """
    active add allow alter and any application applications apply asc authentication authorize
    batch begin by call calls cast cluster columnfamily columns commit config create default
    delegation delete desc describe drop entries execute executor executors field from full grant
    if in index indices infinity insert internal into is java kerberos keyspace ldap limit
    lowercasestring materialized mbean mbeans method modify nan no node nodes norecursive not null
    object of on or order plan primary profiles rebuild redact reload remote rename renew replace
    restrict revoke rows schema scheme schemes scylla_clustering_bound scylla_counter_shard_list
    scylla_timeuuid_list_index search select set std_err std_out submission table to token
    truncate unlogged unrestrict unset update use using view where with workpool
"""
RESERVED_WORDS = frozenset(_RESERVED_WORDS_TEXT.split())

#: Characters refused in replication options: they are rendered as CQL string literals, and
#: quotes, backslashes or control characters would change (or break) the statement.
_REPLICATION_FORBIDDEN = frozenset("'\\\"")


def keyspace_problem(value: Any) -> str | None:
    """What is wrong with a keyspace name, or ``None`` if the SDK can use it.

    Names are used unquoted in CQL, which folds them to lower case: a name must be lower case
    (``"MyApp"`` is refused, with the lower-case spelling suggested, rather than silently becoming
    ``myapp``), start with a letter, hold only letters, digits and underscores, be at most 48
    characters, and not be a reserved word (:data:`RESERVED_WORDS`, e.g. ``select``).
    """
    if not isinstance(value, str):
        return f"must be a str, got {type(value).__name__}"
    if value != value.lower() and KEYSPACE_NAME.fullmatch(value.lower()):
        return (
            f"{value!r} has upper-case letters, and CQL folds unquoted names to lower case: "
            f"use {value.lower()!r}"
        )
    if not KEYSPACE_NAME.fullmatch(value):
        return (
            f"{value!r} is not a valid keyspace name: use a lower-case letter followed by up to "
            "47 lower-case letters, digits or underscores"
        )
    if value in RESERVED_WORDS:
        return (
            f"{value!r} is a reserved CQL word (on Cassandra, ScyllaDB or DataStax Enterprise): "
            f"choose another name, e.g. {value + '_store'!r}"
        )
    return None


def validate_identifier(value: str, what: str) -> str:
    """Return ``value`` if it is a usable keyspace name (see :func:`keyspace_problem`).

    Raises :class:`~scyllabatch.StoreValidationError` naming ``what`` otherwise.
    """
    problem = keyspace_problem(value)
    if problem is not None:
        raise StoreValidationError(f"{what} {problem}", field=what)
    return value


class CreatedAtMode(str, enum.Enum):
    """How ``created_at`` is kept (``StoreConfig.created_at_mode``).

    ``EXACT`` (the default): ``created_at`` is the time of the first write since the key was last
    deleted (or expired). Cells are last-write-wins, so this needs a read before the write: one
    ``SELECT key, created_at ... WHERE namespace = ? AND key IN ?`` per partition written (or one
    ``namespace IN ?`` look-up per 25 partitions written with the same keys on the same replicas),
    concurrently with the call's other reads. ``WRITE_ONLY``: no read; every put sets
    ``created_at`` to its own write time (as LangGraph's ``InMemoryStore`` does). For ingestion,
    caches and events, where the extra read costs more than the field is worth.
    """

    EXACT = "exact"
    WRITE_ONLY = "write_only"


def replication_problem(replication: Any) -> str | None:
    """What is wrong with a replication map, or ``None`` if it can be rendered into CQL.

    The map must name a ``class``; keys are non-empty ``str``; values are non-empty ``str`` or
    ``int`` (``bool`` is refused). No key or value may hold a quote, a backslash or a control
    character: the map is written as CQL string literals in ``CREATE KEYSPACE``.
    """
    if not isinstance(replication, Mapping):
        return (
            "must be a mapping such as {'class': 'SimpleStrategy', 'replication_factor': 1}, "
            f"got {type(replication).__name__}"
        )
    if "class" not in replication:
        return "must name a 'class', e.g. {'class': 'NetworkTopologyStrategy', 'dc1': 3}"
    for key, value in replication.items():
        if not isinstance(key, str) or not key:
            return f"option names must be non-empty str, got {key!r}"
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return f"option {key!r} must be a str or an int, got {type(value).__name__}"
        for text in (key, str(value)):
            if not text or not text.isprintable() or _REPLICATION_FORBIDDEN.intersection(text):
                return (
                    f"option {key!r}: {text!r} may not be empty or hold quotes, backslashes or "
                    "control characters"
                )
    return None


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """Size limits for one atomic batch (a LOGGED call, or one partition's UNLOGGED batch).

    A LOGGED call above ``max_ops``/``max_bytes`` is rejected (an atomic batch is never silently
    split), and one above ``warn_ops``/``warn_bytes`` emits a
    :class:`~scyllabatch.StoreBatchSizeWarning` and a log line. UNLOGGED calls are split by the SDK
    itself, so they never warn: each partition's part of a batch (atomic and isolated inside the
    partition) stays within ``warn_ops`` writes, and a batch within ``max_ops`` writes and
    ``warn_bytes`` bytes. A batch combines at most ``max_partitions_per_batch`` partitions, and only
    partitions stored on the same replicas (and ScyllaDB shard): the coordinator is their replica,
    so nothing fans out. The default of 100 (as many as ``max_ops``) was measured: a 100-put call
    over 100 partitions of one replica set is 1 request instead of 10 (at 10), at about half the
    client CPU per call. ScyllaDB checks batch sizes only, in bytes, so it logs nothing about the
    partition count; Cassandra warns (in its log, and in a client warning that the driver logs)
    above ``unlogged_batch_across_partitions_warn_threshold`` (10 partitions), so
    :meth:`cassandra` keeps 10. 1 gives one batch per partition. Bytes are estimated from the
    encoded values, keys and namespaces. Defaults follow ScyllaDB's server thresholds (128 KiB
    warn, 1024 KiB fail); :meth:`cassandra` follows Cassandra's (5/50 KiB).

    ``max_value_bytes`` bounds one item's encoded value (MessagePack bytes), in every call: a put
    with a larger value is refused before anything is sent. The default, 15 MiB, stays below what
    the server accepts for one statement: 16 MiB per CQL message on Cassandra (and the commit
    log's largest mutation, half its 32 MiB segment, on Cassandra and ScyllaDB), leaving 1 MiB
    for the key, the namespace, the other columns and the framing. It is not tied to
    ``max_bytes``: a value alone in an UNLOGGED call is sent as a single statement, which the
    batch thresholds do not cover. Raise it only if the server's limits were raised too.
    """

    max_ops: int = 100
    warn_ops: int = 50
    max_bytes: int = 1024 * 1024
    warn_bytes: int = 128 * 1024
    max_partitions_per_batch: int = 100
    max_value_bytes: int = MAX_VALUE_BYTES

    def __post_init__(self) -> None:
        for name in (
            "max_ops",
            "warn_ops",
            "max_bytes",
            "warn_bytes",
            "max_partitions_per_batch",
            "max_value_bytes",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise StoreValidationError(
                    f"BatchLimits.{name} must be a positive int, got {value!r}", field=name
                )

    @classmethod
    def scylladb(cls) -> BatchLimits:
        """ScyllaDB's server defaults: warn above 128 KiB, fail above 1024 KiB."""
        return cls()

    @classmethod
    def cassandra(cls) -> BatchLimits:
        """Apache Cassandra's server defaults: warn above 5 KiB, fail above 50 KiB."""
        return cls(max_bytes=50 * 1024, warn_bytes=5 * 1024, max_partitions_per_batch=10)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How failed requests are retried (only those that are safe to re-send; see docs/design.md).

    Attempt ``n`` (1-based) waits ``min(max_delay, retry_delay * retry_backoff ** (n - 1))``,
    scaled by a random factor in ``[1 - jitter, 1 + jitter]``.
    """

    max_retries: int = 3
    retry_delay: float = 0.1
    retry_backoff: float = 2.0
    max_delay: float = 5.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise StoreValidationError(
                f"max_retries must be an int >= 0, got {self.max_retries!r}", field="max_retries"
            )
        if self.max_retries < 0:
            raise StoreValidationError(
                f"max_retries must be >= 0, got {self.max_retries}", field="max_retries"
            )
        for name in ("retry_delay", "retry_backoff", "max_delay", "jitter"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                raise StoreValidationError(
                    f"{name} must be a finite number >= 0, got {value!r}", field=name
                )
        if self.retry_backoff < 1:
            raise StoreValidationError(
                f"retry_backoff must be >= 1, got {self.retry_backoff}", field="retry_backoff"
            )
        if self.jitter > 1:
            raise StoreValidationError(
                f"jitter must be between 0 and 1, got {self.jitter}", field="jitter"
            )

    def delay(self, attempt: int, random_unit: float = 0.5) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based); ``random_unit`` in [0, 1)."""
        base = min(self.max_delay, self.retry_delay * self.retry_backoff ** (attempt - 1))
        return max(0.0, base * (1.0 + self.jitter * (2.0 * random_unit - 1.0)))

    def with_overrides(
        self,
        max_retries: int | None = None,
        retry_delay: float | None = None,
        retry_backoff: float | None = None,
    ) -> RetryPolicy:
        """Return a copy with the per-call overrides of ``batch()`` applied."""
        changes: dict[str, Any] = {}
        if max_retries is not None:
            changes["max_retries"] = max_retries
        if retry_delay is not None:
            changes["retry_delay"] = retry_delay
        if retry_backoff is not None:
            changes["retry_backoff"] = retry_backoff
        return replace(self, **changes) if changes else self


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Everything needed to connect and to run batches. Immutable; credentials never in ``repr``.

    ``hosts`` entries are host names or addresses, optionally with their own port:
    ``"10.0.0.5"``, ``"10.0.0.5:9142"``, ``"[::1]:9042"`` (``port`` is used where none is given).
    ``password`` may be given as a ``str``; it is stored as a :class:`~scyllabatch.Secret`, whose
    ``repr``/``str`` are masked and which is never carried by pickling (see
    :mod:`scyllabatch.secret`). ``dataclasses.asdict(config)`` holds that masked object too.

    ``replication`` is used only when ``create_keyspace`` is true and the keyspace is missing.
    ``max_concurrency`` bounds the requests in flight per call; ``requests_per_second`` (optional)
    rate-limits requests of a store; ``request_timeout`` is in seconds. ``created_at_mode``
    (``"exact"`` or ``"write_only"``, see :class:`CreatedAtMode`) chooses whether puts read the
    existing ``created_at`` first.

    Checked here, at construction, so a bad setting never reaches the server: ``keyspace`` must
    be lower case (CQL folds unquoted names, so ``"MyApp"`` is refused and ``"myapp"``
    suggested), start with a letter, hold only letters, digits and underscores (48 at most) and
    not be a reserved CQL word such as ``select`` (see :func:`keyspace_problem`);
    ``replication`` must name a ``class`` and hold only ``str``/``int`` options without quotes,
    backslashes or control characters (see :func:`replication_problem`).

    ``speculative_delay`` (seconds; ``None`` turns it off): an idempotent request (every read,
    every plain put/delete) with no answer after this long is sent again to the next replica,
    up to ``speculative_attempts`` extra times; the first answer wins. A frozen or very slow
    replica then costs one delay instead of a request timeout. (A short delay re-sends many
    requests of a loaded cluster: at 0.25 s the median call on a busy 2-core test machine
    doubled; 1 s costs nothing measurable there.) ``heartbeat_interval`` (seconds,
    only for stores made by :meth:`Store.connect`): a connection that received nothing for
    this long is probed, and a node that does not answer the probe within the same time is
    marked down, so new requests stop choosing it.

    ``index`` (an :class:`~scyllabatch.IndexConfig`, or LangGraph's ``{"dims", "embed",
    "fields"}`` dict) turns on semantic search: puts embed the configured fields and
    ``SearchOp(query=...)`` ranks by vector similarity (``docs/search.md``). ``setup()`` then
    also creates the vector table and its index. Without it nothing of that exists or runs.

    ``serial_consistency`` (``"SERIAL"`` or ``"LOCAL_SERIAL"``) is the Paxos consistency of
    conditional writes (:class:`~scyllabatch.ConditionalPutOp`) and of the read of the current
    item when a condition fails; ``write_consistency`` is their commit consistency.

    ``encode_default`` (like msgpack's and ``json.dumps``'s ``default``): a function called with
    each object inside a put's value whose type the MessagePack codec does not know (``UUID``,
    ``Decimal``, a dataclass, ...); it returns what to store instead, made of dicts, lists,
    ``str``, ``int``, ``float``, ``bool``, ``bytes``, tz-aware ``datetime`` or ``None`` (the
    returned value's items may go through it again), and raises ``TypeError`` for what it does
    not handle. Values are read back as what was stored (a UUID stored as ``str`` comes back a
    ``str``): there is no decoding hook, so the stored bytes stay plain MessagePack that any
    program reads. Values made only of known types never call it and cost nothing extra.
    """

    hosts: Sequence[str] = ("127.0.0.1",)
    port: int = 9042
    keyspace: str = "scyllabatch"
    create_keyspace: bool = True
    replication: Mapping[str, Any] = field(
        default_factory=lambda: {"class": "SimpleStrategy", "replication_factor": 1}
    )
    read_consistency: str = "LOCAL_QUORUM"
    write_consistency: str = "LOCAL_QUORUM"
    limits: BatchLimits = field(default_factory=BatchLimits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_concurrency: int = 64
    request_timeout: float = 10.0
    connect_timeout: float = 10.0
    username: str | None = None
    password: Secret | str | None = field(default=None, repr=False)
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    local_dc: str | None = None
    requests_per_second: float | None = None
    page_size: int = 1000
    created_at_mode: CreatedAtMode = CreatedAtMode.EXACT
    speculative_delay: float | None = 1.0
    speculative_attempts: int = 2
    heartbeat_interval: float = 2.0
    serial_consistency: str = "SERIAL"
    index: IndexConfig | Mapping[str, Any] | None = None
    encode_default: Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        if self.index is not None:
            object.__setattr__(self, "index", IndexConfig.coerce(self.index))
        if isinstance(self.hosts, str):
            object.__setattr__(self, "hosts", (self.hosts,))
        object.__setattr__(self, "hosts", tuple(self.hosts))
        if not self.hosts or not all(isinstance(h, str) and h for h in self.hosts):
            raise StoreValidationError(
                f"hosts must be a non-empty list of host names, got {self.hosts!r}", field="hosts"
            )
        validate_identifier(self.keyspace, "keyspace")
        problem = replication_problem(self.replication)
        if problem is not None:
            raise StoreValidationError(f"replication {problem}", field="replication")
        object.__setattr__(self, "replication", dict(self.replication))
        for name in ("read_consistency", "write_consistency"):
            level = getattr(self, name)
            if not isinstance(level, str) or level.upper() not in _CONSISTENCY_LEVELS:
                raise StoreValidationError(
                    f"{name} {level!r} is not a consistency level; use one of "
                    f"{sorted(_CONSISTENCY_LEVELS)}",
                    field=name,
                )
            object.__setattr__(self, name, level.upper())
        serial = self.serial_consistency
        if not isinstance(serial, str) or serial.upper() not in ("SERIAL", "LOCAL_SERIAL"):
            raise StoreValidationError(
                f"serial_consistency {serial!r} is not a serial consistency level; use 'SERIAL' "
                "(Paxos across all data centers) or 'LOCAL_SERIAL' (within the local data center)",
                field="serial_consistency",
            )
        object.__setattr__(self, "serial_consistency", serial.upper())
        for name in ("max_concurrency", "port", "page_size", "speculative_attempts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise StoreValidationError(
                    f"{name} must be a positive int, got {value!r}", field=name
                )
        for name in ("request_timeout", "connect_timeout", "heartbeat_interval"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise StoreValidationError(f"{name} must be > 0 seconds, got {value!r}", field=name)
        if self.speculative_delay is not None and not (
            isinstance(self.speculative_delay, (int, float)) and self.speculative_delay > 0
        ):
            raise StoreValidationError(
                f"speculative_delay must be > 0 seconds or None, got {self.speculative_delay!r}",
                field="speculative_delay",
            )
        if self.requests_per_second is not None and not self.requests_per_second > 0:
            raise StoreValidationError(
                f"requests_per_second must be > 0 or None, got {self.requests_per_second!r}",
                field="requests_per_second",
            )
        try:
            object.__setattr__(self, "created_at_mode", CreatedAtMode(self.created_at_mode))
        except ValueError:
            raise StoreValidationError(
                f"created_at_mode {self.created_at_mode!r} is not supported; use 'exact' (the "
                "default: created_at survives updates, at the cost of a read) or 'write_only' "
                "(no read: every put sets created_at to its own write time)",
                field="created_at_mode",
            ) from None
        if self.encode_default is not None and not callable(self.encode_default):
            raise StoreValidationError(
                "encode_default must be a function (called with an object the codec does not "
                f"know, returning what to store instead) or None, got "
                f"{type(self.encode_default).__name__}",
                field="encode_default",
            )
        if self.password is not None and not isinstance(self.password, Secret):
            object.__setattr__(self, "password", Secret(self.password))
        if (self.username is None) != (self.password is None):
            raise StoreValidationError(
                "username and password must be given together", field="username"
            )

    @property
    def index_config(self) -> IndexConfig | None:
        """``index`` as an :class:`~scyllabatch.IndexConfig` (a dict given is converted)."""
        return self.index if isinstance(self.index, IndexConfig) else None
