#!/usr/bin/env python3
"""Measure calls through one Store while one replica of a local cluster is paused (SIGSTOP).

Usage (a cluster from ``tools/dbnode.py start --nodes 3`` must be running)::

    SCYLLABATCH_CLUSTER_HOSTS=127.0.0.1,127.0.0.2,127.0.0.3 \\
        .venv/bin/python tools/paused_replica.py [--seconds 30] [--threads 12] [--driver-defaults]

RF=3, QUORUM, request timeout 5 s; ``--threads`` callers each run 20-put calls through one
``Store`` for ``--seconds`` while the second node is frozen, then it is resumed (always, also
on errors). Prints calls, failed calls and the median / p90 / max call time. With
``--no-pause`` the same load runs on a healthy ring (the reference); ``--driver-defaults`` turns
speculative execution off and restores the driver's 30 s heartbeat (the SDK's settings before
it handled paused replicas).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dbnode

from scyllabatch import PutOp, Store, StoreError
from scyllabatch.testing.node import cluster_backend


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=12)
    parser.add_argument("--no-pause", action="store_true")
    parser.add_argument("--driver-defaults", action="store_true")
    parser.add_argument("--speculative-delay", type=float, default=None)
    parser.add_argument("--heartbeat", type=float, default=None)
    args = parser.parse_args()
    hosts = [h for h in os.environ.get("SCYLLABATCH_CLUSTER_HOSTS", "").split(",") if h]
    if len(hosts) < 3:
        parser.error("set SCYLLABATCH_CLUSTER_HOSTS to the cluster's three addresses")
    backend = cluster_backend(len(hosts), hosts[0], dbnode.PLACES.cluster_dir)
    victim = backend.node(1)
    (pid,) = victim.running_pids()
    keyspace = f"paused_{uuid.uuid4().hex[:8]}"
    extra: dict[str, object] = {}
    if args.driver_defaults:
        extra = {"speculative_delay": None, "heartbeat_interval": 30.0}
    if args.speculative_delay is not None:
        extra["speculative_delay"] = args.speculative_delay or None
    if args.heartbeat is not None:
        extra["heartbeat_interval"] = args.heartbeat
    with Store.connect(
        hosts=hosts,
        keyspace=keyspace,
        replication={"class": "SimpleStrategy", "replication_factor": 3},
        read_consistency="QUORUM",
        write_consistency="QUORUM",
        request_timeout=5.0,
        **extra,
    ) as store:
        store.setup()
        durations: list[float] = []
        failures: list[str] = []
        lock = threading.Lock()

        def worker(thread: int, seconds: float) -> None:
            stop_at = time.monotonic() + seconds
            n = 0
            while time.monotonic() < stop_at:
                ops = [
                    PutOp((f"p{(thread * 7 + j) % 30}",), f"t{thread}-{n}-{j}", {"n": n})
                    for j in range(20)
                ]
                began = time.monotonic()
                try:
                    store.batch(ops)
                except StoreError as exc:
                    with lock:
                        failures.append(type(exc).__name__)
                with lock:
                    durations.append(time.monotonic() - began)
                n += 1

        def load(seconds: float) -> None:
            with ThreadPoolExecutor(args.threads) as pool:
                list(pool.map(worker, range(args.threads), [seconds] * args.threads))

        load(2.0)  # warm: namespaces registered, connections open
        durations.clear()
        failures.clear()
        if not args.no_pause:
            os.kill(pid, signal.SIGSTOP)
        try:
            load(args.seconds)
        finally:
            os.kill(pid, signal.SIGCONT)
        durations.sort()
        what = "healthy ring" if args.no_pause else f"{victim.host} paused {args.seconds:.0f} s"
        config = store.config
        mode = f"speculative_delay {config.speculative_delay}, "
        mode += f"heartbeat {config.heartbeat_interval} s"
        print(
            f"{what}, {mode}, {args.threads} threads, one Store: {len(durations)} calls, "
            f"{len(failures)} failed {sorted(set(failures))}, "
            f"median {statistics.median(durations) * 1000:.0f} ms, "
            f"p90 {durations[int(len(durations) * 0.9)] * 1000:.0f} ms, max {durations[-1]:.2f} s"
        )
        store.session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
