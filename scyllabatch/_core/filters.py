"""Search filters: validation and matching against decoded item values.

A filter is a dict of ``path -> condition``, and an item matches when every condition holds.
A path names a top-level key or, with dots, a nested key (``"meta.author"``). A condition is:

- a dict of operators: ``$eq``, ``$ne``, ``$gt``, ``$gte``, ``$lt``, ``$lte``;
- a plain dict (LangGraph's nested form, ``{"meta": {"author": "ann"}}``): each key it names
  is matched in turn, so it matches when the item's value is a dict containing those keys with
  matching values (other keys may exist); ``{}`` matches any dict;
- any other value: equality.

Numbers compare as numbers (``9 < 10``, ``10 == 10.0``), strings as strings; values of
different kinds never match (``True`` is not ``1``, ``"9"`` is not ``9``). Lists (and tuples) are
equal element by element; ``$eq`` with a dict operand is exact equality. A missing key matches
only ``$ne``; JSON ``null`` is a value (``{"x": None}`` does not match a missing ``x``).
"""

from __future__ import annotations

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
            raise FilterError(f"Invalid filter key {raw_path!r}: it must be a non-empty str")
        path = tuple(raw_path.split("."))
        if any(not part for part in path):
            raise FilterError(
                f"Invalid filter key {raw_path!r}: it has an empty path segment (keys are dotted "
                "paths of non-empty field names, such as 'user.name')"
            )
        _compile_spec(path, raw_path, spec, conditions, 0)
    return tuple(conditions)


_MAX_FILTER_DEPTH = 32
_IS_DICT = "is_dict"  # internal: the value at the path is a dict (from an empty nested filter)


def _compile_spec(
    path: tuple[str, ...], name: str, spec: Any, out: list[Condition], depth: int
) -> None:
    if depth > _MAX_FILTER_DEPTH:
        raise FilterError(f"filter[{name!r}] is nested more than {_MAX_FILTER_DEPTH} levels")
    if not isinstance(spec, Mapping):
        out.append(Condition(path, "$eq", spec))
        return
    if not spec:
        out.append(Condition(path, _IS_DICT, None))
        return
    dollars = [isinstance(k, str) and k.startswith("$") for k in spec]
    if all(dollars):
        for operator, operand in spec.items():
            if operator not in OPERATORS:
                raise FilterError(
                    f"filter[{name!r}]: unknown operator {operator!r}; "
                    f"supported: {', '.join(OPERATORS)}"
                )
            if operator in ("$gt", "$gte", "$lt", "$lte") and not _orderable(operand):
                raise FilterError(
                    f"filter[{name!r}][{operator!r}] needs a number or a string, "
                    f"got {type(operand).__name__}"
                )
            out.append(Condition(path, operator, operand))
        return
    if any(dollars):
        raise FilterError(
            f"filter[{name!r}] mixes operators and plain keys; use either "
            f"{{'$op': value}} or a plain value for equality"
        )
    for key, sub in spec.items():
        if not isinstance(key, str) or not key:
            raise FilterError(f"filter[{name!r}] key {key!r} must be a non-empty str")
        _compile_spec((*path, key), f"{name}.{key}", sub, out, depth + 1)


def _orderable(value: Any) -> bool:
    return _kind(value) in ("number", "str")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, Mapping):
        return "dict"
    return type(value).__name__


def _lookup(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _equal(left: Any, right: Any) -> bool:
    """Deep equality where kinds must agree (``True != 1``) and numbers compare by value."""
    kind = _kind(left)
    if kind != _kind(right):
        return False
    if kind == "list":
        return len(left) == len(right) and all(
            _equal(a, b) for a, b in zip(left, right, strict=True)
        )
    if kind == "dict":
        return left.keys() == right.keys() and all(_equal(left[k], right[k]) for k in left)
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
        if condition.operator == _IS_DICT:
            if not isinstance(actual, dict):
                return False
        elif condition.operator == "$eq":
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
