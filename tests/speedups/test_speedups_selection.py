"""``scyllabatch._impl`` picks the compiled twins, or the pure-Python ones when told to."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.speedups


def flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


ROOT = Path(__file__).resolve().parents[2]


def compiled_available() -> bool:
    try:
        import scyllabatch._speedups.codec
        import scyllabatch._speedups.stats  # noqa: F401
    except ImportError:
        return False
    return True


def test_implementation_follows_the_environment() -> None:
    from scyllabatch import _impl

    if flag("SCYLLABATCH_NO_EXTENSIONS"):
        assert _impl.IMPLEMENTATION == "python"
        assert _impl.codec.__name__ == "scyllabatch._pure.codec"
        assert _impl.stats.__name__ == "scyllabatch._pure.stats"
    elif flag("SCYLLABATCH_REQUIRE_EXTENSIONS"):
        assert _impl.IMPLEMENTATION == "cython"
        assert _impl.codec.__name__ == "scyllabatch._speedups.codec"
        assert _impl.stats.__name__ == "scyllabatch._speedups.stats"
    else:
        chosen = _impl.IMPLEMENTATION
        assert chosen == ("cython" if compiled_available() else "python")


def run_impl(**env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SCYLLABATCH_NO_EXTENSIONS", "SCYLLABATCH_REQUIRE_EXTENSIONS"}
    }
    full_env.update(env)
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    code = "from scyllabatch import _impl; print(_impl.IMPLEMENTATION, _impl.codec.__name__)"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=full_env, capture_output=True, text=True,
        check=False, timeout=120,
    )  # fmt: skip


def test_no_extensions_forces_python() -> None:
    result = run_impl(SCYLLABATCH_NO_EXTENSIONS="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["python", "scyllabatch._pure.codec"]


def test_require_extensions() -> None:
    result = run_impl(SCYLLABATCH_REQUIRE_EXTENSIONS="1")
    if compiled_available():
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["cython", "scyllabatch._speedups.codec"]
    else:
        if flag("SCYLLABATCH_REQUIRE_EXTENSIONS"):
            pytest.fail("SCYLLABATCH_REQUIRE_EXTENSIONS=1 but the compiled twins are not built")
        assert result.returncode != 0
        assert "SCYLLABATCH_REQUIRE_EXTENSIONS=1" in result.stderr


def test_default_prefers_compiled() -> None:
    result = run_impl()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == ("cython" if compiled_available() else "python")
