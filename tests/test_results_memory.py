"""results.json is streamed to its file, not built as one text first (issue 13: peak RSS).

The whole text at once (a str of two or four bytes a character once a Cyrillic
letter is in it, then its UTF-8 copy) was the full run's peak memory, some
55 MB above the rest (benchmarks/rss.py). The document is redacted before it is
written (plugin.py), so no secrets here.
"""

from __future__ import annotations

import json
import tracemalloc

from conformance.report import results


def _document() -> dict[str, object]:
    line = "Уведомление о вызове " * 50  # ~1 KB of Cyrillic
    return {"cases": [{"id": f"case-{i}", "detail": line, "n": i} for i in range(4000)]}


def test_the_text_reads_back_as_the_document_a_case_and_an_exchange_a_line(tmp_path) -> None:
    doc = _document()
    doc["suite"] = {"name": "vats-conformance"}
    doc["cases"][0]["exchanges"] = [{"n": 1, "body": '{"a": 1}'}, {"n": 2}]
    results.write(tmp_path / "results.json", doc)
    text = (tmp_path / "results.json").read_text(encoding="utf-8")
    assert json.loads(text) == doc
    lines = text.splitlines()
    assert lines[:3] == ["{", ' "suite": {', '  "name": "vats-conformance"']
    assert '  {"id": "case-0", "detail": ' in text
    assert '   {"n": 1, "body": "{\\"a\\": 1}"},' in lines
    assert sum(1 for line in lines if line.startswith('  {"id": "case-')) == len(doc["cases"])


def test_writing_does_not_hold_the_whole_text(tmp_path) -> None:
    doc = _document()
    size = len(json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8"))
    assert size > 7_000_000
    tracemalloc.start()
    try:
        results.write(tmp_path / "results.json", doc)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # one case's text at a time is well under this; the whole text alone is over it
    assert peak < size / 4, f"peak {peak} bytes while writing {size} bytes"
