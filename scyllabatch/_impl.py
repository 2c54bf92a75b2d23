"""Choose the compiled speedups or their pure-Python twins, once, at import.

``SCYLLABATCH_NO_EXTENSIONS=1`` forces the pure-Python twins.
``SCYLLABATCH_REQUIRE_EXTENSIONS=1`` turns a missing compiled module into an ``ImportError``
instead of a silent fallback (CI sets it to prove the wheel really carries the extensions).
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Literal

from scyllabatch._core.speedups import Codec, Writes


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _load() -> tuple[Codec, ModuleType, Writes, Literal["cython", "python"]]:
    if not _flag("SCYLLABATCH_NO_EXTENSIONS"):
        try:
            from scyllabatch._speedups import codec as compiled_codec
            from scyllabatch._speedups import stats as compiled_stats
            from scyllabatch._speedups import writes as compiled_writes
        except ImportError as exc:
            if _flag("SCYLLABATCH_REQUIRE_EXTENSIONS"):
                raise ImportError(
                    "SCYLLABATCH_REQUIRE_EXTENSIONS=1 but the compiled speedups of scyllabatch "
                    f"could not be imported ({exc}). Reinstall with a C compiler and Cython "
                    "available (pip install --force-reinstall --no-binary scyllabatch "
                    "scyllabatch), or unset the variable to use the pure-Python twins."
                ) from exc
        else:
            return compiled_codec, compiled_stats, compiled_writes, "cython"
    from scyllabatch._pure import codec as pure_codec
    from scyllabatch._pure import stats as pure_stats
    from scyllabatch._pure import writes as pure_writes

    return pure_codec, pure_stats, pure_writes, "python"


codec, stats, writes, IMPLEMENTATION = _load()

__all__ = ["IMPLEMENTATION", "codec", "stats", "writes"]
