"""What telemetry costs a call: the same ``Store.batch`` with each kind of observer, same run.

Contestants, interleaved in short blocks on one session (the order rotates every round):

- ``raw batch``: the raw driver's prepared ``BatchStatement`` of the same inserts (the baseline).
- ``no telemetry``: ``store.observers = ()``, what a store has when ``opentelemetry-api`` is not
  installed (its default is then empty, the very same code path).
- ``otel API, no provider``: the default on a machine with the API but no SDK configured.
- ``otel SDK``: an SDK tracer provider (batch span processor, spans dropped by the exporter) and
  an SDK meter provider; ``otel SDK, call spans only`` the same with ``request_spans=False``.
- ``prometheus_client``: :class:`scyllabatch.prometheus.PrometheusMetrics` on its own registry.

Each call writes ``OPS`` fresh keys in write-only mode (one request per call, so the telemetry's
share is as large as it gets). Reports the mean wall time and the client CPU per call
(``time.process_time``: every thread of the process, the driver's I/O thread included), each as
a ratio to ``no telemetry``. It also times the hook alone, without I/O, as a store with the
default observer and no provider runs it on every call: the difference is far below the noise
of a round trip (a store without observers skips it with one attribute test). Needs a node::

    SCYLLABATCH_HOSTS=127.0.0.1 .venv/bin/python benchmarks/telemetry_overhead.py [CALLS] [ROUNDS]

``CALLS`` calls per block (20), ``ROUNDS`` rounds of one block per contestant (60).
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from cassandra.query import BatchType as DriverBatchType
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry

from scyllabatch import CreatedAtMode, PutOp, Store, StoreConfig, _driver
from scyllabatch._bench.contestants import prepare_raw_insert, prepare_raw_table, raw_batch
from scyllabatch.observability import Observer
from scyllabatch.ops import BatchType
from scyllabatch.otel import OpenTelemetry
from scyllabatch.prometheus import PrometheusMetrics

OPS = 10


class Dropped(SpanExporter):
    """An exporter that sends nothing anywhere: the cost measured is the SDK's, not a network's."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release."""


def hook_cost(store: Store, repeat: int = 40_000) -> float:
    """Nanoseconds per call of the store's telemetry hook at call start (no I/O), the best of 5
    runs (a shared machine preempts some): asking each observer whether it is active, and
    building the call's description when one is."""
    ops = [PutOp(("a",), "k", {})]
    observe, config, kind = store._observe_call, store.config, BatchType.UNLOGGED
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter_ns()
        for _ in range(repeat):
            observe(config, kind, ops, None)
        best = min(best, (time.perf_counter_ns() - began) / repeat)
    return best


def main(calls: int, rounds: int) -> None:
    hosts = os.environ.get("SCYLLABATCH_HOSTS", "127.0.0.1").split(",")
    keyspace = f"otel_bench_{uuid.uuid4().hex[:8]}"
    config = StoreConfig(hosts=hosts, keyspace=keyspace, created_at_mode=CreatedAtMode.WRITE_ONLY)
    cluster, session = _driver.connect(config)
    exporter = Dropped()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    try:
        store = Store(session, config=config)
        store.setup()
        prepare_raw_table(session, keyspace)
        insert = prepare_raw_insert(session, keyspace)
        default_observers = store.observers
        sdk = OpenTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
        sdk_calls = OpenTelemetry(
            tracer_provider=tracer_provider, meter_provider=meter_provider, request_spans=False
        )
        prometheus = PrometheusMetrics(CollectorRegistry())
        observers: dict[str, tuple[Observer, ...] | None] = {
            "raw batch": None,
            "no telemetry": (),
            "otel API, no provider": default_observers,
            "otel SDK": (sdk,),
            "otel SDK, call spans only": (sdk_calls,),
            "prometheus_client": (prometheus,),
        }
        keys = iter(range(10**9))

        def ops() -> list[PutOp]:
            n = next(keys)
            return [PutOp(("bench", f"p{n % 50}"), f"k{n}-{i}", {"i": i}) for i in range(OPS)]

        def run(name: str) -> Callable[[], Any]:
            chosen = observers[name]
            if chosen is None:
                return lambda: session.execute(raw_batch(insert, DriverBatchType.UNLOGGED, ops()))
            return lambda: store.batch(ops())

        names = list(observers)
        wall: dict[str, float] = dict.fromkeys(names, 0.0)
        cpu: dict[str, float] = dict.fromkeys(names, 0.0)
        for name in names:  # warm-up: statements prepared, instruments created
            chosen = observers[name]
            if chosen is not None:
                store.observers = chosen
            for _ in range(20):
                run(name)()
        # Short blocks, the order rotating every round: every contestant meets the same
        # load from the rest of the machine.
        for round_number in range(rounds):
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                chosen = observers[name]
                if chosen is not None:
                    store.observers = chosen
                call = run(name)
                began_cpu, began = time.process_time(), time.perf_counter()
                for _ in range(calls):
                    call()
                wall[name] += time.perf_counter() - began
                cpu[name] += time.process_time() - began_cpu
        tracer_provider.force_flush()
        total = calls * rounds
        base_wall, base_cpu = wall["no telemetry"] / total, cpu["no telemetry"] / total
        raw_wall, raw_cpu = wall["raw batch"] / total, cpu["raw batch"] / total
        print(
            f"{OPS} puts per call, write-only mode; {rounds} rounds x {calls} calls per "
            f"contestant; {exporter.spans} spans exported"
        )
        print(
            f"{'contestant':<28}{'ms/call':>9}{'vs none':>9}{'CPU us/call':>13}{'vs none':>9}"
            f"{'vs raw':>8}"
        )
        for name in names:
            mean, used = wall[name] / total, cpu[name] / total
            print(
                f"{name:<28}{mean * 1e3:>9.3f}{mean / base_wall:>8.3f}x{used * 1e6:>13.1f}"
                f"{used / base_cpu:>8.3f}x{used / raw_cpu:>7.2f}x"
            )
        print(f"(raw batch: {raw_wall * 1e3:.3f} ms, {raw_cpu * 1e6:.1f} us CPU per call)")
        store.observers = default_observers
        hook = hook_cost(store)
        print(
            f"hook alone, API installed and no provider: {hook:.0f} ns per call "
            f"({hook / (base_cpu * 1e9) * 100:.2f} % of a no-telemetry call's CPU)"
        )
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=60)
        cluster.shutdown()


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 20,
        int(sys.argv[2]) if len(sys.argv) > 2 else 60,
    )
