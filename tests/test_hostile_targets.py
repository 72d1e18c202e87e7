"""The hostile-target matrix (issue 13): the suite run against a CRM and a PBX that
misbehave in every way tests/hostile.py knows ends as findings, in time, in bounded memory.

Each run is the real command line (a child process) with ``--sut-timeout 1`` and a narrow
``-k`` selection of a few cases of one role, so that the matrix stays short: every
exchange in results.json ends within the timeout plus one second, the cases are ``fail``
(never ``error``), the exit status is 1, nothing is a traceback, and the child's peak RSS
stays under ``RSS_BOUND`` (the 100 MB answer is not held). The runs are started together,
a few at a time, when the module's first test asks for one.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from conformance.sut.drivers import MAX_REDIRECTS, PbxApi, Target
from conformance.transport.client import Client, Exchange, body_bytes, first_header
from tests import hostile
from tests.hostile import Hostile, run_measured
from tests.support import CLIENT_ID, CLIENT_KEY, PARTIES, SuiteRun, free_port

SUT_TIMEOUT = 1.0
#: Issue 13: every exchange ends within the timeout plus one second.
DEADLINE_MS = (SUT_TIMEOUT + 1) * 1000
#: The suite child's peak resident set: far below the 100 MB answer plus the suite.
RSS_BOUND = 200 * 1024 * 1024
#: A few cases per role: the baseline case and one that sends whatever the baseline gave.
SELECTED = {
    "crm": ("conformance/roles/crm_webhook", "test_valid_signature_accepted or test_empty_body"),
    "pbx": ("conformance/roles/pbx_api", "test_valid or test_unknown_session"),
}
BEHAVIOURS = (
    "no-answer",
    "slow-headers",
    "slow-body",
    "huge",
    "endless-chunked",
    "reset",
    "not-http",
    "bad-utf8-body",
    "bad-utf8-headers",
    "redirect",
    "self-signed",
    "wrong-host",
    "refused",
)
#: A CRM's 200 with bytes that are not UTF-8 is still an acknowledgement: the guide says
#: nothing of its answer's body or headers (E12). No fault is a finding there: the run
#: must end, keep the bytes as they came, and judge the rest as usual.
ACKNOWLEDGED = {("crm", "bad-utf8-body"), ("crm", "bad-utf8-headers")}
#: Runs at once: each is mostly waiting on the network (2 cores in CI).
WORKERS = min(3, (os.cpu_count() or 1) + 1)


@dataclass
class Outcome:
    run: SuiteRun
    peak_rss: int
    wall_s: float
    witness_contacts: int  # connections the redirect's other host saw
    #: How long each connection to the target lasted, as the target measured it.
    lifetimes: list[float]


def _attack(role: str, behaviour: str, base: Path) -> Outcome:
    """One child run of ``role``'s selected cases against ``behaviour``."""
    with ExitStack() as stack:
        extra: list[str] = []
        witness = stack.enter_context(Hostile("ok"))
        target: Hostile | None = None
        if behaviour == "refused":
            url = f"http://127.0.0.1:{free_port()}"
        elif behaviour in ("self-signed", "wrong-host"):
            ca = trustme.CA()
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            if behaviour == "self-signed":  # the CA's own certificate: signed by itself
                ca.cert_pem.write_to_path(str(base / "self.pem"))
                ca.private_key_pem.write_to_path(str(base / "self.pem"), append=True)
                tls.load_cert_chain(str(base / "self.pem"))
            else:  # a certificate the suite's CA vouches for, for another host
                ca.issue_cert("wrong-host.example").configure_cert(tls)
                ca.cert_pem.write_to_path(str(base / "ca.pem"))
                extra += [f"--{role}-ca", str(base / "ca.pem")]
            target = stack.enter_context(Hostile("ok", tls=tls))
            url = target.url
        else:
            target = stack.enter_context(Hostile(behaviour, location=witness.url + "/"))
            url = target.url
        path, selection = SELECTED[role]
        common = ["--client-id", CLIENT_ID, "--client-key", CLIENT_KEY, "--examples", "1"]
        common += ["--sut-timeout", str(SUT_TIMEOUT), "-k", selection, *extra]
        if role == "crm":
            args = ["--crm-url", url, *common]
        else:
            listen = f"127.0.0.1:{free_port()}"
            args = ["--pbx-url", url, "--listen", listen, *PARTIES, *common]
        args += ["--events-timeout", "2"]
        start = time.monotonic()
        run, rss = run_measured(args, base / "report", (path,))
        lifetimes = list(target.lifetimes) if target is not None else []
        return Outcome(run, rss, time.monotonic() - start, witness.contacts, lifetimes)


@pytest.fixture(scope="module")
def matrix(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[tuple[str, str], Future[Outcome]]]:
    """Every selected test's run, started together; the matrix's wall time is printed."""
    base = tmp_path_factory.mktemp("hostile")
    futures: dict[tuple[str, str], Future[Outcome]] = {}
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="hostile-run")
    start = time.monotonic()
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if item.path == request.path and callspec is not None:
            key = (callspec.params["role"], callspec.params["behaviour"])
            if key not in futures:
                (base / f"{key[0]}-{key[1]}").mkdir()
                futures[key] = pool.submit(_attack, *key, base / f"{key[0]}-{key[1]}")
    try:
        yield futures
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        done = [f.result() for f in futures.values() if f.done() and not f.exception()]
        peak = max((outcome.peak_rss for outcome in done), default=0) / 2**20
        print(
            f"\nhostile matrix: {len(futures)} runs in {time.monotonic() - start:.1f} s, "
            f"the largest peak RSS of a run {peak:.0f} MB"
        )


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
@pytest.mark.parametrize("role", ["crm", "pbx"])
def test_a_hostile_target_is_a_finding(
    matrix: dict[tuple[str, str], Future[Outcome]], role: str, behaviour: str
) -> None:
    outcome = matrix[(role, behaviour)].result(timeout=300)
    run = outcome.run
    shown = f"{run.stdout[-3000:]}\n{run.stderr[-2000:]}"
    assert "Traceback" not in run.stdout + run.stderr, shown
    cases = run.results["cases"]
    verdicts = {c["id"]: c["verdict"] for c in cases}
    assert "error" not in verdicts.values(), verdicts
    if (role, behaviour) in ACKNOWLEDGED:
        assert verdicts["crm.sign.valid"] == "pass", verdicts
        assert run.returncode == (1 if "fail" in verdicts.values() else 0), shown
        (valid,) = (c for c in cases if c["id"] == "crm.sign.valid")
        answer = valid["exchanges"][-1]["response"]
        if behaviour == "bad-utf8-body":  # the bytes as they came, in base64
            assert body_bytes(answer) == hostile.BAD_UTF8_BODY, answer
        else:  # header values as latin-1: every byte kept
            value = first_header(answer["headers"], "X-Hostile")
            assert value is not None, answer
            assert value.encode("latin-1") == hostile.BAD_UTF8_HEADER, answer
    else:
        assert run.returncode == 1, shown
        assert {"fail", "non-strict"} & set(verdicts.values()), verdicts
    slow = [
        (c["id"], e["id"], e["elapsed_ms"])
        for c in cases
        for e in c["exchanges"]
        if e.get("elapsed_ms", 0) > DEADLINE_MS
    ]
    assert not slow, slow
    # The same bound as the target saw it: no connection outlived the timeout plus one
    # second, whatever the suite recorded.
    assert outcome.lifetimes or behaviour == "refused", "the target saw no connection"
    assert max(outcome.lifetimes, default=0) <= DEADLINE_MS / 1000, sorted(outcome.lifetimes)
    assert outcome.peak_rss < RSS_BOUND, f"peak RSS {outcome.peak_rss / 2**20:.0f} MB"
    # The suite never follows a redirect of the API (client.py: follow_redirects=False).
    assert outcome.witness_contacts == 0


def test_a_recording_link_redirect_is_followed_a_bounded_number_of_times() -> None:
    """What the matrix's redirect row allows: the API's answers are never followed (the
    witness above stays at 0), a recording's link is (``PbxApi.download``, by design: a
    recording may live on a storage host), at most ``MAX_REDIRECTS`` hops, each one an
    exchange of the wire log within --sut-timeout; a redirect loop ends as its last 302."""
    log: list[Exchange] = []
    target = Target("http://127.0.0.1:9", CLIENT_ID, CLIENT_KEY, embedded=False)
    driver = PbxApi(Client(SUT_TIMEOUT), target, None, log, [])  # type: ignore[arg-type]
    with Hostile("ok") as storage, Hostile("redirect", location=storage.url + "/r") as pbx:
        fetched = driver.download(pbx.url + "/records/x")
    assert (fetched.status, storage.contacts, len(log)) == (200, 1, 2)
    log.clear()
    with Hostile("redirect") as loop:
        loop.location = loop.url + "/again"
        fetched = driver.download(loop.url + "/records/x")
    assert (fetched.status, len(log)) == (302, 1 + MAX_REDIRECTS)
    assert all(ex.elapsed_ms <= DEADLINE_MS for ex in log)
