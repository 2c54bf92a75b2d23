"""Processes and files on this machine: finding, measuring and ending Cassandra daemons through
``/proc`` and signals, tails of log files, the advisory lock that serializes start and stop, and
the cache directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from ._node_base import MAIN_CLASS, NodeError, say


def proc_cmdline(pid: int) -> list[str]:
    """Return the command line of ``pid`` (empty if gone, a zombie, or unreadable)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_cassandra(pid: int, node_dir: Path | None = None) -> bool:
    """True if ``pid`` is a live Cassandra daemon (optionally: the one of ``node_dir``)."""
    args = proc_cmdline(pid)
    if MAIN_CLASS not in args:
        return False
    return node_dir is None or f"-Dcassandra.storagedir={node_dir}" in args


def find_node_pids(node_dir: Path) -> list[int]:
    """All live Cassandra daemons started for ``node_dir`` (also those whose pid file is lost)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and is_cassandra(int(entry.name), node_dir):
            pids.append(int(entry.name))
    return sorted(pids)


def rss_bytes(pid: int) -> int | None:
    """Resident memory of ``pid`` from /proc (None if unknown)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def terminate(pid: int, timeout: float) -> None:
    """SIGTERM ``pid``, wait up to ``timeout`` seconds, then SIGKILL it."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):  # reap it if it is our own child
                os.waitpid(pid, os.WNOHANG)
            if not proc_cmdline(pid):
                return
            time.sleep(0.2)
        if sig == signal.SIGTERM:
            say(f"pid {pid} still running after {timeout:.0f} s: SIGKILL")
    raise NodeError(f"pid {pid} survived SIGKILL")


def tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of a text file (empty if it does not exist)."""
    try:
        with path.open(errors="replace") as handle:
            return [line.rstrip("\n") for line in deque(handle, maxlen=lines)]
    except OSError:
        return []


def format_bytes(size: int | None) -> str:
    """Human-readable MiB."""
    return "unknown" if size is None else f"{size / 2**20:.0f} MiB"


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Serialize concurrent start/stop calls with an advisory lock file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cache_root() -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/scyllabatch``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scyllabatch"
