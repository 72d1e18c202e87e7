"""The package's layers, as ARCHITECTURE.md draws them, enforced on every import.

Each top-level part of ``conformance`` may import only the parts below it;
a role imports no other role (roles share through ``grading/`` or ``spec/``).
Imports under ``if TYPE_CHECKING:`` are annotations, not dependencies, and
are not counted. A new module outside the table fails the test, so the table
stays the whole picture.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "conformance"

#: part -> the parts it may import (itself always allowed). ``version`` is the
#: package's ``__init__`` (``__version__``).
ALLOWED: dict[str, set[str]] = {
    "version": set(),
    "spec": set(),
    "transport": {"version", "spec"},
    "grading": {"spec", "transport"},
    # The option table, and reading a value from the command line, environment or ini file.
    "options": set(),
    "settings": {"spec", "grading", "options"},
    "sut": {"version", "spec", "transport", "grading", "settings"},
    "roles": {"spec", "transport", "grading", "settings", "sut"},
    "report": {"version", "spec", "transport", "grading", "templating"},
    "templating": set(),
    # The reference systems stand apart from the suite that judges them: they
    # share only what the guide says and the serving code of their own part.
    "reference": {"version", "spec", "templating"},
    # The PBX API the suite serves a CRM: the emulator's answers, recorded for the cases.
    "api_server": {"spec", "transport", "grading", "sut", "reference"},
    # The contract in other formats (OpenAPI 3.1, Postman v2.1), built from spec/ (issue 12).
    "contract": {"version", "spec"},
    # The vats-conformance command line (export).
    "cli": {"version", "contract"},
    # The top: wires everything.
    "run": {
        "version",
        "spec",
        "transport",
        "grading",
        "settings",
        "sut",
        "report",
        "reference",
        "api_server",
    },
    "fixtures": {"spec", "transport", "grading", "settings", "sut", "run"},
    "plugin": {
        "version",
        "options",
        "contract",
        "spec",
        "transport",
        "grading",
        "settings",
        "sut",
        "report",
        "run",
        "fixtures",
    },
    "catalogue": {"grading", "run", "plugin"},
    # pytest-xdist: one run across workers (D62), above the plugin whose header it prints.
    "xdist": {"grading", "settings", "sut", "transport", "report", "reference", "run", "plugin"},
}


def part_of(module: str) -> str:
    """``conformance.sut.drivers`` -> ``sut``; ``conformance`` -> ``version``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] != "__version__" else "version"


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every runtime import of ``conformance`` in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_lines(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom) or node.lineno in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "conformance":
                found += [(node.lineno, f"conformance.{a.name}") for a in node.names]
            elif node.module.startswith("conformance."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("conformance")]
    return found


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_respect_the_layers(path: Path) -> None:
    me = module_name(path)
    mine = part_of(me)
    assert mine in ALLOWED, f"{me}: part {mine!r} is not in the layer table (tests/test_layers.py)"
    wrong = []
    for line, target in imports_of(path):
        theirs = part_of(target)
        if theirs == mine and mine == "roles":
            role, other = me.split(".")[2], target.split(".")[2] if target.count(".") > 1 else ""
            if other and other != role:
                wrong.append(f"line {line}: {target} (roles share through grading/ or spec/)")
        elif theirs != mine and theirs not in ALLOWED[mine]:
            wrong.append(f"line {line}: {target} ({mine} may import {sorted(ALLOWED[mine])})")
    assert not wrong, f"{me} reaches across the layers:\n" + "\n".join(wrong)


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    """The test above can fail: an upward import and a role-to-role import are both seen."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from conformance.report import html\n"
        "from conformance.roles.crm_webhook._common import crm_case\n"
        "if TYPE_CHECKING:\n    from conformance.run import Run\n",
        encoding="utf-8",
    )
    assert [target for _, target in imports_of(bad)] == [
        "conformance.report",
        "conformance.roles.crm_webhook._common",
    ]
    assert "report" not in ALLOWED["grading"]
