"""What every part of the node tool shares: addresses and ports, timeouts, exit codes, the
files of a node directory, the one error type, progress lines, and the backend interface that each
command-line subcommand calls.
"""

from __future__ import annotations

from dataclasses import dataclass

HOST = "127.0.0.1"
CQL_PORT = 9042
STORAGE_PORT = 7000
MAIN_CLASS = "org.apache.cassandra.service.CassandraDaemon"

DEFAULT_TIMEOUT = 300.0
STOP_TIMEOUT = 60.0
EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_DOWN = 0, 1, 2, 3

# Files inside the node directory.
OWNER_MARK = "DBNODE"  # proves the directory was made by this tool, so it may be wiped
OWNER_TEXT = "made by scyllabatch.testing.node (tools/dbnode.py); its `stop` removes it\n"
PID_FILE = "cassandra.pid"
INFO_FILE = "node.json"
STDOUT_LOG = "logs/stdout.log"
SYSTEM_LOG = "logs/system.log"


class NodeError(Exception):
    """A failure to report to the user as one line (plus any log tail already printed)."""


def say(message: str) -> None:
    """Print a progress or result line, flushed so that background runs show progress."""
    print(f"dbnode: {message}", flush=True)


@dataclass
class Options:
    """Parsed command-line options shared by the backends."""

    timeout: float
    thresholds: str
    lines: int
    keep_data: bool
    commitlog: str = "periodic"
    heap: str = "1G"


class Backend:
    """One way of providing a database; each subcommand returns an exit code."""

    def start(self, opts: Options) -> int:
        """Make the database answer CQL (start it if it is this backend's to start)."""
        raise NotImplementedError

    def stop(self, opts: Options) -> int:
        """Stop what this backend started (and remove its files unless ``keep_data``)."""
        raise NotImplementedError

    def status(self, opts: Options) -> int:
        """Print whether the database is up; ``EXIT_DOWN`` when it is not."""
        raise NotImplementedError

    def logs(self, opts: Options) -> int:
        """Print the end of the database's log."""
        raise NotImplementedError
