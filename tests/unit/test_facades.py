"""The two facades, without a database: same API, same waiting behaviour.

Both drive one call flow (``scyllabatch._base``); here each is run over a scripted transport
(``tests/unit/scripted.py``) to check what is theirs: the methods they expose, the bound on
requests in flight, waiting for every request, counting a twice-completed request once, the
read-then-write order, errors and cancellation. What the database decides is tested on the node.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Sequence
from typing import Any

import pytest

from scyllabatch import (
    AsyncStore,
    GetOp,
    PutOp,
    RetryPolicy,
    Store,
    StoreBatchSizeWarning,
    StoreConfig,
    StoreError,
    StoreUnavailableError,
    StoreValidationError,
)
from scyllabatch._core.requests import Request, Rows
from scyllabatch._core.retry import ErrorKind
from scyllabatch._flow import Pacer, Slots
from tests.conftest import async_wait_until as wait_until
from tests.unit.scripted import Completion, ScriptedTransport, failure

NO_WAIT_RETRY = RetryPolicy(max_retries=2, retry_delay=0.0, max_delay=0.0, jitter=0.0)


def config(**changes: Any) -> StoreConfig:
    """No created_at look-ups unless asked: each test scripts the requests it is about."""
    return StoreConfig(retry=NO_WAIT_RETRY, **{"created_at_mode": "write_only", **changes})


def run_sync(transport: ScriptedTransport, ops: Sequence[Any], **options: Any) -> list[Any]:
    store: Store = Store._over(transport, config(**options))
    return store.batch(ops)


def run_async(transport: ScriptedTransport, ops: Sequence[Any], **options: Any) -> list[Any]:
    store: AsyncStore = AsyncStore._over(transport, config(**options))
    return asyncio.run(store.abatch(ops))


RUNNERS = [pytest.param(run_sync, id="Store"), pytest.param(run_async, id="AsyncStore")]


def puts(count: int, namespaces: int = 1) -> list[PutOp]:
    return [PutOp(("ns", f"p{i % namespaces}"), f"k{i}", {"i": i}) for i in range(count)]


def data_writes(transport: ScriptedTransport) -> list[Request]:
    """The caller's writes sent (not the namespace registrations that go with them)."""
    return [request for request in transport.sent if request.is_write and not request.internal]


# -- the API --------------------------------------------------------------------------------


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, callable)
        if not name.startswith("_")
    }


def test_the_facades_expose_the_same_methods_with_the_same_signatures() -> None:
    blocking = public_methods(Store)
    awaiting = public_methods(AsyncStore)
    for name, signature in blocking.items():
        twin = awaiting.get("a" + name) or awaiting.get(name)
        assert twin is not None, f"AsyncStore has no counterpart of Store.{name}"
        if name == "connect":  # each returns its own class
            assert twin.parameters == signature.parameters
        elif name == "iter_search":  # an iterator, and an async iterator
            assert twin.parameters == signature.parameters
            assert (signature.return_annotation, twin.return_annotation) == (
                "Iterator[SearchItem]",
                "AsyncIterator[SearchItem]",
            )
        else:
            assert str(twin) == str(signature), name
        async_member = getattr(AsyncStore, "a" + name, None) or getattr(AsyncStore, name)
        if name not in {"get_metrics", "reset_metrics", "metrics_text", "iter_search"}:
            assert inspect.iscoroutinefunction(async_member), name
    assert str(blocking["get"]) == "(self, /, namespace: 'Sequence[str]', key: 'str', *, " + (
        "refresh_ttl: 'bool' = True) -> 'Item | None'"
    )
    assert Store.get.__doc__ == AsyncStore.aget.__doc__ == "Read one item, or ``None``."


# -- waiting for requests ---------------------------------------------------------------------


@pytest.mark.parametrize("run", RUNNERS)
def test_every_request_is_waited_for_whether_it_answers_at_once_or_later(run: Any) -> None:
    transport = ScriptedTransport(lambda r: [(0.0 if len(transport.sent) % 2 else 0.05, Rows())])
    results = run(transport, puts(40, namespaces=20), max_concurrency=4)
    assert results == [None] * 40
    assert transport.in_flight == 0  # the call returned after its last response
    assert len(transport.sent) >= 1


@pytest.mark.parametrize("run", RUNNERS)
def test_requests_in_flight_never_exceed_max_concurrency(run: Any) -> None:
    transport = ScriptedTransport(lambda r: [(0.01, Rows())])
    transport.replica_group = lambda partition: partition  # every partition its own batch
    run(transport, puts(60, namespaces=30), max_concurrency=3)
    assert len(data_writes(transport)) == 30  # and namespace registrations
    assert transport.most_in_flight == 3


@pytest.mark.parametrize("run", RUNNERS)
def test_a_request_completed_twice_is_counted_once(run: Any) -> None:
    """The driver with speculative execution: an errback (timed out), later a callback."""
    transport = ScriptedTransport(
        lambda r: (
            [(0.0, failure(ErrorKind.READ_FAILURE)), (0.05, Rows())]
            if not r.is_write
            else [(0.0, Rows())]
        )
    )
    with pytest.raises(StoreError, match="read for op"):
        run(transport, [GetOp(("ns",), "a")])
    transport.join()  # the late completion arrived and was ignored


@pytest.mark.parametrize("run", RUNNERS)
def test_reads_finish_before_any_write_starts(run: Any) -> None:
    transport = ScriptedTransport(lambda r: [(0.02, Rows())])
    transport.replica_group = lambda partition: partition
    ops: list[Any] = [GetOp(("ns", f"p{i}"), "k") for i in range(5)] + puts(10, namespaces=5)
    run(transport, ops)
    kinds = [(event, request.is_write) for event, request in transport.events]
    last_read_settled = max(i for i, e in enumerate(kinds) if e == ("settled", False))
    first_write_sent = min(i for i, e in enumerate(kinds) if e == ("sent", True))
    assert last_read_settled < first_write_sent


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("run", RUNNERS)
def test_unavailable_is_retried_then_reported_with_nothing_applied(run: Any) -> None:
    transport = ScriptedTransport(lambda r: [(0.0, failure(ErrorKind.UNAVAILABLE))])
    with pytest.raises(StoreUnavailableError) as info:
        run(transport, puts(3))
    assert len(data_writes(transport)) == 1 + NO_WAIT_RETRY.max_retries
    assert info.value.not_applied == (0, 1, 2)
    assert info.value.unknown == ()


@pytest.mark.parametrize("run", RUNNERS)
def test_a_send_that_raises_is_that_request_s_failure(run: Any) -> None:
    class Refusing(ScriptedTransport):
        def start(self, request: Request, options: Any, settle: Any, index: int) -> None:
            raise ConnectionError("no connection to the node")

    transport = Refusing()
    with pytest.raises(StoreError) as info:
        run(transport, puts(2))
    assert info.value.applied == ()  # not reported as applied
    assert set(info.value.not_applied) | set(info.value.unknown) == {0, 1}


@pytest.mark.parametrize("run", RUNNERS)
def test_invalid_ops_send_nothing(run: Any) -> None:
    transport = ScriptedTransport()
    with pytest.raises(StoreValidationError):
        run(transport, [*puts(3), PutOp(("bad.label",), "k", {})])
    assert transport.sent == []
    assert transport.prepared == 0


@pytest.mark.parametrize("run", RUNNERS)
def test_statements_are_prepared_once(run: Any) -> None:
    transport = ScriptedTransport()
    run(transport, puts(3))
    run(transport, puts(3))
    assert transport.prepared == 1


def test_a_cancelled_call_gives_every_slot_back_and_is_recorded() -> None:
    release = threading.Event()

    def script(_request: Request) -> list[Completion]:
        # The call's requests answer only once it is cancelled: however slowly this machine
        # polls, it finds every slot taken (a fixed delay could let the call finish first).
        return [(0.001, Rows())] if release.is_set() else [(release, Rows())]

    transport = ScriptedTransport(script)
    transport.replica_group = lambda partition: partition
    store: AsyncStore = AsyncStore._over(transport, config(max_concurrency=4))

    async def main() -> None:
        call = asyncio.create_task(store.abatch(puts(20, namespaces=10)))

        async def every_slot_taken() -> bool:
            return transport.in_flight == 4

        await wait_until(every_slot_taken, interval=0.005)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        release.set()
        transport.join()
        # the responses of the cancelled call still gave their slots back
        results = await store.abatch(puts(4, namespaces=4))
        assert results == [None] * 4

    asyncio.run(main())
    assert store._slots.free == 4
    assert store.get_metrics()["errors_by_class"] == {"CancelledError": 1}


def test_a_closed_store_refuses_calls() -> None:
    store: Store = Store._over(ScriptedTransport(), config())
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.batch(puts(1))


# -- the shared pieces ------------------------------------------------------------------------


def test_slots_wake_a_waiting_thread_when_one_is_given_back() -> None:
    slots = Slots(1)
    assert slots.take(5) == 1
    taken: list[int] = []
    waiter = threading.Thread(target=lambda: taken.append(slots.take_blocking(3)))
    waiter.start()
    slots.give()
    waiter.join(timeout=10)
    assert taken == [1]
    assert slots.free == 0


def test_a_cancelled_waiter_passes_its_wake_up_on() -> None:
    slots = Slots(1)
    assert slots.take(1) == 1
    woken: list[str] = []
    assert slots.sleep_until_free(lambda: woken.append("first"))
    second = lambda: woken.append("second")  # noqa: E731
    assert slots.sleep_until_free(second)
    slots.give()  # wakes "first"
    assert woken == ["first"]
    slots.stop_sleeping(lambda: None)  # "first" gave up after being woken: wake the next
    assert woken == ["first", "second"]


def test_the_pacer_spaces_request_starts() -> None:
    now = [100.0]
    pacer = Pacer(10.0, clock=lambda: now[0])  # at most 10 starts per second
    assert [pacer.reserve() for _ in range(5)] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    now[0] += 0.25  # time passes: the bookings already made still stand
    assert pacer.reserve() == pytest.approx(0.25)
    now[0] += 10.0  # idle for long: no burst is saved up, the next start is immediate
    assert [pacer.reserve(), pacer.reserve()] == pytest.approx([0.0, 0.1])


@pytest.mark.parametrize("run", RUNNERS)
def test_a_batch_size_warning_points_at_the_caller_s_line(run: Any) -> None:
    ops = puts(60)  # above warn_ops (50) in one LOGGED batch
    if run is run_sync:
        store: Store = Store._over(ScriptedTransport(), config())
        with pytest.warns(StoreBatchSizeWarning) as caught:
            store.batch(ops, batch_type="LOGGED")
    else:
        astore: AsyncStore = AsyncStore._over(ScriptedTransport(), config())

        async def application() -> None:
            await astore.abatch(ops, batch_type="LOGGED")

        with pytest.warns(StoreBatchSizeWarning) as caught:
            asyncio.run(application())
    assert [w.filename for w in caught] == [__file__]
