"""Counter and conditional writes on a real ring when a node freezes: never re-sent.

A node paused with SIGSTOP answers nothing: a write sent to it times out, and the SDK cannot
know whether the node applied it. Plain puts are re-sent (they are idempotent); an increment or
a conditional write is not, and the error lists it as ``unknown``. After SIGCONT the stored
counter shows the increment applied at most once.
"""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from scyllabatch import (
    ConditionalPutOp,
    CounterOp,
    GetCountersOp,
    IfAbsent,
    RetryPolicy,
    StoreTimeoutError,
    StoreUnavailableError,
)
from scyllabatch._core.requests import Request
from tests.cluster.test_cluster import connect, host_on, observe, report, retry_until_ok

Ring = Any  # tests/cluster/conftest.py's Ring

pytestmark = [pytest.mark.cluster, pytest.mark.integration]


def partition_of(request: Request) -> Any:
    return request.queries[0].params[1 if request.counter else 0] if request.queries else None


def test_paused_node_counter_and_conditional_writes_are_unknown_and_never_resent(
    healthy_ring: Ring, cluster_keyspace: str
) -> None:
    ring = healthy_ring
    retry = RetryPolicy(max_retries=3, retry_delay=0.1, retry_backoff=2.0, jitter=0.0)
    # Counter and conditional writes are never re-sent after a timeout, so the request timeout
    # must leave a loaded ring time to answer the ones on live nodes (the warm-up, the alive
    # increment); the frozen node never answers, whatever the timeout.
    store = connect(ring, cluster_keyspace, 1, request_timeout=10.0, retry=retry)
    victim = ring.hosts[1]
    try:
        frozen = host_on(ring, store, cluster_keyspace, victim, "frozen")
        alive = host_on(ring, store, cluster_keyspace, ring.hosts[0], "alive")
        store.batch([CounterOp((frozen,), "k", "n", 1), CounterOp((alive,), "k", "n", 1)])
        seen = observe(store)
        ring.signal(victim, signal.SIGSTOP)
        began = time.monotonic()
        with pytest.raises(StoreTimeoutError) as info:
            store.batch(
                [
                    CounterOp((alive,), "k", "n", 10),
                    CounterOp((frozen,), "k", "n", 10),
                    ConditionalPutOp((frozen,), "lock", {"owner": "me"}, IfAbsent()),
                ]
            )
        elapsed = time.monotonic() - began
        error = info.value
        # the caller's writes (the namespace registration is an idempotent internal write,
        # retried like a plain put)
        sent_to_frozen = [
            r for r, _ in seen if r.is_write and not r.internal and partition_of(r) == frozen
        ]
        report(
            f"RF=1, counter + conditional write on paused {victim}: {type(error).__name__} "
            f"after {elapsed:.2f} s; applied {error.applied}, not applied {error.not_applied}, "
            f"unknown {error.unknown}; requests sent to the frozen partition: "
            f"{len(sent_to_frozen)}"
        )
        assert error.applied == (0,)
        assert error.not_applied == ()
        assert error.unknown == (1, 2)
        # each was sent exactly once, whatever the retry budget (3 retries)
        assert len(sent_to_frozen) == 2
        assert {(r.counter, r.conditional) for r in sent_to_frozen} == {
            (True, False),
            (False, True),
        }
        assert "not for counter increments" in str(error)

        ring.signal(victim, signal.SIGCONT)
        retry_until_ok(lambda: store.batch([GetCountersOp((frozen,), "k")]))
        counters = store.batch([GetCountersOp((alive,), "k"), GetCountersOp((frozen,), "k")])
        report(
            f"after SIGCONT: alive counter {counters[0]}, frozen counter {counters[1]} "
            "(1 before the call; 11 if the node applied the unknown increment; never 21)"
        )
        assert counters[0] == {"n": 11}
        assert counters[1]["n"] in (1, 11)
    finally:
        ring.signal(victim, signal.SIGCONT)
        store.close()


def wait_until_marked_down(coordinator: str, keyspace: str, timeout: float = 120.0) -> None:
    """Until a write at ``ALL`` coordinated by ``coordinator`` is refused as ``Unavailable``."""
    from cassandra import ConsistencyLevel
    from cassandra import Unavailable as DriverUnavailable
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import FallthroughRetryPolicy, WhiteListRoundRobinPolicy
    from cassandra.query import SimpleStatement

    profile = ExecutionProfile(
        load_balancing_policy=WhiteListRoundRobinPolicy([coordinator]),
        consistency_level=ConsistencyLevel.ALL,
        retry_policy=FallthroughRetryPolicy(),  # the node's own answer, not the next host's
        request_timeout=5,
    )
    cluster = Cluster([coordinator], execution_profiles={EXEC_PROFILE_DEFAULT: profile})
    probe = SimpleStatement(f"INSERT INTO {keyspace}.items (namespace, key) VALUES ('probe', 'k')")
    deadline = time.monotonic() + timeout
    last: object = None
    try:
        session = cluster.connect()
        while True:
            try:
                last = session.execute(probe)
            except DriverUnavailable:
                return
            except Exception as exc:  # a timeout while the node still waits for the paused one
                last = exc
            assert time.monotonic() < deadline, f"{coordinator} never said Unavailable: {last!r}"
            time.sleep(0.2)
    finally:
        cluster.shutdown()


def test_unavailable_counter_and_conditional_writes_are_retried_and_not_applied(
    healthy_ring: Ring, cluster_keyspace: str
) -> None:
    """``Unavailable`` says the coordinator applied nothing: the only failure after which an
    increment or a conditional write is re-sent."""
    ring = healthy_ring
    retry = RetryPolicy(max_retries=2, retry_delay=0.1, retry_backoff=2.0, jitter=0.0)
    # The counter write before the pause is never re-sent after a timeout: leave a loaded ring
    # time to answer it at ALL. The writes during the pause are refused at once (Unavailable).
    store = connect(
        ring,
        cluster_keyspace,
        3,
        request_timeout=10.0,
        retry=retry,
        write_consistency="ALL",
        read_consistency="ONE",
    )
    victim = ring.hosts[2]
    try:
        store.batch([CounterOp(("c",), "k", "n", 1)])
        ring.signal(victim, signal.SIGSTOP)
        # Wait until every live node has marked the paused one down: a node that still thinks
        # it is up accepts the write and fails it later (a WriteFailure, outcome unknown).
        for host in ring.hosts:
            if host != victim:
                wait_until_marked_down(host, cluster_keyspace)
        seen = observe(store)
        # The conditional write's commit at ALL cannot be met either: the coordinator refuses
        # it before proposing anything.
        with pytest.raises(StoreUnavailableError) as info:
            store.batch(
                [
                    CounterOp(("c",), "k", "n", 10),
                    ConditionalPutOp(("c",), "lock", {"owner": "me"}, IfAbsent()),
                ]
            )
        error = info.value
        sent = [r for r, _ in seen if r.is_write and not r.internal]
        report(
            f"RF=3 at ALL with {victim} paused: {type(error).__name__}; not applied "
            f"{error.not_applied}, unknown {error.unknown}; {len(sent)} sends of 2 requests"
        )
        assert error.not_applied == (0, 1)
        assert error.applied == ()
        assert error.unknown == ()
        assert len([r for r in sent if r.counter]) == 3  # first attempt and two retries
        ring.signal(victim, signal.SIGCONT)
        assert store.batch([GetCountersOp(("c",), "k")], consistency="ONE") == [{"n": 1}]
    finally:
        ring.signal(victim, signal.SIGCONT)
        store.close()
