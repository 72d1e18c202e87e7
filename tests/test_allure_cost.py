"""The wire log goes to Allure only when Allure reports (issue 13, speed).

Each case's exchanges were turned into JSON for Allure attachments in every
run, with or without ``--alluredir``: some 7% of the suite's CPU while cases
ran, for attachments nobody received.
"""

from __future__ import annotations

from typing import Any

import allure_commons

from conformance.grading.verdict import CaseInfo, Verdict
from conformance.report import allure_out

INFO = CaseInfo(id="x.y", title="t", section="А.2", requirement="r", role="crm-webhook")


class Exchange:
    """Stands in for transport.client.Exchange: counts how often it is serialized."""

    method = "POST"
    url = "http://127.0.0.1:9/call_events"

    def __init__(self) -> None:
        self.serialized = 0

    def to_json(self) -> dict[str, Any]:
        self.serialized += 1
        return {"method": self.method}


class Listener:
    def __init__(self) -> None:
        self.names: list[str] = []

    @allure_commons.hookimpl
    def attach_data(self, body: Any, name: str, attachment_type: Any, extension: Any) -> None:
        self.names.append(name)


def test_no_reporter_no_serialization() -> None:
    assert not allure_out.attachments_wanted()
    ex = Exchange()
    allure_out.after(INFO, Verdict.PASS, [ex], [])  # type: ignore[list-item]
    assert ex.serialized == 0


def test_a_reporter_gets_every_exchange() -> None:
    listener = Listener()
    allure_commons.plugin_manager.register(listener)
    try:
        exchanges = [Exchange(), Exchange()]
        allure_out.after(INFO, Verdict.PASS, exchanges, [])  # type: ignore[arg-type]
    finally:
        allure_commons.plugin_manager.unregister(listener)
    assert [ex.serialized for ex in exchanges] == [1, 1]
    assert listener.names == [f"exchange {n}: POST {Exchange.url}" for n in (1, 2)]
