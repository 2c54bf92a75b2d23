"""Counters and conditional writes in the sans-I/O core: validation, planning, retry decisions.

The engine is driven with scripted outcomes (no database): what is re-sent, and how a failed
call reports increments and conditional writes, is decided by the SDK. What the server does
with them is tested against the node (tests/integration, tests/cluster).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from scyllabatch import (
    BatchLimits,
    BatchType,
    ConditionalPutOp,
    ConditionalResult,
    CounterOp,
    GetCountersOp,
    GetOp,
    IfAbsent,
    IfUnchanged,
    PutOp,
    StorePartialWriteError,
    StoreTimeoutError,
    StoreUnavailableError,
    StoreValidationError,
)
from scyllabatch._core.counters import counter_requests, merge_increments
from scyllabatch._core.planner import plan_call
from scyllabatch._core.requests import Consistency, Request, Rows
from scyllabatch._core.retry import ErrorKind
from scyllabatch._core.schema import Statement
from scyllabatch._core.validation import CounterWrite, micros_of, validate_ops
from scyllabatch._impl import codec
from tests.unit.test_unknown_outcomes import fail, make, raised, run

NS = ("a",)


def test_increments_of_one_counter_are_added_up_and_zero_sums_send_nothing() -> None:
    ops = validate_ops(
        [
            CounterOp(NS, "k", "n", 2),
            CounterOp(NS, "k", "n", 3),
            CounterOp(NS, "k", "m", 1),
            CounterOp(NS, "k", "m", -1),
        ],
        codec,
    )
    increments = merge_increments([op for op in ops if isinstance(op, CounterWrite)])
    assert [(i.counter, i.delta, i.op_indices) for i in increments] == [("n", 5, [0, 1])]


def test_counter_batches_group_like_unlogged_writes() -> None:
    ops = [CounterOp((f"p{i % 3}",), f"k{i}", "n", 1) for i in range(9)]
    ops += [CounterOp(("big",), f"k{i}", "n", 1) for i in range(120)]
    writes = [op for op in validate_ops(ops, codec) if isinstance(op, CounterWrite)]
    limits = BatchLimits()
    # p0 and p1 share replicas, p2 and big live elsewhere
    group = {"p0": "x", "p1": "x", "p2": "y", "big": "y"}
    requests = counter_requests(merge_increments(writes), limits, group.__getitem__)
    partitions = [sorted({q.params[1] for q in r.queries}) for r in requests]
    assert partitions[0] == ["p0", "p1"]
    assert partitions[1] == ["p2"]
    # 120 increments of one partition exceed warn_ops (50): cut into parts that travel alone
    assert [len(r.queries) for r in requests[2:]] == [50, 50, 20]
    for request in requests:
        assert request.counter
        assert request.idempotent is False
        assert request.is_write
        assert all(q.statement is Statement.ADD_TO_COUNTER for q in request.queries)
    assert sorted(i for r in requests for i in r.op_indices) == list(range(len(ops)))


def test_special_writes_are_refused_in_logged_calls_and_mixed_keys() -> None:
    with pytest.raises(StoreValidationError, match="LOGGED") as info:
        make([PutOp(NS, "k", {}), CounterOp(NS, "c", "n", 1)], BatchType.LOGGED)
    assert info.value.op_index == 1
    with pytest.raises(StoreValidationError, match="clocks") as info:
        make([ConditionalPutOp(NS, "k", {}, IfAbsent()), PutOp(NS, "k", None)])
    assert (info.value.op_index, info.value.field) == (0, "key")
    # the same key in another namespace, or a counter of the same key, is fine
    make([ConditionalPutOp(NS, "k", {}, IfAbsent()), PutOp(("b",), "k", {})])
    make([ConditionalPutOp(NS, "k", {}, IfAbsent()), CounterOp(NS, "k", "n", 1)])


def test_conditional_batch_above_the_limits_is_refused_not_split() -> None:
    ops = [ConditionalPutOp(NS, f"k{i}", {}, IfAbsent()) for i in range(101)]
    with pytest.raises(StoreValidationError, match="never split") as info:
        make(ops)
    assert info.value.op_index == 0


def test_if_unchanged_compares_exact_microseconds() -> None:
    moment = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
    assert micros_of(moment) == 1714564800123456
    assert micros_of(moment.replace(tzinfo=None)) == 1714564800123456  # naive is UTC


def test_plain_puts_plan_without_special_paths() -> None:
    plan, _ = make([PutOp(NS, f"k{i}", {"i": i}) for i in range(10)])
    assert plan.increments == []
    assert plan.conditionals == []
    assert plan.counter_reads == []


def conditional_answer(
    failure: ErrorKind | None, applied: bool = True, on: str = "conditional"
) -> Any:
    def answer(request: Request, attempt: int) -> Any:
        if getattr(request, on) and failure is not None:
            return fail(failure)
        if request.conditional:
            return Rows(rows=[(applied,)])
        return Rows()

    return answer


@pytest.mark.parametrize(
    "kind",
    [ErrorKind.CLIENT_TIMEOUT, ErrorKind.WRITE_TIMEOUT_OTHER, ErrorKind.CONNECTION],
)
@pytest.mark.parametrize("on", ["counter", "conditional"])
def test_ambiguous_failures_are_never_resent(kind: ErrorKind, on: str) -> None:
    plan, ctx = make(
        [
            PutOp(("p",), "k", None),
            CounterOp(NS, "c", "n", 1),
            ConditionalPutOp(NS, "x", {}, IfAbsent()),
        ],
        max_retries=3,
    )
    sent: list[Request] = []

    def answer(request: Request, attempt: int) -> Any:
        sent.append(request)
        return conditional_answer(kind, on=on)(request, attempt)

    error = raised(plan, ctx, answer)
    assert isinstance(error, StorePartialWriteError)
    assert isinstance(error, StoreTimeoutError) or kind is ErrorKind.CONNECTION
    failed = 1 if on == "counter" else 2
    assert error.unknown == (failed,)
    assert error.not_applied == ()
    assert failed not in error.applied
    assert len([r for r in sent if getattr(r, on)]) == 1  # sent once, whatever the budget
    assert ctx.stats.retries == 0
    assert "not for counter increments" in str(error)


@pytest.mark.parametrize("kind", [ErrorKind.UNAVAILABLE, ErrorKind.OVERLOADED])
def test_server_refusals_are_retried_and_not_applied(kind: ErrorKind) -> None:
    plan, ctx = make([CounterOp(NS, "c", "n", 1), ConditionalPutOp(NS, "x", {}, IfAbsent())])
    attempts: list[int] = []

    def answer(request: Request, attempt: int) -> Any:
        if request.counter or request.conditional:
            attempts.append(attempt)
            return fail(kind)
        return Rows()

    error = raised(plan, ctx, answer)
    assert type(error) is StoreUnavailableError
    assert (error.applied, error.not_applied, error.unknown) == ((), (0, 1), ())
    assert sorted(attempts) == [1, 1, 2, 2, 3, 3]  # max_retries=2


def test_an_earlier_timeout_keeps_a_later_refusal_unknown() -> None:
    plan, ctx = make([CounterOp(NS, "c", "n", 1)], max_retries=2)

    def answer(request: Request, attempt: int) -> Any:
        # a write timeout of a counter is not re-sent, so only one attempt: unknown
        return fail(ErrorKind.WRITE_TIMEOUT_OTHER if attempt == 1 else ErrorKind.UNAVAILABLE)

    error = raised(plan, ctx, answer)
    assert error.unknown == (0,)


def test_conditional_results_applied_and_rejected_with_current_item() -> None:
    stored = codec.encode({"owner": "b"})
    plan, ctx = make(
        [
            ConditionalPutOp(NS, "mine", {"owner": "a"}, IfAbsent()),
            ConditionalPutOp(("other",), "gone", None, IfUnchanged(datetime.now(timezone.utc))),
            GetCountersOp(NS, "c"),
        ]
    )
    reads: list[Request] = []

    def answer(request: Request, attempt: int) -> Any:
        if request.conditional:
            partition = request.queries[0].params[0]
            return Rows(rows=[(partition != "a",)])
        if request.consistency is Consistency.SERIAL:
            reads.append(request)
            return Rows(rows=[("mine", stored, 5, 6, 0, 6)])
        if request.queries and request.queries[0].statement is Statement.SELECT_COUNTERS:
            return Rows(rows=[("c", "n", 4)])
        return Rows()

    results = run(plan, ctx, answer)
    assert results[0].applied is False
    assert results[0].current.value == {"owner": "b"}
    assert results[1] == ConditionalResult(applied=True, current=None)
    assert results[2] == {"n": 4}
    assert [r.queries[0].params for r in reads] == [("a", ["mine"])]


def test_a_rejected_conditional_write_is_not_applied_in_a_failed_call() -> None:
    plan, ctx = make(
        [ConditionalPutOp(NS, "x", {}, IfAbsent()), CounterOp(("b",), "c", "n", 1)],
        max_retries=0,
    )

    def answer(request: Request, attempt: int) -> Any:
        if request.counter:
            return fail(ErrorKind.CLIENT_TIMEOUT)
        if request.conditional:
            return Rows(rows=[(False,)])
        return Rows()

    error = raised(plan, ctx, answer)
    assert (error.applied, error.not_applied, error.unknown) == ((), (0,), (1,))


def test_plan_is_not_empty_with_only_counters() -> None:
    plan = plan_call(
        validate_ops([CounterOp(NS, "c", "n", 1)], codec),
        BatchType.UNLOGGED,
        1,
        BatchLimits(),
        codec,
        100,
    )
    assert not plan.is_empty


def test_a_key_written_conditionally_is_not_ttl_refreshed_by_the_same_call() -> None:
    from scyllabatch._core.items import StoredRow
    from scyllabatch._core.planner import _refresh_requests

    plan, ctx = make([GetOp(NS, "x"), ConditionalPutOp(NS, "x", {}, IfAbsent())])
    row = StoredRow(NS, "a", "x", b"\x80", 1, 1, 60, 1)
    other = StoredRow(NS, "a", "y", b"\x80", 1, 1, 60, 1)
    refreshed = _refresh_requests(plan, [(row, (0,)), (other, (0,))], ctx.limits)
    assert [q.params[1] for r in refreshed for q in r.queries] == ["y"]
