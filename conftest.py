"""The conformance plugin for runs from the repository root, when pytest does not load it.

``python -m pytest conformance`` runs the cases; ``python -m pytest`` runs the
suite's own tests (``testpaths``). Installed (``pip install -e .``, as the README
does), the package's ``pytest11`` entry point loads the plugin as ``conformance``
before this file is read, and registering it here as well would fail ("Plugin
already registered under a different name"). Only a checkout that is on
``sys.path`` without being installed needs it registered here.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest


def _installed() -> bool:
    found = entry_points(group="pytest11", name="conformance")
    return any(ep.value == "conformance.plugin" for ep in found)


# Not even an empty list when installed: pytest refuses `pytest_plugins` in a conftest
# that is not at the rootdir, and this one is read from elsewhere too (the cases of an
# editable install, collected by `pytest -p conformance` run in another folder).
if not _installed():
    pytest_plugins = ["conformance.plugin"]

    def pytest_addoption(parser: pytest.Parser) -> None:
        # The plugin is registered here, after pytest_load_initial_conftests has begun:
        # its short option names are added here instead.
        from conformance import options

        options.add_short_names(parser)
