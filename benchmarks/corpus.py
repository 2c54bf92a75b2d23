"""A fixed, deterministic corpus of 100 agent-memory-like values for the codec benchmarks.

Each value is a dict of 100 to 500 encoded bytes mixing what long-term-memory stores keep:
short and medium strings (some non-ASCII), ints, floats, bools, None, nested dicts and lists,
and one tz-aware timestamp. The same seed always gives the same values.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

__all__ = ["CORPUS", "make_corpus"]

# fmt: off
_WORDS = (
    "user", "prefers", "dark", "mode", "and", "concise", "answers", "about", "python", "asyncio",
    "scylladb", "cassandra", "meeting", "notes", "project", "deadline", "budget", "travel",
    "paris", "tokyo", "coffee", "tea", "vegetarian", "allergy", "peanuts", "birthday", "march",
    "daughter", "soccer", "practice", "tuesday", "deploy", "kubernetes", "cluster", "latency",
    "p99", "regression", "rollback", "incident", "postmortem", "café", "naïve", "résumé", "東京",
    "größe",
)
# fmt: on
_KINDS = ("preference", "fact", "episode", "task", "profile")
_ROLES = ("user", "assistant", "tool")
_TAGS = ("work", "family", "health", "travel", "food", "infra", "urgent", "personal", "music")
_BASE = datetime(2024, 5, 17, 9, 30, tzinfo=timezone.utc)


def _sentence(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(lo, hi)))


def _value(rng: random.Random, i: int) -> dict[str, object]:
    value: dict[str, object] = {
        "kind": rng.choice(_KINDS),
        "text": _sentence(rng, 3, 16),
        "importance": round(rng.random(), 4),
        "access_count": rng.randint(0, 5000),
        "pinned": rng.random() < 0.2,
        "tags": rng.sample(_TAGS, rng.randint(0, 4)),
        "source": {
            "thread_id": f"thread-{rng.randint(1, 99999):05d}",
            "turn": rng.randint(1, 300),
            "role": rng.choice(_ROLES),
        },
        "created_at": _BASE
        + timedelta(seconds=rng.randint(0, 10_000_000), microseconds=rng.randint(0, 999_999)),
    }
    if i % 2 == 0:
        value["embedding"] = {"model": "text-embedding-3-small", "dims": 1536, "norm": rng.random()}
    if i % 3 == 0:
        value["entities"] = [
            {
                "name": _sentence(rng, 1, 2),
                "type": rng.choice(("person", "place", "org")),
                "confidence": round(rng.random(), 3),
            }
            for _ in range(rng.randint(1, 3))
        ]
    if i % 4 == 0:
        value["scores"] = [round(rng.uniform(-1, 1), 6) for _ in range(rng.randint(2, 8))]
    if i % 5 == 0:
        value["expires"] = None
        value["version"] = rng.randint(1, 2**40)
    return value


def make_corpus(seed: int = 20240517, size: int = 100) -> list[dict[str, object]]:
    """Build ``size`` values from ``seed`` (always the same values for the same arguments)."""
    rng = random.Random(seed)
    return [_value(rng, i) for i in range(size)]


CORPUS = make_corpus()
