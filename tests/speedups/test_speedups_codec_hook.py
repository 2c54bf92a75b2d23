"""The codec's ``default`` hook (``StoreConfig.encode_default``) on both twins.

The hook is called only for objects of types the codec does not know; what it returns is packed
in their place, byte for byte as msgpack's own ``default=`` would (msgpack is the oracle).
"""

from __future__ import annotations

import dataclasses
import decimal
import uuid
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import msgpack
import pytest

from scyllabatch._codec_errors import EncodeError


@dataclasses.dataclass
class Payment:
    id: uuid.UUID
    amount: decimal.Decimal
    at: datetime


def to_plain(obj: object) -> object:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, (uuid.UUID, decimal.Decimal)):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"cannot store {type(obj).__name__}")


PAYMENT = Payment(uuid.UUID(int=7), decimal.Decimal("12.50"), datetime(2025, 1, 2, tzinfo=UTC))
VALUES: list[Any] = [
    {"payment": PAYMENT},
    {"ids": [uuid.UUID(int=1), uuid.UUID(int=2)], "tags": {"b", "a"}},
    {"nested": {"deep": [{"d": decimal.Decimal("1e-3")}]}},
    {"plain": 1, "text": "no hook needed"},
]


def oracle(value: object) -> bytes:
    return msgpack.packb(value, use_bin_type=True, datetime=True, default=to_plain)


@pytest.mark.parametrize("value", VALUES)
def test_hook_output_is_msgpacks(codec: ModuleType, value: object) -> None:
    assert codec.encode(value, to_plain) == oracle(value)
    assert codec.encode(value, default=to_plain) == oracle(value)


def test_twins_are_byte_identical_with_a_hook(codec_pair: tuple[ModuleType, ModuleType]) -> None:
    compiled, pure = codec_pair
    assert compiled.encode_batch(VALUES, to_plain) == pure.encode_batch(VALUES, to_plain)
    encoded, sizes = pure.encode_batch(VALUES, to_plain)
    assert encoded == [oracle(v) for v in VALUES]
    assert sizes == [len(b) for b in encoded]


def test_hook_is_not_called_for_known_types(codec: ModuleType) -> None:
    calls: list[object] = []

    def spy(obj: object) -> object:
        calls.append(obj)
        return str(obj)

    plain = {"a": [1, 2.5, "x", b"y", None, True, (3,)], "t": datetime(2024, 5, 1, tzinfo=UTC)}
    assert codec.encode(plain, spy) == codec.encode(plain)
    assert calls == []
    codec.encode({"u": uuid.UUID(int=3), "n": [uuid.UUID(int=4)]}, spy)
    assert calls == [uuid.UUID(int=3), uuid.UUID(int=4)]


def test_returned_items_go_through_the_hook_again(codec: ModuleType) -> None:
    decoded = codec.decode(codec.encode({"p": PAYMENT}, to_plain))
    assert decoded == {
        "p": {"id": str(PAYMENT.id), "amount": "12.50", "at": PAYMENT.at},
    }


def test_hook_returning_an_unknown_type_is_refused(codec: ModuleType) -> None:
    with pytest.raises(EncodeError) as info:
        codec.encode({"x": [object()]}, lambda obj: obj)  # would recurse forever
    assert info.value.path == "value['x'][0]"
    assert info.value.reason == (
        "object is not serializable: the default hook returned a value of type object, which "
        "is not serializable either"
    )


def test_hook_errors_become_encode_errors(codec: ModuleType) -> None:
    with pytest.raises(EncodeError) as info:
        codec.encode_batch([{}, {"k": {"s": complex(1, 2)}}], to_plain)
    err = info.value
    assert (err.index, err.path) == (1, "value['k']['s']")
    assert err.reason == (
        "complex is not serializable: the default hook raised TypeError: cannot store complex"
    )
    assert isinstance(err.__cause__, TypeError)


def test_without_a_hook_the_error_names_the_type_and_path(codec: ModuleType) -> None:
    with pytest.raises(EncodeError) as info:
        codec.encode({"payment": {"id": uuid.UUID(int=1)}})
    assert info.value.path == "value['payment']['id']"
    assert info.value.reason == "UUID is not serializable"


def test_hook_must_be_callable(codec: ModuleType) -> None:
    with pytest.raises(TypeError, match="default must be callable or None, got int"):
        codec.encode({}, 5)
    with pytest.raises(TypeError, match="default must be callable or None, got str"):
        codec.encode_batch([{}], "str")


def test_a_self_nesting_hook_hits_the_depth_limit(codec: ModuleType) -> None:
    with pytest.raises(EncodeError, match="nesting deeper than 256 levels"):
        codec.encode({"x": uuid.UUID(int=1)}, lambda obj: [obj])
