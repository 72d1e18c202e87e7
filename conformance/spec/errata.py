"""The contradictions inside the guide (edition 1/2017), E1 to E12, one sentence each.

The single place the package writes them out: code and docs cite an erratum by
its number, and what needs the sentence (the exported OpenAPI document's
descriptions, for one) reads it here. Paraphrased in English from the reading
notes on the guide; the guide's own words are quoted in Russian, verbatim.
"""

from __future__ import annotations

ERRATA: dict[str, str] = {
    "E1": (
        "call_back's answer: Table А.3 says result 0 means «Операция выполнена успешно», "
        'yet the example answers "result": "1" with that same message.'
    ),
    "E2": (
        "result is typed «Число» (a number) in Tables А.3 and А.4, yet every example "
        'sends it as a string ("0", "1").'
    ),
    "E3": (
        "call_back's from_pin is typed «Строка» and described as an internal number (PIN), "
        "yet the example puts a SIP URI in it; in call_events from_pin and request_pin are "
        "typed «Число» and the example sends the number 317."
    ),
    "E4": (
        "timestamp is typed «Timestamp» (UTC), yet the examples send Unix seconds in a "
        'string ("1511753600").'
    ),
    "E5": (
        "get_record: Table А.4 says «Для получения одноразовой ссылки отправляется "
        "GET-запрос», the example shows a JSON body, and section 1.4.1 says every request "
        "is a POST with JSON data."
    ),
    "E6": (
        "is_record «Устанавливается только для уведомлений о завершении разговора», "
        "yet the connected example carries it."
    ),
    "E7": (
        "session_id is written differently in each example (digits, a UUID, 29 hex digits): "
        "it is an opaque string."
    ),
    "E8": "The url in the get_record example is broken across lines by the page layout.",
    "E9": (
        "Section references are off by one (header formation is 1.4.1 but is cited as "
        "1.4.2), and the table of contents numbers differ from the body (1.1 "
        "«Назначение услуги» in the contents, «Подключение услуги» in the text)."
    ),
    "E10": "Table А.2 calls the fields the PBX sends «Входящие параметры» (incoming parameters).",
    "E11": (
        "«Допускается, если result > 0» implies that a non-zero result is an error, yet no "
        "error codes are listed."
    ),
    "E12": (
        "No answer is specified for the CRM's reply to call_events, nor a default timeout, "
        "a retry policy, or status codes for signature failures."
    ),
}


def cite(number: str) -> str:
    """``E4: timestamp is typed ...``: the erratum with its number, for a description."""
    return f"{number}: {ERRATA[number]}"
