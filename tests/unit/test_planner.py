"""The planner: limits, merging, batching by replica group, look-ups (no database)."""

from __future__ import annotations

from typing import Any

import pytest

from scyllabatch import (
    BatchLimits,
    BatchType,
    CreatedAtMode,
    GetOp,
    PutOp,
    StoreBatchSizeWarning,
    StoreValidationError,
)
from scyllabatch._core.planner import plan_call
from scyllabatch._core.validation import validate_ops
from scyllabatch._impl import codec

NS = ("a", "b")


def plan(
    ops: list[Any], batch_type: BatchType = BatchType.UNLOGGED, limits: BatchLimits | None = None
) -> Any:
    return plan_call(validate_ops(ops, codec), batch_type, 1, limits or BatchLimits(), codec, 100)


def test_logged_limit_is_checked_before_io() -> None:
    with pytest.raises(StoreValidationError, match="never"):
        plan([PutOp(NS, f"k{i}", {}) for i in range(101)], BatchType.LOGGED)


def test_merged_duplicates_do_not_count_against_the_limit() -> None:
    ops = [PutOp(NS, "same", {"i": i}) for i in range(150)]
    assert len(plan(ops, BatchType.LOGGED).writes) == 1


def test_logged_above_warn_threshold_warns() -> None:
    with pytest.warns(StoreBatchSizeWarning):
        plan([PutOp(NS, f"k{i}", {}) for i in range(51)], BatchType.LOGGED)


def test_unlogged_is_split_without_warnings(recwarn: pytest.WarningsRecorder) -> None:
    from scyllabatch._core.planner import _batch_chunks

    big = plan([PutOp(NS, f"k{i}", {"pad": "x" * 100}) for i in range(260)])
    assert not [w for w in recwarn if issubclass(w.category, StoreBatchSizeWarning)]
    assert [len(c) for c in big.chunks] == [50] * 5 + [10]
    by_bytes = _batch_chunks(big.writes, BatchLimits(max_bytes=2_000, warn_bytes=1_000), str)
    assert all(sum(w.estimated_bytes for w in chunk) <= 1_000 for chunk in by_bytes)


def test_partitions_combine_only_within_a_replica_group() -> None:
    ops = [PutOp(("t", str(p)), f"k{i}", {"i": i}) for p in range(25) for i in range(3)]
    writes = plan(ops).writes
    from scyllabatch._core.planner import _batch_chunks

    # Default: every partition is its own group, one batch per partition.
    assert len(_batch_chunks(writes, BatchLimits(), str)) == 25
    # One group (a single replica set): at most 10 partitions per batch, partitions kept whole.
    chunks = _batch_chunks(writes, BatchLimits(max_partitions_per_batch=10), lambda p: "same")
    assert [len({w.put.partition for w in c}) for c in chunks] == [10, 10, 5]
    assert all(len(c) == 3 * len({w.put.partition for w in c}) for c in chunks)
    # Two groups never share a batch.
    by_parity = _batch_chunks(writes, BatchLimits(), lambda p: int(p.split(".")[1]) % 2)
    for chunk in by_parity:
        assert len({int(w.put.partition.split(".")[1]) % 2 for w in chunk}) == 1
    single = _batch_chunks(writes, BatchLimits(max_partitions_per_batch=1), lambda p: "same")
    assert len(single) == 25


def test_created_at_lookups_read_exactly_the_written_keys() -> None:
    ops = [PutOp(("t", str(p)), "k", {"p": p}) for p in range(30)] + [PutOp(("t", "0"), "x", None)]
    ops += [PutOp(("t", "1"), f"more{i}", {"i": i}) for i in range(150)]

    def planned(mode: CreatedAtMode) -> Any:
        return plan_call(
            validate_ops(ops, codec),
            BatchType.UNLOGGED,
            1,
            BatchLimits(),
            codec,
            100,
            lambda p: "same",
            mode,
        )

    exact = planned(CreatedAtMode.EXACT)
    # 182 writes of one replica group: at most 100 per batch and 50 of one partition per batch;
    # the parts of the split partition t.1 travel alone, the whole partitions together
    assert sorted(len(chunk) for chunk in exact.chunks) == [1, 30, 50, 50, 50]
    for chunk in exact.chunks:
        per_partition: dict[str, int] = {}
        for write in chunk:
            per_partition[write.put.partition] = per_partition.get(write.put.partition, 0) + 1
        assert max(per_partition.values()) <= 50
    # One look-up per partition (the 151 keys of partition t.1 split at 100 keys), each asking
    # for exactly the keys written there: no cross product of partitions and keys; not the delete.
    wanted = sorted(
        (lookup.partition, key) for lookup in exact.created_lookups for key in lookup.keys
    )
    assert len(exact.created_lookups) == 31
    assert wanted == sorted((w.put.partition, w.put.key) for w in exact.writes if w.put.encoded)
    assert max(len(lookup.keys) for lookup in exact.created_lookups) == 100
    # write-only mode reads nothing before writing
    assert planned(CreatedAtMode.WRITE_ONLY).created_lookups == []


def test_ttl_refreshes_are_split_by_bytes_like_writes() -> None:
    from scyllabatch._core.items import StoredRow
    from scyllabatch._core.planner import _refresh_requests

    big = b"x" * (9 * 1024 * 1024)
    rows = [(StoredRow(("t",), "t", f"k{i}", big, 1, 1, 60, 1), (i,)) for i in range(3)] + [
        (StoredRow(("t",), "t", f"s{i}", b"v", 1, 1, 60, 1), (10 + i,)) for i in range(120)
    ]
    planned = plan([GetOp(("t",), "k0")])
    requests = _refresh_requests(planned, rows, BatchLimits())
    # each 9 MiB item alone (two would pass the 16 MiB message limit); small ones 50 a batch
    assert sorted(len(r.queries) for r in requests) == [1, 1, 1, 20, 50, 50]
    assert all(r.internal for r in requests)
