"""The contract as a Postman collection (v2.1), for trying the API as Appendix В.1 step 4 says.

What the collection holds, and why (D51):

* Collection variables ``base_url`` (the PBX's API address, 1.3), ``crm_url`` (the
  external system's address, where ``call_events`` go), ``client_id`` and
  ``client_key`` (3.1.1), and ``session_id`` for ``get_record``. The
  credentials are empty: a collection carries no key (a run's report holds one).
* One collection-level pre-request script that signs every request as 1.4.1 says,
  ``X-Client-Sign = sha256hex(client_id + data + key)`` with the CryptoJS Postman
  provides (``require("crypto-js")``; the global ``CryptoJS`` is deprecated), over
  the exact raw body sent; a GET without a body signs its raw query string (D21).
* Bodies are the guide's examples byte for byte (``spec.examples``; get_record's
  session id is the variable ``session_id``, whose value is the example's), plus the body of
  the worked example of 1.4.2 and the one Appendix В.1 step 4 has sent by hand, so
  their known-answer vectors (fixtures/signature_vectors.json) can be reproduced.
* Postman tests (``pm.test``) on every answer: a 2xx status, and for the PBX's
  methods ``result`` 0 as a number or a string (E2) with the method's value
  (``session_id``, ``url``), and the answer valid against its schema (``spec.schemas``).

Two folders, so that ``newman run --folder`` sends each to its own system.
"""

from __future__ import annotations

import json
from typing import Any

from conformance import __version__
from conformance.spec import examples, schemas
from conformance.spec.schemas import Profile
from conformance.spec.signing import CLIENT_ID_HEADER, SIGN_HEADER

SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
#: The folders, by the system their requests go to.
PBX_FOLDER = "PBX API (call_back, get_record)"
CRM_FOLDER = "External system (call_events)"

#: Signs the request as it will be sent (1.4.1, D21). ``replaceIn`` resolves every
#: ``{{variable}}`` the body or query holds once, dynamic ones (``{{$guid}}``) included, and
#: the resolved text is put back into the request: what is signed is what is sent.
SIGN = f"""\
// X-Client-Sign = sha256hex(client_id + data + key), guide 1.4.1/1.4.2: lowercase hex.
// data is the raw body exactly as sent (never re-serialised JSON); a GET without a body
// (get_record, E5) signs its raw query string as sent, without the "?" (D21).
const CryptoJS = require("crypto-js");
const id = pm.variables.replaceIn(pm.variables.get("client_id") || "");
const key = pm.variables.replaceIn(pm.variables.get("client_key") || "");
if (!id || !key) {{
    throw new Error("set the variables client_id and client_key (section 3.1.1)");
}}
const body = pm.request.body;
let data = "";
if (body && body.mode === "raw") {{
    // Resolved once and put back: Postman would resolve {{{{$guid}}}} again when sending.
    data = pm.variables.replaceIn(body.raw || "");
    body.update({{mode: "raw", raw: data, options: body.options}});
}} else if (body && body.mode && !body.isEmpty()) {{
    throw new Error("1.4.1 signs JSON data: give the request a raw body, not " + body.mode);
}}
if (!data && pm.request.method === "GET") {{
    pm.request.url.query.each((param) => {{
        param.value = pm.variables.replaceIn(param.value || "");
    }});
    data = pm.request.url.getQueryString() || "";
}}
pm.request.headers.upsert({{key: "{CLIENT_ID_HEADER}", value: id}});
pm.request.headers.upsert({{
    key: "{SIGN_HEADER}",
    value: CryptoJS.SHA256(id + data + key).toString(CryptoJS.enc.Hex),
}});
"""

#: A 2xx: the guide names no status (E12); the suite reads any 2xx JSON answer (D22).
STATUS = """\
pm.test("HTTP 2xx (the guide names no status, E12)", function () {
    pm.response.to.be.success;
});
"""


def _success(method: str, value: str, schema: dict[str, Any]) -> str:
    """The tests of a PBX method's answer: Table А.3/А.4 as the suite reads a success (D22)."""
    section = "А.3" if method == "call_back" else "А.4"
    return STATUS + (
        f"const answer = pm.response.json();\n"
        f'pm.test("result is 0, a number or a string (Table {section}; E2)", function () {{\n'
        f'    pm.expect([0, "0"], JSON.stringify(answer.result)).to.include(answer.result);\n'
        f"}});\n"
        f'pm.test("{value} is given (empty only if result > 0, Table {section})", function () {{\n'
        f'    pm.expect(answer.{value}).to.be.a("string").that.is.not.empty;\n'
        f"}});\n"
        f'pm.test("the answer follows Table {section} ({method} response schema)", function () {{\n'
        f"    pm.response.to.have.jsonSchema({json.dumps(schema, ensure_ascii=False)});\n"
        f"}});\n"
    )


def _script(listen: str, source: str) -> dict[str, Any]:
    """A script in a block of its own: Postman runs every script of a run in one context,
    where a second ``const`` of the same name would be an error."""
    lines = ["{", *(f"    {line}" if line else "" for line in source.splitlines()), "}"]
    return {"listen": listen, "script": {"type": "text/javascript", "exec": lines}}


def _url(base: str, method: str, query: list[dict[str, str]] | None = None) -> dict[str, Any]:
    url: dict[str, Any] = {
        "raw": f"{{{{{base}}}}}/{method}",
        "host": [f"{{{{{base}}}}}"],
        "path": [method],
    }
    if query:
        url["raw"] += "?" + "&".join(f"{q['key']}={q['value']}" for q in query)
        url["query"] = query
    return url


def _cites(name: str) -> str:
    entry = examples.entry(name)
    errata = ", ".join(entry.get("errata", [])) or "none"
    return (
        f"The guide's example, section {entry['section']}, «{entry['title']}» (errata: {errata})."
    )


def _request(
    name: str,
    method: str,
    url: dict[str, Any],
    *,
    description: str,
    tests: str,
    body: str | None,
) -> dict[str, Any]:
    request: dict[str, Any] = {"method": method, "header": [], "url": url}
    if body is not None:
        request["header"] = [{"key": "Content-Type", "value": "application/json"}]
        request["body"] = {"mode": "raw", "raw": body, "options": {"raw": {"language": "json"}}}
    request["description"] = description
    return {"name": name, "event": [_script("test", tests)], "request": request}


def _raw(name: str) -> str:
    return examples.raw(name).decode("utf-8")


def _response_schema(name: str, profile: Profile) -> dict[str, Any]:
    """Schema ``name`` under ``profile`` as one self-contained document for Postman's
    ``jsonSchema`` (Ajv, draft-07): every ``$ref`` inlined; ``$schema``, ``$id`` and
    ``$defs`` dropped."""

    def inline(node: Any, doc: dict[str, Any]) -> Any:
        if isinstance(node, list):
            return [inline(item, doc) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target, _, pointer = node["$ref"].partition("#")
            source = schemas.view(target.removesuffix(".json"), profile) if target else doc
            found: Any = source
            for part in filter(None, pointer.split("/")):
                found = found[part]
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return inline({**found, **rest}, source)
        return {
            key: inline(value, doc)
            for key, value in node.items()
            if key not in ("$schema", "$id", "$defs")
        }

    root = schemas.view(name, profile)
    inlined: dict[str, Any] = inline(root, root)
    return inlined


#: The call_back bodies the guide signs or tells to send by hand, these exact bytes:
#: request name -> (its vector in fixtures/signature_vectors.json, where the guide has it).
WORKED = {
    "call_back: the signature example (1.4.2)": (
        "guide-1.4.2",
        "The body of the guide's worked example of section 1.4.2",
    ),
    "call_back: the test of Appendix В.1, step 4": (
        "guide-1.4.2-compact",
        "The body Appendix В.1 step 4 tells to send, with Postman for instance, to check the "
        "API can be reached",
    ),
}


def _vector(name: str, where: str) -> str:
    vector = examples.signature_vectors()[name]
    return (
        f"{where}, these exact bytes. With client_id `{vector['client_id']}` and the key of "
        f"section 1.4.2's example, `{SIGN_HEADER}` is `{vector['sign']}`."
    )


def _pbx(profile: Profile) -> list[dict[str, Any]]:
    session = examples.value("get_record.request")["session_id"]
    call_back = _success("call_back", "session_id", _response_schema("call_back.response", profile))
    get_record = _success("get_record", "url", _response_schema("get_record.response", profile))
    e1 = (
        ' The example\'s answer has `"result": "1"` for a success, against the table\'s 0 '
        "(E1): these tests want 0, as Table А.3 says; the suite reads 1 with a `session_id` "
        "as that reading (D22)."
    )
    posted = (
        " POST with the JSON body, as section 1.4.1 and the example send it (E5). The "
        "example's session id is the variable `session_id`, whose value is the example's, so "
        "the bytes sent are the guide's; the PBX answers for a finished, recorded call: set "
        "it to one of yours."
    )
    query = (
        "Table А.4 says get_record is a GET (E5); without a body the request signs its raw "
        "query string as sent, `session_id=...` (D21). The session id is the variable "
        "`session_id`; write it percent-encoded if it needs encoding, so that what is "
        "signed is what is sent."
    )
    by_query = _url("base_url", "get_record", [{"key": "session_id", "value": "{{session_id}}"}])
    return [
        _request(
            "call_back",
            "POST",
            _url("base_url", "call_back"),
            description=_cites("call_back.request") + e1,
            tests=call_back,
            body=_raw("call_back.request"),
        ),
        *(
            _request(
                name,
                "POST",
                _url("base_url", "call_back"),
                description=_vector(vector, where) + e1,
                tests=call_back,
                body=examples.signature_vectors()[vector]["body"],
            )
            for name, (vector, where) in WORKED.items()
        ),
        _request(
            "get_record",
            "POST",
            _url("base_url", "get_record"),
            description=_cites("get_record.request") + posted,
            tests=get_record,
            body=_raw("get_record.request").replace(f'"{session}"', '"{{session_id}}"'),
        ),
        _request(
            "get_record (GET, Table А.4)",
            "GET",
            by_query,
            description=query,
            tests=get_record,
            body=None,
        ),
    ]


def _crm() -> list[dict[str, Any]]:
    return [
        _request(
            f"call_events: {state}",
            "POST",
            _url("crm_url", "call_events"),
            description=_cites(f"call_events.{state}")
            + " The PBX's notification (Table А.2) as the external system receives it. The "
            "guide specifies no answer to it (E12): the test wants a 2xx.",
            tests=STATUS,
            body=_raw(f"call_events.{state}"),
        )
        for state in ("new", "connected", "disconnected")
    ]


def _variable(key: str, value: str, description: str) -> dict[str, str]:
    return {"key": key, "value": value, "type": "string", "description": description}


def _description(profile: Profile) -> str:
    return (
        "The VATS Integration API (Rostelecom Virtual PBX), as the user guide, edition 1/2017, "
        "describes it: `call_back` and `get_record` (Appendix А.3, А.4) sent to the PBX's API, "
        "`call_events` (А.2) sent by the PBX to the external system. Exported by "
        f"vats-conformance {__version__} (profile `{profile}`).\n\n"
        "Set the collection variables (or pass them to newman with `--env-var`): `base_url`, "
        "`crm_url`, `client_id`, `client_key`. The collection's pre-request script signs every "
        f"request (1.4.1): `{SIGN_HEADER} = sha256hex(client_id + data + key)` in lowercase "
        "hex, where data is the raw body exactly as sent, or, for a GET without a body, its "
        "raw query string (D21). Change a body freely, `{{variables}}` included: the script "
        "resolves them once, puts the result back and signs it, so what is signed is what is "
        "sent.\n\n"
        "The tests check a 2xx answer and, for the PBX's methods, `result` 0 (a number, or "
        "a string as every example sends it: E2) with the method's value, against Table А.3/"
        "А.4's schema. They check the answers only; whether a signature, a refusal or a shape "
        "is right in every reading of the guide is for the conformance suite to judge."
    )


def build(profile: Profile = "guide") -> dict[str, Any]:
    """The collection under ``profile`` (the answers' schemas are that profile's view)."""
    session = examples.value("get_record.request")["session_id"]
    return {
        "info": {
            "name": "VATS Integration API (guide 1/2017)",
            "description": _description(profile),
            "version": __version__,
            "schema": SCHEMA,
        },
        "event": [_script("prerequest", SIGN)],
        "variable": [
            _variable("base_url", "http://127.0.0.1:8090", "The PBX's API address (1.3, 3.2.1)"),
            _variable(
                "crm_url",
                "http://127.0.0.1:8080",
                "The external system's address; call_events go to {{crm_url}}/call_events (1.3)",
            ),
            _variable("client_id", "", "The client's identification code, X-Client-ID (3.1.1)"),
            _variable("client_key", "", "The client's key, which signs every request (3.1.1)"),
            _variable(
                "session_id",
                session,
                "The call whose recording get_record asks for (by default the example's, А.4)",
            ),
        ],
        "item": [
            {"name": PBX_FOLDER, "item": _pbx(profile)},
            {"name": CRM_FOLDER, "item": _crm()},
        ],
    }
