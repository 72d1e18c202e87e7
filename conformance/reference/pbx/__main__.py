"""``python -m conformance.reference.pbx``."""

from __future__ import annotations

import sys

from conformance.reference.pbx.cli import main

sys.exit(main())
