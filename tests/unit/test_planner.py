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
from scyllabatch._core.schema import Statement
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
    # The 151 keys of partition t.1 are looked up alone (split at 100 keys); the 29 other
    # partitions write the same one key on the same replicas and share look-ups of at most 25
    # partitions. Each asks
    # for exactly the keys written (its partitions times its keys): never a row nobody wrote,
    # and not the delete.
    wanted = [
        (partition, key)
        for lookup in exact.created_lookups
        for partition in lookup.partitions
        for key in lookup.keys
    ]
    assert len(wanted) == len(set(wanted))
    assert sorted(wanted) == sorted(
        (w.put.partition, w.put.key) for w in exact.writes if w.put.encoded
    )
    assert sorted(len(lookup.partitions) for lookup in exact.created_lookups) == [1, 1, 4, 25]
    assert max(len(lookup.keys) for lookup in exact.created_lookups) == 100
    # write-only mode reads nothing before writing
    assert planned(CreatedAtMode.WRITE_ONLY).created_lookups == []


def test_created_at_lookups_share_a_request_only_for_the_same_keys_on_the_same_replicas() -> None:
    # 250 namespaces writing "profile", 3 writing {"a", "b"}, 2 writing {"a"} and one {"b"}:
    # partitions share a look-up only with the same keys and replica group, so the rows asked
    # for are exactly the rows written; at most 100 rows and 25 partitions per look-up.
    ops = [PutOp(("u", str(n)), "profile", {"n": n}) for n in range(250)]
    ops += [PutOp(("ab", str(n)), key, {}) for n in range(3) for key in ("b", "a")]
    ops += [PutOp(("a", str(n)), "a", {}) for n in range(2)] + [PutOp(("b",), "b", {})]

    def lookups(replica_group: Any) -> list[Any]:
        planned = plan_call(
            validate_ops(ops, codec),
            BatchType.UNLOGGED,
            1,
            BatchLimits(),
            codec,
            100,
            replica_group,
        )
        return planned.created_lookups  # type: ignore[no-any-return]

    one_group = lookups(lambda p: "same")
    shapes = sorted((len(lookup.partitions), tuple(lookup.keys)) for lookup in one_group)
    assert shapes == [
        (1, ("b",)),
        (2, ("a",)),
        (3, ("a", "b")),
        *[(25, ("profile",))] * 10,
    ]
    for lookup in one_group:
        written = {(".".join(ops[i].namespace), ops[i].key) for i in lookup.op_indices}
        assert written == {(p, k) for p in lookup.partitions for k in lookup.keys}
        request = lookup.start()[0]
        if len(lookup.partitions) > 1:
            assert request.queries[0].statement is Statement.SELECT_CREATED_IN
            assert request.routing_key == lookup.partitions[0].encode()
        else:
            assert request.queries[0].statement is Statement.SELECT_CREATED
            assert request.routing_key is None
    # Two replica groups never share a look-up; without replica information, none is shared.
    by_parity = lookups(lambda p: int(p.split(".")[-1]) % 2 if "." in p else -1)
    for lookup in by_parity:
        assert len({int(p.split(".")[-1]) % 2 for p in lookup.partitions if "." in p}) <= 1
    assert all(len(lookup.partitions) == 1 for lookup in lookups(str))
    assert len(lookups(str)) == 256


def test_gets_share_a_request_only_for_the_same_keys_on_the_same_replicas() -> None:
    # 150 namespaces asked for "profile" (one of them twice), 2 for {"a", "b"}, one for 120 keys.
    ops = [GetOp(("u", str(n)), "profile") for n in range(150)] + [GetOp(("u", "7"), "profile")]
    ops += [GetOp(("ab", str(n)), key) for n in range(2) for key in ("a", "b")]
    ops += [GetOp(("big",), f"k{i}") for i in range(120)]
    planned = plan_call(
        validate_ops(ops, codec), BatchType.UNLOGGED, 1, BatchLimits(), codec, 100, lambda p: 0
    )
    shapes = sorted((len(r.partitions), len(r.keys)) for r in planned.gets)
    assert shapes == [(1, 120), (2, 2)] + [(25, 1)] * 6
    for reader in planned.gets:
        wanted = {(".".join(ops[i].namespace), ops[i].key) for i in reader.op_indices}
        assert wanted == {(p, k) for p in reader.partitions for k in reader.keys}
        requests = reader.start()
        if len(reader.partitions) > 1:
            assert [r.queries[0].statement for r in requests] == [Statement.SELECT_KEYS_IN]
        else:  # one partition's 120 keys: two requests of at most 100 keys
            assert [len(r.queries[0].params[1]) for r in requests] == [100, 20]
    assert sorted(i for r in planned.gets for i in r.op_indices) == list(range(len(ops)))


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
