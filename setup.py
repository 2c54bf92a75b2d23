"""Build script: compiles the Cython speedups in ``_speedups/`` into ``scyllabatch._speedups.*``.

Environment:
  SCYLLABATCH_NO_EXTENSIONS=1       build a pure-Python package (no compiler needed).
  SCYLLABATCH_REQUIRE_EXTENSIONS=1  a missing Cython or a failed compile is an error instead of a
                                    silent fallback to the pure-Python twins.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent
SPEEDUPS = ("codec", "stats", "writes")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


NO_EXTENSIONS = _flag("SCYLLABATCH_NO_EXTENSIONS")
REQUIRE_EXTENSIONS = _flag("SCYLLABATCH_REQUIRE_EXTENSIONS") and not NO_EXTENSIONS


class OptionalBuildExt(build_ext):
    """Build the speedups, falling back to pure Python unless extensions are required."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            self._give_up(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._give_up(exc)

    def _give_up(self, exc: BaseException) -> None:
        if REQUIRE_EXTENSIONS:
            raise exc
        print(
            f"WARNING: scyllabatch speedups not compiled ({exc}); the pure-Python twins will be "
            "used. Set SCYLLABATCH_REQUIRE_EXTENSIONS=1 to make this an error.",
            file=sys.stderr,
        )


def _extensions() -> list[Extension]:
    if NO_EXTENSIONS:
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        if REQUIRE_EXTENSIONS:
            raise
        print("WARNING: Cython is not installed; building pure Python.", file=sys.stderr)
        return []
    extensions = [
        Extension(
            f"scyllabatch._speedups.{name}",
            [f"_speedups/{name}.pyx"],
            # -g0: Python's default CFLAGS carry -g, which makes the modules ~6x larger.
            extra_compile_args=["-O3", "-g0"] if sys.platform != "win32" else ["/O2"],
        )
        for name in SPEEDUPS
    ]
    return list(
        cythonize(
            extensions,
            language_level=3,
            compiler_directives={
                "boundscheck": False,
                "wraparound": False,
                "cdivision": True,
                "initializedcheck": False,
                "embedsignature": True,
            },
        )
    )


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
