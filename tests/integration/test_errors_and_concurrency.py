"""Retries against real server errors, the driver's own retries, threads and the event loop."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from typing import Any

import pytest
from cassandra import InvalidRequest, Unavailable

from scyllabatch import (
    AsyncStore,
    BatchLimits,
    GetOp,
    PutOp,
    RetryPolicy,
    Store,
    StoreConfig,
    StoreQueryError,
    StoreUnavailableError,
)
from scyllabatch._driver import NO_DRIVER_RETRIES
from tests.integration.conftest import Facade, make_store, setup_store
from tests.integration.counting import prepared_statements

NS = ("errors", "case")


def run_queue_delay() -> float:
    """Seconds the calling thread has spent ready to run but waiting for a CPU (Linux
    ``/proc/thread-self/schedstat``); 0.0 where the kernel does not say."""
    try:
        with open("/proc/thread-self/schedstat") as stats:
            return int(stats.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_unavailable_is_retried_with_growing_delays_then_raises(
    kind: str, cql_session: Any, keyspace: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Replication factor 3 on a one-node cluster: QUORUM writes need 2 live replicas.
    store = make_store(
        kind,
        cql_session,
        keyspace,
        replication={"class": "SimpleStrategy", "replication_factor": 3},
        read_consistency="ONE",
        write_consistency="QUORUM",
    )
    await setup_store(store)
    facade = Facade(store)
    caplog.set_level(logging.INFO, logger="scyllabatch")
    with pytest.raises(StoreUnavailableError) as info:
        await facade.batch(
            [PutOp(NS, "a", {"v": 1}), PutOp(NS, "b", {"v": 2})],
            max_retries=3,
            retry_delay=0.05,
            retry_backoff=2.0,
        )
    error = info.value
    assert isinstance(error.__cause__, Unavailable)
    assert error.not_applied == (0, 1)
    assert error.applied == ()
    delays = [
        float(m.group(1))
        for m in (re.search(r"in ([0-9.]+) s \(attempt", r.getMessage()) for r in caplog.records)
        if m
    ]
    assert len(delays) == 3
    assert delays[0] < delays[1] < delays[2]
    stats = store.get_metrics()
    # Every request (the data batch and the namespace registrations) was tried 1 + 3 times.
    assert stats["batch_stats"]["retries"] >= 3
    assert stats["batch_stats"]["retries"] % 3 == 0
    assert stats["batch_stats"]["failed_batches"] == 1
    assert stats["errors_by_class"] == {"StoreUnavailableError": 1}


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_invalid_request_is_never_retried(kind: str, cql_session: Any, keyspace: str) -> None:
    # Client-side limits raised above the node's 1024 KiB batch_size_fail_threshold: the server
    # itself rejects the multi-partition LOGGED batch with InvalidRequest ("Batch too large").
    store = make_store(
        kind,
        cql_session,
        keyspace,
        limits=BatchLimits(max_ops=100, warn_ops=100, max_bytes=8 << 20, warn_bytes=8 << 20),
    )
    await setup_store(store)
    ops = [PutOp(("big", str(i % 2)), f"k{i}", {"blob": "x" * 100_000}) for i in range(12)]
    with pytest.raises(StoreQueryError) as info:
        await Facade(store).batch(ops, batch_type="LOGGED", max_retries=5)
    assert isinstance(info.value.__cause__, InvalidRequest)
    assert store.get_metrics()["batch_stats"]["retries"] == 0
    rows = cql_session.execute(f"SELECT COUNT(*) FROM {keyspace}.items").one()[0]
    assert rows == 0


def test_driver_never_retries_behind_the_sdk(store: Store) -> None:
    statements = prepared_statements(store)
    from scyllabatch._core.requests import Consistency, Query, Request
    from scyllabatch._core.schema import Statement
    from scyllabatch.ops import BatchType

    single = statements.build(
        Request((Query(Statement.DELETE, (1, "a", "b")),), Consistency.WRITE, True)
    )
    batch = statements.build(
        Request(
            (Query(Statement.DELETE, (1, "a", "b")), Query(Statement.DELETE, (1, "a", "c"))),
            Consistency.WRITE,
            True,
            batch_type=BatchType.UNLOGGED,
        )
    )
    assert single.retry_policy is NO_DRIVER_RETRIES
    assert batch.retry_policy is NO_DRIVER_RETRIES
    profile = store.session.cluster.profile_manager.profiles[store._transport.profile]
    assert profile.retry_policy is NO_DRIVER_RETRIES
    # The driver's one kind of re-send: speculative execution, which it applies only to
    # statements marked idempotent. Counter and conditional writes are not marked.
    assert profile.speculative_execution_policy.delay == store.config.speculative_delay
    assert single.is_idempotent
    assert batch.is_idempotent
    not_idempotent = statements.build(
        Request((Query(Statement.DELETE, (1, "a", "b")),), Consistency.WRITE, False)
    )
    assert not_idempotent.is_idempotent is False
    from scyllabatch import StoreConfig
    from scyllabatch._driver import execution_profile

    off = execution_profile(StoreConfig(speculative_delay=None))
    assert not hasattr(off.speculative_execution_policy, "delay")  # the driver's no-op policy


def test_one_store_from_many_threads(store: Store) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for round_ in range(5):
                store.batch(
                    [
                        PutOp(("threads", str(n)), f"k{round_}-{i}", {"n": n, "i": i})
                        for i in range(20)
                    ]
                )
                got = store.batch([GetOp(("threads", str(n)), f"k{round_}-0")])
                assert got[0].value == {"n": n, "i": 0}
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stats = store.get_metrics()["batch_stats"]
    assert stats["total_batches"] == 8 * 5 * 2
    assert stats["total_batch_operations"] == 8 * 5 * 21


async def test_sync_store_inside_running_event_loop(store: Store) -> None:
    asyncio.get_running_loop()  # we are inside a loop, and the blocking API still works
    store.put(NS, "k", {"v": 1})
    assert store.get(NS, "k").value == {"v": 1}  # type: ignore[union-attr]


async def test_event_loop_stays_responsive_during_a_10000_op_abatch(
    cql_session: Any, keyspace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = AsyncStore(cql_session, config=StoreConfig(keyspace=keyspace))
    await store.asetup()
    ops = [
        PutOp(("loop", f"ns{i % 100}"), f"k{i}", {"i": i, "text": "y" * 80}) for i in range(10_000)
    ]
    # Gaps between the ticker's turns, in wall time less the time this (the loop's) thread was
    # ready to run but waited for a CPU (the kernel's run-queue delay): a loaded CI host that
    # runs other processes for a while inside one gap does not make a correct store look like
    # it held the loop. Work that holds the loop (on the loop thread, or a worker holding the
    # GIL while the loop thread sleeps on it) still counts in full.
    gaps: list[float] = []
    queued: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last, last_queued = time.perf_counter(), run_queue_delay()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now, now_queued = time.perf_counter(), run_queue_delay()
            gaps.append(now - last)
            queued.append(now_queued - last_queued)
            last, last_queued = now, now_queued

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # the ticker takes its first reading before any work of the call
    started, started_queued = time.perf_counter(), run_queue_delay()
    await store.abatch(ops)
    elapsed, elapsed_queued = time.perf_counter() - started, run_queue_delay() - started_queued
    stop.set()
    await task
    largest = max(gaps)
    largest_held = max(gap - waited for gap, waited in zip(gaps, queued, strict=True))
    with capsys.disabled():
        print(
            f"\n[event loop] 10,000-op abatch took {elapsed * 1000:.0f} ms "
            f"({elapsed_queued * 1000:.0f} ms of it waiting for a CPU); ticker ran {len(gaps)} "
            f"times, largest gap {largest * 1000:.1f} ms, largest without CPU waits "
            f"{largest_held * 1000:.1f} ms"
        )
    # Relative, not absolute: the loop kept turning throughout the call.
    assert len(gaps) >= 10
    assert largest_held < (elapsed - elapsed_queued) / 2
    count = cql_session.execute(f"SELECT COUNT(*) FROM {keyspace}.items").one()[0]
    assert count == 10_000


async def test_async_store_rate_limit(cql_session: Any, keyspace: str) -> None:
    store = AsyncStore(cql_session, config=StoreConfig(keyspace=keyspace, requests_per_second=200))
    await store.asetup()
    await store.abatch([PutOp(("rl", str(i)), "k", {"i": i}) for i in range(20)])
    got = await store.abatch([GetOp(("rl", str(i)), "k") for i in range(20)])
    assert [g.value["i"] for g in got] == list(range(20))


def test_sync_store_rate_limit(cql_session: Any, keyspace: str) -> None:
    store = Store(cql_session, config=StoreConfig(keyspace=keyspace, requests_per_second=200))
    store.setup()
    store.batch([PutOp(("rl", str(i)), "k", {"i": i}) for i in range(20)])
    assert store.get(("rl", "3"), "k").value == {"i": 3}  # type: ignore[union-attr]


def test_retry_policy_from_config(cql_session: Any, keyspace: str) -> None:
    config = StoreConfig(keyspace=keyspace, retry=RetryPolicy(max_retries=0))
    store = Store(cql_session, config=config)
    assert store.config.retry.max_retries == 0
    assert store.config.retry.with_overrides(max_retries=4).max_retries == 4


def test_batch_before_setup_says_to_call_setup(cql_session: Any, keyspace: str) -> None:
    store = Store(cql_session, config=StoreConfig(keyspace=keyspace))
    with pytest.raises(StoreQueryError, match="setup"):
        store.put(NS, "k", {"v": 1})


def test_closed_store_refuses_calls(cql_session: Any, keyspace: str) -> None:
    store = Store(cql_session, config=StoreConfig(keyspace=keyspace))
    store.setup()
    store.close()
    with pytest.raises(Exception, match="closed"):
        store.put(NS, "k", {"v": 1})
    # A store built on the caller's session leaves that session open.
    assert cql_session.execute("SELECT release_version FROM system.local").one() is not None
