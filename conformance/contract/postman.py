"""The contract as a Postman collection (v2.1).

Stub: replaced by helper B's builder (issue 12) at merge. It returns a valid,
empty collection so that the command line and the report directory work meanwhile.
"""

from __future__ import annotations

from typing import Any

from conformance.spec.schemas import Profile

SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"


def build(profile: Profile = "guide") -> dict[str, Any]:
    """An empty v2.1 collection (replaced by helper B's builder)."""
    return {
        "info": {"name": f"VATS Integration API ({profile} profile)", "schema": SCHEMA},
        "item": [],
    }
