"""Codec benchmarks: our twins side by side with msgpack and orjson on the same 100 values.

Run (ratios appear in each group's "(x)" columns):
    python -m pytest benchmarks/test_bench_codec.py --benchmark-only --benchmark-group-by=group

Targets for the compiled twin: encode >= 3x a loop of ``msgpack.packb`` and >= 1.1x a loop of
``orjson.dumps``; decode >= 1.5x a loop of ``msgpack.unpackb`` and >= 1.1x a loop of
``orjson.loads`` (on the same values as JSON; orjson serializes datetimes natively as RFC 3339
strings and reads them back as strings, so it does less work than we do there).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import msgpack
import orjson
import pytest

from scyllabatch._pure import codec as pure_codec

try:
    from benchmarks.corpus import CORPUS
except ImportError:  # benchmarks/ is not a package: pytest puts it on sys.path
    from corpus import CORPUS


def _compiled() -> ModuleType | None:
    try:
        return importlib.import_module("scyllabatch._speedups.codec")
    except ImportError:  # depends on the build
        return None


compiled_codec = _compiled()

VALUES: list[Any] = list(CORPUS)
MSGPACK = [msgpack.packb(v, use_bin_type=True, datetime=True) for v in VALUES]
JSON = [orjson.dumps(v) for v in VALUES]
ENCODE = "encode 100 values"
DECODE = "decode 100 values"


def twin(name: str) -> ModuleType:
    if name == "python":
        return pure_codec
    if compiled_codec is None:
        pytest.skip("compiled codec not built (python setup.py build_ext --inplace)")
    return compiled_codec


def packb_loop() -> list[bytes]:
    return [msgpack.packb(v, use_bin_type=True, datetime=True) for v in VALUES]


def orjson_dumps_loop() -> list[bytes]:
    return [orjson.dumps(v) for v in VALUES]


def unpackb_loop() -> list[Any]:
    return [msgpack.unpackb(b, timestamp=3) for b in MSGPACK]


def orjson_loads_loop() -> list[Any]:
    return [orjson.loads(b) for b in JSON]


def test_corpus_shape() -> None:
    sizes = [len(b) for b in MSGPACK]
    assert len(VALUES) == 100
    assert min(sizes) >= 100
    assert max(sizes) <= 500


@pytest.mark.benchmark(group=ENCODE)
@pytest.mark.parametrize("name", ["cython", "python"])
def test_encode_batch(benchmark: Any, name: str) -> None:
    codec = twin(name)
    encoded, sizes = benchmark(codec.encode_batch, VALUES)
    assert encoded == MSGPACK
    assert sizes == [len(b) for b in MSGPACK]


@pytest.mark.benchmark(group=ENCODE)
def test_encode_msgpack_packb_loop(benchmark: Any) -> None:
    assert benchmark(packb_loop) == MSGPACK


@pytest.mark.benchmark(group=ENCODE)
def test_encode_orjson_dumps_loop(benchmark: Any) -> None:
    assert benchmark(orjson_dumps_loop) == JSON


@pytest.mark.benchmark(group=DECODE)
@pytest.mark.parametrize("name", ["cython", "python"])
def test_decode_batch(benchmark: Any, name: str) -> None:
    codec = twin(name)
    assert benchmark(codec.decode_batch, MSGPACK) == VALUES


@pytest.mark.benchmark(group=DECODE)
def test_decode_msgpack_unpackb_loop(benchmark: Any) -> None:
    assert benchmark(unpackb_loop) == VALUES


@pytest.mark.benchmark(group=DECODE)
def test_decode_orjson_loads_loop(benchmark: Any) -> None:
    assert len(benchmark(orjson_loads_loop)) == len(VALUES)
