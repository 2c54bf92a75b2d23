"""Search filters: validation and matching against decoded item values.

A filter is a dict of ``path -> condition``. A path names a top-level key or, with dots, a nested
key (``"meta.author"``). A condition is a plain value (equality) or a dict of operators:
``$eq``, ``$ne``, ``$gt``, ``$gte``, ``$lt``, ``$lte``. Numbers compare as numbers (``9 < 10``),
strings as strings; comparing values of different kinds is simply no match.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")

_MISSING = object()


class FilterError(ValueError):
    """A filter is malformed; the message names the offending path or operator."""


@dataclass(frozen=True, slots=True)
class Condition:
    """One ``path op value`` test."""

    path: tuple[str, ...]
    operator: str
    operand: Any


def compile_filter(filter_: Mapping[str, Any] | None) -> tuple[Condition, ...]:
    """Validate a filter and return its conditions (all must hold)."""
    if filter_ is None:
        return ()
    if not isinstance(filter_, Mapping):
        raise FilterError(f"filter must be a dict, got {type(filter_).__name__}")
    conditions: list[Condition] = []
    for raw_path, spec in filter_.items():
        if not isinstance(raw_path, str) or not raw_path:
            raise FilterError(f"filter key {raw_path!r} must be a non-empty str")
        path = tuple(raw_path.split("."))
        if any(not part for part in path):
            raise FilterError(f"filter key {raw_path!r} has an empty path segment")
        if (
            isinstance(spec, Mapping)
            and spec
            and all(isinstance(k, str) and k.startswith("$") for k in spec)
        ):
            for operator, operand in spec.items():
                if operator not in OPERATORS:
                    raise FilterError(
                        f"filter[{raw_path!r}]: unknown operator {operator!r}; "
                        f"supported: {', '.join(OPERATORS)}"
                    )
                if operator in ("$gt", "$gte", "$lt", "$lte") and not _orderable(operand):
                    raise FilterError(
                        f"filter[{raw_path!r}][{operator!r}] needs a number or a string, "
                        f"got {type(operand).__name__}"
                    )
                conditions.append(Condition(path, operator, operand))
        elif isinstance(spec, Mapping) and any(
            isinstance(k, str) and k.startswith("$") for k in spec
        ):
            raise FilterError(
                f"filter[{raw_path!r}] mixes operators and plain keys; use either "
                f"{{'$op': value}} or a plain value for equality"
            )
        else:
            conditions.append(Condition(path, "$eq", spec))
    return tuple(conditions)


def _orderable(value: Any) -> bool:
    return _kind(value) in ("number", "str")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "str"
    return type(value).__name__


def _lookup(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _equal(left: Any, right: Any) -> bool:
    kind = _kind(left)
    if kind != _kind(right):
        return False
    if kind == "number":
        return bool(left == right) and not (isinstance(left, float) and math.isnan(left))
    return bool(left == right)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}


def matches(value: Mapping[str, Any], conditions: tuple[Condition, ...]) -> bool:
    """Return whether an item value satisfies every condition."""
    for condition in conditions:
        actual = _lookup(value, condition.path)
        if condition.operator == "$eq":
            if actual is _MISSING or not _equal(actual, condition.operand):
                return False
        elif condition.operator == "$ne":
            if actual is not _MISSING and _equal(actual, condition.operand):
                return False
        else:
            if actual is _MISSING or _kind(actual) != _kind(condition.operand):
                return False
            if not _COMPARE[condition.operator](actual, condition.operand):
                return False
    return True
