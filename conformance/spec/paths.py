"""Where the data that lives beside the code is found (``schemas/``, ``fixtures/``).

They stay at the top of the repository, the single source. A wheel carries them
inside the package as ``conformance/_data/`` (pyproject.toml, hatchling's
force-include); a checkout -- an editable install, or the source tree on
``sys.path`` -- has them two folders above this file.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
#: Where a wheel puts them, then where a checkout has them.
PLACES = (PACKAGE / "_data", PACKAGE.parent)


def _find(name: str) -> Path:
    for base in PLACES:
        if (base / name).is_dir():
            return base / name
    # Not a user's mistake: the install itself is incomplete. Say where we looked.
    looked = " or ".join(str(base / name) for base in PLACES)
    raise RuntimeError(f"vats-conformance is installed without its {name}/ (looked in {looked})")


SCHEMAS = _find("schemas")
FIXTURES = _find("fixtures")
