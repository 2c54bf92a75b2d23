"""``setup()``: create what is missing of the keyspace and tables, then check what exists.

Blocking (the asyncio facade runs it in a thread). Nothing is created that exists already, so an
account without CREATE permission can set up a store whose keyspace and tables an administrator
made; a table of ours with another schema is reported, naming the differing columns, instead of
failing later.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scyllabatch import _driver
from scyllabatch._core import schema
from scyllabatch._core.retry import ErrorKind
from scyllabatch.config import StoreConfig
from scyllabatch.errors import StoreQueryError

# Seconds a schema statement of setup() may take (at least the request timeout).
SETUP_TIMEOUT = 60.0


def setup_schema(session: Any, config: StoreConfig) -> None:
    """Create the keyspace (if ``config.create_keyspace``) and the tables that are missing."""
    keyspace = config.keyspace
    if not _keyspace_exists(session, keyspace):
        if not config.create_keyspace:
            raise StoreQueryError(
                f"keyspace {keyspace!r} does not exist and create_keyspace is False: create "
                "it first (with the replication your cluster needs), or pass "
                "create_keyspace=True"
            )
        _run_ddl(session, config, schema.keyspace_cql(keyspace, config.replication), "keyspace")
    existing = _existing_columns(session, keyspace)
    for table, cql in schema.table_cql_by_name(keyspace).items():
        if table not in existing:
            _run_ddl(session, config, cql, f"table {keyspace}.{table}")
    existing = _existing_columns(session, keyspace)
    clashes = [
        f"{keyspace}.{table}: " + "; ".join(problems)
        for table in schema.TABLES
        if (problems := schema.schema_differences(table, existing.get(table, {})))
    ]
    if clashes:
        raise StoreQueryError(
            "setup() found tables with another schema than scyllabatch's ("
            + " | ".join(clashes)
            + "); use another keyspace, or drop or rename those tables if their data is not "
            "needed"
        )


def _read(session: Any, keyspace: str, cql: str, params: tuple[Any, ...]) -> list[Any]:
    try:
        return _driver.read_schema(session, cql, params)
    except Exception as exc:
        raise StoreQueryError(
            f"setup of keyspace {keyspace!r} could not read the schema: {exc}"
        ) from exc


def _keyspace_exists(session: Any, keyspace: str) -> bool:
    return bool(_read(session, keyspace, schema.KEYSPACE_QUERY, (keyspace,)))


def _existing_columns(session: Any, keyspace: str) -> dict[str, dict[str, tuple[str, str]]]:
    """``{table: {column: (kind, type)}}`` of the SDK's tables in the keyspace."""
    columns: dict[str, dict[str, tuple[str, str]]] = {}
    for row in _read(session, keyspace, schema.COLUMNS_QUERY, (keyspace,)):
        # In COLUMNS_QUERY's order, whatever row factory the caller's session uses.
        table, column, kind, type_ = row.values() if isinstance(row, Mapping) else row
        if table in schema.TABLES:
            columns.setdefault(table, {})[column] = (kind, type_)
    return columns


def _run_ddl(session: Any, config: StoreConfig, cql: str, what: str) -> None:
    keyspace = config.keyspace
    try:
        # Schema changes wait for every node to agree on the new schema: seconds on a loaded
        # multi-node ring, so they get more time than a data request's timeout.
        session.execute(cql, timeout=max(config.request_timeout, SETUP_TIMEOUT))
    except Exception as exc:
        if _driver.classify(exc) is not ErrorKind.AUTH:
            raise StoreQueryError(f"setup could not create {what}: {exc}") from exc
        if what == "keyspace":
            advice = (
                "this account may not create keyspaces: have one that may run "
                f"`{cql}`, then pass create_keyspace=False"
            )
        else:
            advice = (
                f"this account may not create tables in keyspace {keyspace!r}: grant it "
                f"CREATE ON KEYSPACE {keyspace}, or have an account that may run `{cql}`"
            )
        raise StoreQueryError(f"setup could not create {what}: {advice} ({exc})") from exc
