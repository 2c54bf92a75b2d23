#!/usr/bin/env python3
"""Start, stop and inspect the CQL database that scyllabatch's own tests run against.

A thin wrapper of :mod:`scyllabatch.testing.node` (which also serves the pytest plugin) with
this checkout's places: nodes in ``<repo>/.dbnode`` and ``<repo>/.dbcluster``, and ScyllaDB from
``<repo>/docker-compose.yml`` where a Docker engine answers. ``--help`` lists the commands; the
module's docstring says everything else.

    .venv/bin/python tools/dbnode.py start|status|logs|stop [--nodes 3 ...]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from scyllabatch.testing.node import EXIT_FAIL, Places, main

REPO_ROOT = Path(__file__).resolve().parent.parent
PLACES = Places(
    node_dir=REPO_ROOT / ".dbnode",
    cluster_dir=REPO_ROOT / ".dbcluster",
    compose_file=REPO_ROOT / "docker-compose.yml",
)

if __name__ == "__main__":
    try:
        sys.exit(main(places=PLACES, prog="dbnode.py"))
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_FAIL)
