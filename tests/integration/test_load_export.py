"""`scyllabatch load` and `scyllabatch export` against the real node.

A generated file goes in and comes back out unchanged; a load killed with SIGKILL resumes from its
checkpoint without rewriting what landed below it (write times compared); bad lines are named.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from scyllabatch import Store, StoreConfig
from scyllabatch.cli import main
from tests.conftest import node_hosts, node_port, wait_until

pytestmark = pytest.mark.integration


def connection_args() -> list[str]:
    return ["--hosts", ",".join(node_hosts()), "--port", str(node_port())]


def record(i: int) -> dict[str, Any]:
    value: dict[str, Any] = {
        "i": i,
        "text": f"línea {i} ✓",
        "score": i / 7,
        "tags": ["a", str(i % 5)],
        "nested": {"ok": i % 2 == 0, "none": None},
    }
    if i % 10 == 0:
        value["blob"] = {"$bytes": "AAEC/w=="}
        value["when"] = {"$datetime": "2025-06-01T12:30:00.000250+00:00"}
    line: dict[str, Any] = {
        "namespace": ["bulk", f"tenant{i % 13}"],
        "key": f"key-{i:06d}",
        "value": value,
    }
    if i % 4 == 0:
        line["ttl"] = 120
    return line


def write_file(path: Path, count: int) -> list[dict[str, Any]]:
    records = [record(i) for i in range(count)]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    return records


def load(path: Path, keyspace: str, *extra: str) -> int:
    return main(["load", str(path), *connection_args(), "--keyspace", keyspace, *extra])


def by_key(lines: list[dict[str, Any]]) -> dict[tuple[tuple[str, ...], str], dict[str, Any]]:
    return {(tuple(line["namespace"]), line["key"]): line for line in lines}


def test_round_trip_load_export_load(
    tmp_path: Path, keyspace: str, cql_session: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "items.jsonl"
    records = write_file(source, 3000)
    args = ["--create-keyspace", "--batch-size", "170", "--in-flight", "3", "--progress", "off"]
    assert load(source, keyspace, *args) == 0
    out = capsys.readouterr().out
    assert "loaded 3,000 rows" in out
    assert "bad lines: 0" in out

    exported = tmp_path / "export.jsonl"
    export = ["export", *connection_args(), "--keyspace", keyspace, "--prefix", "bulk"]
    assert main([*export, "--output", str(exported), "--page-size", "128"]) == 0
    back = [json.loads(line) for line in exported.read_text("utf-8").splitlines()]
    assert len(back) == 3000
    want, got = by_key(records), by_key(back)
    assert set(got) == set(want)
    for slot, line in want.items():
        assert got[slot]["value"] == line["value"]  # bytes and datetimes round-trip as tags
        if "ttl" in line:
            assert 119 < got[slot]["ttl"] <= 120  # what is left of the TTL, never more
        else:
            assert "ttl" not in got[slot]
    # what landed is what the SDK reads: tags became bytes and datetimes
    store = Store(cql_session, config=StoreConfig(keyspace=keyspace))
    item = store.get(("bulk", "tenant0"), "key-000000")
    assert item is not None
    assert item.value["blob"] == b"\x00\x01\x02\xff"
    assert item.value["when"] == datetime(2025, 6, 1, 12, 30, 0, 250, tzinfo=UTC)

    # the export loads back (into the same keyspace: nothing changes but the write times)
    assert load(exported, keyspace, "--progress", "off") == 0
    assert main([*export, "--output", str(exported), "--overwrite"]) == 0
    again = by_key([json.loads(line) for line in exported.read_text("utf-8").splitlines()])
    assert {slot: line["value"] for slot, line in again.items()} == {
        slot: line["value"] for slot, line in want.items()
    }
    # export never overwrites a file by surprise
    assert main([*export, "--output", str(exported)]) == 2
    assert "exists" in capsys.readouterr().err


def test_csv_load(tmp_path: Path, keyspace: str, cql_session: Any) -> None:
    source = tmp_path / "items.csv"
    source.write_text(
        "\ufeffkey,ttl,value,namespace\n"
        'k1,,"{""text"": ""a, b"", ""n"": 1}",csv.one\n'
        'k2,30,"{""text"":\n ""two\\nlines""}",csv.two.deep\n',  # one record, two lines
        "utf-8",
    )
    assert load(source, keyspace, "--create-keyspace", "--progress", "off") == 0
    store = Store(cql_session, config=StoreConfig(keyspace=keyspace))
    one = store.get(("csv", "one"), "k1")
    two = store.get(("csv", "two", "deep"), "k2")
    assert one is not None
    assert one.value == {"text": "a, b", "n": 1}
    assert two is not None
    assert two.value == {"text": "two\nlines"}


def bad_file(path: Path) -> None:
    lines = [json.dumps(record(i)) for i in range(6)]
    lines[2] = '{"namespace": ["bulk", "x"], "key": "k", "value": null}'  # would delete
    lines[4] = json.dumps({"namespace": ["bulk", "a.b"], "key": "k", "value": {}})  # bad label
    path.write_text("\n".join(lines) + "\n", "utf-8")


def test_dry_run_reports_every_bad_line_and_writes_nothing(
    tmp_path: Path, keyspace: str, cql_session: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bad.jsonl"
    bad_file(source)
    assert load(source, keyspace, "--dry-run", "--progress", "off") == 1
    err = capsys.readouterr().err
    assert "line 3: value must be a JSON object, got null" in err
    assert "line 5: namespace[1]: label 'a.b' must not contain '.'" in err
    row = cql_session.execute(
        "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = %s", (keyspace,)
    ).one()
    assert row is None  # a dry run connects to nothing and creates nothing
    assert not (tmp_path / "bad.jsonl.checkpoint").exists()


def test_a_bad_line_stops_the_load_and_resume_continues_after_the_fix(
    tmp_path: Path, keyspace: str, cql_session: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bad.jsonl"
    bad_file(source)
    assert load(source, keyspace, "--create-keyspace", "--progress", "off") == 1
    err = capsys.readouterr().err
    assert "stopped at line 3: value must be a JSON object" in err
    checkpoint = json.loads((tmp_path / "bad.jsonl.checkpoint").read_text())
    assert (checkpoint["line"], checkpoint["rows"], checkpoint["complete"]) == (3, 2, False)
    store = Store(cql_session, config=StoreConfig(keyspace=keyspace))
    assert len(list(store.iter_search(("bulk",)))) == 2  # the lines before it, nothing after

    assert load(source, keyspace, "--progress", "off") == 2  # an unfinished load is not redone
    assert "--resume" in capsys.readouterr().err
    lines = source.read_text("utf-8").splitlines()
    lines[2] = json.dumps(record(2))  # fix it; line 5 stays bad: skip it this time
    source.write_text("\n".join(lines) + "\n", "utf-8")
    assert load(source, keyspace, "--resume", "--skip-bad", "--progress", "off") == 0
    captured = capsys.readouterr()
    assert "bad line 5: namespace[1]" in captured.err
    assert "loaded 3 rows" in captured.out
    assert len(list(store.iter_search(("bulk",)))) == 5
    assert json.loads((tmp_path / "bad.jsonl.checkpoint").read_text())["complete"] is True


def writetimes(session: Any, keyspace: str) -> dict[tuple[str, str], int]:
    rows = session.execute(f"SELECT namespace, key, WRITETIME(value) FROM {keyspace}.items")
    return {(row[0], row[1]): row[2] for row in rows}


def test_killed_load_resumes_without_rewriting_what_landed(
    tmp_path: Path, keyspace: str, cql_session: Any
) -> None:
    source = tmp_path / "big.jsonl"
    total = 60_000
    records = write_file(source, total)
    checkpoint_path = tmp_path / "big.checkpoint"
    command = [
        sys.executable,
        "-m",
        "scyllabatch.cli",
        "load",
        str(source),
        *connection_args(),
        "--keyspace",
        keyspace,
        "--create-keyspace",
        "--batch-size",
        "100",
        "--in-flight",
        "2",
        "--checkpoint",
        str(checkpoint_path),
        "--progress",
        "off",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:

        def progressed() -> dict[str, Any] | None:
            if not checkpoint_path.exists():
                return None
            state: dict[str, Any] = json.loads(checkpoint_path.read_text())
            return state if state["line"] > 2_000 else None

        wait_until(progressed, timeout=120, what="the checkpoint to pass line 2,000")
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    state = json.loads(checkpoint_path.read_text())
    assert not state["complete"]
    below = state["line"] - 1  # lines 1..below are acknowledged
    assert 2_000 <= below < total, "the load must have been killed in the middle"
    landed = writetimes(cql_session, keyspace)
    expected_below = {(".".join(r["namespace"]), r["key"]) for r in records[:below]}
    assert expected_below <= set(landed)
    before = {slot: landed[slot] for slot in expected_below}

    status = main(
        [
            "load",
            str(source),
            *connection_args(),
            "--keyspace",
            keyspace,
            "--checkpoint",
            str(checkpoint_path),
            "--resume",
            "--progress",
            "off",
        ]
    )
    assert status == 0
    after = writetimes(cql_session, keyspace)
    assert len(after) == total  # every row landed
    assert {slot: after[slot] for slot in expected_below} == before  # none rewritten
    rest = [(".".join(r["namespace"]), r["key"]) for r in records[below:]]
    assert max(after[slot] for slot in rest) > max(before.values())
    assert os.path.getsize(source) == json.loads(checkpoint_path.read_text())["offset"]
    store = Store(cql_session, config=StoreConfig(keyspace=keyspace))
    last = records[-1]
    sample = store.get(last["namespace"], last["key"])
    assert sample is not None
    assert sample.value == last["value"]
