#!/usr/bin/env python3
"""Start, stop and inspect the CQL database that scyllabatch's own tests run against.

A thin wrapper of ``scyllabatch/testing/node.py`` (which also serves the pytest plugin) with this
checkout's places: nodes in ``<repo>/.dbnode`` and ``<repo>/.dbcluster``, and ScyllaDB from
``<repo>/docker-compose.yml`` where a Docker engine answers. ``--help`` lists the commands; the
module's docstring says everything else.

    .venv/bin/python tools/dbnode.py start|status|logs|stop [--nodes 3 ...]

The module and its private parts (``scyllabatch/testing/_node_*.py``) are loaded from their files
as a package of their own, not imported through ``scyllabatch``: they need only the standard
library, so ``python3 tools/dbnode.py stop`` works without the virtualenv (``make node-stop``
relies on that), and nothing of scyllabatch or the driver is imported for it.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parent.parent


def load_node_module() -> ModuleType:
    """``scyllabatch/testing/node.py`` of this checkout, with its parts, as a package of its own."""
    package = "scyllabatch_testing_standalone"
    if package not in sys.modules:
        # A bare package on the directory: node.py's relative imports find its sibling files,
        # and `scyllabatch/__init__.py` (which imports the driver) never runs.
        module = ModuleType(package)
        module.__path__ = [str(REPO_ROOT / "scyllabatch" / "testing")]
        sys.modules[package] = module
    return importlib.import_module(f"{package}.node")


node = load_node_module()
PLACES = node.Places(
    node_dir=REPO_ROOT / ".dbnode",
    cluster_dir=REPO_ROOT / ".dbcluster",
    compose_file=REPO_ROOT / "docker-compose.yml",
)


if __name__ == "__main__":
    try:
        sys.exit(node.main(places=PLACES, prog="dbnode.py"))
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(node.EXIT_FAIL)
