"""Planner benchmarks: the CPU work of one 100-op call before any I/O.

"validate + plan" is what every ``batch()`` does first: validate every op, encode every value (one
codec call for the batch), merge writes per key, group by partition and check limits.
"ops to wire bytes" is the whole client-side hot path of a write call, per twin (compiled and
pure Python) and ``created_at`` mode: validation, merging, grouping, size accounting, value
encoding and the serialized statements of every batch (what the driver sends, unbound).
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

from scyllabatch import BatchLimits, BatchType, CreatedAtMode, GetOp, PutOp
from scyllabatch._core.planner import plan_call, write_requests
from scyllabatch._core.schema import Statement
from scyllabatch._core.validation import validate_ops

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
REQUESTS = "ops to wire bytes: 100 puts"
MIXED = "validate + plan: 50 puts + 50 gets"


def twin(name: str, module: str = "codec") -> ModuleType:
    if name == "python":
        return importlib.import_module(f"scyllabatch._pure.{module}")
    try:
        return importlib.import_module(f"scyllabatch._speedups.{module}")
    except ImportError:  # depends on the build
        pytest.skip("compiled speedups not built (python setup.py build_ext --inplace)")


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
    # one created_at look-up per partition (at most 100 keys each)
    assert len(plan.created_lookups) == namespaces


@pytest.mark.benchmark(group=REQUESTS)
@pytest.mark.parametrize("twin_name", ["cython", "python"])
@pytest.mark.parametrize("namespaces", [1, 100])
@pytest.mark.parametrize("mode", [CreatedAtMode.WRITE_ONLY, CreatedAtMode.EXACT])
def test_hot_path_ops_to_wire_bytes(
    benchmark: Any, twin_name: str, namespaces: int, mode: CreatedAtMode
) -> None:
    """The whole client-side hot path of a 100-put call, per op: validation, value encoding,
    merging, grouping, size accounting and the serialized statements the driver sends."""
    codec, writes = twin(twin_name), twin(twin_name, "writes")
    ops = puts(namespaces)
    ids = {Statement.UPSERT: b"u" * 16, Statement.DELETE: b"d" * 16}

    def run() -> Any:
        normalized = validate_ops(ops, codec, writes)
        plan = plan_call(
            normalized, BatchType.UNLOGGED, 1, LIMITS, codec, 1000, lambda p: "one", mode, writes
        )
        readers = [request for reader in plan.readers for request in reader.start()]
        requests, registry = write_requests(plan, {}, [], set(), LIMITS, ids, writes)
        return readers, requests, registry

    readers, requests, _registry = benchmark(run)
    per_op(benchmark)
    # exact mode: one created_at look-up per partition; write-only mode: none
    assert len(readers) == (namespaces if mode is CreatedAtMode.EXACT else 0)
    # every partition on one replica group: up to 100 partitions and 100 ops per batch, at most
    # 50 of them in one partition
    assert len(requests) == (2 if namespaces == 1 else 1)
    assert all(r.encoded is not None for r in requests)


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
