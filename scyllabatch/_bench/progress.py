"""A one-line progress bar for ``scyllabatch bench`` (stderr, only when asked or a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """A one-line progress bar on a stream (stderr), redrawn at most ten times a second."""

    WIDTH = 28

    def __init__(self, total: int, enabled: bool, stream: TextIO | None = None) -> None:
        self.total = max(1, total)
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.done = 0
        self.started = time.monotonic()
        self._drawn_at = 0.0
        self._width = 0

    def advance(self, count: int, label: str) -> None:
        self.done += count
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._drawn_at < 0.1 and self.done < self.total:
            return
        self._drawn_at = now
        fraction = min(1.0, self.done / self.total)
        filled = int(fraction * self.WIDTH)
        elapsed = now - self.started
        eta = elapsed / fraction - elapsed if fraction > 0 else 0.0
        line = (
            f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {fraction * 100:5.1f}% "
            f"{label:<32} eta {eta:4.0f}s"
        )
        self._width = max(self._width, len(line))
        self.stream.write(line)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
