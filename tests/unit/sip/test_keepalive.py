"""The keepalive's decision (pure) and its effect on the registration status (no sockets)."""

from __future__ import annotations

from datetime import UTC, datetime

from callcenter.sip.registration import (
    RegistrarKeepalive,
    RegistrationTracker,
    keepalive_step,
    options_request,
)

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_two_misses_in_a_row_mean_lost_once() -> None:
    first = keepalive_step(0, answered=False)
    second = keepalive_step(first.misses, answered=False)
    third = keepalive_step(second.misses, answered=False)
    assert (first.lost, second.lost, third.lost) == (False, True, False)
    assert third.misses == 3


def test_an_answer_resets_and_says_back_only_after_a_loss() -> None:
    assert keepalive_step(1, answered=True) == keepalive_step(0, answered=True)
    assert not keepalive_step(1, answered=True).back
    assert keepalive_step(2, answered=True).back
    assert keepalive_step(5, answered=True).misses == 0


def test_limit_is_configurable() -> None:
    assert not keepalive_step(1, answered=False, limit=3).lost
    assert keepalive_step(2, answered=False, limit=3).lost


def _keepalive() -> tuple[RegistrarKeepalive, RegistrationTracker, list[str]]:
    tracker = RegistrationTracker()
    tracker.set(tracker.status.succeeded(NOW))
    asked: list[str] = []
    keepalive = RegistrarKeepalive("127.0.0.1", 5060, "127.0.0.1", "995", tracker, lambda: asked.append("now"),
                                   lambda: NOW)
    return keepalive, tracker, asked


def test_observed_misses_mark_the_registration_lost_then_ask_for_a_register() -> None:
    keepalive, tracker, asked = _keepalive()
    keepalive.observe(False)
    assert tracker.status.registered
    keepalive.observe(False)
    assert not tracker.status.registered
    assert "did not answer 2 OPTIONS" in tracker.status.last_error
    assert tracker.status.retrying_since == NOW
    keepalive.observe(True)
    assert asked == ["now"]
    keepalive.observe(True)
    assert asked == ["now"]


def test_options_request_addresses_the_registrar() -> None:
    text = options_request("10.0.0.1", 5070, "10.0.0.2", 40000, "995", "abc", "z9hG4bKx", "t1").decode()
    assert text.startswith("OPTIONS sip:10.0.0.1:5070 SIP/2.0\r\n")
    assert "Via: SIP/2.0/UDP 10.0.0.2:40000;branch=z9hG4bKx;rport\r\n" in text
    assert "Call-ID: abc\r\n" in text and text.endswith("\r\n\r\n")


def test_a_probe_sent_before_a_successful_register_does_not_mark_it_lost() -> None:
    """The registrar restarts: one probe is missed, the next one is sent before its socket is open,
    and a REGISTER succeeds while that probe waits. The fresh registration stays up."""
    keepalive, tracker, asked = _keepalive()
    keepalive.observe(False, NOW)
    tracker.set(tracker.status.failed(NOW, "no answer"))
    later = NOW.replace(second=5)
    tracker.set(tracker.status.succeeded(later))
    keepalive.observe(False, NOW.replace(second=4))
    assert tracker.status.registered
    assert keepalive.misses == 0
    keepalive.observe(False, NOW.replace(second=6))  # sent after the REGISTER: a real miss counts
    assert keepalive.misses == 1 and tracker.status.registered
    assert asked == []
