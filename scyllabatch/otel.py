"""OpenTelemetry spans and metrics of every call, following the database semantic conventions.

Needs ``opentelemetry-api`` (``pip install scyllabatch[otel]``); the application installs the SDK
and its exporters. Every store reports to :data:`GLOBAL` (the global tracer and meter
providers) by default, and does nothing while no provider is set. ``docs/observability.md``
lists every span, attribute, event and instrument.

- Each ``batch()``/``abatch()`` call is a ``CLIENT`` span, a child of the caller's current span,
  named ``{db.operation.name} {keyspace}``: ``get``, ``put``, ``delete``, ``search`` or
  ``list_namespaces`` for a one-op call, ``BATCH put`` (...) when every op is of one kind,
  else ``BATCH``; ``db.operation.batch.size`` is the number of ops (not set for one op).
- Each request the call sends is a ``CLIENT`` child span named after its CQL operation and table
  (``SELECT items``, ``BATCH INSERT items``, ...), with the coordinator that answered as
  ``server.address``/``server.port``.
- Each retry round is a ``scyllabatch.retry`` event on the call span.
- ``db.system.name`` is ``cassandra`` for Cassandra and ScyllaDB alike: it is the registered name
  of the CQL protocol family, and the conventions identify the system as the client library
  sees it (the same client speaks to both).
- ``error.type`` is the fully qualified class of the exception: the driver's when the server or
  the driver failed (``cassandra.Unavailable``), else the SDK's
  (``scyllabatch.errors.StoreValidationError``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from scyllabatch._core import schema
from scyllabatch._core.requests import Failure, Request
from scyllabatch._version import __version__
from scyllabatch.errors import StoreError
from scyllabatch.observability import (
    CallEnd,
    CallObservation,
    CallStart,
    Observer,
    RequestEnd,
    RequestObservation,
)

__all__ = ["DB_SYSTEM", "DURATION_BUCKETS", "GLOBAL", "OpenTelemetry"]

DB_SYSTEM = "cassandra"
"""``db.system.name`` of every span and measurement."""

DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
"""Bucket boundaries (seconds) advised for ``db.client.operation.duration``, as the conventions
specify."""

_OP_NAMES = {
    "GetOp": "get",
    "PutOp": "put",
    "SearchOp": "search",
    "ListNamespacesOp": "list_namespaces",
}

# Until the application sets a global provider, the API's getters return proxies; telling a
# proxy apart costs an environment look-up per call (microseconds), so the hot path reads the
# API's own "is a provider set" globals, which a provider named in the environment fills on the
# first look-up. Another API version without them takes the public path.
_trace_globals: Any = trace
_metrics_globals: Any = getattr(metrics, "_internal", None)
_UNKNOWN = object()
_FROM_ENVIRONMENT = any(
    name in os.environ for name in ("OTEL_PYTHON_TRACER_PROVIDER", "OTEL_PYTHON_METER_PROVIDER")
)
_PROXY_METER_PROVIDER: Any = getattr(_metrics_globals, "_PROXY_METER_PROVIDER", None)


def _no_global_tracer_provider() -> bool:
    value = getattr(_trace_globals, "_TRACER_PROVIDER", _UNKNOWN)
    if value is _UNKNOWN or _FROM_ENVIRONMENT:
        return isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    return value is None


def _no_global_meter_provider() -> bool:
    value = getattr(_metrics_globals, "_METER_PROVIDER", _UNKNOWN)
    if value is _UNKNOWN or _FROM_ENVIRONMENT:
        return metrics.get_meter_provider() is _PROXY_METER_PROVIDER
    return value is None


_FAST_CHECK = (
    not _FROM_ENVIRONMENT
    and hasattr(_trace_globals, "_TRACER_PROVIDER")
    and hasattr(_metrics_globals, "_METER_PROVIDER")
)


def _no_global_provider() -> bool:
    """Whether neither a global tracer provider nor a global meter provider is set."""
    if _FAST_CHECK:
        return _trace_globals._TRACER_PROVIDER is None and _metrics_globals._METER_PROVIDER is None
    return _no_global_tracer_provider() and _no_global_meter_provider()


def error_type(error: BaseException) -> str:
    """``error.type`` of an exception: the driver's original error when the SDK wrapped one."""
    cause = error.__cause__
    if isinstance(error, StoreError) and cause is not None and not isinstance(cause, StoreError):
        error = cause
    kind = type(error)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def _op_name(op: Any) -> str:
    name = _OP_NAMES.get(type(op).__name__, "BATCH")
    if name == "put" and getattr(op, "value", ()) is None:
        return "delete"
    return name


def call_operation(ops: Sequence[Any]) -> str:
    """``db.operation.name`` of a call: the op's name for one op, ``BATCH ...`` for several."""
    if len(ops) == 1:
        return _op_name(ops[0])
    names = {_OP_NAMES.get(type(op).__name__) for op in ops}
    if len(names) == 1 and None not in names:
        return f"BATCH {names.pop()}"
    return "BATCH"


def _write_verb(ops: Sequence[Any], indices: Sequence[int]) -> str | None:
    """INSERT or DELETE when every op an encoded write request serves does the same."""
    verbs = {
        "DELETE" if getattr(ops[i], "value", ()) is None else "INSERT"
        for i in indices
        if i < len(ops)
    }
    return verbs.pop() if len(verbs) == 1 else None


class _Instruments:
    """The meter's instruments (one set per meter provider)."""

    def __init__(self, meter: metrics.Meter) -> None:
        self.duration = meter.create_histogram(
            "db.client.operation.duration",
            unit="s",
            description="Duration of database client operations (one batch() call).",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )
        self.operations = meter.create_counter(
            "scyllabatch.client.operations",
            unit="{operation}",
            description="Operations passed to batch() calls, by op type.",
        )
        self.requests = meter.create_counter(
            "scyllabatch.client.requests",
            unit="{request}",
            description="Requests sent to the cluster (pages and retries included), by kind.",
        )
        self.retries = meter.create_counter(
            "scyllabatch.client.retries",
            unit="{request}",
            description="Requests re-sent after a retryable failure.",
        )
        self.request_errors = meter.create_counter(
            "scyllabatch.client.request.errors",
            unit="{request}",
            description="Failed requests (retried or not), by failure kind.",
        )
        self.rows = meter.create_counter(
            "scyllabatch.client.rows_read",
            unit="{row}",
            description="Rows received by read requests.",
        )


class OpenTelemetry(Observer):
    """Spans and metrics of every call, through OpenTelemetry's API.

    ``tracer_provider`` / ``meter_provider`` default to the global ones; until a global provider
    is set, nothing is recorded and a call costs one provider look-up. ``request_spans=False``
    keeps the call spans and drops the per-request child spans (a call over thousands of
    partitions sends thousands of requests).
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        request_spans: bool = True,
    ) -> None:
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._global = tracer_provider is None and meter_provider is None
        self.request_spans = request_spans
        self._tracer: trace.Tracer | None = None
        self._instruments: _Instruments | None = None
        self._lock = threading.Lock()
        self._texts: dict[str, dict[schema.Statement, str]] = {}

    def _get_tracer(self) -> trace.Tracer | None:
        tracer = self._tracer
        if tracer is None:
            provider = self._tracer_provider
            if provider is None:
                if _no_global_tracer_provider():
                    return None  # nothing set yet: record nothing
                provider = trace.get_tracer_provider()
            tracer = self._tracer = provider.get_tracer("scyllabatch", __version__)
        return tracer

    def _get_instruments(self) -> _Instruments | None:
        instruments = self._instruments
        if instruments is None:
            provider = self._meter_provider
            if provider is None:
                if _no_global_meter_provider():
                    return None
                provider = metrics.get_meter_provider()
            with self._lock:
                if self._instruments is None:
                    meter = provider.get_meter("scyllabatch", __version__)
                    self._instruments = _Instruments(meter)
                instruments = self._instruments
        return instruments

    def query_text(self, keyspace: str, statement: schema.Statement) -> str:
        """The parameterized CQL of a statement (``db.query.text``)."""
        texts = self._texts.get(keyspace)
        if texts is None:
            texts = self._texts[keyspace] = schema.statement_cql(keyspace)
        return texts[statement]

    def is_active(self) -> bool:
        """Whether a provider is set: the hot path while the application sets none."""
        return not (
            self._global
            and self._tracer is None
            and self._instruments is None
            and _no_global_provider()
        )

    def call_started(self, start: CallStart) -> CallObservation | None:
        """Open the call's span (when a tracer provider is set) and time it for the metrics."""
        tracer = self._get_tracer()
        instruments = self._get_instruments()
        if tracer is None and instruments is None:
            return None
        return _Call(self, start, tracer, instruments)


GLOBAL = OpenTelemetry()
"""The observer every store has by default: OpenTelemetry's global providers."""


class _Call(CallObservation):
    __slots__ = (
        "_attempts",
        "_common",
        "_context",
        "_instruments",
        "_operation",
        "_owner",
        "_span",
        "_start",
        "_tracer",
    )

    def __init__(
        self,
        owner: OpenTelemetry,
        start: CallStart,
        tracer: trace.Tracer | None,
        instruments: _Instruments | None,
    ) -> None:
        self._owner = owner
        self._start = start
        self._tracer = tracer
        self._instruments = instruments
        self._operation = call_operation(start.ops)
        self._common = {"db.system.name": DB_SYSTEM, "db.namespace": start.keyspace}
        self._attempts: dict[int, int] = {}
        self._context: Any = None
        self._span: trace.Span | None = None
        if tracer is not None:
            attributes: dict[str, Any] = {
                **self._common,
                "db.operation.name": self._operation,
                "scyllabatch.batch_type": start.batch_type.value,
            }
            if len(start.ops) != 1:
                attributes["db.operation.batch.size"] = len(start.ops)
            self._span = tracer.start_span(
                f"{self._operation} {start.keyspace}", kind=SpanKind.CLIENT, attributes=attributes
            )

    def request_started(self, request: Request) -> RequestObservation | None:
        span = self._span
        if span is None or self._tracer is None or not self._owner.request_spans:
            return None
        if not span.is_recording():
            return None  # the call was not sampled: neither are its requests
        if self._context is None:
            self._context = trace.set_span_in_context(span)
        attributes = self._request_attributes(request)
        name = f"{attributes['db.operation.name']} {attributes.get('db.collection.name', '')}"
        child = self._tracer.start_span(
            name.rstrip(), context=self._context, kind=SpanKind.CLIENT, attributes=attributes
        )
        return _RequestSpan(child, reads=not request.is_write)

    def _request_attributes(self, request: Request) -> dict[str, Any]:
        start = self._start
        attributes: dict[str, Any] = dict(self._common)
        level = start.write_consistency if request.is_write else start.read_consistency
        attributes["cassandra.consistency.level"] = level.lower()
        attributes["cassandra.query.idempotent"] = request.idempotent
        if request.fetch_size:
            attributes["cassandra.page.size"] = request.fetch_size
        resent = self._attempts.get(id(request))
        if resent:
            attributes["scyllabatch.request.resend_count"] = resent
        if request.encoded is not None:
            count = request.encoded.count
            verb = _write_verb(start.ops, request.op_indices)
            attributes["db.collection.name"] = schema.ITEMS
            if count > 1:
                attributes["db.operation.name"] = f"BATCH {verb}" if verb else "BATCH"
                attributes["db.operation.batch.size"] = count
            else:
                attributes["db.operation.name"] = verb or "BATCH"
            return attributes
        statements = {query.statement for query in request.queries}
        operations = {schema.STATEMENT_OPERATIONS[s] for s in statements}
        verbs = {verb for verb, _ in operations}
        tables = {table for _, table in operations}
        verb = verbs.pop() if len(verbs) == 1 else None
        if len(tables) == 1:
            attributes["db.collection.name"] = tables.pop()
        if len(statements) == 1:
            attributes["db.query.text"] = self._owner.query_text(
                start.keyspace, next(iter(statements))
            )
        if len(request.queries) > 1:
            attributes["db.operation.name"] = f"BATCH {verb}" if verb else "BATCH"
            attributes["db.operation.batch.size"] = len(request.queries)
        else:
            attributes["db.operation.name"] = verb or "BATCH"
        return attributes

    def retrying(
        self, retries: Sequence[tuple[Request, Failure]], attempt: int, delay: float
    ) -> None:
        for request, _ in retries:
            self._attempts[id(request)] = self._attempts.get(id(request), 0) + 1
        if self._span is None:
            return
        self._span.add_event(
            "scyllabatch.retry",
            {
                "scyllabatch.retry.attempt": attempt,
                "scyllabatch.retry.delay": delay,
                "scyllabatch.retry.requests": len(retries),
                "scyllabatch.retry.error_kinds": sorted({f.kind.value for _, f in retries}),
                "error.type": sorted({error_type(f.error) for _, f in retries}),
            },
        )

    def call_ended(self, end: CallEnd) -> None:
        failed = error_type(end.error) if end.error is not None else None
        span = self._span
        if span is not None:
            stats = end.stats
            if stats is not None and stats.retries:
                span.set_attribute("scyllabatch.retries", stats.retries)
            if failed is not None:
                span.set_attribute("error.type", failed)
                span.set_status(Status(StatusCode.ERROR, _brief(end.error)))
            span.end()
        instruments = self._instruments
        if instruments is None:
            return
        attributes: dict[str, Any] = {
            **self._common,
            "db.operation.name": self._operation,
            "scyllabatch.batch_type": end.batch_type.value,
        }
        if failed is not None:
            attributes["error.type"] = failed
        instruments.duration.record(end.duration, attributes)
        common = self._common
        for kind, count in end.op_kinds.items():
            instruments.operations.add(count, {**common, "scyllabatch.operation.type": kind})
        stats = end.stats
        if stats is None:
            return
        _add_kinds(
            instruments.requests,
            common,
            "scyllabatch.request.kind",
            {
                "read": stats.read_requests,
                "write": stats.write_requests,
                "internal_write": stats.internal_writes,
            },
        )
        if stats.retries:
            instruments.retries.add(stats.retries, common)
        if stats.rows_read:
            instruments.rows.add(stats.rows_read, common)
        if stats.error_kinds:
            counts: dict[str, int] = {}
            for kind in stats.error_kinds:
                counts[kind] = counts.get(kind, 0) + 1
            _add_kinds(instruments.request_errors, common, "scyllabatch.error.kind", counts)


def _add_kinds(
    counter: Any, common: Mapping[str, Any], key: str, counts: Mapping[str, int]
) -> None:
    for kind, count in counts.items():
        if count:
            counter.add(count, {**common, key: kind})


def _brief(error: BaseException | None) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= 500 else text[:497] + "..."


class _RequestSpan(RequestObservation):
    __slots__ = ("_reads", "_span")

    def __init__(self, span: trace.Span, *, reads: bool) -> None:
        self._span = span
        self._reads = reads

    def request_ended(self, end: RequestEnd) -> None:
        span = self._span
        if end.address is not None:
            span.set_attribute("server.address", end.address)
            if end.port is not None:
                span.set_attribute("server.port", end.port)
        if end.host_id is not None:
            span.set_attribute("cassandra.coordinator.id", end.host_id)
        if end.datacenter is not None:
            span.set_attribute("cassandra.coordinator.dc", end.datacenter)
        if end.error is not None:
            span.set_attribute("error.type", error_type(end.error))
            if end.status_code is not None:
                span.set_attribute("db.response.status_code", f"0x{end.status_code:04X}")
            if end.error_kind is not None:
                span.set_attribute("scyllabatch.error.kind", end.error_kind.value)
            span.set_status(Status(StatusCode.ERROR, _brief(end.error)))
        elif self._reads and end.rows is not None:
            span.set_attribute("db.response.returned_rows", end.rows)
        span.end()
