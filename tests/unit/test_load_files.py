"""Item files of `scyllabatch load` / `export` without a database: formats, records, checkpoint."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scyllabatch import PutOp
from scyllabatch._core.validation import validate_ops
from scyllabatch._impl import codec
from scyllabatch._itemfile import (
    ItemError,
    check_csv_header,
    item_line,
    parse_csv_item,
    parse_json_item,
    remaining_ttl_minutes,
)
from scyllabatch._load import (
    Checkpoint,
    Chunk,
    LoadUsageError,
    Position,
    check_chunk,
    count_records,
    read_records,
)
from scyllabatch._progress import PlainLines


def test_json_item_round_trip_with_tags() -> None:
    value = {"b": b"\x00\xff", "t": datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC), "l": [1, None]}
    line = item_line(("a", "b"), "k", value, 1.5)
    assert json.loads(line)["value"]["b"] == {"$bytes": "AP8="}
    op = parse_json_item(line)
    assert op == PutOp(("a", "b"), "k", value, ttl=1.5)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "not valid JSON: Expecting value (column 1)"),
        ("[1]", "a line must be a JSON object"),
        ('{"namespace": ["a"], "key": "k"}', "missing field 'value'"),
        ('{"namespace": ["a"], "key": "k", "value": {}, "tll": 1}', "unknown field 'tll'"),
        ('{"namespace": "a.b", "key": "k", "value": {}}', "namespace must be a JSON list"),
        ('{"namespace": ["a"], "key": "k", "value": null}', "a load never deletes"),
        ('{"namespace": ["a"], "key": "k", "value": {}, "ttl": "1"}', "ttl must be a number"),
        ('{"namespace": ["a"], "key": "k", "value": {"x": {"$bytes": "!"}}}', "base64"),
        ('{"namespace": ["a"], "key": "k", "value": {"x": {"$datetime": "2025-01-01"}}}', "UTC"),
    ],
)
def test_bad_json_items(text: str, problem: str) -> None:
    with pytest.raises(ItemError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_json_item(text)


def test_export_refuses_values_that_would_read_back_as_another_type() -> None:
    with pytest.raises(ItemError, match="rename that key"):
        item_line(("a",), "k", {"x": [{"$bytes": "AA=="}]}, None)
    assert item_line(("a",), "k", {"x": {"$bytes": "AA==", "other": 1}}, None)  # two keys: fine


def test_csv_items() -> None:
    columns = check_csv_header(["value", "namespace", "key"])
    op = parse_csv_item(['{"n": 1}', "a.b.c", "k"], columns)
    assert op == PutOp(("a", "b", "c"), "k", {"n": 1}, ttl=None)
    with_ttl = check_csv_header(["namespace", "key", "value", "ttl"])
    assert parse_csv_item(["a", "k", "{}", "2.5"], with_ttl).ttl == 2.5
    with pytest.raises(ItemError, match="has 2 fields, the header 4"):
        parse_csv_item(["a", "k"], with_ttl)
    with pytest.raises(ItemError, match="unknown column 'nope'"):
        check_csv_header(["namespace", "key", "value", "nope"])
    with pytest.raises(ItemError, match="no 'value' column"):
        check_csv_header(["namespace", "key"])


def test_remaining_ttl_never_grows() -> None:
    assert remaining_ttl_minutes(None, 0, 10) is None
    written = 1_000_000_000
    # stored 3601 s (60 minutes asked), read 30 s later: 59.5 minutes are left
    assert remaining_ttl_minutes(3601, written, written + 30_000_000) == pytest.approx(59.5)
    assert remaining_ttl_minutes(3601, written, written + 10**12) == pytest.approx(1 / 60, 0.1)


def test_records_carry_lines_and_offsets(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    lines = [item_line(("a",), f"k{i}", {"i": i}, None) for i in range(3)]
    path.write_text(f"\ufeff{lines[0]}\n\n{lines[1]}\nbroken\n{lines[2]}", "utf-8")
    records = list(read_records(str(path), "jsonl", Position()))
    assert [(r.line, r.error is None) for r in records] == [
        (1, True), (3, True), (4, False), (5, True),
    ]  # fmt: skip
    assert records[-1].end_offset == path.stat().st_size
    resumed = list(read_records(str(path), "jsonl", Position(records[1].end_offset, 4)))
    assert [r.line for r in resumed] == [4, 5]
    assert count_records(str(path)) == 5


def test_csv_records_resume_after_the_header(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text('namespace,key,value\na,k1,"{""x"":\n1}"\na,k2,{}\n', "utf-8")
    records = list(read_records(str(path), "csv", Position()))
    assert [(r.line, r.end_line) for r in records] == [(2, 4), (4, 5)]
    again = list(read_records(str(path), "csv", Position(records[0].end_offset, 4)))
    assert [r.op.key for r in again if r.op] == ["k2"]
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(LoadUsageError, match="needs a header row"):
        list(read_records(str(tmp_path / "empty.csv"), "csv", Position()))


def test_check_chunk_skips_or_stops_at_bad_ops() -> None:
    def validate(ops: list[PutOp]) -> None:
        validate_ops(ops, codec)

    ops = [PutOp(("a",), "1", {}), PutOp(("a.b",), "2", {}), PutOp(("a",), "3", {"x": {1}})]
    chunk = Chunk(ops=list(ops), lines=[10, 11, 12])
    check_chunk(chunk, validate, skip_bad=True)
    assert [line for line, _ in chunk.bad] == [11, 12]
    assert chunk.bad[0][1].startswith("namespace[0]: label 'a.b' must not contain '.'")
    stopped = Chunk(ops=list(ops), lines=[10, 11, 12])
    check_chunk(stopped, validate, skip_bad=False)
    assert [line for line, _ in stopped.bad] == [11]


def test_checkpoint_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "c.checkpoint"
    Checkpoint(file="f", format="jsonl", keyspace="ks", head="h", offset=10, line=3).save(str(path))
    assert Checkpoint.read(str(path)).offset == 10
    assert [p.name for p in tmp_path.iterdir()] == ["c.checkpoint"]  # no temporary file left
    path.write_text("{}")
    with pytest.raises(LoadUsageError, match="not a load checkpoint"):
        Checkpoint.read(str(path))


def test_plain_progress_lines() -> None:
    now = [0.0]
    stream = io.StringIO()
    lines = PlainLines(1000, "rows", stream, initial=100, interval=5.0, clock=lambda: now[0])
    lines.describe("load")
    lines.update(100)
    assert stream.getvalue() == ""  # not before the interval
    now[0] = 10.0
    lines.update(100)
    assert stream.getvalue() == "load: 300/1,000 rows (30%), 20 rows/s, ETA 35 s\n"
