"""The node itself works: raw driver, own keyspace and table, an UNLOGGED batch, read back."""

from __future__ import annotations

from typing import Any

from cassandra.query import BatchStatement, BatchType


def test_raw_driver_unlogged_batch_round_trip(cql_session: Any, keyspace: str) -> None:
    cql_session.execute(
        f"CREATE KEYSPACE {keyspace} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    cql_session.execute(f"CREATE TABLE {keyspace}.kv (p text, k int, v text, PRIMARY KEY (p, k))")
    insert = cql_session.prepare(f"INSERT INTO {keyspace}.kv (p, k, v) VALUES (?, ?, ?)")
    batch = BatchStatement(batch_type=BatchType.UNLOGGED)
    for k in range(10):
        batch.add(insert, ("smoke", k, f"value-{k}"))
    cql_session.execute(batch)
    rows = list(cql_session.execute(f"SELECT k, v FROM {keyspace}.kv WHERE p = 'smoke'"))
    assert [(row.k, row.v) for row in rows] == [(k, f"value-{k}") for k in range(10)]
    release = cql_session.execute("SELECT release_version FROM system.local").one()
    assert release.release_version
