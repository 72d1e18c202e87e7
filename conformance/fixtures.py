"""The fixtures cases ask for: the targets, the drivers, the shared calls, the wire log.

Registered by plugin.py (``pytest_plugins``). Session fixtures hand out what
``run.launch`` started; per-case fixtures record what the case sends.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conformance.grading import answers
from conformance.grading.readings import Reading
from conformance.run import LOG, NOTES, RUN, SETTINGS, collect_client, target
from conformance.settings import Settings
from conformance.sut.calls import PlacedCall, await_calls, fetch_link, place
from conformance.sut.controls import CrmControls
from conformance.sut.crm_client import Traffic
from conformance.sut.drivers import CrmWebhook, PbxApi, Target
from conformance.transport.client import Client, Exchange
from conformance.transport.listener import Listener


@pytest.fixture(scope="session")
def vats_settings(pytestconfig: pytest.Config) -> Settings:
    return pytestconfig.stash[SETTINGS]


@pytest.fixture(scope="session")
def http_client(vats_settings: Settings, pytestconfig: pytest.Config) -> Iterator[Client]:
    run = pytestconfig.stash[RUN]
    yield run.http(vats_settings)
    run.http(vats_settings).close()


@pytest.fixture(scope="session")
def crm_controls(crm_target: Target, pytestconfig: pytest.Config) -> CrmControls:
    """The CRM's baseline, oracle and readings, established before the first case."""
    run = pytestconfig.stash[RUN]
    if run.controls_error is not None:
        raise run.controls_error
    assert run.controls is not None, "the CRM's controls are established after collection"
    return run.controls


@pytest.fixture(scope="session")
def run_readings(pytestconfig: pytest.Config) -> dict[str, dict[str, Any]]:
    """Where cases record the readings a target took (results.json "readings")."""
    readings: dict[str, dict[str, Any]] = pytestconfig.stash[RUN].readings
    return readings


@pytest.fixture(scope="session")
def crm_target(vats_settings: Settings, pytestconfig: pytest.Config) -> Iterator[Target]:
    """The CRM under test: ``--crm-url``, or the reference CRM started on loopback."""
    run = pytestconfig.stash[RUN]
    yield from target(
        pytestconfig,
        "crm-webhook",
        vats_settings.crm_url,
        run.crm_ready or run.crm_child,
        "reference CRM",
    )


@pytest.fixture(scope="session")
def pbx_target(vats_settings: Settings, pytestconfig: pytest.Config) -> Iterator[Target]:
    """The PBX under test: ``--pbx-url``, or the reference emulator started on loopback."""
    run = pytestconfig.stash[RUN]
    yield from target(
        pytestconfig, "pbx-api", vats_settings.pbx_url, run.pbx_child, "reference PBX emulator"
    )


@pytest.fixture(scope="session")
def listener(pbx_target: Target, pytestconfig: pytest.Config) -> Iterator[Listener]:
    """Where the PBX's notifications arrive (``--listen``)."""
    run = pytestconfig.stash[RUN]
    if run.listener is None:
        pytest.skip(
            "the pbx-events role needs --listen HOST:PORT, with the PBX's external address "
            "pointed at it (README: 'Judging a PBX's notifications')"
        )
    run.targets["pbx-events"] = {"url": run.listener.url, "embedded": pbx_target.embedded}
    try:
        yield run.listener
    finally:
        run.listener.stop()


PbxFactory = Callable[..., PbxApi]


@pytest.fixture(scope="session")
def pbx_driver(
    http_client: Client, pbx_target: Target, vats_settings: Settings, pytestconfig: pytest.Config
) -> PbxFactory:
    """``pbx_driver(log=None, notes=None)``: a driver for the PBX under test (Run.pbx)."""
    run = pytestconfig.stash[RUN]
    return functools.partial(run.pbx, http_client, pbx_target, vats_settings)


@pytest.fixture(scope="session")
def call_back_answers(pbx_driver: PbxFactory) -> list[PlacedCall]:
    """The first shared call, placed through ``call_back`` once per run (D25).

    Against a real PBX each call rings a real phone, so the run places as few
    as it can and shares them: the answer cases judge this one's answer.
    """
    pbx = pbx_driver()
    calls = place(pbx, [pbx.call()])
    answers.note_success(answers.parse(calls[0].answer), "session_id")
    return calls


@pytest.fixture(scope="session")
def placed_calls(
    call_back_answers: list[PlacedCall],
    listener: Listener,
    pbx_driver: PbxFactory,
    vats_settings: Settings,
) -> list[PlacedCall]:
    """The shared calls, with every notification each caused (until ``--events-timeout``,
    one for the run's calls together: ``EventsBudget``).

    The first call names the user by ``from_pin`` (or ``from_sipuri``); when both
    are known a second call, placed once the first has ended (the user is free
    again), names them by the other (А.3). A first call whose end never came
    leaves the user busy as far as the suite knows: no second call.
    """
    s = vats_settings
    calls = list(call_back_answers)
    pbx = pbx_driver()
    assert pbx.lines is not None, "every PBX driver shares the run's lines"
    await_calls(pbx.lines.budget, listener, calls)
    ended = all(c.finished or not c.ok for c in calls)
    if s.from_pin is not None and s.from_sipuri is not None and ended:
        second = place(pbx, [pbx.call(via="sipuri")])
        await_calls(pbx.lines.budget, listener, second)
        calls += second
    return calls


@pytest.fixture(scope="session")
def recorded_call(placed_calls: list[PlacedCall]) -> PlacedCall:
    """A placed call that ended, recorded by its ``disconnected`` if that says (А.4's input).

    A call whose ``is_record`` says nothing is tried too; only one that said
    true can make a case fail for the missing recording.
    """
    if not any(c.ok for c in placed_calls):
        pytest.skip("no call_back succeeded, so there is no call to ask a recording of")
    finished = [c for c in placed_calls if c.finished]
    if not finished:
        pytest.skip(
            "no placed call's disconnected arrived within --events-timeout, so no call is "
            "known to have ended (the pbx-events cases say why)"
        )
    for wanted in (True, None):
        for call in finished:
            if call.recorded is wanted:
                return call
    pytest.skip("the PBX recorded none of the placed calls (is_record false)")


@pytest.fixture(scope="session")
def call_back_control(
    call_back_answers: list[PlacedCall],
) -> PlacedCall:
    """The shared call, as the control of every call_back refusal (D34): the same
    request, correctly signed, was carried out. Cases skip when it was not. (With a
    listener every call_back waits until the calls before it ended: ``Lines``.)"""
    call = call_back_answers[0]
    if not call.ok:
        pytest.skip(
            "inconclusive: the same call_back, correctly signed, was not carried out "
            "(pbx.sign.valid says why)"
        )
    return call


@pytest.fixture(scope="session")
def get_record_transports(
    recorded_call: PlacedCall,
    pbx_driver: PbxFactory,
    vats_settings: Settings,
    run_readings: dict[str, dict[str, Any]],
) -> Reading:
    """Which transports of get_record the PBX serves (E5), probed once with the recorded
    call; ``used`` is the one the run uses (POST, GET with a query, GET with JSON)."""
    pbx = pbx_driver()
    reading = Reading("get_record", PbxApi.TRANSPORTS)
    assert recorded_call.session_id is not None
    url, _ = fetch_link(pbx, recorded_call.session_id, wait=vats_settings.events_timeout)
    for transport in PbxApi.TRANSPORTS if url is not None else ():
        ex = pbx.get_record(recorded_call.session_id, transport=transport, expect="accept")
        answer = answers.parse(ex)
        if answers.outcome(answer, "url") == "success":
            answers.note_success(answer, "url")
            reading.accepted.append(transport)
            reading.used = reading.used or transport
        else:
            reading.refused[transport] = ex.summary()
    reading.exchanges = pbx.log
    run_readings.setdefault("pbx-api", {})["get_record"] = reading.to_json("pbx.reading.get-record")
    return reading


@pytest.fixture(scope="session")
def client_traffic(vats_settings: Settings, pytestconfig: pytest.Config) -> Traffic:
    """What the CRM sent to the suite's PBX API (role crm-client), collected once: its
    command run, then the round trip (run.collect_client)."""
    run = pytestconfig.stash[RUN]
    if run.api is None:
        pytest.exit("the suite's PBX API was not started (no crm-client case collected?)", 3)
    traffic = collect_client(pytestconfig, [])
    run.targets["crm-client"] = {
        "url": traffic.api_url,
        "embedded": vats_settings.embedded,
        "command": traffic.command.command if traffic.command else None,
    }
    return traffic


@pytest.fixture
def wire_log(request: pytest.FixtureRequest) -> list[Exchange]:
    """The exchanges of the running case, recorded for its verdict."""
    log: list[Exchange] = request.node.stash.setdefault(LOG, [])
    return log


@pytest.fixture
def case_notes(request: pytest.FixtureRequest) -> list[str]:
    """Observations of the running case, kept in its detail whatever the verdict."""
    notes: list[str] = request.node.stash.setdefault(NOTES, [])
    return notes


@pytest.fixture
def crm(crm_controls: CrmControls, wire_log: list[Exchange], case_notes: list[str]) -> CrmWebhook:
    """The CRM, spoken to in the spelling and readings it takes (its controls)."""
    c = crm_controls
    driver = CrmWebhook(c.client, c.target, c.settings, wire_log, case_notes)
    return driver.use(c.spelling, c.adapt, c.on_crash).watch(c.unanswered, c.not_again)


@pytest.fixture
def pbx(pbx_driver: PbxFactory, wire_log: list[Exchange], case_notes: list[str]) -> PbxApi:
    return pbx_driver(wire_log, case_notes)
