"""The self-tests treat every warning as an error.

Not set in pyproject.toml: that would apply to conformance runs as well, where
a deprecation notice from a user's newer library is no defect of their CRM.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.filterwarnings("error"))
