"""A driver session that counts the requests sent through it (the database still decides all)."""

from __future__ import annotations

import threading
from typing import Any


class CountingSession:
    """Wraps a real driver session: every ``execute``/``execute_async`` is counted, then sent.

    Everything else (``prepare``, ``cluster``, ...) goes to the wrapped session unchanged.
    """

    def __init__(self, session: Any) -> None:
        self._session = session
        self._lock = threading.Lock()
        self.requests = 0

    def _count(self) -> None:
        with self._lock:
            self.requests += 1

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        """Count, then run the real ``Session.execute``."""
        self._count()
        return self._session.execute(*args, **kwargs)

    def execute_async(self, *args: Any, **kwargs: Any) -> Any:
        """Count, then run the real ``Session.execute_async``."""
        self._count()
        return self._session.execute_async(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def stored_rows(session: Any, keyspace: str) -> int:
    """Rows in every table of a store's keyspace (items and the namespace registry)."""
    return sum(
        len(list(session.execute(f"SELECT * FROM {keyspace}.{table} LIMIT 10")))
        for table in ("items", "namespaces", "namespace_roots")
    )


def prepared_statements(store: Any) -> Any:
    """The store's prepared statements (its driver adapter, ``_driver.Statements``)."""
    store._transport.prepare()
    return store._transport.statements
