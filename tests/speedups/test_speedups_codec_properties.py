"""Property tests (hypothesis) for the codec twins: msgpack identity, round trips, fuzzing."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from types import ModuleType

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scyllabatch._codec_errors import DecodeError

pytestmark = pytest.mark.speedups

UTC = timezone.utc
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

offsets = st.builds(
    timezone,
    st.timedeltas(
        min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)
    ),
)
# Any aware datetime: every one encodes like msgpack's. Years 2..9998 also decode (the UTC
# equivalent of year 1 or 9999 with an offset can leave datetime's range).
any_aware = st.datetimes(timezones=st.just(UTC) | offsets)
decodable_aware = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.just(UTC) | offsets
)


def values(datetimes: st.SearchStrategy[datetime], nan: bool = True) -> st.SearchStrategy[object]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**63), max_value=2**64 - 1)
        | st.integers(min_value=-300, max_value=70_000)
        | st.floats(allow_nan=nan)
        | st.text()
        | st.text(alphabet="abcdefghij", min_size=28, max_size=40)
        | st.binary()
        | datetimes
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=20)
            | st.lists(children, max_size=5).map(tuple)
            | st.dictionaries(st.text(max_size=40), children, max_size=20)
        ),
        max_leaves=60,
    )


def packb(value: object) -> bytes:
    data: bytes = msgpack.packb(value, use_bin_type=True, datetime=True)
    return data


def normalize(value: object) -> object:
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return value


@SETTINGS
@given(value=values(any_aware))
def test_encode_matches_msgpack(codec: ModuleType, value: object) -> None:
    assert codec.encode(value) == packb(value)


@SETTINGS
@given(value=values(decodable_aware, nan=False))
def test_round_trip(codec: ModuleType, value: object) -> None:
    data = codec.encode(value)
    decoded = codec.decode(data)
    assert decoded == normalize(value)
    assert decoded == msgpack.unpackb(data, timestamp=3)
    assert codec.decode(packb(value)) == decoded
    assert codec.encode(decoded) == data


@SETTINGS
@given(value=values(decodable_aware))
def test_round_trip_bytes_with_nan(codec: ModuleType, value: object) -> None:
    data = codec.encode(value)
    assert codec.encode(codec.decode(data)) == data


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(values(decodable_aware), max_size=10))
def test_twins_agree_on_batches(
    codec_pair: tuple[ModuleType, ModuleType], batch: list[object]
) -> None:
    compiled, pure = codec_pair
    encoded, sizes = compiled.encode_batch(batch)
    assert (encoded, sizes) == pure.encode_batch(batch)
    assert sizes == [len(b) for b in encoded]
    assert repr(compiled.decode_batch(encoded)) == repr(pure.decode_batch(encoded))


def outcome(codec: ModuleType, data: bytes) -> str:
    """Decode ``data``; anything but a value or a DecodeError fails the test."""
    try:
        result = codec.decode(data)
    except DecodeError as exc:
        return f"DecodeError: {exc}"
    if isinstance(result, float) and math.isnan(result):
        return "nan"
    return repr(result)


@settings(max_examples=1500, deadline=None)
@given(data=st.binary(max_size=64))
def test_random_bytes_only_raise_decode_error(codec: ModuleType, data: bytes) -> None:
    outcome(codec, data)


@settings(max_examples=600, deadline=None)
@given(
    value=values(any_aware),
    edits=st.lists(
        st.tuples(st.sampled_from(["flip", "insert", "delete", "truncate"]),
                  st.integers(min_value=0), st.integers(min_value=0, max_value=255)),
        min_size=1, max_size=4,
    ),
)  # fmt: skip
def test_mutated_bytes(
    codec_pair: tuple[ModuleType, ModuleType],
    value: object,
    edits: list[tuple[str, int, int]],
) -> None:
    data = bytearray(packb(value))
    for op, where, byte in edits:
        if not data:
            break
        i = where % len(data)
        if op == "flip":
            data[i] ^= byte or 0x80
        elif op == "insert":
            data.insert(i, byte)
        elif op == "delete":
            del data[i]
        else:
            del data[i:]
    compiled, pure = codec_pair
    # Never anything but a value or a DecodeError, and both twins say exactly the same thing.
    assert outcome(compiled, bytes(data)) == outcome(pure, bytes(data))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=64))
def test_twins_agree_on_random_bytes(
    codec_pair: tuple[ModuleType, ModuleType], data: bytes
) -> None:
    compiled, pure = codec_pair
    assert outcome(compiled, data) == outcome(pure, data)
