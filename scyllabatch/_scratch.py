"""Throw-away keyspaces for the command-line tools (``demo``, ``bench``).

The rule: a tool never drops or writes into anything it did not create in the same run. So a
tool's keyspace is created with a plain ``CREATE KEYSPACE`` (no ``IF NOT EXISTS``): if the name is
taken, even by a keyspace created a moment ago by someone else, the server answers
``AlreadyExists`` and the tool stops before touching it. A keyspace the tool did create is dropped
in a ``finally``, whatever happened in between (errors, Ctrl-C), unless the user asked to keep it.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from cassandra import AlreadyExists

from scyllabatch._core import schema
from scyllabatch.errors import StoreError, StoreQueryError

__all__ = ["KeyspaceExistsError", "fresh_name", "scratch_keyspace"]


class KeyspaceExistsError(StoreError):
    """The keyspace a tool was told to create already exists; nothing was touched."""


def fresh_name(tool: str) -> str:
    """A keyspace name that no one uses yet, e.g. ``scyllabatch_demo_1a2b3c4d``."""
    return f"scyllabatch_{tool}_{uuid.uuid4().hex[:8]}"


def replication_for(local_dc: str | None) -> dict[str, Any]:
    """Replication of a scratch keyspace: one replica, in ``local_dc`` when one is named."""
    if local_dc:
        return {"class": "NetworkTopologyStrategy", local_dc: 1}
    return {"class": "SimpleStrategy", "replication_factor": 1}


def _create_cql(keyspace: str, replication: Mapping[str, Any]) -> str:
    cql = schema.keyspace_cql(keyspace, replication)
    return cql.replace("CREATE KEYSPACE IF NOT EXISTS ", "CREATE KEYSPACE ", 1)


@contextmanager
def scratch_keyspace(
    session: Any,
    keyspace: str,
    replication: Mapping[str, Any],
    *,
    tool: str,
    keep: bool = False,
) -> Iterator[str]:
    """Create ``keyspace`` (it must not exist), yield its name, then drop it.

    Raises :class:`KeyspaceExistsError` when the name is taken: the existing keyspace is left
    exactly as it was. ``keep=True`` leaves the created keyspace in place at the end.
    """
    try:
        session.execute(_create_cql(keyspace, replication), timeout=120)
    except AlreadyExists:
        raise KeyspaceExistsError(
            f"keyspace {keyspace!r} already exists. `scyllabatch {tool}` creates its own "
            "keyspace and drops it afterwards, and never writes into an existing one: pass a "
            "name that is not in use, or no --keyspace for a fresh one"
        ) from None
    except Exception as exc:
        raise StoreQueryError(
            f"could not create keyspace {keyspace!r}: {exc}. `scyllabatch {tool}` needs "
            "permission to create (and drop) a keyspace of its own"
        ) from exc
    try:
        yield keyspace
    finally:
        if not keep:
            try:
                session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
            except Exception as exc:  # never hide the error that got us here
                print(
                    f"scyllabatch {tool}: could not drop keyspace {keyspace!r} that it created "
                    f"({type(exc).__name__}: {exc}); drop it by hand: DROP KEYSPACE {keyspace};",
                    file=sys.stderr,
                )
