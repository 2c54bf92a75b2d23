"""``StoreConfig.encode_default`` against the real node, on both facades."""

from __future__ import annotations

import dataclasses
import decimal
import uuid
from typing import Any

import pytest

from scyllabatch import PutOp, StoreConfig, StoreValidationError
from tests.integration.conftest import Facade, make_store, setup_store

pytestmark = pytest.mark.integration


@dataclasses.dataclass
class Order:
    id: uuid.UUID
    total: decimal.Decimal
    lines: list[str]


def to_plain(obj: object) -> object:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, (uuid.UUID, decimal.Decimal)):
        return str(obj)
    raise TypeError(f"no conversion for {type(obj).__name__}")


ORDER = Order(uuid.UUID(int=42), decimal.Decimal("19.90"), ["tea", "cups"])


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_hook_stores_unknown_types(kind: str, cql_session: Any, keyspace: str) -> None:
    facade = Facade(make_store(kind, cql_session, keyspace, encode_default=to_plain))
    await setup_store(facade.store)
    await facade.batch([PutOp(("shop",), "o1", {"order": ORDER, "ref": uuid.UUID(int=7)})])
    item = await facade.get(("shop",), "o1")
    assert item is not None
    # read back as what was stored: there is no decoding hook
    assert item.value == {
        "order": {"id": str(ORDER.id), "total": "19.90", "lines": ["tea", "cups"]},
        "ref": str(uuid.UUID(int=7)),
    }


async def test_without_a_hook_the_error_says_what_and_where(facade: Facade) -> None:
    ops = [
        PutOp(("shop",), "fine", {"n": 1}),
        PutOp(("shop",), "o2", {"order": {"id": uuid.UUID(int=1)}}),
    ]
    with pytest.raises(StoreValidationError) as info:
        await facade.batch(ops)
    error = info.value
    assert (error.op_index, error.field) == (1, "value")
    text = str(error)
    assert "value['order']['id']: UUID is not serializable" in text
    assert "StoreConfig(encode_default=...)" in text
    assert await facade.get(("shop",), "fine") is None  # nothing of the call was sent


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_hook_that_refuses_names_the_op(kind: str, cql_session: Any, keyspace: str) -> None:
    facade = Facade(make_store(kind, cql_session, keyspace, encode_default=to_plain))
    await setup_store(facade.store)
    with pytest.raises(StoreValidationError) as info:
        await facade.batch([PutOp(("shop",), "a", {}), PutOp(("shop",), "b", {"c": 1j})])
    assert info.value.op_index == 1
    assert "value['c']: complex is not serializable: the default hook raised TypeError" in str(
        info.value
    )
    assert "StoreConfig(encode_default" not in str(info.value)  # a hook is set: no advice


def test_hook_must_be_callable() -> None:
    with pytest.raises(StoreValidationError) as info:
        StoreConfig(encode_default="str")  # type: ignore[arg-type]
    assert info.value.field == "encode_default"
