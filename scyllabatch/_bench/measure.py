"""What ``scyllabatch bench`` measures, and how: the workload, the schedule, the timings.

Every contestant runs the same workload (``total_ops`` puts over ``namespaces`` partitions, in
calls of ``batch_size`` ops), interleaved in rounds so that a noisy machine hurts every contestant
alike; then the SDK and raw code read back the same keys. The whole measurement is one generator
(:func:`measure`): it yields :class:`Block` s to run and receives :class:`BlockResult` s, so the
blocking and the asyncio drivers are small loops over one schedule.
"""

from __future__ import annotations

import math
import random
import string
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from scyllabatch._bench.contestants import READS, WRITES, Contestant, Runners
from scyllabatch._progress import meter
from scyllabatch.ops import GetOp, PutOp

LAYOUTS = ("spread", "grouped", "shared-key")


@dataclass(frozen=True)
class Block:
    """The calls one contestant makes in one round, ``in_flight`` of them at a time."""

    contestant: Contestant
    call: Any
    calls: list[list[Any]]
    in_flight: int


@dataclass(frozen=True)
class BlockResult:
    """What running a block took: wall and process CPU seconds (all threads), per-call ms."""

    wall: float
    cpu: float
    calls_ms: list[float]


@dataclass
class Timing:
    """Per-call latencies and totals of one contestant at one batch size."""

    ops: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    calls_ms: list[float] = field(default_factory=list)

    def add(self, ops: int, result: BlockResult) -> None:
        self.ops += ops
        self.wall += result.wall
        self.cpu += result.cpu
        self.calls_ms.extend(result.calls_ms)

    def summary(self) -> dict[str, float]:
        calls = sorted(self.calls_ms)

        def rank(q: float) -> float:
            return calls[max(0, math.ceil(q * len(calls)) - 1)] if calls else 0.0

        return {
            "ops": self.ops,
            "calls": len(calls),
            "seconds": self.wall,
            "ops_per_s": self.ops / self.wall if self.wall else 0.0,
            "cpu_ms_per_call": self.cpu * 1000.0 / len(calls) if calls else 0.0,
            "latency_ms_mean": sum(calls) / len(calls) if calls else 0.0,
            "latency_ms_p50": rank(0.50),
            "latency_ms_p95": rank(0.95),
            "latency_ms_max": calls[-1] if calls else 0.0,
        }


class Workload:
    """The ops of every contestant, batch size and round; fresh keys everywhere."""

    def __init__(
        self, total_ops: int, namespaces: int, rounds: int, layout: str, value_bytes: int
    ) -> None:
        self.total_ops = total_ops
        self.rounds = rounds
        self.layout = layout
        # Text that compresses about as well as real memories do (the driver compresses
        # requests with lz4 when it can): a run of "x" would shrink to nothing on the wire.
        rng = random.Random(20240517)
        words = [
            "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 9)))
            for _ in range(512)
        ]
        size = max(0, value_bytes - 40)
        texts = []
        for _ in range(64):
            text = ""
            while len(text) < size:
                text += rng.choice(words) + " "
            texts.append(text[:size])
        self.values = [
            {"text": texts[i % 64], "n": i, "tags": ["bench"], "score": i / total_ops}
            for i in range(total_ops)
        ]
        self.namespaces = [("bench", f"ns{p:05d}") for p in range(namespaces)]

    def namespace(self, i: int) -> tuple[str, ...]:
        """``spread`` and ``shared-key``: op i goes to namespace i mod n; ``grouped``:
        contiguous runs."""
        count = len(self.namespaces)
        if self.layout == "grouped":
            return self.namespaces[i * count // self.total_ops]
        return self.namespaces[i % count]

    def key(self, name: str, batch_size: int, i: int) -> str:
        """A key of its own for every op; with ``shared-key``, one key per pass over the
        namespaces (the same key written in many namespaces, like a profile per user)."""
        if self.layout == "shared-key":
            return f"{name}-{batch_size}-pass{i // len(self.namespaces)}"
        return f"{name}-{batch_size}-{i}"

    def puts(self, name: str, batch_size: int, round_index: int) -> list[list[PutOp]]:
        """The calls one contestant makes in one round."""
        share = self.total_ops // self.rounds
        start = round_index * share
        stop = self.total_ops if round_index == self.rounds - 1 else start + share
        ops = [
            PutOp(self.namespace(i), self.key(name, batch_size, i), self.values[i])
            for i in range(start, stop)
        ]
        return [ops[j : j + batch_size] for j in range(0, len(ops), batch_size)]

    def gets(self, batch_size: int, round_index: int) -> list[list[GetOp]]:
        """Reads of the keys the write-only SDK contestant wrote (they exist)."""
        return [
            [GetOp(op.namespace, op.key) for op in chunk]
            for chunk in self.puts("sdk_unlogged_write_only", batch_size, round_index)
        ]

    def warmup(self, name: str) -> list[list[PutOp]]:
        """One op per namespace (registers every namespace in the SDK stores), in calls of 25."""
        ops = [PutOp(ns, f"warmup-{name}", self.values[0]) for ns in self.namespaces]
        return [ops[j : j + 25] for j in range(0, len(ops), 25)] * 2


Measurement = Generator[Block, BlockResult, list[dict[str, Any]]]


def _rotated(contestants: Sequence[Contestant], shift: int) -> list[Contestant]:
    if not contestants:
        return []
    shift %= len(contestants)
    return [*contestants[shift:], *contestants[:shift]]


def measure(
    workload: Workload,
    runners: Runners,
    batch_sizes: Sequence[int],
    in_flight: int,
    reads: bool,
    progress_stream: TextIO | None,
    show_progress: bool,
) -> Measurement:
    """The whole benchmark: yields blocks to run, receives their results, returns report rows."""
    for contestant in WRITES:
        yield Block(contestant, runners.get(contestant.name), workload.warmup(contestant.name), 1)
    read_contestants = READS if reads else ()
    total = len(batch_sizes) * workload.total_ops * (len(WRITES) + len(read_contestants))
    progress = meter(total, "ops", enabled=show_progress, stream=progress_stream)
    rows = []
    try:
        for batch_size in batch_sizes:
            for store in runners.stores.values():
                store.reset_metrics()
            timings = {c.name: Timing() for c in (*WRITES, *read_contestants)}
            for phase in (WRITES, read_contestants):
                for round_index in range(workload.rounds):
                    for contestant in _rotated(phase, round_index):
                        if contestant.reads:
                            calls: list[list[Any]] = list(workload.gets(batch_size, round_index))
                        else:
                            calls = list(workload.puts(contestant.name, batch_size, round_index))
                        call = runners.get(contestant.name)
                        result = yield Block(contestant, call, calls, in_flight)
                        ops = sum(len(chunk) for chunk in calls)
                        timings[contestant.name].add(ops, result)
                        progress.describe(f"batch {batch_size} {contestant.name}")
                        progress.update(ops)
            rows.append(row_report(batch_size, timings, runners.stores))
    finally:
        progress.close()
    return rows


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def row_report(
    batch_size: int, timings: dict[str, Timing], stores: dict[str, Any]
) -> dict[str, Any]:
    """One batch size's summaries and the SDK / raw ratios."""
    s = {name: timing.summary() for name, timing in timings.items()}
    raw_unlogged = {name: s[name]["ops_per_s"] for name in ("raw_batch_unlogged", "raw_concurrent")}
    best_name = max(raw_unlogged, key=lambda k: raw_unlogged[k])
    best = raw_unlogged[best_name]
    raw_cpu = s["raw_batch_unlogged"]["cpu_ms_per_call"]
    ratios = {
        "unlogged_write_only_vs_best_raw": _ratio(s["sdk_unlogged_write_only"]["ops_per_s"], best),
        "unlogged_exact_vs_best_raw": _ratio(s["sdk_unlogged_exact"]["ops_per_s"], best),
        "logged_write_only_vs_raw_logged": _ratio(
            s["sdk_logged_write_only"]["ops_per_s"], s["raw_batch_logged"]["ops_per_s"]
        ),
        "naive_vs_tuned_raw": _ratio(
            s["raw_naive_unlogged"]["ops_per_s"], s["raw_batch_unlogged"]["ops_per_s"]
        ),
        "cpu_unlogged_write_only_vs_raw_batch": _ratio(
            s["sdk_unlogged_write_only"]["cpu_ms_per_call"], raw_cpu
        ),
        "cpu_unlogged_exact_vs_raw_batch": _ratio(
            s["sdk_unlogged_exact"]["cpu_ms_per_call"], raw_cpu
        ),
    }
    if "sdk_get" in s:
        ratios["get_vs_raw_concurrent"] = _ratio(
            s["sdk_get"]["ops_per_s"], s["raw_get_concurrent"]["ops_per_s"]
        )
    requests = {}
    for name in ("sdk_unlogged_write_only", "sdk_unlogged_exact", "sdk_logged_write_only"):
        stats = stores[name].get_metrics()["batch_stats"]
        calls = stats["total_batches"] or 1
        requests[name] = {
            "read_requests_per_call": stats["read_requests"] / calls,
            "write_requests_per_call": stats["write_requests"] / calls,
            "internal_writes_per_call": stats["internal_writes"] / calls,
            "retries": stats["retries"],
        }
    return {
        "batch_size": batch_size,
        "contestants": s,
        "best_raw_unlogged": best_name,
        "ratios": ratios,
        "sdk_requests": requests,
    }
