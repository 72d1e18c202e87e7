"""Registers the conformance plugin for runs from the repository root.

``python -m pytest conformance`` runs the cases; ``python -m pytest`` runs the
suite's own tests (``testpaths``). Both get the plugin's options.
"""

pytest_plugins = ["conformance.plugin"]
