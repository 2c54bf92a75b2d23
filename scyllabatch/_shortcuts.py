"""The single-op helpers (``get``, ``put``, ``delete``, ``search``, ``list_namespaces``), once.

Each helper is written here as a function that builds one op. :func:`blocking` makes it a method
of :class:`scyllabatch.Store` (``store.get(...)``) and :func:`awaiting` one of
:class:`scyllabatch.AsyncStore` (``await store.aget(...)``): a batch of that one op, returning
its result. Both take the function's parameters, docstring and result type, so the two facades
cannot drift apart (``tests/unit/test_facades.py`` checks it).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar

from scyllabatch.ops import GetOp, Item, ListNamespacesOp, MatchCondition, Op, PutOp, SearchItem
from scyllabatch.ops import SearchOp as _SearchOp

if TYPE_CHECKING:
    from scyllabatch.aio import AsyncStore
    from scyllabatch.store import Store

P = ParamSpec("P")
R = TypeVar("R")


class OneOp(Generic[R]):
    """One op, typed by the result it produces."""

    __slots__ = ("op",)

    def __init__(self, op: Op) -> None:
        self.op = op


def _labels(namespace: Sequence[str]) -> tuple[str, ...]:
    """Typed pass-through of a helper's namespace argument.

    It is not converted with ``tuple()``: validation then rejects a plain ``str`` instead of
    splitting it into one-letter labels, and accepts lists like tuples.
    """
    return namespace  # type: ignore[return-value]


def get(namespace: Sequence[str], key: str, *, refresh_ttl: bool = True) -> OneOp[Item | None]:
    """Read one item, or ``None``."""
    return OneOp(GetOp(_labels(namespace), key, refresh_ttl))


def put(
    namespace: Sequence[str], key: str, value: dict[str, Any] | None, ttl: float | None = None
) -> OneOp[None]:
    """Write one item (``value=None`` deletes); ``ttl`` in minutes."""
    return OneOp(PutOp(_labels(namespace), key, value, None, ttl))


def delete(namespace: Sequence[str], key: str) -> OneOp[None]:
    """Delete one item (no error if it does not exist)."""
    return OneOp(PutOp(_labels(namespace), key, None))


def search(
    namespace_prefix: Sequence[str],
    filter: dict[str, Any] | None = None,
    limit: int = 10,
    offset: int = 0,
    *,
    refresh_ttl: bool = True,
) -> OneOp[list[SearchItem]]:
    """Items under a namespace prefix (whole labels), newest first."""
    return OneOp(_SearchOp(_labels(namespace_prefix), filter, limit, offset, None, refresh_ttl))


def list_namespaces(
    prefix: Sequence[str] | None = None,
    suffix: Sequence[str] | None = None,
    max_depth: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> OneOp[list[tuple[str, ...]]]:
    """Namespaces holding at least one live item, sorted; ``"*"`` matches one label."""
    conditions = []
    if prefix is not None:
        conditions.append(MatchCondition("prefix", _labels(prefix)))
    if suffix is not None:
        conditions.append(MatchCondition("suffix", _labels(suffix)))
    return OneOp(
        ListNamespacesOp(
            match_conditions=tuple(conditions) or None,
            max_depth=max_depth,
            limit=limit,
            offset=offset,
        )
    )


def _as_method(
    method: Callable[..., Any], build: Callable[..., Any], owner: str, name: str
) -> None:
    """Give ``method`` the helper's name, docstring and signature (with ``self`` and the result
    type instead of ``OneOp[...]``), for ``help()``, IDEs and documentation."""
    signature = inspect.signature(build)
    result = str(signature.return_annotation).removeprefix("OneOp[").removesuffix("]")
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[self_param, *signature.parameters.values()], return_annotation=result
    )
    method.__name__ = name
    method.__qualname__ = f"{owner}.{name}"
    method.__doc__ = build.__doc__
    method.__module__ = "scyllabatch"


def blocking(build: Callable[P, OneOp[R]]) -> Callable[Concatenate[Store, P], R]:
    """The :class:`~scyllabatch.Store` method of a helper."""

    def method(self: Store, /, *args: P.args, **kwargs: P.kwargs) -> R:
        result: R = self.batch([build(*args, **kwargs).op])[0]
        return result

    _as_method(method, build, "Store", build.__name__)
    return method


def awaiting(
    build: Callable[P, OneOp[R]],
) -> Callable[Concatenate[AsyncStore, P], Coroutine[Any, Any, R]]:
    """The :class:`~scyllabatch.AsyncStore` method of a helper (named ``a`` + its name)."""

    async def method(self: AsyncStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        result: R = (await self.abatch([build(*args, **kwargs).op]))[0]
        return result

    _as_method(method, build, "AsyncStore", "a" + build.__name__)
    return method
