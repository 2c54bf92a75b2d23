"""Field paths of an index config: which texts of an item value are embedded.

The path syntax is LangGraph's, so index configs written for its stores work unchanged:

- ``"$"`` (or an empty path): the whole value, as JSON with sorted keys;
- ``"a.b"``: nested keys; ``"a[0]"``, ``"a[-1]"``: list positions (negative from the end);
- ``"a[*]"`` or ``"a.*"``: every element of a list (``*`` also every value of a dict);
- ``"a.{b,c.d}"``: several nested fields of one dict.

A path that reaches a string, number or boolean yields its text; a list or dict yields its JSON
(sorted keys); ``None`` and missing keys yield nothing. A path that yields several texts (a
wildcard) stores one vector per text, under ``"<path>.<n>"``, as LangGraph's stores do.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

WHOLE_VALUE = "$"


def split_path(path: str) -> tuple[str, ...]:
    """The steps of a field path: keys, ``[...]`` positions and ``{...}`` field groups.

    Brackets and braces are kept whole (nested ones included); dots separate keys.
    """
    steps: list[str] = []
    key: list[str] = []
    position = 0
    while position < len(path):
        char = path[position]
        if char in "[{":
            if key:
                steps.append("".join(key))
                key = []
            closing = "]" if char == "[" else "}"
            depth = 0
            start = position
            while position < len(path):
                if path[position] == char:
                    depth += 1
                elif path[position] == closing:
                    depth -= 1
                    if depth == 0:
                        break
                position += 1
            steps.append(path[start : position + 1])
            position += 1
            continue
        if char == ".":
            if key:
                steps.append("".join(key))
                key = []
        else:
            key.append(char)
        position += 1
    if key:
        steps.append("".join(key))
    return tuple(steps)


def _as_text(found: Any) -> str | None:
    if isinstance(found, str):
        return found
    if isinstance(found, (bool, int, float)):
        return str(found)
    if isinstance(found, (list, dict)):
        return json.dumps(found, sort_keys=True, ensure_ascii=False)
    return None


def _walk(node: Any, steps: Sequence[str], at: int, out: list[str]) -> None:
    if at == len(steps):
        text = _as_text(node)
        if text is not None:
            out.append(text)
        return
    step = steps[at]
    if step.startswith("[") and step.endswith("]"):
        if not isinstance(node, list):
            return
        inside = step[1:-1]
        if inside == "*":
            for element in node:
                _walk(element, steps, at + 1, out)
            return
        try:
            position = int(inside)
        except ValueError:
            return
        if -len(node) <= position < len(node):
            _walk(node[position], steps, at + 1, out)
        return
    if step.startswith("{") and step.endswith("}"):
        if not isinstance(node, dict):
            return
        for member in step[1:-1].split(","):
            found: Any = node
            for key in split_path(member.strip()):
                if not isinstance(found, dict) or key not in found:
                    found = None
                    break
                found = found[key]
            text = _as_text(found) if found is not None else None
            if text is not None:
                out.append(text)
        return
    if step == "*":
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        )
        for child in children:
            _walk(child, steps, at + 1, out)
        return
    if isinstance(node, dict) and step in node:
        _walk(node[step], steps, at + 1, out)


def texts_at(value: dict[str, Any], path: str) -> list[str]:
    """Every text ``path`` reaches in ``value`` (see the module docstring)."""
    if not path or path == WHOLE_VALUE:
        return [json.dumps(value, sort_keys=True, ensure_ascii=False)]
    out: list[str] = []
    _walk(value, split_path(path), 0, out)
    return out


def field_texts(value: dict[str, Any], paths: Sequence[str]) -> list[tuple[str, str]]:
    """``(stored path, text)`` for every text the paths reach; one per vector to store.

    A path that yields one text keeps its name; one that yields several names them
    ``"<path>.0"``, ``"<path>.1"``, ...
    """
    found: list[tuple[str, str]] = []
    for path in paths:
        texts = texts_at(value, path)
        if len(texts) == 1:
            found.append((path, texts[0]))
        else:
            found.extend((f"{path}.{n}", text) for n, text in enumerate(texts))
    return found
