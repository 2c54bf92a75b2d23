"""``scyllabatch load`` and ``scyllabatch export``: item files in and out of a keyspace.

The load streams the file: records are read one at a time and written in calls of
``batch_size`` puts through :meth:`Store.batch`, at most ``in_flight`` calls at once, so memory
holds at most ``(in_flight + 1) * batch_size`` items whatever the file's size.

**Resume.** The checkpoint file (``FILE.checkpoint`` unless named) holds the byte offset and line
number below which every record is acknowledged by the cluster: calls finish out of order, and
the checkpoint moves only over a run of finished calls. It is rewritten atomically (a temporary
file, fsync, rename) about once a second and at the end, so a load killed at any moment leaves a
valid one. ``--resume`` continues from it and rewrites nothing below it; what was written after
it (calls that finished ahead of an earlier one) is written again, which is harmless: puts are
idempotent. A later line of the same (namespace, key) always wins, also across calls in flight:
a call waits for earlier calls that write one of its keys.

**Bad records.** Without ``--skip-bad`` the load stops at the first bad record: the records
before it are written, the checkpoint points at it, and the error names its line. Fix the line
and run again with ``--resume``. With ``--skip-bad`` every bad record is reported (line and
reason) on stderr, skipped, and counted in the summary; the exit status is then 0 if every good
record was written. ``--dry-run`` connects to nothing: it reads the whole file, checks every
record as a write would (value encoding and size limits included), and reports every bad line.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any, TextIO

from scyllabatch import Store
from scyllabatch._base import now_us
from scyllabatch._core.validation import validate_ops
from scyllabatch._impl import codec
from scyllabatch._itemfile import (
    ItemError,
    check_csv_header,
    item_line,
    parse_csv_item,
    parse_json_item,
    remaining_ttl_minutes,
)
from scyllabatch._progress import meter
from scyllabatch.config import CreatedAtMode, StoreConfig
from scyllabatch.errors import StoreValidationError
from scyllabatch.ops import PutOp
from scyllabatch.store import _pages as pages

CHECKPOINT_VERSION = 1
CHECKPOINT_EVERY_SECONDS = 1.0
# Bytes of the file's head whose hash ties a checkpoint to the file it was written for.
HEAD_BYTES = 4096
# Largest CSV field: a value may be up to the SDK's 15 MiB (as JSON text, a little more).
CSV_FIELD_LIMIT = 64 * 1024 * 1024
EXIT_FAILED = 1
EXIT_USAGE = 2


class LoadUsageError(Exception):
    """A problem with the command's input (file, checkpoint): exit status 2."""


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """Everything ``scyllabatch load`` was asked to do."""

    path: str
    format: str
    keyspace: str
    batch_size: int = 500
    in_flight: int = 4
    dry_run: bool = False
    resume: bool = False
    skip_bad: bool = False
    checkpoint: str | None = None
    create_keyspace: bool = False
    progress: bool = False
    created_at_mode: str = "exact"

    @property
    def checkpoint_path(self) -> str:
        """Where the checkpoint lives."""
        return self.checkpoint or self.path + ".checkpoint"


@dataclass(slots=True)
class Record:
    """One record of the file: its first line, where the next record starts, and its put."""

    line: int
    end_offset: int
    end_line: int
    op: PutOp | None = None
    error: str | None = None


@dataclass(slots=True)
class Position:
    """A place in the file: the byte offset and the 1-based number of the line that starts there."""

    offset: int = 0
    line: int = 1


# -- reading ---------------------------------------------------------------------------------


def _lines(handle: Any, position: Position) -> Iterator[bytes]:
    for raw in handle:
        position.offset += len(raw)
        position.line += 1
        yield raw


def _text(raw: bytes, first: bool) -> str:
    text = raw.decode("utf-8")
    return text.removeprefix("\ufeff") if first else text


def read_records(path: str, fmt: str, start: Position) -> Iterator[Record]:
    """Every record from ``start`` on, with the position after it; bad ones carry ``error``."""
    with open(path, "rb") as handle:
        columns = _csv_columns(handle) if fmt == "csv" else {}
        handle.seek(start.offset)
        position = Position(start.offset, start.line)
        if fmt == "csv":
            yield from _csv_records(handle, position, columns)
            return
        for raw in _lines(handle, position):
            line = position.line - 1
            try:
                text = _text(raw, line == 1)
            except UnicodeDecodeError as exc:
                problem = f"not UTF-8 ({exc.reason})"
                yield Record(line, position.offset, position.line, error=problem)
                continue
            if not text.strip():
                continue
            try:
                yield Record(line, position.offset, position.line, op=parse_json_item(text))
            except ItemError as exc:
                yield Record(line, position.offset, position.line, error=str(exc))


def _csv_columns(handle: Any) -> dict[str, int]:
    position = Position()
    reader = csv.reader(_text(raw, position.line == 2) for raw in _lines(handle, position))
    try:
        header = next(reader)
    except StopIteration:
        raise LoadUsageError("the CSV file is empty: it needs a header row") from None
    except UnicodeDecodeError as exc:
        raise LoadUsageError(f"the CSV header is not UTF-8 ({exc.reason})") from None
    try:
        return check_csv_header(header)
    except ItemError as exc:
        raise LoadUsageError(str(exc)) from None


def _csv_records(handle: Any, position: Position, columns: dict[str, int]) -> Iterator[Record]:
    csv.field_size_limit(CSV_FIELD_LIMIT)
    if position.offset == 0:
        handle.readline()  # the header
        position.offset = handle.tell()
        position.line = 2
    reader = csv.reader(raw.decode("utf-8") for raw in _lines(handle, position))
    while True:
        line = position.line
        try:
            row = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            # the reader cannot resync inside a broken record: stop here, with the line
            raise LoadUsageError(f"line {position.line - 1} is not UTF-8 ({exc.reason})") from None
        except csv.Error as exc:
            raise LoadUsageError(f"line {position.line - 1}: not valid CSV ({exc})") from None
        if not row:
            continue
        try:
            op = parse_csv_item(row, columns)
        except ItemError as exc:
            yield Record(line, position.offset, position.line, error=str(exc))
        else:
            yield Record(line, position.offset, position.line, op=op)


def count_records(path: str) -> int:
    """Lines of the file (a cheap estimate of its records, for the ETA)."""
    lines = 0
    last = b"\n"
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


# -- the checkpoint --------------------------------------------------------------------------


def file_head(path: str, below: int) -> str:
    """Hash of the file's first bytes below ``below``: a checkpoint fits only its own file.

    Only bytes below the checkpoint count, so fixing the bad line a load stopped at (which lies
    after it) keeps the checkpoint valid.
    """
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read(min(HEAD_BYTES, below))).hexdigest()


@dataclass(slots=True)
class Checkpoint:
    """Everything below ``offset`` / ``line`` of ``file`` is in ``keyspace``."""

    file: str
    format: str
    keyspace: str
    head: str
    offset: int = 0
    line: int = 1
    rows: int = 0
    bad_lines: int = 0
    complete: bool = False
    version: int = CHECKPOINT_VERSION

    def save(self, path: str) -> None:
        """Write it atomically: readers see the old checkpoint or the new one, never half."""
        directory = os.path.dirname(os.path.abspath(path))
        temporary = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(
                {name: getattr(self, name) for name in self.__dataclass_fields__}, handle, indent=1
            )
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    @classmethod
    def read(cls, path: str) -> Checkpoint:
        """The checkpoint at ``path``; :class:`LoadUsageError` if it is not one."""
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            if data.get("version") != CHECKPOINT_VERSION:
                raise ValueError(f"version {data.get('version')!r}")
            return cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise LoadUsageError(f"{path} is not a load checkpoint ({exc})") from None


def _start(options: LoadOptions) -> Checkpoint:
    """The checkpoint to start from: a fresh one, or the one ``--resume`` continues."""
    fresh = Checkpoint(
        file=os.path.abspath(options.path),
        format=options.format,
        keyspace=options.keyspace,
        head=file_head(options.path, 0),
    )
    exists = os.path.exists(options.checkpoint_path)
    if not options.resume:
        if exists and not Checkpoint.read(options.checkpoint_path).complete:
            raise LoadUsageError(
                f"{options.checkpoint_path} holds the checkpoint of an unfinished load: pass "
                "--resume to continue it, or delete it to start over"
            )
        return fresh
    if not exists:
        raise LoadUsageError(f"--resume: there is no checkpoint at {options.checkpoint_path}")
    saved = Checkpoint.read(options.checkpoint_path)
    if saved.offset > os.path.getsize(options.path):
        raise LoadUsageError(f"--resume: {options.path} is shorter than the checkpoint says")
    fresh.head = file_head(options.path, saved.offset)
    for name in ("file", "format", "keyspace", "head"):
        if getattr(saved, name) != getattr(fresh, name):
            what = "its first bytes" if name == "head" else f"{name} {getattr(saved, name)!r}"
            raise LoadUsageError(
                f"--resume: {options.checkpoint_path} belongs to another load ({what} differ): "
                "name the same file, format and keyspace, or delete the checkpoint"
            )
    return saved


# -- writing ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Chunk:
    """The puts of one call and the lines they came from; ``end`` is where the next call starts."""

    ops: list[PutOp] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    end: Position = field(default_factory=Position)
    keys: set[tuple[tuple[str, ...], str]] = field(default_factory=set)
    bad: list[tuple[int, str]] = field(default_factory=list)
    failure: BaseException | None = None


def _problem(error: StoreValidationError) -> str:
    """The validation problem without the batch framing (``op 3 (PutOp)``, ``nothing ...``)."""
    text = str(error).removesuffix("; nothing of the batch was sent")
    prefix = f"op {error.op_index} (PutOp) "
    return text.removeprefix(prefix)


def check_chunk(chunk: Chunk, write: Any, skip_bad: bool) -> None:
    """Run ``write(ops)`` for the chunk's puts, taking out bad ones when ``skip_bad``.

    ``write`` validates every op before sending anything (``Store.batch`` or the dry run's
    validation), so a bad put costs nothing but a second try of the others.
    """
    ops, lines = chunk.ops, chunk.lines
    while ops:
        try:
            write(ops)
            return
        except StoreValidationError as exc:
            if exc.op_index is None or exc.op_index >= len(ops):
                raise
            chunk.bad.append((lines[exc.op_index], _problem(exc)))
            if not skip_bad:
                return
            ops = ops[: exc.op_index] + ops[exc.op_index + 1 :]
            lines = lines[: exc.op_index] + lines[exc.op_index + 1 :]


class Loader:
    """Reads records, writes them in bounded calls, keeps the checkpoint; see the module."""

    def __init__(self, options: LoadOptions, start: Checkpoint, write: Any, err: TextIO) -> None:
        self.options = options
        self.checkpoint = start
        self.write = write
        self.err = err
        self.pending: deque[tuple[Chunk, Future[None]]] = deque()
        self.busy: dict[tuple[tuple[str, ...], str], Chunk] = {}
        self.written = 0
        self.bad = 0
        self.failure: str | None = None  # why the load stopped early
        self.halted = False  # a call failed: later calls no longer move the checkpoint
        self.saved_at = time.monotonic()
        total = count_records(options.path) if options.progress else None
        header = 1 if options.format == "csv" else 0
        self.progress = meter(
            None if total is None else max(total - header, 0),
            "rows",
            enabled=options.progress,
            initial=max(start.line - 1 - header, 0),
        )

    def run(self) -> None:
        """Load from the checkpoint to the end of the file, or to the first failure."""
        options = self.options
        chunk = Chunk(end=Position(self.checkpoint.offset, self.checkpoint.line))
        with ThreadPoolExecutor(max_workers=options.in_flight) as pool:
            try:
                for record in read_records(options.path, options.format, chunk.end):
                    if record.error is not None:
                        self._report_bad(record.line, record.error)
                        if not options.skip_bad:
                            # the records before it are written; the checkpoint stops at it
                            self.failure = f"line {record.line}: {record.error}"
                            break
                    else:
                        assert record.op is not None
                        chunk.ops.append(record.op)
                        chunk.lines.append(record.line)
                    chunk.end = Position(record.end_offset, record.end_line)
                    if len(chunk.ops) >= options.batch_size:
                        self._submit(pool, chunk)
                        chunk = Chunk(end=chunk.end)
                    if self.failure is not None:
                        break
                if self.failure is None or chunk.ops:
                    self._submit(pool, chunk)
                while self.pending:
                    self._harvest(wait_for_one=True)
            finally:
                for _, future in self.pending:  # interrupted: nothing new starts
                    future.cancel()
                self.progress.close()
        self.checkpoint.complete = self.failure is None
        self._save()

    def _submit(self, pool: ThreadPoolExecutor, chunk: Chunk) -> None:
        chunk.keys = {(op.namespace, op.key) for op in chunk.ops}
        # a later line of a key must win: wait for calls in flight that write one of its keys
        # (finished calls behind an unfinished first one wait to be taken in: at most as many)
        while self.pending and (
            self._running() >= self.options.in_flight
            or len(self.pending) >= 2 * self.options.in_flight
            or any(key in self.busy for key in chunk.keys)
        ):
            self._harvest(wait_for_one=True)
        for key in chunk.keys:
            self.busy[key] = chunk
        self.pending.append((chunk, pool.submit(self._write, chunk)))
        self._harvest(wait_for_one=False)

    def _running(self) -> int:
        return sum(1 for _, future in self.pending if not future.done())

    def _write(self, chunk: Chunk) -> None:
        try:
            check_chunk(chunk, self.write, self.options.skip_bad)
        except BaseException as exc:  # reported by the main thread
            chunk.failure = exc

    def _harvest(self, *, wait_for_one: bool) -> None:
        """Take in finished calls; the checkpoint moves over the run of finished first ones."""
        running = [future for _, future in self.pending if not future.done()]
        if wait_for_one and running:
            wait(running, return_when=FIRST_COMPLETED)  # blocks: never a busy loop
        for chunk, future in self.pending:
            if future.done() and chunk.keys:
                for key in chunk.keys:
                    if self.busy.get(key) is chunk:
                        del self.busy[key]
                chunk.keys = set()
        while self.pending and self.pending[0][1].done():
            chunk, _ = self.pending.popleft()
            if self.halted:
                continue
            for line, problem in chunk.bad:
                self._report_bad(line, problem)
            if chunk.failure is not None or (chunk.bad and not self.options.skip_bad):
                if chunk.failure is not None:
                    self.failure = f"{type(chunk.failure).__name__}: {chunk.failure}"
                else:
                    self.failure = f"line {chunk.bad[0][0]}: {chunk.bad[0][1]}"
                self.halted = True
                continue
            good = len(chunk.ops) - len(chunk.bad)
            self.written += good
            self.checkpoint.rows += good
            self.checkpoint.bad_lines += len(chunk.bad)
            self.progress.update(chunk.end.line - self.checkpoint.line)
            self.checkpoint.offset = chunk.end.offset
            self.checkpoint.line = chunk.end.line
        if time.monotonic() - self.saved_at >= CHECKPOINT_EVERY_SECONDS:
            self._save()

    def _report_bad(self, line: int, problem: str) -> None:
        self.bad += 1
        verb = "bad" if self.options.skip_bad else "stopped at"
        print(f"scyllabatch load: {verb} line {line}: {problem}", file=self.err)

    def _save(self) -> None:
        if not self.options.dry_run:
            checkpoint = self.checkpoint
            checkpoint.head = file_head(self.options.path, checkpoint.offset)
            checkpoint.save(self.options.checkpoint_path)
        self.saved_at = time.monotonic()


def load_main(
    options: LoadOptions,
    connection: StoreConfig,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run ``scyllabatch load``; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    if options.dry_run:
        options = replace(options, skip_bad=True, resume=False)
        start = Checkpoint(file=options.path, format=options.format, keyspace="", head="")
        limit = connection.limits.max_value_bytes

        def validate(ops: list[PutOp]) -> None:
            validate_ops(ops, codec, max_value_bytes=limit)

        return _finish(Loader(options, start, validate, err), out, err)
    start = _start(options)
    if start.complete:
        print(
            f"{options.path}: already loaded ({start.rows:,} rows, {start.bad_lines} bad lines; "
            f"checkpoint {options.checkpoint_path})",
            file=out,
        )
        return 0
    config = replace(
        connection,
        keyspace=options.keyspace,
        create_keyspace=options.create_keyspace,
        created_at_mode=CreatedAtMode(options.created_at_mode),
    )
    with Store.connect(config=config) as store:
        store.setup()  # creates only what is missing; never alters an existing table
        loader = Loader(options, start, store.batch, err)
        return _finish(loader, out, err)


def _finish(loader: Loader, out: TextIO, err: TextIO) -> int:
    options = loader.options
    started = time.perf_counter()
    try:
        loader.run()
    except KeyboardInterrupt:
        loader._save()  # what was acknowledged so far
        print(
            f"scyllabatch load: interrupted after {loader.written:,} rows; run again with "
            f"--resume to continue from line {loader.checkpoint.line}",
            file=err,
        )
        return 130
    elapsed = max(time.perf_counter() - started, 1e-9)
    rate = loader.written / elapsed
    verb = "checked" if options.dry_run else "loaded"
    print(
        f"{verb} {loader.written:,} rows from {options.path} in {elapsed:.1f} s "
        f"({rate:,.0f} rows/s); bad lines: {loader.bad:,}"
        + ("" if options.dry_run else f"; checkpoint {options.checkpoint_path}"),
        file=out,
    )
    if loader.failure is not None:
        print(
            f"scyllabatch load: stopped: {loader.failure}. Every line before line "
            f"{loader.checkpoint.line} is written; fix the problem and run again with --resume",
            file=err,
        )
        return EXIT_FAILED
    if options.dry_run and loader.bad:
        return EXIT_FAILED
    return 0


# -- export ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """Everything ``scyllabatch export`` was asked to do."""

    keyspace: str
    prefix: tuple[str, ...]
    output: str  # a path, or "-" for stdout
    filter: dict[str, Any] | None = None
    page_size: int = 1000
    overwrite: bool = False
    progress: bool = False


def export_main(
    options: ExportOptions,
    connection: StoreConfig,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run ``scyllabatch export``; returns the exit status."""
    err = err or sys.stderr
    config = replace(connection, keyspace=options.keyspace, create_keyspace=False)
    started = time.perf_counter()
    count = 0
    with Store.connect(config=config) as store:
        iteration = store._search_iteration(options.prefix, options.filter, options.page_size)
        target, close = _output(options, out)
        progress = meter(None, "rows", enabled=options.progress)
        try:
            for found in pages(store._stream(iteration)):
                now = now_us()
                lines = [
                    item_line(
                        item.namespace,
                        item.key,
                        item.value,
                        remaining_ttl_minutes(row.ttl_seconds, row.writetime_us, now),
                    )
                    for item, row in zip(found.items, found.rows, strict=True)
                ]
                target.write("\n".join(lines) + "\n")
                count += len(lines)
                progress.update(len(lines))
        except ItemError as exc:
            raise LoadUsageError(str(exc)) from None
        finally:
            progress.close()
            close()
    elapsed = max(time.perf_counter() - started, 1e-9)
    where = "stdout" if options.output == "-" else options.output
    print(
        f"exported {count:,} rows to {where} in {elapsed:.1f} s ({count / elapsed:,.0f} rows/s)",
        file=err,
    )
    return 0


def _output(options: ExportOptions, out: TextIO | None) -> tuple[Any, Any]:
    if options.output == "-":
        target = out or sys.stdout
        return target, target.flush
    mode = "w" if options.overwrite else "x"
    try:
        handle = open(options.output, mode, encoding="utf-8")  # noqa: SIM115 - closed by caller
    except FileExistsError:
        raise LoadUsageError(
            f"{options.output} exists: export never overwrites a file unless --overwrite is given"
        ) from None
    return handle, handle.close
