"""An expensive answer worth caching: statistics over every note the asker may see.

Honest work, not a sleep: read every note (through the note store, so encryption and
ownership apply), split every title and body into words, count them, and summarise.
On 10,000 generated notes it takes a few hundred milliseconds: the kind of answer a
dashboard asks for again and again while nothing changed.
"""

from __future__ import annotations

import random
import re
import statistics
from collections import Counter
from typing import Any

from sandbox import notes

WORD = re.compile(r"[a-z']+")

# Words for generated notes: deterministic text, no download, no network.
_WORDS = (
    "cache key value hit miss store expire stale fresh read write request response "
    "server client database index query plan table row column note title body tag user "
    "session token secret cipher queue job worker thread process memory disk network "
    "latency throughput bottleneck profile measure slow fast cost saved seconds "
    "milliseconds invalidate version owner workspace lesson challenge record event "
    "module switch work ideas todo reading backend cache db api"
)
VOCABULARY = tuple(_WORDS.split())
TAGS = ("work", "ideas", "todo", "reading", "backend", "cache", "db", "api")


def generated(count: int, seed: int) -> list[dict[str, Any]]:
    """Return ``count`` notes made from ``seed``: the same seed, the same notes."""
    rng = random.Random(seed)
    return [
        {
            "title": " ".join(rng.choices(VOCABULARY, k=rng.randint(2, 6))).capitalize(),
            "body": " ".join(rng.choices(VOCABULARY, k=rng.randint(40, 160))),
            "tags": sorted(set(rng.choices(TAGS, k=rng.randint(0, 3)))),
        }
        for _ in range(count)
    ]


def compute() -> dict[str, Any]:
    """Read every visible note and summarise them."""
    words: Counter[str] = Counter()
    tags: Counter[str] = Counter()
    lengths: list[int] = []
    days: Counter[str] = Counter()
    for note in notes.visible_notes():
        text = WORD.findall(f"{note['title']} {note['body']}".lower())
        words.update(text)
        tags.update(note["tags"])
        lengths.append(len(text))
        days[note["created_at"][:10]] += 1
    return {
        "notes": len(lengths),
        "words": sum(lengths),
        "distinct_words": len(words),
        "words_per_note": {
            "mean": round(statistics.fmean(lengths), 1) if lengths else 0,
            "median": statistics.median(lengths) if lengths else 0,
            "longest": max(lengths, default=0),
        },
        "top_words": [{"word": w, "count": c} for w, c in words.most_common(10)],
        "tags": dict(tags.most_common()),
        "notes_per_day": dict(sorted(days.items())),
    }
