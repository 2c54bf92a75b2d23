"""Telemetry hooks: what a store tells its observers about every call and every request.

A store calls its observers at four points, the same ones where it records its own
:meth:`~scyllabatch.Store.get_metrics`: a call starts (:meth:`Observer.call_started`), a request
is sent (:meth:`CallObservation.request_started`) and settles
(:meth:`RequestObservation.request_ended`), requests are about to be re-sent
(:meth:`CallObservation.retrying`), and the call ends (:meth:`CallObservation.call_ended`).
Every hook returns or does nothing by default, so an observer overrides only what it needs.

Two observers ship with the package: :class:`scyllabatch.otel.OpenTelemetry` (spans and metrics;
a store has one by default when ``opentelemetry-api`` is installed) and
:class:`scyllabatch.prometheus.PrometheusMetrics`. Choose a store's observers with
``store.observers = (...)``; an empty tuple turns telemetry off. A store without observers pays
one attribute test per call. An exception raised by an observer is logged and never reaches
the caller.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from scyllabatch._core.engine import CallStats
from scyllabatch._core.requests import Failure, Request
from scyllabatch._core.retry import ErrorKind
from scyllabatch.config import StoreConfig
from scyllabatch.errors import StoreValidationError
from scyllabatch.ops import BatchType

__all__ = [
    "CallEnd",
    "CallObservation",
    "CallStart",
    "Observed",
    "Observer",
    "Observers",
    "RequestEnd",
    "RequestObservation",
    "default_observers",
]

logger = logging.getLogger("scyllabatch")


class CallStart(NamedTuple):
    """A ``batch()``/``abatch()`` call about to be validated and run.

    ``ops`` are the caller's ops as given (not validated yet); ``read_consistency`` and
    ``write_consistency`` are the level names the call's requests use.
    """

    keyspace: str
    batch_type: BatchType
    ops: Sequence[Any]
    read_consistency: str
    write_consistency: str


class CallEnd(NamedTuple):
    """A finished call.

    ``duration`` is the call's wall time in seconds, the value :meth:`Store.get_metrics` records.
    ``stats`` is what the call sent (``None`` when validation rejected it before any I/O);
    ``op_kinds`` counts its ops per class name; ``error`` is what the caller got, if anything.
    """

    size: int
    batch_type: BatchType
    op_kinds: Mapping[str, int]
    stats: CallStats | None
    duration: float
    error: BaseException | None


class RequestEnd(NamedTuple):
    """A settled request: the coordinator that answered (when known), rows or error."""

    address: str | None
    port: int | None
    host_id: str | None
    datacenter: str | None
    rows: int | None
    error: BaseException | None
    error_kind: ErrorKind | None
    status_code: int | None
    """The native protocol error code the server answered with (``0x1000`` Unavailable ...)."""


class RequestObservation:
    """One request being watched."""

    def request_ended(self, end: RequestEnd) -> None:
        """The request settled (called on the driver's thread)."""


class CallObservation:
    """One call being watched."""

    def request_started(self, request: Request) -> RequestObservation | None:
        """A request of this call is about to be sent; return an observation to hear its end."""
        return None

    def retrying(
        self, retries: Sequence[tuple[Request, Failure]], attempt: int, delay: float
    ) -> None:
        """These failed requests are re-sent after ``delay`` seconds (``attempt`` counts from 1)."""

    def call_ended(self, end: CallEnd) -> None:
        """The call returned or raised."""


class Observer:
    """Receives every call of the stores it is attached to (``store.observers``)."""

    def is_active(self) -> bool:
        """Whether :meth:`call_started` may follow a call now.

        Asked first on every call: when no observer of a store is active, the store does not
        even describe the call. Override it with a cheap test (OpenTelemetry's observer: "is a
        provider set?"); the default is always active.
        """
        return True

    def call_started(self, start: CallStart) -> CallObservation | None:
        """A call starts; return an observation to follow it, or ``None`` to skip it."""
        return None


def _guarded(hook: str, error: Exception) -> None:
    logger.warning("telemetry observer failed in %s (ignored): %r", hook, error)


def _started(targets: Sequence[Any], hook: str, argument: Any) -> list[Any] | None:
    """Call ``hook(argument)`` on each target; the observations they return, if any."""
    found: list[Any] | None = None
    for target in targets:
        try:
            started = getattr(target, hook)(argument)
        except Exception as exc:
            _guarded(hook, exc)
            continue
        if started is not None:
            if found is None:
                found = []
            found.append(started)
    return found


class _Requests(RequestObservation):
    __slots__ = ("_observations",)

    def __init__(self, observations: list[RequestObservation]) -> None:
        self._observations = observations

    def request_ended(self, end: RequestEnd) -> None:
        for observation in self._observations:
            try:
                observation.request_ended(end)
            except Exception as exc:
                _guarded("request_ended", exc)


class _Calls(CallObservation):
    __slots__ = ("_observations",)

    def __init__(self, observations: list[CallObservation]) -> None:
        self._observations = observations

    def request_started(self, request: Request) -> RequestObservation | None:
        found = _started(self._observations, "request_started", request)
        return None if found is None else _Requests(found)

    def retrying(
        self, retries: Sequence[tuple[Request, Failure]], attempt: int, delay: float
    ) -> None:
        for observation in self._observations:
            try:
                observation.retrying(retries, attempt, delay)
            except Exception as exc:
                _guarded("retrying", exc)

    def call_ended(self, end: CallEnd) -> None:
        for observation in self._observations:
            try:
                observation.call_ended(end)
            except Exception as exc:
                _guarded("call_ended", exc)


class Observers:
    """A store's observers as one: starts a call on each, skips those that return ``None``."""

    __slots__ = ("members",)

    def __init__(self, members: Iterable[Observer]) -> None:
        self.members: tuple[Observer, ...] = tuple(members)
        for member in self.members:
            if not callable(getattr(member, "call_started", None)):
                raise StoreValidationError(
                    "observers must be scyllabatch.observability.Observer instances (with a "
                    f"call_started method), got {type(member).__name__}",
                    field="observers",
                )

    def is_active(self) -> bool:
        """Whether any observer is active."""
        for member in self.members:
            try:
                if member.is_active():
                    return True
            except Exception as exc:
                _guarded("is_active", exc)
        return False

    def call_started(self, start: CallStart) -> CallObservation | None:
        """Start the call on every observer; ``None`` when none of them follows it."""
        found = _started(self.members, "call_started", start)
        return None if found is None else _Calls(found)


class Observed:
    """What a store adds to report its calls: the ``observers`` property."""

    _observers: Observers | None = None

    @property
    def observers(self) -> tuple[Observer, ...]:
        """What this store reports its calls to (see :mod:`scyllabatch.observability`).

        By default OpenTelemetry's global providers when ``opentelemetry-api`` is installed
        (:data:`scyllabatch.otel.GLOBAL`), else nothing. Assign a sequence to change it, for
        example ``store.observers = (*store.observers, PrometheusMetrics())``; ``()`` turns
        telemetry off. Calls already running keep the observers they started with.
        """
        return () if self._observers is None else self._observers.members

    @observers.setter
    def observers(self, observers: Iterable[Observer]) -> None:
        chosen = Observers(observers)
        self._observers = chosen if chosen.members else None

    def _observe_call(
        self, config: StoreConfig, kind: BatchType, ops: Sequence[Any], consistency: Any
    ) -> CallObservation | None:
        """Start a call on the observers (the caller checked that there are some)."""
        assert self._observers is not None
        if not self._observers.is_active():
            return None
        if isinstance(consistency, str):
            read = write = consistency.upper()
        else:
            read, write = config.read_consistency, config.write_consistency
        return self._observers.call_started(CallStart(config.keyspace, kind, ops, read, write))


@functools.cache
def default_observers() -> tuple[Observer, ...]:
    """A new store's observers: OpenTelemetry's global providers when ``opentelemetry-api`` is
    installed, else none."""
    try:
        from scyllabatch.otel import GLOBAL
    except ImportError:  # the otel extra is not installed
        return ()
    return (GLOBAL,)
