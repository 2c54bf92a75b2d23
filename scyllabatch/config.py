"""Configuration value types: :class:`StoreConfig`, :class:`BatchLimits`, :class:`RetryPolicy`."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from scyllabatch.errors import StoreValidationError

if TYPE_CHECKING:
    import ssl

__all__ = ["BatchLimits", "RetryPolicy", "StoreConfig"]

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}")
_CONSISTENCY_LEVELS = frozenset(
    {"ANY", "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE"}
)


def validate_identifier(value: str, what: str) -> str:
    """Return ``value`` if it is a safe unquoted CQL identifier, else raise a validation error."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise StoreValidationError(
            f"{what} {value!r} is not a valid CQL identifier: use a letter followed by up to 47 "
            "letters, digits or underscores",
            field=what,
        )
    return value


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """Size limits for one atomic batch (a LOGGED call, or one partition's UNLOGGED batch).

    A LOGGED call above ``max_ops``/``max_bytes`` is rejected (an atomic batch is never silently
    split), and one above ``warn_ops``/``warn_bytes`` emits a
    :class:`~scyllabatch.StoreBatchSizeWarning` and a log line. UNLOGGED calls are split by the SDK
    itself, so they never warn: every batch stays within ``warn_ops`` writes and ``warn_bytes``
    bytes, keeps each partition's writes together (atomic and isolated per partition), and
    combines at most ``max_partitions_per_batch`` partitions, only partitions stored on the same
    replicas (and ScyllaDB shard): the coordinator is their replica, so nothing fans out. The
    default of 10 stays within Cassandra's ``unlogged_batch_across_partitions_warn_threshold``;
    1 gives one batch per partition. Bytes are
    estimated from the encoded values, keys and namespaces. Defaults follow ScyllaDB's server
    thresholds (128 KiB warn, 1024 KiB fail); :meth:`cassandra` follows Cassandra's (5/50 KiB).
    """

    max_ops: int = 100
    warn_ops: int = 50
    max_bytes: int = 1024 * 1024
    warn_bytes: int = 128 * 1024
    max_partitions_per_batch: int = 10

    def __post_init__(self) -> None:
        for name in ("max_ops", "warn_ops", "max_bytes", "warn_bytes", "max_partitions_per_batch"):
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
        return cls(max_bytes=50 * 1024, warn_bytes=5 * 1024)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How failed requests are retried (only those that are safe to re-send; see DESIGN.md).

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

    ``replication`` is used only when ``create_keyspace`` is true and the keyspace is missing.
    ``max_concurrency`` bounds the requests in flight per call; ``requests_per_second`` (optional)
    rate-limits requests of a store; ``request_timeout`` is in seconds.

    ``speculative_delay`` (seconds; ``None`` turns it off): an idempotent request (every read,
    every plain put/delete) with no answer after this long is sent again to the next replica,
    up to ``speculative_attempts`` extra times; the first answer wins. A frozen or very slow
    replica then costs one delay instead of a request timeout. (A short delay re-sends many
    requests of a loaded cluster: at 0.25 s the median call on a busy 2-core test machine
    doubled; 1 s costs nothing measurable there.) ``heartbeat_interval`` (seconds,
    only for stores made by :meth:`Store.connect`): a connection that received nothing for
    this long is probed, and a node that does not answer the probe within the same time is
    marked down, so new requests stop choosing it.
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
    password: str | None = field(default=None, repr=False)
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    local_dc: str | None = None
    requests_per_second: float | None = None
    page_size: int = 1000
    speculative_delay: float | None = 1.0
    speculative_attempts: int = 2
    heartbeat_interval: float = 2.0

    def __post_init__(self) -> None:
        if isinstance(self.hosts, str):
            object.__setattr__(self, "hosts", (self.hosts,))
        object.__setattr__(self, "hosts", tuple(self.hosts))
        object.__setattr__(self, "replication", dict(self.replication))
        if not self.hosts or not all(isinstance(h, str) and h for h in self.hosts):
            raise StoreValidationError(
                f"hosts must be a non-empty list of host names, got {self.hosts!r}", field="hosts"
            )
        validate_identifier(self.keyspace, "keyspace")
        for name in ("read_consistency", "write_consistency"):
            level = getattr(self, name)
            if not isinstance(level, str) or level.upper() not in _CONSISTENCY_LEVELS:
                raise StoreValidationError(
                    f"{name} {level!r} is not a consistency level; use one of "
                    f"{sorted(_CONSISTENCY_LEVELS)}",
                    field=name,
                )
            object.__setattr__(self, name, level.upper())
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
        if (self.username is None) != (self.password is None):
            raise StoreValidationError(
                "username and password must be given together", field="username"
            )
