"""``scyllabatch bench``: the SDK next to the raw driver code it replaces, same run, same node.

- :mod:`~scyllabatch._bench.contestants`: the SDK contestants and the raw driver code (tuned and
  with the driver's defaults);
- :mod:`~scyllabatch._bench.measure`: the workload, the interleaved schedule, the timings;
- :mod:`~scyllabatch._bench.runner`: running blocks of calls, blocking or in an event loop;
- :mod:`~scyllabatch._bench.report`: the table.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import warnings
from dataclasses import asdict, dataclass, replace
from typing import Any, TextIO

from scyllabatch import _driver
from scyllabatch._bench.contestants import READS, WRITES, Runners, prepare_raw_table
from scyllabatch._bench.measure import LAYOUTS, Workload, measure
from scyllabatch._bench.report import format_table
from scyllabatch._bench.runner import drive_async, drive_sync
from scyllabatch._doctor import driver_info, server_info
from scyllabatch._impl import IMPLEMENTATION
from scyllabatch._scratch import KeyspaceExistsError, fresh_name, replication_for, scratch_keyspace
from scyllabatch._version import __version__
from scyllabatch.config import StoreConfig, validate_identifier
from scyllabatch.errors import StoreBatchSizeWarning, StoreError
from scyllabatch.store import Store

__all__ = [
    "APPROACHES",
    "BenchError",
    "BenchOptions",
    "bench_main",
    "format_table",
    "run_bench",
]

APPROACHES = tuple(c.name for c in WRITES)
DEFAULT_BATCH_SIZES = (10, 100)


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
    in_flight: int = 1
    reads: bool = True
    progress: bool = False
    as_json: bool = False

    def __post_init__(self) -> None:
        if self.mode not in ("sync", "async"):
            raise ValueError(f"mode must be 'sync' or 'async', not {self.mode!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, not {self.layout!r}")
        if min(self.namespaces, self.rounds, self.concurrency, self.in_flight) < 1:
            raise ValueError("namespaces, rounds, concurrency and in-flight must be >= 1")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise ValueError("batch sizes must be >= 1")
        if self.total_ops < self.rounds * max(self.batch_sizes):
            raise ValueError(
                f"total_ops ({self.total_ops}) must be at least rounds x the largest batch size "
                f"({self.rounds} x {max(self.batch_sizes)})"
            )
        if self.keyspace is not None:
            validate_identifier(self.keyspace, "keyspace")


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
                return _run(options, session, config, progress_stream)
    except KeyspaceExistsError as exc:
        raise BenchError(str(exc)) from None
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
        cluster.shutdown()


def _run(
    options: BenchOptions, session: Any, config: StoreConfig, progress_stream: TextIO | None
) -> dict[str, Any]:
    started = time.perf_counter()
    asynchronous = options.mode == "async"
    Store(session, config=config).setup()  # the SDK's keyspace and tables
    prepare_raw_table(session, config.keyspace)
    runners = Runners(session, config, asynchronous=asynchronous, concurrency=options.concurrency)
    try:
        workload = Workload(
            options.total_ops,
            options.namespaces,
            options.rounds,
            options.layout,
            options.value_bytes,
        )
        measurement = measure(
            workload,
            runners,
            options.batch_sizes,
            options.in_flight,
            options.reads,
            progress_stream,
            options.progress,
        )
        if asynchronous:
            rows = asyncio.run(drive_async(measurement))
        else:
            rows = drive_sync(measurement, options.in_flight)
    finally:
        runners.close()
    return {
        "options": {**asdict(options), "keyspace": config.keyspace},
        "environment": _environment(session),
        "contestants": {c.name: c.label for c in (*WRITES, *READS)},
        "rows": rows,
        "wall_seconds": time.perf_counter() - started,
    }


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
