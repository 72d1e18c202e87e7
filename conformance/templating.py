"""Jinja2 for the suite's web pages: templates and static files that ship inside the package.

``environment("conformance.report")`` loads ``conformance/report/templates/`` through the
package (so it works from an installed wheel as from the repository), escapes every value
(autoescape: data from systems under test is hostile) and refuses undefined names.
``inline("conformance.report", "static/report.js", "script")`` reads a file of the package
to inline into a page, with the Content-Security-Policy source (``'sha256-…'``) that
allows exactly that text to run: the page loads nothing, and its CSP names no
``'unsafe-inline'``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup


def environment(package: str, templates: str = "templates") -> Environment:
    """Templates of ``package`` (its folder ``templates``), every value HTML-escaped."""
    return Environment(
        loader=PackageLoader(package, templates),
        # Every template here is HTML: escaping everywhere, not by file name, cannot be
        # forgotten for a new kind of file.
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_encodable,
    )


#: A lone surrogate (one regular expression: the finalizer sees every value a page prints).
_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(value: Any) -> Any:
    """Text with lone surrogates (JSON's ``"\\ud800"``) as ``\\ud800``: a page is UTF-8."""
    if isinstance(value, str) and not isinstance(value, Markup) and _SURROGATE.search(value):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def csp_hash(source: str) -> str:
    """The CSP source (``'sha256-…'``) that allows the inline ``source`` exactly."""
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


@dataclass(frozen=True)
class Inline:
    """A file of a package to put inside a ``<style>`` or ``<script>`` element, and its hash."""

    text: Markup
    csp: str


def inline(package: str, path: str, element: str) -> Inline:
    """``path`` of ``package`` as the content of ``element`` (``style`` or ``script``)."""
    text = (files(package) / path).read_text(encoding="utf-8")
    if f"</{element}" in text.lower():
        raise ValueError(f"{package}/{path} would close its <{element}> element early")
    # Markup: the file is the package's own code, to be inlined as it is (not escaped),
    # byte for byte what csp_hash saw.
    return Inline(Markup(text), csp_hash(text))  # noqa: S704
