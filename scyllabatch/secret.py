"""A wrapper for credentials: :class:`Secret` never shows its value by accident.

``StoreConfig(password="...")`` stores the password as a :class:`Secret`. Its ``repr`` and
``str`` are masked, so the value stays out of logs, tracebacks, ``repr(config)`` and
``dataclasses.asdict(config)`` (which holds the same masked object). Code that really needs the
value calls :meth:`Secret.get_secret_value`.

Pickling never carries the value: a pickled (or ``copy.deepcopy``-ed through pickling) secret
comes back *redacted*, and asking a redacted secret for its value raises
:class:`~scyllabatch.StoreValidationError` that says to set the password again. So a
:class:`~scyllabatch.StoreConfig` can be sent to another process, but the receiving side must
supply the password itself (for example from an environment variable), e.g.
``dataclasses.replace(config, password=os.environ["SCYLLABATCH_PASSWORD"])``.
``copy.copy`` and ``copy.deepcopy`` in the same process keep the value (the object is immutable,
so a copy is the same object).
"""

from __future__ import annotations

import hmac
from typing import Any, final

from scyllabatch.errors import StoreValidationError

__all__ = ["Secret"]

MASK = "**********"


def _redacted() -> Secret:
    """What unpickling a :class:`Secret` gives: a secret without a value."""
    secret = Secret.__new__(Secret)
    object.__setattr__(secret, "_value", None)
    return secret


@final
class Secret:
    """A string that hides itself: ``repr``/``str`` print ``'**********'``; pickling drops it.

    Two secrets are equal when their values are (compared in constant time). A redacted secret
    (the result of unpickling) is equal to no other secret.
    """

    __slots__ = ("_value",)
    _value: str | None

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value.get_secret_value()
        if not isinstance(value, str):
            # Never echo the value: it may be a password given with the wrong type.
            raise StoreValidationError(
                f"a password must be a str, got {type(value).__name__}", field="password"
            )
        object.__setattr__(self, "_value", value)

    def get_secret_value(self) -> str:
        """The value itself. Raises :class:`StoreValidationError` for a redacted secret."""
        if self._value is None:
            raise StoreValidationError(
                "this password was removed when its StoreConfig was pickled (secrets never travel "
                "in a pickle): set it again, e.g. dataclasses.replace(config, password=...)",
                field="password",
            )
        return self._value

    @property
    def redacted(self) -> bool:
        """True for a secret whose value was dropped by pickling."""
        return self._value is None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return f"Secret({MASK!r})" if self._value is not None else "Secret(<redacted>)"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return format(MASK, spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        if self._value is None or other._value is None:
            return False
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (_redacted, ())
