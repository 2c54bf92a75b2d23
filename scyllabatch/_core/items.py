"""Turning stored rows into :class:`~scyllabatch.Item` s, and microsecond timestamps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def from_micros(micros: int) -> datetime:
    """A tz-aware UTC datetime from microseconds since the epoch (exact, no float rounding)."""
    return EPOCH + timedelta(microseconds=micros)


@dataclass(slots=True)
class StoredRow:
    """One item row as read: ``(key, value, created_at, updated_at, ttl, writetime)``."""

    namespace: tuple[str, ...]
    partition: str
    key: str
    blob: bytes
    created_us: int
    updated_us: int
    ttl_seconds: int | None
    writetime_us: int

    @classmethod
    def from_row(cls, namespace: tuple[str, ...], partition: str, row: Any) -> StoredRow:
        """Build from a ``SELECT key, value, created_at, updated_at, ttl, WRITETIME(value)`` row."""
        key, blob, created, updated, ttl, writetime = row[0], row[1], row[2], row[3], row[4], row[5]
        return cls(
            namespace=namespace,
            partition=partition,
            key=key,
            blob=bytes(blob) if blob is not None else b"",
            created_us=int(created if created is not None else writetime or 0),
            updated_us=int(updated if updated is not None else writetime or 0),
            ttl_seconds=int(ttl) if ttl else None,
            writetime_us=int(writetime or 0),
        )
