"""Semantic search: ``search(query=...)`` on the node next to a brute-force numpy scan.

10,000 items (``--items``) of 256 dimensions (``--dims``) are written through a store with an
index config, spread over ``--namespaces`` namespaces under one root; the embedding function is
the deterministic bag-of-words one of ``tests/vectors.py`` (no model, no network). Then the same
queries run, one at a time:

- ``search(query=)``: ``Store.search(("corpus",), query=q, limit=10)``: registry walk, one
  ANN query per namespace (the storage-attached index), the candidates read by key;
- ``numpy brute force``: the query embedded by the same function, then every stored vector
  scored (one ``float32`` matrix-vector product, the vectors' norms computed once beforehand)
  and the top 10 taken with ``argpartition``: what an application holding all vectors in memory
  would do. It reads nothing from the node: it is the floor, not a database baseline.

Printed per contestant: queries/s, p50 and p95 latency, client CPU per query; for the store also
recall@10 against the brute force (ties at the 10th score count as hits) and the load rate.

Run against a node (a fresh keyspace is created and dropped):
    SCYLLABATCH_HOSTS=127.0.0.1 .venv/bin/python benchmarks/semantic_search.py [--queries 200]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.vectors

from scyllabatch import PutOp, Store, StoreConfig
from tests.vectors import HashEmbeddings, embed_array


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _measure(run: Callable[[str], list[str]], queries: list[str]) -> dict[str, float]:
    latencies = []
    cpu_started = time.process_time()
    started = time.perf_counter()
    for query in queries:
        t0 = time.perf_counter()
        run(query)
        latencies.append(time.perf_counter() - t0)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return {
        "qps": len(queries) / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": _percentile(latencies, 0.95) * 1000,
        "cpu_ms": cpu / len(queries) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    hosts = os.environ.get("SCYLLABATCH_HOSTS", "127.0.0.1").split(",")
    keyspace = f"bench_vec_{uuid.uuid4().hex[:8]}"
    embed = HashEmbeddings(args.dims)
    config = StoreConfig(
        hosts=hosts,
        keyspace=keyspace,
        index={"dims": args.dims, "embed": embed, "fields": ["text"]},
    )
    rng = random.Random(16)
    vocabulary = [f"w{n}" for n in range(2000)]
    texts = [" ".join(rng.sample(vocabulary, 4)) for _ in range(args.items)]
    queries = [" ".join(rng.sample(vocabulary, 2)) for _ in range(args.queries)]
    with Store.connect(config=config) as store:
        try:
            store.setup()
            started = time.perf_counter()
            for start in range(0, args.items, 500):
                store.batch(
                    [
                        PutOp(("corpus", f"n{i % args.namespaces}"), f"k{i}", {"text": texts[i]})
                        for i in range(start, min(args.items, start + 500))
                    ]
                )
            load = time.perf_counter() - started
            vectors = embed_array(texts, args.dims)  # float32, as stored
            norms = np.linalg.norm(vectors, axis=1)  # computed once, as an application would

            def brute_force(query: str) -> list[str]:
                q = np.asarray(embed([query])[0], dtype=np.float32)
                scores = vectors @ q / (norms * np.linalg.norm(q))
                top = np.argpartition(-scores, 10)[:10]
                return [f"k{i}" for i in top[np.argsort(-scores[top])]]

            def search(query: str) -> list[str]:
                hits = store.search(("corpus",), query=query, limit=10, refresh_ttl=False)
                return [hit.key for hit in hits]

            recalls = []
            for query in queries:
                q = embed_array([query], args.dims)[0].astype(np.float64)
                exact = vectors.astype(np.float64) @ q
                tenth = np.sort(exact)[-10]
                found = search(query)
                recalls.append(sum(exact[int(k[1:])] >= tenth - 1e-5 for k in found) / 10)
            store.reset_metrics()
            rounds: dict[str, list[dict[str, float]]] = {"search(query=)": [], "numpy": []}
            for _ in range(args.rounds):
                rounds["search(query=)"].append(_measure(search, queries))
                rounds["numpy"].append(_measure(brute_force, queries))
            stats = store.get_metrics()["batch_stats"]
            per_query_requests = stats["read_requests"] / (args.rounds * len(queries))
        finally:
            store.session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)

    def best(name: str) -> dict[str, float]:  # the round with the median queries/s
        ordered = sorted(rounds[name], key=lambda r: r["qps"])
        return ordered[len(ordered) // 2]

    store_row, numpy_row = best("search(query=)"), best("numpy")
    print(
        f"{args.items} items x {args.dims} dims in {args.namespaces} namespaces, "
        f"{len(queries)} queries x {args.rounds} rounds (median round shown)"
    )
    print(f"load: {args.items / load:,.0f} items/s ({load:.1f} s, embedding included)")
    print(f"{'':18} {'queries/s':>10} {'p50 ms':>8} {'p95 ms':>8} {'CPU ms/q':>9}")
    for name, row in (("search(query=)", store_row), ("numpy brute force", numpy_row)):
        print(
            f"{name:18} {row['qps']:>10,.0f} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f} "
            f"{row['cpu_ms']:>9.2f}"
        )
    print(
        f"ratio store/numpy: queries/s x{store_row['qps'] / numpy_row['qps']:.2f}, "
        f"p95 x{store_row['p95_ms'] / numpy_row['p95_ms']:.2f}"
    )
    print(
        f"recall@10 vs brute force: {sum(recalls) / len(recalls):.3f} "
        f"(min {min(recalls):.1f}); read requests per search: {per_query_requests:.1f}"
    )


if __name__ == "__main__":
    main()
