"""Reference emulator of the VATS Integration API -- the PBX side (guide edition 1/2017).

It serves the requests of Appendix А (``call_back``, ``get_record``), plays
calls and sends signed ``call_events`` to each client's external system, and
offers the settings and debug tools of the guide's section 3 through an admin
API. See docs/PBX_EMULATOR.md.

    state.py    clients, settings, allow-list, limits, statistics, the log
    calls.py    call plans, notifications, delivery, the call engine
    records.py  the recording (a WAV tone) and its single-use links
    api.py      call_back, get_record, the link download
    admin.py    the admin API
    tls.py      the emulator's certificate, HTTPS, trust for the external system
    app.py      the WSGI app and its two listeners
    cli.py      the command line
"""

from __future__ import annotations

from conformance.reference.pbx.app import Listening, Pbx
from conformance.reference.pbx.cli import main

__all__ = ["Listening", "Pbx", "main"]
