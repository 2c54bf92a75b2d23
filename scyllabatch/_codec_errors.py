"""Exceptions shared by the compiled codec and its pure-Python twin.

Both twins raise exactly these classes (and the same messages), so callers never need to know
which implementation is loaded.
"""

from __future__ import annotations

__all__ = ["NOT_SERIALIZABLE", "CodecError", "DecodeError", "EncodeError"]

#: Ends the reason of an :class:`EncodeError` for an object of a type the codec does not know
#: (``"UUID is not serializable"``): the store adds advice on its encode hook to that error.
NOT_SERIALIZABLE = "is not serializable"


class CodecError(ValueError):
    """Base class of every error raised by the value codec."""


class EncodeError(CodecError):
    """A value cannot be encoded.

    ``path`` locates the offending part inside the value (``value['tags'][3]``), ``reason`` says
    what is wrong with it, and ``index`` is the position of the value in a batch call
    (``encode_batch``) or ``None`` for a single :func:`encode`.
    """

    path: str
    reason: str
    index: int | None

    def __init__(self, reason: str, path: str = "value", index: int | None = None) -> None:
        self.reason = reason
        self.path = path
        self.index = index
        super().__init__(self._message())

    def _message(self) -> str:
        if self.index is None:
            return f"{self.path}: {self.reason}"
        return f"batch item {self.index}: {self.path}: {self.reason}"

    def with_index(self, index: int) -> EncodeError:
        """Return a copy of this error that also names the value's position in a batch."""
        err = type(self)(self.reason, self.path, index)
        err.__cause__ = self.__cause__
        return err

    def __reduce__(self) -> tuple[type[EncodeError], tuple[str, str, int | None]]:
        return (type(self), (self.reason, self.path, self.index))


class DecodeError(CodecError):
    """Bytes are not a valid encoded value (truncated, malformed, too deep, unsupported...).

    ``index`` is the position of the input in a batch call (``decode_batch``), else ``None``.
    """

    reason: str
    index: int | None

    def __init__(self, reason: str, index: int | None = None) -> None:
        self.reason = reason
        self.index = index
        super().__init__(reason if index is None else f"batch item {index}: {reason}")

    def with_index(self, index: int) -> DecodeError:
        """Return a copy of this error that also names the input's position in a batch."""
        err = type(self)(self.reason, index)
        err.__cause__ = self.__cause__
        return err

    def __reduce__(self) -> tuple[type[DecodeError], tuple[str, int | None]]:
        return (type(self), (self.reason, self.index))
