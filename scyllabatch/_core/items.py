"""Turning stored rows into :class:`~scyllabatch.Item` s, and microsecond timestamps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def from_micros(micros: int) -> datetime:
    """A tz-aware UTC datetime from microseconds since the epoch (exact, no float rounding)."""
    return EPOCH + timedelta(microseconds=micros)


# Positions in a row of ``schema.ITEM_COLUMNS``: key, value, created_at, updated_at, ttl, writetime;
# reads of several partitions add the partition (the namespace's text) after them.
KEY, VALUE, CREATED_AT, UPDATED_AT, TTL, WRITETIME, PARTITION = range(7)


def updated_us(row: Any) -> int:
    """``updated_at`` of an item row (µs); the value's write time for a row written without it."""
    updated = row[UPDATED_AT]
    return int(updated if updated is not None else row[WRITETIME] or 0)


@dataclass(slots=True)
class StoredRow:
    """One item row as read (a row of ``schema.ITEM_COLUMNS``), with its namespace."""

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
        """Build from a row of ``schema.ITEM_COLUMNS``."""
        blob, created, ttl, writetime = row[VALUE], row[CREATED_AT], row[TTL], row[WRITETIME]
        return cls(
            namespace=namespace,
            partition=partition,
            key=row[KEY],
            blob=bytes(blob) if blob is not None else b"",
            created_us=int(created if created is not None else writetime or 0),
            updated_us=updated_us(row),
            ttl_seconds=int(ttl) if ttl else None,
            writetime_us=int(writetime or 0),
        )
