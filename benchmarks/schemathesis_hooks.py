"""Schemathesis hooks for benchmarks/schemathesis_vs_suite.py: sign every request (1.4.1).

Loaded through ``SCHEMATHESIS_HOOKS=schemathesis_hooks``. The ``before_call``
hook hands ``requests`` an auth object, which sees the request once its body is
serialized: ``X-Client-Sign`` is computed over the very bytes sent, and
``X-Client-ID`` set, from ``VATS_CLIENT_ID`` and ``VATS_CLIENT_KEY``. Unsigned
or wrongly signed requests would be refused at the emulator's first check and
cost it far less than the suite's correctly signed ones.
"""

from __future__ import annotations

import os
from typing import Any

import requests
import schemathesis

from conformance.spec.signing import CLIENT_ID_HEADER, SIGN_HEADER, sign, signed_data


class SignBody(requests.auth.AuthBase):
    """Sets the client id and the signature of the prepared request's body."""

    def __init__(self, client_id: str, key: str) -> None:
        self.client_id = client_id
        self.key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        covered = signed_data(request.method or "POST", request.url or "", body)
        request.headers[CLIENT_ID_HEADER] = self.client_id
        request.headers[SIGN_HEADER] = sign(self.client_id, covered, self.key)
        return request


SIGN = SignBody(os.environ["VATS_CLIENT_ID"], os.environ["VATS_CLIENT_KEY"])


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    kwargs["auth"] = SIGN
