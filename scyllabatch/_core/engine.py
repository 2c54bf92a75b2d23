"""The engine: walks a :class:`~scyllabatch._core.planner.CallPlan` as a generator.

It yields ``Execute`` and ``Sleep`` commands (:mod:`scyllabatch._core.requests`)
and and receives outcomes; every retry and error decision is made here, so the blocking and
the asyncio facades are small loops with no logic of their own to drift apart.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from scyllabatch._core.conditions import ConditionalWriter
from scyllabatch._core.counters import counter_requests
from scyllabatch._core.items import StoredRow, from_micros
from scyllabatch._core.planner import CallPlan, StatementIds, write_requests
from scyllabatch._core.reads import Reader, decode_values
from scyllabatch._core.requests import (
    Command,
    Consistency,
    Execute,
    Failure,
    Outcome,
    Request,
    Rows,
    Sleep,
)
from scyllabatch._core.retry import (
    WriteKind,
    WriteOutcome,
    category,
    is_retryable,
    write_outcome,
)
from scyllabatch._core.schema import Statement
from scyllabatch._core.speedups import Codec, Writes
from scyllabatch._core.vectors import VectorRefresh
from scyllabatch.config import BatchLimits, RetryPolicy
from scyllabatch.errors import StoreError, partial_write_error_class
from scyllabatch.ops import BatchType, Item

Engine = Generator[Command, Any, list[Any]]

logger = logging.getLogger("scyllabatch")


@dataclass(slots=True)
class CallStats:
    """What one call did; the facades fold it into the store's metrics."""

    read_requests: int = 0
    write_requests: int = 0
    logged_batches: int = 0
    unlogged_batches: int = 0
    single_writes: int = 0
    counter_requests: int = 0
    conditional_requests: int = 0
    internal_writes: int = 0
    retries: int = 0
    retry_delays: list[float] = field(default_factory=list)
    rows_read: int = 0
    error_kinds: list[str] = field(default_factory=list)


@dataclass(slots=True)
class CallContext:
    """Per-store settings and state the engine needs for one call."""

    retry: RetryPolicy
    limits: BatchLimits
    codec: Codec
    registered: set[str]
    random_unit: Callable[[], float]
    writes: Writes
    # Prepared ids of the write statements; the facade sets them once the session's statements
    # are prepared (phase 2 needs them, planning does not).
    statement_ids: StatementIds = field(default_factory=dict)
    stats: CallStats = field(default_factory=CallStats)
    # Told of every retry round (the failed requests, the attempt, the delay) when telemetry
    # follows the call.
    on_retry: Callable[[Sequence[tuple[Request, Failure]], int, float], None] | None = None


class TimestampClock:
    """Client write timestamps (µs): one per call, strictly increasing within a store.

    Two calls in the same microsecond must not share a timestamp: CQL would then resolve their
    writes of one key by comparing value bytes. The caller supplies the wall clock.
    """

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self, now_us: int) -> int:
        """A timestamp ``>= now_us`` and greater than every one handed out before."""
        with self._lock:
            self._last = max(now_us, self._last + 1)
            return self._last


def _write_kind(request: Request) -> WriteKind:
    if not request.is_write:
        return WriteKind.READ
    return WriteKind.IDEMPOTENT_WRITE if request.idempotent else WriteKind.NON_IDEMPOTENT_WRITE


def _count(request: Request, stats: CallStats) -> None:
    if not request.is_write:
        stats.read_requests += 1
        return
    if request.internal:
        stats.internal_writes += 1
        return
    stats.write_requests += 1
    if request.counter:
        stats.counter_requests += 1
    elif request.conditional:
        stats.conditional_requests += 1
    elif request.batch_type is BatchType.LOGGED:
        stats.logged_batches += 1
    elif request.batch_type is BatchType.UNLOGGED:
        stats.unlogged_batches += 1
    else:
        stats.single_writes += 1


def _execute(
    initial: Sequence[Request],
    ctx: CallContext,
    on_rows: Callable[[Request, Rows], Sequence[Request]],
    *,
    fail_fast: bool,
    ambiguous: set[Request] | None = None,
) -> Generator[Command, Any, list[tuple[Request, Failure]]]:
    """Run requests (and their follow-ups) to completion, retrying what is safe to retry.

    ``ambiguous`` (if given) collects every write request that failed at
    least once with an error that leaves its outcome unknown, even when a later attempt failed
    with an error that says "not applied": the earlier attempt may still have been applied.
    """
    pending: list[tuple[Request, int]] = [(request, 0) for request in initial]
    failures: list[tuple[Request, Failure]] = []
    while pending:
        outcomes: list[Outcome] = yield Execute(tuple(request for request, _ in pending))
        follow: list[tuple[Request, int]] = []
        retry: list[tuple[Request, int]] = []
        retried: list[tuple[Request, Failure]] = []
        for (request, attempt), outcome in zip(pending, outcomes, strict=False):
            _count(request, ctx.stats)
            if isinstance(outcome, Rows):
                ctx.stats.rows_read += len(outcome.rows) if not request.is_write else 0
                follow.extend((r, 0) for r in on_rows(request, outcome))
                continue
            ctx.stats.error_kinds.append(outcome.kind.value)
            if (
                ambiguous is not None
                and request.is_write
                and write_outcome(outcome.kind) is WriteOutcome.UNKNOWN
            ):
                ambiguous.add(request)
            if attempt < ctx.retry.max_retries and is_retryable(outcome.kind, _write_kind(request)):
                retry.append((request, attempt + 1))
                retried.append((request, outcome))
            else:
                failures.append((request, outcome))
        if failures and fail_fast:
            break
        if retry:
            ctx.stats.retries += len(retry)
            attempt = max(a for _, a in retry)
            delay = ctx.retry.delay(attempt, ctx.random_unit())
            ctx.stats.retry_delays.append(delay)
            if ctx.on_retry is not None:
                ctx.on_retry(retried, attempt, delay)
            logger.info(
                "retrying %d request(s) in %.3f s (attempt %d of %d) after %s",
                len(retry),
                delay,
                attempt,
                ctx.retry.max_retries,
                ", ".join(sorted(set(ctx.stats.error_kinds[-len(retry) :]))),
            )
            yield Sleep(delay)
        pending = follow + retry
    return failures


def _raise_read_failure(request: Request, failure: Failure) -> None:
    error_class = category(failure.kind)
    ops = ", ".join(str(i) for i in request.op_indices) or "-"
    raise error_class(
        f"read for op(s) {ops} failed ({type(failure.error).__name__}: {failure.error}); "
        "no write of the batch was sent"
    ) from failure.error


def run_call(plan: CallPlan, ctx: CallContext) -> Engine:
    """Execute a planned call; returns one result per op, in order."""
    results: list[Any] = [None] * plan.size

    # Phase 1: reads, all concurrently. Writes wait for them, so reads see the state before.
    owners: dict[Request, Reader] = {}
    initial: list[Request] = []
    for reader in plan.readers:
        for request in reader.start():
            owners[request] = reader
            initial.append(request)

    def on_read(request: Request, page: Rows) -> Sequence[Request]:
        reader = owners.pop(request)
        follow = reader.feed(request, page)
        for next_request in follow:
            owners[next_request] = reader
        return follow

    if initial:
        failures = yield from _execute(initial, ctx, on_read, fail_fast=True)
        if failures:
            _raise_read_failure(*failures[0])

    refreshes: list[tuple[StoredRow, tuple[int, ...]]] = []
    for get_reader in plan.gets:
        stored = get_reader.stored()
        found = list(stored.values())
        decoded = decode_values(ctx.codec, found)
        values = dict(zip(stored, decoded, strict=True))
        for get in get_reader.gets:
            slot = (get.partition, get.key)
            row = stored.get(slot)
            if row is None:
                continue
            results[get.index] = Item(
                namespace=get.namespace,
                key=row.key,
                value=values[slot],
                created_at=from_micros(row.created_us),
                updated_at=from_micros(row.updated_us),
            )
            if get.refresh_ttl and row.ttl_seconds:
                refreshes.append((row, (get.index,)))
    for search in plan.searches:
        items, rows = search.results()
        results[search.op.index] = items
        if search.op.refresh_ttl:
            refreshes.extend((row, (search.op.index,)) for row in rows if row.ttl_seconds)
    for listing in plan.listings:
        results[listing.op.index] = listing.results()
    for counter_reader in plan.counter_reads:
        for read in counter_reader.reads:
            results[read.index] = counter_reader.counters(read.key)
    created: dict[tuple[str, str], int] = {}
    for lookup in plan.created_lookups:
        created.update(lookup.found)

    # Phase 2: writes, refreshes and namespace registrations, all concurrently.
    requests, registry = write_requests(
        plan, created, refreshes, ctx.registered, ctx.limits, ctx.statement_ids, ctx.writes
    )
    # A namespace counts as registered once every registry request it needs (its own row and its
    # root's row, possibly in different requests) has succeeded.
    registry_names = dict(registry)
    needed: dict[str, int] = {}
    for _, names in registry:
        for name in names:
            needed[name] = needed.get(name, 0) + 1
    requests.extend(request for request, _ in registry)
    vector_refresh: VectorRefresh | None = None
    if plan.vectors is not None and refreshes:
        written = {(w.put.partition, w.put.key) for w in plan.writes}
        vector_refresh = VectorRefresh(
            [(row, ix) for row, ix in refreshes if (row.partition, row.key) not in written]
        )
        requests.extend(vector_refresh.reads)
    # Counter and conditional writes are not idempotent: their requests are never re-sent after
    # an ambiguous failure (see _execute and retry.is_retryable).
    if plan.increments:
        requests.extend(counter_requests(plan.increments, ctx.limits, plan.replica_group))
    conditional = ConditionalWriter(plan.conditionals, ctx.codec)
    if plan.conditionals:
        requests.extend(conditional.start(created, plan.timestamp_us))
    if not requests:
        return results

    def on_written(request: Request, page: Rows) -> Sequence[Request]:
        if request.conditional or request.consistency is Consistency.SERIAL:
            return conditional.feed(request, page)
        for name in registry_names.get(request, ()):
            needed[name] -= 1
            if not needed[name]:
                ctx.registered.add(name)
        return vector_refresh.feed(request, page) if vector_refresh is not None else ()

    ambiguous: set[Request] = set()
    failures = []
    for wave in _waves(plan, requests):
        failures += yield from _execute(wave, ctx, on_written, fail_fast=False, ambiguous=ambiguous)
    if failures:
        _raise_write_failure(plan, requests, failures, ambiguous, conditional.rejected)
    for index, result in conditional.results.items():
        results[index] = result
    return results


def _waves(plan: CallPlan, requests: list[Request]) -> list[list[Request]]:
    """The write phase's requests in the groups that run one after the other.

    One group, except for an indexed store: its requests that insert vectors run at most
    ``IndexConfig.write_concurrency`` at a time (Cassandra 5.0 fails concurrent inserts into a
    vector index beyond about its node's processor count), the others with the first group.
    """
    if plan.vectors is None:
        return [requests]
    width = plan.vectors.index.write_concurrency
    inserting = [
        r for r in requests if any(q.statement is Statement.VECTOR_INSERT for q in r.queries)
    ]
    if len(inserting) <= width:
        return [requests]
    chosen = {id(r) for r in inserting}
    others = [r for r in requests if id(r) not in chosen]
    waves = [others + inserting[:width]]
    waves.extend(inserting[start : start + width] for start in range(width, len(inserting), width))
    return waves


def _raise_write_failure(
    plan: CallPlan,
    requests: Sequence[Request],
    failures: Sequence[tuple[Request, Failure]],
    ambiguous: Collection[Request] = (),
    rejected: Collection[int] = (),
) -> None:
    """Raise the call's error, sorting its write ops into applied / not applied / unknown.

    An op is *not applied* only when the server said so for every attempt of a failed request
    serving it; *unknown* when any attempt timed out or lost its connection (the server may have
    applied it); *applied* otherwise (its requests succeeded, or a logged batch reached the
    batchlog). An op served by several failed requests (its data write and a namespace
    registration) takes the least favourable state: not applied, then unknown. Conditional writes
    whose condition failed (``rejected``) are not applied.
    """
    write_indices = plan.write_indices
    lost: set[int] = set(rejected)
    unsure: set[int] = set()
    eventually: set[int] = set()
    for request, failure in failures:
        outcome = write_outcome(failure.kind)
        if outcome is WriteOutcome.NOT_APPLIED and request in ambiguous:
            outcome = WriteOutcome.UNKNOWN  # an earlier attempt may have been applied
        if outcome is WriteOutcome.WILL_BE_APPLIED:
            eventually.update(request.op_indices)
        elif outcome is WriteOutcome.UNKNOWN:
            unsure.update(request.op_indices)
        else:
            lost.update(request.op_indices)
    not_applied = tuple(sorted(lost & write_indices))
    unknown = tuple(sorted((unsure - lost) & write_indices))
    applied = tuple(sorted(write_indices - lost - unsure))
    request, failure = failures[0]
    error_class: type[StoreError] = category(failure.kind)
    if sum(1 for group in (applied, not_applied, unknown) if group) > 1:
        error_class = partial_write_error_class(error_class)
    detail = f"{type(failure.error).__name__}: {failure.error}"
    note = ""
    if eventually - lost - unsure:
        note = (
            " The logged batch reached the batchlog and will be applied by the server; it was "
            "not re-sent."
        )
    error = error_class(
        f"{len(failures)} of {len(requests)} write requests failed ({detail}). "
        f"Applied op indices: {list(applied)}; not applied: {list(not_applied)}; "
        f"unknown outcome (timed out or connection lost; may have been applied): "
        f"{list(unknown)}.{note} {_rerun_advice(plan)}"
    )
    error.applied = applied
    error.not_applied = not_applied
    error.unknown = unknown
    raise error from failure.error


def _rerun_advice(plan: CallPlan) -> str:
    if not plan.increments and not plan.conditionals:
        return "Re-running the same call is safe: puts and deletes are idempotent."
    return (
        "Re-running is safe for plain puts and deletes, not for counter increments or "
        "conditional writes: none of those was re-sent after a timeout or a lost connection, "
        "because an increment sent twice counts twice and a conditional write that was applied "
        "reports 'not applied' when sent again. Read the counters or items of the unknown ops "
        "before sending them again."
    )


__all__ = ["CallContext", "CallStats", "Engine", "TimestampClock", "run_call"]
