"""``scyllabatch doctor``: what is installed, what the server enforces, and how fast it answers.

Also the environment probes shared with ``scyllabatch bench`` (driver build, server release).
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import time
from dataclasses import dataclass, replace
from importlib import metadata
from typing import Any

from scyllabatch import _driver
from scyllabatch._core import schema
from scyllabatch._impl import IMPLEMENTATION
from scyllabatch._version import __version__
from scyllabatch.config import BatchLimits, StoreConfig
from scyllabatch.errors import StoreError

__all__ = ["DoctorOptions", "driver_info", "run_doctor", "server_info"]

# Cassandra 4.0+ (virtual table) and ScyllaDB (system.config) names of the batch thresholds.
_CASSANDRA_SETTINGS = (
    "batch_size_warn_threshold",
    "batch_size_fail_threshold",
    "unlogged_batch_across_partitions_warn_threshold",
)
_SCYLLA_SETTINGS = (
    "batch_size_warn_threshold_in_kb",
    "batch_size_fail_threshold_in_kb",
)
_TABLES = tuple(schema.TABLES)


def driver_info() -> dict[str, Any]:
    """The installed CQL driver: distribution, version, and whether its Cython core is loaded."""
    import cassandra
    import cassandra.cluster

    distribution = "unknown"
    for name in ("scylla-driver", "cassandra-driver"):
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        distribution = name
        break
    module_file = str(getattr(cassandra.cluster, "__file__", "") or "")
    compiled = module_file.endswith((".so", ".pyd"))
    lz4_available = importlib.util.find_spec("lz4") is not None
    return {
        "distribution": distribution,
        "version": str(cassandra.__version__),
        "cython": compiled,
        "cluster_module": module_file,
        "lz4": lz4_available,
    }


def _rows(session: Any, cql: str, params: Any = None) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in session.execute(cql, params, timeout=10)]


def server_info(session: Any) -> dict[str, Any]:
    """Release, product (ScyllaDB or Apache Cassandra), cluster name and protocol version."""
    release, cluster_name, data_center = _rows(
        session, "SELECT release_version, cluster_name, data_center FROM system.local"
    )[0]
    product = "Apache Cassandra"
    scylla_version = None
    try:
        found = _rows(session, "SELECT version FROM system.versions")
    except Exception:
        found = []
    if found:
        product = "ScyllaDB"
        scylla_version = found[0][0]
    return {
        "product": product,
        "release_version": scylla_version or release,
        "cql_release_version": release,
        "cluster_name": cluster_name,
        "data_center": data_center,
        "protocol_version": session.cluster.protocol_version,
    }


def _kib(value: str) -> int | None:
    """``"128KiB"`` / ``"5KiB"`` / ``"128"`` (KiB) -> KiB; ``None`` if unparsable or disabled."""
    text = value.strip()
    for unit, factor in (("MiB", 1024), ("KiB", 1), ("B", 1 / 1024)):
        if text.endswith(unit):
            try:
                return int(float(text[: -len(unit)]) * factor)
            except ValueError:
                return None
    try:
        number = int(float(text))
    except ValueError:
        return None
    return number if number >= 0 else None


def batch_thresholds(session: Any, product: str) -> dict[str, Any]:
    """The server's batch size thresholds (KiB), from its settings table when it has one."""
    result: dict[str, Any] = {"source": None, "warn_kib": None, "fail_kib": None, "raw": {}}
    if product == "ScyllaDB":
        source = "system.config"
        names: tuple[str, ...] = _SCYLLA_SETTINGS
    else:
        source = "system_views.settings"
        names = _CASSANDRA_SETTINGS
    placeholders = ", ".join(["%s"] * len(names))
    cql = f"SELECT name, value FROM {source} WHERE name IN ({placeholders})"
    try:
        rows = _rows(session, cql, names)
    except Exception as exc:
        result["error"] = f"{source} not readable: {type(exc).__name__}: {exc}"
        return result
    raw = {str(name): str(value).strip('"') for name, value in rows}
    result["source"] = source
    result["raw"] = raw
    warn = raw.get("batch_size_warn_threshold") or raw.get("batch_size_warn_threshold_in_kb")
    fail = raw.get("batch_size_fail_threshold") or raw.get("batch_size_fail_threshold_in_kb")
    result["warn_kib"] = _kib(warn) if warn is not None else None
    result["fail_kib"] = _kib(fail) if fail is not None else None
    across = raw.get("unlogged_batch_across_partitions_warn_threshold")
    if across is not None:
        result["unlogged_across_partitions_warn"] = int(across)
    return result


def _advice(limits: BatchLimits, thresholds: dict[str, Any]) -> list[str]:
    notes: list[str] = []
    warn, fail = thresholds.get("warn_kib"), thresholds.get("fail_kib")
    if fail is not None and limits.max_bytes > fail * 1024:
        notes.append(
            f"the SDK allows LOGGED batches up to {limits.max_bytes // 1024} KiB but the server "
            f"fails batches above {fail} KiB: use StoreConfig(limits=BatchLimits.cassandra()) or "
            "lower BatchLimits.max_bytes"
        )
    if warn is not None and limits.warn_bytes > warn * 1024:
        notes.append(
            f"the SDK splits UNLOGGED batches at {limits.warn_bytes // 1024} KiB but the server "
            f"warns above {warn} KiB: expect server warnings, or lower BatchLimits.warn_bytes"
        )
    return notes


def keyspace_status(session: Any, keyspace: str) -> dict[str, Any]:
    """Whether the keyspace and the SDK's tables exist, and the keyspace's replication."""
    found = _rows(
        session,
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
        (keyspace,),
    )
    if not found:
        return {
            "name": keyspace,
            "exists": False,
            "replication": None,
            "tables": dict.fromkeys(_TABLES, False),
            "ready": False,
        }
    names = {
        row[0]
        for row in _rows(
            session,
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s",
            (keyspace,),
        )
    }
    tables = {name: name in names for name in _TABLES}
    return {
        "name": keyspace,
        "exists": True,
        "replication": dict(found[0][0] or {}),
        "tables": tables,
        "ready": all(tables.values()),
    }


def round_trips(session: Any, count: int) -> dict[str, float]:
    """Round-trip latency of a tiny prepared read (``system.local``), in milliseconds."""
    prepared = session.prepare("SELECT release_version FROM system.local WHERE key = 'local'")
    session.execute(prepared)  # warm the connection
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        session.execute(prepared)
        samples.append((time.perf_counter() - started) * 1000.0)
    samples.sort()
    return {
        "count": count,
        "min_ms": samples[0],
        "p50_ms": statistics.median(samples),
        "max_ms": samples[-1],
    }


@dataclass(frozen=True)
class DoctorOptions:
    """What ``scyllabatch doctor`` checks."""

    hosts: tuple[str, ...]
    port: int
    keyspace: str
    pings: int = 20
    as_json: bool = False
    connection: StoreConfig | None = None
    """Credentials, TLS, local DC and consistency; ``hosts`` and ``port`` above take priority."""


def run_doctor(options: DoctorOptions) -> tuple[int, dict[str, Any]]:
    """Collect the report; the exit status is 1 when the server cannot be reached."""
    report: dict[str, Any] = {
        "scyllabatch": {"version": __version__, "implementation": IMPLEMENTATION},
        "driver": driver_info(),
        "target": {"hosts": list(options.hosts), "port": options.port},
    }
    config = replace(
        options.connection or StoreConfig(),
        hosts=options.hosts,
        port=options.port,
        keyspace=options.keyspace,
        create_keyspace=False,
    )
    try:
        cluster, session = _driver.connect(config)
    except StoreError as exc:
        report["error"] = str(exc)
        return 1, report
    try:
        server = server_info(session)
        report["server"] = server
        report["driver"]["connection_class"] = getattr(
            cluster.connection_class, "__name__", str(cluster.connection_class)
        )
        report["driver"]["compression"] = bool(cluster.compression)
        thresholds = batch_thresholds(session, server["product"])
        limits = config.limits
        report["batch_thresholds"] = {
            "server": thresholds,
            "sdk": {
                "max_ops": limits.max_ops,
                "warn_ops": limits.warn_ops,
                "max_kib": limits.max_bytes // 1024,
                "warn_kib": limits.warn_bytes // 1024,
            },
            "advice": _advice(limits, thresholds),
        }
        report["keyspace"] = keyspace_status(session, options.keyspace)
        report["round_trip"] = round_trips(session, options.pings)
    finally:
        cluster.shutdown()
    return 0, report


def format_report(report: dict[str, Any]) -> str:
    """The human-readable form of a doctor report."""
    sb, drv = report["scyllabatch"], report["driver"]
    lines = [
        f"scyllabatch     {sb['version']} (speedups: {sb['implementation']})",
        f"driver          {drv['distribution']} {drv['version']} "
        f"({'Cython core' if drv['cython'] else 'pure Python: no compiled core'}"
        + (f", {drv['connection_class']}" if "connection_class" in drv else "")
        + ")",
        f"target          {','.join(report['target']['hosts'])}:{report['target']['port']}",
    ]
    if "error" in report:
        lines.append(f"connection      FAILED: {report['error']}")
        return "\n".join(lines)
    srv = report["server"]
    lines.append(
        f"server          {srv['product']} {srv['release_version']} (cluster "
        f"{srv['cluster_name']!r}, dc {srv['data_center']!r}, protocol v{srv['protocol_version']})"
    )
    ks = report["keyspace"]
    if not ks["exists"]:
        lines.append(f"keyspace        {ks['name']}: missing (Store.setup() creates it)")
    else:
        missing = [name for name, ok in ks["tables"].items() if not ok]
        state = "ready" if ks["ready"] else f"missing tables {missing} (run Store.setup())"
        lines.append(f"keyspace        {ks['name']}: {state}; replication {ks['replication']}")
    bt = report["batch_thresholds"]
    server_t, sdk_t = bt["server"], bt["sdk"]
    if server_t.get("source"):
        extra = ""
        if "unlogged_across_partitions_warn" in server_t:
            extra = (
                f", warns on unlogged batches over "
                f"{server_t['unlogged_across_partitions_warn']} partitions"
            )
        lines.append(
            f"server batches  warn > {server_t['warn_kib']} KiB, fail > {server_t['fail_kib']} "
            f"KiB (from {server_t['source']}{extra})"
        )
    else:
        lines.append(f"server batches  unknown ({server_t.get('error', 'no settings table')})")
    lines.append(
        f"sdk batches     max {sdk_t['max_ops']} ops / {sdk_t['max_kib']} KiB per atomic batch; "
        f"UNLOGGED split at {sdk_t['warn_ops']} ops / {sdk_t['warn_kib']} KiB"
    )
    lines.extend(f"advice          {note}" for note in bt["advice"])
    rt = report["round_trip"]
    lines.append(
        f"round trip      p50 {rt['p50_ms']:.2f} ms (min {rt['min_ms']:.2f}, max "
        f"{rt['max_ms']:.2f}, {rt['count']} prepared reads)"
    )
    return "\n".join(lines)


def doctor_main(options: DoctorOptions) -> int:
    """Run the checks and print them; returns the exit status."""
    status, report = run_doctor(options)
    if options.as_json:
        print(json.dumps(report, indent=2, sort_keys=True, default=str))
    else:
        print(format_report(report))
    return status
