"""The answers of the guide's methods (А.3, А.4): ``result``, ``resultMessage`` and
the method's value, as JSON; every refusal with its own ``result`` (E11) and
its HTTP status (P3). The table of results is ``Result`` below and in
docs/PBX_EMULATOR.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

SUCCESS = "Операция выполнена успешно"  # the guide's own words (А.3, А.4 examples)


class Result(IntEnum):
    """``result`` codes. 0 is Table А.3's success; the guide lists no others (E11)."""

    OK = 0
    NO_SUCH_METHOD = 1
    HTTP_METHOD = 2
    TOO_LARGE = 3
    NO_CLIENT_ID = 10
    UNKNOWN_CLIENT = 11
    HTTPS_REQUIRED = 12
    IP_NOT_ALLOWED = 13
    BAD_SIGNATURE = 14
    SERVICE_OFF = 15
    LIMIT_EXCEEDED = 16
    NOT_JSON = 20
    NOT_OBJECT = 21
    BAD_REQUEST_NUMBER = 22
    NO_FROM = 23
    BAD_FROM_SIPURI = 24
    BAD_FROM_PIN = 25
    UNKNOWN_PIN = 26
    BAD_SESSION_ID = 30
    UNKNOWN_SESSION = 31
    CALL_IN_PROGRESS = 32
    NOT_RECORDED = 33
    LINK_USED = 34
    LINK_EXPIRED = 35
    LINK_UNKNOWN = 36
    TOO_MANY_CALLS = 40
    INTERNAL = 99


@dataclass
class Answer:
    status: int
    result: Result
    message: str
    extra: dict[str, Any] = field(default_factory=dict)
    headers: list[tuple[str, str]] = field(default_factory=list)
    content: bytes | None = None  # a file instead of JSON
    content_type: str = "application/json; charset=utf-8"
    # The JSON last made by body(): the log and the answer share it (result_as_string, bytes).
    _json: tuple[bool, bytes] | None = field(default=None, init=False, repr=False, compare=False)

    def body(self, result_as_string: bool = False) -> bytes:
        if self.content is not None:
            return self.content
        made = self._json
        if made is not None and made[0] == result_as_string:
            return made[1]
        result: int | str = str(int(self.result)) if result_as_string else int(self.result)
        doc = {"result": result, "resultMessage": self.message, **self.extra}
        body = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        self._json = (result_as_string, body)
        return body


def refuse(status: int, result: Result, message: str, **kw: Any) -> Answer:
    return Answer(status, result, message, **kw)
