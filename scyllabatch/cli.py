"""The ``scyllabatch`` command line: ``demo``, ``bench`` and ``doctor``."""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Sequence

from scyllabatch import IMPLEMENTATION, GetOp, PutOp, Store, __version__


def _hosts(value: str | None) -> list[str]:
    raw = value or os.environ.get("SCYLLABATCH_HOSTS") or "127.0.0.1"
    return [h.strip() for h in raw.split(",") if h.strip()]


def _demo(args: argparse.Namespace) -> int:
    keyspace = args.keyspace or f"scyllabatch_demo_{uuid.uuid4().hex[:8]}"
    print(f"scyllabatch {__version__} (speedups: {IMPLEMENTATION})")
    with Store.connect(hosts=_hosts(args.hosts), port=args.port, keyspace=keyspace) as store:
        store.setup()
        namespaces = [("demo", "tenant", str(t)) for t in range(4)]
        ops = [
            PutOp(namespaces[i % 4], f"memory-{i}", {"text": f"fact {i}", "n": i})
            for i in range(args.ops)
        ]
        started = time.perf_counter()
        store.batch(ops)
        wrote = time.perf_counter() - started
        print(
            f"wrote {len(ops)} items over {len(namespaces)} namespaces with one UNLOGGED "
            f"batch() call in {wrote * 1000:.1f} ms"
        )
        started = time.perf_counter()
        items = store.batch([GetOp(op.namespace, op.key) for op in ops])
        read = time.perf_counter() - started
        found = sum(1 for item in items if item is not None)
        print(
            f"read them back with one batch() of {len(ops)} GetOps in {read * 1000:.1f} ms: "
            f"{found}/{len(ops)} found"
        )
        sample = items[0]
        if sample is not None:
            print(
                f"sample: {sample.namespace} {sample.key} -> {sample.value} "
                f"(created {sample.created_at.isoformat()})"
            )
        stats = store.get_metrics()["batch_stats"]
        print(
            f"metrics: {stats['total_batches']} calls, {stats['unlogged_batches']} unlogged "
            f"partition batches, {stats['read_requests']} read requests"
        )
        store.session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
        return 0 if found == len(ops) else 1


def _sizes(value: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of ints: {value!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("batch sizes must be positive ints")
    return sizes


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {number}")
    return number


def _bench(args: argparse.Namespace) -> int:
    from scyllabatch._bench import BenchOptions, bench_main

    progress = {"on": True, "off": False}.get(args.progress, sys.stderr.isatty())
    try:
        options = BenchOptions(
            hosts=tuple(_hosts(args.hosts)),
            port=args.port,
            keyspace=args.keyspace,
            keep_keyspace=args.keep_keyspace,
            mode=args.mode,
            total_ops=args.total_ops,
            namespaces=args.namespaces,
            batch_sizes=args.batch_sizes,
            layout=args.layout,
            rounds=args.rounds,
            value_bytes=args.value_bytes,
            concurrency=args.concurrency,
            in_flight=args.in_flight,
            reads=not args.no_reads,
            progress=progress,
            as_json=args.json,
        )
    except ValueError as exc:
        print(f"scyllabatch bench: {exc}", file=sys.stderr)
        return 2
    return bench_main(options)


def _doctor(args: argparse.Namespace) -> int:
    from scyllabatch._doctor import DoctorOptions, doctor_main

    return doctor_main(
        DoctorOptions(
            hosts=tuple(_hosts(args.hosts)),
            port=args.port,
            keyspace=args.keyspace,
            pings=args.pings,
            as_json=args.json,
        )
    )


def _connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hosts", help="comma-separated hosts (default: $SCYLLABATCH_HOSTS)")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("SCYLLABATCH_PORT", 9042)), help="CQL port"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``scyllabatch`` command."""
    parser = argparse.ArgumentParser(prog="scyllabatch", description=__doc__)
    parser.add_argument("--version", action="version", version=f"scyllabatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="write a batch, read it back, print what happened")
    _connection_arguments(demo)
    demo.add_argument("--keyspace", help="keyspace to use (default: a fresh one, dropped after)")
    demo.add_argument("--ops", type=int, default=200, help="number of items to write")
    demo.set_defaults(func=_demo)

    bench = sub.add_parser(
        "bench",
        help="batch sizes x UNLOGGED/LOGGED latency and throughput, next to the raw driver",
        description="Runs the same puts through the SDK and through hand-written driver code "
        "(one BatchStatement per call; execute_concurrent_with_args of single inserts) in the "
        "same run, and prints SDK / raw ratios. Creates and drops its own keyspace.",
    )
    _connection_arguments(bench)
    bench.add_argument("--keyspace", help="name of the keyspace to create (must not exist)")
    bench.add_argument(
        "--keep-keyspace", action="store_true", help="do not drop the keyspace afterwards"
    )
    bench.add_argument("--mode", choices=("sync", "async"), default="sync", help="SDK facade")
    bench.add_argument(
        "--total-ops",
        type=_positive,
        default=10_000,
        help="puts per contestant and batch size (default 10000)",
    )
    bench.add_argument(
        "--namespaces", type=_positive, default=100, help="namespaces (partitions), default 100"
    )
    bench.add_argument(
        "--batch-sizes",
        type=_sizes,
        default=(10, 100),
        help="comma-separated ops per call (default 10,100)",
    )
    bench.add_argument(
        "--layout",
        choices=("spread", "grouped"),
        default="spread",
        help="spread: op i goes to namespace i mod N, so a call spans many namespaces; grouped: "
        "each namespace gets a contiguous run of ops (default spread)",
    )
    bench.add_argument(
        "--rounds", type=_positive, default=3, help="interleaved rounds per batch size"
    )
    bench.add_argument("--value-bytes", type=_positive, default=100, help="approximate value size")
    bench.add_argument(
        "--concurrency",
        type=_positive,
        default=64,
        help="requests in flight (SDK max_concurrency and execute_concurrent), default 64",
    )
    bench.add_argument(
        "--in-flight",
        type=_positive,
        default=1,
        help="calls in flight at once, per contestant: threads in sync mode, tasks in async mode "
        "(raw batches then have as many execute_async requests in flight); default 1",
    )
    bench.add_argument(
        "--no-reads", action="store_true", help="skip the GetOp / raw SELECT comparison"
    )
    bench.add_argument("--json", action="store_true", help="print the report as JSON")
    bench.add_argument(
        "--progress",
        choices=("auto", "on", "off"),
        default="auto",
        help="progress bar on stderr (auto: when stderr is a terminal)",
    )
    bench.set_defaults(func=_bench)

    doctor = sub.add_parser(
        "doctor", help="driver build, server release and batch thresholds, keyspace, latency"
    )
    _connection_arguments(doctor)
    doctor.add_argument(
        "--keyspace",
        default=os.environ.get("SCYLLABATCH_KEYSPACE", "scyllabatch"),
        help="keyspace whose tables to check (default scyllabatch)",
    )
    doctor.add_argument("--pings", type=_positive, default=20, help="round trips to time")
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    doctor.set_defaults(func=_doctor)

    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
