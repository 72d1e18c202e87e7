"""A plugin that kills pytest-xdist's worker gw0 as its first pbx-api case begins, for
tests/test_xdist.py (``-p tests.crashing_owner``): the cases bound to gw0's listener
and PBX API then go to another worker, which holds neither."""

from __future__ import annotations

import os

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    workerinput = getattr(item.config, "workerinput", None)
    if workerinput is not None and workerinput["workerid"] == "gw0" and "pbx_api" in item.nodeid:
        os._exit(1)
