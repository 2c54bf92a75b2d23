"""CQL text of the schema and of every statement, built from validated identifiers only.

Values are never formatted into CQL: every statement below is prepared once per session and bound.

Items live in one partition per namespace (labels joined with ``.``), clustered by key.
``created_at``/``updated_at`` are microseconds since the epoch (CQL ``timestamp`` has only
milliseconds, and a re-put must move ``updated_at`` strictly forward). ``ttl`` keeps the item's
TTL in seconds so reads can re-apply it.

The namespace registry makes listing and prefix search cheap without scanning items:
``namespaces`` is partitioned by a namespace's first label and clustered by its full path, so every
namespace under a prefix is one clustering range of one partition; ``namespace_roots`` lists the
first labels, used only when the prefix is empty. A root's row lives in one of
``ROOT_BUCKETS`` small partitions, chosen by a hash of the root, so registering many new roots
does not send every write to the replicas of a single partition; listing reads every bucket.
"""

from __future__ import annotations

import enum
import json
import struct
import zlib
from collections.abc import Mapping
from typing import Any

from scyllabatch.config import validate_identifier

ITEMS = "items"
NAMESPACES = "namespaces"
ROOTS = "namespace_roots"
ROOT_BUCKETS = 8
"""Partitions of ``namespace_roots`` (``bucket`` 0..7). Older versions wrote every root to
bucket 0, which listing still reads."""


def root_bucket(root: str) -> int:
    """The ``namespace_roots`` partition of ``root``: a stable hash, the same in every process."""
    return zlib.crc32(root.encode("utf-8")) % ROOT_BUCKETS


def bucket_key(bucket: int) -> bytes:
    """The serialized partition key of a ``namespace_roots`` bucket (a CQL ``int``), for
    token-aware grouping."""
    return struct.pack(">i", bucket)


ITEM_COLUMNS = "key, value, created_at, updated_at, ttl, WRITETIME(value)"


class Statement(enum.Enum):
    """Every prepared statement the SDK uses."""

    UPSERT = "upsert"
    DELETE = "delete"
    SELECT_KEYS = "select_keys"
    SELECT_CREATED = "select_created"
    SCAN_PARTITION = "scan_partition"
    REGISTER_NAMESPACE = "register_namespace"
    REGISTER_ROOT = "register_root"
    LIST_ROOTS = "list_roots"
    LIST_UNDER_ROOT = "list_under_root"
    LIST_RANGE = "list_range"
    PROBE_PARTITION = "probe_partition"


def statement_cql(keyspace: str) -> dict[Statement, str]:
    """Return the CQL text of every statement, for one validated keyspace."""
    ks = validate_identifier(keyspace, "keyspace")
    items = f"{ks}.{ITEMS}"
    return {
        Statement.UPSERT: (
            f"INSERT INTO {items} (namespace, key, value, created_at, updated_at, ttl) "
            "VALUES (?, ?, ?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?"
        ),
        Statement.DELETE: f"DELETE FROM {items} USING TIMESTAMP ? WHERE namespace = ? AND key = ?",
        Statement.SELECT_KEYS: (
            f"SELECT {ITEM_COLUMNS} FROM {items} WHERE namespace = ? AND key IN ?"
        ),
        Statement.SELECT_CREATED: (
            f"SELECT namespace, key, created_at FROM {items} WHERE namespace IN ? AND key IN ?"
        ),
        Statement.SCAN_PARTITION: f"SELECT {ITEM_COLUMNS} FROM {items} WHERE namespace = ?",
        Statement.PROBE_PARTITION: f"SELECT key FROM {items} WHERE namespace = ? LIMIT 1",
        Statement.REGISTER_NAMESPACE: (
            f"INSERT INTO {ks}.{NAMESPACES} (root, namespace) VALUES (?, ?) USING TIMESTAMP ?"
        ),
        Statement.REGISTER_ROOT: (
            f"INSERT INTO {ks}.{ROOTS} (bucket, root) VALUES (?, ?) USING TIMESTAMP ?"
        ),
        Statement.LIST_ROOTS: f"SELECT root FROM {ks}.{ROOTS} WHERE bucket = ?",
        Statement.LIST_UNDER_ROOT: f"SELECT namespace FROM {ks}.{NAMESPACES} WHERE root = ?",
        Statement.LIST_RANGE: (
            f"SELECT namespace FROM {ks}.{NAMESPACES} "
            "WHERE root = ? AND namespace >= ? AND namespace < ?"
        ),
    }


def keyspace_cql(keyspace: str, replication: Mapping[str, Any]) -> str:
    """``CREATE KEYSPACE IF NOT EXISTS`` with the given replication map."""
    ks = validate_identifier(keyspace, "keyspace")
    # Replication is configuration, not data; it is rendered as a CQL map literal from a JSON
    # encoding of plain strings/ints, and single quotes are the CQL string delimiter.
    pairs = ", ".join(
        f"'{_literal(str(k))}': '{_literal(str(v))}'" for k, v in dict(replication).items()
    )
    return f"CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {{{pairs}}}"


def _literal(text: str) -> str:
    if "'" in text or "\\" in text or not text.isprintable():
        raise ValueError(f"replication option {json.dumps(text)} has characters not allowed")
    return text


def table_cql(keyspace: str) -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` statements for every table."""
    ks = validate_identifier(keyspace, "keyspace")
    return [
        f"CREATE TABLE IF NOT EXISTS {ks}.{ITEMS} ("
        "namespace text, key text, value blob, created_at bigint, updated_at bigint, ttl int, "
        "PRIMARY KEY ((namespace), key))",
        f"CREATE TABLE IF NOT EXISTS {ks}.{NAMESPACES} ("
        "root text, namespace text, PRIMARY KEY ((root), namespace))",
        f"CREATE TABLE IF NOT EXISTS {ks}.{ROOTS} ("
        "bucket int, root text, PRIMARY KEY ((bucket), root))",
    ]
