"""Planner benchmarks: the CPU work of one 100-op call before any I/O.

"validate + plan" is what every ``batch()`` does first: validate every op, encode every value (one
codec call for the batch), merge writes per key, group by partition and check limits.
"+ requests" adds building the phase-2 write requests (what the engine hands the facade).
Each benchmark reports ``us_per_op`` in its extra info (``--benchmark-json`` keeps it).

Run:
    python -m pytest benchmarks/test_bench_planner.py --benchmark-only --benchmark-group-by=group

Values are the 100 agent-memory values of ``corpus.py`` (100 to 500 bytes each).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import pytest

from scyllabatch import BatchLimits, BatchType, GetOp, PutOp
from scyllabatch._core.planner import plan_call, write_requests
from scyllabatch._core.validation import validate_ops
from scyllabatch._pure import codec as pure_codec

try:
    from benchmarks.corpus import CORPUS
except ImportError:  # benchmarks/ is not a package: pytest puts it on sys.path
    from corpus import CORPUS

OPS = 100
LIMITS = BatchLimits()
# 100-op LOGGED calls are above the default 50-op warn threshold: benchmark the planning, not the
# warning machinery.
LOGGED_LIMITS = BatchLimits(warn_ops=OPS)
PLAN = "validate + plan: 100 puts"
REQUESTS = "validate + plan + requests: 100 puts"
MIXED = "validate + plan: 50 puts + 50 gets"


def twin(name: str) -> ModuleType:
    if name == "python":
        return pure_codec
    try:
        return importlib.import_module("scyllabatch._speedups.codec")
    except ImportError:  # depends on the build
        pytest.skip("compiled codec not built (python setup.py build_ext --inplace)")


def puts(namespaces: int) -> list[PutOp]:
    return [
        PutOp(("bench", "user", f"ns{i % namespaces}"), f"memory-{i}", CORPUS[i % len(CORPUS)])
        for i in range(OPS)
    ]


def per_op(benchmark: Any, ops: int = OPS) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # None with --benchmark-disable
        benchmark.extra_info["us_per_op"] = round(stats.stats.mean * 1e6 / ops, 3)


@pytest.mark.benchmark(group=PLAN)
@pytest.mark.parametrize("codec_name", ["cython", "python"])
@pytest.mark.parametrize("namespaces", [1, 10, 100])
@pytest.mark.parametrize("batch_type", ["UNLOGGED", "LOGGED"])
def test_validate_and_plan(
    benchmark: Any, codec_name: str, namespaces: int, batch_type: str
) -> None:
    codec = twin(codec_name)
    ops = puts(namespaces)
    kind = BatchType(batch_type)
    limits = LOGGED_LIMITS if kind is BatchType.LOGGED else LIMITS

    def run() -> Any:
        return plan_call(validate_ops(ops, codec), kind, 1, limits, codec, 1000)

    plan = benchmark(run)
    per_op(benchmark)
    assert len(plan.writes) == OPS
    # one created_at look-up per partition here (at most 100 keys, no shared replica group)
    assert len(plan.created_lookups) == namespaces


@pytest.mark.benchmark(group=REQUESTS)
@pytest.mark.parametrize("namespaces", [1, 10, 100])
def test_validate_plan_and_requests(benchmark: Any, namespaces: int) -> None:
    codec = twin("cython")
    ops = puts(namespaces)

    def run() -> Any:
        plan = plan_call(validate_ops(ops, codec), BatchType.UNLOGGED, 1, LIMITS, codec, 1000)
        readers = [request for reader in plan.readers for request in reader.start()]
        writes, registry = write_requests(plan, {}, [], set(), LIMITS)
        return readers, writes, registry

    readers, writes, _registry = benchmark(run)
    per_op(benchmark)
    assert len(readers) == namespaces
    # without a token map every partition is its own replica group: one batch per partition,
    # and one partition of 100 ops is split at the 50-op warn threshold
    assert len(writes) == (2 if namespaces == 1 else namespaces)


@pytest.mark.benchmark(group=MIXED)
@pytest.mark.parametrize("codec_name", ["cython", "python"])
def test_validate_and_plan_mixed(benchmark: Any, codec_name: str) -> None:
    codec = twin(codec_name)
    ops: list[Any] = puts(10)[:50]
    ops += [GetOp(("bench", "user", f"ns{i % 10}"), f"memory-{i}") for i in range(50)]

    def run() -> Any:
        return plan_call(validate_ops(ops, codec), BatchType.UNLOGGED, 1, LIMITS, codec, 1000)

    plan = benchmark(run)
    per_op(benchmark)
    assert len(plan.gets) == 10
