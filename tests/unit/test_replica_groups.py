"""Replica groups from the driver's own token map (real driver metadata objects, no node)."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

from cassandra.connection import DefaultEndPoint
from cassandra.metadata import KeyspaceMetadata, Metadata
from cassandra.policies import SimpleConvictionPolicy
from cassandra.pool import Host

from scyllabatch import BatchLimits, BatchType, PutOp
from scyllabatch._core.planner import plan_call
from scyllabatch._core.validation import validate_ops
from scyllabatch._driver import ReplicaGroups
from scyllabatch._impl import codec


def two_node_metadata() -> tuple[Metadata, Host, Host]:
    metadata = Metadata()
    metadata.partitioner = "org.apache.cassandra.dht.Murmur3Partitioner"
    first = Host(DefaultEndPoint("127.0.0.2"), SimpleConvictionPolicy, host_id=uuid.uuid4())
    second = Host(DefaultEndPoint("127.0.0.3"), SimpleConvictionPolicy, host_id=uuid.uuid4())
    metadata.keyspaces["ks"] = KeyspaceMetadata(
        "ks", True, "SimpleStrategy", {"replication_factor": "1"}
    )
    metadata.rebuild_token_map(
        metadata.partitioner,
        {first: ["-3074457345618258603"], second: ["3074457345618258602"]},
    )
    return metadata, first, second


def groups_for(metadata: Metadata, keyspace: str) -> ReplicaGroups:
    session: Any = SimpleNamespace(cluster=SimpleNamespace(metadata=metadata))
    return ReplicaGroups(session, keyspace)


def test_partitions_are_grouped_by_the_node_that_owns_them() -> None:
    metadata, _, _ = two_node_metadata()
    groups = groups_for(metadata, "ks")
    partitions = [f"tenant.{i}" for i in range(40)]
    owners = {p: groups(p) for p in partitions}
    assert len(set(owners.values())) == 2
    token_map = metadata.token_map
    for partition, group in owners.items():
        token = token_map.token_class.from_key(partition.encode("utf-8"))
        [owner] = token_map.get_replicas("ks", token)
        assert group == ((str(owner.endpoint),), None)


def test_unknown_keyspace_or_no_metadata_means_one_group_per_partition() -> None:
    metadata, _, _ = two_node_metadata()
    assert groups_for(metadata, "other")("a.b") == "a.b"
    assert groups_for(Metadata(), "ks")("a.b") == "a.b"


def test_batches_never_mix_owners() -> None:
    metadata, _, _ = two_node_metadata()
    groups = groups_for(metadata, "ks")
    ops = [PutOp(("tenant", str(i)), "k", {"i": i}) for i in range(40)]
    plan = plan_call(
        validate_ops(ops, codec), BatchType.UNLOGGED, 1, BatchLimits(), codec, 100, groups
    )
    for chunk in plan.chunks:
        assert len({groups(w.put.partition) for w in chunk}) == 1
        assert len(chunk) <= BatchLimits().max_partitions_per_batch
    assert sum(len(chunk) for chunk in plan.chunks) == 40
    assert len(plan.chunks) < 40  # partitions of one owner were combined
