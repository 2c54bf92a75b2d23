"""The LangGraph adapter without a database: its coalescer, and the checks of its arguments.

The ops are checked by the real validation (the same code ``Store.batch`` runs before any I/O);
the store call itself is a recording stand-in, since nothing here is decided by the database.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from scyllabatch import StoreError, StoreValidationError
from scyllabatch._core.validation import validate_ops
from scyllabatch._impl import codec

base = pytest.importorskip("langgraph.store.base")
from scyllabatch.langgraph import _Coalescer  # noqa: E402

NS = ("unit", "ns")


class Recorder:
    """Stands in for ``abatch``: validates like the store, records calls, answers per op."""

    def __init__(self) -> None:
        self.calls: list[list[Any]] = []

    async def __call__(self, ops: list[Any]) -> list[Any]:
        self.calls.append(list(ops))
        validate_ops(ops, codec)
        await asyncio.sleep(0)
        return [f"result of {op[1] if len(op) > 1 else op}" for op in ops]


async def test_ops_of_one_tick_make_one_call_and_each_caller_gets_its_result() -> None:
    run = Recorder()
    coalescer = _Coalescer(asyncio.get_running_loop(), run)
    futures = [coalescer.submit(base.GetOp(NS, f"k{i}")) for i in range(100)]
    results = await asyncio.gather(*futures)
    assert len(run.calls) == 1
    assert len(run.calls[0]) == 100
    assert results == [f"result of k{i}" for i in range(100)]
    # The next tick is a new call.
    assert await coalescer.submit(base.GetOp(NS, "later")) == "result of later"
    assert len(run.calls) == 2


async def test_duplicates_are_sent_once() -> None:
    run = Recorder()
    coalescer = _Coalescer(asyncio.get_running_loop(), run)
    same = [coalescer.submit(base.GetOp(NS, "k")) for _ in range(3)]
    searches = [coalescer.submit(base.SearchOp(NS, {"a": [1, 2]})) for _ in range(2)]
    puts = [coalescer.submit(base.PutOp(NS, "w", {"n": n})) for n in range(3)]
    await asyncio.gather(*same, *searches, *puts)
    (ops,) = run.calls
    assert ops.count(base.GetOp(NS, "k")) == 1
    assert sum(isinstance(op, base.SearchOp) for op in ops) == 1
    assert [op for op in ops if isinstance(op, base.PutOp)] == [base.PutOp(NS, "w", {"n": 2})]


async def test_invalid_ops_fail_alone_and_the_rest_is_retried_together() -> None:
    run = Recorder()
    coalescer = _Coalescer(asyncio.get_running_loop(), run)
    good = [coalescer.submit(base.GetOp(NS, f"k{i}")) for i in range(5)]
    bad_value = coalescer.submit(base.PutOp(NS, "x", {"v": object()}))
    bad_limit = coalescer.submit(base.SearchOp(NS, None, -1))
    outcomes = await asyncio.gather(*good, bad_value, bad_limit, return_exceptions=True)
    assert outcomes[:5] == [f"result of k{i}" for i in range(5)]
    for error, field in ((outcomes[5], "value"), (outcomes[6], "limit")):
        assert isinstance(error, StoreValidationError)
        assert error.op_index == 0
        assert error.field == field
    # The combined call (refused), the five good ops together, each bad op alone.
    assert sorted(len(call) for call in run.calls) == [1, 1, 5, 7]


async def test_a_call_refused_only_as_a_whole_runs_each_op_alone() -> None:
    calls: list[list[Any]] = []

    async def refuses_pairs(ops: list[Any]) -> list[Any]:
        calls.append(list(ops))
        if len(ops) > 1:
            raise StoreValidationError("too many ops for an atomic batch")
        return ["ok"]

    coalescer = _Coalescer(asyncio.get_running_loop(), refuses_pairs)
    results = await asyncio.gather(*(coalescer.submit(base.GetOp(NS, f"k{i}")) for i in range(3)))
    assert results == ["ok"] * 3
    assert [len(c) for c in calls] == [3, 1, 1, 1]


async def test_writes_reported_applied_succeed_and_the_others_get_the_error() -> None:
    failure = StoreError("node lost mid-call")
    failure.applied = (0,)

    async def partly(ops: list[Any]) -> list[Any]:
        raise failure

    coalescer = _Coalescer(asyncio.get_running_loop(), partly)
    applied = coalescer.submit(base.PutOp(NS, "a", {"v": 1}))
    lost = coalescer.submit(base.PutOp(NS, "b", {"v": 2}))
    read = coalescer.submit(base.GetOp(NS, "c"))
    outcomes = await asyncio.gather(applied, lost, read, return_exceptions=True)
    assert outcomes == [None, failure, failure]


async def test_a_broken_abatch_fails_every_caller_instead_of_hanging() -> None:
    async def too_few(ops: list[Any]) -> list[Any]:
        return ops[:-1]

    coalescer = _Coalescer(asyncio.get_running_loop(), too_few)
    futures = [coalescer.submit(base.GetOp(NS, f"k{i}")) for i in range(3)]
    outcomes = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 10)
    assert all(isinstance(o, StoreError) for o in outcomes)


async def test_a_broken_abatch_fails_a_lone_caller_with_a_store_error() -> None:
    async def nothing(ops: list[Any]) -> list[Any]:
        return []

    coalescer = _Coalescer(asyncio.get_running_loop(), nothing)
    with pytest.raises(StoreError, match="0 results for 1 op"):
        await asyncio.wait_for(coalescer.submit(base.GetOp(NS, "k")), 10)


def test_the_adapter_needs_scyllabatch_stores() -> None:
    from scyllabatch.langgraph import ScyllaBatchStore

    with pytest.raises(StoreValidationError, match="give a Store"):
        ScyllaBatchStore()
    with pytest.raises(StoreValidationError, match="sync must be a scyllabatch Store"):
        ScyllaBatchStore(sync="not a store")  # type: ignore[arg-type]
    with pytest.raises(StoreValidationError, match="async_ must be a scyllabatch AsyncStore"):
        ScyllaBatchStore(async_=object())  # type: ignore[arg-type]
