"""Known deviations: ``--baseline FILE`` lists cases that do not fail the run.

The file is TOML, one table per known deviation::

    [[known]]
    id = "crm.sign.altered[first-digit]"   # a case id as the report prints it
    reason = "VATS-123: signature check lands in release 2.4"

    [[known]]
    id = "crm.content.timestamp-number"    # no [...]: every parametrisation
    reason = "we read timestamps as strings"

A listed case whose verdict would fail the run is reported as ``known`` and
does not; a listed case that now passes fails the run, so that a baseline only
ever shrinks. Entries for cases the run did not include are reported, not
errors (a run may select cases with ``-k``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Baseline:
    path: Path
    reasons: dict[str, str]

    def reason(self, case_id: str) -> str | None:
        """The entry covering ``case_id``: its exact id, or its id without parameters."""
        return self.reasons.get(case_id) or self.reasons.get(case_id.split("[", 1)[0])

    def unused(self, case_ids: set[str]) -> list[str]:
        bases = {c.split("[", 1)[0] for c in case_ids}
        return sorted(i for i in self.reasons if i not in case_ids and i not in bases)


def load(raw: str, option: str = "--baseline") -> Baseline:
    """Read and check the file; every problem is one ``UsageError`` line naming
    ``option`` as it was given (``--baseline``, ``VATS_BASELINE``, an ini key)."""
    path = Path(raw)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise pytest.UsageError(f"{option}: cannot read {raw!r}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise pytest.UsageError(f"{option}: {raw!r} is not valid TOML: {exc}") from None
    extra = sorted(set(doc) - {"known"})
    if extra:
        raise pytest.UsageError(
            f"{option}: unexpected key {extra[0]!r}; expected [[known]] tables"
        )
    entries = doc.get("known", [])
    if not isinstance(entries, list):
        raise pytest.UsageError(f"{option}: 'known' must be an array of tables ([[known]])")
    reasons: dict[str, str] = {}
    for n, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or set(entry) != {"id", "reason"}:
            raise pytest.UsageError(
                f"{option}: entry {n}: expected exactly the keys id and reason"
            )
        case_id, reason = entry["id"], entry["reason"]
        if not isinstance(case_id, str) or not case_id.strip():
            raise pytest.UsageError(f"{option}: entry {n}: id must be a non-empty string")
        if not isinstance(reason, str) or not reason.strip():
            raise pytest.UsageError(f"{option}: entry {n} ({case_id}): reason must be given")
        if case_id in reasons:
            raise pytest.UsageError(f"{option}: entry {n}: {case_id} is listed twice")
        reasons[case_id] = reason.strip()
    return Baseline(path, reasons)
