"""Telemetry without a database: the engine's retry hook, names, error types, observer set-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from cassandra import OperationTimedOut, Unavailable
from cassandra.protocol import OverloadedErrorMessage

from scyllabatch import (
    BatchType,
    GetOp,
    ListNamespacesOp,
    PutOp,
    SearchOp,
    StoreUnavailableError,
    StoreValidationError,
)
from scyllabatch._core import schema
from scyllabatch._core.requests import Failure, Request, Rows
from scyllabatch._core.retry import ErrorKind
from scyllabatch._driver import protocol_code, request_end
from scyllabatch.observability import (
    CallEnd,
    CallObservation,
    CallStart,
    Observer,
    Observers,
    default_observers,
)
from scyllabatch.otel import GLOBAL, OpenTelemetry, call_operation, error_type
from tests.unit.test_retry_and_engine import NS, drive, is_data_write, plan_for

ROOT = Path(__file__).resolve().parents[2]


def test_the_engine_reports_each_retry_round() -> None:
    plan, ctx = plan_for([PutOp(NS, "k", {"v": 1})], max_retries=2)
    rounds: list[tuple[list[tuple[Request, Failure]], int, float]] = []
    ctx.on_retry = lambda retries, attempt, delay: rounds.append((list(retries), attempt, delay))

    def answer(request: Request, attempt: int) -> Any:
        if is_data_write(request):
            return Failure(ErrorKind.UNAVAILABLE, RuntimeError(f"attempt {attempt}"))
        return Rows()

    with pytest.raises(StoreUnavailableError):
        drive(plan, ctx, answer)
    assert [(attempt, delay) for _, attempt, delay in rounds] == [(1, 0.1), (2, 0.2)]
    for retries, attempt, _ in rounds:
        [(request, failure)] = retries
        assert is_data_write(request)
        assert failure.kind is ErrorKind.UNAVAILABLE
        assert str(failure.error) == f"attempt {attempt}"
    assert ctx.stats.retries == 2


class GetOpOfAnotherLibrary(NamedTuple):
    namespace: tuple[str, ...]
    key: str


GetOpOfAnotherLibrary.__name__ = "GetOp"  # LangGraph's ops share our ops' class names


@pytest.mark.parametrize(
    ("ops", "name"),
    [
        ([GetOp(NS, "k")], "get"),
        ([GetOpOfAnotherLibrary(NS, "k")], "get"),
        ([PutOp(NS, "k", {"v": 1})], "put"),
        ([PutOp(NS, "k", None)], "delete"),
        ([SearchOp(NS)], "search"),
        ([ListNamespacesOp()], "list_namespaces"),
        ([PutOp(NS, "a", {}), PutOp(NS, "b", None)], "BATCH put"),
        ([GetOp(NS, "a"), GetOp(NS, "b")], "BATCH get"),
        ([GetOp(NS, "a"), PutOp(NS, "b", {})], "BATCH"),
        ([], "BATCH"),
        (["not an op"], "BATCH"),
    ],
)
def test_call_operation_names(ops: list[Any], name: str) -> None:
    assert call_operation(ops) == name


def test_error_type_prefers_the_driver_error_the_sdk_wrapped() -> None:
    driver_error = Unavailable("not enough replicas")
    try:
        raise StoreUnavailableError("call failed") from driver_error
    except StoreUnavailableError as exc:
        wrapped = exc
    assert error_type(wrapped) == "cassandra.Unavailable"
    assert error_type(StoreValidationError("bad")) == "scyllabatch.errors.StoreValidationError"
    assert error_type(TimeoutError()) == "TimeoutError"


def test_protocol_codes_of_server_errors() -> None:
    assert protocol_code(Unavailable("x")) == 0x1000
    assert protocol_code(OverloadedErrorMessage(0x1001, "busy", {})) == 0x1001
    assert protocol_code(OperationTimedOut("client gave up")) is None
    end = request_end(None, None, Unavailable("x"))
    assert (end.status_code, end.error_kind, end.address, end.rows) == (
        0x1000,
        ErrorKind.UNAVAILABLE,
        None,
        None,
    )


def test_every_statement_has_an_operation_and_table_from_its_cql() -> None:
    texts = schema.statement_cql("ks")
    assert set(schema.STATEMENT_OPERATIONS) == set(schema.Statement)
    for statement, (verb, table) in schema.STATEMENT_OPERATIONS.items():
        assert texts[statement].startswith(verb)
        assert f"ks.{table} " in texts[statement] + " "


def test_observers_must_be_observers() -> None:
    with pytest.raises(StoreValidationError, match="observers") as info:
        Observers([object()])
    assert info.value.field == "observers"
    assert Observers([]).call_started(_start()) is None


def _start() -> CallStart:
    return CallStart("ks", BatchType.UNLOGGED, [GetOp(NS, "k")], "LOCAL_QUORUM", "LOCAL_QUORUM")


def test_observers_skip_those_not_following_and_survive_failures() -> None:
    ended: list[CallEnd] = []

    class Follows(Observer):
        def call_started(self, start: CallStart) -> CallObservation | None:
            follower = CallObservation()
            follower.call_ended = ended.append  # type: ignore[method-assign]
            return follower

    class Raises(Observer):
        def call_started(self, start: CallStart) -> CallObservation | None:
            raise RuntimeError("bug")

    assert Observers([Observer()]).call_started(_start()) is None
    observation = Observers([Raises(), Observer(), Follows()]).call_started(_start())
    assert observation is not None
    assert observation.request_started(Request((), consistency=None, idempotent=True)) is None  # type: ignore[arg-type]
    end = CallEnd(1, BatchType.UNLOGGED, {"GetOp": 1}, None, 0.001, None)
    observation.call_ended(end)
    assert ended == [end]


def test_an_observer_failing_its_activity_check_counts_as_inactive(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(Observer):
        def is_active(self) -> bool:
            raise RuntimeError("activity bug")

    assert Observers([Broken()]).is_active() is False
    assert Observers([Broken(), Observer()]).is_active() is True
    assert "activity bug" in caplog.text


def test_without_providers_opentelemetry_follows_nothing() -> None:
    # No test in this process sets OpenTelemetry's global providers.
    assert GLOBAL.is_active() is False
    assert Observers([GLOBAL]).is_active() is False
    assert GLOBAL.call_started(_start()) is None
    assert OpenTelemetry().call_started(_start()) is None
    assert default_observers() == (GLOBAL,)


def test_without_the_api_stores_have_no_observer() -> None:
    script = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "from scyllabatch.observability import default_observers\n"
        "assert default_observers() == (), default_observers()\n"
        "import scyllabatch.otel\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 1
    assert "ModuleNotFoundError" in done.stderr or "ImportError" in done.stderr
    assert "AssertionError" not in done.stderr
