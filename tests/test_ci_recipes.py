"""The CI recipes of docs/CI.md (``docs/ci/*.yml``) are what they claim, and they run.

Each recipe is read with PyYAML as its CI reads it, and checked for what gating needs:
pinned actions and images, Python 3.11 or later, the credentials from the CI's secret
store, only options the suite has, the suite's step deciding the job's status, the
report kept whatever happened and its JUnit file in the CI's test view.

Then the recipe runs: its ``run:`` steps (GitHub Actions: each in its own bash, the
next one only after a success unless ``if: always()``) or its ``script:`` lines
(GitLab CI: in order in one bash) run with ``bash -eo pipefail`` in a folder laid out
like a user's repository (a baseline file), with what the CI would supply: the
secrets, and the variables the recipe says to replace. ``python`` is a fresh venv
that sees this venv's packages through a ``.pth`` file (not this checkout's
``vats_conformance``), so the recipe's install line really builds and installs the
suite from ``VATS_CONFORMANCE_SPEC``, set to this checkout. Its own ``CRM_COMMAND``
starts the reference CRM, and the job passes; set to a broken CRM of tests/faults,
the job fails on that CRM's ``fail``; set to a command that never listens, the wait
for it ends at ``CRM_START_TIMEOUT``. The runs take some 20 s each (two passing,
one failing).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.options import OPTIONS
from tests.support import CLIENT_ID, CLIENT_KEY, ROOT, free_port

RECIPES = {
    "github": ROOT / "docs" / "ci" / "github-actions.yml",
    "gitlab": ROOT / "docs" / "ci" / "gitlab-ci.yml",
}
#: What the CI supplies from its secret store (GitHub: secrets; GitLab: masked variables).
SECRETS = {"VATS_CLIENT_ID": CLIENT_ID, "VATS_CLIENT_KEY": CLIENT_KEY}
#: The files the report directory must keep (README "Reports").
REPORT_FILES = ("index.html", "junit.xml", "results.json")
BASELINE = "vats-known-deviations.toml"
#: The user's baseline: a case the reference answers with info (not pass: no stale entry).
KNOWN = """[[known]]
id = "crm.sign.uppercase-hex"
reason = "CRM-412: compare hex case-insensitively"
"""
#: The broken CRM of the failing run: a case it fails, and another that its baseline lists.
BROKEN = "required-field-crashes"
BROKEN_CASE = "crm.input.missing-required[session_id]"
BROKEN_KNOWN = "crm.input.wrong-value[session-id-number]"
BROKEN_BASELINE = f"""{KNOWN}
[[known]]
id = "{BROKEN_KNOWN}"
reason = "CRM-413: a session_id that is no string is a 500 until the parser is fixed"
"""
#: A user's repository has its own pytest set-up: an option the suite does not know, and a
#: conftest that imports what the job's Python does not have (a Django project's, say).
USER_PYPROJECT = """[tool.pytest.ini_options]
addopts = "--an-option-of-the-users-own-plugin"
"""
USER_CONFTEST = "import a_module_the_job_does_not_have  # noqa: F401\n"
#: The longest any one step may take (the suite's run, a pip install).
STEP_TIMEOUT = 600.0
#: The suite's own options, in both spellings, and pytest's that a recipe uses.
SUITE_OPTIONS = {name for name, _, _ in OPTIONS} | {
    "--vats-" + name.removeprefix("--") for name, _, _ in OPTIONS
}
PYTEST_OPTIONS = {"--pyargs", "--noconftest"}
PINNED_ACTION = re.compile(r"^[\w.-]+/[\w.-]+@(v\d+\.\d+\.\d+|[0-9a-f]{40})$")


@dataclass
class Step:
    """One shell a runner starts: its lines in order (one bash), and whether it also runs
    after a failed step."""

    lines: list[str]
    always: bool = False
    #: The step's own variables (GitHub's step-level ``env``), over the job's.
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Job:
    """A recipe as a runner executes it."""

    variables: dict[str, str]
    steps: list[Step]
    doc: dict[str, Any] = field(repr=False)

    def lines(self) -> list[str]:
        return [line for step in self.steps for line in step.lines]

    def suite_command(self) -> str:
        (command,) = [line for line in self.lines() if "-m pytest" in line]
        return command

    def without(self, *words: str) -> Job:
        """The same job without the lines containing any of ``words``."""
        steps = [
            Step(
                [line for line in step.lines if not any(w in line for w in words)],
                step.always,
                step.env,
            )
            for step in self.steps
        ]
        return Job(self.variables, [s for s in steps if s.lines], self.doc)


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(RECIPES[name].read_text(encoding="utf-8"))
    return doc


def github_job(doc: dict[str, Any]) -> tuple[dict[str, Any], Job]:
    (job,) = doc["jobs"].values()
    steps = [
        Step(
            [step["run"]],
            always=step.get("if") == "always()",
            env={k: str(v) for k, v in step.get("env", {}).items()},
        )
        for step in job["steps"]
        if "run" in step
    ]
    return job, Job({k: str(v) for k, v in job["env"].items()}, steps, doc)


def gitlab_job(doc: dict[str, Any]) -> tuple[dict[str, Any], Job]:
    (job,) = (v for k, v in doc.items() if not k.startswith(".") and "script" in v)
    lines = [*job.get("before_script", []), *job["script"]]
    steps = [Step(lines)] + (
        [Step(job["after_script"], always=True)] if "after_script" in job else []
    )
    return job, Job({k: str(v) for k, v in job.get("variables", {}).items()}, steps, doc)


def read(name: str) -> tuple[dict[str, Any], Job]:
    """The recipe's job (as its CI file has it) and what a runner executes of it."""
    return (github_job if name == "github" else gitlab_job)(load(name))


def suite_words(job: Job) -> list[str]:
    return shlex.split(job.suite_command())


def option(words: list[str], name: str) -> str:
    return words[words.index(name) + 1]


def covered(path: str, kept: list[str]) -> bool:
    """Whether an artifact ``path`` list keeps the file ``path`` (a file or a folder of it)."""
    return any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept)


# -- the recipes as written ----------------------------------------------------------------


def test_ci_md_shows_each_recipe_verbatim() -> None:
    text = (ROOT / "docs" / "CI.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```yaml\n(.*?)^```$", text, flags=re.M | re.S)
    for path in RECIPES.values():
        assert path.read_text(encoding="utf-8") in blocks, f"docs/CI.md does not show {path.name}"


def test_the_readme_shows_the_recipes_suite_command() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Gating your CI", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"^```sh\n(.*?)^```$", section, flags=re.M | re.S)
    assert found, "README's 'Gating your CI' lost its command"
    for name in RECIPES:
        words = shlex.split(found[1].replace("\\\n", " "))  # the lines continued
        assert words == suite_words(read(name)[1]), name


@pytest.mark.parametrize("name", RECIPES)
def test_the_suite_runs_as_a_gate(name: str) -> None:
    _, job = read(name)
    words = suite_words(job)
    assert words[:5] == ["python", "-m", "pytest", "-p", "conformance"]
    # The CRM webhook role only: the suite plays the PBX against the user's CRM.
    assert option(words, "--pyargs") == "conformance.roles.crm_webhook"
    assert option(words, "--baseline") == BASELINE
    assert option(words, "--crm-url").startswith("http://127.0.0.1:")
    # The user's repository's own pytest set-up stays out (its conftest and addopts).
    assert "--noconftest" in words
    assert option(words, "-o") == "addopts="
    unknown = {w for w in words if w.startswith("--")} - SUITE_OPTIONS - PYTEST_OPTIONS
    assert not unknown, f"options the suite does not have: {unknown}"
    # The key comes from the environment (the CI's secrets), never a command line.
    assert not {"--client-key", "--vats-client-key"} & set(words)
    # Nothing after the suite's command, in its shell or on its line, can change its status.
    (step,) = [s for s in job.steps if job.suite_command() in s.lines]
    assert step.lines[-1] == job.suite_command()
    assert not re.search(r"\|\||&&|;|\n|&$", job.suite_command().strip())


def test_github_job() -> None:
    doc, (job_doc, job) = load("github"), read("github")
    uses = [step["uses"] for step in job_doc["steps"] if "uses" in step]
    assert uses, "no actions"
    for action in uses:
        assert PINNED_ACTION.match(action), f"{action} is not pinned to a version or commit"
    keys = {str(k): v for k, v in doc.items()}  # YAML 1.1 reads the key on as True
    triggers: dict[str, Any] = keys.get("on") or keys["True"]
    assert "pull_request" in triggers
    assert doc["permissions"]["checks"] == "write"  # the JUnit report's check run
    assert job_doc["timeout-minutes"] <= 60
    assert job_doc["defaults"]["run"]["shell"] == "bash"
    (python,) = [
        s["with"]["python-version"] for s in job_doc["steps"] if "setup-python" in s.get("uses", "")
    ]
    assert tuple(int(p) for p in str(python).split(".")) >= (3, 11)
    # The key only in the steps that use it: not in the actions' or pip's environment.
    assert not set(SECRETS) & set(job.variables)
    for step in job_doc["steps"]:
        uses_key = "$CRM_COMMAND" in step.get("run", "") or "-m pytest" in step.get("run", "")
        given = {k: v for k, v in step.get("env", {}).items() if k in SECRETS}
        assert given == ({n: f"${{{{ secrets.{n} }}}}" for n in SECRETS} if uses_key else {})
    (checkout,) = [s for s in job_doc["steps"] if "checkout" in s.get("uses", "")]
    assert checkout["with"]["persist-credentials"] is False
    # The suite's step decides: it has no condition and may not fail quietly.
    (suite_step,) = [s for s in job_doc["steps"] if "-m pytest" in s.get("run", "")]
    assert "if" not in suite_step
    assert not suite_step.get("continue-on-error")
    report_dir = option(suite_words(job), "--report-dir")
    (upload,) = [s for s in job_doc["steps"] if "upload-artifact" in s.get("uses", "")]
    assert upload["if"] == "always()"
    kept = upload["with"]["path"].split()
    for name in REPORT_FILES:
        assert covered(f"{report_dir}/{name}", kept), f"{name} is not kept"
    (junit,) = [s for s in job_doc["steps"] if "action-junit-report" in s.get("uses", "")]
    assert junit["if"] == "always()"
    assert junit["continue-on-error"] is True  # a view: it cannot fail the job
    assert junit["with"]["report_paths"] == f"{report_dir}/junit.xml"
    assert not junit["with"].get("fail_on_failure")  # the suite's status decides, not the view


def test_gitlab_job() -> None:
    job_doc, job = read("gitlab")
    # Not -slim or -alpine: the wait needs curl, a git URL install needs git.
    image = re.fullmatch(r"python:3\.(\d+)(-(bookworm|trixie))?", job_doc["image"])
    assert image, f"image {job_doc['image']} is not a pinned Python 3"
    assert int(image[1]) >= 11
    assert job_doc["timeout"]
    # The credentials are masked CI/CD variables, never written in the file.
    assert not set(SECRETS) & set(job.variables)
    assert not job_doc.get("allow_failure")
    report_dir = option(suite_words(job), "--report-dir")
    artifacts = job_doc["artifacts"]
    assert artifacts["when"] == "always"
    for name in REPORT_FILES:
        assert covered(f"{report_dir}/{name}", artifacts["paths"]), f"{name} is not kept"
    assert artifacts["reports"]["junit"] == f"{report_dir}/junit.xml"


# -- the recipes run -----------------------------------------------------------------------


@dataclass
class Finished:
    status: int
    output: str
    repo: Path
    python: Path

    def results(self, report_dir: str) -> dict[str, Any]:
        path = self.repo / report_dir / "results.json"
        assert path.is_file(), f"no {path} (job exit {self.status})\n{self.output[-4000:]}"
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return doc


def runner_python(base: Path) -> Path:
    """A fresh venv's bin folder whose ``python`` sees this venv's packages but not this
    checkout's ``vats_conformance``: pip finds the suite's dependencies installed and
    builds and installs only the suite."""
    deps = base / "deps"
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if "vats_conformance" not in entry.name:
            (deps / entry.name).symlink_to(entry)
    venv = base / "python"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    purelib = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    (Path(purelib) / "_runner_deps.pth").write_text(f"{deps}\n", encoding="utf-8")
    return venv / "bin"


def environment(job: Job, bin_dir: Path, settings: dict[str, str]) -> dict[str, str]:
    """A runner's environment: this machine's, less the suite's and Python's own variables,
    ``python`` first on PATH, the job's variables (secrets resolved), then ``settings``; a
    step adds its own (``step_environment``)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VATS_", "PYTHON", "PYTEST_", "VIRTUAL_ENV"))
    }
    own_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(
        [str(bin_dir), *(p for p in env.get("PATH", "").split(os.pathsep) if p != own_bin)]
    )
    env.update(resolved(job.variables))
    # GitLab's masked CI/CD variables are the job's environment; GitHub's secrets are
    # given to the steps that name them.
    if not any(step.env for step in job.steps):
        env.update(SECRETS)
    env.update(settings)
    return env


def resolved(variables: dict[str, str]) -> dict[str, str]:
    """``variables`` with ``${{ secrets.NAME }}`` evaluated as GitHub does."""
    out = {}
    for name, value in variables.items():
        secret = re.fullmatch(r"\$\{\{ secrets\.(\w+) \}\}", value)
        assert secret or "${{" not in value, f"{name}: no runner here evaluates {value}"
        out[name] = SECRETS[secret[1]] if secret else value
    return out


def run_job(job: Job, base: Path, settings: dict[str, str], baseline: str = KNOWN) -> Finished:
    """Run ``job`` in ``base/repo`` (a user's repository with its baseline file) as a runner
    does; every process it started is stopped at the end."""
    repo = base / "repo"
    repo.mkdir()
    (repo / BASELINE).write_text(baseline, encoding="utf-8")
    # The user's own pytest set-up, which the suite's run must not pick up.
    (repo / "pyproject.toml").write_text(USER_PYPROJECT, encoding="utf-8")
    (repo / "conftest.py").write_text(USER_CONFTEST, encoding="utf-8")
    bin_dir = runner_python(base)
    env = environment(job, bin_dir, settings)
    status, output, groups = 0, [], []
    try:
        for step in job.steps:
            if status and not step.always:
                continue
            process = subprocess.Popen(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", "\n".join(step.lines)],
                cwd=repo,
                env={**env, **resolved(step.env), **settings},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,  # its group holds whatever it leaves running
            )
            groups.append(process.pid)
            try:
                out, _ = process.communicate(timeout=STEP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                out, _ = process.communicate(timeout=30)
                pytest.fail(f"a step ran longer than {STEP_TIMEOUT:g} s:\n{out[-4000:]}")
            output.append(out)
            status = status or process.returncode
    finally:
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGTERM)
    return Finished(status, "".join(output), repo, bin_dir.parent)


@pytest.fixture
def settings() -> dict[str, str]:
    """What the user sets: the suite from this checkout, a free port for the CRM, and few
    examples per generated case (an environment variable the suite reads, as a user may)."""
    return {
        # The recipe's form: a direct reference, here to this checkout.
        "VATS_CONFORMANCE_SPEC": f"vats-conformance @ {ROOT.as_uri()}",
        "CRM_PORT": str(free_port()),
        "VATS_EXAMPLES": "5",
    }


@pytest.mark.parametrize("name", RECIPES)
def test_the_recipe_passes_against_the_reference_crm(
    name: str, settings: dict[str, str], tmp_path: Path
) -> None:
    _, job = read(name)
    assert job.variables["CRM_COMMAND"].startswith("vats-reference-crm ")
    done = run_job(job, tmp_path, settings)
    assert done.status == 0, done.output[-4000:]
    report_dir = option(suite_words(job), "--report-dir")
    for report in REPORT_FILES:
        assert (done.repo / report_dir / report).is_file(), report
    results = done.results(report_dir)
    assert results["summary"]["fail"] == 0
    assert list(results["roles"]) == ["crm-webhook"]
    assert results["baseline"]["file"] == BASELINE
    assert results["settings"]["examples"] == 5
    # The install line installed the suite into the runner's python, from this checkout.
    installed = list(done.python.glob("lib/python3*/site-packages/conformance/plugin.py"))
    assert installed, "the recipe's install line did not install the suite"
    assert CLIENT_KEY not in done.output
    # Nor in what the job keeps (the artifacts are not masked as a job's log is).
    for kept in (done.repo / "reports").rglob("*"):
        if kept.is_file():
            assert CLIENT_KEY.encode() not in kept.read_bytes(), kept


def test_the_recipe_fails_on_a_broken_crm(settings: dict[str, str], tmp_path: Path) -> None:
    """One recipe, GitLab's: both run the same lines, and that its suite's status becomes
    the job's is the structure checked above (a run is some 20 s of two shared cores)."""
    _, job = read("gitlab")
    command = (
        f"PYTHONPATH={shlex.quote(str(ROOT))} {shlex.quote(sys.executable)} -m tests.faults.crm"
    )
    settings["CRM_COMMAND"] = f"{command} {BROKEN} --port $CRM_PORT"
    # Only the bad-input cases, as a user narrows a run: -k through pytest's variable.
    settings["PYTEST_ADDOPTS"] = "-k bad_input"
    done = run_job(job, tmp_path, settings, BROKEN_BASELINE)
    assert done.status == 1, done.output[-4000:]  # the suite's: a fail (README, exit status)
    report_dir = option(suite_words(job), "--report-dir")
    cases = {c["id"]: c for c in done.results(report_dir)["cases"]}
    assert cases[BROKEN_CASE]["verdict"] == "fail"
    assert "known" not in cases[BROKEN_CASE]
    assert cases[BROKEN_KNOWN]["verdict"] == "fail"
    assert cases[BROKEN_KNOWN]["known"].startswith("CRM-413")
    for report in REPORT_FILES:
        assert (done.repo / report_dir / report).is_file(), report


@pytest.mark.parametrize("name", RECIPES)
def test_the_wait_for_the_crm_is_bounded(name: str, tmp_path: Path) -> None:
    _, job = read(name)
    start_only = job.without("pip install", "-m pytest")
    started = time.monotonic()
    done = run_job(
        start_only,
        tmp_path,
        {"CRM_COMMAND": "sleep 60", "CRM_PORT": str(free_port()), "CRM_START_TIMEOUT": "2"},
    )
    assert done.status != 0
    assert "did not answer on port" in done.output
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("name", RECIPES)
def test_a_crm_command_that_exits_ends_the_wait(name: str, tmp_path: Path) -> None:
    _, job = read(name)
    start_only = job.without("pip install", "-m pytest")
    settings = {"CRM_COMMAND": "exit 3", "CRM_PORT": str(free_port()), "CRM_START_TIMEOUT": "60"}
    started = time.monotonic()
    done = run_job(start_only, tmp_path, settings)
    assert done.status != 0
    assert "The CRM's command exited (status 3)" in done.output
    assert time.monotonic() - started < 30
