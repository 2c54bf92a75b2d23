"""Per-call overrides of ``batch()`` / ``abatch()``, validated before any I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cassandra import ConsistencyLevel

from scyllabatch._driver.connection import consistency_level
from scyllabatch.errors import StoreValidationError
from scyllabatch.observability import CallObservation


@dataclass(frozen=True, slots=True)
class CallOptions:
    """Per-call overrides of ``batch()``/``abatch()``: ``timeout`` (seconds, per request) and a
    consistency level for every request of the call (``None``: the configured ones)."""

    timeout: float | None = None
    consistency: int | None = None
    serial_consistency: int | None = None
    observation: CallObservation | None = None
    """The call's telemetry (``None`` when the store has no observer following it)."""


DEFAULT_CALL = CallOptions()

SERIAL_LEVELS = ("SERIAL", "LOCAL_SERIAL")


def serial_level(value: Any, field: str) -> int:
    """The driver's level for a serial consistency name (``SERIAL`` or ``LOCAL_SERIAL``)."""
    name = value.upper() if isinstance(value, str) else value
    if name not in SERIAL_LEVELS:
        raise StoreValidationError(
            f"{field} {value!r} is not a serial consistency level; use 'SERIAL' (Paxos across "
            "all data centers) or 'LOCAL_SERIAL' (within the local data center)",
            field=field,
        )
    return consistency_level(name)


def call_options(timeout: Any, consistency: Any, serial_consistency: Any = None) -> CallOptions:
    """Validate ``batch()``'s ``timeout=``, ``consistency=`` and ``serial_consistency=`` (before
    any I/O)."""
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise StoreValidationError(
            f"timeout must be a number of seconds > 0 (or None for the configured "
            f"request_timeout), got {timeout!r}",
            field="timeout",
        )
    level = None
    if consistency is not None:
        name = consistency.upper() if isinstance(consistency, str) else consistency
        if name not in ConsistencyLevel.name_to_value or name in ("SERIAL", "LOCAL_SERIAL"):
            raise StoreValidationError(
                f"consistency {consistency!r} is not a consistency level; use one of ONE, QUORUM, "
                "LOCAL_QUORUM, ALL, ... (or None for the configured ones); the serial level of "
                "conditional writes is serial_consistency=",
                field="consistency",
            )
        level = consistency_level(name)
    serial = (
        None
        if serial_consistency is None
        else serial_level(serial_consistency, "serial_consistency")
    )
    if timeout is None and level is None and serial is None:
        return DEFAULT_CALL
    return CallOptions(None if timeout is None else float(timeout), level, serial)
