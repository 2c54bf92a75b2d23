"""The engine's retry and error decisions, driven without a database.

The engine is sans-I/O: these tests play the facade, answering its commands with outcomes, so
every row of the classification table in docs/design.md is checked deterministically.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from scyllabatch import (
    BatchLimits,
    BatchType,
    GetOp,
    PutOp,
    RetryPolicy,
    StoreConnectionError,
    StorePartialWriteError,
    StoreQueryError,
    StoreTimeoutError,
    StoreUnavailableError,
)
from scyllabatch._core.engine import CallContext, TimestampClock, run_call
from scyllabatch._core.planner import plan_call
from scyllabatch._core.requests import Execute, Failure, Request, Rows, Sleep
from scyllabatch._core.retry import ErrorKind, WriteKind, category, is_retryable
from scyllabatch._core.schema import Statement
from scyllabatch._core.validation import validate_ops
from scyllabatch._impl import codec, writes
from scyllabatch._pure.writes import decode_writes

NS = ("a", "b")
STATEMENT_IDS = {Statement.UPSERT: b"upsert-id", Statement.DELETE: b"delete-id"}

# (kind, read, idempotent write, non-idempotent write)
TABLE = [
    (ErrorKind.UNAVAILABLE, True, True, True),
    (ErrorKind.OVERLOADED, True, True, True),
    (ErrorKind.BOOTSTRAPPING, True, True, True),
    (ErrorKind.WRITE_TIMEOUT_BATCH_LOG, False, True, True),
    (ErrorKind.WRITE_TIMEOUT_SIMPLE, False, True, False),
    (ErrorKind.WRITE_TIMEOUT_UNLOGGED_BATCH, False, True, False),
    (ErrorKind.CLIENT_TIMEOUT, True, True, False),
    (ErrorKind.CONNECTION, True, True, False),
    (ErrorKind.WRITE_TIMEOUT_BATCH, False, False, False),
    (ErrorKind.WRITE_TIMEOUT_OTHER, False, False, False),
    (ErrorKind.READ_TIMEOUT, True, False, False),
    (ErrorKind.INVALID, False, False, False),
    (ErrorKind.SYNTAX, False, False, False),
    (ErrorKind.AUTH, False, False, False),
    (ErrorKind.READ_FAILURE, False, False, False),
    (ErrorKind.WRITE_FAILURE, False, False, False),
    (ErrorKind.OTHER, False, False, False),
]


@pytest.mark.parametrize(("kind", "read", "idempotent", "non_idempotent"), TABLE)
def test_classification_table(
    kind: ErrorKind, read: bool, idempotent: bool, non_idempotent: bool
) -> None:
    assert is_retryable(kind, WriteKind.READ) is read
    assert is_retryable(kind, WriteKind.IDEMPOTENT_WRITE) is idempotent
    assert is_retryable(kind, WriteKind.NON_IDEMPOTENT_WRITE) is non_idempotent


def test_every_error_kind_is_in_the_table() -> None:
    assert {row[0] for row in TABLE} == set(ErrorKind)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (ErrorKind.UNAVAILABLE, StoreUnavailableError),
        (ErrorKind.OVERLOADED, StoreUnavailableError),
        (ErrorKind.WRITE_TIMEOUT_SIMPLE, StoreTimeoutError),
        (ErrorKind.CLIENT_TIMEOUT, StoreTimeoutError),
        (ErrorKind.CONNECTION, StoreConnectionError),
        (ErrorKind.INVALID, StoreQueryError),
        (ErrorKind.WRITE_FAILURE, StoreQueryError),
    ],
)
def test_error_categories(kind: ErrorKind, expected: type) -> None:
    assert category(kind) is expected


def plan_for(
    ops: list[Any], batch_type: BatchType = BatchType.UNLOGGED, max_retries: int = 3
) -> tuple[Any, CallContext]:
    plan = plan_call(validate_ops(ops, codec), batch_type, 1_000, BatchLimits(), codec, 100)
    ctx = CallContext(
        retry=RetryPolicy(max_retries=max_retries, retry_delay=0.1, retry_backoff=2.0, jitter=0.0),
        limits=BatchLimits(),
        codec=codec,
        writes=writes,
        statement_ids=STATEMENT_IDS,
        registered=set(),
        random_unit=lambda: 0.5,
    )
    return plan, ctx


Answer = Callable[[Request, int], Any]


def drive(
    plan: Any, ctx: CallContext, answer: Answer
) -> tuple[list[Any], list[float], list[Request]]:
    """Play the facade: ``answer(request, attempt)`` returns a Rows or a Failure."""
    sleeps: list[float] = []
    sent: list[Request] = []
    seen: dict[tuple[Any, ...], int] = {}
    engine = run_call(plan, ctx)
    try:
        command = next(engine)
        while True:
            if isinstance(command, Execute):
                outcomes = []
                for request in command.requests:
                    sent.append(request)
                    key = (
                        (request.encoded.body,)
                        if request.encoded is not None
                        else tuple((q.statement, repr(q.params)) for q in request.queries)
                    )
                    seen[key] = seen.get(key, 0) + 1
                    outcomes.append(answer(request, seen[key]))
                command = engine.send(outcomes)
            else:
                assert isinstance(command, Sleep)
                sleeps.append(command.seconds)
                command = engine.send(None)
    except StopIteration as stop:
        return stop.value, sleeps, sent


def is_data_write(request: Request) -> bool:
    return request.encoded is not None


def written_values(request: Request) -> list[list[bytes]]:
    """The serialized values of every statement of a data write."""
    assert request.encoded is not None
    return [values for _, values in decode_writes(request.encoded.body, request.encoded.count)]


def test_unavailable_write_is_retried_with_growing_delays_then_raises() -> None:
    plan, ctx = plan_for([PutOp(NS, "k", {"v": 1})], max_retries=3)

    def answer(request: Request, attempt: int) -> Any:
        if is_data_write(request):
            return Failure(ErrorKind.UNAVAILABLE, RuntimeError("Unavailable"))
        return Rows()

    with pytest.raises(StoreUnavailableError) as info:
        drive(plan, ctx, answer)
    assert info.value.not_applied == (0,)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_retry_delays_grow() -> None:
    plan, ctx = plan_for([PutOp(NS, "k", {"v": 1})], max_retries=3)

    def answer(request: Request, attempt: int) -> Any:
        if is_data_write(request) and attempt <= 3:
            return Failure(ErrorKind.UNAVAILABLE, RuntimeError("Unavailable"))
        return Rows()

    results, sleeps, _ = drive(plan, ctx, answer)
    assert results == [None]
    assert sleeps == pytest.approx([0.1, 0.2, 0.4])
    assert ctx.stats.retries == 3


def test_invalid_request_is_never_retried() -> None:
    plan, ctx = plan_for([PutOp(NS, "k", {"v": 1})])

    def answer(request: Request, attempt: int) -> Any:
        if is_data_write(request):
            return Failure(ErrorKind.INVALID, RuntimeError("InvalidRequest"))
        return Rows()

    with pytest.raises(StoreQueryError):
        drive(plan, ctx, answer)
    assert ctx.stats.retries == 0


def test_batch_write_timeout_is_not_resent_and_reported_as_applied() -> None:
    ops = [PutOp(("x",), "a", {"v": 1}), PutOp(("y",), "b", {"v": 2})]
    plan, ctx = plan_for(ops, BatchType.LOGGED)
    logged: list[Request] = []

    def answer(request: Request, attempt: int) -> Any:
        if request.batch_type is BatchType.LOGGED:
            logged.append(request)
            return Failure(ErrorKind.WRITE_TIMEOUT_BATCH, RuntimeError("WriteTimeout BATCH"))
        return Rows()

    with pytest.raises(StoreTimeoutError, match="batchlog") as info:
        drive(plan, ctx, answer)
    assert len(logged) == 1
    assert info.value.applied == (0, 1)
    assert info.value.not_applied == ()


def test_batch_log_timeout_is_retried() -> None:
    plan, ctx = plan_for([PutOp(("x",), "a", {"v": 1}), PutOp(("y",), "b", {})], BatchType.LOGGED)

    def answer(request: Request, attempt: int) -> Any:
        if request.batch_type is BatchType.LOGGED and attempt == 1:
            return Failure(ErrorKind.WRITE_TIMEOUT_BATCH_LOG, RuntimeError("BATCH_LOG"))
        return Rows()

    results, sleeps, _ = drive(plan, ctx, answer)
    assert results == [None, None]
    assert len(sleeps) == 1


def test_client_timeout_of_idempotent_write_is_retried() -> None:
    plan, ctx = plan_for([PutOp(NS, "k", {"v": 1})])

    def answer(request: Request, attempt: int) -> Any:
        if is_data_write(request) and attempt == 1:
            return Failure(ErrorKind.CLIENT_TIMEOUT, RuntimeError("OperationTimedOut"))
        return Rows()

    assert drive(plan, ctx, answer)[0] == [None]
    assert ctx.stats.retries == 1


def test_partial_unlogged_failure_lists_applied_and_not_applied() -> None:
    ops = [PutOp(("ok",), "a", {"v": 1}), PutOp(("bad",), "b", {"v": 2}), PutOp(("ok",), "c", None)]
    plan, ctx = plan_for(ops, max_retries=0)

    def answer(request: Request, attempt: int) -> Any:
        if is_data_write(request) and written_values(request)[0][0] == b"bad":
            return Failure(ErrorKind.UNAVAILABLE, RuntimeError("Unavailable"))
        return Rows()

    with pytest.raises(StorePartialWriteError) as info:
        drive(plan, ctx, answer)
    assert isinstance(info.value, StoreUnavailableError)
    assert info.value.unknown == ()
    assert info.value.applied == (0, 2)
    assert info.value.not_applied == (1,)
    assert "not applied: [1]" in str(info.value)


def test_read_failure_raises_before_any_write() -> None:
    plan, ctx = plan_for([GetOp(NS, "k"), PutOp(NS, "k", {"v": 1})])

    def answer(request: Request, attempt: int) -> Any:
        if not request.is_write:
            return Failure(ErrorKind.READ_FAILURE, RuntimeError("ReadFailure"))
        raise AssertionError("a write was sent after a failed read")

    with pytest.raises(StoreQueryError, match="no write"):
        drive(plan, ctx, answer)


def test_reads_finish_before_writes_start() -> None:
    plan, ctx = plan_for([PutOp(NS, "k", {"v": 1}), GetOp(NS, "k"), GetOp(("c",), "z")])
    _, _, sent = drive(plan, ctx, lambda request, attempt: Rows())
    kinds = [r.is_write for r in sent]
    assert kinds == sorted(kinds)  # every read precedes every write
    assert any(kinds)


def test_merged_writes_send_one_statement_per_key() -> None:
    plan, ctx = plan_for([PutOp(NS, "k", {"v": "zzz"}), PutOp(NS, "k", {"v": "a"})])
    _, _, sent = drive(plan, ctx, lambda request, attempt: Rows())
    statements = [
        (statement_id, values)
        for r in sent
        if r.encoded is not None
        for statement_id, values in decode_writes(r.encoded.body, r.encoded.count)
    ]
    assert len(statements) == 1
    assert statements[0][0] == STATEMENT_IDS[Statement.UPSERT]
    assert codec.decode(statements[0][1][2]) == {"v": "a"}


def test_empty_batch_yields_nothing() -> None:
    plan, ctx = plan_for([])
    results, sleeps, sent = drive(plan, ctx, lambda r, a: Rows())
    assert (results, sleeps, sent) == ([], [], [])


def test_timestamp_clock_strictly_increases() -> None:
    clock = TimestampClock()
    assert [clock.next(100), clock.next(100), clock.next(50), clock.next(500)] == [
        100,
        101,
        102,
        500,
    ]


def test_retry_policy_delay_bounds() -> None:
    policy = RetryPolicy(retry_delay=1.0, retry_backoff=10.0, max_delay=5.0, jitter=0.5)
    assert policy.delay(1, 0.0) == pytest.approx(0.5)
    assert policy.delay(1, 1.0) == pytest.approx(1.5)
    assert policy.delay(3, 0.5) == pytest.approx(5.0)
