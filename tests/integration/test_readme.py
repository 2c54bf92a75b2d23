"""README's examples (DESIGN.md's API) run as written, against the real node."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import node_hosts, node_port

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_examples() -> None:
    assert len(python_blocks()) >= 2


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_example_runs(index: int, keyspace: str) -> None:
    code = python_blocks()[index]
    if index > 0:  # later blocks continue the first one (they share its imports)
        code = python_blocks()[0].split("\n\n")[0] + "\n" + code
    code = code.replace('hosts=["127.0.0.1"]', f"hosts={node_hosts()!r}")
    code = code.replace("port=9042", f"port={node_port()}")
    code = code.replace('keyspace="scyllabatch"', f"keyspace={keyspace!r}")
    assert keyspace in code
    exec(compile(code, f"README.md[python block {index}]", "exec"), {"__name__": "__readme__"})
