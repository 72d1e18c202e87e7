"""The OpenAPI export (D50): a valid 3.1 document whose schemas take the guide's examples.

Every example is validated against its operation's schema *as the exported
document resolves it* (jsonschema over a registry holding the document), so a
``$ref`` that leads nowhere, or a shape lost on the way out of ``schemas/``,
fails here; a broken example shows the check can fail. Then the command line and
a run's report directory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import referencing
from openapi_spec_validator import validate
from referencing.jsonschema import DRAFT202012

from conformance import contract
from conformance.contract import openapi
from conformance.report.results import redact_tree
from conformance.spec import examples, schemas
from conformance.spec.errata import ERRATA
from tests.support import CLIENT_KEY, ROOT, run_suite

URI = "urn:vats-conformance:openapi"
PROFILES = schemas.PROFILES


def _pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def operations(document: dict[str, Any]) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """``(path to the operation, operation)`` for every operation and webhook."""
    for kind in ("paths", "webhooks"):
        for name, item in document[kind].items():
            for method in ("get", "post"):
                if method in item:
                    yield (kind, name, method), item[method]


def guide_examples(
    document: dict[str, Any],
) -> Iterator[tuple[str, tuple[str, ...], dict[str, Any]]]:
    """``(example name, path to its schema, Example Object)`` for every example."""
    for where, operation in operations(document):
        for i, parameter in enumerate(operation.get("parameters", [])):
            for name, example in parameter.get("examples", {}).items():
                yield name, (*where, "parameters", str(i), "schema"), example
        holders: list[tuple[tuple[str, ...], Any]]
        holders = [(("requestBody",), operation.get("requestBody", {}))]
        holders += [(("responses", code), r) for code, r in operation["responses"].items()]
        for at, holder in holders:
            media = holder.get("content", {}).get("application/json", {})
            for name, example in media.get("examples", {}).items():
                yield name, (*where, *at, "content", "application/json", "schema"), example


def resolved(document: dict[str, Any], at: tuple[str, ...]) -> Any:
    """A validator for the schema at ``at``, its refs resolved inside ``document`` alone."""
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(
        URI, DRAFT202012.create_resource(document)
    )
    return jsonschema.Draft202012Validator({"$ref": f"{URI}#{_pointer(*at)}"}, registry=registry)


@pytest.fixture(scope="module", params=PROFILES)
def document(request: pytest.FixtureRequest) -> dict[str, Any]:
    built: dict[str, Any] = openapi.build(request.param)
    return built


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)  # openapi-spec-validator: raises on any violation
    assert document["openapi"].startswith("3.1.")
    assert set(document["paths"]) == {"/call_back", "/get_record"}
    assert set(document["paths"]["/get_record"]) == {"post", "get"}  # E5: both
    assert set(document["webhooks"]) == {"call_events"}
    json.dumps(document)  # plain JSON all the way


def test_every_ref_resolves_inside_the_document(document: dict[str, Any]) -> None:
    """openapi-spec-validator does not follow every ref (a media type's, for one): we do."""
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(
        URI, DRAFT202012.create_resource(document)
    )
    resolver = registry.resolver(URI)
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs
    assert all(ref.startswith("#/components/") for ref in refs), refs
    for ref in refs:
        resolver.lookup(ref)  # raises when it leads nowhere
    text = json.dumps(document)
    assert '"$id"' not in text
    assert '"$defs"' not in text


def test_every_guide_example_validates_against_the_exported_schema(
    document: dict[str, Any],
) -> None:
    found = list(guide_examples(document))
    names = {name for name, _, _ in found}
    # every example of fixtures/guide_examples is in the document
    assert {e["file"].removesuffix(".json") for e in examples.index()} <= names
    for name, at, example in found:
        errors = [e.message for e in resolved(document, at).iter_errors(example["value"])]
        assert not errors, (name, at, errors)


def test_a_broken_example_does_not_validate(document: dict[str, Any]) -> None:
    """The control: the same resolution refuses what the guide's shapes exclude."""
    at = ("paths", "/call_back", "post", "requestBody", "content", "application/json", "schema")
    good = examples.value("call_back.request")
    assert resolved(document, at).is_valid(good)
    broken = {**good, "request_number": good["request_number"].removeprefix("+")}
    assert not resolved(document, at).is_valid(broken)
    event = ("webhooks", "call_events", "post", "requestBody", "content", "application/json")
    assert not resolved(document, (*event, "schema")).is_valid(
        {**examples.value("call_events.new"), "state": "ringing"}
    )
    gets = ("paths", "/get_record", "get", "parameters", "2", "schema")
    assert not resolved(document, gets).is_valid("")


def test_examples_and_readings_name_their_errata(document: dict[str, Any]) -> None:
    described = {name: example["description"] for name, _, example in guide_examples(document)}
    for entry in examples.index():
        name = entry["file"].removesuffix(".json")
        assert examples.value(name) == next(
            e["value"] for n, _, e in guide_examples(document) if n == name
        )
        for number in entry.get("errata", []):
            assert ERRATA[number] in described[name], (name, number)
    readings: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "x-reading" in node:
                readings.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document["components"]["schemas"])
    assert {r["x-reading"] for r in readings} >= {"E2", "E3", "E4", "E7"}
    for reading in readings:
        number = reading["x-reading"]
        if number in ERRATA:
            assert ERRATA[number] in reading["description"], reading


def test_the_profile_decides_the_production_shapes() -> None:
    guide, field = (json.dumps(openapi.build(p)) for p in PROFILES)
    assert '"x-profile": "field"' not in guide
    assert '"x-profile": "field"' in field
    assert '"analytics"' in field  # a state of later editions
    assert '"analytics"' not in guide


def test_every_operation_carries_the_signature_headers(document: dict[str, Any]) -> None:
    for where, operation in operations(document):
        refs = [p.get("$ref") for p in operation["parameters"]]
        assert "#/components/parameters/X-Client-ID" in refs, where
        assert "#/components/parameters/X-Client-Sign" in refs, where
    sign = document["components"]["parameters"]["X-Client-Sign"]
    vector = examples.signature_vectors()["guide-1.4.2"]
    assert vector["sign"] in sign["description"]
    assert vector["body"] in sign["description"]
    assert sign["example"] == vector["sign"]
    get = document["paths"]["/get_record"]["get"]
    assert "raw query string" in get["description"]  # D21
    assert [p["name"] for p in get["parameters"] if "in" in p] == ["session_id"]


# -- the command line ---------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "vats-conformance"
    done = subprocess.run(
        [str(script), "export", "openapi"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(contract.text("openapi"))


@pytest.mark.parametrize("kind", sorted(contract.FILES))
def test_export_writes_json_to_stdout_or_a_file(tmp_path: Path, kind: str) -> None:
    done = _cli("export", kind, "--profile", "field")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    printed = json.loads(done.stdout)
    assert printed == json.loads(contract.text(kind, "field"))
    out = tmp_path / "out.json"
    done = _cli("export", kind, "--out", str(out))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert json.loads(out.read_text(encoding="utf-8")) == json.loads(contract.text(kind))
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no partial file left


BAD = [
    (("export", "swagger"), "argument format: invalid choice: 'swagger'"),
    (("export", "openapi", "--profile", "prod"), "argument --profile: invalid choice: 'prod'"),
    (("export",), "the following arguments are required: format"),
    ((), "the following arguments are required: COMMAND"),
    (("export", "openapi", "--out", "/proc/vats.json"), "--out: cannot write '/proc/vats.json'"),
    (("export", "openapi", "--out", "/nonexistent/dir/x.json"), "--out: cannot write"),
    (("export", "openapi", "--out", ""), "names a folder, not a file"),
    (("export", "openapi", "--out", "/"), "names a folder, not a file"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[" ".join(a) or "-" for a, _ in BAD])
def test_bad_input_is_one_error_line(args: tuple[str, ...], message: str) -> None:
    done = _cli(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("ERROR: "), lines
    assert message in lines[0], lines


def test_an_out_that_is_a_directory_is_one_error_line(tmp_path: Path) -> None:
    done = _cli("export", "postman", "--out", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.startswith("ERROR: --out: cannot write"), done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert "Traceback" not in done.stderr


# -- a run's report directory ---------------------------------------------------------


def test_a_run_attaches_both_exports_and_the_page_links_them(tmp_path: Path) -> None:
    """Under the run's profile, redacted as results.json is: the run here signs with the
    guide's published example key (1.4.2), which the exports quote."""
    run = run_suite(
        ["-k", "valid_signature", "--profile", "field", "--client-key", CLIENT_KEY],
        tmp_path / "r",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    names = {p.name for p in run.report_dir.iterdir()}
    assert {"results.json", "index.html", *contract.FILES.values()} <= names
    for name in contract.FILES.values():
        text = (run.report_dir / name).read_text(encoding="utf-8")
        assert CLIENT_KEY not in text
        expected = contract.text(name.split("_")[0].removesuffix(".json"), "field")
        assert CLIENT_KEY in expected or name != "openapi.json"
        assert json.loads(text) == json.loads(expected.replace(CLIENT_KEY, "[REDACTED]"))
    page = (run.report_dir / "index.html").read_text(encoding="utf-8")
    for name in contract.FILES.values():
        assert f'href="{name}"' in page


def test_an_out_that_is_not_a_regular_file_is_written_through(tmp_path: Path) -> None:
    """A symlink (``/dev/stdout`` is one) is written through, never replaced. (Not tried on
    /dev/null itself: a regression would replace the machine's device when run as root.)"""
    target = tmp_path / "target.json"
    target.write_text("", encoding="utf-8")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    done = _cli("export", "openapi", "--out", str(link))
    assert (done.returncode, done.stderr) == (0, "")
    assert link.is_symlink()
    assert json.loads(target.read_text(encoding="utf-8")) == json.loads(contract.text("openapi"))


def test_only_a_published_key_is_redacted_from_the_exports(tmp_path: Path) -> None:
    """A run's own key cannot be in an export; redacting it as a substring would rewrite
    the exports (a key ``key`` renames every ``"key"`` field of the collection)."""
    assert contract.published(["key", "test", CLIENT_KEY]) == [CLIENT_KEY]
    contract.attach(tmp_path, "guide", lambda e: redact_tree(e, contract.published(["key"])))
    for kind, name in contract.FILES.items():
        written = json.loads((tmp_path / name).read_text(encoding="utf-8"))
        assert written == json.loads(contract.text(kind))
