"""Pure-Python twin of ``scyllabatch._speedups.codec``: MessagePack values for stored items.

The output is byte-identical to the compiled twin and to
``msgpack.packb(value, use_bin_type=True, datetime=True)`` for every supported value: the
smallest int/str/bin/array/map headers, floats always as float64 (``0xcb``), tz-aware datetimes
as the standard timestamp extension (type -1) in its smallest 32/64/96-bit form. Both twins
raise the same exceptions with the same messages (see :mod:`scyllabatch._codec_errors`).
"""

from __future__ import annotations

import operator
import struct
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta, timezone

from scyllabatch._codec_errors import NOT_SERIALIZABLE, CodecError, DecodeError, EncodeError

Hook = Callable[[object], object]

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

#: Maximum number of nested containers (lists, tuples, dicts) in one value, when encoding and
#: when decoding. A self-referencing value hits it and raises :class:`EncodeError`.
MAX_DEPTH = 256

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# First and last second representable by ``datetime`` (years 1 to 9999), as Unix seconds.
_MIN_SECONDS = -62135596800
_MAX_SECONDS = 253402300799
_KEY_CACHE_MAX_LEN = 32
_KEY_CACHE_SIZE = 4096

_pack_B = struct.Struct(">B").pack
_pack_BB = struct.Struct(">BB").pack
_pack_Bb = struct.Struct(">Bb").pack
_pack_BH = struct.Struct(">BH").pack
_pack_Bh = struct.Struct(">Bh").pack
_pack_BI = struct.Struct(">BI").pack
_pack_Bi = struct.Struct(">Bi").pack
_pack_BQ = struct.Struct(">BQ").pack
_pack_Bq = struct.Struct(">Bq").pack
_pack_Bd = struct.Struct(">Bd").pack
_pack_ts32 = struct.Struct(">BbI").pack
_pack_ts64 = struct.Struct(">BbQ").pack
_pack_ts96 = struct.Struct(">BBbIq").pack

_unpack_H = struct.Struct(">H").unpack_from
_unpack_I = struct.Struct(">I").unpack_from
_unpack_Q = struct.Struct(">Q").unpack_from
_unpack_b = struct.Struct(">b").unpack_from
_unpack_h = struct.Struct(">h").unpack_from
_unpack_i = struct.Struct(">i").unpack_from
_unpack_q = struct.Struct(">q").unpack_from
_unpack_f = struct.Struct(">f").unpack_from
_unpack_d = struct.Struct(">d").unpack_from
_unpack_Iq = struct.Struct(">Iq").unpack_from

# What a value may be made of (``bool`` is an ``int``); a default hook must return one of these.
NATIVE_TYPES = (str, int, float, dict, list, tuple, bytes, bytearray, datetime)

_DEPTH_REASON = f"nesting deeper than {MAX_DEPTH} levels (a self-referencing value?)"
_NAIVE_REASON = "naive datetime is not serializable (give it a tzinfo, e.g. timezone.utc)"


def _short_repr(obj: object) -> str:
    text = repr(obj)
    return text if len(text) <= 60 else text[:57] + "..."


class _Fail(Exception):
    """Internal: carries the reason and the path segments (innermost first) up the recursion."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.segments: list[str] = []


# --------------------------------------------------------------------------------- encoding


def _pack_int(out: bytearray, o: int) -> None:
    if o >= 0:
        if o < 0x80:
            out += _pack_B(o)
        elif o <= 0xFF:
            out += _pack_BB(0xCC, o)
        elif o <= 0xFFFF:
            out += _pack_BH(0xCD, o)
        elif o <= 0xFFFFFFFF:
            out += _pack_BI(0xCE, o)
        elif o <= 0xFFFFFFFFFFFFFFFF:
            out += _pack_BQ(0xCF, o)
        else:
            raise _Fail("int is out of the 64-bit range")
    elif o >= -0x20:
        out += _pack_B(o & 0xFF)
    elif o >= -0x80:
        out += _pack_Bb(0xD0, o)
    elif o >= -0x8000:
        out += _pack_Bh(0xD1, o)
    elif o >= -0x80000000:
        out += _pack_Bi(0xD2, o)
    elif o >= -0x8000000000000000:
        out += _pack_Bq(0xD3, o)
    else:
        raise _Fail("int is out of the 64-bit range")


def _pack_str_header(out: bytearray, n: int) -> None:
    if n < 32:
        out += _pack_B(0xA0 | n)
    elif n <= 0xFF:
        out += _pack_BB(0xD9, n)
    elif n <= 0xFFFF:
        out += _pack_BH(0xDA, n)
    elif n <= 0xFFFFFFFF:
        out += _pack_BI(0xDB, n)
    else:
        raise _Fail("str is too large (4 GiB or more)")


def _pack_str(out: bytearray, o: str) -> None:
    try:
        raw = str.encode(o, "utf-8")
    except UnicodeEncodeError:
        raise _Fail("str cannot be encoded as UTF-8 (lone surrogate)") from None
    _pack_str_header(out, len(raw))
    out += raw


def _pack_bin(out: bytearray, o: bytes | bytearray) -> None:
    n = len(o)
    if n <= 0xFF:
        out += _pack_BB(0xC4, n)
    elif n <= 0xFFFF:
        out += _pack_BH(0xC5, n)
    elif n <= 0xFFFFFFFF:
        out += _pack_BI(0xC6, n)
    else:
        raise _Fail("bytes is too large (4 GiB or more)")
    out += o


def _pack_array_header(out: bytearray, n: int) -> None:
    if n < 16:
        out += _pack_B(0x90 | n)
    elif n <= 0xFFFF:
        out += _pack_BH(0xDC, n)
    elif n <= 0xFFFFFFFF:
        out += _pack_BI(0xDD, n)
    else:
        raise _Fail("list is too large (2**32 items or more)")


def _pack_map_header(out: bytearray, n: int) -> None:
    if n < 16:
        out += _pack_B(0x80 | n)
    elif n <= 0xFFFF:
        out += _pack_BH(0xDE, n)
    elif n <= 0xFFFFFFFF:
        out += _pack_BI(0xDF, n)
    else:
        raise _Fail("dict is too large (2**32 items or more)")


def _pack_datetime(out: bytearray, o: datetime) -> None:
    if o.tzinfo is None or datetime.utcoffset(o) is None:
        raise _Fail(_NAIVE_REASON)
    delta = datetime.__sub__(o, _EPOCH)
    seconds = delta.days * 86400 + delta.seconds
    nanoseconds = delta.microseconds * 1000
    if seconds >> 34 == 0:
        data64 = (nanoseconds << 34) | seconds
        if data64 & 0xFFFFFFFF00000000 == 0:
            out += _pack_ts32(0xD6, -1, data64)
        else:
            out += _pack_ts64(0xD7, -1, data64)
    else:
        out += _pack_ts96(0xC7, 12, -1, nanoseconds, seconds)


def _pack_seq(
    out: bytearray, o: list[object] | tuple[object, ...], depth: int, hook: Hook | None
) -> None:
    if depth >= MAX_DEPTH:
        raise _Fail(_DEPTH_REASON)
    n = len(o)
    _pack_array_header(out, n)
    i = 0
    try:
        for i in range(n):
            _pack(out, o[i], depth + 1, hook)
    except _Fail as fail:
        fail.segments.append(f"[{i}]")
        raise


def _pack_pairs(
    out: bytearray,
    pairs: Iterable[tuple[object, object]],
    n: int,
    depth: int,
    hook: Hook | None,
) -> None:
    if depth >= MAX_DEPTH:
        raise _Fail(_DEPTH_REASON)
    _pack_map_header(out, n)
    for key, item in pairs:
        if type(key) is not str and not isinstance(key, str):
            raise _Fail(f"dict key {_short_repr(key)} is not a str ({type(key).__name__})")
        _pack_str(out, key)
        try:
            _pack(out, item, depth + 1, hook)
        except _Fail as fail:
            fail.segments.append(f"[{key!r}]")
            raise


def _pack(out: bytearray, o: object, depth: int, hook: Hook | None) -> None:
    t = type(o)
    if t is str:
        _pack_str(out, o)  # type: ignore[arg-type]
    elif t is int:
        _pack_int(out, o)  # type: ignore[arg-type]
    elif t is float:
        out += _pack_Bd(0xCB, o)
    elif o is None:
        out += b"\xc0"
    elif o is True:
        out += b"\xc3"
    elif o is False:
        out += b"\xc2"
    elif t is dict:
        _pack_pairs(out, dict.items(o), len(o), depth, hook)  # type: ignore[arg-type]
    elif t is list or t is tuple:
        _pack_seq(out, o, depth, hook)  # type: ignore[arg-type]
    elif t is bytes or t is bytearray:
        _pack_bin(out, o)  # type: ignore[arg-type]
    elif t is datetime:
        _pack_datetime(out, o)  # type: ignore[arg-type]
    # Subclasses (IntEnum, str enums, OrderedDict, ...), in msgpack's order.
    elif isinstance(o, int):
        _pack_int(out, operator.index(o))
    elif isinstance(o, (bytes, bytearray)):
        _pack_bin(out, o)
    elif isinstance(o, str):
        _pack_str(out, o)
    elif isinstance(o, float):
        out += _pack_Bd(0xCB, o)
    elif isinstance(o, (list, tuple)):
        _pack_seq(out, tuple(o), depth, hook)
    elif isinstance(o, dict):
        pairs = list(o.items())
        _pack_pairs(out, pairs, len(pairs), depth, hook)
    elif isinstance(o, datetime):
        _pack_datetime(out, o)
    elif hook is not None:
        _pack(out, _replacement(o, hook), depth, hook)
    else:
        raise _Fail(f"{t.__name__} {NOT_SERIALIZABLE}")


def _replacement(o: object, hook: Hook) -> object:
    """What ``hook`` turns an unsupported ``o`` into; it must be something the codec packs.

    The replacement's own items may go through the hook again (a dataclass becomes a dict
    holding a UUID), but the replacement itself may not: a hook that returns what it was given
    would recurse forever.
    """
    name = type(o).__name__
    try:
        replacement = hook(o)
    except Exception as exc:
        raise _Fail(
            f"{name} {NOT_SERIALIZABLE}: the default hook raised {type(exc).__name__}: {exc}"
        ) from exc
    if replacement is not None and not isinstance(replacement, NATIVE_TYPES):
        raise _Fail(
            f"{name} {NOT_SERIALIZABLE}: the default hook returned a value of type "
            f"{type(replacement).__name__}, which is not serializable either"
        )
    return replacement


def _check_hook(default: Hook | None) -> None:
    if default is not None and not callable(default):
        raise TypeError(f"default must be callable or None, got {type(default).__name__}")


def _encode_one(value: object, hook: Hook | None) -> bytes:
    out = bytearray()
    try:
        _pack(out, value, 0, hook)
    except _Fail as fail:
        path = "value" + "".join(reversed(fail.segments))
        raise EncodeError(fail.reason, path) from fail.__cause__
    return bytes(out)


def encode(value: object, default: Hook | None = None) -> bytes:
    """Encode one value to MessagePack bytes; raise :class:`EncodeError` naming the path.

    ``default`` (as msgpack's) is called with each object of a type the codec does not know
    and returns what to encode instead (a str, dict, list, ...).
    """
    _check_hook(default)
    return _encode_one(value, default)


def encode_batch(
    values: Sequence[object], default: Hook | None = None
) -> tuple[list[bytes], list[int]]:
    """Encode many values; return the encoded bytes and each one's size in bytes.

    An unserializable value raises :class:`EncodeError` with ``index`` set to its position.
    ``default`` is the hook of :func:`encode`.
    """
    _check_hook(default)
    encoded: list[bytes] = []
    sizes: list[int] = []
    for index, value in enumerate(values):
        try:
            data = _encode_one(value, default)
        except EncodeError as exc:
            raise exc.with_index(index) from exc.__cause__
        encoded.append(data)
        sizes.append(len(data))
    return encoded, sizes


# --------------------------------------------------------------------------------- decoding

_key_cache: dict[bytes, str] = {}


def _truncated(start: int) -> DecodeError:
    return DecodeError(f"truncated input: value at offset {start}")


def _decode_str(data: bytes, start: int, pos: int, n: int, end: int) -> tuple[str, int]:
    stop = pos + n
    if stop > end:
        raise _truncated(start)
    try:
        return data[pos:stop].decode("utf-8"), stop
    except UnicodeDecodeError:
        raise DecodeError(f"invalid UTF-8 in str at offset {start}") from None


def _decode_key(data: bytes, pos: int, end: int) -> tuple[str, int]:
    start = pos
    if pos >= end:
        raise _truncated(start)
    b = data[pos]
    pos += 1
    if 0xA0 <= b <= 0xBF:
        n = b & 0x1F
    elif b == 0xD9:
        if pos + 1 > end:
            raise _truncated(start)
        n = data[pos]
        pos += 1
    elif b == 0xDA:
        if pos + 2 > end:
            raise _truncated(start)
        (n,) = _unpack_H(data, pos)
        pos += 2
    elif b == 0xDB:
        if pos + 4 > end:
            raise _truncated(start)
        (n,) = _unpack_I(data, pos)
        pos += 4
    else:
        raise DecodeError(f"map key at offset {start} is not a str (type byte 0x{b:02x})")
    if n > _KEY_CACHE_MAX_LEN:
        return _decode_str(data, start, pos, n, end)
    stop = pos + n
    if stop > end:
        raise _truncated(start)
    raw = data[pos:stop]
    key = _key_cache.get(raw)
    if key is None:
        try:
            key = sys.intern(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise DecodeError(f"invalid UTF-8 in str at offset {start}") from None
        if len(_key_cache) >= _KEY_CACHE_SIZE:
            _key_cache.clear()
        _key_cache[raw] = key
    return key, stop


def _decode_timestamp(data: bytes, start: int, pos: int, n: int) -> datetime:
    if n == 4:
        (seconds,) = _unpack_I(data, pos)
        nanoseconds = 0
    elif n == 8:
        (data64,) = _unpack_Q(data, pos)
        seconds = data64 & 0x00000003FFFFFFFF
        nanoseconds = data64 >> 34
    elif n == 12:
        nanoseconds, seconds = _unpack_Iq(data, pos)
    else:
        raise DecodeError(f"invalid timestamp length {n} at offset {start}")
    if nanoseconds > 999999999:
        raise DecodeError(f"invalid timestamp nanoseconds at offset {start}")
    if not _MIN_SECONDS <= seconds <= _MAX_SECONDS:
        raise DecodeError(f"timestamp out of datetime range at offset {start}")
    return _EPOCH + timedelta(seconds=seconds, microseconds=nanoseconds // 1000)


def _unpack(data: bytes, pos: int, end: int, depth: int) -> tuple[object, int]:
    start = pos
    if pos >= end:
        raise _truncated(start)
    b = data[pos]
    pos += 1
    if b <= 0x7F:
        return b, pos
    if b >= 0xE0:
        return b - 0x100, pos
    if 0xA0 <= b <= 0xBF:
        return _decode_str(data, start, pos, b & 0x1F, end)
    if 0x80 <= b <= 0x9F:
        if b >= 0x90:
            return _unpack_array(data, start, pos, b & 0x0F, end, depth)
        return _unpack_map(data, start, pos, b & 0x0F, end, depth)
    if b == 0xC0:
        return None, pos
    if b == 0xC2:
        return False, pos
    if b == 0xC3:
        return True, pos
    size = _FIXED_SIZES.get(b)
    if size is None:
        raise DecodeError(f"invalid type byte 0x{b:02x} at offset {start}")
    if pos + size > end:
        raise _truncated(start)
    if b == 0xCB:
        return _unpack_d(data, pos)[0], pos + 8
    if b == 0xCC:
        return data[pos], pos + 1
    if b == 0xCD:
        return _unpack_H(data, pos)[0], pos + 2
    if b == 0xCE:
        return _unpack_I(data, pos)[0], pos + 4
    if b == 0xCF:
        return _unpack_Q(data, pos)[0], pos + 8
    if b == 0xD0:
        return _unpack_b(data, pos)[0], pos + 1
    if b == 0xD1:
        return _unpack_h(data, pos)[0], pos + 2
    if b == 0xD2:
        return _unpack_i(data, pos)[0], pos + 4
    if b == 0xD3:
        return _unpack_q(data, pos)[0], pos + 8
    if b == 0xCA:
        return _unpack_f(data, pos)[0], pos + 4
    if b == 0xD9:
        return _decode_str(data, start, pos + 1, data[pos], end)
    if b == 0xDA:
        return _decode_str(data, start, pos + 2, _unpack_H(data, pos)[0], end)
    if b == 0xDB:
        return _decode_str(data, start, pos + 4, _unpack_I(data, pos)[0], end)
    if b in (0xC4, 0xC5, 0xC6):
        if b == 0xC4:
            n = data[pos]
        elif b == 0xC5:
            (n,) = _unpack_H(data, pos)
        else:
            (n,) = _unpack_I(data, pos)
        pos += size
        if pos + n > end:
            raise _truncated(start)
        return data[pos : pos + n], pos + n
    if b == 0xDC:
        return _unpack_array(data, start, pos + 2, _unpack_H(data, pos)[0], end, depth)
    if b == 0xDD:
        return _unpack_array(data, start, pos + 4, _unpack_I(data, pos)[0], end, depth)
    if b == 0xDE:
        return _unpack_map(data, start, pos + 2, _unpack_H(data, pos)[0], end, depth)
    if b == 0xDF:
        return _unpack_map(data, start, pos + 4, _unpack_I(data, pos)[0], end, depth)
    # Extension types: fixext 1/2/4/8/16 (0xd4..0xd8) and ext 8/16/32 (0xc7..0xc9).
    if b >= 0xD4:
        n = 1 << (b - 0xD4)
    elif b == 0xC7:
        n = data[pos]
    elif b == 0xC8:
        (n,) = _unpack_H(data, pos)
    else:
        (n,) = _unpack_I(data, pos)
    code = _unpack_b(data, pos + size - 1)[0]
    pos += size
    if code != -1:
        raise DecodeError(f"unsupported ext type {code} at offset {start}")
    if pos + n > end:
        raise _truncated(start)
    return _decode_timestamp(data, start, pos, n), pos + n


# Bytes that follow the type byte before the payload (ext: length bytes and the code byte).
_FIXED_SIZES = {
    0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8,
    0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8,
    0xD9: 1, 0xDA: 2, 0xDB: 4, 0xC4: 1, 0xC5: 2, 0xC6: 4,
    0xDC: 2, 0xDD: 4, 0xDE: 2, 0xDF: 4,
    0xD4: 1, 0xD5: 1, 0xD6: 1, 0xD7: 1, 0xD8: 1, 0xC7: 2, 0xC8: 3, 0xC9: 5,
}  # fmt: skip


def _unpack_array(
    data: bytes, start: int, pos: int, n: int, end: int, depth: int
) -> tuple[list[object], int]:
    if depth >= MAX_DEPTH:
        raise DecodeError(f"nesting deeper than {MAX_DEPTH} levels at offset {start}")
    if n > end - pos:
        raise DecodeError(f"array length {n} at offset {start} exceeds the remaining input")
    result: list[object] = []
    append = result.append
    for _ in range(n):
        item, pos = _unpack(data, pos, end, depth + 1)
        append(item)
    return result, pos


def _unpack_map(
    data: bytes, start: int, pos: int, n: int, end: int, depth: int
) -> tuple[dict[str, object], int]:
    if depth >= MAX_DEPTH:
        raise DecodeError(f"nesting deeper than {MAX_DEPTH} levels at offset {start}")
    if n > (end - pos) // 2:
        raise DecodeError(f"map length {n} at offset {start} exceeds the remaining input")
    result: dict[str, object] = {}
    for _ in range(n):
        key, pos = _decode_key(data, pos, end)
        result[key], pos = _unpack(data, pos, end, depth + 1)
    return result, pos


def _as_bytes(data: bytes | bytearray | memoryview) -> bytes:
    if type(data) is bytes:
        return data
    return memoryview(data).tobytes()


def _decode_one(data: bytes) -> object:
    end = len(data)
    value, pos = _unpack(data, 0, end, 0)
    if pos != end:
        raise DecodeError(f"trailing data: {end - pos} bytes after the value at offset {pos}")
    return value


def decode(data: bytes | bytearray | memoryview) -> object:
    """Decode one MessagePack value; raise :class:`DecodeError` on any malformed input."""
    return _decode_one(_as_bytes(data))


def decode_batch(datas: Sequence[bytes | bytearray | memoryview]) -> list[object]:
    """Decode many values; a malformed one raises :class:`DecodeError` with ``index`` set."""
    result: list[object] = []
    for index, data in enumerate(datas):
        try:
            result.append(_decode_one(_as_bytes(data)))
        except DecodeError as exc:
            raise exc.with_index(index) from exc.__cause__
    return result
