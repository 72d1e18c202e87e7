"""The human-readable report of a run: one self-contained ``index.html`` next to results.json.

``html.render(document)`` builds the page from the results.json document (already
redacted: ``page.build`` makes plain data of it, which the Jinja2 templates in
``templates/`` render with autoescaping), ``html.write(document, report_dir)``
writes it; ``curl.reproduce`` turns one recorded exchange into a shell command
that sends it again, computing the signature from ``$VATS_CLIENT_ID``/``$VATS_CLIENT_KEY``
so that the key is never part of the report; ``diagnose`` reads the root causes a
run's exchanges show (results.json ``diagnoses``, shown first in the page).
"""

from __future__ import annotations

from conformance.grading.diagnose import diagnose
from conformance.report.curl import reproduce
from conformance.report.html import prepare, render, write

__all__ = ["diagnose", "prepare", "render", "reproduce", "write"]
