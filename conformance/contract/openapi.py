"""The contract as an OpenAPI 3.1 document, built from ``schemas/`` and the guide's examples.

``build(profile)`` returns the document as a dict (D50):

* ``paths``: ``/call_back`` (POST) and ``/get_record`` (POST, and GET: E5) on the
  PBX's API; ``webhooks``: ``call_events``, which the PBX POSTs to the CRM.
* ``components/schemas``: each message schema of ``schemas/`` as ``spec.schemas.view``
  gives it under ``profile``, with ``$schema``/``$id`` dropped and each ``$defs``
  entry hoisted to a component of its own (``call_events.pin``), so every ``$ref``
  is a pointer inside the document. ``x-reading`` alternatives stay, annotated,
  with a description quoting the erratum they read; ``x-profile: field`` ones are
  there only under ``field``.
* ``X-Client-ID`` and ``X-Client-Sign`` on every operation, the signature rule
  with the guide's known-answer vector (1.4.2) in their descriptions.
* The guide's examples, parsed from ``fixtures/guide_examples``, each naming the
  errata it shows; refusals described as the guide leaves them (E11, E12).
"""

from __future__ import annotations

import json
import re
from typing import Any

from conformance import __version__
from conformance.spec import examples, schemas
from conformance.spec.errata import ERRATA, cite
from conformance.spec.schemas import Profile
from conformance.spec.sections import section_heading
from conformance.spec.signing import CLIENT_ID_HEADER, SIGN_HEADER

OPENAPI_VERSION = "3.1.0"
_SCHEMAS = "#/components/schemas/"
_JSON = "application/json"
#: The guide's production API address (1.3) and the external system's in figure 2.
_API_ADDRESS = "https://api.cloudpbx.rt.ru"
_TEST_API_ADDRESS = "https://api-test.cloudpbx.rt.ru"
_EXTERNAL_ADDRESS = "https://192.168.89.79:8090"

#: The readings of ``x-reading`` that are not errata (schemas.py's docstring).
_READINGS = {
    "empty": "One reading of «Допускается» (an empty value is allowed): null.",
    "RFC 3261": (
        "A shape the guide does not exclude though its examples never show it: "
        "RFC 3261, which the guide's SIP-URI rests on, allows it."
    ),
}
_FIELD = (
    "A production shape (later editions of the API, up to v7.5, as public integrations "
    "show): part of the contract under the field profile only."
)


def _rewrite_ref(ref: str, message: str) -> str:
    """A schema file's ``$ref`` as a pointer into the document's ``components/schemas``."""
    target, _, pointer = ref.partition("#")
    owner = target.removesuffix(".json") if target else message
    if owner not in schemas.MESSAGES:
        raise ValueError(f"{message}: $ref {ref!r} leaves schemas/")
    found = re.fullmatch(r"/\$defs/([A-Za-z0-9_.-]+)(/.*)?", pointer)
    if found:
        return f"{_SCHEMAS}{owner}.{found.group(1)}{found.group(2) or ''}"
    if pointer and not pointer.startswith("/"):
        raise ValueError(f"{message}: $ref {ref!r} is not a JSON pointer")
    return f"{_SCHEMAS}{owner}{pointer}"


def _annotate(node: Any, message: str) -> Any:
    """``node`` with its refs rewritten and its alternative shapes described."""
    if isinstance(node, list):
        return [_annotate(item, message) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _annotate(value, message) for key, value in node.items()}
    if isinstance(out.get("$ref"), str):
        out["$ref"] = _rewrite_ref(out["$ref"], message)
    reading = out.get("x-reading")
    if isinstance(reading, str):
        said = cite(reading) if reading in ERRATA else _READINGS.get(reading, "")
        out["description"] = f"A second reading of the guide. {said}".strip()
    elif out.get("x-profile") == "field":
        out["description"] = _FIELD
    return out


def components(profile: Profile) -> dict[str, Any]:
    """Each message schema and each of its ``$defs``, as ``call_events``, ``call_events.pin``."""
    found: dict[str, Any] = {}
    for message in schemas.MESSAGES:
        schema = schemas.view(message, profile)
        for key in ("$schema", "$id"):
            schema.pop(key, None)
        defs = schema.pop("$defs", {})
        schema["x-source"] = f"schemas/{message}.json"
        found[message] = _annotate(schema, message)
        for name, sub in defs.items():
            found[f"{message}.{name}"] = _annotate(sub, message)
    return found


def _example(name: str) -> dict[str, Any]:
    """The guide's example ``name`` (``call_events.new``) as an Example Object."""
    entry = examples.entry(name)
    notes = [f"Guide section {entry['section']}, as printed (fixtures/guide_examples/{name}.json)."]
    errata = entry.get("errata", [])
    if errata:
        notes.append("It shows " + " ".join(cite(number) for number in errata))
    if entry.get("repaired"):
        notes.append(f"Repaired: {entry['repaired']}.")
    return {
        "summary": entry["title"],
        "description": " ".join(notes),
        "value": examples.value(name),
    }


def _vector() -> dict[str, str]:
    return examples.signature_vectors()["guide-1.4.2"]


def signature_rule() -> str:
    """The rule of 1.4.1/1.4.2 and D21 with the guide's known-answer vector, in Markdown."""
    v = _vector()
    return (
        f"`{SIGN_HEADER} = sha256hex(client_id + body + key)` (sections 1.4.1, 1.4.2): the "
        "lowercase hex SHA-256 of the client's identification code, the request's JSON data "
        "exactly as the bytes travel (never re-serialised), and the client's signing key, "
        "concatenated. The receiver recomputes it over the bytes it received and compares. "
        "Requests in both directions are signed. A GET without a body (`get_record`, E5) "
        "signs its raw query string as sent instead, e.g. `session_id=...` without the `?` "
        "(the suite's reading: docs/DECISIONS.md D21).\n\n"
        "The guide's worked example (1.4.2; `fixtures/signature_vectors.json`): client id "
        f"`{v['client_id']}`, key `{v['key']}`, body `{v['body']}` (these exact bytes: a "
        f"space after the first colon only) give `{v['sign']}`."
    )


def _header_parameters() -> dict[str, Any]:
    v = _vector()
    return {
        CLIENT_ID_HEADER: {
            "name": CLIENT_ID_HEADER,
            "in": "header",
            "required": True,
            "description": (
                "«Уникальный код идентификации»: the client's identification code, from the "
                "settings page of the Integration API (1.4.1, 3.1.1)."
            ),
            "schema": {"type": "string", "minLength": 1},
            "example": v["client_id"],
        },
        SIGN_HEADER: {
            "name": SIGN_HEADER,
            "in": "header",
            "required": True,
            "description": signature_rule(),
            "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "example": v["sign"],
        },
    }


def _headers() -> list[dict[str, str]]:
    return [{"$ref": f"#/components/parameters/{name}"} for name in (CLIENT_ID_HEADER, SIGN_HEADER)]


def _content(schema: str, *names: str) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": {"$ref": _SCHEMAS + schema}}
    if names:
        media["examples"] = {name: _example(name) for name in names}
    return {_JSON: media}


def _refusal(method: str) -> dict[str, Any]:
    return {
        "description": (
            f"A refusal of {method}. The guide lists no error codes and no HTTP statuses: "
            f"{cite('E11')} {cite('E12')} PBXs answer HTTP 200 with `result` other than 0 "
            "and a `resultMessage`, or an HTTP 4xx; the body, when JSON, has the answer's shape."
        ),
        "content": {_JSON: {"schema": {"$ref": f"{_SCHEMAS}{method}.response"}}},
    }


def _answers(method: str, example: str) -> dict[str, Any]:
    section, errata = ("А.3", ("E1", "E2")) if method == "call_back" else ("А.4", ("E2",))
    return {
        "200": {
            "description": (
                f"The answer (Table {section}, returned parameters): `result` 0 is success. "
                + " ".join(cite(number) for number in errata)
            ),
            "content": _content(f"{method}.response", example),
        },
        "default": _refusal(method),
    }


def _call_back() -> dict[str, Any]:
    signed = _vector()
    body = _content("call_back.request", "call_back.request")
    body[_JSON]["examples"]["signature-vector"] = {
        "summary": "The body of the guide's signature example (1.4.2)",
        "description": (
            f"Sent as these exact bytes, `{signed['body']}`, with {CLIENT_ID_HEADER} "
            f"`{signed['client_id']}` and key `{signed['key']}` its {SIGN_HEADER} is "
            f"`{signed['sign']}`."
        ),
        "value": json.loads(signed["body"]),
    }
    return {
        "post": {
            "operationId": "call_back",
            "tags": ["А.3"],
            "summary": "Запрос на совершение исходящего вызова (call_back)",
            "description": (
                "The CRM asks the PBX to place a call: the PBX first rings the domain's user "
                "(`from_sipuri`, else `from_pin`), then the number `request_number` "
                "(Appendix А.3). POST `{API address}/call_back` with a JSON body (1.3, 1.4.1)."
            ),
            "parameters": _headers(),
            "requestBody": {"required": True, "content": body},
            "responses": _answers("call_back", "call_back.response"),
        }
    }


def _get_record() -> dict[str, Any]:
    session = examples.value("get_record.request")["session_id"]
    about = (
        "The CRM asks for a one-time link to a call's recording (Appendix А.4). "
        f"{cite('E5')} Which transports a PBX serves is a reading; the suite probes both."
    )
    return {
        "post": {
            "operationId": "get_record",
            "tags": ["А.4"],
            "summary": "Запрос записи разговора (get_record), POST with a JSON body",
            "description": f"{about} This is the example's and 1.4.1's reading.",
            "parameters": _headers(),
            "requestBody": {
                "required": True,
                "content": _content("get_record.request", "get_record.request"),
            },
            "responses": _answers("get_record", "get_record.response"),
        },
        "get": {
            "operationId": "get_record_get",
            "tags": ["А.4"],
            "summary": "Запрос записи разговора (get_record), GET as Table А.4 says",
            "description": (
                f"{about} This is Table А.4's reading: the parameter travels in the query. "
                f"A bodiless GET signs its raw query string as sent (D21): `{SIGN_HEADER} = "
                "sha256hex(client_id + 'session_id=...' + key)`. A GET that carries the "
                "example's JSON body signs the body, as 1.4.1 signs every body. (A signature "
                "over the JSON of the parameters is the other reading of «client_id + json + "
                "key»; the suite records it as info and its emulator accepts it.)"
            ),
            "parameters": [
                *_headers(),
                {
                    "name": "session_id",
                    "in": "query",
                    "required": True,
                    "description": "Внутренний идентификатор сессии на Платформе (Table А.4)",
                    "schema": {"$ref": f"{_SCHEMAS}get_record.request/properties/session_id"},
                    "examples": {
                        "guide": {
                            "summary": "The session of the guide's get_record example (А.4)",
                            "description": f"Sent in the query, as Table А.4 says. {cite('E7')}",
                            "value": session,
                        }
                    },
                },
            ],
            "responses": _answers("get_record", "get_record.response"),
        },
    }


def _call_events() -> dict[str, Any]:
    states = ("call_events.new", "call_events.connected", "call_events.disconnected")
    return {
        "servers": [
            {
                "url": "{external_address}",
                "description": "«Адрес внешней системы» (3.1.1): the CRM's address",
                "variables": {
                    "external_address": {
                        "default": _EXTERNAL_ADDRESS,
                        "description": "The CRM's public address, as in figure 2 of the guide",
                    }
                },
            }
        ],
        "post": {
            "operationId": "call_events",
            "tags": ["А.2"],
            "summary": "Уведомление о вызовах (call_events)",
            "description": (
                "The PBX notifies the CRM of a call: `new`, then `connected` when the "
                "parties talk, then `disconnected` (Appendix А.2). POST "
                "`{Адрес внешней системы}/call_events` with a JSON body (1.3, figure 2), "
                f"signed by the PBX with the same rule. {cite('E10')}"
            ),
            "parameters": _headers(),
            "requestBody": {"required": True, "content": _content("call_events", *states)},
            "responses": {
                "default": {
                    "description": (
                        f'{cite("E12")} CRMs are seen to answer 200 with `{{"status":"ok"}}`, '
                        'with `{"result":"0",...}` or with an empty body, and 403 (sometimes '
                        "401) to a bad signature."
                    )
                }
            },
        },
    }


def _description(profile: Profile) -> str:
    errata = "\n".join(f"- {cite(number)}" for number in ERRATA)
    shapes = (
        "the guide's shapes and the readings it allows"
        if profile == "guide"
        else "the guide's shapes, the readings it allows, and the shapes production sends"
    )
    return (
        "The Rostelecom Virtual PBX (VATS) «Интеграционный API», as its user guide "
        "(edition 1/2017) describes it, generated by vats-conformance from the JSON "
        f"Schemas the suite grades by. Profile `{profile}`: {shapes}.\n\n"
        f"## Signature\n\n{signature_rule()}\n\n"
        f"## Contradictions inside the guide\n\nWhere the guide contradicts itself, the "
        f"schemas accept either reading (`x-reading`).\n\n{errata}"
    )


def build(profile: Profile = "guide") -> dict[str, Any]:
    """The OpenAPI 3.1 document of the guide's three methods under ``profile``."""
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "VATS Integration API (Интеграционный API), guide edition 1/2017",
            "version": __version__,
            "description": _description(profile),
            "x-profile": profile,
        },
        "servers": [
            {
                "url": "{api_address}",
                "description": "«Адрес API» (3.1.1): the PBX's Integration API",
                "variables": {
                    "api_address": {
                        "default": _API_ADDRESS,
                        "description": (
                            "The Integration API's address (1.3); for debugging, the address "
                            "of test requests (3.2.1)"
                        ),
                    }
                },
            },
            {
                "url": _TEST_API_ADDRESS,
                "description": (
                    "The test Integration API of Appendix В («Отладка взаимодействия»: "
                    "without SSL, http://api-test.cloudpbx.rt.ru in В.1; with SSL, this)"
                ),
            },
        ],
        "tags": [
            {"name": section, "description": section_heading(section)}
            for section in ("А.2", "А.3", "А.4")
        ],
        "paths": {"/call_back": _call_back(), "/get_record": _get_record()},
        "webhooks": {"call_events": _call_events()},
        "components": {
            "schemas": components(profile),
            "parameters": _header_parameters(),
        },
    }
