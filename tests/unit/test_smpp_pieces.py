"""The SMPP channel's pure pieces: UCS-2 segments with their UDH, receipts, status translation, the ledger."""

from __future__ import annotations

import pytest

from callcenter.channels.delivery import DeliveryFailure
from callcenter.channels.errors import ProviderDown, ProviderRefused, RateLimited
from callcenter.domain.types import LegStatus
from callcenter.smpp.channel import decode_text, sender_number
from callcenter.smpp.errors import translate_status
from callcenter.smpp.ledger import Ledger
from callcenter.smpp.receipts import Receipt, failure_of, is_receipt, parse_receipt
from callcenter.smpp.segments import UCS2, UDHI, segment

ALERT = ("【995一键通】三组 欧阳明珠家于23:59按下紧急键（急病/受伤），地址：湖北省宜昌市夷陵区小溪塔街道张家口村三组"
         "一百二十号附二号，电话0717-6123456。回复1确认前往，回复2无法前往。")


def _joined(parts: list[bytes]) -> str:
    return b"".join(p[6:] for p in parts).decode("utf-16-be")


def test_seventy_characters_fit_one_message_without_header() -> None:
    [part] = segment("到" * 70, reference=7)
    assert part.esm_class == 0 and part.total == 1
    assert part.short_message == ("到" * 70).encode("utf-16-be")


def test_seventy_one_characters_go_as_two_parts_of_at_most_67() -> None:
    parts = segment("到" * 71, reference=7)
    assert [p.number for p in parts] == [1, 2] and all(p.total == 2 for p in parts)
    assert all(p.esm_class == UDHI for p in parts)
    assert [len(p.short_message) for p in parts] == [6 + 67 * 2, 6 + 4 * 2]
    assert parts[0].short_message[:6] == bytes((5, 0, 3, 7, 2, 1))
    assert parts[1].short_message[:6] == bytes((5, 0, 3, 7, 2, 2))


def test_the_alert_as_a_reader_sees_it_comes_back_whole_from_its_parts() -> None:
    parts = segment(ALERT, reference=300)
    assert len(parts) == -(-len(ALERT) // 67)
    assert all(p.short_message[3] == 300 & 0xFF for p in parts)
    assert _joined([p.short_message for p in parts]) == ALERT
    assert all(len(p.short_message) <= 140 for p in parts)


def test_a_character_outside_the_bmp_is_never_split_between_parts() -> None:
    text = "到" * 66 + "😀" + "到" * 10
    parts = segment(text, reference=1)
    assert _joined([p.short_message for p in parts]) == text
    assert parts[0].short_message[6:].decode("utf-16-be") == "到" * 66


def test_receipt_read_from_its_tlvs_before_its_text() -> None:
    text = b"id:other sub:001 dlvrd:001 submit date:2612062350 done date:2612062350 stat:UNDELIV err:027 text:"
    receipt = parse_receipt(text, "abc-1", 2)
    assert receipt == Receipt("abc-1", "DELIVRD", "027") and receipt.delivered and receipt.final


def test_receipt_read_from_its_text_alone() -> None:
    receipt = parse_receipt(b"id:7F3A submit date:2612062350 done date:2612062350 stat:UNDELIV err:027")
    assert (receipt.message_id, receipt.stat, receipt.err) == ("7F3A", "UNDELIV", "027")
    assert receipt.failure() is DeliveryFailure.SWITCHED_OFF and receipt.code() == "UNDELIV/027"


def test_receipt_naming_no_message_is_refused() -> None:
    with pytest.raises(ValueError, match="without a message id"):
        parse_receipt(b"stat:DELIVRD err:000")


def test_intermediate_states_are_not_final() -> None:
    assert not parse_receipt(b"id:1 stat:ENROUTE err:000").final
    assert not parse_receipt(b"id:1", message_state=6).final  # ACCEPTD


@pytest.mark.parametrize(("stat", "err", "failure"), [
    ("UNDELIV", "001", DeliveryFailure.INVALID_NUMBER),
    ("UNDELIV", "013", DeliveryFailure.BLACKLISTED),
    ("UNDELIV", "027", DeliveryFailure.SWITCHED_OFF),
    ("UNDELIV", "088", DeliveryFailure.THROTTLED),
    ("EXPIRED", "000", DeliveryFailure.EXPIRED),
    ("REJECTD", "", DeliveryFailure.REJECTED),
    ("UNKNOWN", "000", DeliveryFailure.UNKNOWN),
    ("UNDELIV", "MK:0005", DeliveryFailure.OTHER),
])
def test_stat_and_err_map_to_the_shared_failure_words(stat: str, err: str, failure: DeliveryFailure) -> None:
    assert failure_of(stat, err) is failure


def test_only_receipt_esm_classes_are_receipts() -> None:
    assert is_receipt(0x04) and is_receipt(0x08) and not is_receipt(0x00) and not is_receipt(0x40)


@pytest.mark.parametrize(("status", "error"), [
    (0x58, RateLimited), (0x14, RateLimited), (0x0B, ProviderRefused), (0x0A, ProviderRefused),
    (0x01, ProviderRefused), (0x08, ProviderDown), (0x45, ProviderDown), (0x1234, ProviderRefused),
])
def test_submit_statuses_map_to_the_channel_error_tree(status: int, error: type[Exception]) -> None:
    translated = translate_status(status)
    assert type(translated) is error


def test_status_names_are_in_the_message() -> None:
    assert "ESME_RINVDSTADR" in str(translate_status(0x0B))


def test_a_leg_is_delivered_when_every_part_is() -> None:
    ledger = Ledger()
    assert ledger.submitted("i/leg", ("a", "b", "c"), now=0.0) == []
    assert ledger.receipt(Receipt("a", "DELIVRD", "000"), now=1.0) is None
    assert ledger.receipt(Receipt("c", "DELIVRD", "000"), now=1.0) is None
    settled = ledger.receipt(Receipt("b", "DELIVRD", "000"), now=1.0)
    assert settled is not None and settled.status is LegStatus.DELIVERED
    assert settled.provider_ref == "a,b,c" and settled.leg_id == "i/leg"
    assert ledger.waiting() == 0 and not ledger.knows("a")


def test_a_leg_fails_at_its_first_failed_part_and_later_receipts_change_nothing() -> None:
    ledger = Ledger()
    ledger.submitted("i/leg", ("a", "b"), now=0.0)
    settled = ledger.receipt(Receipt("b", "UNDELIV", "027"), now=1.0)
    assert settled is not None and settled.status is LegStatus.UNDELIVERED
    assert settled.detail == "undelivered: switched_off (UNDELIV/027)"
    assert ledger.receipt(Receipt("a", "DELIVRD", "000"), now=1.0) is None


def test_a_receipt_before_its_submit_response_is_kept_and_applied() -> None:
    ledger = Ledger()
    assert ledger.receipt(Receipt("a", "DELIVRD", "000"), now=1.0) is None
    [settled] = ledger.submitted("i/leg", ("a",), now=0.0)
    assert settled.status is LegStatus.DELIVERED


def test_a_duplicate_receipt_is_ignored() -> None:
    ledger = Ledger()
    ledger.submitted("i/leg", ("a", "b"), now=0.0)
    assert ledger.receipt(Receipt("a", "DELIVRD", "000"), now=1.0) is None
    assert ledger.receipt(Receipt("a", "DELIVRD", "000"), now=1.0) is None
    assert ledger.waiting() == 1


def test_a_message_without_receipt_makes_the_ledger_overdue() -> None:
    ledger = Ledger()
    ledger.submitted("i/leg", ("a",), now=100.0)
    assert not ledger.overdue(now=150.0, seconds=60.0)
    assert ledger.overdue(now=161.0, seconds=60.0)


def test_replies_are_read_as_the_sender_wrote_them() -> None:
    assert decode_text("到".encode("utf-16-be"), UCS2, 0) == "到"
    assert decode_text(b"1", 0, 0) == "1"
    assert decode_text(bytes((5, 0, 3, 1, 1, 1)) + "收到".encode("utf-16-be"), UCS2, UDHI) == "收到"
    assert sender_number("8613900000001", 1) == "+8613900000001"
    assert sender_number("13900000001", 0) == "13900000001"


def test_a_receipt_nobody_claims_goes_stale_and_an_adopted_leg_settles_on_its_first_receipt() -> None:
    ledger = Ledger()
    assert ledger.receipt(Receipt("b", "DELIVRD", "000"), now=10.0) is None
    assert ledger.stale_early(now=12.0, seconds=5.0) == []
    [stale] = ledger.stale_early(now=15.0, seconds=5.0)
    assert stale.message_id == "b" and ledger.stale_early(now=99.0, seconds=5.0) == []
    ledger.adopt("i/leg", ("a", "b"), now=15.0)  # found in storage: part a may have been delivered before
    settled = ledger.receipt(stale, now=15.0)
    assert settled is not None and settled.status is LegStatus.DELIVERED


def test_legs_past_the_report_window_are_forgotten() -> None:
    ledger = Ledger()
    ledger.submitted("i/old", ("a", "b"), now=0.0)
    ledger.submitted("i/new", ("c",), now=100.0)
    assert ledger.expire(now=150.0, seconds=120.0) == 1
    assert not ledger.knows("a") and ledger.knows("c") and ledger.waiting() == 1
