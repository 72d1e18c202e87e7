"""``generated=True`` marks exactly the cases that send generated examples (``explore``).

The flag is what pytest-xdist's scheduler hands out first (D62): a case whose length
grows with ``--examples`` started last keeps one worker busy while the other has
nothing left. A case that calls ``explore`` without the flag, or carries the flag
without calling it, fails here, read from the source as the catalogue is.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conformance.catalogue import collect

ROLES = Path(__file__).resolve().parents[1] / "conformance" / "roles"


def _calls_explore(fn: ast.FunctionDef) -> bool:
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "explore"
        for node in ast.walk(fn)
    )


def _flag(fn: ast.FunctionDef) -> bool | None:
    """The ``generated`` keyword of the function's case decorator (None: no decorator)."""
    for dec in fn.decorator_list:
        if (
            isinstance(dec, ast.Call)
            and isinstance(dec.func, ast.Name)
            and dec.func.id.endswith("case")
        ):
            for kw in dec.keywords:
                if kw.arg == "generated":
                    return isinstance(kw.value, ast.Constant) and kw.value.value is True
            return False
    return None


def test_the_flag_is_set_where_explore_is_called_and_nowhere_else() -> None:
    wrong = []
    checked = 0
    for path in sorted(ROLES.rglob("test_*.py")):
        for fn in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(fn, ast.FunctionDef):
                continue
            flag = _flag(fn)
            if flag is None:
                continue
            checked += 1
            if flag != _calls_explore(fn):
                wrong.append(f"{path.name}::{fn.name}: generated={flag}")
    assert checked > 80  # the roles' case functions, as the tree holds them
    assert wrong == []


def test_the_collected_cases_carry_it() -> None:
    cases = collect()
    flagged = {case_id for case_id, info in cases if info.generated}
    assert "crm.sign.encoding[compact]" in {case_id for case_id, _ in cases}
    assert "crm.lifecycle.explore" in flagged
    assert "crm.lifecycle.call[incoming-answered]" in flagged
    assert "pbx.get-record.explore" in flagged
    assert "crm.sign.encoding[compact]" not in flagged
