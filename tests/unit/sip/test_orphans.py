"""CANCELs for the alert calls a dead instance left ringing, rebuilt by the instance taking over."""

from __future__ import annotations

from pyVoIP.RTP import PayloadType, TransmitType

from callcenter.service.ports import LegRef
from callcenter.sip.client import HardenedSIPClient
from callcenter.sip.orphans import BURST, OrphanCanceller, cancel_text, dialog_ids

LEG = "20261204-080000-abc123/+8613900000001/call/alert/1"
NUMBER = "+8613900000001"


def _dialer(port: int) -> tuple[HardenedSIPClient, list[str]]:
    """An alert socket's client, not started: what it would send is kept."""
    client = HardenedSIPClient("127.0.0.1", 5060, "995", "secret", phone=None, myIP="127.0.0.1", myPort=port,
                               registers=False)
    sent: list[str] = []
    client._send = sent.append  # type: ignore[method-assign]
    return client, sent


def _headers(text: str) -> dict[str, str]:
    """Start line and the headers a CANCEL must share with its INVITE (RFC 3261, section 9.1)."""
    lines = text.split("\r\n\r\n", 1)[0].split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:])
    method, uri, _ = lines[0].split(" ")
    cseq_number, cseq_method = fields["CSeq"].split(" ")
    return {"method": method, "uri": uri, "Via": fields["Via"], "From": fields["From"], "To": fields["To"],
            "Call-ID": fields["Call-ID"], "CSeq": cseq_number, "CSeq method": cseq_method}


def test_dialog_ids_are_the_same_when_recomputed_and_differ_per_leg_and_per_boot() -> None:
    ids = dialog_ids("a#0f0f0f", LEG)
    assert ids == dialog_ids("a#0f0f0f", LEG)
    assert ids.branch.startswith("z9hG4bK")  # RFC 3261 branch: matched by Kamailio on it and the sent-by
    others = [dialog_ids("a#0f0f0f", LEG[:-1] + "2"), dialog_ids("a#aaaaaa", LEG)]
    for other in others:
        assert {other.call_id, other.branch, other.tag}.isdisjoint({ids.call_id, ids.branch, ids.tag})


def test_the_survivors_cancel_repeats_what_the_dead_instances_invite_carried() -> None:
    ids = dialog_ids("a#0f0f0f", LEG)
    dead, sent = _dialer(5071)
    media = {40000: {str(int(PayloadType.PCMU)): PayloadType.PCMU, "101": PayloadType.EVENT}}
    dead.invite(NUMBER, media, TransmitType.SENDRECV, ids)
    dead.sent_invites.pop(ids.call_id)  # it died: only the survivor's reconstruction is left
    invite = _headers(sent[0])
    assert (invite["Call-ID"], invite["CSeq"]) == (ids.call_id, "1")
    assert invite["Via"].endswith(f"branch={ids.branch}") and invite["From"].endswith(f";tag={ids.tag}")

    rebuilt = _headers(cancel_text(ids, "127.0.0.1:5071", "995", "127.0.0.1", NUMBER))
    assert rebuilt == invite | {"method": "CANCEL", "CSeq method": "CANCEL"}


def test_the_dead_instance_itself_would_have_sent_the_same_cancel() -> None:
    ids = dialog_ids("a#0f0f0f", LEG)
    dead, sent = _dialer(5071)
    dead.invite(NUMBER, {40000: {"0": PayloadType.PCMU}}, TransmitType.SENDRECV, ids)
    assert dead.cancel(ids.call_id)
    assert _headers(sent[1]) == _headers(cancel_text(ids, "127.0.0.1:5071", "995", "127.0.0.1", NUMBER))


def test_calls_without_published_dialog_ids_keep_random_ones() -> None:
    client, sent = _dialer(5071)
    _, first, _ = client.invite(NUMBER, {40000: {"0": PayloadType.PCMU}}, TransmitType.SENDRECV)
    _, second, _ = client.invite(NUMBER, {40002: {"0": PayloadType.PCMU}}, TransmitType.SENDRECV)
    assert first != second and len(sent) == 2


def test_the_canceller_sends_one_cancel_per_call_of_each_dead_instance_whose_contact_it_knows() -> None:
    contacts = {"a#1": "127.0.0.1:5071"}
    sent: list[str] = []
    canceller = OrphanCanceller("sip", "995", "127.0.0.1", contacts.get, sent.append)
    other_leg = LEG.replace("+8613900000001", "+8613900000002")
    canceller([
        LegRef("i", LEG, "sip", "a#1", NUMBER),
        LegRef("i", other_leg, "sip", "a#1", "+8613900000002"),
        LegRef("i", LEG.replace("/call/", "/sms/"), "twilio-sms", "a#1", NUMBER),  # not a SIP call
        LegRef("j", LEG.replace("abc123", "def456"), "sip", "b#1", NUMBER),  # b published no contact
    ])
    assert [_headers(text)["Call-ID"] for text in sent] == [
        dialog_ids("a#1", LEG).call_id, dialog_ids("a#1", other_leg).call_id]
    assert all(_headers(text)["Via"].startswith("SIP/2.0/UDP 127.0.0.1:5071;") for text in sent)
    assert canceller.sent == 2


def test_thousands_of_cancels_go_out_in_bursts_with_a_pause_between() -> None:
    """A takeover after a flood cancels thousands of calls: never more than a burst back to back."""
    log: list[str] = []
    canceller = OrphanCanceller("sip", "995", "127.0.0.1", lambda holder: "127.0.0.1:5071",
                                lambda text: log.append("send"), pause=lambda: log.append("pause"))
    canceller([LegRef("i", f"{LEG[:-1]}{n}", "sip", "a#1", NUMBER) for n in range(1, 2 * BURST + 2)])
    assert log.count("send") == 2 * BURST + 1 and canceller.sent == 2 * BURST + 1
    assert log.index("pause") == BURST and log.count("pause") == 2
    assert "".join(entry[0] for entry in log).split("p") == ["s" * BURST, "s" * BURST, "s"]
