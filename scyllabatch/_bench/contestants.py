"""The contestants of ``scyllabatch bench``: the SDK, and the raw driver code it replaces.

Raw contestants write the same values (same codec) to an identical table, as an expert writes
them: one prepared ``BatchStatement`` per call, or ``execute_concurrent`` of single inserts, on a
session tuned with ``TCP_NODELAY`` (the SDK's own session). One more raw contestant runs on a
session with the driver's defaults, since that is what most users write.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import BatchStatement
from cassandra.query import BatchType as DriverBatchType

from scyllabatch import _driver
from scyllabatch._core import schema
from scyllabatch._impl import codec
from scyllabatch.aio import AsyncStore
from scyllabatch.config import CreatedAtMode, StoreConfig
from scyllabatch.ops import GetOp, PutOp
from scyllabatch.store import Store

RAW_TABLE = "raw_items"


@dataclass(frozen=True)
class Contestant:
    """One way of running a call's ops; ``sdk`` ones go through ``Store``/``AsyncStore``."""

    name: str
    label: str
    sdk: bool
    reads: bool = False


WRITES = (
    Contestant("sdk_unlogged_write_only", "SDK UNLOGGED, created_at write-only", sdk=True),
    Contestant("sdk_unlogged_exact", "SDK UNLOGGED, created_at exact (default)", sdk=True),
    Contestant("sdk_logged_write_only", "SDK LOGGED, created_at write-only", sdk=True),
    Contestant("raw_batch_unlogged", "raw BatchStatement UNLOGGED, tuned", sdk=False),
    Contestant("raw_batch_logged", "raw BatchStatement LOGGED, tuned", sdk=False),
    Contestant("raw_concurrent", "raw execute_concurrent of inserts, tuned", sdk=False),
    Contestant("raw_naive_unlogged", "raw BatchStatement UNLOGGED, driver defaults", sdk=False),
)
READS = (
    Contestant("sdk_get", "SDK GetOps in one call", sdk=True, reads=True),
    Contestant(
        "raw_get_concurrent", "raw execute_concurrent of SELECTs, tuned", sdk=False, reads=True
    ),
)
SDK_STORES = {
    "sdk_unlogged_write_only": CreatedAtMode.WRITE_ONLY,
    "sdk_unlogged_exact": CreatedAtMode.EXACT,
    "sdk_logged_write_only": CreatedAtMode.WRITE_ONLY,
    "sdk_get": CreatedAtMode.WRITE_ONLY,
}


def raw_rows(chunk: Sequence[PutOp]) -> list[tuple[Any, ...]]:
    """What hand-written code binds: partition text, key, encoded value, timestamps, ttl."""
    blobs, _sizes = codec.encode_batch([op.value for op in chunk])
    now = time.time_ns() // 1000
    return [
        (".".join(op.namespace), op.key, blob, now, now, 0)
        for op, blob in zip(chunk, blobs, strict=True)
    ]


def raw_batch(insert: Any, batch_type: Any, chunk: Sequence[PutOp]) -> BatchStatement:
    """One prepared ``BatchStatement`` of a call's inserts, whatever partitions it spans."""
    batch = BatchStatement(batch_type=batch_type)
    for row in raw_rows(chunk):
        batch.add(insert, row)
    return batch


def prepare_raw_table(session: Any, keyspace: str) -> None:
    """The raw contestants' table: the SDK's items table under another name."""
    session.execute(schema.items_table_cql(keyspace, RAW_TABLE), timeout=60)


def prepare_raw_insert(session: Any, keyspace: str) -> Any:
    """The raw contestants' prepared insert into their table."""
    return session.prepare(
        f"INSERT INTO {keyspace}.{RAW_TABLE} (namespace, key, value, created_at, updated_at, "
        "ttl) VALUES (?, ?, ?, ?, ?, ?)"
    )


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)


def bridge(loop: asyncio.AbstractEventLoop, response: Any) -> asyncio.Future[None]:
    """What hand-written asyncio code does with a driver ``ResponseFuture``."""
    future: asyncio.Future[None] = loop.create_future()

    def ok(_rows: Any) -> None:
        loop.call_soon_threadsafe(_settle, future, None)

    def failed(exc: BaseException) -> None:
        loop.call_soon_threadsafe(_settle, future, exc)

    response.add_callbacks(callback=ok, errback=failed)
    return future


Call = Callable[[Sequence[Any]], Any]


class Runners:
    """One callable per contestant; in async mode the SDK and raw batches return awaitables."""

    def __init__(
        self,
        session: Any,
        config: StoreConfig,
        *,
        asynchronous: bool,
        concurrency: int,
        driver_defaults: bool = True,
    ) -> None:
        self.session = session
        self.asynchronous = asynchronous
        self.concurrency = concurrency
        keyspace = config.keyspace
        store_class = AsyncStore if asynchronous else Store
        self.stores: dict[str, Any] = {
            name: store_class(session, config=replace(config, created_at_mode=mode))
            for name, mode in SDK_STORES.items()
        }
        self.insert = prepare_raw_insert(session, keyspace)
        self.select = session.prepare(
            f"SELECT key, value, created_at, updated_at FROM {keyspace}.{schema.ITEMS} "
            "WHERE namespace = ? AND key = ?"
        )
        self.config = config
        # The code most users write first: a cluster with the driver's defaults (Nagle on,
        # the default retry policy and load balancing). Connected here, outside every timing,
        # unless `driver_defaults` is false (the pytest plugin runs only tuned raw code).
        self._naive: tuple[Any, Any, Any] | None = None
        if driver_defaults:
            self._naive_session()

    def _naive_session(self) -> tuple[Any, Any]:
        """(session, prepared insert) on the driver-defaults cluster, connected once."""
        if self._naive is None:
            cluster = _driver.default_cluster(self.config)
            session = cluster.connect()
            insert = prepare_raw_insert(session, self.config.keyspace)
            self._naive = (cluster, session, insert)
        return self._naive[1], self._naive[2]

    def close(self) -> None:
        if self._naive is not None:
            self._naive[0].shutdown()

    def get(self, name: str) -> Call:
        return getattr(self, name)  # type: ignore[no-any-return]

    def _sdk(self, name: str, chunk: Sequence[Any], batch_type: str = "UNLOGGED") -> Any:
        store = self.stores[name]
        if self.asynchronous:
            return store.abatch(chunk, batch_type=batch_type)
        return store.batch(chunk, batch_type=batch_type)

    def sdk_unlogged_write_only(self, chunk: Sequence[PutOp]) -> Any:
        return self._sdk("sdk_unlogged_write_only", chunk)

    def sdk_unlogged_exact(self, chunk: Sequence[PutOp]) -> Any:
        return self._sdk("sdk_unlogged_exact", chunk)

    def sdk_logged_write_only(self, chunk: Sequence[PutOp]) -> Any:
        return self._sdk("sdk_logged_write_only", chunk, "LOGGED")

    def sdk_get(self, chunk: Sequence[GetOp]) -> Any:
        return self._sdk("sdk_get", chunk)

    def _batch(self, session: Any, batch: BatchStatement) -> Any:
        if self.asynchronous:
            return bridge(asyncio.get_running_loop(), session.execute_async(batch))
        return session.execute(batch)

    def raw_batch_unlogged(self, chunk: Sequence[PutOp]) -> Any:
        return self._batch(self.session, raw_batch(self.insert, DriverBatchType.UNLOGGED, chunk))

    def raw_batch_logged(self, chunk: Sequence[PutOp]) -> Any:
        return self._batch(self.session, raw_batch(self.insert, DriverBatchType.LOGGED, chunk))

    def raw_naive_unlogged(self, chunk: Sequence[PutOp]) -> Any:
        session, insert = self._naive_session()
        return self._batch(session, raw_batch(insert, DriverBatchType.UNLOGGED, chunk))

    def raw_concurrent(self, chunk: Sequence[PutOp]) -> Any:
        # The driver has no asyncio API for this: in async mode it blocks the loop, as is.
        return execute_concurrent_with_args(
            self.session, self.insert, raw_rows(chunk), concurrency=self.concurrency
        )

    def raw_get_concurrent(self, chunk: Sequence[GetOp]) -> Any:
        results = execute_concurrent_with_args(
            self.session,
            self.select,
            [(".".join(op.namespace), op.key) for op in chunk],
            concurrency=self.concurrency,
        )
        blobs = [row[1] for ok, rows in results if ok for row in rows]
        return codec.decode_batch(blobs)
