"""A LangGraph long-term-memory store backed by scyllabatch (``pip install langgraph``).

``ScyllaBatchStore`` is a thin adapter: LangGraph's ``BaseStore`` helpers (``put``, ``get``,
``search``, ``list_namespaces`` and their async twins, including the reserved-``"langgraph"``-root
check in ``put``) build ops and call :meth:`batch` / :meth:`abatch`, which run them through a
:class:`~scyllabatch.Store` or :class:`~scyllabatch.AsyncStore` and convert the results to
LangGraph's ``Item`` / ``SearchItem``.

    store = ScyllaBatchStore(sync=Store.connect(...), async_=None)
    graph = builder.compile(store=store)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

try:
    from langgraph.store.base import BaseStore
    from langgraph.store.base import Item as LangGraphItem
    from langgraph.store.base import SearchItem as LangGraphSearchItem
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("scyllabatch.langgraph needs LangGraph: pip install langgraph") from exc

from scyllabatch.aio import AsyncStore
from scyllabatch.ops import Item, SearchItem
from scyllabatch.store import Store

__all__ = ["ScyllaBatchStore"]


def _convert(result: Any) -> Any:
    if isinstance(result, Item):
        fields: dict[str, Any] = {
            "namespace": result.namespace,
            "key": result.key,
            "value": result.value,
            "created_at": result.created_at,
            "updated_at": result.updated_at,
        }
        if isinstance(result, SearchItem):
            return LangGraphSearchItem(**fields, score=result.score)
        return LangGraphItem(**fields)
    if isinstance(result, list):
        return [_convert(r) for r in result]
    return result


class ScyllaBatchStore(BaseStore):
    """LangGraph ``BaseStore`` over a blocking and/or an asyncio scyllabatch store.

    Native TTL is supported (``supports_ttl``): minutes, refreshed on reads by default.
    """

    supports_ttl = True

    def __init__(self, sync: Store | None = None, async_: AsyncStore | None = None) -> None:
        if sync is None and async_ is None:
            raise ValueError("give a Store (sync=...) and/or an AsyncStore (async_=...)")
        self.sync_store = sync
        self.async_store = async_

    def batch(self, ops: Iterable[Any]) -> list[Any]:
        """Run ops with the blocking store; results are LangGraph types."""
        if self.sync_store is None:
            raise RuntimeError("this ScyllaBatchStore has no blocking Store; use abatch()")
        return [_convert(r) for r in self.sync_store.batch(list(ops))]

    async def abatch(self, ops: Iterable[Any]) -> list[Any]:
        """Run ops with the asyncio store; results are LangGraph types."""
        if self.async_store is None:
            raise RuntimeError("this ScyllaBatchStore has no AsyncStore; use batch()")
        return [_convert(r) for r in await self.async_store.abatch(list(ops))]
