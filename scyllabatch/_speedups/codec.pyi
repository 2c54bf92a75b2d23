"""Type stubs for the compiled codec (same API as :mod:`scyllabatch._pure.codec`)."""

from collections.abc import Callable, Sequence

from scyllabatch._codec_errors import CodecError as CodecError
from scyllabatch._codec_errors import DecodeError as DecodeError
from scyllabatch._codec_errors import EncodeError as EncodeError

__all__ = [
    "MAX_DEPTH",
    "CodecError",
    "DecodeError",
    "EncodeError",
    "decode",
    "decode_batch",
    "encode",
    "encode_batch",
]

MAX_DEPTH: int
NATIVE_TYPES: tuple[type, ...]

def encode(value: object, default: Callable[[object], object] | None = None) -> bytes: ...
def encode_batch(
    values: Sequence[object], default: Callable[[object], object] | None = None
) -> tuple[list[bytes], list[int]]: ...
def decode(data: bytes | bytearray | memoryview) -> object: ...
def decode_batch(datas: Sequence[bytes | bytearray | memoryview]) -> list[object]: ...
