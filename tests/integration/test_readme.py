"""Every ```python block of README.md runs, as a program of its own, twice in a row.

Each block is written to a file and run in a fresh interpreter, so a block that lacks an import
fails here. The second run proves that an example survives the state its first run left behind.
The blocks read the node's address from ``SCYLLABATCH_HOSTS`` (set here as ``host:port``); the
keyspaces they name get a unique suffix and are dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import node_hosts, node_port

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"
KEYSPACE_LITERAL = re.compile(r'keyspace="([A-Za-z][A-Za-z0-9_]*)"')


def python_blocks() -> list[tuple[int, str]]:
    """``(line number, code)`` of every ```python block."""
    text = README.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start()) + 2, match.group(1))
        for match in re.finditer(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    ]


def test_readme_has_examples() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 6
    # the examples are programs: each one imports what it uses and names its own keyspace
    for line, code in blocks:
        assert "import " in code, f"README.md line {line}: no imports"


def example_environment(cql_session: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCYLLABATCH_SSL")}
    env["SCYLLABATCH_HOSTS"] = ",".join(f"{host}:{node_port()}" for host in node_hosts())
    env["SCYLLABATCH_PORT"] = str(node_port())
    env["SCYLLABATCH_LOCAL_DC"] = cql_session.execute("SELECT data_center FROM system.local").one()[
        0
    ]
    env.pop("SCYLLABATCH_USERNAME", None)
    env.pop("SCYLLABATCH_PASSWORD", None)
    return env


@pytest.mark.parametrize(
    ("line", "code"),
    [pytest.param(line, code, id=f"line-{line}") for line, code in python_blocks()],
)
def test_readme_example_runs_twice(line: int, code: str, cql_session: Any, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:8]
    names = sorted(set(KEYSPACE_LITERAL.findall(code)))
    renamed = {name: f"{name[:36]}_{suffix}" for name in names}
    program = KEYSPACE_LITERAL.sub(lambda m: f'keyspace="{renamed[m.group(1)]}"', code)
    script = tmp_path / f"readme_line_{line}.py"
    script.write_text(program, encoding="utf-8")
    env = example_environment(cql_session)
    try:
        for run in (1, 2):
            done = subprocess.run(
                [sys.executable, str(script)],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert done.returncode == 0, (
                f"README.md python block at line {line}, run {run}, exited with "
                f"{done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
    finally:
        for name in renamed.values():
            with contextlib.suppress(Exception):
                cql_session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=120)
