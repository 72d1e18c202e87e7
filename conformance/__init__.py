"""vats-conformance: conformance suite for the VATS Integration API (guide edition 1/2017)."""

from __future__ import annotations

__version__ = "0.1.0"
