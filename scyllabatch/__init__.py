"""scyllabatch: correct, safe and fast batches of key-value operations for ScyllaDB and Cassandra.

Blocking code uses :class:`Store`; asyncio code uses :class:`AsyncStore`. Both run the same
sans-I/O engine: validation before any I/O, reads before writes, writes merged per key (the last
op wins), per-partition UNLOGGED batches or one atomic LOGGED batch, and idempotency-aware retries.
"""

from scyllabatch._impl import IMPLEMENTATION
from scyllabatch._version import __version__
from scyllabatch.aio import AsyncStore
from scyllabatch.config import BatchLimits, CreatedAtMode, RetryPolicy, StoreConfig
from scyllabatch.errors import (
    StoreAuthenticationError,
    StoreBatchSizeWarning,
    StoreConnectionError,
    StoreError,
    StorePartialWriteError,
    StoreQueryError,
    StoreTimeoutError,
    StoreUnavailableError,
    StoreValidationError,
)
from scyllabatch.index import IndexConfig
from scyllabatch.ops import (
    BatchType,
    ConditionalPutOp,
    ConditionalResult,
    CounterOp,
    GetCountersOp,
    GetOp,
    IfAbsent,
    IfUnchanged,
    Item,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchItem,
    SearchOp,
)
from scyllabatch.secret import Secret
from scyllabatch.store import Store

__all__ = [
    "IMPLEMENTATION",
    "AsyncStore",
    "BatchLimits",
    "BatchType",
    "ConditionalPutOp",
    "ConditionalResult",
    "CounterOp",
    "CreatedAtMode",
    "GetCountersOp",
    "GetOp",
    "IfAbsent",
    "IfUnchanged",
    "IndexConfig",
    "Item",
    "ListNamespacesOp",
    "MatchCondition",
    "PutOp",
    "RetryPolicy",
    "SearchItem",
    "SearchOp",
    "Secret",
    "Store",
    "StoreAuthenticationError",
    "StoreBatchSizeWarning",
    "StoreConfig",
    "StoreConnectionError",
    "StoreError",
    "StorePartialWriteError",
    "StoreQueryError",
    "StoreTimeoutError",
    "StoreUnavailableError",
    "StoreValidationError",
    "__version__",
]
