"""Oracles: how the suite tells whether the CRM *processed* a request it should have refused.

``--crm-oracle`` (``HttpOracle``), else the CRM's own lifecycle when it refuses
notifications of calls it never saw (``LifecycleOracle``), else none
(DECISIONS D33, D34). sut/controls.py picks one at start.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from conformance.sut.drivers import CrmWebhook
from conformance.sut.notifications import ending, ok, twin
from conformance.transport.client import Exchange


class Oracle:
    """Whether the CRM holds anything for a call: True, False, or None (cannot tell)."""

    name = "none"

    def held(self, crm: CrmWebhook, doc: dict[str, Any]) -> tuple[bool | None, Exchange]:
        raise NotImplementedError


class HttpOracle(Oracle):
    """``--crm-oracle``: GET the template with ``{session_id}``; 2xx held, 404 not held.

    A CRM may process a notification after answering it (a queue): at start the
    oracle is asked about an accepted call until it shows, and every later
    question waits twice that long first (``settle``).
    """

    name = "explicit"

    def __init__(self, template: str) -> None:
        self.template = template
        self.settle = 0.0

    def url(self, session_id: str) -> str:
        return self.template.replace("{session_id}", quote(session_id, safe=""))

    def ask(self, crm: CrmWebhook, doc: dict[str, Any]) -> tuple[bool | None, Exchange]:
        ex = crm.send("GET", self.url(str(doc["session_id"])), b"", [])
        if ok(ex):
            return True, ex
        return (False if ex.status == 404 else None), ex

    def measure(
        self, crm: CrmWebhook, doc: dict[str, Any], budget: float
    ) -> tuple[bool | None, Exchange]:
        """Ask about ``doc``'s accepted call until it shows or ``budget`` seconds pass;
        ``settle`` becomes twice the longest wait seen (none when it showed at once)."""
        held, ex = self.ask(crm, doc)
        if held is not False:
            return held, ex
        start = time.monotonic()
        while held is False and time.monotonic() - start < budget:
            time.sleep(0.1)
            held, ex = self.ask(crm, doc)
        if held:
            self.settle = max(self.settle, min(budget, 2 * (time.monotonic() - start) + 0.1))
        return held, ex

    def held(self, crm: CrmWebhook, doc: dict[str, Any]) -> tuple[bool | None, Exchange]:
        time.sleep(self.settle)
        return self.ask(crm, doc)


class LifecycleOracle(Oracle):
    """The CRM's own answers: it refuses a ``disconnected`` of a call it never saw and
    accepts one of a call it holds, so a correctly signed ``disconnected`` tells.

    Shown at start for the baseline's kind of call only; so each "held" is checked
    against a call never sent of the same kind (a negative control): if that one's
    ``disconnected`` is accepted too, this kind of call says nothing (None).
    """

    name = "lifecycle"

    def held(self, crm: CrmWebhook, doc: dict[str, Any]) -> tuple[bool | None, Exchange]:
        ex = crm.notify(ending(doc), crm.spelling, announce=False, expect=None)
        if ok(ex):
            never = crm.notify(ending(twin(doc)), crm.spelling, announce=False, expect=None)
            return (None if ok(never) else True), ex
        return (False if ex.status is not None and 400 <= ex.status < 500 else None), ex


