from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.bootstrap import ROUTE_PATHS
from callcenter.channels.routes import PhoneKind, load_routes, phone_kind
from callcenter.domain.types import Channel, LegPurpose
from callcenter.yamlfile import ConfigFileError

SHIPPED = Path(__file__).resolve().parents[3] / "config" / "channels.yaml"


def test_shipped_policy() -> None:
    routes = load_routes(SHIPPED, ROUTE_PATHS)
    assert routes.paths_for(Channel.CALL, "+8613900000001") == ("sip", "twilio")
    assert routes.paths_for(Channel.CALL, "+867176123456") == ("sip", "twilio")
    assert routes.paths_for(Channel.CALL, "8001") == ("sip",)
    assert routes.paths_for(Channel.SMS, "+8613900000001") == ("aliyun", "tencent", "smpp", "twilio")
    assert routes.paths_for(Channel.SMS, "+867176123456") == ()
    assert routes.health_check_seconds == 1 and routes.recheck_seconds == 30


@pytest.mark.parametrize(("phone", "kind"), [
    ("+8613900000001", PhoneKind.MOBILE), ("+8619912345678", PhoneKind.MOBILE),
    ("+867176123456", PhoneKind.LANDLINE), ("+861012345678", PhoneKind.LANDLINE), ("8001", PhoneKind.EXTENSION),
])
def test_phone_kinds(phone: str, kind: PhoneKind) -> None:
    assert phone_kind(phone) == kind


@pytest.mark.parametrize(("text", "line", "words"), [
    ("call:\n  mobile: [sip, pstn]\n", 2, "unknown path 'pstn'"),
    ("call:\n  mobile: [sip, [twilio]]\n", 2, "unknown path ['twilio']"),
    ("call:\n  mobile: [sip]\n  fax: [sip]\n", 3, "unknown number kind 'fax'"),
    ("call:\n  mobile: sip\n", 2, "must be a list"),
    ("call:\n  mobile: [sip, sip]\n", 2, "listed twice"),
    ("sms: [twilio]\n", 1, "must map number kinds"),
    ("voice:\n  mobile: [sip]\n", 1, "unknown key 'voice'"),
    ("call:\n  mobile: [sip]\nhealth_check_seconds: 0\n", 3, "from 0.1 to 10"),
    ("call:\n  mobile: [sip]\nrecheck_seconds: yes\n", 3, "recheck_seconds"),
    ("- call\n", 1, "must be a mapping"),
    ("sms:\n  mobile: [twilio]\n  purposes:\n    drill: {mobile: [twilio]}\n", 4, "unknown message kind 'drill'"),
    ("sms:\n  mobile: [twilio]\n  purposes:\n    alert: {mobile: [pstn]}\n", 4, "unknown path 'pstn'"),
    ("sms:\n  mobile: [twilio]\n  purposes: [alert]\n", 3, "purposes must map message kinds"),
])
def test_errors_name_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    file = tmp_path / "channels.yaml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigFileError) as caught:
        load_routes(file, ROUTE_PATHS)
    assert caught.value.line == line and words in str(caught.value) and str(file) in str(caught.value)


def test_a_message_kind_may_have_its_own_chain(tmp_path: Path) -> None:
    file = tmp_path / "channels.yaml"
    file.write_text("sms:\n  mobile: [twilio]\n  landline: []\n  purposes:\n    alert:\n"
                    "      mobile: [twilio, sip]\n", encoding="utf-8")
    routes = load_routes(file, ROUTE_PATHS)
    assert routes.paths_for(Channel.SMS, "+8613900000001", LegPurpose.ALERT) == ("twilio", "sip")
    assert routes.paths_for(Channel.SMS, "+8613900000001", LegPurpose.CANCELLATION) == ("twilio",)
    assert routes.paths_for(Channel.SMS, "+8613900000001") == ("twilio",)
    assert routes.paths_for(Channel.SMS, "+867176123456", LegPurpose.ALERT) == ()
