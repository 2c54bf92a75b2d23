"""Printing a ``scyllabatch bench`` report as a table."""

from __future__ import annotations

from typing import Any

from scyllabatch._bench.contestants import READS, WRITES


def _ops(value: float) -> str:
    return f"{value:,.0f}"


def _ratio(value: float | None) -> str:
    return f"{value:.2f}x" if value else "-"


def format_table(report: dict[str, Any]) -> str:
    """The human-readable table of a report."""
    o, env = report["options"], report["environment"]
    srv, drv = env["server"], env["driver"]
    layout = {
        "spread": "consecutive ops in different namespaces",
        "grouped": "each namespace a contiguous run of ops",
        "shared-key": "consecutive ops in different namespaces, one key per pass over them",
    }[o["layout"]]
    lines = [
        f"scyllabatch bench: {o['total_ops']:,} puts per contestant and batch size over "
        f"{o['namespaces']} namespaces ({o['layout']}: {layout}); {o['mode']} mode; "
        f"{o['in_flight']} call(s) in flight; {o['rounds']} interleaved rounds",
        f"server {srv['product']} {srv['release_version']} at {','.join(o['hosts'])}:{o['port']}; "
        f"driver {drv['distribution']} {drv['version']} "
        f"({'Cython' if drv['cython'] else 'pure Python'}); speedups {env['implementation']}",
    ]
    header = (
        f"  {'contestant':<46} {'ops/s':>9} {'ms/call':>8} {'p95 ms':>7} {'CPU ms/call':>11}"
        f" {'vs raw':>7} {'CPU vs raw':>10}"
    )
    for row in report["rows"]:
        c, r = row["contestants"], row["ratios"]
        best = row["best_raw_unlogged"]
        lines += ["", f"batch of {row['batch_size']} ops", header]
        versus = {
            "sdk_unlogged_write_only": (
                r["unlogged_write_only_vs_best_raw"],
                r["cpu_unlogged_write_only_vs_raw_batch"],
            ),
            "sdk_unlogged_exact": (
                r["unlogged_exact_vs_best_raw"],
                r["cpu_unlogged_exact_vs_raw_batch"],
            ),
            "sdk_logged_write_only": (r["logged_write_only_vs_raw_logged"], None),
            "raw_naive_unlogged": (r["naive_vs_tuned_raw"], None),
        }
        if "get_vs_raw_concurrent" in r:
            versus["sdk_get"] = (r["get_vs_raw_concurrent"], None)
        for contestant in (*WRITES, *READS):
            if contestant.name not in c:
                continue
            s = c[contestant.name]
            ratio, cpu_ratio = versus.get(contestant.name, (None, None))
            mark = " *" if contestant.name == best else ""
            lines.append(
                f"  {contestant.label + mark:<46} {_ops(s['ops_per_s']):>9} "
                f"{s['latency_ms_mean']:>8.2f} {s['latency_ms_p95']:>7.2f} "
                f"{s['cpu_ms_per_call']:>11.2f} {_ratio(ratio):>7} {_ratio(cpu_ratio):>10}"
            )
    lines += [
        "",
        "ops/s = ops / wall time of the contestant's calls; CPU = client process CPU (all "
        "threads) per call.",
        "vs raw = throughput of the SDK / the best raw approach doing the same writes (marked *): "
        "UNLOGGED against the faster of the raw UNLOGGED batch and execute_concurrent, LOGGED "
        "against the raw LOGGED batch, GetOps against execute_concurrent of single SELECTs; for "
        "the driver-defaults row, against the tuned raw batch. Above 1x the SDK is faster than "
        "hand-written driver code; below 1x it is slower (0.80x = 20% less throughput).",
        "CPU vs raw = the SDK's client CPU per call / the raw UNLOGGED batch loop's; below 1x "
        "the SDK burns less CPU. It does not depend on the server's noise.",
    ]
    last = report["rows"][-1] if report["rows"] else None
    if last is not None:
        req = last["sdk_requests"]
        wo, ex = req["sdk_unlogged_write_only"], req["sdk_unlogged_exact"]
        lines.append(
            f"At batch {last['batch_size']} an SDK UNLOGGED call sent "
            f"{wo['write_requests_per_call']:.1f} write requests (write-only) and "
            f"{ex['read_requests_per_call']:.1f} created_at look-ups + "
            f"{ex['write_requests_per_call']:.1f} writes (exact); a raw batch call sends 1."
        )
    lines.append(
        f"keyspace {o['keyspace']} {'kept' if o['keep_keyspace'] else 'dropped'}; "
        f"wall time {report['wall_seconds']:.1f} s"
    )
    return "\n".join(lines)
