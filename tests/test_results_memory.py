"""results.json is streamed to its file, not built as one text first (issue 13: peak RSS).

The whole text at once (a str of two or four bytes a character once a Cyrillic
letter is in it, then its UTF-8 copy) was the full run's peak memory, some
55 MB above the rest (benchmarks/rss.py). No secrets here: what is measured is
the writing, not the redaction.
"""

from __future__ import annotations

import json
import tracemalloc

from conformance.report import results


def _document() -> dict[str, object]:
    line = "Уведомление о вызове " * 50  # ~1 KB of Cyrillic
    return {"cases": [{"id": f"case-{i}", "detail": line, "n": i} for i in range(4000)]}


def test_the_text_is_the_same_as_one_dumps(tmp_path) -> None:
    doc = _document()
    results.write(tmp_path / "results.json", doc, [])
    expected = json.dumps(doc, ensure_ascii=False, indent=1) + "\n"
    assert (tmp_path / "results.json").read_text(encoding="utf-8") == expected


def test_writing_does_not_hold_the_whole_text(tmp_path) -> None:
    doc = _document()
    size = len(json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8"))
    assert size > 7_000_000
    tracemalloc.start()
    try:
        results.write(tmp_path / "results.json", doc, [])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the copy redact_tree makes of the containers is well under this; the whole
    # text alone is over it
    assert peak < size / 4, f"peak {peak} bytes while writing {size} bytes"
