"""A ``batch()`` workload under pytest-benchmark, with the raw driver doing the same work beside it.

pytest-benchmark times the SDK call (so ``--benchmark-save`` / ``--benchmark-compare`` track it
across runs as usual). In the same rounds the best hand-written driver code for the same ops
runs too (the contestants of ``scyllabatch bench``, on the same session), before the SDK call in
even rounds and after it in odd ones, so a noisy machine slows both alike. Both sides are timed
the same way (wall clock and process CPU per call); the comparison is the ratio of medians:

- puts, ``UNLOGGED``: a prepared ``BatchStatement`` of the call's inserts, and
  ``execute_concurrent_with_args`` of single inserts; the faster of the two is the baseline;
- puts, ``LOGGED``: a prepared logged ``BatchStatement``;
- gets: ``execute_concurrent_with_args`` of single ``SELECT`` s.

The raw code writes the same rows (same codec) into a table of its own, ``raw_items``, next to
the store's tables in the keyspace the plugin created for the test.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from scyllabatch._bench.contestants import READS, WRITES, Runners, prepare_raw_table
from scyllabatch.aio import AsyncStore
from scyllabatch.errors import StoreValidationError
from scyllabatch.ops import BatchType, GetOp, PutOp
from scyllabatch.store import Store

__all__ = ["BaselineComparison", "BatchBenchmark", "CallTimes", "baselines_for"]

Ops = Sequence[Any]
Workload = Ops | Callable[[int], Ops]
LABELS = {c.name: c.label for c in (*WRITES, *READS)}


def baselines_for(ops: Ops, batch_type: BatchType | str) -> tuple[str, ...]:
    """The raw contestants that do what ``ops`` do: puts of values or gets, not a mix.

    Raises :class:`~scyllabatch.StoreValidationError` naming the first op that has no raw
    counterpart.
    """
    if not ops:
        raise StoreValidationError("the workload has no ops", field="ops")
    kind = _batch_type(batch_type)
    first = ops[0]
    if isinstance(first, GetOp):
        wanted: type = GetOp
        names: tuple[str, ...] = ("raw_get_concurrent",)
    elif isinstance(first, PutOp):
        wanted = PutOp
        if kind is BatchType.LOGGED:
            names = ("raw_batch_logged",)
        else:
            names = ("raw_batch_unlogged", "raw_concurrent")
    else:
        wanted, names = type(None), ()
    for index, op in enumerate(ops):
        if not isinstance(op, wanted) or not names:
            raise StoreValidationError(
                f"op {index} is a {type(op).__name__}: the raw-driver baseline covers workloads "
                "of puts (PutOp with a value) or of gets (GetOp), not a mix",
                op_index=index,
            )
        if isinstance(op, PutOp) and op.value is None:
            raise StoreValidationError(
                f"op {index} is a delete (PutOp with value=None): the raw-driver baseline "
                "writes values only",
                op_index=index,
                field="value",
            )
    return names


@dataclass(frozen=True)
class CallTimes:
    """One contestant's calls: wall-clock median and mean, and client CPU, per call."""

    name: str
    label: str
    calls: int
    median_ms: float
    mean_ms: float
    cpu_ms_per_call: float

    @classmethod
    def of(cls, name: str, label: str, wall: Sequence[float], cpu: Sequence[float]) -> CallTimes:
        """Summarize per-call seconds."""
        return cls(
            name=name,
            label=label,
            calls=len(wall),
            median_ms=statistics.median(wall) * 1000.0,
            mean_ms=statistics.fmean(wall) * 1000.0,
            cpu_ms_per_call=statistics.fmean(cpu) * 1000.0,
        )


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.inf


@dataclass(frozen=True)
class BaselineComparison:
    """The SDK's calls next to the raw driver's, same ops, same rounds, same session.

    ``speed_vs_raw`` is the best baseline's median call time divided by the SDK's: above 1 the
    SDK is faster than the hand-written code, below 1 slower (0.8 is 20% less throughput), as
    ``scyllabatch bench`` reports it. ``cpu_vs_raw`` is the SDK's client CPU per call divided by
    that baseline's: below 1 the SDK burns less CPU.
    """

    ops_per_call: int
    batch_type: str
    sdk: CallTimes
    baselines: tuple[CallTimes, ...]
    best: CallTimes = field(init=False)
    speed_vs_raw: float = field(init=False)
    cpu_vs_raw: float = field(init=False)

    def __post_init__(self) -> None:
        best = min(self.baselines, key=lambda times: times.median_ms)
        object.__setattr__(self, "best", best)
        object.__setattr__(self, "speed_vs_raw", _ratio(best.median_ms, self.sdk.median_ms))
        object.__setattr__(
            self, "cpu_vs_raw", _ratio(self.sdk.cpu_ms_per_call, best.cpu_ms_per_call)
        )

    def summary(self) -> str:
        """One line: both medians, CPU per call, and the ratios."""
        return (
            f"{self.ops_per_call} ops/call {self.batch_type}, {self.sdk.calls} rounds: SDK "
            f"{self.sdk.median_ms:.2f} ms (CPU {self.sdk.cpu_ms_per_call:.2f} ms) vs "
            f"{self.best.label} {self.best.median_ms:.2f} ms (CPU "
            f"{self.best.cpu_ms_per_call:.2f} ms): {self.speed_vs_raw:.2f}x speed, "
            f"{self.cpu_vs_raw:.2f}x CPU"
        )

    def extra_info(self) -> dict[str, Any]:
        """What goes into pytest-benchmark's ``extra_info`` (and its saved JSON)."""
        return {
            "ops_per_call": self.ops_per_call,
            "batch_type": self.batch_type,
            "sdk_median_ms": round(self.sdk.median_ms, 4),
            "sdk_cpu_ms_per_call": round(self.sdk.cpu_ms_per_call, 4),
            "baseline": self.best.name,
            "baseline_median_ms": round(self.best.median_ms, 4),
            "baseline_cpu_ms_per_call": round(self.best.cpu_ms_per_call, 4),
            "speed_vs_raw": round(self.speed_vs_raw, 4),
            "cpu_vs_raw": round(self.cpu_vs_raw, 4),
            "baselines": {t.name: round(t.median_ms, 4) for t in self.baselines},
        }


def _batch_type(batch_type: BatchType | str) -> BatchType:
    if isinstance(batch_type, BatchType):
        return batch_type
    try:
        return BatchType(str(batch_type).upper())
    except ValueError:
        raise StoreValidationError(
            f"batch_type must be 'UNLOGGED' or 'LOGGED', not {batch_type!r}", field="batch_type"
        ) from None


class _Timed:
    """Per-call wall and process-CPU seconds of one contestant."""

    def __init__(self, call: Callable[[Ops], Any]) -> None:
        self.call = call
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __call__(self, ops: Ops) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        result = self.call(ops)
        self.cpu.append(time.process_time() - cpu)
        self.wall.append(time.perf_counter() - wall)
        return result


class BatchBenchmark:
    """Run a ``batch()`` workload under pytest-benchmark next to the raw driver (the
    ``scyllabatch_benchmark`` fixture). Call it once per test."""

    def __init__(
        self,
        benchmark: Any,
        store: Store | AsyncStore,
        keyspace: str,
        report: Callable[[BaselineComparison], None] = lambda comparison: None,
    ) -> None:
        self._benchmark = benchmark
        self._store = store
        self._keyspace = keyspace
        self._report = report

    def __call__(
        self,
        ops: Workload,
        *,
        batch_type: BatchType | str = BatchType.UNLOGGED,
        rounds: int = 20,
        warmup_rounds: int = 2,
        store: Store | AsyncStore | None = None,
    ) -> BaselineComparison:
        """Benchmark ``store.batch(ops, batch_type=...)`` and the raw baseline beside it.

        ``ops`` is a list of ops (the same ones every round) or a callable that returns the
        ops of round ``i`` (e.g. fresh keys every round). ``store`` defaults to the fixture's
        ``scyllabatch_store``; another one (say with other ``StoreConfig`` options, or an
        :class:`~scyllabatch.AsyncStore`, run on an event loop of its own) must use the same
        keyspace, where the raw table lives. Returns the comparison, also stored in the
        benchmark's ``extra_info["scyllabatch"]`` and printed at the end of the run.
        """
        store = store or self._store
        if store.config.keyspace != self._keyspace:
            raise StoreValidationError(
                f"the store uses keyspace {store.config.keyspace!r}, not the test's "
                f"{self._keyspace!r}: build it on scyllabatch_keyspace (the raw baseline's table "
                "is created there)",
                field="store",
            )
        if rounds < 1 or warmup_rounds < 0:
            raise StoreValidationError("rounds must be >= 1 and warmup_rounds >= 0", field="rounds")
        make_ops: Callable[[int], Ops] = ops if callable(ops) else (lambda _round: ops)
        first = list(make_ops(0))
        names = baselines_for(first, batch_type)
        kind = _batch_type(batch_type)
        asynchronous = isinstance(store, AsyncStore)
        if asynchronous:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                pass
            else:
                raise RuntimeError(
                    "scyllabatch_benchmark drives an AsyncStore on an event loop of its own: "
                    "call it from a plain (not async) test function"
                )
        prepare_raw_table(store.session, self._keyspace)
        runners = Runners(
            store.session,
            store.config,
            asynchronous=asynchronous,
            concurrency=store.config.max_concurrency,
            driver_defaults=False,
        )
        loop = asyncio.new_event_loop() if asynchronous else None

        def driven(call: Callable[[Ops], Any]) -> Callable[[Ops], Any]:
            """``call`` as a blocking call; async ones run on the private loop (the raw
            runners need a running loop to bridge driver futures into)."""
            if loop is None:
                return call

            async def once(chunk: Ops) -> Any:
                result = call(chunk)
                return await result if isinstance(result, Awaitable) else result

            return lambda chunk: loop.run_until_complete(once(chunk))

        if isinstance(store, AsyncStore):
            async_store = store

            def sdk_call(chunk: Ops) -> Any:
                return async_store.abatch(chunk, batch_type=kind)
        else:
            sync_store = store

            def sdk_call(chunk: Ops) -> Any:
                return sync_store.batch(chunk, batch_type=kind)

        sdk = _Timed(driven(sdk_call))
        raw = [_Timed(driven(runners.get(name))) for name in names]
        round_index = 0

        def setup() -> tuple[tuple[Ops], dict[str, Any]]:
            nonlocal round_index
            chunk = list(make_ops(round_index))
            if round_index % 2 == 0:
                for contestant in raw:
                    contestant(chunk)
            round_index += 1
            return (chunk,), {}

        def teardown(chunk: Ops) -> None:
            if (round_index - 1) % 2 == 1:
                for contestant in raw:
                    contestant(chunk)

        try:
            self._benchmark.pedantic(
                sdk,
                setup=setup,
                teardown=teardown,
                rounds=rounds,
                warmup_rounds=warmup_rounds,
                iterations=1,
            )
        finally:
            runners.close()
            if loop is not None:
                loop.run_until_complete(loop.shutdown_default_executor())
                loop.close()
        skip = 0 if getattr(self._benchmark, "disabled", False) else warmup_rounds
        kept = min(len(sdk.wall), *(len(r.wall) for r in raw)) - skip
        comparison = BaselineComparison(
            ops_per_call=len(first),
            batch_type=kind.value,
            sdk=CallTimes.of(
                "sdk", "SDK", sdk.wall[skip : skip + kept], sdk.cpu[skip : skip + kept]
            ),
            baselines=tuple(
                CallTimes.of(
                    name, LABELS[name], r.wall[skip : skip + kept], r.cpu[skip : skip + kept]
                )
                for name, r in zip(names, raw, strict=True)
            ),
        )
        self._benchmark.extra_info["scyllabatch"] = comparison.extra_info()
        self._report(comparison)
        return comparison
