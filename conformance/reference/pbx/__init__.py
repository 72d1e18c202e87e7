"""Reference emulator of the VATS Integration API -- the PBX side (guide edition 1/2017).

It serves the requests of Appendix А (``call_back``, ``get_record``), plays
calls and sends signed ``call_events`` to each client's external system, and
offers the settings and debug tools of the guide's section 3 through an admin
API. See docs/PBX_EMULATOR.md.

    values.py   the admin values, one parser each
    state.py    clients, settings, allow-list, limits, statistics
    log.py      the request/response log
    plans.py    what a call says: its steps and notifications
    delivery.py signing and sending call_events
    calls.py    the call engine that plays calls
    records.py  the recording (a WAV tone) and its single-use links
    answers.py  the result codes, the JSON answer and its styles (guide, production)
    api.py      call_back, get_record, the link download
    admin.py    the admin API
    tls.py      the emulator's certificate, HTTPS, trust for the external system
    app.py      the handler and its two listeners
    cli.py      the command line
"""

from __future__ import annotations

from conformance.reference.pbx.answers import GUIDE, PRODUCTION, Style
from conformance.reference.pbx.app import Listening, Pbx
from conformance.reference.pbx.cli import main

__all__ = ["GUIDE", "PRODUCTION", "Listening", "Pbx", "Style", "main"]
