"""The I/O side of semantic search, shared by both facades: embedding a call, and its schema.

The facades call :func:`embed_call` (blocking) or :func:`aembed_call` (awaited) between planning
and running a call; both only wait differently for the same :class:`~scyllabatch.index.Embedder`
over the same :class:`~scyllabatch._core.vectors.VectorPlan`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scyllabatch._core import schema
from scyllabatch._core.planner import CallPlan
from scyllabatch.errors import StoreQueryError
from scyllabatch.index import Embedder

if TYPE_CHECKING:
    from scyllabatch._base import StoreBase


def embed_call(plan: CallPlan, embedder: Embedder | None) -> None:
    """Embed what the call needs (puts' fields, search queries), blocking; one call per batch."""
    vectors = plan.vectors
    if vectors is None or embedder is None or not vectors.needs_embedding:
        return
    vectors.apply(embedder.embed_blocking(vectors.embedding_request()))


async def aembed_call(plan: CallPlan, embedder: Embedder | None) -> None:
    """:func:`embed_call` without blocking the event loop."""
    vectors = plan.vectors
    if vectors is None or embedder is None or not vectors.needs_embedding:
        return
    vectors.apply(await embedder.embed_async(vectors.embedding_request()))


def setup_vector_schema(store: StoreBase) -> None:
    """Create the vector table and its index if missing, and check existing ones.

    An existing table whose vectors have other dimensions, or an index with another similarity
    function, is reported (it was made for another index config) instead of failing later.
    """
    index = store.config.index_config
    if index is None:
        return
    keyspace = store.config.keyspace
    store._run_ddl(
        schema.vector_table_cql(keyspace, index.dims), f"table {keyspace}.{schema.VECTORS}"
    )
    columns = store._existing_vector_columns()
    expected = f"vector<float, {index.dims}>"
    found = columns.get("embedding")
    if found != expected:
        raise StoreQueryError(
            f"setup() found {keyspace}.{schema.VECTORS} with embedding {found or 'missing'}, but "
            f"the index config asks for {expected}: the stored vectors were made for another "
            "config. Use another keyspace, or drop that table (its vectors are lost) and call "
            "setup() again"
        )
    store._run_ddl(
        schema.vector_index_cql(keyspace, index.distance),
        f"index {keyspace}.{schema.VECTOR_INDEX}",
    )
    options: Any = store._setup_query(schema.VECTOR_INDEX_QUERY, (keyspace,))
    function = dict(options[0][0]).get("similarity_function", "") if options else ""
    if function.lower() != schema.SIMILARITY_FUNCTIONS[index.distance]:
        raise StoreQueryError(
            f"setup() found the vector index {keyspace}.{schema.VECTOR_INDEX} with similarity "
            f"function {function or 'unknown'!r}, but the index config asks for "
            f"{index.distance!r}. Use another keyspace, or drop that index and call setup() again"
        )
