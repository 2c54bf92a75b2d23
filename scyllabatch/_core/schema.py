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

Counters live in ``counters`` (the server refuses counter columns beside other columns), laid out
like items: one partition per namespace, clustered by key and counter name.

Conditional writes (lightweight transactions) cannot carry a client timestamp; they use the
``*_IF_*`` statements and ``UPSERT_IN_CONDITION`` (the full row, without ``TIMESTAMP``).
"""

from __future__ import annotations

import enum
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scyllabatch.config import replication_problem, validate_identifier
from scyllabatch.errors import StoreValidationError

ITEMS = "items"
COUNTERS = "counters"
NAMESPACES = "namespaces"
ROOTS = "namespace_roots"
VECTORS = "item_vectors"  # only in keyspaces of stores with an index config
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
    SELECT_KEYS_IN = "select_keys_in"
    SELECT_CREATED = "select_created"
    SELECT_CREATED_IN = "select_created_in"
    SCAN_PARTITION = "scan_partition"
    REGISTER_NAMESPACE = "register_namespace"
    REGISTER_ROOT = "register_root"
    LIST_ROOTS = "list_roots"
    LIST_UNDER_ROOT = "list_under_root"
    LIST_RANGE = "list_range"
    PROBE_PARTITION = "probe_partition"
    # Semantic search (only prepared for stores with an index config).
    VECTOR_INSERT = "vector_insert"
    VECTOR_DELETE = "vector_delete"
    VECTOR_NEAREST = "vector_nearest"
    VECTOR_READ = "vector_read"
    INSERT_IF_ABSENT = "insert_if_absent"
    CHECK_UNCHANGED = "check_unchanged"
    UPSERT_IN_CONDITION = "upsert_in_condition"
    DELETE_IF_UNCHANGED = "delete_if_unchanged"
    ADD_TO_COUNTER = "add_to_counter"
    SELECT_COUNTERS = "select_counters"


#: What each statement does, as (CQL operation, table): the names telemetry reports.
STATEMENT_OPERATIONS: dict[Statement, tuple[str, str]] = {
    Statement.UPSERT: ("INSERT", ITEMS),
    Statement.DELETE: ("DELETE", ITEMS),
    Statement.SELECT_KEYS: ("SELECT", ITEMS),
    Statement.SELECT_KEYS_IN: ("SELECT", ITEMS),
    Statement.SELECT_CREATED: ("SELECT", ITEMS),
    Statement.SELECT_CREATED_IN: ("SELECT", ITEMS),
    Statement.SCAN_PARTITION: ("SELECT", ITEMS),
    Statement.PROBE_PARTITION: ("SELECT", ITEMS),
    Statement.REGISTER_NAMESPACE: ("INSERT", NAMESPACES),
    Statement.REGISTER_ROOT: ("INSERT", ROOTS),
    Statement.LIST_ROOTS: ("SELECT", ROOTS),
    Statement.LIST_UNDER_ROOT: ("SELECT", NAMESPACES),
    Statement.LIST_RANGE: ("SELECT", NAMESPACES),
    Statement.VECTOR_INSERT: ("INSERT", VECTORS),
    Statement.VECTOR_DELETE: ("DELETE", VECTORS),
    Statement.VECTOR_NEAREST: ("SELECT", VECTORS),
    Statement.VECTOR_READ: ("SELECT", VECTORS),
    Statement.INSERT_IF_ABSENT: ("INSERT", ITEMS),
    Statement.CHECK_UNCHANGED: ("UPDATE", ITEMS),
    Statement.UPSERT_IN_CONDITION: ("INSERT", ITEMS),
    Statement.DELETE_IF_UNCHANGED: ("DELETE", ITEMS),
    Statement.ADD_TO_COUNTER: ("UPDATE", COUNTERS),
    Statement.SELECT_COUNTERS: ("SELECT", COUNTERS),
}


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
        Statement.SELECT_KEYS_IN: (
            f"SELECT {ITEM_COLUMNS}, namespace FROM {items} WHERE namespace IN ? AND key IN ?"
        ),
        Statement.SELECT_CREATED: (
            f"SELECT key, created_at FROM {items} WHERE namespace = ? AND key IN ?"
        ),
        Statement.SELECT_CREATED_IN: (
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
        Statement.INSERT_IF_ABSENT: (
            f"INSERT INTO {items} (namespace, key, value, created_at, updated_at, ttl) "
            "VALUES (?, ?, ?, ?, ?, ?) IF NOT EXISTS USING TTL ?"
        ),
        # The condition of a put-if-unchanged; the row itself is written by UPSERT_IN_CONDITION
        # in the same conditional batch (an UPDATE alone would leave the row marker of an
        # earlier INSERT, and with it an empty row once the new cells expire).
        Statement.CHECK_UNCHANGED: (
            f"UPDATE {items} SET updated_at = ? WHERE namespace = ? AND key = ? IF updated_at = ?"
        ),
        Statement.UPSERT_IN_CONDITION: (
            f"INSERT INTO {items} (namespace, key, value, created_at, updated_at, ttl) "
            "VALUES (?, ?, ?, ?, ?, ?) USING TTL ?"
        ),
        Statement.DELETE_IF_UNCHANGED: (
            f"DELETE FROM {items} WHERE namespace = ? AND key = ? IF updated_at = ?"
        ),
        Statement.ADD_TO_COUNTER: (
            f"UPDATE {ks}.{COUNTERS} SET value = value + ? "
            "WHERE namespace = ? AND key = ? AND name = ?"
        ),
        Statement.SELECT_COUNTERS: (
            f"SELECT key, name, value FROM {ks}.{COUNTERS} WHERE namespace = ? AND key IN ?"
        ),
        Statement.LIST_ROOTS: f"SELECT root FROM {ks}.{ROOTS} WHERE bucket = ?",
        Statement.LIST_UNDER_ROOT: f"SELECT namespace FROM {ks}.{NAMESPACES} WHERE root = ?",
        Statement.LIST_RANGE: (
            f"SELECT namespace FROM {ks}.{NAMESPACES} "
            "WHERE root = ? AND namespace >= ? AND namespace < ?"
        ),
    }


VECTOR_INDEX = "item_vectors_embedding"
#: The server's similarity function of each distance (``similarity_<name>`` in CQL).
SIMILARITY_FUNCTIONS = {"cosine": "cosine", "dot_product": "dot_product", "euclidean": "euclidean"}


def vector_statement_cql(keyspace: str, distance: str) -> dict[Statement, str]:
    """The statements of semantic search, for one validated keyspace and distance.

    One row per (item, field path): partition = the item's namespace, like ``items``, so an
    item's vectors are written in the same partition batch as the item itself.
    ``VECTOR_NEAREST`` is the approximate nearest-neighbour query of one namespace; its
    similarity is the server's (for cosine ``(1 + cos) / 2``), converted by the reader.
    """
    ks = validate_identifier(keyspace, "keyspace")
    function = SIMILARITY_FUNCTIONS[distance]
    table = f"{ks}.{VECTORS}"
    return {
        Statement.VECTOR_INSERT: (
            f"INSERT INTO {table} (namespace, key, path, embedding) VALUES (?, ?, ?, ?) "
            "USING TTL ? AND TIMESTAMP ?"
        ),
        Statement.VECTOR_DELETE: (
            f"DELETE FROM {table} USING TIMESTAMP ? WHERE namespace = ? AND key = ?"
        ),
        Statement.VECTOR_NEAREST: (
            f"SELECT key, path, similarity_{function}(embedding, ?) FROM {table} "
            "WHERE namespace = ? ORDER BY embedding ANN OF ? LIMIT ?"
        ),
        Statement.VECTOR_READ: (
            f"SELECT key, path, embedding, TTL(embedding), WRITETIME(embedding) FROM {table} "
            "WHERE namespace = ? AND key IN ?"
        ),
    }


def vector_table_cql(keyspace: str, dims: int) -> str:
    """``CREATE TABLE IF NOT EXISTS`` of the vector table for ``dims`` dimensions."""
    ks = validate_identifier(keyspace, "keyspace")
    return (
        f"CREATE TABLE IF NOT EXISTS {ks}.{VECTORS} (namespace text, key text, path text, "
        f"embedding vector<float, {int(dims)}>, PRIMARY KEY ((namespace), key, path))"
    )


def vector_index_cql(keyspace: str, distance: str) -> str:
    """``CREATE CUSTOM INDEX IF NOT EXISTS`` of the vector column (a storage-attached index).

    ScyllaDB accepts the same statement for its vector indexes (it maps the class name).
    """
    ks = validate_identifier(keyspace, "keyspace")
    function = SIMILARITY_FUNCTIONS[distance]
    return (
        f"CREATE CUSTOM INDEX IF NOT EXISTS {VECTOR_INDEX} ON {ks}.{VECTORS} (embedding) "
        f"USING 'StorageAttachedIndex' WITH OPTIONS = {{'similarity_function': '{function}'}}"
    )


#: Reads the options of the SDK's vector index (bind the keyspace name).
VECTOR_INDEX_QUERY = (
    "SELECT options FROM system_schema.indexes WHERE keyspace_name = %s AND table_name = "
    f"'{VECTORS}' AND index_name = '{VECTOR_INDEX}'"
)


def keyspace_cql(keyspace: str, replication: Mapping[str, Any]) -> str:
    """``CREATE KEYSPACE IF NOT EXISTS`` with the given replication map.

    Replication is configuration, not data: it is rendered as a CQL map of string literals, after
    the same check as ``StoreConfig`` (no quotes, backslashes or control characters).
    """
    ks = validate_identifier(keyspace, "keyspace")
    problem = replication_problem(replication)
    if problem is not None:
        raise StoreValidationError(f"replication {problem}", field="replication")
    pairs = ", ".join(f"'{k}': '{v}'" for k, v in dict(replication).items())
    return f"CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {{{pairs}}}"


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table, as ``system_schema.columns`` describes it."""

    name: str
    type: str
    kind: str  # "partition_key", "clustering" or "regular"


#: Every table of the SDK and its columns, in primary-key order. ``table_cql`` is built from it,
#: and ``setup()`` compares existing tables with it.
TABLES: dict[str, tuple[Column, ...]] = {
    ITEMS: (
        Column("namespace", "text", "partition_key"),
        Column("key", "text", "clustering"),
        Column("value", "blob", "regular"),
        Column("created_at", "bigint", "regular"),
        Column("updated_at", "bigint", "regular"),
        Column("ttl", "int", "regular"),
    ),
    COUNTERS: (
        Column("namespace", "text", "partition_key"),
        Column("key", "text", "clustering"),
        Column("name", "text", "clustering"),
        Column("value", "counter", "regular"),
    ),
    NAMESPACES: (
        Column("root", "text", "partition_key"),
        Column("namespace", "text", "clustering"),
    ),
    ROOTS: (
        Column("bucket", "int", "partition_key"),
        Column("root", "text", "clustering"),
    ),
}

#: Reads the columns of every table of one keyspace (bind the keyspace name).
COLUMNS_QUERY = (
    "SELECT table_name, column_name, kind, type FROM system_schema.columns WHERE keyspace_name = %s"
)
#: Whether a keyspace exists (bind the keyspace name).
KEYSPACE_QUERY = "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = %s"


def _create_table(keyspace: str, table: str, name: str | None = None) -> str:
    columns = TABLES[table]
    partition = ", ".join(c.name for c in columns if c.kind == "partition_key")
    clustering = "".join(f", {c.name}" for c in columns if c.kind == "clustering")
    body = ", ".join(f"{c.name} {c.type}" for c in columns)
    return (
        f"CREATE TABLE IF NOT EXISTS {keyspace}.{name or table} ("
        f"{body}, PRIMARY KEY (({partition}){clustering}))"
    )


def items_table_cql(keyspace: str, table: str = ITEMS) -> str:
    """``CREATE TABLE IF NOT EXISTS`` of an items table (the benchmark's raw contestants write
    an identical table of their own)."""
    ks = validate_identifier(keyspace, "keyspace")
    return _create_table(ks, ITEMS, validate_identifier(table, "table"))


def table_cql(keyspace: str) -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` statements for every table."""
    ks = validate_identifier(keyspace, "keyspace")
    return [_create_table(ks, table) for table in TABLES]


def table_cql_by_name(keyspace: str) -> dict[str, str]:
    """``CREATE TABLE IF NOT EXISTS`` statement of each table, by table name."""
    ks = validate_identifier(keyspace, "keyspace")
    return {table: _create_table(ks, table) for table in TABLES}


def schema_differences(table: str, existing: Mapping[str, tuple[str, str]]) -> list[str]:
    """How an existing table differs from the SDK's, one sentence per differing column.

    ``existing`` maps column names to ``(kind, type)`` as read from ``system_schema.columns``.
    Every column of the SDK must exist with the same type and role (partition key, clustering
    or regular); extra regular columns are tolerated (the SDK never reads or writes them), extra
    key columns are not (every write would lack them). Empty when the table is compatible.
    """
    expected = {c.name: c for c in TABLES[table]}
    problems: list[str] = []
    for column in expected.values():
        found = existing.get(column.name)
        if found is None:
            problems.append(f"column {column.name!r} ({column.type}) is missing")
            continue
        kind, type_ = found
        if type_ != column.type:
            problems.append(f"column {column.name!r} is {type_}, expected {column.type}")
        if kind != column.kind:
            problems.append(
                f"column {column.name!r} is a {kind.replace('_', ' ')} column, expected a "
                f"{column.kind.replace('_', ' ')} column"
            )
    for name, (kind, type_) in sorted(existing.items()):
        if name not in expected and kind != "regular":
            problems.append(
                f"column {name!r} ({type_}) is an extra {kind.replace('_', ' ')} column"
            )
    return problems
