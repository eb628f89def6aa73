"""Fitting messages to providers' approved templates, and reading config/sms.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.channels.sms_templates import SAMPLE_VALUES, load_template_books
from callcenter.domain.sms_templates import (
    ProviderTemplate,
    TemplateBook,
    TemplateMismatch,
    TemplateSyntax,
    TemplateVariable,
    VariableKind,
)
from callcenter.domain.types import LegPurpose
from callcenter.yamlfile import ConfigFileError

CONFIG = Path(__file__).resolve().parents[2] / "config" / "sms.yaml"
ALERT = ProviderTemplate(
    "SMS_1", "${label}于${time}按下紧急键，地址：${address}，电话${caller}。回复1确认前往。",
    (TemplateVariable("label", "label", shorten=True), TemplateVariable("time", "time", VariableKind.TIME),
     TemplateVariable("address", "address", max_chars=20, shorten=True),
     TemplateVariable("caller", "caller", VariableKind.PHONE)))
BOOK = TemplateBook("aliyun", "九九五一键通", {LegPurpose.ALERT: ALERT})
VALUES = {"label": "三组 王家", "time": "08:05", "address": "张家口村三组12号", "caller": "+8613800138000"}


def test_a_fitted_alert_reads_as_the_neighbour_sees_it() -> None:
    sms = BOOK.fit(LegPurpose.ALERT, VALUES)
    assert sms.text == ("【九九五一键通】三组 王家于08:05按下紧急键，地址：张家口村三组12号，"
                        "电话13800138000。回复1确认前往。")
    assert sms.code == "SMS_1"
    assert sms.params_dict() == {"label": "三组 王家", "time": "08:05", "address": "张家口村三组12号",
                                 "caller": "13800138000"}
    assert sms.segments == 1


def test_a_long_address_is_shortened_with_an_ellipsis_where_the_template_allows() -> None:
    sms = BOOK.fit(LegPurpose.ALERT, {**VALUES, "address": "湖北省宜昌市夷陵区小溪塔街道张家口村三组一百二十号"})
    assert sms.params_dict()["address"] == "湖北省宜昌市夷陵区小溪塔街道张家口村三…"
    assert len(sms.params_dict()["address"]) == 20


@pytest.mark.parametrize(("values", "reason"), [
    ({**VALUES, "label": "见 www.example.cn"}, "link"),
    ({**VALUES, "label": "王家 13800138000"}, "phone number"),
    ({**VALUES, "caller": "8001"}, "5 to 11 digits"),
    ({**VALUES, "time": "明天"}, "time"),
    ({**VALUES, "label": "  "}, "empty"),
    ({k: v for k, v in VALUES.items() if k != "caller"}, "does not have"),
])
def test_values_a_provider_would_refuse_are_refused_before_sending_with_the_reason(
        values: dict[str, str], reason: str) -> None:
    with pytest.raises(TemplateMismatch, match=reason):
        BOOK.fit(LegPurpose.ALERT, values)


def test_a_value_that_may_not_be_shortened_is_refused_when_too_long() -> None:
    template = ProviderTemplate("1", "{1}的求助已有人确认前往。", (TemplateVariable("1", "label", max_chars=6),),
                                TemplateSyntax.NUMBERED)
    book = TemplateBook("tencent", "九九五", {LegPurpose.HELP_COMING: template})
    assert book.fit(LegPurpose.HELP_COMING, {"label": "王家"}).param_values() == ["王家"]
    with pytest.raises(TemplateMismatch, match="7 characters, more than the 6"):
        book.fit(LegPurpose.HELP_COMING, {"label": "三组 欧阳明珠"})


def test_a_message_kind_without_an_approved_template_is_refused() -> None:
    with pytest.raises(TemplateMismatch, match="no approved template for cancellation"):
        BOOK.fit(LegPurpose.CANCELLATION, VALUES)


def test_a_text_beyond_the_allowed_segments_is_refused() -> None:
    book = TemplateBook("aliyun", "九九五一键通", {LegPurpose.ALERT: ALERT}, max_segments=1)
    with pytest.raises(TemplateMismatch, match="2 SMS parts"):
        book.fit(LegPurpose.ALERT, {**VALUES, "label": "三组 欧阳明珠家的老房子东头第二间屋"})


def test_a_template_whose_text_and_variables_disagree_cannot_be_built() -> None:
    with pytest.raises(TemplateMismatch, match="declared"):
        ProviderTemplate("SMS_2", "${label}求助", (TemplateVariable("name", "label"),))
    with pytest.raises(TemplateMismatch, match="each once"):
        ProviderTemplate("SMS_2", "${label}求助${label}", (TemplateVariable("label", "label"),))


def test_a_signature_is_given_without_its_brackets() -> None:
    with pytest.raises(TemplateMismatch, match="without 【】"):
        TemplateBook("aliyun", "【九九五】", {})


def test_the_shipped_books_carry_every_message_kind_with_long_values() -> None:
    books = load_template_books(CONFIG)
    assert set(books) == {"aliyun", "tencent"}
    for book in books.values():
        assert book.kinds() == set(LegPurpose)
        alert = book.fit(LegPurpose.ALERT, SAMPLE_VALUES)
        assert SAMPLE_VALUES["address"] in alert.text and alert.text.startswith("【九九五一键通】")
        assert alert.segments <= 3


def test_config_errors_name_the_line(tmp_path: Path) -> None:
    broken = tmp_path / "sms.yaml"
    broken.write_text(
        "providers:\n  aliyun:\n    signature: 九九五\n    templates:\n      alert:\n        code: SMS_1\n"
        "        text: \"${label}求助\"\n        variables:\n          label: {value: lable}\n", encoding="utf-8")
    with pytest.raises(ConfigFileError, match=r"sms.yaml:9: value must be one of"):
        load_template_books(broken)


def test_a_template_too_narrow_for_a_long_address_stops_the_start(tmp_path: Path) -> None:
    narrow = tmp_path / "sms.yaml"
    narrow.write_text(
        "providers:\n  tencent:\n    signature: 九九五\n    syntax: numbered\n    templates:\n      alert:\n"
        "        code: '1'\n        text: \"地址{1}有人求助\"\n        variables:\n"
        "          '1': {value: address, max_chars: 6}\n", encoding="utf-8")
    with pytest.raises(ConfigFileError, match=r"sms.yaml:6: cannot carry a long message"):
        load_template_books(narrow)
