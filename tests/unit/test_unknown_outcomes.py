"""Applied, not applied, unknown: how a failed call reports its writes.

The engine is driven with scripted outcomes (no database): a timeout or a lost connection must
never put a write in ``not_applied``, since the server may have applied it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from scyllabatch import (
    BatchLimits,
    BatchType,
    PutOp,
    RetryPolicy,
    StoreConnectionError,
    StoreError,
    StorePartialWriteError,
    StoreTimeoutError,
    StoreUnavailableError,
)
from scyllabatch._core.engine import CallContext, run_call
from scyllabatch._core.planner import plan_call
from scyllabatch._core.requests import Execute, Failure, Request, Rows, Sleep
from scyllabatch._core.retry import ErrorKind, WriteOutcome, write_outcome
from scyllabatch._core.schema import Statement
from scyllabatch._core.validation import validate_ops
from scyllabatch._impl import codec, writes
from scyllabatch._pure.writes import decode_writes

STATEMENT_IDS = {Statement.UPSERT: b"upsert-id", Statement.DELETE: b"delete-id"}

Answer = Callable[[Request, int], Any]

EXPECTED_OUTCOME = {
    ErrorKind.UNAVAILABLE: WriteOutcome.NOT_APPLIED,
    ErrorKind.OVERLOADED: WriteOutcome.NOT_APPLIED,
    ErrorKind.BOOTSTRAPPING: WriteOutcome.NOT_APPLIED,
    ErrorKind.WRITE_TIMEOUT_BATCH_LOG: WriteOutcome.NOT_APPLIED,
    ErrorKind.WRITE_TIMEOUT_SIMPLE: WriteOutcome.UNKNOWN,
    ErrorKind.WRITE_TIMEOUT_UNLOGGED_BATCH: WriteOutcome.UNKNOWN,
    ErrorKind.WRITE_TIMEOUT_BATCH: WriteOutcome.WILL_BE_APPLIED,
    ErrorKind.WRITE_TIMEOUT_OTHER: WriteOutcome.UNKNOWN,
    ErrorKind.READ_TIMEOUT: WriteOutcome.NOT_APPLIED,
    ErrorKind.CLIENT_TIMEOUT: WriteOutcome.UNKNOWN,
    ErrorKind.CONNECTION: WriteOutcome.UNKNOWN,
    ErrorKind.INVALID: WriteOutcome.NOT_APPLIED,
    ErrorKind.SYNTAX: WriteOutcome.NOT_APPLIED,
    ErrorKind.AUTH: WriteOutcome.NOT_APPLIED,
    ErrorKind.READ_FAILURE: WriteOutcome.NOT_APPLIED,
    ErrorKind.WRITE_FAILURE: WriteOutcome.UNKNOWN,
    ErrorKind.OTHER: WriteOutcome.UNKNOWN,
}


def test_every_error_kind_has_an_outcome() -> None:
    assert set(EXPECTED_OUTCOME) == set(ErrorKind)
    for kind, expected in EXPECTED_OUTCOME.items():
        assert write_outcome(kind) is expected, kind


def make(
    ops: list[Any], batch_type: BatchType = BatchType.UNLOGGED, max_retries: int = 2
) -> tuple[Any, CallContext]:
    plan = plan_call(validate_ops(ops, codec), batch_type, 1_000, BatchLimits(), codec, 100)
    ctx = CallContext(
        retry=RetryPolicy(max_retries=max_retries, retry_delay=0.01, jitter=0.0),
        limits=BatchLimits(),
        codec=codec,
        writes=writes,
        statement_ids=STATEMENT_IDS,
        registered=set(),
        random_unit=lambda: 0.5,
    )
    return plan, ctx


def run(plan: Any, ctx: CallContext, answer: Answer) -> list[Any]:
    """Play the facade; ``answer(request, attempt)`` gives each request's outcome."""
    attempts: dict[int, int] = {}
    engine = run_call(plan, ctx)
    try:
        command = next(engine)
        while True:
            if isinstance(command, Execute):
                outcomes = []
                for request in command.requests:
                    attempts[id(request)] = attempts.get(id(request), 0) + 1
                    outcomes.append(answer(request, attempts[id(request)]))
                command = engine.send(outcomes)
            else:
                assert isinstance(command, Sleep)
                command = engine.send(None)
    except StopIteration as stop:
        result: list[Any] = stop.value
        return result


def data_partition(request: Request) -> str | None:
    """The namespace of a data write request (None for reads and registry writes)."""
    if request.encoded is not None:  # data writes travel pre-serialized; values are bytes
        statements = decode_writes(request.encoded.body, request.encoded.count)
        statement_id, values = statements[0]
        return (
            values[1] if statement_id == STATEMENT_IDS[Statement.DELETE] else values[0]
        ).decode()
    query = request.queries[0]
    if not request.is_write or query.statement not in (Statement.UPSERT, Statement.DELETE):
        return None
    return str(query.params[1] if query.statement is Statement.DELETE else query.params[0])


def fail(kind: ErrorKind) -> Failure:
    return Failure(kind, RuntimeError(kind.value))


def raised(plan: Any, ctx: CallContext, answer: Answer) -> StoreError:
    with pytest.raises(StoreError) as info:
        run(plan, ctx, answer)
    return info.value


def test_client_timeout_on_every_attempt_is_unknown_not_unapplied() -> None:
    plan, ctx = make([PutOp(("a",), "k", {"v": 1}), PutOp(("a",), "j", None)])

    def answer(request: Request, attempt: int) -> Any:
        return fail(ErrorKind.CLIENT_TIMEOUT) if data_partition(request) else Rows()

    error = raised(plan, ctx, answer)
    assert type(error) is StoreTimeoutError
    assert (error.applied, error.not_applied, error.unknown) == ((), (), (0, 1))
    assert ctx.stats.retries >= 2  # idempotent: retried before giving up
    assert "unknown outcome" in str(error)


def test_lost_connection_is_unknown() -> None:
    plan, ctx = make([PutOp(("a",), "k", {"v": 1})], max_retries=0)

    def answer(request: Request, attempt: int) -> Any:
        return fail(ErrorKind.CONNECTION) if data_partition(request) else Rows()

    error = raised(plan, ctx, answer)
    assert isinstance(error, StoreConnectionError)
    assert (error.applied, error.not_applied, error.unknown) == ((), (), (0,))


def test_timeout_then_unavailable_stays_unknown() -> None:
    # The first attempt timed out (it may have been applied); the retry was refused. The refusal
    # says nothing about the first attempt, so the write is unknown, not "not applied".
    plan, ctx = make([PutOp(("a",), "k", {"v": 1})], max_retries=1)

    def answer(request: Request, attempt: int) -> Any:
        if not data_partition(request):
            return Rows()
        return fail(ErrorKind.WRITE_TIMEOUT_SIMPLE if attempt == 1 else ErrorKind.UNAVAILABLE)

    error = raised(plan, ctx, answer)
    assert isinstance(error, StoreUnavailableError)
    assert (error.not_applied, error.unknown) == ((), (0,))


def test_unavailable_on_every_attempt_is_not_applied() -> None:
    plan, ctx = make([PutOp(("a",), "k", {"v": 1})], max_retries=1)

    def answer(request: Request, attempt: int) -> Any:
        return fail(ErrorKind.UNAVAILABLE) if data_partition(request) else Rows()

    error = raised(plan, ctx, answer)
    assert type(error) is StoreUnavailableError
    assert (error.applied, error.not_applied, error.unknown) == ((), (0,), ())


def test_three_partitions_three_sets() -> None:
    ops = [
        PutOp(("ok",), "a", {"v": 1}),
        PutOp(("slow",), "b", {"v": 2}),
        PutOp(("refused",), "c", {"v": 3}),
        PutOp(("ok",), "d", None),
        PutOp(("slow",), "e", None),
    ]
    plan, ctx = make(ops, max_retries=0)
    by_partition = {
        "slow": fail(ErrorKind.WRITE_TIMEOUT_UNLOGGED_BATCH),
        "refused": fail(ErrorKind.OVERLOADED),
    }

    def answer(request: Request, attempt: int) -> Any:
        return by_partition.get(data_partition(request) or "", Rows())

    error = raised(plan, ctx, answer)
    assert isinstance(error, StorePartialWriteError)
    assert (error.applied, error.not_applied, error.unknown) == ((0, 3), (2,), (1, 4))
    assert set(error.applied) | set(error.not_applied) | set(error.unknown) == set(range(5))


def test_failed_registration_after_a_timeout_is_unknown() -> None:
    # The data write succeeded, but the namespace registration of the same op timed out: the op
    # is not fully done, and may be; it must not be listed as applied nor as not applied.
    plan, ctx = make([PutOp(("new",), "k", {"v": 1})], max_retries=0)

    def answer(request: Request, attempt: int) -> Any:
        if request.internal and request.is_write:
            return fail(ErrorKind.CLIENT_TIMEOUT)
        return Rows()

    error = raised(plan, ctx, answer)
    assert (error.applied, error.not_applied, error.unknown) == ((), (), (0,))


def test_logged_batch_in_the_batchlog_is_applied() -> None:
    ops = [PutOp(("x",), "a", {"v": 1}), PutOp(("y",), "b", {"v": 2})]
    plan, ctx = make(ops, BatchType.LOGGED)

    def answer(request: Request, attempt: int) -> Any:
        if request.batch_type is BatchType.LOGGED:
            return fail(ErrorKind.WRITE_TIMEOUT_BATCH)
        return Rows()

    error = raised(plan, ctx, answer)
    assert (error.applied, error.not_applied, error.unknown) == ((0, 1), (), ())


def test_a_connection_closed_by_an_unanswered_heartbeat_is_a_timeout() -> None:
    from cassandra.connection import ConnectionShutdown

    from scyllabatch._driver import classify

    frozen = ConnectionShutdown("Connection heartbeat timeout (total wait=2.0 seconds)")
    closed = ConnectionShutdown("Connection to 127.0.0.2:9042 was closed")
    assert classify(frozen) is ErrorKind.CLIENT_TIMEOUT
    assert classify(closed) is ErrorKind.CONNECTION
    assert (
        write_outcome(classify(frozen)) is write_outcome(classify(closed)) is WriteOutcome.UNKNOWN
    )
