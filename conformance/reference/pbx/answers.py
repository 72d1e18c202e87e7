"""The answers of the guide's methods (А.3, А.4): ``result``, ``resultMessage`` and
the method's value, as JSON; every refusal with its own ``result`` (E11) and
its HTTP status (P3). The table of results is ``Result`` below and in
docs/PBX_EMULATOR.md.

How an answer is written on the wire is a ``Style``: the guide's table (``GUIDE``),
what production is reported to do (``PRODUCTION``), or any mix. A style changes
only the spelling of ``result``, the HTTP status of a refusal and whether a
recording link takes a POST; a refusal keeps its ``result`` code and message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any, Literal

from conformance.reference.pbx.values import ConfigError

SUCCESS = "Операция выполнена успешно"  # the guide's own words (А.3, А.4 examples)

ResultType = Literal["number", "string"]
RESULT_TYPES: tuple[ResultType, ...] = ("number", "string")
SUCCESS_RESULTS = (0, 1)
MAX_MESSAGE = 200


@dataclass(frozen=True)
class Style:
    """How the emulator writes its answers, per client or per request.

    * ``result_type``: ``result`` as a JSON number, as Tables А.3/А.4 type it
      ("Число"), or as a string, as every example of the guide writes it (E2).
    * ``errors_as_200``: a refusal of the API's methods is answered with HTTP 200
      and its ``result`` > 0 (E11), as production is reported to do, instead of
      a 4xx (P3). A recording link's own answers keep their status: a download
      is judged by it, and a 200 would be taken for the file.
    * ``success_result``: the ``result`` of a successful ``call_back``: 0 as
      Table А.3 says, or 1 as the А.3 example answers, with the same "Операция
      выполнена успешно" (E1). Other successes are always 0.
    * ``links_accept_post``: a recording link (А.4) also answers a POST with the
      file, its body and headers ignored; otherwise only GET, a POST gets 405.
    * ``success_message``: the ``resultMessage`` of a success: the guide's
      "Операция выполнена успешно" (the А.3 and А.4 examples), or another text.
      Production's is reported as ``"ok"``: salesplatform-vtigercrm's client,
      written against it, takes a ``call_back`` whose message is anything else
      for a failure.
    """

    result_type: ResultType = "number"
    errors_as_200: bool = False
    success_result: int = 0
    links_accept_post: bool = False
    success_message: str = SUCCESS

    def describe(self) -> str:
        """One short line: what differs from the guide's table, or that nothing does."""
        parts = []
        if self.errors_as_200:
            parts.append("errors as HTTP 200 with result > 0")
        if self.result_type == "string":
            parts.append("result as a string")
        if self.success_result != 0:
            parts.append(f"call_back success as result {self.success_result}")
        if self.links_accept_post:
            parts.append("recording links also answer POST")
        if self.success_message != SUCCESS:
            parts.append(f"success message {self.success_message!r}")
        return "; ".join(parts) if parts else "as the guide's tables: 4xx refusals, result a number"

    def to_json(self) -> dict[str, Any]:
        return {
            "result_type": self.result_type,
            "errors_as_200": self.errors_as_200,
            "success_result": self.success_result,
            "links_accept_post": self.links_accept_post,
            "success_message": self.success_message,
        }

    def preset(self) -> str | None:
        """``"guide"`` or ``"production"`` when the style is one of those, else None."""
        return next((name for name, style in PRESETS.items() if style == self), None)

    def updated(self, changes: Mapping[str, Any]) -> Style:
        """This style with ``changes`` applied: ``answer_as`` (a preset) first, then
        the fields. ``ConfigError`` names the first bad value; nothing is half-applied
        (a style is a value)."""
        style = self
        if "answer_as" in changes:
            name = changes["answer_as"]
            if not isinstance(name, str) or name not in PRESETS:
                raise ConfigError(
                    f"answer_as: expected {' or '.join(map(repr, PRESETS))}, got {name!r}"
                )
            style = PRESETS[name]
        fields: dict[str, Any] = {}
        if "result_type" in changes:
            if changes["result_type"] not in RESULT_TYPES:
                raise ConfigError(
                    "result_type: expected 'number' (Table А.3) or 'string' (the examples, E2), "
                    f"got {changes['result_type']!r}"
                )
            fields["result_type"] = changes["result_type"]
        for name in ("errors_as_200", "links_accept_post"):
            if name in changes:
                if not isinstance(changes[name], bool):
                    raise ConfigError(f"{name}: expected true or false, got {changes[name]!r}")
                fields[name] = changes[name]
        if "success_result" in changes:
            value = changes["success_result"]
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value not in SUCCESS_RESULTS
            ):
                raise ConfigError(
                    "success_result: expected 0 (Table А.3) or 1 (the А.3 example, E1), "
                    f"got {value!r}"
                )
            fields["success_result"] = value
        if "success_message" in changes:
            text = changes["success_message"]
            if not isinstance(text, str) or not text.strip() or len(text) > MAX_MESSAGE:
                raise ConfigError(
                    f"success_message: expected a text of 1 to {MAX_MESSAGE} characters "
                    f"(the guide's: {SUCCESS!r}), got {text!r}"
                )
            fields["success_message"] = text
        return replace(style, **fields)


#: The guide's tables: what the emulator does unless told otherwise.
GUIDE = Style()
#: What production is reported to do (NOTES.md, issue 10): ``result`` a string,
#: refusals with HTTP 200, recording links that take a POST, "ok" for a success.
PRODUCTION = Style(
    result_type="string", errors_as_200=True, links_accept_post=True, success_message="ok"
)
#: The emulator-wide ``result_type: "string"`` setting, as a style.
STRING_RESULTS = Style(result_type="string")
PRESETS: dict[str, Style] = {"guide": GUIDE, "production": PRODUCTION}
#: The fields ``Style.updated`` takes (admin API, client settings).
STYLE_SETTINGS = (
    "answer_as",
    "result_type",
    "errors_as_200",
    "success_result",
    "links_accept_post",
    "success_message",
)


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
    #: A call_back answer: its success's ``result`` is ``Style.success_result`` (E1).
    call_back: bool = False
    #: A recording link's answer: its status is never rewritten by ``errors_as_200``.
    download: bool = False
    # The JSON last made by body(): the log and the answer share it (style, bytes).
    _json: tuple[Style, bytes] | None = field(default=None, init=False, repr=False, compare=False)

    def result_in(self, style: Style) -> int | str:
        """``result`` as ``style`` writes it."""
        value = int(self.result)
        if self.result == Result.OK and self.call_back:
            value = style.success_result
        return str(value) if style.result_type == "string" else value

    def body(self, style: Style = GUIDE) -> bytes:
        """The answer's bytes: the file, or the JSON as ``style`` writes it."""
        if self.content is not None:
            return self.content
        made = self._json
        if made is not None and made[0] == style:
            return made[1]
        message = style.success_message if self.result == Result.OK else self.message
        doc = {"result": self.result_in(style), "resultMessage": message, **self.extra}
        body = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        self._json = (style, body)
        return body

    def status_in(self, style: Style = GUIDE) -> int:
        """The HTTP status as ``style`` answers: a refusal of the API's methods (a 4xx
        with ``result`` > 0) becomes 200 under ``errors_as_200``. A 5xx (a bug's
        last-resort answer) and a recording link's answers keep theirs."""
        if (
            style.errors_as_200
            and self.result != Result.OK
            and not self.download
            and self.content is None
            and 400 <= self.status < 500
        ):
            return 200
        return self.status


def refuse(status: int, result: Result, message: str, **kw: Any) -> Answer:
    return Answer(status, result, message, **kw)
