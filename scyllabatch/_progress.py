"""Progress of the long-running commands (``load``, ``export``, ``bench``) on stderr.

With the ``cli`` extra (``pip install 'scyllabatch[cli]'``) it is a tqdm bar: count, rate and,
when the total is known, ETA. Without tqdm, a plain line every few seconds says the same, so the
commands work (and logs of unattended runs stay readable) either way.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol, TextIO

#: Seconds between two plain progress lines.
PLAIN_INTERVAL = 5.0


class Meter(Protocol):
    """What the commands report progress to."""

    def update(self, count: int) -> None:
        """``count`` more units are done."""

    def describe(self, label: str) -> None:
        """Say what is being done now."""

    def close(self) -> None:
        """The work is over (or abandoned): finish the display."""


class _Silent:
    def update(self, count: int) -> None:
        pass

    def describe(self, label: str) -> None:
        pass

    def close(self) -> None:
        pass


class _Bar:
    """A tqdm bar."""

    def __init__(self, bar: Any) -> None:
        self._bar = bar

    def update(self, count: int) -> None:
        self._bar.update(count)

    def describe(self, label: str) -> None:
        self._bar.set_description_str(label, refresh=False)

    def close(self) -> None:
        self._bar.close()


class PlainLines:
    """``label: done/total unit (x%), rate unit/s, ETA`` every :data:`PLAIN_INTERVAL` seconds."""

    def __init__(
        self,
        total: int | None,
        unit: str,
        stream: TextIO,
        initial: int = 0,
        interval: float = PLAIN_INTERVAL,
        clock: Any = time.monotonic,
    ) -> None:
        self.total = total
        self.unit = unit
        self.stream = stream
        self.done = initial
        self.label = ""
        self._initial = initial
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._printed_at = self._started

    def update(self, count: int) -> None:
        self.done += count
        now = self._clock()
        if now - self._printed_at >= self._interval:
            self._printed_at = now
            self.stream.write(self.line(now) + "\n")
            self.stream.flush()

    def describe(self, label: str) -> None:
        self.label = label

    def close(self) -> None:
        pass

    def line(self, now: float) -> str:
        """The progress line at time ``now``."""
        elapsed = max(now - self._started, 1e-9)
        rate = (self.done - self._initial) / elapsed
        text = f"{self.label + ': ' if self.label else ''}{self.done:,}"
        if self.total:
            text += f"/{self.total:,} {self.unit} ({self.done / self.total:.0%})"
        else:
            text += f" {self.unit}"
        text += f", {rate:,.0f} {self.unit}/s"
        if self.total and rate > 0 and self.done < self.total:
            text += f", ETA {(self.total - self.done) / rate:,.0f} s"
        return text


def meter(
    total: int | None,
    unit: str,
    *,
    enabled: bool,
    stream: TextIO | None = None,
    initial: int = 0,
) -> Meter:
    """A progress meter of ``total`` units (``None``: unknown), starting at ``initial``.

    Disabled: reports nothing. Else a tqdm bar when tqdm is installed, plain lines otherwise.
    """
    if not enabled:
        return _Silent()
    out = stream or sys.stderr
    try:
        from tqdm import tqdm
    except ImportError:
        return PlainLines(total, unit, out, initial)
    return _Bar(
        tqdm(
            total=total,
            initial=initial,
            unit=f" {unit}",
            unit_scale=True,
            file=out,
            dynamic_ncols=True,
            smoothing=0.05,
            mininterval=0.2,
        )
    )


__all__ = ["PLAIN_INTERVAL", "Meter", "PlainLines", "meter"]
