"""Validate and normalize a batch of operations before any I/O.

One bad op raises :class:`~scyllabatch.StoreValidationError` naming the op's index and field;
nothing of the batch is sent. Ops built by LangGraph (``langgraph.store.base``) are accepted as
they are: they are recognised by their type name and fields.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scyllabatch._codec_errors import EncodeError
from scyllabatch._core.filters import Condition, FilterError, compile_filter
from scyllabatch._impl import writes as selected_writes
from scyllabatch.errors import StoreValidationError
from scyllabatch.ops import BatchType, GetOp, ListNamespacesOp, PutOp, SearchOp

# Cassandra rejects TTLs above 20 years.
MAX_TTL_SECONDS = 20 * 365 * 24 * 3600
NAMESPACE_SEPARATOR = "."
MAX_LABEL_BYTES = 1024
MAX_KEY_BYTES = 32 * 1024


@dataclass(slots=True)
class PutWrite:
    """A validated put (``encoded`` set) or delete (``encoded`` is ``None``)."""

    index: int
    namespace: tuple[str, ...]
    partition: str
    key: str
    encoded: bytes | None
    ttl_seconds: int | None


@dataclass(slots=True)
class GetRead:
    """A validated get."""

    index: int
    namespace: tuple[str, ...]
    partition: str
    key: str
    refresh_ttl: bool


@dataclass(slots=True)
class SearchRead:
    """A validated search."""

    index: int
    prefix: tuple[str, ...]
    conditions: tuple[Condition, ...]
    limit: int
    offset: int
    refresh_ttl: bool


@dataclass(slots=True)
class ListRead:
    """A validated namespace listing."""

    index: int
    prefixes: tuple[tuple[str, ...], ...]
    suffixes: tuple[tuple[str, ...], ...]
    max_depth: int | None
    limit: int
    offset: int


NormalizedOp = PutWrite | GetRead | SearchRead | ListRead


def _op_kind(op: object) -> str | None:
    for cls in (PutOp, GetOp, SearchOp, ListNamespacesOp):
        if isinstance(op, cls):
            return cls.__name__
    # LangGraph's own NamedTuples (same names, same field order).
    name = type(op).__name__
    fields = getattr(op, "_fields", None)
    for cls in (PutOp, GetOp, SearchOp, ListNamespacesOp):
        if name == cls.__name__ and fields == cls._fields:
            return name
    return None


def _fail(index: int, kind: str, field: str, problem: str) -> StoreValidationError:
    return StoreValidationError(
        f"op {index} ({kind}) {field}: {problem}; nothing of the batch was sent",
        op_index=index,
        field=field,
    )


def validate_namespace(
    value: Any, index: int, kind: str, field: str, *, allow_empty: bool = False
) -> tuple[str, ...]:
    """Return the namespace as a tuple of labels or raise a validation error."""
    if isinstance(value, str) or not isinstance(value, (tuple, list)):
        raise _fail(
            index, kind, field, f"must be a tuple of str labels, got {type(value).__name__}"
        )
    labels = tuple(value)
    if not labels and not allow_empty:
        raise _fail(index, kind, field, "must have at least one label")
    for position, label in enumerate(labels):
        if not isinstance(label, str):
            raise _fail(
                index,
                kind,
                f"{field}[{position}]",
                f"label must be str, got {type(label).__name__}",
            )
        if not label:
            raise _fail(index, kind, f"{field}[{position}]", "label must not be empty")
        if NAMESPACE_SEPARATOR in label:
            raise _fail(
                index, kind, f"{field}[{position}]", f"label {label!r} must not contain '.'"
            )
        if len(label.encode("utf-8", "surrogatepass")) > MAX_LABEL_BYTES:
            raise _fail(index, kind, f"{field}[{position}]", "label is longer than 1024 bytes")
        if not label.isprintable() and any(ord(c) < 32 for c in label):
            raise _fail(
                index, kind, f"{field}[{position}]", "label must not contain control characters"
            )
    return labels


def _validate_key(value: Any, index: int, kind: str) -> str:
    if not isinstance(value, str):
        raise _fail(index, kind, "key", f"must be str, got {type(value).__name__}")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise _fail(index, kind, "key", "is not valid UTF-8 (lone surrogate)") from None
    if size > MAX_KEY_BYTES:
        raise _fail(index, kind, "key", f"is {size} bytes; at most {MAX_KEY_BYTES} are allowed")
    return value


def ttl_to_seconds(ttl: Any, index: int, kind: str = "PutOp") -> int | None:
    """Convert a TTL in minutes (LangGraph's unit) to whole CQL seconds, rounded up, at least 1."""
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
        raise _fail(index, kind, "ttl", f"must be minutes as a number, got {type(ttl).__name__}")
    if not math.isfinite(ttl) or ttl < 0:
        raise _fail(index, kind, "ttl", f"must be a finite number of minutes >= 0, got {ttl!r}")
    seconds = max(1, math.ceil(ttl * 60))
    if seconds > MAX_TTL_SECONDS:
        raise _fail(index, kind, "ttl", f"{ttl} minutes is longer than the 20-year CQL maximum")
    return int(seconds)


def _validate_int(value: Any, index: int, kind: str, field: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(index, kind, field, f"must be an int, got {type(value).__name__}")
    if value < minimum:
        raise _fail(index, kind, field, f"must be >= {minimum}, got {value}")
    return value


def _validate_bool(value: Any, index: int, kind: str, field: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(index, kind, field, f"must be a bool, got {type(value).__name__}")
    return value


def parse_batch_type(batch_type: Any) -> BatchType:
    """Accept ``"LOGGED"``/``"UNLOGGED"`` (any case) or a :class:`BatchType`."""
    if isinstance(batch_type, BatchType):
        return batch_type
    if isinstance(batch_type, str):
        try:
            return BatchType(batch_type.strip().upper())
        except ValueError:
            pass
    raise StoreValidationError(
        f"batch_type {batch_type!r} is not supported; use 'UNLOGGED' or 'LOGGED'",
        field="batch_type",
    )


def validate_ops(
    ops: Sequence[Any], codec: Any, writes: Any = selected_writes
) -> list[NormalizedOp]:
    """Validate every op and encode every put value in one codec call.

    ``codec`` is the selected speedups codec module (``encode_batch``); ``writes`` the selected
    writes module, whose ``fast_put`` accepts the common, certainly valid puts without the
    label-by-label checks.
    """
    if isinstance(ops, (str, bytes)) or not isinstance(ops, Sequence):
        raise StoreValidationError(
            f"ops must be a list of operations, got {type(ops).__name__}", field="ops"
        )
    fast_put = writes.fast_put
    normalized: list[NormalizedOp] = []
    partitions: dict[object, str] = {}  # namespace -> partition text, for the fast path
    values_to_encode: list[Any] = []
    encode_targets: list[PutWrite] = []
    for index, op in enumerate(ops):
        kind = _op_kind(op)
        if kind is None:
            raise StoreValidationError(
                f"op {index} is a {type(op).__name__}; expected PutOp, GetOp, SearchOp or "
                "ListNamespacesOp; nothing of the batch was sent",
                op_index=index,
                field="op",
            )
        if kind == "PutOp":
            fast = fast_put(op, partitions)
            if fast is not None:  # certainly valid: skip the label-by-label checks below
                namespace, partition, key, value, ttl = fast
                ttl_seconds = None if ttl is None else ttl_to_seconds(ttl, index, kind)
                put = PutWrite(
                    index, namespace, partition, key, None, None if value is None else ttl_seconds
                )
                if value is not None:
                    values_to_encode.append(value)
                    encode_targets.append(put)
                normalized.append(put)
                continue
            namespace = validate_namespace(op[0], index, kind, "namespace")
            key = _validate_key(op[1], index, kind)
            value = op[2]
            index_field = op[3]
            index_ok = (
                index_field is None
                or index_field is False
                or (isinstance(index_field, list) and all(isinstance(f, str) for f in index_field))
            )
            if not index_ok:
                raise _fail(index, kind, "index", "must be None, False or a list of str")
            if value is not None and not isinstance(value, dict):
                raise _fail(
                    index, kind, "value", f"must be a dict or None, got {type(value).__name__}"
                )
            ttl_seconds = ttl_to_seconds(op[4], index, kind)  # checked for deletes too
            put = PutWrite(
                index=index,
                namespace=namespace,
                partition=NAMESPACE_SEPARATOR.join(namespace),
                key=key,
                encoded=None,
                ttl_seconds=ttl_seconds if value is not None else None,
            )
            if value is not None:
                values_to_encode.append(value)
                encode_targets.append(put)
            normalized.append(put)
        elif kind == "GetOp":
            namespace = validate_namespace(op[0], index, kind, "namespace")
            normalized.append(
                GetRead(
                    index=index,
                    namespace=namespace,
                    partition=NAMESPACE_SEPARATOR.join(namespace),
                    key=_validate_key(op[1], index, kind),
                    refresh_ttl=_validate_bool(op[2], index, kind, "refresh_ttl"),
                )
            )
        elif kind == "SearchOp":
            prefix = validate_namespace(op[0], index, kind, "namespace_prefix", allow_empty=True)
            if op[4] is not None:
                raise _fail(
                    index,
                    kind,
                    "query",
                    "semantic search is not supported by scyllabatch yet; search with a "
                    "namespace prefix and a filter, and pass query=None",
                )
            try:
                conditions = compile_filter(op[1])
            except FilterError as exc:
                raise _fail(index, kind, "filter", str(exc)) from None
            normalized.append(
                SearchRead(
                    index=index,
                    prefix=prefix,
                    conditions=conditions,
                    limit=_validate_int(op[2], index, kind, "limit", 0),
                    offset=_validate_int(op[3], index, kind, "offset", 0),
                    refresh_ttl=_validate_bool(op[5], index, kind, "refresh_ttl"),
                )
            )
        else:
            normalized.append(_validate_list(op, index, kind))
    if values_to_encode:
        try:
            encoded, _sizes = codec.encode_batch(values_to_encode)
        except EncodeError as exc:
            put = encode_targets[exc.index if exc.index is not None else 0]
            raise _fail(put.index, "PutOp", "value", str(exc)) from exc
        for put, blob in zip(encode_targets, encoded, strict=False):
            put.encoded = blob
    return normalized


def _validate_list(op: Any, index: int, kind: str) -> ListRead:
    conditions, max_depth, limit, offset = op[0], op[1], op[2], op[3]
    prefixes: list[tuple[str, ...]] = []
    suffixes: list[tuple[str, ...]] = []
    if conditions is not None:
        if isinstance(conditions, (str, bytes)) or not isinstance(conditions, Sequence):
            raise _fail(index, kind, "match_conditions", "must be a sequence of MatchCondition")
        for position, condition in enumerate(conditions):
            field = f"match_conditions[{position}]"
            if not isinstance(condition, tuple) or len(condition) != 2:
                raise _fail(index, kind, field, "must be a MatchCondition(match_type, path)")
            match_type, path = condition
            labels = _validate_pattern(path, index, kind, f"{field}.path")
            if match_type == "prefix":
                prefixes.append(labels)
            elif match_type == "suffix":
                suffixes.append(labels)
            else:
                raise _fail(
                    index,
                    kind,
                    f"{field}.match_type",
                    f"must be 'prefix' or 'suffix', got {match_type!r}",
                )
    if max_depth is not None:
        max_depth = _validate_int(max_depth, index, kind, "max_depth", 1)
    return ListRead(
        index=index,
        prefixes=tuple(prefixes),
        suffixes=tuple(suffixes),
        max_depth=max_depth,
        limit=_validate_int(limit, index, kind, "limit", 0),
        offset=_validate_int(offset, index, kind, "offset", 0),
    )


def _validate_pattern(value: Any, index: int, kind: str, field: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (tuple, list)):
        raise _fail(
            index, kind, field, f"must be a tuple of str labels, got {type(value).__name__}"
        )
    labels = tuple(value)
    for position, label in enumerate(labels):
        if not isinstance(label, str) or not label:
            raise _fail(index, kind, f"{field}[{position}]", "label must be a non-empty str")
        if label != "*" and NAMESPACE_SEPARATOR in label:
            raise _fail(index, kind, f"{field}[{position}]", f"label {label!r} contains '.'")
    return labels
