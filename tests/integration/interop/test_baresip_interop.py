"""Interop with a real softphone (issue #23): Debian's baresip as households pressing the 995 key and
as neighbours answering alert calls, through Kamailio, against the service as `callcenter serve`
wires it.

One run of the scenario (module fixture ``scenario``, about a minute) and one test per thing a
real phone must get right: each phone's calls are read at the wire (baresip's SIP trace, its RTP
counters, its recording of what it heard) and through the console API and the CLI.

- household 2001 (offers PCMA then PCMU) calls 995 and presses 3 (RFC 2833) during the menu;
  households 2011, 2012, 2013 press 1, 2, 4 (2013 at 40 ms packetisation);
- neighbours: PCMU only, PCMA only, both, and both putting the call on hold mid-announcement and
  resuming: each presses 1 during the announcement; one rejects the call (486), one never answers.

A packet socket on lo (tests/sip/capture.py, root) sees the RTP each phone receives.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bench.mass_stack import Service
from bench.mass_watch import operator_session
from callcenter.ivr.engine import Say
from tests.integration.interop.rig import (
    HOUSEHOLD,
    NEIGHBOURS,
    PTIME_40_LINE,
    TYPING_HOUSEHOLDS,
    Neighbour,
    callcenter,
)
from tests.sip.baresip import BaresipError, BaresipPhone, read_recording
from tests.sip.capture import LoopbackCapture
from tests.sip.harness import Kamailio
from tests.sip.heard import Heard, find

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

KEY_AFTER = 3.0  # seconds into the announcement a neighbour presses 1
HOLD_AFTER, HOLD_FOR = 1.5, 3.0  # the holding neighbour: on hold this far in, for this long
ANNOUNCEMENT = "这里是九九五"
THANKS = "谢谢！已通知户主"
RECEIVED = "已收到您的紧急求助"


@dataclass
class CallRecord:
    """What one phone did and saw on one call."""

    incoming: dict[str, Any] | None = None
    established: dict[str, Any] | None = None
    closed: dict[str, Any] | None = None
    pressed_at: float | None = None
    held: tuple[float, float] | None = None  # (hold sent, resume sent), epoch s
    error: str = ""


@dataclass
class Scenario:
    service: Service
    phones: dict[str, BaresipPhone]
    capture: LoopbackCapture
    neighbours: dict[str, CallRecord] = field(default_factory=dict)
    households: dict[str, CallRecord] = field(default_factory=dict)
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)  # household line → API detail

    def incident_of(self, line: str) -> dict[str, Any]:
        assert line in self.incidents, f"no incident for {line}: {sorted(self.incidents)}"
        return self.incidents[line]


def neighbour_script(phone: BaresipPhone, neighbour: Neighbour, record: CallRecord) -> None:
    """Behave as ``neighbour.behaviour`` says on the first incoming call."""
    try:
        record.incoming = phone.wait_event("CALL_INCOMING", 40)
        if neighbour.behaviour == "reject":
            phone.hangup()  # a ringing call: 486 Rejected
            record.closed = phone.wait_event("CALL_CLOSED", 10)
            return
        if neighbour.behaviour == "never_answer":
            record.closed = phone.wait_event("CALL_CLOSED", 30)  # the service's CANCEL
            return
        phone.answer()
        record.established = phone.wait_event("CALL_ESTABLISHED", 10)
        if neighbour.behaviour == "hold_then_1":
            time.sleep(HOLD_AFTER)
            held = time.time()
            phone.hold()
            time.sleep(HOLD_FOR)
            phone.resume()
            record.held = (held, time.time())
            time.sleep(KEY_AFTER - HOLD_AFTER)
        else:
            time.sleep(KEY_AFTER)
        record.pressed_at = time.time()
        phone.press("1")
        record.closed = phone.wait_event("CALL_CLOSED", 40)  # the service hangs up after its thanks
    except BaresipError as exc:
        record.error = str(exc)
        if record.established is not None:
            _hang_up_quietly(phone)


def _hang_up_quietly(phone: BaresipPhone) -> None:
    with contextlib.suppress(BaresipError):
        phone.hangup()


def household_call(phone: BaresipPhone, line: str, key: str, menu_after: float, record: CallRecord) -> None:
    """From ``line``: call 995, press ``key`` during the menu, listen to the answer, hang up."""
    try:
        since = phone.mark()
        phone.command("uafind", f"sip:{line}@127.0.0.1:{phone.registrar_port}")
        phone.dial("995")
        record.established = phone.wait_event("CALL_ESTABLISHED", 15, since)
        time.sleep(menu_after)
        record.pressed_at = time.time()
        phone.press(key)
        time.sleep(3.0)
        phone.hangup()
        record.closed = phone.wait_event("CALL_CLOSED", 10, since)
        time.sleep(1.1)  # the next call's recording gets a file name of its own (one per second)
    except BaresipError as exc:
        record.error = str(exc)
        _hang_up_quietly(phone)


def household_incidents(service: Service) -> dict[str, dict[str, Any]]:
    """Household line → the incident's detail, from the console API."""
    found: dict[str, dict[str, Any]] = {}
    with operator_session(service.base_url) as client:
        page = client.get("/api/incidents", params={"limit": 50})
        page.raise_for_status()
        for item in page.json()["items"]:
            detail = client.get(f"/api/incidents/{item['id']}")
            detail.raise_for_status()
            found[item["caller"]] = detail.json()
    return found


@pytest.fixture(scope="module")
def scenario(service: Service, phones: dict[str, BaresipPhone], capture: LoopbackCapture) -> Iterator[Scenario]:
    run = Scenario(service, phones, capture)
    threads = []
    for neighbour in NEIGHBOURS:
        record = run.neighbours[neighbour.number] = CallRecord()
        threads.append(threading.Thread(target=neighbour_script, args=(phones[neighbour.number], neighbour, record),
                                        daemon=True))
    for thread in threads:
        thread.start()
    # The menu starts when the greeting ends: press a second and a half into it.
    received = service.container.prompt_library.render_prompt("received")
    menu_after = received.seconds + 1.5
    household = phones[HOUSEHOLD]
    for line, key in ((HOUSEHOLD, "3"), *((line, key) for line, (key, _) in TYPING_HOUSEHOLDS.items())):
        run.households[line] = CallRecord()
        household_call(household, line, key, menu_after, run.households[line])
    for thread in threads:
        thread.join(timeout=60)
    time.sleep(1.0)  # the last outcomes reach the store
    run.incidents = household_incidents(service)
    yield run


# -- helpers that read what a phone saw -------------------------------------------------------------


def prompt_audio(service: Service, starting: str) -> list[tuple[str, bytes]]:
    """(text, audio) of every prompt the service synthesised whose text starts with ``starting``."""
    library = service.container.prompt_library
    texts = {text for _, text in library.synthesizer.runs} | set(library.fixed.values())
    return [(text, library.audio(Say(text))) for text in sorted(texts) if text.startswith(starting)]


def heard(service: Service, recording: bytes, starting: str, codec: str) -> Heard | None:
    """The longest bit-exact stretch of any prompt starting with ``starting`` found in ``recording``."""
    found = [match for _, audio in prompt_audio(service, starting) if (match := find(audio, codec, recording))]
    return max(found, key=lambda match: match.samples, default=None)


def recording(phone: BaresipPhone, index: int = 0) -> bytes:
    files = phone.recordings()
    assert len(files) > index, f"{phone.user}: recordings {files}"
    return read_recording(files[index])


def negotiated_codec(phone: BaresipPhone) -> str:
    """The codec of the call's audio as baresip's log says it set up its decoder."""
    found = re.findall(r"audio rx pipeline:.*<--- (PCM[AU])", phone.log_path.read_text(errors="replace"))
    assert found, phone.log_tail()
    return found[-1]


def legs_by_recipient(detail: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    legs: dict[str, list[dict[str, Any]]] = {}
    for leg in detail["legs"]:
        if leg["channel"] == "call" and leg["purpose"] == "alert":
            legs.setdefault(leg["recipient"], []).append(leg)
    return legs


def name_of(number: str) -> str:
    index = next(n for n, x in enumerate(NEIGHBOURS) if x.number == number)
    return f"邻居{index + 2}"


def media_port(phone: BaresipPhone, call_id: str = "") -> int:
    """The RTP port in the last SDP the phone sent (of the call ``call_id``, when given)."""
    ports = [int(found.group(1)) for m in phone.sip_messages()
             if m.source.endswith(f":{phone.sip_port}") and (not call_id or m.header("Call-ID") == call_id)
             and (found := re.search(r"^m=audio (\d+) ", m.body, re.M))]
    assert ports, phone.log_tail()
    return ports[-1]


def invites_received(phone: BaresipPhone) -> list[str]:
    """Call-IDs of the INVITE dialogs the phone received (re-INVITEs not counted)."""
    calls: list[str] = []
    for message in phone.sip_messages():
        if message.first_line.startswith("INVITE ") and message.destination.endswith(f":{phone.sip_port}"):
            call_id = message.header("Call-ID")
            if call_id not in calls:
                calls.append(call_id)
    return calls


# -- households -----------------------------------------------------------------------------------


def test_household_press_opens_one_incident_typed_by_its_rfc2833_key(scenario: Scenario) -> None:
    record = scenario.households[HOUSEHOLD]
    assert not record.error, record.error
    detail = scenario.incident_of(HOUSEHOLD)
    assert detail["incident"]["emergency_type"] == "medical"
    assert [e["data"]["type"] for e in detail["timeline"] if e["kind"] == "type_set"] == ["medical"]  # once
    assert detail["incident"]["press_count"] == 1
    shown = callcenter(Path(scenario.service.container.settings.data_dir), "incidents", "show",
                       detail["incident"]["id"], "--json").stdout
    assert '"emergency_type": "medical"' in shown


@pytest.mark.parametrize("line", sorted(TYPING_HOUSEHOLDS))
def test_keys_1_2_4_type_the_incident_once(scenario: Scenario, line: str) -> None:
    record = scenario.households[line]
    assert not record.error, record.error
    _key, kind = TYPING_HOUSEHOLDS[line]
    detail = scenario.incident_of(line)
    assert detail["incident"]["emergency_type"] == kind
    assert [e["data"]["type"] for e in detail["timeline"] if e["kind"] == "type_set"] == [kind]


def test_household_hears_the_greeting_bit_exact(scenario: Scenario) -> None:
    """The household offered PCMA first; the service answered in PCMA, and the greeting arrived
    exactly as the service rendered it."""
    phone = scenario.phones[HOUSEHOLD]
    codec = negotiated_codec(phone)
    greeting = heard(scenario.service, recording(phone, 0), RECEIVED, codec)
    assert greeting is not None and greeting.complete, greeting


# -- neighbours -----------------------------------------------------------------------------------


def _acknowledging(scenario: Scenario, number: str, thanks_recorded: bool = True) -> None:
    """Answered, pressed 1 once, counted once; the announcement and the thanks heard bit-exact
    (baresip 1.0.0 records nothing after a hold: its recording filter is dropped on the re-INVITE)."""
    record = scenario.neighbours[number]
    assert not record.error, record.error
    phone = scenario.phones[number]
    assert len(invites_received(phone)) == 1
    detail = scenario.incident_of(HOUSEHOLD)
    name = name_of(number)
    legs = legs_by_recipient(detail)[name]
    assert [(leg["attempt"], leg["status"]) for leg in legs] == [(1, "acknowledged")]
    acks = [e for e in detail["timeline"] if e["kind"] == "acknowledged" and e["actor"].endswith(name)]
    assert len(acks) == 1, acks
    audio = recording(phone)
    codec = negotiated_codec(phone)
    announcement = heard(scenario.service, audio, ANNOUNCEMENT, codec)
    assert announcement is not None and announcement.seconds >= 1.0, announcement
    assert announcement.prompt_at < 800  # from its first words on
    if not thanks_recorded:
        return
    thanks = heard(scenario.service, audio, THANKS, codec)
    assert thanks is not None and thanks.complete, thanks
    assert thanks.recording_at > announcement.recording_at


def test_pcmu_only_neighbour_is_reached_and_counted_once(scenario: Scenario) -> None:
    _acknowledging(scenario, "3101")
    assert negotiated_codec(scenario.phones["3101"]) == "PCMU"


def test_pcma_only_neighbour_is_reached_and_counted_once(scenario: Scenario) -> None:
    """Needs the alert INVITE to offer PCMA (branch h23-sip): one offering PCMU alone gets 488."""
    _acknowledging(scenario, "3102")
    assert negotiated_codec(scenario.phones["3102"]) == "PCMA"


def test_neighbour_offering_both_codecs_is_reached_and_counted_once(scenario: Scenario) -> None:
    _acknowledging(scenario, "3103")


def test_household_asking_for_40_ms_packetisation(scenario: Scenario) -> None:
    """The line offers a=ptime:40. ptime is a recommendation (RFC 4566): baresip sends what the
    answer's a=ptime asks, the service's packets to the phone are never longer than the 40 ms asked
    for, and the key types the incident and the greeting arrives bit-exact as at 20 ms."""
    record = scenario.households[PTIME_40_LINE]
    assert not record.error, record.error
    phone = scenario.phones[HOUSEHOLD]
    invite = next(m for m in phone.sip_messages() if m.first_line.startswith("INVITE sip:995@")
                  and f"sip:{PTIME_40_LINE}@" in m.header("From"))
    assert "a=ptime:40" in invite.body
    answer = next(m for m in phone.sip_messages() if m.first_line.startswith("SIP/2.0 200")
                  and m.header("Call-ID") == invite.header("Call-ID") and "INVITE" in m.header("CSeq")).body
    service_port = int(re.findall(r"^m=audio (\d+) ", answer, re.M)[0])
    asked = int((re.findall(r"^a=ptime:(\d+)", answer, re.M) or ["20"])[0])
    phone_port = media_port(phone, invite.header("Call-ID"))
    from_phone = [d for d in scenario.capture.to_port(service_port)
                  if d.source_port == phone_port and d.payload_type in (0, 8)]
    assert from_phone and {d.size - 12 for d in from_phone} == {8 * asked}
    to_phone = [d for d in scenario.capture.to_port(phone_port) if d.payload_type in (0, 8)]
    assert to_phone and len({d.size for d in to_phone}) == 1 and to_phone[0].size - 12 <= 8 * 40
    assert scenario.incident_of(PTIME_40_LINE)["incident"]["emergency_type"] == "other"
    index = [HOUSEHOLD, *sorted(TYPING_HOUSEHOLDS)].index(PTIME_40_LINE)
    greeting = heard(scenario.service, recording(phone, index), RECEIVED, negotiated_codec(phone))
    assert greeting is not None and greeting.complete, greeting


def test_hold_mid_announcement_is_answered_recvonly_pauses_media_and_resumes(scenario: Scenario) -> None:
    """RFC 3264 §8.4: a sendonly offer is answered recvonly (or inactive), and nothing is sent to the
    held phone; after the resume media flows again and the key still counts (branch h23-sip)."""
    number = "3104"
    _acknowledging(scenario, number, thanks_recorded=False)
    phone = scenario.phones[number]
    record = scenario.neighbours[number]
    assert record.held is not None and record.closed is not None
    messages = phone.sip_messages()
    holds = [m for m in messages if m.first_line.startswith("INVITE ") and m.source.endswith(f":{phone.sip_port}")
             and "a=sendonly" in m.body]
    assert len(holds) == 1, [m.first_line for m in messages]
    cseq = holds[0].header("CSeq")
    answer = next(m for m in messages if m.first_line.startswith("SIP/2.0 200") and m.header("CSeq") == cseq)
    directions = {line.strip() for line in answer.body.split("\n")} & {"a=sendrecv", "a=sendonly", "a=recvonly",
                                                                       "a=inactive"}
    assert directions and directions <= {"a=recvonly", "a=inactive"}, answer.body
    port = media_port(phone)
    held, resumed = record.held
    to_phone = [d for d in scenario.capture.to_port(port) if d.payload_type in (0, 8)]
    # Half a second for the re-INVITE's round trip; then silence on the wire until the resume.
    assert len([d for d in to_phone if held + 0.5 <= d.at < resumed]) == 0
    assert len([d for d in to_phone if resumed + 0.5 <= d.at < record.closed["at"]]) >= 25


def test_neighbour_rejecting_with_486_is_busy(scenario: Scenario) -> None:
    number = "3105"
    record = scenario.neighbours[number]
    assert not record.error, record.error
    phone = scenario.phones[number]
    sent = [m.first_line for m in phone.sip_messages() if m.source.endswith(f":{phone.sip_port}")]
    assert any(line.startswith("SIP/2.0 486") for line in sent), sent
    legs = legs_by_recipient(scenario.incident_of(HOUSEHOLD))[name_of(number)]
    assert [(leg["attempt"], leg["status"]) for leg in legs][:1] == [(1, "busy")]


def test_neighbour_never_answering_is_cancelled_as_no_answer(scenario: Scenario) -> None:
    number = "3106"
    record = scenario.neighbours[number]
    assert not record.error, record.error
    phone = scenario.phones[number]
    received = [m.first_line for m in phone.sip_messages() if m.destination.endswith(f":{phone.sip_port}")]
    assert any(line.startswith("CANCEL ") for line in received), received
    legs = legs_by_recipient(scenario.incident_of(HOUSEHOLD))[name_of(number)]
    assert [(leg["attempt"], leg["status"]) for leg in legs][:1] == [(1, "no_answer")]


def test_every_neighbour_was_called_and_every_key_counted_once(scenario: Scenario, kamailio: Kamailio) -> None:
    detail = scenario.incident_of(HOUSEHOLD)
    legs = legs_by_recipient(detail)
    assert set(legs) == {name_of(n.number) for n in NEIGHBOURS}
    for neighbour in NEIGHBOURS:
        assert len(invites_received(scenario.phones[neighbour.number])) == 1, neighbour
    assert kamailio.out_of_memory() == 0
    pressing = [n for n in NEIGHBOURS if n.behaviour in ("press_1", "hold_then_1")]
    acks = [e["actor"] for e in detail["timeline"] if e["kind"] == "acknowledged"]
    assert sorted(acks) == sorted(f"responder:{name_of(n.number)}" for n in pressing)
    assert detail["incident"]["acks"] == len(pressing)
