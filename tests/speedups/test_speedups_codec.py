"""Codec twins: byte-identity with msgpack, headers, datetimes, error paths, hardening."""

from __future__ import annotations

import collections
import enum
import math
import pickle
import struct
from datetime import datetime, timedelta, timezone, tzinfo
from types import ModuleType
from typing import NamedTuple

import msgpack
import pytest

from scyllabatch._codec_errors import CodecError, DecodeError, EncodeError

pytestmark = pytest.mark.speedups

UTC = timezone.utc


class Point(NamedTuple):
    x: int
    y: int


def packb(value: object) -> bytes:
    data: bytes = msgpack.packb(value, use_bin_type=True, datetime=True)
    return data


def unpackb(data: bytes) -> object:
    return msgpack.unpackb(data, timestamp=3, strict_map_key=True)


def normalize(value: object) -> object:
    """What a value decodes to: tuples become lists, bytearrays bytes, datetimes UTC."""
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    if isinstance(value, dict):
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return value


def check(codec: ModuleType, value: object) -> bytes:
    """Encode ``value``; assert byte-identity with msgpack and a faithful round trip."""
    data = codec.encode(value)
    assert data == packb(value)
    decoded = codec.decode(data)
    assert decoded == normalize(value)
    assert codec.encode(decoded) == data
    assert unpackb(data) == decoded
    return bytes(data)


# ------------------------------------------------------------------------- scalars


def test_bools_encode_as_c2_c3(codec: ModuleType) -> None:
    # Cython 3 can compile a cast of True/False to PyObject* into 1/0: guard against it.
    assert codec.encode(False) == b"\xc2"
    assert codec.encode(True) == b"\xc3"
    assert codec.encode(None) == b"\xc0"
    assert codec.encode([True, False, None]) == b"\x93\xc3\xc2\xc0"
    assert codec.decode(b"\xc2") is False
    assert codec.decode(b"\xc3") is True
    assert codec.decode(b"\xc0") is None


INT_BOUNDARIES = [
    0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1,
    -1, -31, -32, -33, -127, -128, -129, -32767, -32768, -32769,
    -(2**31) + 1, -(2**31), -(2**31) - 1, -(2**63) + 1, -(2**63),
]  # fmt: skip


@pytest.mark.parametrize("value", INT_BOUNDARIES)
def test_int_boundaries(codec: ModuleType, value: int) -> None:
    data = check(codec, value)
    assert type(codec.decode(data)) is int


@pytest.mark.parametrize(
    ("value", "header"),
    [
        (127, b"\x7f"), (128, b"\xcc"), (255, b"\xcc"), (256, b"\xcd"), (65536, b"\xce"),
        (2**32, b"\xcf"), (-32, b"\xe0"), (-33, b"\xd0"), (-129, b"\xd1"),
        (-32769, b"\xd2"), (-(2**31) - 1, b"\xd3"),
    ],
)  # fmt: skip
def test_int_headers(codec: ModuleType, value: int, header: bytes) -> None:
    assert codec.encode(value)[:1] == header


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, 10**30, -(10**30)])
def test_int_out_of_range(codec: ModuleType, value: int) -> None:
    with pytest.raises(EncodeError, match=r"^value\['n'\]: int is out of the 64-bit range$"):
        codec.encode({"n": value})


@pytest.mark.parametrize(
    "value", [0.0, -0.0, 1.5, -2.25, 1e300, 5e-324, math.inf, -math.inf, 0.1, 1.0]
)
def test_floats_are_float64(codec: ModuleType, value: float) -> None:
    data = check(codec, value)
    assert data == b"\xcb" + struct.pack(">d", value)
    assert math.copysign(1.0, codec.decode(data)) == math.copysign(1.0, value)


def test_nan_is_fine(codec: ModuleType) -> None:
    data = codec.encode(math.nan)
    assert data == packb(math.nan)
    assert math.isnan(codec.decode(data))


def test_float32_is_decoded(codec: ModuleType) -> None:
    assert codec.decode(b"\xca" + struct.pack(">f", 1.5)) == 1.5


@pytest.mark.parametrize(
    ("length", "header"),
    [(0, 0xA0), (31, 0xBF), (32, 0xD9), (255, 0xD9), (256, 0xDA), (65535, 0xDA), (65536, 0xDB)],
)
def test_str_header_boundaries(codec: ModuleType, length: int, header: int) -> None:
    data = check(codec, "x" * length)
    assert data[0] == header


def test_str_length_counts_utf8_bytes(codec: ModuleType) -> None:
    # 16 two-byte characters = 32 UTF-8 bytes: str 8, not fixstr.
    data = check(codec, "é" * 16)
    assert data[:2] == b"\xd9\x20"
    check(codec, "東京 größe 🎉 \x00 \u2028")


@pytest.mark.parametrize(
    ("length", "header"),
    [(0, 0xC4), (255, 0xC4), (256, 0xC5), (65535, 0xC5), (65536, 0xC6)],
)
def test_bin_header_boundaries(codec: ModuleType, length: int, header: int) -> None:
    data = check(codec, b"\x01" * length)
    assert data[0] == header
    assert codec.encode(bytearray(b"\x01" * length)) == data
    assert type(codec.decode(data)) is bytes


@pytest.mark.parametrize(
    ("length", "header"),
    [(0, 0x90), (15, 0x9F), (16, 0xDC), (65535, 0xDC), (65536, 0xDD)],
)
def test_array_header_boundaries(codec: ModuleType, length: int, header: int) -> None:
    data = check(codec, [1] * length)
    assert data[0] == header
    assert codec.encode(tuple([1] * length)) == data


@pytest.mark.parametrize(
    ("length", "header"),
    [(0, 0x80), (15, 0x8F), (16, 0xDE), (65535, 0xDE), (65536, 0xDF)],
)
def test_map_header_boundaries(codec: ModuleType, length: int, header: int) -> None:
    data = check(codec, {f"k{i}": i for i in range(length)})
    assert data[0] == header


def test_nested_structures(codec: ModuleType) -> None:
    check(
        codec,
        {
            "a": [1, 2.5, "x", None, True, False, b"\x00", {"b": {"c": []}}],
            "t": (1, (2, (3,))),
            "": {},
            "ünï": ["é", {"k": [[], [[]]]}],
        },
    )


def test_subclasses_use_the_isinstance_fallback(codec: ModuleType) -> None:
    class Color(enum.IntEnum):
        RED = 300

    class Kind(str, enum.Enum):
        NOTE = "note"

    class MyFloat(float):
        pass

    class MyList(list):  # type: ignore[type-arg]
        pass

    od = collections.OrderedDict([("a", 1), ("b", 2)])
    od.move_to_end("a")
    point = Point(1, 2)
    value = {
        "color": Color.RED, "kind": Kind.NOTE, "f": MyFloat(1.5), "l": MyList([1, 2]),
        "od": od, "point": point, "dd": collections.defaultdict(int, {"z": 1}),
        Kind.NOTE: "str-enum key",
    }  # fmt: skip
    data = codec.encode(value)
    assert data == packb(value)
    decoded = codec.decode(data)
    assert decoded == {
        "color": 300, "kind": "note", "f": 1.5, "l": [1, 2], "od": {"b": 2, "a": 1},
        "point": [1, 2], "dd": {"z": 1}, "note": "str-enum key",
    }  # fmt: skip
    assert list(decoded["od"]) == ["b", "a"]


# ------------------------------------------------------------------------- datetimes


@pytest.mark.parametrize(
    ("value", "header"),
    [
        (datetime(1970, 1, 1, tzinfo=UTC), b"\xd6\xff"),  # timestamp 32
        (datetime(2106, 2, 7, 6, 28, 15, tzinfo=UTC), b"\xd6\xff"),  # 2**32 - 1 seconds
        (datetime(2106, 2, 7, 6, 28, 16, tzinfo=UTC), b"\xd7\xff"),  # timestamp 64
        (datetime(2024, 5, 17, 9, 30, 0, 1, tzinfo=UTC), b"\xd7\xff"),  # sub-second: 64
        (datetime(2514, 5, 30, 1, 53, 3, 999999, tzinfo=UTC), b"\xd7\xff"),  # 2**34 - 1 s
        (datetime(2514, 5, 30, 1, 53, 4, tzinfo=UTC), b"\xc7\x0c\xff"),  # timestamp 96
        (datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), b"\xc7\x0c\xff"),  # pre-1970: 96
        (datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), b"\xc7\x0c\xff"),
        (datetime(1, 1, 1, tzinfo=UTC), b"\xc7\x0c\xff"),
        (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), b"\xc7\x0c\xff"),
        (datetime(1900, 2, 28, 12, 0, 0, 500000, tzinfo=UTC), b"\xc7\x0c\xff"),
        (datetime(2000, 2, 29, 23, 59, 59, 999999, tzinfo=UTC), b"\xd7\xff"),
    ],
)
def test_datetime_forms(codec: ModuleType, value: datetime, header: bytes) -> None:
    data = check(codec, value)
    assert data.startswith(header)
    decoded = codec.decode(data)
    assert isinstance(decoded, datetime)
    assert decoded.tzinfo is UTC


class _WeirdOffset(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(hours=5, minutes=30, microseconds=7)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return "WEIRD"


@pytest.mark.parametrize(
    "tz",
    [
        timezone(timedelta(hours=2)),
        timezone(timedelta(hours=-9, minutes=-30)),
        timezone(timedelta(hours=23, minutes=59)),
        _WeirdOffset(),
    ],
)
def test_datetime_offsets(codec: ModuleType, tz: tzinfo) -> None:
    for value in (
        datetime(2024, 1, 1, 0, 0, 0, 1, tzinfo=tz),
        datetime(1970, 1, 1, 3, 0, tzinfo=tz),
        datetime(1969, 6, 1, 12, 30, 15, 999999, tzinfo=tz),
        datetime(2500, 12, 31, 23, 59, 59, tzinfo=tz),
    ):
        check(codec, value)


def test_naive_datetime_is_an_error(codec: ModuleType) -> None:
    with pytest.raises(EncodeError) as info:
        codec.encode({"when": [datetime(2024, 1, 1)]})
    assert info.value.path == "value['when'][0]"
    assert "naive datetime" in str(info.value)


def test_tzinfo_without_offset_is_naive(codec: ModuleType) -> None:
    class NoOffset(tzinfo):
        def utcoffset(self, dt: datetime | None) -> None:
            return None

        def dst(self, dt: datetime | None) -> None:
            return None

        def tzname(self, dt: datetime | None) -> str:
            return "?"

    with pytest.raises(EncodeError, match="naive datetime"):
        codec.encode(datetime(2024, 1, 1, tzinfo=NoOffset()))


def test_decoded_datetime_truncates_nanoseconds(codec: ModuleType) -> None:
    # timestamp 64 with 999 nanoseconds: msgpack floors to whole microseconds, like us.
    seconds, nanos = 1_700_000_000, 123_456_999
    data = b"\xd7\xff" + struct.pack(">Q", (nanos << 34) | seconds)
    expected = datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)
    assert codec.decode(data) == expected == unpackb(data)
    # timestamp 96, before 1970, with nanoseconds.
    data = b"\xc7\x0c\xff" + struct.pack(">Iq", 1_999, -1)
    assert codec.decode(data) == datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xd7\xff" + struct.pack(">Q", (1_000_000_000 << 34) | 5), "invalid timestamp nanos"),
        (b"\xc7\x0c\xff" + struct.pack(">Iq", 0, 253402300800), "out of datetime range"),
        (b"\xc7\x0c\xff" + struct.pack(">Iq", 0, -62135596801), "out of datetime range"),
        (b"\xd5\xff\x00\x00", "invalid timestamp length 2"),
        (b"\xd4\x05\x00", "unsupported ext type 5 at offset 0"),
        (b"\x91\xc7\x01\x7f\x00", "unsupported ext type 127 at offset 1"),
    ],
)
def test_bad_timestamps(codec: ModuleType, data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        codec.decode(data)


def test_datetime_range_edges_decode(codec: ModuleType) -> None:
    for value in (
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ):
        assert codec.decode(packb(value)) == value


# ------------------------------------------------------------------------- encode errors


@pytest.mark.parametrize(
    ("value", "path", "reason"),
    [
        ({"tags": [1, 2, 3, {4}]}, "value['tags'][3]", "set is not serializable"),
        ({1: "x"}, "value", "dict key 1 is not a str (int)"),
        ({"a": {b"k": 1}}, "value['a']", "dict key b'k' is not a str (bytes)"),
        ([object()], "value[0]", "object is not serializable"),
        ({"f": len}, "value['f']", "builtin_function_or_method is not serializable"),
        ((1, (2, complex(1, 2))), "value[1][1]", "complex is not serializable"),
        ({"s": "\ud800"}, "value['s']", "str cannot be encoded as UTF-8 (lone surrogate)"),
        ({"\udfff": 1}, "value", "str cannot be encoded as UTF-8 (lone surrogate)"),
        (memoryview(b"x"), "value", "memoryview is not serializable"),
        ({"it's": frozenset()}, 'value["it\'s"]', "frozenset is not serializable"),
    ],
)
def test_encode_error_paths(codec: ModuleType, value: object, path: str, reason: str) -> None:
    with pytest.raises(EncodeError) as info:
        codec.encode(value)
    err = info.value
    assert err.path == path
    assert err.reason == reason
    assert err.index is None
    assert str(err) == f"{path}: {reason}"
    assert isinstance(err, CodecError)
    assert isinstance(err, ValueError)


def test_long_key_repr_is_shortened(codec: ModuleType) -> None:
    with pytest.raises(EncodeError) as info:
        codec.encode({("x" * 100,): 1})
    assert info.value.reason.endswith("... is not a str (tuple)")
    assert len(info.value.reason) < 100


def test_encode_batch_error_has_index(codec: ModuleType) -> None:
    values = [{"a": 1}, {"b": 2}, {"tags": ["x", {1, 2}]}]
    with pytest.raises(EncodeError) as info:
        codec.encode_batch(values)
    err = info.value
    assert err.index == 2
    assert err.path == "value['tags'][1]"
    assert str(err) == "batch item 2: value['tags'][1]: set is not serializable"


def test_encode_error_pickles() -> None:
    err = EncodeError("set is not serializable", "value['a']", 3)
    clone = pickle.loads(pickle.dumps(err))
    assert (clone.reason, clone.path, clone.index, str(clone)) == (
        err.reason, err.path, err.index, str(err),
    )  # fmt: skip
    derr = pickle.loads(pickle.dumps(DecodeError("bad", 4)))
    assert (derr.reason, derr.index, str(derr)) == ("bad", 4, "batch item 4: bad")


def test_depth_limit_when_encoding(codec: ModuleType) -> None:
    limit = codec.MAX_DEPTH
    assert limit == 256
    ok: object = 1
    for _ in range(limit):
        ok = [ok]
    check(codec, ok)
    with pytest.raises(EncodeError, match="nesting deeper than 256 levels"):
        codec.encode([ok])
    deep: object = 1
    for _ in range(limit + 1):
        deep = {"k": deep}
    with pytest.raises(EncodeError) as info:
        codec.encode(deep)
    assert info.value.path == "value" + "['k']" * limit


def test_self_reference_raises_encode_error(codec: ModuleType) -> None:
    looped: list[object] = []
    looped.append(looped)
    with pytest.raises(EncodeError, match="self-referencing"):
        codec.encode(looped)
    d: dict[str, object] = {}
    d["me"] = d
    with pytest.raises(EncodeError):
        codec.encode_batch([1, d])


# ------------------------------------------------------------------------- batches


def test_encode_batch_sizes(codec: ModuleType) -> None:
    values: list[object] = [{"a": 1}, "x" * 300, None, [1.5, True], {}]
    encoded, sizes = codec.encode_batch(values)
    assert encoded == [packb(v) for v in values]
    assert sizes == [len(b) for b in encoded]
    assert codec.encode_batch(tuple(values)) == (encoded, sizes)
    assert codec.encode_batch(iter(values)) == (encoded, sizes)
    assert codec.encode_batch([]) == ([], [])
    assert codec.decode_batch(encoded) == [normalize(v) for v in values]
    assert codec.decode_batch([]) == []


def test_large_values_grow_the_buffer(codec: ModuleType) -> None:
    big = {"blob": b"\xab" * 300_000, "items": [{"n": i, "s": "v" * (i % 50)} for i in range(5000)]}
    encoded, sizes = codec.encode_batch([big, {"small": 1}, big])
    assert encoded[0] == encoded[2] == packb(big)
    assert sizes[1] == len(packb({"small": 1}))
    assert codec.decode(encoded[0]) == big


def test_decode_accepts_bytes_like(codec: ModuleType) -> None:
    data = packb({"a": [1, 2]})
    assert codec.decode(bytearray(data)) == {"a": [1, 2]}
    assert codec.decode(memoryview(data)) == {"a": [1, 2]}
    assert codec.decode(memoryview(b"\x00" + data)[1:]) == {"a": [1, 2]}
    with pytest.raises(TypeError):
        codec.decode("not bytes")


def test_decode_reads_msgpack_output(codec: ModuleType) -> None:
    value = {
        "s": "x" * 40, "i": -70000, "u": 2**64 - 1, "f": 0.5, "b": b"\x00\x01", "n": None,
        "l": list(range(20)), "d": {f"k{i}": i for i in range(20)}, "t": True,
        "dt": datetime(2024, 2, 29, 12, 0, 0, 123456, tzinfo=UTC),
    }  # fmt: skip
    assert codec.decode(packb(value)) == value
    # Packers that differ from ours: single floats, non-minimal ints/headers, str as raw.
    assert codec.decode(msgpack.packb(1.5, use_single_float=True)) == 1.5
    assert codec.decode(b"\xcd\x00\x01") == 1
    assert codec.decode(b"\xd3" + struct.pack(">q", 5)) == 5
    assert codec.decode(b"\xd9\x01a") == "a"
    assert codec.decode(b"\xdc\x00\x01\x01") == [1]
    assert codec.decode(b"\xdf\x00\x00\x00\x01\xa1k\xc0") == {"k": None}
    assert codec.decode(b"\x82\xa1k\x01\xa1k\x02") == {"k": 2}  # duplicate key: last wins


def test_decoded_keys_are_interned(codec: ModuleType) -> None:
    first = codec.decode(packb({"access_count": 1}))
    second = codec.decode(packb([{"access_count": 2}]))
    (key1,) = first
    (key2,) = second[0]
    assert key1 == "access_count"
    assert key1 is key2


# ------------------------------------------------------------------------- hardening


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "truncated input: value at offset 0"),
        (b"\xcd\x01", "truncated input: value at offset 0"),
        (b"\x92\x01\xcd", "truncated input: value at offset 2"),
        (b"\xa5abc", "truncated input: value at offset 0"),
        (b"\x81\xa1k", "truncated input: value at offset 3"),
        (b"\xc4\x05ab", "truncated input: value at offset 0"),
        (b"\xd7\xff\x00", "truncated input: value at offset 0"),
        (b"\x01\x02", "trailing data: 1 bytes after the value at offset 1"),
        (b"\xc1", "invalid type byte 0xc1 at offset 0"),
        (b"\xa2\xc3\x28", "invalid UTF-8 in str at offset 0"),
        (b"\x81\xa2\xff\xfe\x01", "invalid UTF-8 in str at offset 1"),
        (b"\xa3\xed\xa0\x80", "invalid UTF-8 in str at offset 0"),  # encoded surrogate
        (b"\x81\x01\x01", "map key at offset 1 is not a str (type byte 0x01)"),
        (b"\x81\xc4\x01k\x01", "map key at offset 1 is not a str (type byte 0xc4)"),
        (b"\xdd\xff\xff\xff\xff\x01", "array length 4294967295 at offset 0 exceeds"),
        (b"\xdf\xff\xff\xff\xff\x01\x01", "map length 4294967295 at offset 0 exceeds"),
        (b"\xdb\xff\xff\xff\xff", "truncated input: value at offset 0"),
        (b"\xc6\xff\xff\xff\xff", "truncated input: value at offset 0"),
        (b"\xc9\xff\xff\xff\xff\xff", "truncated input: value at offset 0"),
        (b"\x93\x01\x02", "array length 3 at offset 0 exceeds the remaining input"),
        (b"\x93\x01\x02\x81", "map length 1 at offset 3 exceeds the remaining input"),
        (b"\x93\x01\x02\xcb", "truncated input: value at offset 3"),
    ],
)
def test_decode_errors(codec: ModuleType, data: bytes, message: str) -> None:
    with pytest.raises(DecodeError) as info:
        codec.decode(data)
    assert str(info.value).startswith(message)
    assert info.value.index is None


def test_decode_depth_limit(codec: ModuleType) -> None:
    limit = codec.MAX_DEPTH
    ok = b"\x91" * limit + b"\x01"
    assert codec.decode(ok) is not None
    with pytest.raises(DecodeError, match=f"nesting deeper than 256 levels at offset {limit}"):
        codec.decode(b"\x91" * (limit + 1) + b"\x01")
    with pytest.raises(DecodeError, match="nesting deeper"):
        codec.decode(b"\x81\xa1k" * 100_000)


def test_lying_lengths_do_not_allocate(codec: ModuleType) -> None:
    # A 5-byte input claiming 4 billion items must fail fast, without allocating for them.
    for data in (b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff", b"\xdc\xff\xff" + b"\x01" * 10):
        with pytest.raises(DecodeError):
            codec.decode(data)


def test_decode_batch_error_has_index(codec: ModuleType) -> None:
    with pytest.raises(DecodeError) as info:
        codec.decode_batch([packb(1), packb("x"), b"\xc1"])
    assert info.value.index == 2
    assert str(info.value) == "batch item 2: invalid type byte 0xc1 at offset 0"


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(DecodeError, CodecError)
    assert issubclass(EncodeError, CodecError)
    assert issubclass(CodecError, ValueError)


def test_twins_raise_the_same_messages(codec_pair: tuple[ModuleType, ModuleType]) -> None:
    compiled, pure = codec_pair
    assert compiled.MAX_DEPTH == pure.MAX_DEPTH
    assert compiled.EncodeError is pure.EncodeError is EncodeError
    assert compiled.DecodeError is pure.DecodeError is DecodeError
    for data in (b"\x81\x01", b"\x92\xa1", b"\xc7\x01\x03", b"\x94\xc3\xc2\xc0\xcb"):
        messages = []
        for twin in codec_pair:
            with pytest.raises(DecodeError) as info:
                twin.decode(data)
            messages.append(str(info.value))
        assert messages[0] == messages[1]


def test_string_caches_never_mix_up_similar_strings(codec: ModuleType) -> None:
    # Keys of 17..32 bytes that share their first and last 8 bytes (same cache hash), short
    # values that differ in one byte, and the same bytes seen first as a key then as a value.
    keys = [f"prefix__{i:0{width}d}__suffix" for width in (1, 5, 12) for i in range(50)]
    value = {key: [key[:16], key[-9:], f"v{i}"] for i, key in enumerate(keys)}
    for _ in range(3):
        assert codec.decode(packb(value)) == value
    values = [f"{c}{i:03d}" for c in "ab" for i in range(300)]
    assert codec.decode(packb(values)) == values
    assert codec.decode(packb([{"kind": "kind"}, "kind", {"kinD": "kinD"}])) == [
        {"kind": "kind"}, "kind", {"kinD": "kinD"},
    ]  # fmt: skip
