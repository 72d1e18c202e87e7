"""The Postman collection (conformance/contract/postman.py, D51), run by newman.

Against the reference PBX emulator in this process: the guide's requests are signed by
the collection's own script and succeed; the same request with its body changed after
it was signed is refused. Against the reference CRM: the guide's notifications are
accepted. What newman did is read from its JSON report, never from its text.

newman is ``$VATS_NEWMAN``, else ``newman`` on the PATH (.ci/run installs it outside
the checkout); without it the module is skipped, except in CI, where it fails.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.contract import postman
from conformance.reference.crm import ReferenceCrm
from conformance.reference.pbx.app import Pbx
from conformance.reference.web import Request, Response
from conformance.spec import examples, signing
from conformance.spec.schemas import PROFILES
from tests.support import CLIENT_ID, CLIENT_KEY, serving
from tests.test_reference_crm_client import make_pbx

NEWMAN = os.environ.get("VATS_NEWMAN") or shutil.which("newman")
if not NEWMAN:
    if os.environ.get("CI"):
        pytest.fail("CI must run the newman test: .ci/run installs newman (VATS_NEWMAN)")
    pytest.skip(
        "newman is not installed (VATS_NEWMAN, or newman on the PATH)", allow_module_level=True
    )

#: A whole newman run, start-up included (about a second here); each request gets 10 s.
RUN_TIMEOUT = 120
#: The guide's get_record example's call, made known to the emulator (docs/PBX_EMULATOR.md).
SESSION = examples.value("get_record.request")["session_id"]


def run_newman(collection: dict[str, Any], folder: str, tmp: Path, **variables: str) -> Any:
    """``newman run`` one folder of ``collection`` with ``variables`` (as ``--env-var``, as
    the README says); newman's JSON report. Loopback only: no proxy is inherited."""
    (tmp / "collection.json").write_text(json.dumps(collection), encoding="utf-8")
    report = tmp / "report.json"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    assert NEWMAN
    args = [NEWMAN, "run", str(tmp / "collection.json"), "--folder", folder]
    for name, value in variables.items():
        args += ["--env-var", f"{name}={value}"]
    args += ["--timeout-request", "10000", "--reporters", "json"]
    args += ["--reporter-json-export", str(report)]
    done = subprocess.run(
        args, check=False, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    assert report.exists(), f"newman wrote no report (exit {done.returncode}): {done.stderr}"
    return json.loads(report.read_text(encoding="utf-8"))["run"]


def executions(run: Any) -> dict[str, Any]:
    """Each request's execution, by the request's name."""
    assert not run["error"], run["error"]
    return {e["item"]["name"]: e for e in run["executions"]}


def failed(execution: Any) -> list[str]:
    """The names of the execution's Postman tests that failed."""
    return [a["assertion"] for a in execution.get("assertions", []) if a.get("error")]


def answer(execution: Any) -> Any:
    return json.loads(bytes(execution["response"]["stream"]["data"]))


def header(execution: Any, name: str) -> str:
    [value] = [h["value"] for h in execution["request"]["header"] if h["key"] == name]
    return str(value)


def requests(collection: dict[str, Any], folder: str) -> list[dict[str, Any]]:
    [items] = [f["item"] for f in collection["item"] if f["name"] == folder]
    return list(items)


def pbx_vars(url: str) -> dict[str, str]:
    return {"base_url": url, "client_id": CLIENT_ID, "client_key": CLIENT_KEY}


@pytest.fixture
def emulator() -> Iterator[tuple[Pbx, str]]:
    """The emulator with the suite's client, knowing the get_record example's call."""
    pbx = make_pbx()
    pbx.adopt_call(CLIENT_ID, SESSION, finished=True, recorded=True)
    try:
        with serving(pbx) as url:
            yield pbx, url
    finally:
        pbx.engine.shutdown()


# -- the collection itself ---------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_collection_shape(profile: Any) -> None:
    collection = postman.build(profile)
    assert collection["info"]["schema"] == postman.SCHEMA
    variables = {v["key"]: v["value"] for v in collection["variable"]}
    assert {"base_url", "crm_url", "client_id", "client_key"} <= variables.keys()
    assert variables["client_key"] == ""  # a collection never carries a key
    [sign] = collection["event"]
    assert sign["listen"] == "prerequest"
    script = "\n".join(sign["script"]["exec"])
    assert "CryptoJS.SHA256(id + data + key).toString(CryptoJS.enc.Hex)" in script
    assert "pm.variables.replaceIn(body.raw" in script
    bodies = {}
    for folder in (postman.PBX_FOLDER, postman.CRM_FOLDER):
        for item in requests(collection, folder):
            request = item["request"]
            base = "{{base_url}}/" if folder == postman.PBX_FOLDER else "{{crm_url}}/"
            assert request["url"]["raw"].startswith(base)
            assert [e["listen"] for e in item["event"]] == ["test"]
            assert "pm.test(" in "\n".join(item["event"][0]["script"]["exec"])
            if "body" in request:
                assert request["header"] == [{"key": "Content-Type", "value": "application/json"}]
                bodies[item["name"]] = request["body"]["raw"].encode("utf-8")
    # The guide's bytes, verbatim: the examples and the 1.4.2 worked example's body.
    assert bodies["call_back"] == examples.raw("call_back.request")
    # get_record's session id is a variable whose value is the example's: the same bytes.
    assert variables["session_id"] == SESSION
    sent = bodies["get_record"].replace(b"{{session_id}}", SESSION.encode("utf-8"))
    assert sent == examples.raw("get_record.request")
    for state in ("new", "connected", "disconnected"):
        assert bodies[f"call_events: {state}"] == examples.raw(f"call_events.{state}")
    for name, (vector, _) in postman.WORKED.items():
        assert bodies[name] == examples.signature_vectors()[vector]["body"].encode("utf-8")


# -- newman against the references ---------------------------------------------------


def test_the_guides_requests_succeed_against_the_emulator(
    emulator: tuple[Pbx, str], tmp_path: Path
) -> None:
    pbx, url = emulator
    collection = postman.build()
    run = executions(run_newman(collection, postman.PBX_FOLDER, tmp_path, **pbx_vars(url)))
    assert set(run) == {item["name"] for item in requests(collection, postman.PBX_FOLDER)}
    for name, execution in run.items():
        assert execution["response"]["code"] == 200, (name, answer(execution))
        assert failed(execution) == [], name
        assert len(execution["assertions"]) == 4, name
    # What the emulator received is what the collection holds, signed over those bytes.
    logged = pbx.log.query()
    assert len(logged) == len(run)
    for entry in logged:
        data = entry.request_body.encode("utf-8")
        assert entry.request_headers["X-Client-Sign"] == signing.sign(CLIENT_ID, data, CLIENT_KEY)
    assert {e.request_body.encode("utf-8") for e in logged} >= {
        examples.raw("call_back.request"),
        examples.raw("get_record.request"),
        f"session_id={SESSION}".encode(),  # the GET, signed over its raw query (D21)
    }
    # The suite's test credentials are the guide's (1.4.2): its known answers come out.
    for name, (vector_name, _) in postman.WORKED.items():
        vector = examples.signature_vectors()[vector_name]
        assert (vector["client_id"], vector["key"]) == (CLIENT_ID, CLIENT_KEY)
        assert header(run[name], "X-Client-Sign") == vector["sign"]


#: For each PBX request, a change made to its body after the signature was set.
TAMPER = {
    "call_back": ("+436602225877", "+436602225878"),
    # The collection's script has put the variable's value in the body before this runs.
    "get_record": (SESSION, SESSION[:-1] + "5"),
}


def test_a_body_changed_after_signing_is_refused(emulator: tuple[Pbx, str], tmp_path: Path) -> None:
    pbx, url = emulator
    collection = postman.build()
    tampered = copy.deepcopy(collection)
    for item in requests(tampered, postman.PBX_FOLDER):
        if item["name"] in TAMPER:
            old, new = TAMPER[item["name"]]
            # A request's pre-request script runs after the collection's, which signed.
            change = f"pm.request.body.raw = pm.request.body.raw.replace({old!r}, {new!r});"
            item["event"].insert(0, {"listen": "prerequest", "script": {"exec": [change]}})
    run = executions(run_newman(tampered, postman.PBX_FOLDER, tmp_path, **pbx_vars(url)))
    for name, (old, new) in TAMPER.items():
        execution = run[name]
        sent = execution["request"]["body"]["raw"]
        assert new in sent
        assert old not in sent
        correct = signing.sign(CLIENT_ID, sent.encode("utf-8"), CLIENT_KEY)
        assert header(execution, "X-Client-Sign") != correct
        assert execution["response"]["code"] == 403, name
        assert answer(execution)["result"] == 14, name  # X-Client-Sign does not match
        assert "HTTP 2xx (the guide names no status, E12)" in failed(execution)
    # The controls in the same run, untouched, succeed; the tampered call_back placed no call.
    assert failed(run["call_back: the signature example (1.4.2)"]) == []
    assert failed(run["get_record (GET, Table А.4)"]) == []
    placed = [e for e in pbx.log.query(method="call_back") if e.status == 200]
    assert len(placed) == len(postman.WORKED)
    # What the emulator received: the changed bytes, under a signature of the bytes before.
    refused = [e for e in pbx.log.query() if e.status == 403]
    assert len(refused) == len(TAMPER)
    for entry in refused:
        data = entry.request_body.encode("utf-8")
        assert any(new.encode() in data for _, new in TAMPER.values()), entry.request_body
        assert entry.request_headers["X-Client-Sign"] != signing.sign(CLIENT_ID, data, CLIENT_KEY)


def test_dynamic_variables_are_signed_as_sent(emulator: tuple[Pbx, str], tmp_path: Path) -> None:
    """``{{$guid}}`` takes a new value each time Postman resolves it: the script resolves it
    once and sends what it signed, in a body and in a GET's query."""
    pbx, url = emulator
    collection = postman.build()
    by_name = {item["name"]: item for item in requests(collection, postman.PBX_FOLDER)}
    call_back = by_name["call_back"]["request"]
    call_back["body"]["raw"] = call_back["body"]["raw"].replace(
        '"request_number"', '"comment" : "{{$guid}} {{$randomInt}}",\n  "request_number"'
    )
    get = by_name["get_record (GET, Table А.4)"]["request"]
    get["url"]["raw"] += "&probe={{$guid}}"
    get["url"]["query"].append({"key": "probe", "value": "{{$guid}}"})
    run = executions(run_newman(collection, postman.PBX_FOLDER, tmp_path, **pbx_vars(url)))
    for name in ("call_back", "get_record (GET, Table А.4)"):
        assert run[name]["response"]["code"] == 200, (name, answer(run[name]))
    for entry in pbx.log.query():
        data = entry.request_body.encode("utf-8")
        assert b"{{" not in data, entry.request_body
        assert entry.request_headers["X-Client-Sign"] == signing.sign(CLIENT_ID, data, CLIENT_KEY)
    assert any(b'"comment" : "' in e.request_body.encode() for e in pbx.log.query())
    assert any(e.request_body.startswith("session_id=") and "&probe=" in e.request_body
               for e in pbx.log.query())


def test_the_guides_notifications_are_accepted_by_the_reference_crm(tmp_path: Path) -> None:
    crm = ReferenceCrm(CLIENT_ID, CLIENT_KEY)
    received: list[Request] = []

    def recording(request: Request) -> Response:
        received.append(request)
        return crm(request)

    with serving(recording) as url:
        run = executions(
            run_newman(
                postman.build(),
                postman.CRM_FOLDER,
                tmp_path,
                crm_url=url,
                client_id=CLIENT_ID,
                client_key=CLIENT_KEY,
            )
        )
    assert sorted(run) == [f"call_events: {s}" for s in ("connected", "disconnected", "new")]
    for name, execution in run.items():
        assert execution["response"]["code"] == 200, name
        assert failed(execution) == [], name
    # What the CRM received: the guide's bytes, signed over exactly those bytes.
    assert sorted(r.body for r in received) == sorted(
        examples.raw(f"call_events.{s}") for s in ("new", "connected", "disconnected")
    )
    for request in received:
        sign = request.headers.get("X-Client-Sign")
        assert sign == signing.sign(CLIENT_ID, request.body, CLIENT_KEY)


def test_the_schema_check_refuses_an_answer_off_table_a3(tmp_path: Path) -> None:
    """A control for the answers' schema test: a success with an empty ``resultMessage``
    (Table А.3: "Не допускается") passes every other test and fails that one."""

    def pbx(request: Request) -> Response:
        body = {"result": 0, "resultMessage": "", "session_id": "s-1", "url": "http://x/r"}
        return Response(200, json.dumps(body).encode(), [("Content-Type", "application/json")])

    with serving(pbx) as url:
        run = executions(run_newman(postman.build(), postman.PBX_FOLDER, tmp_path, **pbx_vars(url)))
    for name, execution in run.items():
        table = "А.3" if name.startswith("call_back") else "А.4"
        assert [f.split(" (")[0] for f in failed(execution)] == [
            f"the answer follows Table {table}"
        ], name
