"""The ``scyllabatch`` command line: ``demo`` (more subcommands join it as they land)."""

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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``scyllabatch`` command."""
    parser = argparse.ArgumentParser(prog="scyllabatch", description=__doc__)
    parser.add_argument("--version", action="version", version=f"scyllabatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="write a batch, read it back, print what happened")
    demo.add_argument("--hosts", help="comma-separated hosts (default: $SCYLLABATCH_HOSTS)")
    demo.add_argument("--port", type=int, default=int(os.environ.get("SCYLLABATCH_PORT", 9042)))
    demo.add_argument("--keyspace", help="keyspace to use (default: a fresh one, dropped after)")
    demo.add_argument("--ops", type=int, default=200, help="number of items to write")
    demo.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
