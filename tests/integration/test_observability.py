"""OpenTelemetry spans and metrics, and prometheus_client metrics, of real calls to the node.

Spans are collected with the SDK's in-memory exporter and metrics with its in-memory reader,
through providers given to the store's observer (the global providers can be set only once per
process: the one test of the global path runs in a child process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from scyllabatch import (
    GetOp,
    ListNamespacesOp,
    PutOp,
    SearchOp,
    Store,
    StoreUnavailableError,
    StoreValidationError,
)
from scyllabatch.observability import CallObservation, CallStart, Observer
from scyllabatch.otel import OpenTelemetry
from scyllabatch.prometheus import PrometheusMetrics
from tests.conftest import node_hosts, node_port
from tests.integration.conftest import Facade, make_store, setup_store

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


class Telemetry:
    """SDK providers with in-memory exporters, and an observer that reports to them."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.observer = OpenTelemetry(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def calls(self) -> list[ReadableSpan]:
        """Call spans: those without a parent (the tests start no span of their own)."""
        return [s for s in self.finished() if s.parent is None]

    def children(self, call: ReadableSpan) -> list[ReadableSpan]:
        return [
            s
            for s in self.finished()
            if s.parent is not None and s.parent.span_id == call.context.span_id
        ]

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]

    def total(self, name: str, **attributes: Any) -> float:
        return sum(
            p.value
            for p in self.points(name)
            if all(p.attributes.get(k) == v for k, v in attributes.items())
        )


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    t = Telemetry()
    yield t
    t.tracer_provider.shutdown()
    t.meter_provider.shutdown()


@pytest.fixture(params=["sync", "async"])
async def observed(
    request: pytest.FixtureRequest, cql_session: Any, keyspace: str, telemetry: Telemetry
) -> Facade:
    store = make_store(request.param, cql_session, keyspace)
    await setup_store(store)
    store.observers = (telemetry.observer,)
    return Facade(store)


async def test_call_span_with_request_children(
    observed: Facade, keyspace: str, telemetry: Telemetry
) -> None:
    ops = [PutOp(("otel", "a"), f"k{i}", {"i": i}) for i in range(3)]
    await observed.batch(ops, batch_type="LOGGED")

    [call] = telemetry.calls()
    assert call.name == f"BATCH put {keyspace}"
    assert call.kind is SpanKind.CLIENT
    attributes = dict(call.attributes or {})
    assert attributes == {
        "db.system.name": "cassandra",
        "db.namespace": keyspace,
        "db.operation.name": "BATCH put",
        "db.operation.batch.size": 3,
        "scyllabatch.batch_type": "LOGGED",
    }
    assert call.status.status_code is StatusCode.UNSET
    children = telemetry.children(call)
    assert children, "every request is a child span of the call"
    assert {c.context.trace_id for c in children} == {call.context.trace_id}
    by_name = {c.name: c for c in children}
    # exact created_at mode reads the existing created_at first; then one logged batch
    assert "SELECT items" in by_name
    data = by_name["BATCH INSERT items"]
    assert data.attributes is not None
    assert data.attributes["db.operation.name"] == "BATCH INSERT"
    assert data.attributes["db.operation.batch.size"] == 3
    assert data.attributes["db.collection.name"] == "items"
    for child in children:
        assert child.kind is SpanKind.CLIENT
        assert child.attributes is not None
        assert child.attributes["db.system.name"] == "cassandra"
        assert child.attributes["db.namespace"] == keyspace
        assert child.attributes["server.address"] in node_hosts()
        assert child.attributes["server.port"] == node_port()
        assert child.attributes["cassandra.consistency.level"] == "local_quorum"
        assert child.status.status_code is StatusCode.UNSET
        # children lie within their call
        assert call.start_time is not None
        assert call.end_time is not None
        assert child.start_time is not None
        assert child.end_time is not None
        assert call.start_time <= child.start_time <= child.end_time <= call.end_time

    metrics = observed.store.get_metrics()["batch_stats"]
    requests = metrics["read_requests"] + metrics["write_requests"] + metrics["internal_writes"]
    assert len(children) == requests


async def test_single_op_calls_are_named_after_the_op(
    observed: Facade, keyspace: str, telemetry: Telemetry
) -> None:
    await observed.put(("otel", "b"), "k", {"v": 1})
    item = await observed.get(("otel", "b"), "k")
    assert item is not None
    await observed.search(("otel",))
    await observed.list_namespaces(prefix=("otel",))
    await observed.delete(("otel", "b"), "k")
    await observed.batch([GetOp(("otel", "b"), "k"), SearchOp(("otel",))])

    names = [s.name for s in sorted(telemetry.calls(), key=lambda s: s.start_time or 0)]
    assert names == [
        f"put {keyspace}",
        f"get {keyspace}",
        f"search {keyspace}",
        f"list_namespaces {keyspace}",
        f"delete {keyspace}",
        f"BATCH {keyspace}",
    ]
    for call in telemetry.calls():
        assert call.attributes is not None
        single = not call.name.startswith("BATCH")
        assert ("db.operation.batch.size" not in call.attributes) is single
    get = next(s for s in telemetry.calls() if s.name.startswith("get "))
    [read] = telemetry.children(get)
    assert read.attributes is not None
    assert read.attributes["db.response.returned_rows"] == 1
    assert read.attributes["cassandra.query.idempotent"] is True
    assert "SELECT" in str(read.attributes["db.query.text"])
    assert "?" in str(read.attributes["db.query.text"])  # parameterized: no values in it


async def test_unavailable_is_an_error_span_with_retry_events(
    observed: Facade, telemetry: Telemetry
) -> None:
    # The keyspace has one replica: consistency THREE cannot be met, the node says Unavailable
    # (retryable) every time, and the call raises after the retries.
    with pytest.raises(StoreUnavailableError):
        await observed.batch(
            [GetOp(("otel", "c"), "k")], consistency="THREE", max_retries=2, retry_delay=0.001
        )

    [call] = telemetry.calls()
    assert call.status.status_code is StatusCode.ERROR
    assert call.attributes is not None
    assert call.attributes["error.type"] == "cassandra.Unavailable"
    assert call.attributes["scyllabatch.retries"] == 2
    events = [e for e in call.events if e.name == "scyllabatch.retry"]
    assert [e.attributes["scyllabatch.retry.attempt"] for e in events] == [1, 2]  # type: ignore[index]
    for event in events:
        assert event.attributes is not None
        assert event.attributes["scyllabatch.retry.requests"] == 1
        assert list(event.attributes["scyllabatch.retry.error_kinds"]) == ["unavailable"]  # type: ignore[arg-type]
        assert list(event.attributes["error.type"]) == ["cassandra.Unavailable"]  # type: ignore[arg-type]
        assert float(event.attributes["scyllabatch.retry.delay"]) >= 0.0  # type: ignore[arg-type]

    attempts = sorted(telemetry.children(call), key=lambda s: s.start_time or 0)
    assert len(attempts) == 3
    for number, attempt in enumerate(attempts):
        assert attempt.status.status_code is StatusCode.ERROR
        assert attempt.attributes is not None
        assert attempt.attributes["error.type"] == "cassandra.Unavailable"
        assert attempt.attributes["db.response.status_code"] == "0x1000"
        assert attempt.attributes["scyllabatch.error.kind"] == "unavailable"
        assert attempt.attributes["cassandra.consistency.level"] == "three"
        assert attempt.attributes["server.address"] in node_hosts()
        assert attempt.attributes.get("scyllabatch.request.resend_count", 0) == number

    failed = telemetry.points("db.client.operation.duration")
    assert [p.attributes.get("error.type") for p in failed] == ["cassandra.Unavailable"]
    assert telemetry.total("scyllabatch.client.retries") == 2
    assert (
        telemetry.total(
            "scyllabatch.client.request.errors", **{"scyllabatch.error.kind": "unavailable"}
        )
        == 3
    )


async def test_validation_error_is_an_error_span_without_requests(
    observed: Facade, telemetry: Telemetry
) -> None:
    with pytest.raises(StoreValidationError):
        await observed.batch([PutOp(("otel", "d"), "k", {"ok": 1}), PutOp((), "k", {"x": 1})])
    [call] = telemetry.calls()
    assert call.status.status_code is StatusCode.ERROR
    assert call.attributes is not None
    assert call.attributes["error.type"] == "scyllabatch.errors.StoreValidationError"
    assert telemetry.children(call) == []
    [point] = telemetry.points("db.client.operation.duration")
    assert point.count == 1
    assert point.attributes["error.type"] == "scyllabatch.errors.StoreValidationError"


async def test_metrics_instruments_match_get_metrics(
    observed: Facade, keyspace: str, telemetry: Telemetry
) -> None:
    for n in range(4):
        await observed.batch([PutOp(("otel", "m", str(n)), f"k{i}", {"i": i}) for i in range(5)])
    await observed.batch([GetOp(("otel", "m", "0"), "k1"), ListNamespacesOp()])

    b = observed.store.get_metrics()["batch_stats"]
    [histogram] = [
        p
        for p in telemetry.points("db.client.operation.duration")
        if p.attributes["db.operation.name"] == "BATCH put"
    ]
    assert histogram.count == 4
    assert histogram.attributes["db.system.name"] == "cassandra"
    assert histogram.attributes["db.namespace"] == keyspace
    assert "error.type" not in histogram.attributes
    assert list(histogram.explicit_bounds) == [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]
    assert sum(histogram.bucket_counts) == 4
    assert (
        telemetry.total("scyllabatch.client.operations", **{"scyllabatch.operation.type": "PutOp"})
        == 20
    )
    assert telemetry.total("scyllabatch.client.operations") == b["total_batch_operations"]
    for kind, key in (
        ("read", "read_requests"),
        ("write", "write_requests"),
        ("internal_write", "internal_writes"),
    ):
        assert (
            telemetry.total("scyllabatch.client.requests", **{"scyllabatch.request.kind": kind})
            == b[key]
        )
    assert telemetry.total("scyllabatch.client.rows_read") == b["rows_read"] >= 1


async def test_request_spans_off_keeps_call_spans(
    cql_session: Any, keyspace: str, telemetry: Telemetry
) -> None:
    store = Store(cql_session, keyspace)
    store.setup()
    store.observers = (
        OpenTelemetry(tracer_provider=telemetry.tracer_provider, request_spans=False),
    )
    store.batch([PutOp(("otel", "e"), "k", {"v": 1})])
    spans = telemetry.finished()
    assert [s.name for s in spans] == [f"put {keyspace}"]


async def test_a_failing_observer_never_reaches_the_caller(
    cql_session: Any, keyspace: str, telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Observer):
        def call_started(self, start: CallStart) -> CallObservation | None:
            raise RuntimeError("observer bug")

    store = Store(cql_session, keyspace)
    store.setup()
    store.observers = (Broken(), telemetry.observer)
    store.put(("otel", "f"), "k", {"v": 1})
    assert store.get(("otel", "f"), "k") is not None
    assert len(telemetry.calls()) == 2  # the other observer still saw both calls
    assert "observer bug" in caplog.text


def test_the_default_observer_reports_to_the_global_providers(keyspace: str) -> None:
    """A store made with defaults reports to the providers the application set globally."""
    script = textwrap.dedent(
        f"""
        import json
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from scyllabatch import PutOp, Store
        from scyllabatch.otel import GLOBAL

        store = Store.connect({node_hosts()!r}, {node_port()}, {keyspace!r})
        store.setup()
        before = GLOBAL._get_tracer()  # no provider set yet
        store.put(("g",), "k0", {{"v": 0}})                    # recorded nowhere
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        with trace.get_tracer("app").start_as_current_span("request handler") as parent:
            store.batch([PutOp(("g",), "k1", {{"v": 1}}), PutOp(("g",), "k2", {{"v": 2}})])
        spans = exporter.get_finished_spans()
        call = next(s for s in spans if s.name.startswith("BATCH put"))
        points = [
            p for r in reader.get_metrics_data().resource_metrics for s in r.scope_metrics
            for m in s.metrics if m.name == "db.client.operation.duration"
            for p in m.data.data_points
        ]
        print(json.dumps({{
            "observers": [type(o).__name__ for o in store.observers],
            "before": before is None,
            "names": sorted(s.name for s in spans),
            "call_parent_is_handler": call.parent.span_id == parent.get_span_context().span_id,
            "durations": sum(p.count for p in points),
        }}))
        store.close()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["observers"] == ["OpenTelemetry"]
    assert seen["before"] is True
    assert f"BATCH put {keyspace}" in seen["names"]
    assert "request handler" in seen["names"]
    assert f"put {keyspace}" not in seen["names"]  # the call before the provider was set
    assert seen["call_parent_is_handler"] is True
    assert seen["durations"] == 1


# -- prometheus_client ---------------------------------------------------------------------------


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_prometheus_metrics_of_a_store(facade: Facade, keyspace: str) -> None:
    registry = CollectorRegistry()
    facade.store.observers = (PrometheusMetrics(registry),)
    for n in range(3):
        await facade.batch([PutOp(("prom", str(n)), f"k{i}", {"i": i}) for i in range(4)])
    await facade.batch([GetOp(("prom", "0"), "k0")])
    with pytest.raises(StoreValidationError):
        await facade.batch([PutOp((), "k", {})])

    b = facade.store.get_metrics()["batch_stats"]
    samples = _samples(generate_latest(registry).decode())
    ks = ("keyspace", keyspace)

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted([ks, *labels.items()]))), 0.0)

    assert value("scyllabatch_batch_calls_total", batch_type="unlogged") == 5 == b["total_batches"]
    assert value("scyllabatch_batch_latency_seconds_count", batch_type="unlogged") == 5
    assert value("scyllabatch_batch_latency_seconds_bucket", batch_type="unlogged", le="+Inf") == 5
    assert value("scyllabatch_batch_size_operations_bucket", le="1.0") == 2  # the get, the bad put
    assert value("scyllabatch_batch_size_operations_bucket", le="5.0") == 5
    assert value("scyllabatch_batch_size_operations_sum") == 14
    assert value("scyllabatch_operations_total", op="PutOp") == 12
    assert value("scyllabatch_operations_total", op="GetOp") == 1
    assert value("scyllabatch_batch_calls_failed_total", error="StoreValidationError") == 1
    assert value("scyllabatch_requests_total", kind="read") == b["read_requests"]
    assert value("scyllabatch_requests_total", kind="write") == b["write_requests"]
    assert value("scyllabatch_requests_total", kind="internal_write") == b["internal_writes"]
    assert value("scyllabatch_rows_read_total") == b["rows_read"]
    assert (
        value("scyllabatch_write_statements_total", form="unlogged_batch")
        + value("scyllabatch_write_statements_total", form="single")
        == b["concurrent_batches"]
    )


def test_prometheus_multiprocess_mode_sums_the_workers(keyspace: str, tmp_path: Path) -> None:
    """Two worker processes write through PROMETHEUS_MULTIPROC_DIR; one collector sums them."""
    directory = tmp_path / "multiproc"
    directory.mkdir()
    worker = textwrap.dedent(
        f"""
        import sys
        from scyllabatch import PutOp, Store
        from scyllabatch.prometheus import PrometheusMetrics

        worker, calls = sys.argv[1], int(sys.argv[2])
        store = Store.connect({node_hosts()!r}, {node_port()}, {keyspace!r})
        store.setup()
        store.observers = (PrometheusMetrics(),)
        for c in range(calls):
            store.batch([PutOp(("mp", worker), f"k{{c}}-{{i}}", {{"i": i}}) for i in range(3)])
        store.close()
        """
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    calls = {"w1": 4, "w2": 6}
    # setup() creates the keyspace: run the first worker alone, then both at once.
    first = subprocess.run(
        [sys.executable, "-c", worker, "w0", "1"], env=env, cwd=ROOT, capture_output=True,
        text=True, timeout=180, check=False,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", worker, name, str(count)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, count in calls.items()
    ]
    for process in workers:
        _, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
    assert len(list(directory.glob("*.db"))) >= 3  # one file per metric type and process

    collector = textwrap.dedent(
        """
        import sys
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        sys.stdout.write(generate_latest(registry).decode())
        """
    )
    exposed = subprocess.run(
        [sys.executable, "-c", collector], env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    samples = _samples(exposed.stdout)
    ks = ("keyspace", keyspace)
    total = 1 + sum(calls.values())

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted([ks, *labels.items()])))]

    assert value("scyllabatch_batch_calls_total", batch_type="unlogged") == total
    assert value("scyllabatch_operations_total", op="PutOp") == 3 * total
    assert value("scyllabatch_batch_latency_seconds_count", batch_type="unlogged") == total
    assert value("scyllabatch_batch_latency_seconds_bucket", batch_type="unlogged", le="+Inf") == (
        total
    )
    assert value("scyllabatch_batch_size_operations_bucket", le="2.0") == 0
    assert value("scyllabatch_batch_size_operations_bucket", le="5.0") == total
    assert value("scyllabatch_requests_total", kind="write") >= total
