"""The item files of ``scyllabatch load`` and ``export``: JSON Lines and CSV, one item per record.

JSON Lines (``.jsonl``, what ``export`` writes), one object per line::

    {"namespace": ["users", "alice"], "key": "m1", "value": {"text": "likes tea"}, "ttl": 60}

- ``namespace``: a JSON list of labels; ``key``: a string; ``value``: a JSON object;
  ``ttl`` (optional; absent or ``null``: never expires): minutes, like ``PutOp.ttl``.
  Other fields are refused (a typo such as ``"tll"`` would otherwise lose the TTL).
- MessagePack holds two things JSON does not: ``bytes`` and tz-aware datetimes. Inside a value
  they are written as one-key objects, ``{"$bytes": "<base64>"}`` and
  ``{"$datetime": "2025-01-02T03:04:05.000006+00:00"}`` (ISO 8601 with its UTC offset), and read
  back as ``bytes`` and ``datetime``. A value holding such a one-key object of its own cannot be
  exported (the error names it), so nothing is silently turned into another type.
- Blank lines are skipped. Files are UTF-8 (a leading byte-order mark is ignored).

CSV (``.csv``): a header row naming the columns ``namespace``, ``key``, ``value`` and optionally
``ttl``, in any order. ``namespace`` is the labels joined with ``.`` (labels never contain one),
``value`` the JSON text of the object (tags as above), ``ttl`` empty or minutes.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from datetime import datetime
from typing import Any

from scyllabatch._core.validation import TTL_EXTRA_SECONDS
from scyllabatch.ops import PutOp

FORMATS = ("jsonl", "csv")
BYTES_TAG = "$bytes"
DATETIME_TAG = "$datetime"
FIELDS = ("namespace", "key", "value", "ttl")
REQUIRED_FIELDS = ("namespace", "key", "value")


class ItemError(ValueError):
    """A record that is not a valid item; the message says what is wrong with it."""


def format_of(path: str) -> str:
    """The format a file name implies: ``csv`` for ``*.csv``, else ``jsonl``."""
    return "csv" if path.lower().endswith(".csv") else "jsonl"


def _untag(obj: dict[str, Any]) -> Any:
    if len(obj) != 1:
        return obj
    if BYTES_TAG in obj:
        text = obj[BYTES_TAG]
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise ItemError(f"{BYTES_TAG} must hold base64 text, got {text!r:.40}") from None
    if DATETIME_TAG in obj:
        text = obj[DATETIME_TAG]
        try:
            moment = datetime.fromisoformat(text)
        except (TypeError, ValueError):
            raise ItemError(f"{DATETIME_TAG} must hold ISO 8601 text, got {text!r:.40}") from None
        if moment.tzinfo is None:
            raise ItemError(f"{DATETIME_TAG} {text!r} needs a UTC offset (e.g. +00:00)")
        return moment
    return obj


def _json(text: str) -> Any:
    try:
        return json.loads(text, object_hook=_untag)
    except json.JSONDecodeError as exc:
        raise ItemError(f"not valid JSON: {exc.msg} (column {exc.colno})") from None


def _ttl(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ItemError(f"ttl must be a number of minutes or null, got {value!r:.40}")
    return float(value)


def _value(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        what = "null" if value is None else type(value).__name__
        raise ItemError(f"value must be a JSON object, got {what} (a load never deletes)")
    return value


def parse_json_item(text: str) -> PutOp:
    """The put of one JSON Lines record; :class:`ItemError` says what is wrong with it."""
    record = _json(text)
    if not isinstance(record, dict):
        raise ItemError("a line must be a JSON object with namespace, key, value and ttl")
    unknown = sorted(set(record) - set(FIELDS))
    if unknown:
        raise ItemError(f"unknown field {unknown[0]!r} (the fields are {', '.join(FIELDS)})")
    missing = [name for name in REQUIRED_FIELDS if name not in record]
    if missing:
        raise ItemError(f"missing field {missing[0]!r}")
    namespace = record["namespace"]
    if not isinstance(namespace, list):
        raise ItemError(
            f'namespace must be a JSON list of labels, e.g. ["users", "alice"], got '
            f"{namespace!r:.40}"
        )
    value = _value(record["value"])
    return PutOp(tuple(namespace), record["key"], value, ttl=_ttl(record.get("ttl")))


def check_csv_header(header: list[str]) -> dict[str, int]:
    """Column positions by field name; :class:`ItemError` for a header that is not ours."""
    names = [name.strip() for name in header]
    unknown = [name for name in names if name not in FIELDS]
    if unknown:
        raise ItemError(
            f"unknown column {unknown[0]!r} in the header (the columns are {', '.join(FIELDS)})"
        )
    missing = [name for name in REQUIRED_FIELDS if name not in names]
    if missing:
        raise ItemError(f"the header has no {missing[0]!r} column")
    if len(set(names)) != len(names):
        raise ItemError("the header names a column twice")
    return {name: position for position, name in enumerate(names)}


def parse_csv_item(row: list[str], columns: dict[str, int]) -> PutOp:
    """The put of one CSV record under a header checked by :func:`check_csv_header`."""
    if len(row) != len(columns):
        raise ItemError(f"has {len(row)} fields, the header {len(columns)}")
    text = row[columns["namespace"]]
    if not text:
        raise ItemError("namespace is empty")
    ttl_text = row[columns["ttl"]].strip() if "ttl" in columns else ""
    try:
        ttl = float(ttl_text) if ttl_text else None
    except ValueError:
        raise ItemError(f"ttl must be a number of minutes or empty, got {ttl_text!r:.40}") from None
    value = _value(_json(row[columns["value"]]))
    return PutOp(tuple(text.split(".")), row[columns["key"]], value, ttl=ttl)


def _tag(obj: Any) -> Any:
    if isinstance(obj, (bytes, bytearray)):
        return {BYTES_TAG: base64.b64encode(obj).decode("ascii")}
    if isinstance(obj, datetime):
        return {DATETIME_TAG: obj.isoformat()}
    raise TypeError(f"{type(obj).__name__} cannot be written as JSON")


def _holds_tag_lookalike(value: Any) -> bool:
    if isinstance(value, dict):
        if len(value) == 1 and (BYTES_TAG in value or DATETIME_TAG in value):
            return True
        return any(_holds_tag_lookalike(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_tag_lookalike(v) for v in value)
    return False


def item_line(namespace: tuple[str, ...], key: str, value: Any, ttl: float | None) -> str:
    """One JSON Lines record (without the newline), as :func:`parse_json_item` reads it."""
    record: dict[str, Any] = {"namespace": list(namespace), "key": key, "value": value}
    if ttl is not None:
        record["ttl"] = ttl
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=_tag)
    if (BYTES_TAG in text or DATETIME_TAG in text) and _holds_tag_lookalike(value):
        raise ItemError(
            f"the value of namespace {namespace!r} key {key!r} holds a one-key object "
            f"{{{BYTES_TAG!r}: ...}} or {{{DATETIME_TAG!r}: ...}} of its own, which a load would "
            "read back as bytes or a datetime: rename that key to export it"
        )
    return text


def remaining_ttl_minutes(ttl_seconds: int | None, writetime_us: int, now_us: int) -> float | None:
    """Minutes an item read now still has to live (``None``: it never expires).

    The stored TTL counts from the item's write time and holds the SDK's extra second, so a load
    of the exported item lives at least as long as the original, never much longer.
    """
    if not ttl_seconds:
        return None
    left = ttl_seconds - TTL_EXTRA_SECONDS - (now_us - writetime_us) / 1e6
    return math.ceil(max(left, 1.0) * 1000 / 60) / 1000


__all__ = [
    "BYTES_TAG",
    "DATETIME_TAG",
    "FORMATS",
    "ItemError",
    "check_csv_header",
    "format_of",
    "item_line",
    "parse_csv_item",
    "parse_json_item",
    "remaining_ttl_minutes",
]
