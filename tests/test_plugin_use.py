"""The plugin as an installed package meets it: loaded into a user's own test run, and
``pytest -p conformance`` in a folder that holds no case (D39).

The installed wheel itself is checked end to end by ``.ci/wheel-check``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import PYCACHE


def _pytest(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("VATS_", "PYTEST_"))}
    child_env.update(PYTHONDONTWRITEBYTECODE="", PYTHONPYCACHEPREFIX=str(PYCACHE), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _project(root: Path) -> Path:
    """A user's repository: strict pytest settings, its own naming, one test of its own."""
    root.mkdir()
    (root / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\n"
        'addopts = ["--strict-markers", "--strict-config", "-W", "error"]\n'
        'python_files = ["check_*.py"]\n'
        'testpaths = ["checks"]\n',
        encoding="utf-8",
    )
    (root / "checks").mkdir()
    (root / "checks" / "check_mine.py").write_text("def test_mine():\n    assert True\n")
    return root


def test_inert_in_a_users_own_run(tmp_path: Path) -> None:
    """Loaded by its entry point into an unrelated run: no settings read (a bad VATS_*
    variable is no error), no header, no references, no report."""
    project = _project(tmp_path / "crm")
    done = _pytest(project, env={"VATS_CRM_URL": "not a url", "VATS_SEED": "-1"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    assert "vats-conformance 0" not in done.stdout
    assert "target" not in done.stdout
    assert not (project / "reports").exists()


def test_p_conformance_collects_the_package_cases(tmp_path: Path) -> None:
    """No path given: the package's cases, whatever the project's python_files and
    testpaths say; the targets are printed under the header."""
    project = _project(tmp_path / "crm")
    done = _pytest(project, "-p", "conformance", "--collect-only")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "crm-webhook target: embedded reference CRM" in done.stdout
    assert "<Module test_1_4_2_signature.py>" in done.stdout
    assert "<Module check_mine.py>" not in done.stdout
    quiet = _pytest(project, "-p", "conformance", "--collect-only", "-q")
    ids = [line for line in quiet.stdout.splitlines() if "::" in line]
    assert len(ids) > 200, quiet.stdout[-2000:]
    roles = ("crm_client/", "crm_webhook/", "pbx_api/", "pbx_events/")
    assert all(i.startswith(roles) for i in ids), ids[:3]


def test_p_conformance_says_when_the_project_hides_the_cases(tmp_path: Path) -> None:
    project = _project(tmp_path / "crm")
    done = _pytest(project, "-p", "conformance", "-o", "python_functions=check_*")
    assert done.returncode == 4, done.stdout + done.stderr
    assert "ERROR: -p conformance collected no case from" in done.stderr
    assert "add -o python_functions=test" in done.stderr


def test_p_no_conformance_switches_it_off(tmp_path: Path) -> None:
    project = _project(tmp_path / "crm")
    done = _pytest(project, "-p", "no:conformance", "--crm-url", "http://127.0.0.1:1")
    assert done.returncode == 4
    assert "unrecognized arguments: --crm-url" in done.stderr


def test_a_project_keeps_its_own_option_names(tmp_path: Path) -> None:
    """A project whose conftest.py has its own --seed and --profile (pytest-profiling's)
    still runs; ours are then --vats-seed and --vats-profile only (D40)."""
    project = _project(tmp_path / "crm")
    (project / "conftest.py").write_text(
        "def pytest_addoption(parser):\n"
        "    parser.addoption('--seed', type=int)\n"
        "    parser.addoption('--profile', action='store_true')\n",
        encoding="utf-8",
    )
    (project / "checks" / "check_seed.py").write_text(
        "def test_seed(request):\n    assert request.config.getoption('seed') == 7\n"
    )
    own = _pytest(project, "--seed", "7", "--profile")
    assert own.returncode == 0, own.stdout + own.stderr
    assert "2 passed" in own.stdout
    cases = _pytest(
        project,
        "-p",
        "conformance",
        "--vats-seed",
        "3",
        "-k",
        "crm.sign.valid or test_valid",
        "--co",
        "-q",
    )
    assert cases.returncode == 0, cases.stdout + cases.stderr
    assert "test_valid" in cases.stdout


def test_a_users_own_run_under_xdist_is_left_alone(tmp_path: Path) -> None:
    """Under pytest-xdist (``-n 2``) too, a run without cases reads no ``VATS_*``
    setting, makes no folder for the workers (conformance/xdist.py) and writes no report."""
    pytest.importorskip("xdist")
    temp = tmp_path / "tmp"
    temp.mkdir()
    root = _project(tmp_path / "project")
    done = _pytest(root, "-n", "2", env={"VATS_SEED": "bogus", "TMPDIR": str(temp)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    assert not list(temp.glob("vats-xdist-*"))
    assert not (root / "reports").exists()
