"""A LangGraph long-term-memory store backed by scyllabatch (``pip install langgraph``).

``ScyllaBatchStore`` is a LangGraph ``BaseStore`` over a blocking :class:`~scyllabatch.Store`, an
asyncio :class:`~scyllabatch.AsyncStore`, or both::

    store = ScyllaBatchStore(sync=Store.connect(...), ttl={"default_ttl": 60})
    graph = builder.compile(store=store)

How LangGraph's conventions map onto scyllabatch (``docs/langgraph.md`` says more):

- ``batch`` / ``abatch`` run the ops through the store's ``batch`` / ``abatch`` (one validated,
  planned call) and convert results to LangGraph's ``Item`` / ``SearchItem``.
- The helpers (``get``, ``put``, ``search``, ``delete``, ``list_namespaces`` and their ``a``
  twins) check namespaces like LangGraph's (reserved ``"langgraph"`` root in ``put``) and apply the
  ``TTLConfig``: ``default_ttl`` for puts given no ``ttl``, ``refresh_on_read`` for reads given no
  ``refresh_ttl``.
- Event loops, as in LangGraph's stores: with only a ``Store``, ``abatch`` runs the blocking
  batch in the loop's default executor (like ``PostgresStore``); with an ``AsyncStore``, a
  synchronous call on the thread running the store's loop raises ``asyncio.InvalidStateError``
  (use the async method), and from other threads it runs on that loop
  (``asyncio.run_coroutine_threadsafe``), or on the ``Store`` when there is one.
- Concurrent single calls (``aget``, ``aput``, ...) issued in the same loop tick run as one
  ``abatch``, like LangGraph's ``AsyncBatchedBaseStore``; each caller still gets its own result or
  its own error.
- Expiry is the database's native TTL: nothing is ever left to sweep, so the sweeper methods exist
  for compatibility and remove nothing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

try:
    from langgraph.store.base import NOT_PROVIDED, BaseStore, NotProvided, TTLConfig
    from langgraph.store.base import GetOp as LangGraphGetOp
    from langgraph.store.base import InvalidNamespaceError as LangGraphInvalidNamespaceError
    from langgraph.store.base import Item as LangGraphItem
    from langgraph.store.base import ListNamespacesOp as LangGraphListNamespacesOp
    from langgraph.store.base import MatchCondition as LangGraphMatchCondition
    from langgraph.store.base import PutOp as LangGraphPutOp
    from langgraph.store.base import SearchItem as LangGraphSearchItem
    from langgraph.store.base import SearchOp as LangGraphSearchOp
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("scyllabatch.langgraph needs LangGraph: pip install langgraph") from exc

from scyllabatch._base import as_op_list
from scyllabatch._core.validation import validate_ops
from scyllabatch._impl import codec
from scyllabatch.aio import AsyncStore
from scyllabatch.errors import StoreError, StoreValidationError
from scyllabatch.index import IndexConfig
from scyllabatch.ops import Item, SearchItem
from scyllabatch.store import Store

__all__ = ["InvalidNamespaceError", "ScyllaBatchStore"]

logger = logging.getLogger(__name__)

_TTL_CONFIG_KEYS = ("default_ttl", "refresh_on_read", "sweep_interval_minutes")


class InvalidNamespaceError(StoreValidationError, LangGraphInvalidNamespaceError):
    """A namespace LangGraph's helpers refuse.

    Empty, the reserved ``"langgraph"`` root in ``put``, or a label that is empty, not a ``str``, or
    contains ``.`` or NUL.
    Both a :class:`~scyllabatch.StoreValidationError` and LangGraph's ``InvalidNamespaceError``, so
    either ``except`` catches it. Nothing was sent.
    """


# -- conversions and checks ------------------------------------------------------------------------


def _convert(result: Any) -> Any:
    """One scyllabatch result as the LangGraph type (``Item``, ``SearchItem``, lists of them)."""
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


def _langgraph_index_config(config: IndexConfig | None) -> dict[str, Any] | None:
    """``config`` as the dict LangGraph's stores keep in ``index_config``."""
    if config is None:
        return None
    return {
        "dims": config.dims,
        "embed": config.embed,
        "fields": list(config.fields),
        "distance": config.distance,
    }


def _check_labels(namespace: Any, what: str = "namespace") -> None:
    """LangGraph's label rules for the helpers; other shapes are left to the store's validation."""
    if not isinstance(namespace, (tuple, list)):
        return
    for label in namespace:
        problem = None
        if not isinstance(label, str):
            problem = f"labels must be str, got {type(label).__name__}"
        elif not label:
            problem = "labels must not be empty"
        elif "." in label:
            problem = f"label {label!r} must not contain '.'"
        elif "\x00" in label:
            problem = f"label {label!r} must not contain NUL"
        if problem:
            raise InvalidNamespaceError(
                f"invalid {what} {tuple(namespace)!r}: {problem}", field=what
            )


def _check_put_namespace(namespace: Any) -> None:
    """LangGraph's rules for ``put``: non-empty, valid labels, root label not ``"langgraph"``."""
    if isinstance(namespace, (tuple, list)):
        if not namespace:
            raise InvalidNamespaceError("namespace must not be empty", field="namespace")
        _check_labels(namespace)
        if namespace[0] == "langgraph":
            raise InvalidNamespaceError(
                f'the root label "langgraph" is reserved by LangGraph: {tuple(namespace)!r}',
                field="namespace",
            )


def _checked_ttl_config(ttl: Any) -> TTLConfig | None:
    """Validate a LangGraph ``TTLConfig`` (minutes, like every TTL in the API) and copy it."""
    if ttl is None:
        return None
    if not isinstance(ttl, Mapping):
        raise StoreValidationError(
            f"ttl must be a TTLConfig dict ({', '.join(_TTL_CONFIG_KEYS)}), "
            f"got {type(ttl).__name__}",
            field="ttl",
        )
    unknown = sorted(str(k) for k in ttl if k not in _TTL_CONFIG_KEYS)
    if unknown:
        logger.warning("TTLConfig keys ignored by ScyllaBatchStore: %s", ", ".join(unknown))
    for name in ("default_ttl", "sweep_interval_minutes"):
        minutes = ttl.get(name)
        if minutes is None:
            continue
        if (
            isinstance(minutes, bool)
            or not isinstance(minutes, (int, float))
            or not math.isfinite(minutes)
            or minutes < 0
        ):
            raise StoreValidationError(
                f"ttl[{name!r}] must be a finite number of minutes >= 0 or None, got {minutes!r}",
                field=f"ttl.{name}",
            )
    refresh = ttl.get("refresh_on_read", True)
    if not isinstance(refresh, bool):
        raise StoreValidationError(
            f"ttl['refresh_on_read'] must be a bool, got {type(refresh).__name__}",
            field="ttl.refresh_on_read",
        )
    return cast(TTLConfig, dict(ttl))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


# -- coalescing of concurrent single calls -------------------------------------------------------


@dataclass(slots=True)
class _Pending:
    op: Any
    future: asyncio.Future[Any]


def _split_invalid(pending: list[_Pending]) -> tuple[list[_Pending], list[_Pending]]:
    """Separate the ops that are invalid on their own from the others.

    When every op is valid on its own (the combination was refused), all are returned as "alone":
    each then runs as its own call and gets its own result or error.
    """
    good: list[_Pending] = []
    bad: list[_Pending] = []
    for entry in pending:
        try:
            validate_ops([entry.op], codec)
        except StoreValidationError:
            bad.append(entry)
        else:
            good.append(entry)
    if not bad:
        return [], good
    return good, bad


def _dedupe(pending: list[_Pending]) -> tuple[list[Any], list[int]]:
    """The ops to run and, per caller, the index of the op answering it (as LangGraph does).

    Identical reads run once and share their result; puts and deletes of one (namespace, key)
    keep the last one (the store would merge them the same way). Unhashable reads (a search with
    a filter dict) are matched by their ``repr`` first, then compared.
    """
    ops: list[Any] = []
    listen: list[int] = []
    writes: dict[tuple[Any, ...], int] = {}
    reads: dict[Any, list[int]] = {}
    for entry in pending:
        op = entry.op
        if type(op).__name__ == "PutOp":
            try:
                location = (tuple(op.namespace), op.key)
                index = writes.setdefault(location, len(ops))
            except (TypeError, AttributeError):  # malformed: leave it to validation, on its own
                index = len(ops)
            if index == len(ops):
                ops.append(op)
            else:
                ops[index] = op
            listen.append(index)
            continue
        try:
            key: Any = (op, hash(op))
        except TypeError:
            key = (type(op).__name__, repr(op))
        index = len(ops)
        for candidate in reads.get(key, ()):
            if ops[candidate] == op:
                index = candidate
                break
        if index == len(ops):
            reads.setdefault(key, []).append(index)
            ops.append(op)
        listen.append(index)
    return ops, listen


class _Coalescer:
    """Ops submitted on one event loop during one tick, run as one ``abatch``.

    Like LangGraph's ``AsyncBatchedBaseStore`` (identical reads run once, the last write of a key
    wins), but every caller keeps its own outcome: when the combined call is refused by validation
    (which runs before any I/O), the ops that are invalid on their own run alone (each caller gets
    the error about its own op) and the others run together again. Other errors reach every caller
    of the call, except callers whose write the error reports as applied: for them the write
    happened, so they get ``None``.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, run: Callable[[list[Any]], Awaitable[list[Any]]]
    ) -> None:
        self._loop = loop
        self._run = run
        self._pending: list[_Pending] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, op: Any) -> asyncio.Future[Any]:
        """Queue ``op`` for this tick's call; the future resolves to its result."""
        future: asyncio.Future[Any] = self._loop.create_future()
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(_Pending(op, future))
        return future

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        task = self._loop.create_task(self._answer(pending))
        self._tasks.add(task)  # keep a reference until it finishes
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, pending: list[_Pending]) -> None:
        """Run the tick's ops; whatever goes wrong, no caller is left waiting."""
        try:
            await self._execute(pending)
        except Exception as exc:  # a bug here or in an overridden abatch (e.g. too few results)
            error = StoreError(f"the combined call of concurrent single calls failed: {exc!r}")
            error.__cause__ = exc
            for entry in pending:
                if not entry.future.done():
                    entry.future.set_exception(error)

    async def _execute(self, pending: list[_Pending]) -> None:
        pending = [entry for entry in pending if not entry.future.done()]  # not cancelled
        if not pending:
            return
        if len(pending) == 1:
            await self._alone(pending[0])
            return
        ops, listen = _dedupe(pending)
        try:
            results = await self._run(ops)
        except StoreValidationError:
            # Checked per caller (not per deduplicated op): a put that lost to an invalid later
            # put of the same key still happens, and only the invalid one fails.
            good, alone = _split_invalid(pending)
            await asyncio.gather(self._execute(good), *(self._alone(entry) for entry in alone))
        except Exception as exc:
            applied = set(getattr(exc, "applied", ()))
            for entry, index in zip(pending, listen, strict=True):
                if entry.future.done():
                    continue
                if index in applied:
                    entry.future.set_result(None)  # a write the error reports as applied
                else:
                    entry.future.set_exception(exc)
        except BaseException:
            for entry in pending:
                entry.future.cancel()
            raise
        else:
            if len(results) != len(ops):
                raise StoreError(f"abatch returned {len(results)} results for {len(ops)} ops")
            for entry, index in zip(pending, listen, strict=True):
                if not entry.future.done():
                    entry.future.set_result(results[index])

    async def _alone(self, entry: _Pending) -> None:
        try:
            results = await self._run([entry.op])
            if len(results) != 1:
                raise StoreError(f"abatch returned {len(results)} results for 1 op")
            result = results[0]
        except Exception as exc:
            if not entry.future.done():
                entry.future.set_exception(exc)
        except BaseException:
            entry.future.cancel()
            raise
        else:
            if not entry.future.done():
                entry.future.set_result(result)


async def _nothing() -> None:
    return None


# -- the adapter ---------------------------------------------------------------------------------


class ScyllaBatchStore(BaseStore):
    """LangGraph ``BaseStore`` over a blocking and/or an asyncio scyllabatch store.

    Args:
        sync: a set-up :class:`~scyllabatch.Store` for the synchronous methods.
        async_: a set-up :class:`~scyllabatch.AsyncStore` for the async methods. It is used on one
            event loop: the one running when the adapter is created, else the first one that
            calls an async method.
        ttl: LangGraph's ``TTLConfig``: ``default_ttl`` (minutes) for puts given no ``ttl``,
            ``refresh_on_read`` (default ``True``) for gets and searches given no
            ``refresh_ttl``. ``sweep_interval_minutes`` is accepted and unused: expiry is native.
        index: LangGraph's ``IndexConfig`` (``{"dims": ..., "embed": ..., "fields": [...]}``)
            or a :class:`scyllabatch.IndexConfig`: semantic search, as in LangGraph's stores.
            ``put`` embeds the fields (or its ``index=`` paths; ``index=False`` none) and
            ``search(query=...)`` ranks by similarity, with ``score`` set. It is given to the
            stores, whose ``setup()``/``asetup()`` must then run (it creates the vector table);
            a store made with ``StoreConfig(index=...)`` needs no ``index`` here.

    With only ``sync``, async methods run the blocking calls in the loop's default executor. With
    ``async_``, synchronous calls on the thread running the store's loop raise
    ``asyncio.InvalidStateError`` (use the async method); from other threads they run on the
    ``Store`` if there is one, else on the store's loop.
    """

    supports_ttl = True

    def __init__(
        self,
        sync: Store | None = None,
        async_: AsyncStore | None = None,
        *,
        ttl: TTLConfig | None = None,
        index: Any = None,
    ) -> None:
        if sync is None and async_ is None:
            raise StoreValidationError(
                "give a Store (sync=...) and/or an AsyncStore (async_=...)", field="sync"
            )
        if sync is not None and not isinstance(sync, Store):
            raise StoreValidationError(
                f"sync must be a scyllabatch Store, got {type(sync).__name__}", field="sync"
            )
        if async_ is not None and not isinstance(async_, AsyncStore):
            raise StoreValidationError(
                f"async_ must be a scyllabatch AsyncStore, got {type(async_).__name__}",
                field="async_",
            )
        self.sync_store = sync
        self.async_store = async_
        if index is not None:
            for store in (sync, async_):
                if store is not None:
                    store._use_index(index)
        given = [s.config.index_config for s in (sync, async_) if s is not None]
        #: The index config of the stores (semantic search) in LangGraph's form, as its stores
        #: expose it: a dict with ``dims``, ``embed``, ``fields`` (and ``distance``); ``None``
        #: without one. The stores' own ``config.index_config`` is the :class:`IndexConfig`.
        self.index_config: dict[str, Any] | None = _langgraph_index_config(given[0])
        self.ttl_config: TTLConfig | None = _checked_ttl_config(ttl)
        self._loop = _running_loop() if async_ is not None else None
        self._coalescers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Coalescer] = (
            weakref.WeakKeyDictionary()
        )

    # -- TTL defaults ------------------------------------------------------------------------------

    def _refresh(self, refresh_ttl: bool | None) -> bool:
        """The op's ``refresh_ttl``: the caller's, else ``TTLConfig.refresh_on_read``, else True."""
        if refresh_ttl is not None:
            return refresh_ttl
        if self.ttl_config is not None:
            return bool(self.ttl_config.get("refresh_on_read", True))
        return True

    def _ttl(self, ttl: float | NotProvided | None) -> float | None:
        """The put's ``ttl``: the caller's (``None`` never expires), else the default TTL."""
        if isinstance(ttl, NotProvided):
            return self.ttl_config.get("default_ttl") if self.ttl_config else None
        return ttl

    def _with_defaults(self, ops: Iterable[Any]) -> list[Any]:
        """The ops as a list; a get or search whose ``refresh_ttl`` is ``None`` gets the default."""
        prepared = list(as_op_list(ops))
        for index, op in enumerate(prepared):
            if getattr(op, "refresh_ttl", False) is None and hasattr(op, "_replace"):
                prepared[index] = cast(Any, op)._replace(refresh_ttl=self._refresh(None))
        return prepared

    # -- event loops -------------------------------------------------------------------------------

    def _refuse_on_store_loop(self, method: str) -> None:
        """LangGraph's convention: no blocking call on the thread running the store's loop."""
        if self.async_store is None:
            return  # a Store works anywhere, inside a running loop too
        running = _running_loop()
        if running is None:
            return
        bound = self._loop
        if bound is None or running is bound or not bound.is_running():
            raise asyncio.InvalidStateError(
                f"synchronous {type(self).__name__}.{method}() called on the thread running the "
                "store's event loop: it would block the loop (or deadlock it). Use the async "
                f"method instead: replace `store.{method}(...)` with `await store.a{method}(...)`."
            )

    def _run_sync(self, ops: list[Any], method: str) -> list[Any]:
        self._refuse_on_store_loop(method)
        if self.sync_store is not None:
            return [_convert(r) for r in self.sync_store.batch(ops)]
        loop = self._loop
        if loop is None or loop.is_closed() or not loop.is_running():
            raise StoreError(
                f"{type(self).__name__} has only an AsyncStore and its event loop is not running, "
                "so a synchronous call has nowhere to run: use the async methods from that loop, "
                "or give the adapter a blocking Store (sync=...)"
            )
        return asyncio.run_coroutine_threadsafe(self.abatch(ops), loop).result()

    def _coalescer(self) -> _Coalescer:
        loop = asyncio.get_running_loop()
        coalescer = self._coalescers.get(loop)
        if coalescer is None:
            # Looked up at each call, so an abatch patched later (a spy, a wrapper) is used.
            coalescer = self._coalescers[loop] = _Coalescer(loop, lambda ops: self.abatch(ops))
        return coalescer

    async def _submit(self, op: Any) -> Any:
        return await self._coalescer().submit(op)

    # -- batches -----------------------------------------------------------------------------------

    def batch(self, ops: Iterable[Any]) -> list[Any]:
        """Run ops as one call; results are LangGraph types, one per op, in order.

        Raises ``asyncio.InvalidStateError`` when called on the thread running the event loop of
        the adapter's ``AsyncStore`` (use :meth:`abatch`).
        """
        return self._run_sync(self._with_defaults(ops), "batch")

    async def abatch(self, ops: Iterable[Any]) -> list[Any]:
        """Run ops as one call without blocking the loop; results are LangGraph types.

        With only a ``Store``, the blocking call runs in the loop's default executor.
        """
        prepared = self._with_defaults(ops)
        store = self.async_store
        if store is None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, self._run_sync, prepared, "abatch")
        current = asyncio.get_running_loop()
        bound = self._loop
        if bound is None or bound is current or bound.is_closed() or not bound.is_running():
            self._loop = current
            return [_convert(r) for r in await store.abatch(prepared)]
        # The AsyncStore lives on a loop running in another thread: run the call there.
        return await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(self.abatch(prepared), bound)
        )

    # -- synchronous helpers -----------------------------------------------------------------------

    def get(
        self, namespace: tuple[str, ...], key: str, *, refresh_ttl: bool | None = None
    ) -> LangGraphItem | None:
        """Read one item, or ``None``; ``refresh_ttl=None`` uses ``TTLConfig.refresh_on_read``."""
        _check_labels(namespace)
        op = LangGraphGetOp(namespace, str(key), self._refresh(refresh_ttl))
        result: LangGraphItem | None = self._run_sync([op], "get")[0]
        return result

    def search(
        self,
        namespace_prefix: tuple[str, ...],
        /,
        *,
        query: str | None = None,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        refresh_ttl: bool | None = None,
    ) -> list[LangGraphSearchItem]:
        """Items under a namespace prefix (whole labels) matching ``filter``, newest first.

        With ``query`` and an index config: the nearest items first, each with its ``score``.
        """
        _check_labels(namespace_prefix, "namespace_prefix")
        op = LangGraphSearchOp(
            namespace_prefix, filter, limit, offset, query, self._refresh(refresh_ttl)
        )
        result: list[LangGraphSearchItem] = self._run_sync([op], "search")[0]
        return result

    def put(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | list[str] | None = None,
        *,
        ttl: float | NotProvided | None = NOT_PROVIDED,
    ) -> None:
        """Write one item; ``ttl`` in minutes.

        ``ttl`` not given: ``TTLConfig.default_ttl``; ``None``: never expires. The root label
        ``"langgraph"`` is reserved (:class:`InvalidNamespaceError`).
        """
        _check_put_namespace(namespace)
        self._run_sync([self._put_op(namespace, key, value, index, ttl)], "put")

    def delete(self, namespace: tuple[str, ...], key: str) -> None:
        """Delete one item (no error if it does not exist)."""
        _check_labels(namespace)
        self._run_sync([LangGraphPutOp(namespace, str(key), None, ttl=None)], "delete")

    def list_namespaces(
        self,
        *,
        prefix: tuple[str, ...] | None = None,
        suffix: tuple[str, ...] | None = None,
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[tuple[str, ...]]:
        """Namespaces holding at least one live item, sorted; ``"*"`` matches one label."""
        op = self._list_op(prefix, suffix, max_depth, limit, offset)
        result: list[tuple[str, ...]] = self._run_sync([op], "list_namespaces")[0]
        return result

    # -- asynchronous helpers (coalesced per loop tick) --------------------------------------------

    async def aget(
        self, namespace: tuple[str, ...], key: str, *, refresh_ttl: bool | None = None
    ) -> LangGraphItem | None:
        """Async :meth:`get`; concurrent calls in one loop tick share one ``abatch``."""
        _check_labels(namespace)
        result: LangGraphItem | None = await self._submit(
            LangGraphGetOp(namespace, str(key), self._refresh(refresh_ttl))
        )
        return result

    async def asearch(
        self,
        namespace_prefix: tuple[str, ...],
        /,
        *,
        query: str | None = None,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        refresh_ttl: bool | None = None,
    ) -> list[LangGraphSearchItem]:
        """Async :meth:`search`; concurrent calls in one loop tick share one ``abatch``."""
        _check_labels(namespace_prefix, "namespace_prefix")
        result: list[LangGraphSearchItem] = await self._submit(
            LangGraphSearchOp(
                namespace_prefix, filter, limit, offset, query, self._refresh(refresh_ttl)
            )
        )
        return result

    async def aput(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | list[str] | None = None,
        *,
        ttl: float | NotProvided | None = NOT_PROVIDED,
    ) -> None:
        """Async :meth:`put`; concurrent calls in one loop tick share one ``abatch``."""
        _check_put_namespace(namespace)
        await self._submit(self._put_op(namespace, key, value, index, ttl))

    async def adelete(self, namespace: tuple[str, ...], key: str) -> None:
        """Async :meth:`delete`; concurrent calls in one loop tick share one ``abatch``."""
        _check_labels(namespace)
        await self._submit(LangGraphPutOp(namespace, str(key), None, ttl=None))

    async def alist_namespaces(
        self,
        *,
        prefix: tuple[str, ...] | None = None,
        suffix: tuple[str, ...] | None = None,
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[tuple[str, ...]]:
        """Async :meth:`list_namespaces`; concurrent calls in one loop tick share one ``abatch``."""
        result: list[tuple[str, ...]] = await self._submit(
            self._list_op(prefix, suffix, max_depth, limit, offset)
        )
        return result

    def _put_op(
        self,
        namespace: tuple[str, ...],
        key: str,
        value: Mapping[str, Any],
        index: Literal[False] | list[str] | None,
        ttl: float | NotProvided | None,
    ) -> LangGraphPutOp:
        if isinstance(value, Mapping) and not isinstance(value, dict):
            value = dict(value)
        return LangGraphPutOp(
            namespace, str(key), cast(dict[str, Any], value), index, self._ttl(ttl)
        )

    @staticmethod
    def _list_op(
        prefix: tuple[str, ...] | None,
        suffix: tuple[str, ...] | None,
        max_depth: int | None,
        limit: int,
        offset: int,
    ) -> LangGraphListNamespacesOp:
        _check_labels(prefix or (), "prefix")
        _check_labels(suffix or (), "suffix")
        conditions = []
        if prefix:
            conditions.append(LangGraphMatchCondition(match_type="prefix", path=prefix))
        if suffix:
            conditions.append(LangGraphMatchCondition(match_type="suffix", path=suffix))
        return LangGraphListNamespacesOp(
            match_conditions=tuple(conditions), max_depth=max_depth, limit=limit, offset=offset
        )

    # -- TTL sweeping: expiry is native, nothing to sweep ------------------------------------------

    def sweep_ttl(self) -> int:
        """Return 0: nothing to delete.

        Expiry is the database's native TTL: the server stops returning an expired item at once
        and drops it itself (compaction), so no sweep is needed and none removes anything. Kept for
        compatibility with LangGraph stores (``PostgresStore.sweep_ttl`` returns how many items it
        deleted).
        """
        return 0

    async def asweep_ttl(self) -> int:
        """Async :meth:`sweep_ttl`: returns 0, expiry being native (nothing to delete)."""
        return 0

    def start_ttl_sweeper(
        self, sweep_interval_minutes: int | None = None
    ) -> concurrent.futures.Future[None]:
        """Start nothing (expiry is native) and return an already-finished future.

        ``PostgresStore.start_ttl_sweeper`` returns a future that finishes when its sweeper thread
        stops; there is no thread here, so it is done at once.
        """
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        future.set_result(None)
        return future

    async def astart_ttl_sweeper(
        self, sweep_interval_minutes: int | None = None
    ) -> asyncio.Task[None]:
        """Start nothing (expiry is native); return a task that finishes at once.

        ``AsyncPostgresStore.start_ttl_sweeper`` returns such a task when it has nothing to sweep.
        """
        return asyncio.get_running_loop().create_task(_nothing())

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Return ``True``: no sweeper runs (expiry is native), so it is stopped."""
        return True

    async def astop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Async :meth:`stop_ttl_sweeper`: returns ``True``, no sweeper runs."""
        return True
