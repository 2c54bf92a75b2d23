"""Fixtures for tests against the real node: stores over both facades."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from scyllabatch import AsyncStore, Store, StoreConfig

pytestmark = pytest.mark.integration


class Facade:
    """One interface over :class:`Store` and :class:`AsyncStore`, so tests run on both.

    The blocking store is called directly from the test's event loop, which also exercises the
    rule that sync methods work inside a running loop.
    """

    def __init__(self, store: Store | AsyncStore) -> None:
        self.store = store
        self.is_async = isinstance(store, AsyncStore)

    async def batch(self, ops: Sequence[Any], **kwargs: Any) -> list[Any]:
        if isinstance(self.store, AsyncStore):
            return await self.store.abatch(ops, **kwargs)
        return self.store.batch(ops, **kwargs)

    async def get(self, namespace: Sequence[str], key: str, **kwargs: Any) -> Any:
        if isinstance(self.store, AsyncStore):
            return await self.store.aget(namespace, key, **kwargs)
        return self.store.get(namespace, key, **kwargs)

    async def put(self, namespace: Sequence[str], key: str, value: Any, **kwargs: Any) -> None:
        if isinstance(self.store, AsyncStore):
            await self.store.aput(namespace, key, value, **kwargs)
        else:
            self.store.put(namespace, key, value, **kwargs)

    async def delete(self, namespace: Sequence[str], key: str) -> None:
        if isinstance(self.store, AsyncStore):
            await self.store.adelete(namespace, key)
        else:
            self.store.delete(namespace, key)

    async def search(self, prefix: Sequence[str], **kwargs: Any) -> Any:
        if isinstance(self.store, AsyncStore):
            return await self.store.asearch(prefix, **kwargs)
        return self.store.search(prefix, **kwargs)

    async def list_namespaces(self, **kwargs: Any) -> Any:
        if isinstance(self.store, AsyncStore):
            return await self.store.alist_namespaces(**kwargs)
        return self.store.list_namespaces(**kwargs)


def make_store(kind: str, session: Any, keyspace: str, **config: Any) -> Store | AsyncStore:
    cfg = StoreConfig(keyspace=keyspace, **config)
    return AsyncStore(session, config=cfg) if kind == "async" else Store(session, config=cfg)


async def setup_store(store: Store | AsyncStore) -> None:
    if isinstance(store, AsyncStore):
        await store.asetup()
    else:
        store.setup()


@pytest.fixture(params=["sync", "async"])
async def facade(
    request: pytest.FixtureRequest, cql_session: Any, keyspace: str
) -> AsyncIterator[Facade]:
    """A set-up store in a fresh keyspace, over each facade in turn."""
    store = make_store(request.param, cql_session, keyspace)
    await setup_store(store)
    return Facade(store)


@pytest.fixture
def store(scyllabatch_store: Store) -> Store:
    """A set-up blocking store in a fresh keyspace of its own (for tests where the facade does
    not matter): the plugin's ``scyllabatch_store``. Its keyspace is ``store.config.keyspace``,
    not the ``keyspace`` fixture's name."""
    return scyllabatch_store
