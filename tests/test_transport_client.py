"""The recording client (conformance/transport/client.py) on URLs it cannot send to.

A PBX chooses its recordings' URLs; one that is not a URL (an unclosed IPv6 bracket,
a hostname IDNA refuses, a control character) is a finding about that PBX, recorded on
its exchange, never an exception out of a case (issue 13's review), and it says
nothing about the health of the target the next request goes to.
"""

from __future__ import annotations

import pytest

from conformance.reference.web import Request, Response
from conformance.transport.client import Client, where
from tests.support import CLIENT_KEY, serving

NOT_URLS = ["http://[::1/record", "http://\u2603..example/record", "http://a\x00b/record"]


@pytest.mark.parametrize("url", NOT_URLS)
def test_a_url_that_cannot_be_sent_is_an_exchange_error(url: str) -> None:
    client = Client(2.0, secrets=[CLIENT_KEY])

    def ok(request: Request) -> Response:
        return Response(200, b'{"result": 0}')

    bad = client.send("GET", url, [], b"")
    assert bad.status is None
    assert bad.error is not None
    assert bad.error.startswith("InvalidURL: ")
    with serving(ok) as base:
        after = client.send("GET", base + "/next", [], b"")
    assert after.status == 200
    assert after.after_crash is False  # nothing was sent: no crash to blame on the target


def test_where_names_a_url_without_its_secrets_and_survives_a_bad_one() -> None:
    assert where(f"http://u:{CLIENT_KEY}@h:1/p?k={CLIENT_KEY}") == "http://h:1/p"
    assert where("http://[::1/p") == "a URL that is not one"
