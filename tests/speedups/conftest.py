"""Fixtures running every codec/stats test against both twins (compiled and pure Python).

The compiled params are skipped with a reason when the extension is not built, and FAIL
instead when ``SCYLLABATCH_REQUIRE_EXTENSIONS=1`` (CI proves the wheel carries them).
``SCYLLABATCH_NO_EXTENSIONS=1`` skips them: that run tests the pure-Python twins alone.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

TWINS = ("cython", "python")


def flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def load_twin(kind: str, name: str) -> ModuleType:
    if kind == "python":
        return importlib.import_module(f"scyllabatch._pure.{name}")
    if flag("SCYLLABATCH_NO_EXTENSIONS"):
        pytest.skip("SCYLLABATCH_NO_EXTENSIONS=1: testing the pure-Python twins only")
    try:
        return importlib.import_module(f"scyllabatch._speedups.{name}")
    except ImportError as exc:
        if flag("SCYLLABATCH_REQUIRE_EXTENSIONS"):
            pytest.fail(
                f"SCYLLABATCH_REQUIRE_EXTENSIONS=1 but scyllabatch._speedups.{name} cannot be "
                f"imported: {exc}"
            )
        pytest.skip(
            f"compiled scyllabatch._speedups.{name} is not built ({exc}); run "
            "`python setup.py build_ext --inplace`"
        )


@pytest.fixture(params=TWINS, scope="session")
def codec(request: pytest.FixtureRequest) -> ModuleType:
    """The codec twin under test (``encode``, ``decode``, ``encode_batch``, ...)."""
    return load_twin(request.param, "codec")


@pytest.fixture(params=TWINS, scope="session")
def stats(request: pytest.FixtureRequest) -> ModuleType:
    """The stats twin under test (``Histogram``)."""
    return load_twin(request.param, "stats")


@pytest.fixture(scope="session")
def codec_pair() -> tuple[ModuleType, ModuleType]:
    """(compiled, pure) codec twins, for tests that compare them with each other."""
    return load_twin("cython", "codec"), load_twin("python", "codec")


@pytest.fixture(scope="session")
def stats_pair() -> tuple[ModuleType, ModuleType]:
    """(compiled, pure) stats twins, for tests that compare them with each other."""
    return load_twin("cython", "stats"), load_twin("python", "stats")


@pytest.fixture(params=TWINS, scope="session")
def writes(request: pytest.FixtureRequest) -> ModuleType:
    """The writes twin under test (``encode_writes``, ``fast_put``, ...)."""
    return load_twin(request.param, "writes")


@pytest.fixture(scope="session")
def writes_pair() -> tuple[ModuleType, ModuleType]:
    """(compiled, pure) writes twins, for tests that compare them with each other."""
    return load_twin("cython", "writes"), load_twin("python", "writes")
