"""The judgements cases make, as named claims. Each raises a ``Finding`` or returns.

Cases never compare status codes themselves: they call one of these, so the
grading rules of DECISIONS.md live in one place.
"""

from __future__ import annotations

from conformance.engine.client import Exchange
from conformance.engine.verdict import Verdict, fail, info, non_strict


def answered_in_time(ex: Exchange) -> int:
    """Every request gets an HTTP answer within ``--sut-timeout``."""
    if ex.status is None:
        raise fail("an HTTP answer within the timeout", ex.summary())
    return ex.status


def not_a_server_error(ex: Exchange) -> int:
    """No input, however bad, is answered with a 5xx."""
    status = answered_in_time(ex)
    if status >= 500:
        raise fail("no 5xx on any input", ex.summary())
    return status


def accepted(ex: Exchange, *, otherwise: Verdict = Verdict.FAIL, why: str = "") -> None:
    """The receiver acknowledged the request with a 2xx."""
    status = not_a_server_error(ex)
    if not 200 <= status < 300:
        expected = "a 2xx (accepted)" + (f"; {why}" if why else "")
        raise _finding(otherwise, expected, ex.summary())


def refused(ex: Exchange, *, otherwise: Verdict = Verdict.FAIL) -> None:
    """A request with a bad signature or identity is not acknowledged (1.4.2).

    The answer is the only evidence the PBX gets that the notification was
    refused, so a 2xx here is a failure; any 4xx is fine (401 or 403 alike).
    """
    status = not_a_server_error(ex)
    if 200 <= status < 300:
        raise _finding(otherwise, "not a 2xx: the request must be refused", ex.summary())
    if not 400 <= status < 500:
        raise non_strict("a 4xx refusal", ex.summary())


def rejected_as_bad_input(ex: Exchange) -> None:
    """Garbage gets a 4xx; a 2xx hides integration bugs (non-strict); a 5xx fails."""
    status = not_a_server_error(ex)
    if not 400 <= status < 500:
        raise non_strict("a 4xx for input the guide does not allow", ex.summary())


def reading_recorded(ex: Exchange, reading: str) -> None:
    """For a shape only one reading of the guide allows: accepted passes, refused is info."""
    status = not_a_server_error(ex)
    if not 200 <= status < 300:
        raise info(
            f"a 2xx if the receiver takes the reading {reading}",
            f"{ex.summary()}: the receiver takes the other reading",
        )


def _finding(verdict: Verdict, expected: str, actual: str) -> Exception:
    if verdict is Verdict.FAIL:
        return fail(expected, actual)
    if verdict is Verdict.NON_STRICT:
        return non_strict(expected, actual)
    return info(expected, actual)
