"""Semantic search: :class:`IndexConfig` and the calls to the embedding function.

A store with ``StoreConfig(index=IndexConfig(...))`` (or LangGraph's ``index`` dict) embeds the
configured fields of every put and answers ``SearchOp(query=...)`` by vector similarity, using a
``VECTOR<FLOAT, dims>`` column with a storage-attached index (``docs/search.md``).

The embedding function may be:

- a function ``texts -> vectors`` (``list[str]`` in, ``list[list[float]]`` out), sync or
  ``async def``;
- a LangChain ``Embeddings`` object (anything with ``embed_documents``/``embed_query``, and
  optionally their ``aembed_*`` twins).

Each ``batch()`` embeds the texts of all its puts in one call. Search queries of a plain
function ride along in that same call; an ``Embeddings`` object embeds each distinct query with
``embed_query`` (models may embed queries and documents differently). :class:`AsyncStore` awaits
async functions and runs sync ones in a thread, so the event loop never blocks; :class:`Store`
runs an async-only function on an event loop of its own, in a thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from scyllabatch.errors import StoreError, StoreValidationError

__all__ = ["Distance", "IndexConfig"]

Distance = Literal["cosine", "dot_product", "euclidean"]
"""How vectors are compared (the storage-attached index's ``similarity_function``)."""

DISTANCES: tuple[str, ...] = ("cosine", "dot_product", "euclidean")

# The largest dimension the server accepts for a vector column of floats.
MAX_DIMS = 8192


def _fail(field_name: str, problem: str) -> StoreValidationError:
    return StoreValidationError(f"index {field_name} {problem}", field=f"index.{field_name}")


@dataclass(frozen=True, slots=True)
class IndexConfig:
    """What to embed and how to compare vectors; LangGraph's ``IndexConfig`` as a value type.

    Args:
        dims: dimensions of the vectors ``embed`` returns (the column is ``VECTOR<FLOAT, dims>``).
        embed: the embedding function: a sync or async ``texts -> vectors`` callable, or a
            LangChain ``Embeddings`` object (see the module docstring).
        fields: JSON paths of the texts to embed; ``("$",)`` (the default) embeds the whole
            value. LangGraph's syntax: ``"a.b"``, ``"a[0]"``, ``"a[-1]"``, ``"a[*]"``,
            ``"a.*"``, ``"a.{b,c}"``. A put's ``index=[...]`` replaces them for that put and
            ``index=False`` stores no vector.
        distance: ``"cosine"`` (default), ``"dot_product"`` or ``"euclidean"``. A search's
            ``score`` is the cosine similarity, the dot product, or minus the euclidean distance
            (higher is nearer in every case, as LangGraph's stores report it).
        write_concurrency: how many requests that insert vectors one call sends at a time
            (default 2). Cassandra 5.0 fails a write (``WriteFailure``, "Number of outstanding
            pooled objects has gone beyond the limit") when more concurrent writes insert into
            one vector index than its node has processors plus one; measured on a 2-processor
            node: 3 at a time never failed, 8 at a time failed 85 of 300 inserts. Raise it for
            nodes with more processors (other clients' writes count too).

    :meth:`coerce` also accepts LangGraph's ``{"dims": ..., "embed": ..., "fields": [...]}``
    (plus ``"distance"``). Changing ``dims`` or ``distance`` of an existing keyspace is refused
    by ``setup()``: the stored vectors were made for the old ones.
    """

    dims: int
    embed: Any = field(repr=False)
    fields: tuple[str, ...] = ("$",)
    distance: Distance = "cosine"
    write_concurrency: int = 2

    def __post_init__(self) -> None:
        if isinstance(self.dims, bool) or not isinstance(self.dims, int):
            raise _fail("dims", f"must be an int, got {type(self.dims).__name__}")
        if not 1 <= self.dims <= MAX_DIMS:
            raise _fail("dims", f"must be between 1 and {MAX_DIMS}, got {self.dims}")
        if not (_is_embeddings_object(self.embed) or callable(self.embed)):
            raise _fail(
                "embed",
                "must be a function texts -> vectors (sync or async) or a LangChain Embeddings "
                f"object, got {type(self.embed).__name__}",
            )
        fields: Any = self.fields
        if isinstance(fields, str):
            fields = (fields,)
        if not isinstance(fields, Sequence) or not fields:
            raise _fail("fields", "must be a non-empty list of JSON paths such as ['$']")
        for path in fields:
            if not isinstance(path, str):
                raise _fail("fields", f"must hold str paths, got {type(path).__name__}")
        object.__setattr__(self, "fields", tuple(fields))
        if (
            isinstance(self.write_concurrency, bool)
            or not isinstance(self.write_concurrency, int)
            or self.write_concurrency < 1
        ):
            raise _fail(
                "write_concurrency", f"must be a positive int, got {self.write_concurrency!r}"
            )
        if self.distance not in DISTANCES:
            raise _fail(
                "distance", f"{self.distance!r} is not supported; use one of {list(DISTANCES)}"
            )

    @classmethod
    def coerce(cls, value: IndexConfig | Mapping[str, Any]) -> IndexConfig:
        """An :class:`IndexConfig` from itself or from a LangGraph ``index`` dict.

        Accepts LangGraph's ``{"dims", "embed", "fields"}`` (plus ``"distance"`` and
        ``"write_concurrency"``), and the keys ``PostgresStore`` adds, so that its index dict
        works unchanged: ``"distance_type"`` (``"cosine"``, ``"inner_product"`` or ``"l2"``,
        the same three measures under Postgres's names) and ``"ann_index_config"`` (pgvector's
        index tuning: ``vector_type`` ``"vector"`` or ``"halfvec"``, which are stored here as
        32-bit floats either way, and the HNSW/IVFFlat parameters, which Cassandra's vector
        index does not take). Binary vectors (``"bit"``, ``"hamming"``) are refused.
        """
        if isinstance(value, IndexConfig):
            return value
        if not isinstance(value, Mapping):
            raise StoreValidationError(
                "index must be an IndexConfig or a dict with 'dims' and 'embed' (and optionally "
                f"'fields' and 'distance'), got {type(value).__name__}",
                field="index",
            )
        known = (
            "dims",
            "embed",
            "fields",
            "distance",
            "write_concurrency",
            "distance_type",
            "ann_index_config",
        )
        unknown = sorted(str(k) for k in value if k not in known)
        if unknown:
            raise StoreValidationError(
                f"index has unknown keys {unknown}; use {', '.join(known)}",
                field="index",
            )
        for required in ("dims", "embed"):
            if required not in value:
                raise _fail(required, "is required")
        _check_ann_index_config(value.get("ann_index_config"))
        return cls(
            dims=value["dims"],
            embed=value["embed"],
            fields=("$",) if value.get("fields") is None else value["fields"],
            distance=_distance_of(value),
            write_concurrency=value.get("write_concurrency", 2),
        )


#: PostgresStore's ``distance_type`` names for the same measures.
_POSTGRES_DISTANCES: dict[str, Distance] = {
    "cosine": "cosine",
    "inner_product": "dot_product",
    "l2": "euclidean",
}
#: pgvector storage types whose vectors are floats (``bit`` is binary).
_FLOAT_VECTOR_TYPES = ("vector", "halfvec")
#: pgvector index tuning keys, accepted and not used (Cassandra's vector index takes none).
_ANN_TUNING_KEYS = ("kind", "m", "ef_construction", "nlist")


def _distance_of(value: Mapping[str, Any]) -> Any:
    """``distance``, or PostgresStore's ``distance_type`` under its name here; not both."""
    if "distance_type" not in value:
        return value.get("distance", "cosine")
    if "distance" in value:
        raise StoreValidationError(
            "index has both 'distance' and 'distance_type' (PostgresStore's name for it); give one",
            field="index.distance_type",
        )
    given = value["distance_type"]
    if given not in _POSTGRES_DISTANCES:
        raise _fail(
            "distance_type",
            f"{given!r} is not supported; use one of {list(_POSTGRES_DISTANCES)} (or "
            f"'distance': one of {list(DISTANCES)})",
        )
    return _POSTGRES_DISTANCES[given]


def _check_ann_index_config(ann: Any) -> None:
    """PostgresStore's ``ann_index_config``: float vectors only; tuning keys are not used."""
    if ann is None:
        return
    if not isinstance(ann, Mapping):
        raise _fail("ann_index_config", f"must be a dict, got {type(ann).__name__}")
    unknown = sorted(str(k) for k in ann if k != "vector_type" and k not in _ANN_TUNING_KEYS)
    if unknown:
        raise _fail(
            "ann_index_config",
            f"has unknown keys {unknown}; use vector_type, {', '.join(_ANN_TUNING_KEYS)}",
        )
    vector_type = ann.get("vector_type", "vector")
    if vector_type not in _FLOAT_VECTOR_TYPES:
        raise _fail(
            "ann_index_config",
            f"vector_type {vector_type!r} is not supported: vectors are stored as 32-bit floats "
            f"(use one of {list(_FLOAT_VECTOR_TYPES)})",
        )


def _is_embeddings_object(embed: Any) -> bool:
    """LangChain ``Embeddings`` (duck-typed: no import of langchain needed)."""
    return callable(getattr(embed, "embed_documents", None)) and callable(
        getattr(embed, "embed_query", None)
    )


def _is_async_callable(func: Any) -> bool:
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - a callable object with an async __call__
    )


@dataclass(slots=True)
class EmbeddingRequest:
    """The texts one call needs embedded: its puts' texts and its searches' distinct queries."""

    documents: list[str]
    queries: list[str]


@dataclass(slots=True)
class Embedded:
    """The vectors of an :class:`EmbeddingRequest`, in the same order."""

    documents: list[list[float]]
    queries: list[list[float]]


def _run_coroutine_in_thread(coroutine: Any) -> Any:
    """Run an async embedding function from blocking code, even inside a running loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class Embedder:
    """Calls one index config's embedding function, blocking or awaited; checks what it returns."""

    def __init__(self, config: IndexConfig) -> None:
        self.config = config
        embed = config.embed
        self._object = _is_embeddings_object(embed)
        self._async_only = not self._object and _is_async_callable(embed)

    # -- the two ways of waiting ---------------------------------------------------------------

    def embed_blocking(self, request: EmbeddingRequest) -> Embedded:
        """Embed with blocking calls (for :class:`~scyllabatch.Store`)."""
        try:
            if self._object:
                embed: Any = self.config.embed
                documents = embed.embed_documents(request.documents) if request.documents else []
                queries = [embed.embed_query(text) for text in request.queries]
                return self._checked(request, documents, queries)
            texts = request.documents + request.queries
            if self._async_only:
                vectors = _run_coroutine_in_thread(self.config.embed(texts))
            else:
                vectors = self.config.embed(texts)
        except StoreError:
            raise
        except Exception as exc:
            raise self._failed(exc) from exc
        return self._split(request, vectors)

    async def embed_async(self, request: EmbeddingRequest) -> Embedded:
        """Embed without blocking the event loop (for :class:`~scyllabatch.AsyncStore`)."""
        try:
            if self._object:
                documents = (
                    await self._aembed_documents(request.documents) if request.documents else []
                )
                queries = list(
                    await asyncio.gather(*(self._aembed_query(text) for text in request.queries))
                )
                return self._checked(request, documents, queries)
            texts = request.documents + request.queries
            if self._async_only:
                vectors = await self.config.embed(texts)
            else:
                vectors = await asyncio.to_thread(self.config.embed, texts)
        except StoreError:
            raise
        except Exception as exc:
            raise self._failed(exc) from exc
        return self._split(request, vectors)

    async def _aembed_documents(self, texts: list[str]) -> Any:
        embed: Any = self.config.embed
        if callable(getattr(embed, "aembed_documents", None)):
            return await embed.aembed_documents(texts)
        return await asyncio.to_thread(embed.embed_documents, texts)

    async def _aembed_query(self, text: str) -> Any:
        embed: Any = self.config.embed
        if callable(getattr(embed, "aembed_query", None)):
            return await embed.aembed_query(text)
        return await asyncio.to_thread(embed.embed_query, text)

    # -- checking the results --------------------------------------------------------------------

    def _failed(self, exc: Exception) -> StoreError:
        return StoreError(
            f"the embedding function raised {type(exc).__name__}: {exc}; nothing of the batch "
            "was sent"
        )

    def _split(self, request: EmbeddingRequest, vectors: Any) -> Embedded:
        vectors = self._as_list(vectors, len(request.documents) + len(request.queries))
        cut = len(request.documents)
        return self._checked(request, vectors[:cut], vectors[cut:])

    def _as_list(self, vectors: Any, expected: int) -> list[Any]:
        if isinstance(vectors, (str, bytes)) or not isinstance(vectors, Sequence):
            try:
                vectors = list(vectors)  # numpy arrays and other iterables
            except TypeError:
                raise StoreValidationError(
                    "the embedding function must return one vector per text, got "
                    f"{type(vectors).__name__}; nothing of the batch was sent",
                    field="index.embed",
                ) from None
        if len(vectors) != expected:
            raise StoreValidationError(
                f"the embedding function returned {len(vectors)} vectors for {expected} texts; "
                "nothing of the batch was sent",
                field="index.embed",
            )
        return list(vectors)

    def _checked(self, request: EmbeddingRequest, documents: Any, queries: Any) -> Embedded:
        documents = self._as_list(documents, len(request.documents))
        queries = self._as_list(queries, len(request.queries))
        return Embedded(
            documents=[
                self._vector(v, t) for v, t in zip(documents, request.documents, strict=True)
            ],
            queries=[self._vector(v, t) for v, t in zip(queries, request.queries, strict=True)],
        )

    def _vector(self, vector: Any, text: str) -> list[float]:
        dims = self.config.dims
        try:
            values = [float(x) for x in vector]
        except (TypeError, ValueError):
            raise StoreValidationError(
                f"the embedding of {text[:40]!r} is not a list of numbers "
                f"({type(vector).__name__}); nothing of the batch was sent",
                field="index.embed",
            ) from None
        if len(values) != dims:
            raise StoreValidationError(
                f"the embedding function returned {len(values)} dimensions for {text[:40]!r}, "
                f"but the index config says dims={dims}; nothing of the batch was sent",
                field="index.dims",
            )
        if not all(math.isfinite(x) for x in values):
            raise StoreValidationError(
                f"the embedding of {text[:40]!r} holds NaN or infinite numbers; nothing of the "
                "batch was sent",
                field="index.embed",
            )
        if self.config.distance == "cosine" and not any(values):
            raise StoreValidationError(
                f"the embedding of {text[:40]!r} is all zeros, which has no cosine similarity "
                "(the server refuses it); nothing of the batch was sent",
                field="index.embed",
            )
        return values
