"""RTP ports: those of ended calls rest before they are handed out again (their sockets close a little
later); one another program holds is swapped for a free one."""

from __future__ import annotations

import socket

import pytest
from pyVoIP.VoIP import NoPortsAvailableError

from callcenter.sip.phone import PORT_REST_SECONDS, HardenedPhone, _rested


def test_a_port_just_released_is_not_chosen_while_a_rested_one_is_free() -> None:
    now = 1000.0
    released = {10000: now - 0.5, 10002: now - PORT_REST_SECONDS - 1}
    assert _rested([10000, 10002, 10004], released, now) == [10002, 10004]


def test_a_port_rests_for_the_whole_period_then_is_chosen_again() -> None:
    released = {10000: 100.0}
    assert _rested([10000, 10002], released, 100.0 + PORT_REST_SECONDS - 0.01) == [10002]
    assert _rested([10000, 10002], released, 100.0 + PORT_REST_SECONDS) == [10000, 10002]


def test_when_every_free_port_was_just_released_they_are_still_used() -> None:
    released = {10000: 99.0, 10002: 99.5}
    assert _rested([10000, 10002], released, 100.0) == [10000, 10002]


def _free_pairs() -> tuple[int, int]:
    """Four consecutive free UDP ports on loopback from an even one (the phone's whole RTP range: two
    RTP ports, each with its RTCP port next to it)."""
    for low in range(41000, 59000, 4):
        probes = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
        try:
            for offset, probe in enumerate(probes):
                probe.bind(("127.0.0.1", low + offset))
            return low, low + 3
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()
    raise RuntimeError("no four free ports")


def test_a_port_another_program_holds_is_swapped_for_a_free_one() -> None:
    low, high = _free_pairs()
    phone = HardenedPhone("127.0.0.1", 5060, "995", "", "127.0.0.1", None, 0, low, high)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.bind(("127.0.0.1", low))
        phone.assignedPorts += [low, low + 1]  # the range handed out the pair whose RTP port the other program holds
        port, sock = phone.bind_rtp(low)
        with sock:
            assert port == low + 2 and sock.getsockname() == ("127.0.0.1", low + 2)
    assert sorted(phone.assignedPorts) == [low + 2, low + 3]  # the busy pair was given back


def test_ports_are_handed_out_as_even_rtp_port_and_its_rtcp_port() -> None:
    """RFC 3550: RTP on an even port, RTCP on the next; a pair is taken and given back whole."""
    low, high = _free_pairs()
    phone = HardenedPhone("127.0.0.1", 5060, "995", "", "127.0.0.1", None, 0, low - 1, high)  # odd low end
    first, second = phone.request_port(), phone.request_port()
    assert sorted([first, second]) == [low, low + 2]
    assert sorted(phone.assignedPorts) == [low, low + 1, low + 2, low + 3]
    with pytest.raises(NoPortsAvailableError):
        phone.request_port()
    phone._give_back([first])
    assert sorted(phone.assignedPorts) == sorted([second, second + 1])


def test_when_no_port_can_be_bound_every_port_tried_is_given_back() -> None:
    low, high = _free_pairs()
    phone = HardenedPhone("127.0.0.1", 5060, "995", "", "127.0.0.1", None, 0, low, high)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
        a.bind(("127.0.0.1", low))
        b.bind(("127.0.0.1", low + 2))
        with pytest.raises(OSError):
            phone.bind_rtp(phone.request_port())
    assert phone.assignedPorts == []
