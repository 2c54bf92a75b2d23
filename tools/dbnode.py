#!/usr/bin/env python3
"""Start, stop and inspect the CQL database that scyllabatch's own tests run against.

A thin wrapper of ``scyllabatch/testing/node.py`` (which also serves the pytest plugin) with this
checkout's places: nodes in ``<repo>/.dbnode`` and ``<repo>/.dbcluster``, and ScyllaDB from
``<repo>/docker-compose.yml`` where a Docker engine answers. ``--help`` lists the commands; the
module's docstring says everything else.

    .venv/bin/python tools/dbnode.py start|status|logs|stop [--nodes 3 ...]

The module is loaded from its file, not imported through the package: it needs only the standard
library, so ``python3 tools/dbnode.py stop`` works without the virtualenv (``make node-stop``
relies on that), and nothing of scyllabatch or the driver is imported for it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parent.parent


def load_node_module() -> ModuleType:
    """``scyllabatch/testing/node.py`` of this checkout, as a module of its own."""
    name = "scyllabatch_testing_node"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, REPO_ROOT / "scyllabatch" / "testing" / "node.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


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
