"""What every case of the pbx-api role shares (the suite as a CRM calling the PBX)."""

from __future__ import annotations

import functools

from conformance.grading.verdict import case

ROLE = "pbx-api"

#: ``@pbx_case(id, section=..., title=..., requirement=...)``
pbx_case = functools.partial(case, role=ROLE)

#: A session id no PBX issued: the run's own tag makes it unique (E7: opaque strings).
UNKNOWN_SESSION = "vats-conformance-no-such-session"
