"""A scripted transport: the facades' test seam (no database).

It records every request a store sends and completes each one the way a test script says:
at once on the sender's thread, or later from another thread, once or (like the driver with
speculative execution) twice. Only the facades' own behaviour is tested with it: concurrency,
ordering, waiting and error paths; what the database decides is tested against the real node.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from scyllabatch._core.requests import Failure, Outcome, Request, Rows
from scyllabatch._core.retry import ErrorKind
from scyllabatch._core.schema import Statement
from scyllabatch._driver import CallOptions

Completion = tuple[float | threading.Event, Outcome]
"""After how many seconds (0: at once, on the sender's thread), or once an event is set, which
outcome."""

Script = Callable[[Request], Sequence[Completion]]


def answer_rows(_request: Request) -> Sequence[Completion]:
    """Every request succeeds at once with no rows."""
    return [(0.0, Rows())]


def failure(kind: ErrorKind, message: str = "scripted") -> Failure:
    """A failed outcome of ``kind``."""
    return Failure(kind=kind, error=RuntimeError(message))


class ScriptedTransport:
    """Records requests; completes them as ``script`` says."""

    def __init__(self, script: Script = answer_rows) -> None:
        self.script = script
        self.replica_group: Callable[[str | bytes], Any] = lambda _partition: "one replica set"
        self._ids = {statement: statement.name.encode() for statement in Statement}
        self.prepared = 0
        self.sent: list[Request] = []
        self.events: list[tuple[str, Request]] = []  # ("sent" | "settled", request), in order
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    @property
    def statement_ids(self) -> dict[Statement, bytes] | None:
        return self._ids if self.prepared else None

    def prepare(self) -> dict[Statement, bytes]:
        self.prepared += 1
        return self._ids

    def forget_statements(self) -> None:
        self.prepared = 0

    def start(
        self,
        request: Request,
        options: CallOptions,
        settle: Callable[[int, Outcome], None],
        index: int,
    ) -> None:
        completions = list(self.script(request))
        with self._lock:
            self.sent.append(request)
            self.events.append(("sent", request))
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

        settled = threading.Event()

        def complete(outcome: Outcome) -> None:
            if not settled.is_set():
                settled.set()
                with self._lock:
                    self.in_flight -= 1
                    self.events.append(("settled", request))
            settle(index, outcome)

        split = next((i for i, (delay, _) in enumerate(completions) if delay), len(completions))
        for _, outcome in completions[:split]:
            complete(outcome)
        later = completions[split:]
        if later:

            def run() -> None:
                for delay, outcome in later:
                    if isinstance(delay, threading.Event):
                        delay.wait(timeout=30)  # the test sets it; the timeout only ends a hang
                    else:
                        threading.Event().wait(delay)
                    complete(outcome)

            thread = threading.Thread(target=run, daemon=True)
            self._threads.append(thread)
            thread.start()

    def join(self) -> None:
        """Wait for every late completion (so a test can check what happened after a call)."""
        for thread in self._threads:
            thread.join(timeout=30)
