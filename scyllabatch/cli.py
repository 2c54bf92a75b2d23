"""The ``scyllabatch`` command line: ``demo``, ``bench``, ``doctor``, ``load`` and ``export``.

Every command connects the same way: ``--hosts`` (entries may carry their own port, as
``host:port`` or ``[ipv6]:port``), ``--port``, ``--username`` with the password read from
``SCYLLABATCH_PASSWORD`` or typed at a prompt (never given as a flag, so it stays out of shell
history and process lists), TLS (``--ssl-ca``, ``--ssl-cert``, ``--ssl-key``), ``--local-dc`` and
``--consistency``. Environment variables give the defaults of the connection options.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import ssl
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from cassandra import DriverException, OperationTimedOut, RequestExecutionException
from cassandra.cluster import NoHostAvailable

from scyllabatch import IMPLEMENTATION, GetOp, PutOp, Store, StoreConfig, __version__
from scyllabatch._driver import contact_point
from scyllabatch._scratch import KeyspaceExistsError, fresh_name, replication_for, scratch_keyspace
from scyllabatch.errors import StoreError

__all__ = ["PASSWORD_ENV", "build_parser", "connection_config", "main"]

HOSTS_ENV = "SCYLLABATCH_HOSTS"
PORT_ENV = "SCYLLABATCH_PORT"
USERNAME_ENV = "SCYLLABATCH_USERNAME"
PASSWORD_ENV = "SCYLLABATCH_PASSWORD"
CONSISTENCY_LEVELS = (
    "ANY",
    "ONE",
    "TWO",
    "THREE",
    "QUORUM",
    "ALL",
    "LOCAL_QUORUM",
    "EACH_QUORUM",
    "LOCAL_ONE",
)
EXIT_USAGE = 2

DESCRIPTION = """\
scyllabatch runs batches of key-value operations against ScyllaDB and Apache Cassandra.
These commands try it against a cluster:

  demo     write a batch of items, read them back, print what happened
  bench    the SDK next to hand-written driver code: latency and throughput per batch size
  doctor   driver and speedups, server release and batch thresholds, keyspace, round trips
  load     write the items of a JSON Lines or CSV file, with progress and resume
  export   write every item under a namespace prefix as JSON Lines

Run `scyllabatch COMMAND --help` for the options of one command."""

CONNECTION_EPILOG = f"""\
environment:
  {HOSTS_ENV}     default of --hosts
  {PORT_ENV}      default of --port
  {USERNAME_ENV}  default of --username
  {PASSWORD_ENV}  the password for --username (else it is asked at a prompt)"""


class UsageError(Exception):
    """A bad option or environment value: printed as one line, exit status 2."""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the descriptions' line breaks and shows defaults, except empty ones."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, False) or "%(default)" in text:
            return text
        return super()._get_help_string(action)


# -- option types --------------------------------------------------------------------------------


def _port_number(value: str) -> int:
    text = value.strip()
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"not a port number (1-65535): {value!r}")
    return int(text)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {number}")
    return number


def _sizes(value: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of ints: {value!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("batch sizes must be positive ints")
    return sizes


def _readable_file(value: str) -> str:
    if not os.path.isfile(value) or not os.access(value, os.R_OK):
        raise argparse.ArgumentTypeError(f"no readable file at {value!r}")
    return value


def _hosts(value: str) -> tuple[str, ...]:
    hosts = tuple(part.strip() for part in value.split(",") if part.strip())
    if not hosts:
        raise argparse.ArgumentTypeError("give at least one host")
    for host in hosts:
        try:
            contact_point(host, 9042)
        except StoreError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return hosts


# -- connection settings -------------------------------------------------------------------------


def _env_default(
    name: str, convert: Callable[[str], Any], fallback: str, environ: dict[str, str]
) -> str:
    """The text of environment variable ``name`` (checked with ``convert``), or ``fallback``.

    argparse converts a ``str`` default with the option's type, and shows it in ``--help``.
    """
    raw = environ.get(name, "").strip()
    if not raw:
        return fallback
    try:
        convert(raw)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"environment variable {name}={raw!r} is not valid: {exc}") from None
    return raw


def _add_connection_options(parser: argparse.ArgumentParser, environ: dict[str, str]) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--hosts",
        type=_hosts,
        default=_env_default(HOSTS_ENV, _hosts, "127.0.0.1", environ),
        metavar="HOST[,HOST...]",
        help="contact points, comma-separated; each may carry its port: host:port, [ipv6]:port",
    )
    group.add_argument(
        "--port",
        type=_port_number,
        default=_env_default(PORT_ENV, _port_number, "9042", environ),
        help="CQL port of the hosts that do not give one",
    )
    group.add_argument(
        "--username",
        default=environ.get(USERNAME_ENV) or None,
        help=f"log in as this role; the password comes from ${PASSWORD_ENV} or a prompt",
    )
    group.add_argument(
        "--ssl", action="store_true", help="use TLS, trusting the system's certificate authorities"
    )
    group.add_argument(
        "--ssl-ca",
        type=_readable_file,
        metavar="FILE",
        help="use TLS, trusting the certificate authorities in this PEM file",
    )
    group.add_argument(
        "--ssl-cert",
        type=_readable_file,
        metavar="FILE",
        help="client certificate (PEM) for clusters that require one; implies TLS",
    )
    group.add_argument(
        "--ssl-key",
        type=_readable_file,
        metavar="FILE",
        help="private key of --ssl-cert (PEM), when it is not in the certificate file",
    )
    group.add_argument(
        "--ssl-no-hostname-check",
        action="store_true",
        help="verify the server's certificate against the CA but not its host name",
    )
    group.add_argument(
        "--local-dc",
        metavar="DC",
        help="data center whose nodes coordinate requests (default: the first contact point's)",
    )
    group.add_argument(
        "--consistency",
        type=str.upper,
        choices=CONSISTENCY_LEVELS,
        default="LOCAL_QUORUM",
        metavar="LEVEL",
        help=f"consistency level of reads and writes, one of {', '.join(CONSISTENCY_LEVELS)}",
    )


def tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The ``ssl.SSLContext`` the TLS options ask for, or ``None`` for a plain connection."""
    if args.ssl_key and not args.ssl_cert:
        raise UsageError("--ssl-key needs --ssl-cert (the certificate that goes with the key)")
    if not (args.ssl or args.ssl_ca or args.ssl_cert):
        if args.ssl_no_hostname_check:
            raise UsageError("--ssl-no-hostname-check needs TLS (--ssl, --ssl-ca or --ssl-cert)")
        return None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=args.ssl_ca)
        if args.ssl_cert:
            context.load_cert_chain(args.ssl_cert, args.ssl_key)
    except (ssl.SSLError, OSError) as exc:
        raise UsageError(f"cannot use the TLS files: {exc}") from None
    if args.ssl_no_hostname_check:
        context.check_hostname = False
    return context


def _password(username: str, environ: dict[str, str], prompt: Callable[[str], str] | None) -> str:
    if PASSWORD_ENV in environ:
        return environ[PASSWORD_ENV]
    if prompt is None:
        if not sys.stdin.isatty():
            raise UsageError(
                f"--username {username} needs a password: set {PASSWORD_ENV} (there is no "
                "terminal to ask it at)"
            )
        prompt = getpass.getpass
    return prompt(f"password for {username}: ")


def connection_config(
    args: argparse.Namespace,
    environ: dict[str, str] | None = None,
    prompt: Callable[[str], str] | None = None,
) -> StoreConfig:
    """The :class:`StoreConfig` of the connection options (keyspace left at its default).

    The password is taken from ``SCYLLABATCH_PASSWORD`` in ``environ`` (default
    ``os.environ``), else asked with ``prompt`` (default: ``getpass`` when stdin is a terminal).
    """
    env = dict(os.environ if environ is None else environ)
    context = tls_context(args)  # bad TLS options fail before the password is asked
    password = _password(args.username, env, prompt) if args.username else None
    return StoreConfig(
        hosts=args.hosts,
        port=args.port,
        username=args.username,
        password=password,
        ssl_context=context,
        local_dc=args.local_dc,
        read_consistency=args.consistency,
        write_consistency=args.consistency,
    )


# -- commands ------------------------------------------------------------------------------------


def _demo(args: argparse.Namespace, config: StoreConfig) -> int:
    keyspace = args.keyspace or fresh_name("demo")
    print(f"scyllabatch {__version__} (speedups: {IMPLEMENTATION})")
    config = replace(config, keyspace=keyspace, create_keyspace=False)
    with Store.connect(config=config) as store:
        replication = replication_for(config.local_dc)
        with scratch_keyspace(
            store.session, keyspace, replication, tool="demo", keep=args.keep_keyspace
        ):
            kept = " (kept)" if args.keep_keyspace else " (dropped at the end)"
            print(f"created keyspace {keyspace}{kept}")
            return _demo_round_trip(store, args.ops)


def _demo_round_trip(store: Store, count: int) -> int:
    store.setup()
    namespaces = [("demo", "tenant", str(t)) for t in range(4)]
    ops = [
        PutOp(namespaces[i % 4], f"memory-{i}", {"text": f"fact {i}", "n": i}) for i in range(count)
    ]
    started = time.perf_counter()
    store.batch(ops)
    wrote = time.perf_counter() - started
    print(
        f"wrote {len(ops)} items over {min(count, len(namespaces))} namespaces with one "
        f"UNLOGGED batch() call in {wrote * 1000:.1f} ms"
    )
    started = time.perf_counter()
    items = store.batch([GetOp(op.namespace, op.key) for op in ops])
    read = time.perf_counter() - started
    found = [item for item in items if item is not None]
    print(
        f"read them back with one batch() of {len(ops)} GetOps in {read * 1000:.1f} ms: "
        f"{len(found)}/{len(ops)} found"
    )
    if found:
        sample = found[0]
        print(
            f"sample: {sample.namespace} {sample.key} -> {sample.value} "
            f"(created {sample.created_at.isoformat()})"
        )
    stats = store.get_metrics()["batch_stats"]
    print(
        f"metrics: {stats['total_batches']} calls, {stats['unlogged_batches']} unlogged "
        f"partition batches, {stats['read_requests']} read requests"
    )
    return 0 if len(found) == len(ops) else 1


def _bench(args: argparse.Namespace, config: StoreConfig) -> int:
    from scyllabatch._bench import BenchOptions, bench_main

    progress = _show_progress(args.progress)
    try:
        options = BenchOptions(
            hosts=tuple(args.hosts),
            port=args.port,
            keyspace=args.keyspace,
            keep_keyspace=args.keep_keyspace,
            mode=args.mode,
            total_ops=args.total_ops,
            namespaces=args.namespaces,
            batch_sizes=args.batch_sizes,
            layout=args.layout,
            rounds=args.rounds,
            value_bytes=args.value_bytes,
            concurrency=args.concurrency,
            in_flight=args.in_flight,
            reads=not args.no_reads,
            progress=progress,
            as_json=args.json,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return bench_main(options, connection=config)


def _doctor(args: argparse.Namespace, config: StoreConfig) -> int:
    from scyllabatch._doctor import DoctorOptions, doctor_main

    return doctor_main(
        DoctorOptions(
            hosts=tuple(args.hosts),
            port=args.port,
            keyspace=args.keyspace,
            pings=args.pings,
            as_json=args.json,
            connection=config,
        )
    )


def _namespace_prefix(value: str) -> tuple[str, ...]:
    return tuple(value.split(".")) if value else ()


def _json_object(value: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc.msg})") from None
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError('must be a JSON object, e.g. \'{"score": {"$gte": 5}}\'')
    return parsed


def _show_progress(choice: str) -> bool:
    return {"on": True, "off": False}.get(choice, sys.stderr.isatty())


def _load(args: argparse.Namespace, config: StoreConfig) -> int:
    from scyllabatch._itemfile import format_of
    from scyllabatch._load import LoadOptions, LoadUsageError, load_main

    if args.dry_run and args.resume:
        raise UsageError("--dry-run checks the whole file: it does not take --resume")
    options = LoadOptions(
        path=args.file,
        format=args.format or format_of(args.file),
        keyspace=args.keyspace,
        batch_size=args.batch_size,
        in_flight=args.in_flight,
        dry_run=args.dry_run,
        resume=args.resume,
        skip_bad=args.skip_bad,
        checkpoint=args.checkpoint,
        create_keyspace=args.create_keyspace,
        progress=_show_progress(args.progress),
        created_at_mode=args.created_at,
    )
    try:
        return load_main(options, config)
    except LoadUsageError as exc:
        raise UsageError(str(exc)) from None


def _export(args: argparse.Namespace, config: StoreConfig) -> int:
    from scyllabatch._load import ExportOptions, LoadUsageError, export_main

    options = ExportOptions(
        keyspace=args.keyspace,
        prefix=args.prefix,
        output=args.output,
        filter=args.filter,
        page_size=args.page_size,
        overwrite=args.overwrite,
        progress=_show_progress(args.progress),
    )
    try:
        return export_main(options, config)
    except LoadUsageError as exc:
        raise UsageError(str(exc)) from None


def build_parser(environ: dict[str, str] | None = None) -> argparse.ArgumentParser:
    """The argument parser; defaults of the connection options come from ``environ``.

    Raises :class:`UsageError` when one of those environment variables is not valid.
    """
    env = dict(os.environ if environ is None else environ)
    parser = argparse.ArgumentParser(
        prog="scyllabatch", description=DESCRIPTION, formatter_class=_HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"scyllabatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(
            name,
            help=summary,
            description=textwrap.fill(description, 88),
            epilog=CONNECTION_EPILOG,
            formatter_class=_HelpFormatter,
        )
        _add_connection_options(cmd, env)
        return cmd

    demo = command(
        "demo",
        "write a batch, read it back, print what happened",
        "Creates a fresh keyspace, writes --ops items over four namespaces with one UNLOGGED "
        "batch() call, reads them back with one batch() of GetOps, prints the timings and the "
        "store's metrics, and drops the keyspace. It never touches an existing keyspace: a "
        "--keyspace that already exists is refused.",
    )
    demo.add_argument(
        "--keyspace", help="name of the keyspace to create (default: a fresh random name)"
    )
    demo.add_argument(
        "--keep-keyspace", action="store_true", help="do not drop the keyspace afterwards"
    )
    demo.add_argument("--ops", type=_positive, default=200, help="number of items to write")
    demo.set_defaults(func=_demo)

    bench = command(
        "bench",
        "batch sizes x UNLOGGED/LOGGED latency and throughput, next to the raw driver",
        "Runs the same puts through the SDK and through hand-written driver code (one "
        "BatchStatement per call; execute_concurrent_with_args of single inserts) in the same "
        "run, and prints SDK / raw ratios. Creates its own keyspace and drops it afterwards; a "
        "--keyspace that already exists is refused and left untouched.",
    )
    bench.add_argument(
        "--keyspace", help="name of the keyspace to create (default: a fresh random name)"
    )
    bench.add_argument(
        "--keep-keyspace", action="store_true", help="do not drop the keyspace afterwards"
    )
    bench.add_argument("--mode", choices=("sync", "async"), default="sync", help="SDK facade")
    bench.add_argument(
        "--total-ops", type=_positive, default=10_000, help="puts per contestant and batch size"
    )
    bench.add_argument(
        "--namespaces", type=_positive, default=100, help="namespaces (partitions) written"
    )
    bench.add_argument(
        "--batch-sizes",
        type=_sizes,
        default="10,100",
        help="comma-separated ops per call",
    )
    bench.add_argument(
        "--layout",
        choices=("spread", "grouped", "shared-key"),
        default="spread",
        help="spread: op i goes to namespace i mod N, so a call spans many namespaces; "
        "grouped: each namespace gets a contiguous run of ops; shared-key: as spread, but "
        "the ops of one pass over the namespaces write the same key (a profile per user)",
    )
    bench.add_argument(
        "--rounds", type=_positive, default=3, help="interleaved rounds per batch size"
    )
    bench.add_argument(
        "--value-bytes", type=_positive, default=100, help="approximate value size in bytes"
    )
    bench.add_argument(
        "--concurrency",
        type=_positive,
        default=64,
        help="requests in flight (SDK max_concurrency and execute_concurrent)",
    )
    bench.add_argument(
        "--in-flight",
        type=_positive,
        default=1,
        help="calls in flight at once, per contestant: threads in sync mode, tasks in async mode "
        "(raw batches then have as many execute_async requests in flight); default 1",
    )
    bench.add_argument(
        "--no-reads", action="store_true", help="skip the GetOp / raw SELECT comparison"
    )
    bench.add_argument("--json", action="store_true", help="print the report as JSON")
    bench.add_argument(
        "--progress",
        choices=("auto", "on", "off"),
        default="auto",
        help="progress bar on stderr (auto: when stderr is a terminal)",
    )
    bench.set_defaults(func=_bench)

    doctor = command(
        "doctor",
        "driver build, server release and batch thresholds, keyspace, latency",
        "Connects and reports: the installed driver (and whether its Cython core is loaded), "
        "scyllabatch's speedups, the server's product and release, its batch size thresholds "
        "next to the SDK's limits (with advice when they disagree), whether a keyspace and the "
        "SDK's tables exist, and the round-trip time of a tiny prepared read. Read-only: it "
        "creates and changes nothing. Exit status 1 when the cluster cannot be reached.",
    )
    doctor.add_argument(
        "--keyspace",
        default=env.get("SCYLLABATCH_KEYSPACE") or "scyllabatch",
        help="keyspace whose tables to check (env SCYLLABATCH_KEYSPACE)",
    )
    doctor.add_argument("--pings", type=_positive, default=20, help="round trips to time")
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    doctor.set_defaults(func=_doctor)

    keyspace_default = env.get("SCYLLABATCH_KEYSPACE") or "scyllabatch"
    progress_help = (
        "progress on stderr: a bar with the cli extra (pip install 'scyllabatch[cli]'), else a "
        "line every few seconds (auto: when stderr is a terminal)"
    )
    load = command(
        "load",
        "write the items of a JSON Lines or CSV file",
        "Streams FILE (one item per record: namespace, key, value, optional ttl in minutes; "
        "see docs/bulk-load.md) into the keyspace with batch() calls, at most --in-flight "
        "calls of --batch-size items at once, so memory stays bounded whatever the file's "
        "size. The checkpoint file (FILE.checkpoint unless --checkpoint) records the line below "
        "which everything is written; after an interruption --resume continues from it. A bad "
        "record stops the load (the records before it are written, the error names its line), "
        "unless --skip-bad. --dry-run checks every record and writes nothing. The tables are "
        "created if missing; the keyspace must exist unless --create-keyspace. Nothing is "
        "altered or dropped.",
    )
    load.add_argument("file", type=_readable_file, metavar="FILE", help="the items to load")
    load.add_argument(
        "--format",
        choices=("jsonl", "csv"),
        help="file format (default: csv for *.csv, else jsonl)",
    )
    load.add_argument(
        "--keyspace",
        default=keyspace_default,
        help="keyspace to load into (env SCYLLABATCH_KEYSPACE)",
    )
    load.add_argument(
        "--create-keyspace",
        action="store_true",
        help="create the keyspace if it does not exist (SimpleStrategy, replication factor 1)",
    )
    load.add_argument("--batch-size", type=_positive, default=500, help="items per batch() call")
    load.add_argument(
        "--created-at",
        choices=("exact", "write_only"),
        default="exact",
        help="exact: an item already stored keeps its created_at (one read per namespace of "
        "each call, shared by namespaces written with the same keys); write_only: no read, "
        "created_at is the load's write time (fresh data)",
    )
    load.add_argument(
        "--in-flight", type=_positive, default=4, help="batch() calls running at once"
    )
    load.add_argument(
        "--dry-run",
        action="store_true",
        help="check every record (as a write would) and report each bad line; write nothing",
    )
    load.add_argument(
        "--resume", action="store_true", help="continue an interrupted load from its checkpoint"
    )
    load.add_argument(
        "--skip-bad",
        action="store_true",
        help="report bad records (line and reason) and go on, instead of stopping at the first",
    )
    load.add_argument(
        "--checkpoint", metavar="FILE", help="checkpoint file (default FILE.checkpoint)"
    )
    load.add_argument(
        "--progress", choices=("auto", "on", "off"), default="auto", help=progress_help
    )
    load.set_defaults(func=_load)

    export = command(
        "export",
        "write every item under a namespace prefix as JSON Lines",
        "Streams every item under --prefix (whole labels; empty: every namespace) matching "
        "--filter, page by page, as JSON Lines that `scyllabatch load` reads back: namespace, "
        "key, value, and ttl (the minutes the item still has to live) for items that expire. "
        "Read-only; it never overwrites an existing --output file unless --overwrite.",
    )
    export.add_argument(
        "--prefix",
        type=_namespace_prefix,
        default="",
        metavar="LABEL[.LABEL...]",
        help="namespace prefix, labels joined with '.' (default: every namespace)",
    )
    export.add_argument(
        "--filter", type=_json_object, metavar="JSON", help="the filter of search(), as JSON"
    )
    export.add_argument(
        "--output", default="-", metavar="FILE", help="where to write (- for stdout)"
    )
    export.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    export.add_argument(
        "--keyspace", default=keyspace_default, help="keyspace to read (env SCYLLABATCH_KEYSPACE)"
    )
    export.add_argument("--page-size", type=_positive, default=1000, help="rows per request")
    export.add_argument(
        "--progress", choices=("auto", "on", "off"), default="auto", help=progress_help
    )
    export.set_defaults(func=_export)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: dict[str, str] | None = None,
    prompt: Callable[[str], str] | None = None,
) -> int:
    """Entry point of the ``scyllabatch`` command; returns the exit status.

    ``environ`` (default ``os.environ``) and ``prompt`` (default ``getpass`` on a terminal)
    exist for tests and embedding.
    """
    try:
        parser = build_parser(environ)
    except UsageError as exc:
        print(f"scyllabatch: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(argv)
    try:
        config = connection_config(args, environ, prompt)
        result: int = args.func(args, config)
    except UsageError as exc:
        print(f"scyllabatch {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyspaceExistsError as exc:
        print(f"scyllabatch {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StoreError as exc:
        print(f"scyllabatch {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except (DriverException, RequestExecutionException, OperationTimedOut, NoHostAvailable) as exc:
        # a query of the tool itself (not of the SDK) failed, e.g. a role that may not read
        # the system tables doctor looks at: one line, not a traceback
        print(
            f"scyllabatch {args.command}: the cluster refused or failed a request: "
            f"{type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print(f"scyllabatch {args.command}: interrupted", file=sys.stderr)
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
