"""Judging the requests a CRM sends to the PBX API (role crm-client): pure functions of
what the suite received. The signature is judged in grading/signatures.py.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

from conformance.spec import schemas
from conformance.spec.schemas import Profile
from conformance.transport.listener import Received, parse_json

#: A storm: after a refusal, the same request sent again ``STORM_RETRIES`` or more times
#: in a row, each less than ``STORM_GAP_S`` after the one before: no pause, no backoff
#: (D46; 3.1.3 counts every request against the method's limit).
STORM_RETRIES = 5
STORM_GAP_S = 1.0
#: What makes two requests of a method the same request: the fields of Tables А.3/А.4.
FIELDS = {"call_back": ("request_number", "from_sipuri", "from_pin"), "get_record": ("session_id",)}


def media_type(request: Received) -> str | None:
    """The request's media type, lowercase and without parameters; None: no Content-Type."""
    value = request.header("Content-Type")
    return None if value is None else value.split(";")[0].strip().lower()


def result_of(request: Received) -> Any:
    """The ``result`` of the suite's answer to ``request`` (None: none)."""
    doc = parse_json(request.answer_body)
    return doc.get("result") if isinstance(doc, dict) else None


def refused(request: Received) -> bool:
    """Whether the suite's answer refused the request: a 4xx/5xx, or HTTP 200 with
    ``result`` > 0 (E11; a call_back's "1" is the guide's example of success, E1)."""
    if request.status >= 400:
        return True
    result = str(result_of(request))
    return result != "0" and not (request.kind == "call_back" and result == "1")


def parameters(request: Received) -> dict[str, Any] | None:
    """What a request asks: its JSON object, or for a GET without a body its query (E5)."""
    if isinstance(request.doc, dict):
        return request.doc
    if request.method == "GET" and not request.body:
        return dict(parse_qsl(request.url.partition("?")[2], keep_blank_values=True))
    return None


def identical(request: Received) -> str:
    """What makes two requests the same request: method, path and the Table А.3/А.4
    fields they carry (a re-encoding of one value, or another extra field such as a
    nonce, is the same request)."""
    params = parameters(request)
    if params is None:
        value = request.body.decode("latin-1")
    else:
        fields = FIELDS.get(request.kind)
        asked = {k: params.get(k) for k in fields} if fields else params
        value = json.dumps(asked, sort_keys=True, ensure_ascii=False, default=repr)
    return f"{request.method} {request.path} {value}"


def storms(requests: Sequence[Received]) -> list[list[Received]]:
    """Each refused request the CRM then sent again ``STORM_RETRIES`` or more times in a
    row, each try less than ``STORM_GAP_S`` after the one before: the refusal and those
    tries. A retry after a pause, or a backoff that reaches the gap, starts no storm."""
    groups: dict[str, list[Received]] = defaultdict(list)
    for request in sorted(requests, key=lambda r: r.at):
        groups[identical(request)].append(request)
    found = []
    for same in groups.values():
        first = next((i for i, r in enumerate(same) if refused(r)), None)
        if first is None:
            continue
        start = first
        for j in range(first + 1, len(same)):
            if same[j].at - same[j - 1].at >= STORM_GAP_S:
                start = j  # a pause: what follows is a new run of tries
            elif j - start >= STORM_RETRIES:
                found.append(same[start : j + 1])
                break
    return found


def call_back_problems(doc: dict[str, Any], profile: Profile) -> list[str]:
    """Table А.3's rules: an empty ``from_*`` is not given ("Допускается, если задан"),
    and with a valid ``from_sipuri`` the ``from_pin`` is not used."""
    given = {k: v for k, v in doc.items() if not (k.startswith("from_") and v in ("", None))}
    if "from_sipuri" in given and _valid_sipuri(given["from_sipuri"], profile):
        given.pop("from_pin", None)
    return schemas.errors("call_back.request", given, profile)


def _valid_sipuri(value: Any, profile: Profile) -> bool:
    """``from_sipuri`` as Table А.3 takes it (checked in a request valid otherwise)."""
    probe = {"request_number": "+74951234567", "from_sipuri": value}
    return schemas.is_valid("call_back.request", probe, profile)


def get_record_problem(params: dict[str, Any]) -> str | None:
    """Table А.4: ``session_id``, a non-empty string."""
    if "session_id" not in params:
        return "no session_id (Table А.4)"
    value = params["session_id"]
    if not isinstance(value, str) or not value:
        return f"session_id must be a non-empty string (Table А.4), got {value!r}"
    return None
