"""The suite's strategies draw without Hypothesis' codec scan (issue 13, speed).

``st.text()``'s default alphabet is ``characters(codec="utf-8")``: Hypothesis
finds its characters by encoding every code point (some 3 s) and caches them
only in ``.hypothesis/`` of the working directory, so a run from a fresh
checkout paid it each time. ``generate.ANY_CHARACTER`` is the same alphabet
named by category.
"""

from __future__ import annotations

import subprocess
import sys

from hypothesis import strategies as st

from conformance.spec.generate import ANY_CHARACTER, values

#: Draws JUNK and get_record's session ids with the codec scan made to fail.
_PROBE = """
import hypothesis.internal.charmap as charmap

def refuse(codec):
    raise AssertionError(f"codec scan of {codec}")

charmap.intervals_from_codec = refuse
from conformance.roles.pbx_api.test_generated import SESSION_IDS
from conformance.spec.generate import JUNK, values

values(JUNK, seed_value=1, count=50)
values(SESSION_IDS, seed_value=1, count=50)
print("drawn")
"""


def test_junk_and_session_ids_need_no_codec_scan(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=tmp_path,  # a fresh .hypothesis/, as in CI
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "drawn"


def test_any_character_draws_what_text_draws_by_default() -> None:
    for seed in range(3):
        assert values(st.text(ANY_CHARACTER, max_size=8), seed_value=seed, count=40) == values(
            st.text(max_size=8), seed_value=seed, count=40
        )
