"""Validate and normalize a batch of operations before any I/O.

One bad op raises :class:`~scyllabatch.StoreValidationError` naming the op's index and field and
saying what to do; nothing of the batch is sent. Ops built by LangGraph (``langgraph.store.base``)
are accepted as they are: they are recognised by their type name and fields.

Every rule is a small function below, and every limit a module constant, so the compiled write
path can mirror them exactly:

- **Labels** (namespaces, search prefixes, namespace patterns): non-empty ``str``, no ``.``
  (the separator of the stored partition name), valid UTF-8 (no lone surrogates), at most
  :data:`MAX_LABEL_BYTES` bytes. Anything else is accepted, control characters included
  (``"alice\\n"`` is a valid label).
- **Namespace size**: the labels joined with ``.`` are at most :data:`MAX_NAMESPACE_BYTES` bytes
  in UTF-8, the server's limit for a partition (and clustering) key.
- **Keys**: ``str``, valid UTF-8, at most :data:`MAX_KEY_BYTES` bytes.
- **TTL**: ``None`` (never expires) or a finite number of minutes > 0; stored as
  :func:`stored_ttl_seconds` (the asked seconds rounded up, plus :data:`TTL_EXTRA_SECONDS`), at
  most :data:`MAX_TTL_SECONDS`.
- **Values**: a ``dict`` (or ``None`` to delete) whose MessagePack encoding is at most
  ``BatchLimits.max_value_bytes`` (default :data:`MAX_VALUE_BYTES`).
- **Search query**: ``None`` or a ``str``; ignored unless the store has an index config.
- **Match condition paths**: a tuple/list of labels, or one ``str`` taken as a one-label path;
  ``"*"`` is a wildcard label.
- **Conditional puts**: the put rules above, plus a condition that is :class:`IfAbsent` (not for
  a delete) or :class:`IfUnchanged` with a ``datetime``.
- **Counters**: a counter name is a non-empty ``str`` of valid UTF-8, at most
  :data:`MAX_COUNTER_NAME_BYTES` bytes; a delta is an ``int`` within the server's 64-bit range.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from scyllabatch._codec_errors import NOT_SERIALIZABLE, EncodeError
from scyllabatch._core.filters import Condition, FilterError, compile_filter
from scyllabatch._core.items import EPOCH
from scyllabatch._core.speedups import Codec, Writes
from scyllabatch._impl import writes as selected_writes
from scyllabatch.errors import StoreValidationError
from scyllabatch.ops import (
    BatchType,
    ConditionalPutOp,
    CounterOp,
    GetCountersOp,
    GetOp,
    IfAbsent,
    IfUnchanged,
    ListNamespacesOp,
    PutOp,
    SearchOp,
)

logger = logging.getLogger("scyllabatch")

NAMESPACE_SEPARATOR = "."
WILDCARD = "*"
MAX_LABEL_BYTES = 1024
# The server refuses partition and clustering key values above 65,535 bytes ("Key length of
# 65536 is longer than maximum of 65535"); a namespace is the items' partition key and the
# registry's clustering key.
MAX_NAMESPACE_BYTES = 65_535
MAX_KEY_BYTES = 32 * 1024
# Cassandra and ScyllaDB reject TTLs above 20 years.
MAX_TTL_SECONDS = 20 * 365 * 24 * 3600
# The server expires cells on whole seconds: ``USING TTL n`` lives between n - 1 and n seconds
# after the write. One extra second keeps an item readable for at least the TTL asked.
TTL_EXTRA_SECONDS = 1
# ``ttl * 60`` in floating point can land just above a whole second (31 / 60 * 60 is
# 31.000000000000004); differences this small are float noise, not a wish for one more second.
TTL_ROUNDING_SLACK_SECONDS = 1e-6
MAX_TTL_MINUTES = (MAX_TTL_SECONDS - TTL_EXTRA_SECONDS) / 60
# Default of BatchLimits.max_value_bytes: the server refuses a CQL message above 16 MiB
# (Cassandra's native_transport_max_frame_size / max message size; the commit log also refuses
# a mutation above half its 32 MiB segment). 1 MiB is left for the key, the namespace, the other
# columns and the framing of the statement.
MAX_VALUE_BYTES = 15 * 1024 * 1024
MAX_COUNTER_NAME_BYTES = 1024
# A counter is a signed 64-bit integer on the server.
MIN_COUNTER = -(2**63)
MAX_COUNTER = 2**63 - 1


@dataclass(slots=True)
class PutWrite:
    """A validated put (``encoded`` set, ``encoded_size`` as the codec reported it) or delete
    (``encoded`` is ``None``)."""

    index: int
    namespace: tuple[str, ...]
    partition: str
    key: str
    encoded: bytes | None
    ttl_seconds: int | None
    encoded_size: int = 0


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
    query: str | None = None


@dataclass(slots=True)
class ListRead:
    """A validated namespace listing."""

    index: int
    prefixes: tuple[tuple[str, ...], ...]
    suffixes: tuple[tuple[str, ...], ...]
    max_depth: int | None
    limit: int
    offset: int


@dataclass(slots=True)
class ConditionalWrite:
    """A validated conditional put or delete: ``put`` holds the write (not merged with plain
    puts), ``expected_updated_us`` the ``updated_at`` the item must have (``None``: the item
    must be absent), ``value`` the op's value (for the result when applied)."""

    put: PutWrite
    expected_updated_us: int | None
    value: dict[str, Any] | None

    @property
    def index(self) -> int:
        """The op's position in the call."""
        return self.put.index


@dataclass(slots=True)
class CounterWrite:
    """A validated counter increment."""

    index: int
    namespace: tuple[str, ...]
    partition: str
    key: str
    counter: str
    delta: int


@dataclass(slots=True)
class CounterRead:
    """A validated read of an item's counters."""

    index: int
    namespace: tuple[str, ...]
    partition: str
    key: str


NormalizedOp = (
    PutWrite | GetRead | SearchRead | ListRead | ConditionalWrite | CounterWrite | CounterRead
)

_OP_TYPES = (
    PutOp,
    GetOp,
    SearchOp,
    ListNamespacesOp,
    ConditionalPutOp,
    CounterOp,
    GetCountersOp,
)


def _op_kind(op: object) -> str | None:
    for cls in _OP_TYPES:
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


# -- text ---------------------------------------------------------------------------------------


def utf8_size(text: str) -> int | None:
    """The UTF-8 size of ``text`` in bytes, or ``None`` if it holds a lone surrogate.

    A lone surrogate (``"\\ud800"``) is a valid Python ``str`` but not valid UTF-8: neither the
    driver nor the server can carry it.
    """
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return None


def _surrogate_problem(text: str) -> str:
    bad = next(c for c in text if 0xD800 <= ord(c) <= 0xDFFF)
    return (
        f"{text[:40]!r} holds a lone surrogate (U+{ord(bad):04X}), which is not valid UTF-8 and "
        "cannot be stored; repair the text first (e.g. decode bytes with errors='replace')"
    )


def label_problem(label: Any, *, wildcard: bool = False) -> str | None:
    """What is wrong with one namespace label, or ``None`` if it is fine.

    A label is a non-empty ``str`` without ``.``, valid UTF-8, at most :data:`MAX_LABEL_BYTES`
    bytes. With ``wildcard`` (match-condition paths), ``"*"`` is accepted as a wildcard.
    Control characters, spaces and any other printable or non-printable text are fine.
    """
    if not isinstance(label, str):
        return f"label must be str, got {type(label).__name__}"
    if not label:
        return "label must not be empty"
    if wildcard and label == WILDCARD:
        return None
    if NAMESPACE_SEPARATOR in label:
        return f"label {label[:40]!r} must not contain '.' (it separates stored labels)"
    size = utf8_size(label)
    if size is None:
        return _surrogate_problem(label)
    if size > MAX_LABEL_BYTES:
        return f"label is {size} bytes in UTF-8; at most {MAX_LABEL_BYTES} are allowed"
    return None


def namespace_size(labels: Sequence[str]) -> int:
    """Bytes of the stored partition name: the labels' UTF-8 joined with ``.``.

    The labels must already have passed :func:`label_problem`.
    """
    return len(NAMESPACE_SEPARATOR.join(labels).encode("utf-8"))


def namespace_size_problem(labels: Sequence[str]) -> str | None:
    """Whether the labels joined with ``.`` exceed :data:`MAX_NAMESPACE_BYTES`."""
    size = namespace_size(labels)
    if size > MAX_NAMESPACE_BYTES:
        return (
            f"is {size} bytes once its labels are joined with '.'; at most "
            f"{MAX_NAMESPACE_BYTES} bytes fit the server's key size: use fewer or shorter labels"
        )
    return None


def _validate_labels(
    value: Any, index: int, kind: str, field: str, *, allow_empty: bool, wildcard: bool
) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (tuple, list)):
        raise _fail(
            index, kind, field, f"must be a tuple of str labels, got {type(value).__name__}"
        )
    labels = tuple(value)
    if not labels and not allow_empty:
        raise _fail(index, kind, field, "must have at least one label")
    for position, label in enumerate(labels):
        problem = label_problem(label, wildcard=wildcard)
        if problem is not None:
            raise _fail(index, kind, f"{field}[{position}]", problem)
    problem = namespace_size_problem(labels)
    if problem is not None:
        raise _fail(index, kind, field, problem)
    return labels


def validate_namespace(
    value: Any, index: int, kind: str, field: str, *, allow_empty: bool = False
) -> tuple[str, ...]:
    """Return a namespace (or search prefix) as a tuple of labels, or raise a validation error.

    A ``str`` is refused rather than split into one-letter labels; lists behave like tuples.
    """
    return _validate_labels(value, index, kind, field, allow_empty=allow_empty, wildcard=False)


def validate_pattern(value: Any, index: int, kind: str, field: str) -> tuple[str, ...]:
    """Return a match condition's path as a tuple of labels, or raise a validation error.

    A ``str`` is a one-label path (as LangGraph accepts it); ``"*"`` matches any one label.
    """
    if isinstance(value, str):
        value = (value,)
    return _validate_labels(value, index, kind, field, allow_empty=True, wildcard=True)


def validate_key(value: Any, index: int, kind: str) -> str:
    """Return the key if it is a ``str`` of valid UTF-8 within :data:`MAX_KEY_BYTES` bytes."""
    if not isinstance(value, str):
        raise _fail(index, kind, "key", f"must be str, got {type(value).__name__}")
    size = utf8_size(value)
    if size is None:
        raise _fail(index, kind, "key", _surrogate_problem(value))
    if size > MAX_KEY_BYTES:
        raise _fail(index, kind, "key", f"is {size} bytes; at most {MAX_KEY_BYTES} are allowed")
    return value


# -- TTL ----------------------------------------------------------------------------------------


def stored_ttl_seconds(minutes: float) -> int:
    """The CQL TTL stored for a valid TTL of ``minutes`` (see :func:`ttl_problem`).

    The asked seconds are rounded up to a whole second (at least one; float noise below
    :data:`TTL_ROUNDING_SLACK_SECONDS` is ignored), plus :data:`TTL_EXTRA_SECONDS`: the server
    expires on whole seconds, so ``USING TTL n`` keeps a cell between n - 1 and n seconds, and
    ``ceil(seconds) + 1`` keeps the item readable for at least the TTL asked. For example
    ``1/60`` (one second) is stored as 2 s, ``0.5`` as 31 s, ``1`` as 61 s.
    """
    asked = max(1, math.ceil(minutes * 60 - TTL_ROUNDING_SLACK_SECONDS))
    return int(asked) + TTL_EXTRA_SECONDS


def ttl_problem(ttl: Any) -> str | None:
    """What is wrong with a TTL in minutes, or ``None`` if it can be stored.

    ``None`` (no expiry) or a finite ``int``/``float`` > 0 (``bool`` is refused) whose stored
    seconds stay within :data:`MAX_TTL_SECONDS`. ``0`` is refused rather than taken as "no
    expiry": ``None`` says that. Huge numbers (``1e308``, ``10**400``) are compared before any
    arithmetic, so they never overflow.
    """
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
        return f"must be minutes as a number (or None for no expiry), got {type(ttl).__name__}"
    if isinstance(ttl, float) and not math.isfinite(ttl):
        return f"must be a finite number of minutes (None means no expiry), got {ttl!r}"
    if ttl == 0:
        return "0 minutes is not a TTL; pass ttl=None for an item that never expires"
    if ttl < 0:
        return f"must be a positive number of minutes (None means no expiry), got {ttl!r}"
    if ttl > MAX_TTL_MINUTES or stored_ttl_seconds(ttl) > MAX_TTL_SECONDS:
        return (
            f"{ttl!r} minutes is longer than the server allows ({MAX_TTL_MINUTES:,.0f} minutes, "
            "about 20 years); pass ttl=None for an item that never expires"
        )
    return None


def ttl_to_seconds(ttl: Any, index: int, kind: str = "PutOp") -> int | None:
    """Convert a TTL in minutes (LangGraph's unit) to the stored CQL seconds, or raise.

    ``None`` stays ``None`` (no expiry); see :func:`stored_ttl_seconds` for the conversion.
    """
    problem = ttl_problem(ttl)
    if problem is not None:
        raise _fail(index, kind, "ttl", problem)
    return None if ttl is None else stored_ttl_seconds(ttl)


# -- values and other fields --------------------------------------------------------------------


def value_size_problem(size: int, max_value_bytes: int) -> str | None:
    """Whether an encoded value of ``size`` bytes exceeds the configured limit."""
    if size > max_value_bytes:
        return (
            f"is {size:,} bytes once encoded; at most {max_value_bytes:,} are allowed "
            "(StoreConfig.limits.max_value_bytes, kept below the server's 16 MiB message limit): "
            "store large data elsewhere and keep a reference in the item"
        )
    return None


_query_notice_logged = False


def validate_query(value: Any, index: int, kind: str = "SearchOp") -> None:
    """Accept a search ``query`` (``None`` or ``str``).

    Stores without an index config answer a search with the filtered items whatever the query
    (as LangGraph's stores without an index do); the first query seen is logged once at debug
    level. Stores with one rank by similarity to it (``scyllabatch._core.vectors``).
    """
    global _query_notice_logged
    if value is None:
        return
    if not isinstance(value, str):
        raise _fail(index, kind, "query", f"must be a str or None, got {type(value).__name__}")
    if not _query_notice_logged:
        _query_notice_logged = True
        logger.debug(
            "SearchOp.query is ignored by stores without an index config (StoreConfig.index): "
            "their searches return the items under the prefix that match the filter, newest first"
        )


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


# -- ops ----------------------------------------------------------------------------------------


def validate_ops(
    ops: Sequence[Any],
    codec: Codec,
    writes: Writes = selected_writes,
    *,
    max_value_bytes: int = MAX_VALUE_BYTES,
    encode_default: Callable[[Any], Any] | None = None,
) -> list[NormalizedOp]:
    """Validate every op and encode every put value in one codec call.

    ``ops`` is a sequence: the facades accept any iterable and make it one, once
    (``scyllabatch._base.as_op_list``).

    ``codec`` is the selected speedups codec module (``encode_batch``); ``writes`` the selected
    writes module, whose ``fast_put`` accepts the common, certainly valid puts without the
    label-by-label checks; ``max_value_bytes`` is the largest encoded value accepted
    (``StoreConfig.limits.max_value_bytes``); ``encode_default`` the codec's hook for types it
    does not know (``StoreConfig.encode_default``).
    """
    fast_put = writes.fast_put
    normalized: list[NormalizedOp] = []
    partitions: dict[object, str] = {}  # namespace -> partition text, for the fast path
    values_to_encode: list[Any] = []
    encode_targets: list[PutWrite] = []
    kinds: dict[int, str] = {}  # the op kind to name in a value error, where not PutOp
    for index, op in enumerate(ops):
        kind = _op_kind(op)
        if kind is None:
            raise StoreValidationError(
                f"op {index} is a {type(op).__name__}; expected PutOp, GetOp, SearchOp, "
                "ListNamespacesOp, ConditionalPutOp, CounterOp or GetCountersOp; nothing of the "
                "batch was sent",
                op_index=index,
                field="op",
            )
        if kind == "PutOp":
            fast = fast_put(op, partitions)
            if fast is not None:  # certainly valid: skip the label-by-label checks
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
            put = _validate_put(op, index, kind)
            if op.value is not None:
                values_to_encode.append(op.value)
                encode_targets.append(put)
            normalized.append(put)
        elif kind == "GetOp":
            namespace = validate_namespace(op.namespace, index, kind, "namespace")
            normalized.append(
                GetRead(
                    index=index,
                    namespace=namespace,
                    partition=NAMESPACE_SEPARATOR.join(namespace),
                    key=validate_key(op.key, index, kind),
                    refresh_ttl=_validate_bool(op.refresh_ttl, index, kind, "refresh_ttl"),
                )
            )
        elif kind == "SearchOp":
            normalized.append(_validate_search(op, index, kind))
        elif kind == "ListNamespacesOp":
            normalized.append(_validate_list(op, index, kind))
        elif kind == "ConditionalPutOp":
            conditional = _validate_conditional(op, index, kind)
            kinds[index] = kind
            if conditional.value is not None:
                values_to_encode.append(conditional.value)
                encode_targets.append(conditional.put)
            normalized.append(conditional)
        elif kind == "CounterOp":
            normalized.append(_validate_counter(op, index, kind))
        else:
            namespace = validate_namespace(op.namespace, index, kind, "namespace")
            normalized.append(
                CounterRead(
                    index=index,
                    namespace=namespace,
                    partition=NAMESPACE_SEPARATOR.join(namespace),
                    key=validate_key(op.key, index, kind),
                )
            )
    if values_to_encode:
        _encode_values(
            values_to_encode, encode_targets, codec, max_value_bytes, kinds, encode_default
        )
    return normalized


def _validate_put(op: Any, index: int, kind: str) -> PutWrite:
    namespace = validate_namespace(op.namespace, index, kind, "namespace")
    key = validate_key(op.key, index, kind)
    value = op.value
    index_field = op.index
    index_ok = (
        index_field is None
        or index_field is False
        or (isinstance(index_field, list) and all(isinstance(f, str) for f in index_field))
    )
    if not index_ok:
        raise _fail(index, kind, "index", "must be None, False or a list of str")
    if value is not None and not isinstance(value, dict):
        raise _fail(index, kind, "value", f"must be a dict or None, got {type(value).__name__}")
    ttl_seconds = ttl_to_seconds(op.ttl, index, kind)  # checked for deletes too
    return PutWrite(
        index=index,
        namespace=namespace,
        partition=NAMESPACE_SEPARATOR.join(namespace),
        key=key,
        encoded=None,
        ttl_seconds=ttl_seconds if value is not None else None,
    )


def micros_of(moment: datetime) -> int:
    """Microseconds since the epoch of a ``datetime`` (naive ones taken as UTC), exactly."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - EPOCH) // timedelta(microseconds=1)


def _validate_conditional(op: Any, index: int, kind: str) -> ConditionalWrite:
    namespace = validate_namespace(op.namespace, index, kind, "namespace")
    key = validate_key(op.key, index, kind)
    value, condition = op.value, op.condition
    if value is not None and not isinstance(value, dict):
        raise _fail(index, kind, "value", f"must be a dict or None, got {type(value).__name__}")
    if isinstance(condition, IfAbsent):
        if value is None:
            raise _fail(
                index,
                kind,
                "condition",
                "IfAbsent() with value=None would delete an item only if it does not exist; "
                "delete with IfUnchanged(updated_at), or use PutOp(value=None) to delete "
                "whatever is stored",
            )
        expected = None
    elif isinstance(condition, IfUnchanged):
        if not isinstance(condition.updated_at, datetime):
            raise _fail(
                index,
                kind,
                "condition.updated_at",
                f"must be a datetime (the updated_at of the item you read), got "
                f"{type(condition.updated_at).__name__}",
            )
        expected = micros_of(condition.updated_at)
    else:
        raise _fail(
            index,
            kind,
            "condition",
            f"must be IfAbsent() or IfUnchanged(updated_at), got {type(condition).__name__}",
        )
    ttl_seconds = ttl_to_seconds(op.ttl, index, kind)
    put = PutWrite(
        index=index,
        namespace=namespace,
        partition=NAMESPACE_SEPARATOR.join(namespace),
        key=key,
        encoded=None,
        ttl_seconds=ttl_seconds if value is not None else None,
    )
    return ConditionalWrite(put, expected, value)


def counter_delta_problem(delta: Any) -> str | None:
    """What is wrong with a counter delta, or ``None``: an ``int`` (not ``bool``) in 64 bits."""
    if isinstance(delta, bool) or not isinstance(delta, int):
        return f"must be an int, got {type(delta).__name__}"
    if not MIN_COUNTER <= delta <= MAX_COUNTER:
        return f"{delta} does not fit the server's 64-bit counters"
    return None


def _validate_counter(op: Any, index: int, kind: str) -> CounterWrite:
    namespace = validate_namespace(op.namespace, index, kind, "namespace")
    key = validate_key(op.key, index, kind)
    name = op.counter
    if not isinstance(name, str) or not name:
        raise _fail(index, kind, "counter", f"must be a non-empty str, got {name!r}"[:200])
    size = utf8_size(name)
    if size is None:
        raise _fail(index, kind, "counter", _surrogate_problem(name))
    if size > MAX_COUNTER_NAME_BYTES:
        raise _fail(
            index,
            kind,
            "counter",
            f"is {size} bytes; at most {MAX_COUNTER_NAME_BYTES} are allowed",
        )
    problem = counter_delta_problem(op.delta)
    if problem is not None:
        raise _fail(index, kind, "delta", problem)
    return CounterWrite(
        index=index,
        namespace=namespace,
        partition=NAMESPACE_SEPARATOR.join(namespace),
        key=key,
        counter=name,
        delta=op.delta,
    )


def _encode_values(
    values: list[Any],
    targets: list[PutWrite],
    codec: Codec,
    max_value_bytes: int,
    kinds: dict[int, str],
    encode_default: Callable[[Any], Any] | None,
) -> None:
    try:
        encoded, sizes = codec.encode_batch(values, encode_default)
    except EncodeError as exc:
        put = targets[exc.index if exc.index is not None else 0]
        refused = encode_problem(exc, encode_default)
        raise _fail(put.index, kinds.get(put.index, "PutOp"), "value", refused) from exc
    for put, size in zip(targets, sizes, strict=True):
        problem = value_size_problem(size, max_value_bytes)
        if problem is not None:
            raise _fail(put.index, kinds.get(put.index, "PutOp"), "value", problem)
    # the sizes the codec reports feed the planner's byte accounting (MergedWrite)
    for put, blob, size in zip(targets, encoded, sizes, strict=True):
        put.encoded = blob
        put.encoded_size = size


def encode_problem(error: EncodeError, encode_default: Callable[[Any], Any] | None) -> str:
    """What is wrong with a value the codec refused: where, what, and how to fix it."""
    problem = f"{error.path}: {error.reason}"
    if encode_default is None and error.reason.endswith(NOT_SERIALIZABLE):
        problem += (
            " (MessagePack knows dict, list, tuple, str, int, float, bool, bytes, tz-aware "
            "datetime and None): convert it first, or set StoreConfig(encode_default=...) to a "
            "function that returns what to store instead, e.g. str for UUID and Decimal, "
            "dataclasses.asdict for dataclasses"
        )
    return problem


def _validate_search(op: Any, index: int, kind: str) -> SearchRead:
    prefix = validate_namespace(
        op.namespace_prefix, index, kind, "namespace_prefix", allow_empty=True
    )
    validate_query(op.query, index, kind)
    try:
        conditions = compile_filter(op.filter)
    except FilterError as exc:
        raise _fail(index, kind, "filter", str(exc)) from None
    return SearchRead(
        index=index,
        prefix=prefix,
        conditions=conditions,
        limit=_validate_int(op.limit, index, kind, "limit", 0),
        offset=_validate_int(op.offset, index, kind, "offset", 0),
        refresh_ttl=_validate_bool(op.refresh_ttl, index, kind, "refresh_ttl"),
        query=op.query,
    )


def validate_iteration(namespace_prefix: Any, filter: Any, page_size: Any) -> SearchRead:
    """The search behind ``iter_search``: a prefix and a filter, no limit, no TTL refresh."""
    kind = "iter_search"
    prefix = validate_namespace(namespace_prefix, 0, kind, "namespace_prefix", allow_empty=True)
    try:
        conditions = compile_filter(filter)
    except FilterError as exc:
        raise _fail(0, kind, "filter", str(exc)) from None
    _validate_int(page_size, 0, kind, "page_size", 1)
    return SearchRead(
        index=0, prefix=prefix, conditions=conditions, limit=0, offset=0, refresh_ttl=False
    )


def _validate_list(op: Any, index: int, kind: str) -> ListRead:
    conditions, max_depth, limit, offset = op.match_conditions, op.max_depth, op.limit, op.offset
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
            labels = validate_pattern(path, index, kind, f"{field}.path")
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
