"""The recording client (conformance/transport/client.py) on URLs it cannot send to.

A PBX chooses its recordings' URLs; one that is not a URL (an unclosed IPv6 bracket,
a hostname IDNA refuses, a control character) is a finding about that PBX, recorded on
its exchange, never an exception out of a case (issue 13's review), and it says
nothing about the health of the target the next request goes to.
"""

from __future__ import annotations

import pytest

from conformance.reference.web import Request, Response
from conformance.transport.client import MAX_BODY, Client, where
from tests.hostile import Hostile
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


@pytest.mark.parametrize("behaviour", ["huge", "endless-chunked"])
def test_an_answer_longer_than_the_bound_is_no_answer_unless_its_start_is_enough(
    behaviour: str,
) -> None:
    """D59: an API answer or acknowledgement over MAX_BODY is an error naming its status
    (the 100 MB one used to count as an HTTP 200 read to 1 MiB); a recording's download
    (``whole=False``) keeps its first MAX_BODY bytes."""
    client = Client(2.0)
    with Hostile(behaviour) as target:
        refused = client.send("POST", target.url + "/call_events", b"{}", [])
        started = client.send("GET", target.url + "/record", b"", [], whole=False)
    assert refused.status is None
    assert refused.error is not None
    assert f"HTTP 200 with a body over {MAX_BODY} bytes" in refused.error
    assert (started.status, len(started.response_body)) == (200, MAX_BODY)
    assert started.error is None


def test_a_cookie_the_target_sets_is_never_sent_back() -> None:
    """The PBX sends only what a case sets: a CRM that answers with Set-Cookie must
    not get it back on the next notification, as if it were a browser session. httpx
    keeps a cookie jar per client; the suite's keeps nothing."""
    client = Client(2.0)
    seen: list[str | None] = []

    def sets_a_cookie(request: Request) -> Response:
        seen.append(request.headers.get("cookie"))
        return Response(200, b'{"result": 0}', headers=[("Set-Cookie", "session=abc; Path=/")])

    with serving(sets_a_cookie) as base:
        first = client.send("POST", base + "/call_events", b"{}", [])
        second = client.send("POST", base + "/call_events", b"{}", [])
    assert ("set-cookie", "session=abc; Path=/") in first.response_headers
    assert seen == [None, None]
    assert all(name.lower() != "cookie" for name, _ in second.request_headers)
