"""``scyllabatch bench``: the SDK next to the raw driver, same writes, same run, same session.

For each batch size the same workload (``total_ops`` puts over ``namespaces`` partitions, sent in
calls of ``batch_size`` ops) runs five ways, interleaved in rounds so that a noisy machine hurts
every approach alike:

- ``sdk_unlogged`` / ``sdk_logged``: ``Store.batch`` (or ``AsyncStore.abatch``) with that
  ``batch_type``. The SDK validates, merges, reads ``created_at`` of the written keys (one
  ``SELECT ... key IN ?`` per partition, so ``created_at`` survives updates), then writes: one
  unlogged batch per partition (split at the warn thresholds), or one logged batch.
- ``raw_batch_unlogged`` / ``raw_batch_logged``: hand-written driver code: one prepared
  ``BatchStatement`` per call, whatever partitions the call spans.
- ``raw_concurrent``: ``cassandra.concurrent.execute_concurrent_with_args`` of single prepared
  inserts, one call's ops at a time.

Raw code encodes values with the same codec and writes the same columns to an identical table, on
the same session and execution profile. Latency is per call; throughput is ops divided by the time
spent inside calls. Keys are fresh in every call (inserts, not updates).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import string
import sys
import time
import warnings
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, TextIO

from cassandra.concurrent import execute_concurrent_with_args
from cassandra.query import BatchStatement
from cassandra.query import BatchType as DriverBatchType

from scyllabatch import _driver
from scyllabatch._doctor import driver_info, server_info
from scyllabatch._impl import IMPLEMENTATION, codec
from scyllabatch._scratch import KeyspaceExistsError, fresh_name, replication_for, scratch_keyspace
from scyllabatch._version import __version__
from scyllabatch.aio import AsyncStore
from scyllabatch.config import StoreConfig, validate_identifier
from scyllabatch.errors import StoreBatchSizeWarning, StoreError
from scyllabatch.ops import PutOp
from scyllabatch.store import Store

__all__ = ["APPROACHES", "BenchError", "BenchOptions", "bench_main", "run_bench"]

APPROACHES = (
    "sdk_unlogged",
    "sdk_logged",
    "raw_batch_unlogged",
    "raw_batch_logged",
    "raw_concurrent",
)
DEFAULT_BATCH_SIZES = (5, 10, 25, 50, 100)
LAYOUTS = ("spread", "grouped")
RAW_TABLE = "raw_items"


class BenchError(Exception):
    """The benchmark cannot run as asked (the message says why)."""


@dataclass(frozen=True)
class BenchOptions:
    """Everything ``scyllabatch bench`` can be told."""

    hosts: tuple[str, ...] = ("127.0.0.1",)
    port: int = 9042
    keyspace: str | None = None
    keep_keyspace: bool = False
    mode: str = "sync"
    total_ops: int = 10_000
    namespaces: int = 100
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    layout: str = "spread"
    rounds: int = 3
    value_bytes: int = 100
    concurrency: int = 64
    progress: bool = False
    as_json: bool = False

    def __post_init__(self) -> None:
        if self.mode not in ("sync", "async"):
            raise ValueError(f"mode must be 'sync' or 'async', not {self.mode!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, not {self.layout!r}")
        if self.namespaces < 1 or self.rounds < 1 or self.concurrency < 1:
            raise ValueError("namespaces, rounds and concurrency must be >= 1")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise ValueError("batch sizes must be >= 1")
        if self.total_ops < self.rounds * max(self.batch_sizes):
            raise ValueError(
                f"total_ops ({self.total_ops}) must be at least rounds x the largest batch size "
                f"({self.rounds} x {max(self.batch_sizes)})"
            )
        if self.keyspace is not None:
            validate_identifier(self.keyspace, "keyspace")


@dataclass
class Timing:
    """Per-call latencies of one approach at one batch size."""

    ops: int = 0
    seconds: float = 0.0
    calls_ms: list[float] = field(default_factory=list)

    def add(self, ops: int, seconds: float) -> None:
        self.ops += ops
        self.seconds += seconds
        self.calls_ms.append(seconds * 1000.0)

    def summary(self) -> dict[str, float]:
        calls = sorted(self.calls_ms)

        def rank(q: float) -> float:
            return calls[max(0, math.ceil(q * len(calls)) - 1)] if calls else 0.0

        return {
            "ops": self.ops,
            "calls": len(calls),
            "seconds": self.seconds,
            "ops_per_s": self.ops / self.seconds if self.seconds else 0.0,
            "latency_ms_mean": self.seconds * 1000.0 / len(calls) if calls else 0.0,
            "latency_ms_p50": rank(0.50),
            "latency_ms_p95": rank(0.95),
            "latency_ms_max": calls[-1] if calls else 0.0,
        }


class Progress:
    """A one-line progress bar on a stream (stderr), redrawn at most ten times a second."""

    WIDTH = 28

    def __init__(self, total: int, enabled: bool, stream: TextIO | None = None) -> None:
        self.total = max(1, total)
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.done = 0
        self.started = time.monotonic()
        self._drawn_at = 0.0
        self._width = 0

    def advance(self, count: int, label: str) -> None:
        self.done += count
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._drawn_at < 0.1 and self.done < self.total:
            return
        self._drawn_at = now
        fraction = min(1.0, self.done / self.total)
        filled = int(fraction * self.WIDTH)
        elapsed = now - self.started
        eta = elapsed / fraction - elapsed if fraction > 0 else 0.0
        line = (
            f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {fraction * 100:5.1f}% "
            f"{label:<32} eta {eta:4.0f}s"
        )
        self._width = max(self._width, len(line))
        self.stream.write(line)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()


class Workload:
    """The ops of every approach, batch size and round; fresh keys everywhere."""

    def __init__(self, options: BenchOptions) -> None:
        self.options = options
        # Text that compresses about as well as real memories do (the driver compresses
        # requests with lz4 when it can): a run of "x" would shrink to nothing on the wire.
        rng = random.Random(20240517)
        words = [
            "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 9)))
            for _ in range(512)
        ]
        size = max(0, options.value_bytes - 40)
        texts = []
        for _ in range(64):
            text = ""
            while len(text) < size:
                text += rng.choice(words) + " "
            texts.append(text[:size])
        self.values = [
            {"text": texts[i % 64], "n": i, "tags": ["bench"], "score": i / options.total_ops}
            for i in range(options.total_ops)
        ]
        self.namespaces = [("bench", f"ns{p:05d}") for p in range(options.namespaces)]

    def namespace(self, i: int) -> tuple[str, ...]:
        """``spread``: consecutive ops go to different namespaces (op i to namespace i mod n);
        ``grouped``: each namespace gets a contiguous run of ops."""
        o = self.options
        if o.layout == "spread":
            return self.namespaces[i % o.namespaces]
        return self.namespaces[i * o.namespaces // o.total_ops]

    def calls(self, approach: str, batch_size: int, round_index: int) -> list[list[PutOp]]:
        """The calls one approach makes in one round."""
        o = self.options
        share = o.total_ops // o.rounds
        start = round_index * share
        stop = o.total_ops if round_index == o.rounds - 1 else start + share
        ops = [
            PutOp(self.namespace(i), f"{approach}-{batch_size}-{i}", self.values[i])
            for i in range(start, stop)
        ]
        return [ops[j : j + batch_size] for j in range(0, len(ops), batch_size)]

    def warmup(self, approach: str) -> list[list[PutOp]]:
        """One op per namespace (registers every namespace in the SDK stores), in calls of 25."""
        ops = [
            PutOp(ns, f"warmup-{approach}", self.values[0])
            for ns in self.namespaces[: self.options.namespaces]
        ]
        return [ops[j : j + 25] for j in range(0, len(ops), 25)] * 2


def _rows(chunk: Sequence[PutOp]) -> list[tuple[Any, ...]]:
    """What hand-written code binds: partition text, key, encoded value, timestamps, ttl."""
    blobs, _sizes = codec.encode_batch([op.value for op in chunk])
    now = time.time_ns() // 1000
    return [
        (".".join(op.namespace), op.key, blob, now, now, 0)
        for op, blob in zip(chunk, blobs, strict=True)
    ]


def _raw_batch(insert: Any, batch_type: Any, chunk: Sequence[PutOp]) -> Any:
    batch = BatchStatement(batch_type=batch_type)
    for row in _rows(chunk):
        batch.add(insert, row)
    return batch


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)


def _bridge(loop: asyncio.AbstractEventLoop, response: Any) -> asyncio.Future[None]:
    """What hand-written asyncio code does with a driver ``ResponseFuture``."""
    future: asyncio.Future[None] = loop.create_future()

    def ok(_rows: Any) -> None:
        loop.call_soon_threadsafe(_settle, future, None)

    def failed(exc: BaseException) -> None:
        loop.call_soon_threadsafe(_settle, future, exc)

    response.add_callbacks(callback=ok, errback=failed)
    return future


class _Runners:
    """One callable per approach; in async mode the SDK and raw batches return awaitables."""

    def __init__(
        self, session: Any, keyspace: str, options: BenchOptions, stores: dict[str, Any]
    ) -> None:
        self.session = session
        self.options = options
        self.stores = stores
        self.insert = session.prepare(
            f"INSERT INTO {keyspace}.{RAW_TABLE} (namespace, key, value, created_at, updated_at, "
            "ttl) VALUES (?, ?, ?, ?, ?, ?)"
        )

    def get(self, approach: str) -> Callable[[Sequence[PutOp]], Any]:
        return getattr(self, approach)  # type: ignore[no-any-return]

    def sdk_unlogged(self, chunk: Sequence[PutOp]) -> Any:
        store = self.stores["sdk_unlogged"]
        if isinstance(store, AsyncStore):
            return store.abatch(chunk, batch_type="UNLOGGED")
        return store.batch(chunk, batch_type="UNLOGGED")

    def sdk_logged(self, chunk: Sequence[PutOp]) -> Any:
        store = self.stores["sdk_logged"]
        if isinstance(store, AsyncStore):
            return store.abatch(chunk, batch_type="LOGGED")
        return store.batch(chunk, batch_type="LOGGED")

    def _batch(self, batch_type: Any, chunk: Sequence[PutOp]) -> Any:
        batch = _raw_batch(self.insert, batch_type, chunk)
        if self.options.mode == "async":
            return _bridge(asyncio.get_running_loop(), self.session.execute_async(batch))
        return self.session.execute(batch)

    def raw_batch_unlogged(self, chunk: Sequence[PutOp]) -> Any:
        return self._batch(DriverBatchType.UNLOGGED, chunk)

    def raw_batch_logged(self, chunk: Sequence[PutOp]) -> Any:
        return self._batch(DriverBatchType.LOGGED, chunk)

    def raw_concurrent(self, chunk: Sequence[PutOp]) -> Any:
        # The driver has no asyncio API for this: in async mode it blocks the loop, as is.
        return execute_concurrent_with_args(
            self.session, self.insert, _rows(chunk), concurrency=self.options.concurrency
        )


def _row_report(
    batch_size: int, timings: dict[str, Timing], stores: dict[str, Any]
) -> dict[str, Any]:
    s = {name: timings[name].summary() for name in APPROACHES}
    raw_unlogged = {
        "raw_batch_unlogged": s["raw_batch_unlogged"]["ops_per_s"],
        "raw_concurrent": s["raw_concurrent"]["ops_per_s"],
    }
    best_name = max(raw_unlogged, key=lambda k: raw_unlogged[k])
    best = raw_unlogged[best_name]
    logged_raw = s["raw_batch_logged"]["ops_per_s"]
    requests = {}
    for name in ("sdk_unlogged", "sdk_logged"):
        stats = stores[name].get_metrics()["batch_stats"]
        calls = stats["total_batches"] or 1
        requests[name] = {
            "read_requests_per_call": stats["read_requests"] / calls,
            "write_requests_per_call": stats["write_requests"] / calls,
            "internal_writes_per_call": stats["internal_writes"] / calls,
            "retries": stats["retries"],
        }
    return {
        "batch_size": batch_size,
        **s,
        "sdk_requests": requests,
        "best_raw_unlogged": best_name,
        "ratio_unlogged_vs_best_raw": s["sdk_unlogged"]["ops_per_s"] / best if best else 0.0,
        "ratio_unlogged_vs_raw_concurrent": (
            s["sdk_unlogged"]["ops_per_s"] / s["raw_concurrent"]["ops_per_s"]
            if s["raw_concurrent"]["ops_per_s"]
            else 0.0
        ),
        "ratio_logged_vs_raw_logged": (
            s["sdk_logged"]["ops_per_s"] / logged_raw if logged_raw else 0.0
        ),
    }


Call = Callable[[Sequence[PutOp]], Any]
Measurement = Generator[tuple[Call, Sequence[PutOp]], float, list[dict[str, Any]]]


def _timed_sync(fn: Call, chunk: Sequence[PutOp]) -> float:
    started = time.perf_counter()
    fn(chunk)
    return time.perf_counter() - started


async def _timed_async(fn: Call, chunk: Sequence[PutOp]) -> float:
    started = time.perf_counter()
    result = fn(chunk)
    if isinstance(result, Awaitable):  # the raw execute_concurrent runner is blocking
        await result
    return time.perf_counter() - started


Schedule = list[tuple[int, int, str, list[list[PutOp]]]]


def _schedule(options: BenchOptions, workload: Workload) -> Schedule:
    """(batch size, round, approach, calls), approaches rotated every round."""
    plan: Schedule = []
    for size in options.batch_sizes:
        for round_index in range(options.rounds):
            shift = round_index % len(APPROACHES)
            for approach in APPROACHES[shift:] + APPROACHES[:shift]:
                calls = workload.calls(approach, size, round_index)
                plan.append((size, round_index, approach, calls))
    return plan


def _environment(session: Any) -> dict[str, Any]:
    return {
        "scyllabatch": __version__,
        "implementation": IMPLEMENTATION,
        "driver": driver_info(),
        "server": server_info(session),
        "python": sys.version.split()[0],
    }


def run_bench(
    options: BenchOptions,
    *,
    progress_stream: TextIO | None = None,
    connection: StoreConfig | None = None,
) -> dict[str, Any]:
    """Run the benchmark and return the report (what ``--json`` prints).

    ``connection`` carries the connection settings beyond hosts and port (credentials, TLS,
    local DC, consistency). The benchmark runs in a keyspace it creates itself and drops at the
    end (unless ``keep_keyspace``); an existing keyspace is refused and left untouched.
    """
    keyspace = options.keyspace or fresh_name("bench")
    config = replace(
        connection or StoreConfig(),
        hosts=options.hosts,
        port=options.port,
        keyspace=keyspace,
        create_keyspace=False,
        max_concurrency=options.concurrency,
    )
    cluster, session = _driver.connect(config)
    quiet = [logging.getLogger(name) for name in ("cassandra", "scyllabatch")]
    levels = [logger.level for logger in quiet]
    try:
        with scratch_keyspace(
            session,
            keyspace,
            replication_for(config.local_dc),
            tool="bench",
            keep=options.keep_keyspace,
        ):
            # Server warnings about multi-partition raw batches, and the SDK's warning for LOGGED
            # calls above 50 ops, would flood the terminal: the report states both instead.
            for logger in quiet:
                logger.setLevel(logging.ERROR)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", StoreBatchSizeWarning)
                if options.mode == "async":
                    return asyncio.run(
                        _run_async(options, session, config, keyspace, progress_stream)
                    )
                return _run_sync(options, session, config, keyspace, progress_stream)
    except KeyspaceExistsError as exc:
        raise BenchError(str(exc)) from None
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
        cluster.shutdown()


def _prepare(session: Any, keyspace: str) -> None:
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {keyspace}.{RAW_TABLE} (namespace text, key text, "
        "value blob, created_at bigint, updated_at bigint, ttl int, "
        "PRIMARY KEY ((namespace), key))",
        timeout=60,
    )


def _new_timings(options: BenchOptions) -> dict[int, dict[str, Timing]]:
    return {b: {a: Timing() for a in APPROACHES} for b in options.batch_sizes}


def _report(
    options: BenchOptions,
    session: Any,
    keyspace: str,
    rows: list[dict[str, Any]],
    wall: float,
) -> dict[str, Any]:
    return {
        "options": {**asdict(options), "keyspace": keyspace},
        "environment": _environment(session),
        "rows": rows,
        "wall_seconds": wall,
    }


def _measure(
    options: BenchOptions,
    runners: _Runners,
    stores: dict[str, Any],
    progress_stream: TextIO | None,
) -> Measurement:
    """The whole benchmark as a generator: yields ``(call, chunk)`` to run and time, and receives
    the seconds it took; returns the report rows.

    The sync and async modes only differ in how they run a call, so each is a small loop over
    this one schedule (warm-up, metric resets, timings, rows, progress).
    """
    workload = Workload(options)
    for approach in APPROACHES:
        for chunk in workload.warmup(approach):
            yield runners.get(approach), chunk
    schedule = _schedule(options, workload)
    progress = Progress(
        sum(len(c) for *_, calls in schedule for c in calls), options.progress, progress_stream
    )
    timings = _new_timings(options)
    rows = []
    per_size = options.rounds * len(APPROACHES)
    try:
        for index, (batch_size, _round, approach, calls) in enumerate(schedule):
            if index % per_size == 0:
                for store in stores.values():
                    store.reset_metrics()
            fn = runners.get(approach)
            timing = timings[batch_size][approach]
            label = f"batch {batch_size} {approach}"
            for chunk in calls:
                elapsed = yield fn, chunk
                timing.add(len(chunk), elapsed)
                progress.advance(len(chunk), label)
            if (index + 1) % per_size == 0:
                rows.append(_row_report(batch_size, timings[batch_size], stores))
    finally:
        progress.close()
    return rows


def _run_sync(
    options: BenchOptions,
    session: Any,
    config: StoreConfig,
    keyspace: str,
    progress_stream: TextIO | None,
) -> dict[str, Any]:
    started = time.perf_counter()
    stores: dict[str, Any] = {
        name: Store(session, config=config) for name in ("sdk_unlogged", "sdk_logged")
    }
    stores["sdk_unlogged"].setup()
    _prepare(session, keyspace)
    measurement = _measure(
        options, _Runners(session, keyspace, options, stores), stores, progress_stream
    )
    try:
        fn, chunk = next(measurement)
        while True:
            fn, chunk = measurement.send(_timed_sync(fn, chunk))
    except StopIteration as stop:
        rows: list[dict[str, Any]] = stop.value
    return _report(options, session, keyspace, rows, time.perf_counter() - started)


async def _run_async(
    options: BenchOptions,
    session: Any,
    config: StoreConfig,
    keyspace: str,
    progress_stream: TextIO | None,
) -> dict[str, Any]:
    started = time.perf_counter()
    stores: dict[str, Any] = {
        name: AsyncStore(session, config=config) for name in ("sdk_unlogged", "sdk_logged")
    }
    await stores["sdk_unlogged"].asetup()
    await asyncio.to_thread(_prepare, session, keyspace)
    measurement = _measure(
        options, _Runners(session, keyspace, options, stores), stores, progress_stream
    )
    try:
        fn, chunk = next(measurement)
        while True:
            fn, chunk = measurement.send(await _timed_async(fn, chunk))
    except StopIteration as stop:
        rows: list[dict[str, Any]] = stop.value
    return _report(options, session, keyspace, rows, time.perf_counter() - started)


def _ops(value: float) -> str:
    return f"{value:,.0f}"


def format_table(report: dict[str, Any]) -> str:
    """The human-readable table of a report."""
    o, env = report["options"], report["environment"]
    srv, drv = env["server"], env["driver"]
    layout = (
        "consecutive ops in different namespaces"
        if o["layout"] == "spread"
        else "each namespace a contiguous run of ops"
    )
    lines = [
        f"scyllabatch bench: {o['total_ops']:,} puts per approach and batch size over "
        f"{o['namespaces']} namespaces ({o['layout']}: {layout}); {o['mode']} mode; "
        f"{o['rounds']} interleaved rounds",
        f"server {srv['product']} {srv['release_version']} at {','.join(o['hosts'])}:{o['port']}; "
        f"driver {drv['distribution']} {drv['version']} "
        f"({'Cython' if drv['cython'] else 'pure Python'}); speedups {env['implementation']}",
        "",
        f"{'':5} | {'SDK':^48} | {'raw driver, same ops, same run':^44} | {'SDK / raw':^17}",
        f"{'batch':>5} | {'UNLOGGED ms':>11} {'LOGGED ms':>10} {'UNLOGGED ops/s':>14} "
        f"{'LOGGED ops/s':>12}"
        f" | {'batch U ops/s':>13} {'concurrent':>11} {'batch L ops/s':>13}"
        f"  | {'U/best':>7} {'L/L':>7}",
    ]
    for row in report["rows"]:
        su, sl = row["sdk_unlogged"], row["sdk_logged"]
        lines.append(
            f"{row['batch_size']:>5} | {su['latency_ms_mean']:>11.2f} "
            f"{sl['latency_ms_mean']:>10.2f} "
            f"{_ops(su['ops_per_s']):>14} {_ops(sl['ops_per_s']):>12}"
            f" | {_ops(row['raw_batch_unlogged']['ops_per_s']):>13} "
            f"{_ops(row['raw_concurrent']['ops_per_s']):>11} "
            f"{_ops(row['raw_batch_logged']['ops_per_s']):>13}"
            f"  | {row['ratio_unlogged_vs_best_raw']:>6.2f}x "
            f"{row['ratio_logged_vs_raw_logged']:>6.2f}x"
        )
    last = report["rows"][-1] if report["rows"] else None
    lines.append("")
    lines.append(
        "ms = mean wall time per call; ops/s = ops / time inside calls. raw batch = one prepared "
        "BatchStatement per call (spanning every namespace of the call); concurrent = "
        f"execute_concurrent_with_args of single inserts (concurrency {o['concurrency']})."
    )
    lines.append(
        "U/best = SDK UNLOGGED / the faster raw approach; L/L = SDK LOGGED / raw LOGGED batch."
    )
    if last is not None:
        req = last["sdk_requests"]["sdk_unlogged"]
        lines.append(
            f"At batch {last['batch_size']} an SDK UNLOGGED call sent "
            f"{req['read_requests_per_call']:.1f} created_at reads and "
            f"{req['write_requests_per_call']:.1f} write requests (partitions on the same "
            "replicas combined up to 10 per unlogged batch and per created_at look-up) "
            "against 1 request per raw batch call."
        )
    lines.append(
        f"keyspace {o['keyspace']} {'kept' if o['keep_keyspace'] else 'dropped'}; "
        f"wall time {report['wall_seconds']:.1f} s"
    )
    return "\n".join(lines)


def bench_main(options: BenchOptions, connection: StoreConfig | None = None) -> int:
    """Run and print (a table, or JSON on stdout); returns the exit status."""
    try:
        report = run_bench(options, progress_stream=sys.stderr, connection=connection)
    except (BenchError, StoreError) as exc:
        print(f"scyllabatch bench: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, BenchError) else 1
    if options.as_json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(format_table(report))
    return 0
