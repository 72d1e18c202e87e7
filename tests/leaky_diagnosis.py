"""A pytest plugin for tests/test_redaction.py (``-p tests.leaky_diagnosis``): one more
diagnosis, quoting the client key as one that decodes what it quotes could, to prove
that the report redacts the diagnoses as it does the rest."""

from __future__ import annotations

from typing import Any

import conformance.report as report
from tests.support import CLIENT_KEY

_diagnose = report.diagnose


def _leaky(document: Any) -> list[dict[str, Any]]:
    leak = {
        "id": "leak",
        "title": "a diagnosis quoting the key",
        "section": "1.4.2",
        "explanation": f"decoded: {CLIENT_KEY}",
        "fix": "",
        "cases": [],
        "evidence": [],
    }
    return [*_diagnose(document), leak]


report.diagnose = _leaky  # type: ignore[assignment]
