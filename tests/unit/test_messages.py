"""SMS texts: UCS-2 segments, rendering that keeps the address whole, and template checks on load."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from factories import MESSAGES_FILE, PRESS_AT, shipped_templates

from callcenter.domain.messages import (
    ELLIPSIS,
    MessageFacts,
    MessageTemplates,
    TemplateError,
    check_templates,
    render,
    segments,
)
from callcenter.policies import load_templates
from callcenter.yamlfile import ConfigFileError

ADDRESS = "湖北省宜昌市夷陵区小溪塔街道张家口村三组1号"
FACTS = MessageFacts(label="三组 张建国家", address=ADDRESS, caller="0717-6000100", pressed_at=PRESS_AT,
                     emergency_type="类型未知")
REPLY = "回复1确认前往，回复2无法前往。"
# The shipped alert text without its address: 66 characters.
ALERT_WITHOUT_ADDRESS = 66


@pytest.mark.parametrize(("length", "parts"), [
    (0, 1), (1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4),
])
def test_segments_of_a_chinese_text(length: int, parts: int) -> None:
    assert segments("警" * length) == parts


def test_the_alert_names_household_time_type_address_and_caller() -> None:
    text = render(shipped_templates().alert_sms, FACTS, shipped_templates())
    assert text == ("【995求助】三组 张建国家09:30按下紧急键（类型未知），"
                    "地址：湖北省宜昌市夷陵区小溪塔街道张家口村三组1号，"
                    "电话0717-6000100。回复1确认前往，回复2无法前往。")
    assert len(text) == ALERT_WITHOUT_ADDRESS + len(ADDRESS)
    assert segments(text) == 2


def test_time_and_date_are_local_to_the_configured_zone() -> None:
    templates = replace(shipped_templates(), alert_sms="{date} {time}")
    late = replace(FACTS, pressed_at=datetime(2026, 3, 14, 17, 5, tzinfo=UTC))
    assert render(templates.alert_sms, late, templates) == "03-15 01:05"
    utc = replace(templates, timezone="UTC")
    assert render(utc.alert_sms, late, utc) == "03-14 17:05"


def test_help_coming_names_who_acknowledged() -> None:
    facts = replace(FACTS, acknowledged_by="李强、王芳")
    text = render(shipped_templates().help_coming_sms, facts, shipped_templates())
    assert text == "【995】三组 张建国家的求助已有李强、王芳确认前往，感谢您。如能到场仍请协助。"


def test_cancellation_text() -> None:
    text = render(shipped_templates().cancellation_sms, FACTS, shipped_templates())
    assert text == "【995】三组 张建国家09:30的紧急求助已取消（误报或已处理），无需前往。"


def test_a_long_address_is_kept_whole_while_the_text_fits_max_segments() -> None:
    templates = shipped_templates()
    longest = "村" * (3 * 67 - ALERT_WITHOUT_ADDRESS)  # 135 characters: exactly three parts
    text = render(templates.alert_sms, replace(FACTS, address=longest), templates)
    assert f"地址：{longest}，" in text
    assert ELLIPSIS not in text
    assert len(text) == 201
    assert segments(text) == templates.max_segments == 3


def test_an_address_beyond_max_segments_is_shortened_with_an_ellipsis() -> None:
    templates = shipped_templates()
    address = "湖北省宜昌市夷陵区小溪塔街道" + "张家口村三组" * 25  # 164 characters
    text = render(templates.alert_sms, replace(FACTS, address=address), templates)
    assert segments(text) == 3
    assert len(text) == 201  # shortened no more than needed
    shown = text.split("地址：", 1)[1].split("，电话", 1)[0]
    assert shown.endswith(ELLIPSIS)
    assert shown.count(ELLIPSIS) == 1
    assert address.startswith(shown[:-1])
    assert "三组 张建国家" in text  # the label is untouched while the address can give way
    assert "电话0717-6000100。" in text
    assert text.endswith(REPLY)


def test_the_label_gives_way_only_after_the_address() -> None:
    templates = replace(shipped_templates(), max_segments=1)
    facts = replace(FACTS, label="三组 欧阳明珠家" * 3)
    text = render(templates.alert_sms, facts, templates)
    assert len(text) <= 70
    assert "地址：湖北省…，" in text  # the address is down to four characters, the ellipsis included
    label = text.removeprefix("【995求助】").split("09:30", 1)[0]
    assert label.endswith(ELLIPSIS)
    assert facts.label.startswith(label[:-1])
    assert text.endswith("电话0717-6000100。" + REPLY)


def test_a_text_that_cannot_fit_even_shortened_is_refused() -> None:
    templates = replace(shipped_templates(), max_segments=1)
    facts = replace(FACTS, caller="0" * 80)
    with pytest.raises(TemplateError, match="needs 3 SMS parts, more than 1"):
        render(templates.alert_sms, facts, templates)


@pytest.mark.parametrize(("template", "problem"), [
    ("{label}请速到{house}", "'house'"),
    ("{label}{}", "Replacement index 0"),
    ("{label", "expected '}'"),
])
def test_a_template_with_a_bad_placeholder_fails_the_check(template: str, problem: str) -> None:
    templates = replace(shipped_templates(), help_coming_sms=template)
    with pytest.raises(TemplateError) as caught:
        check_templates(templates)
    message = str(caught.value)
    assert message.startswith(f"help_coming_sms: bad placeholder in template {template!r}: ")
    assert problem in message


def test_the_shipped_templates_load_and_pass_the_check() -> None:
    templates = load_templates(MESSAGES_FILE)
    assert templates.timezone == "Asia/Shanghai"
    assert templates.max_segments == 3
    assert templates.unknown_caller_label == "未登记号码"
    assert "{address}" in templates.alert_sms
    assert "{acknowledged_by}" in templates.help_coming_sms
    check_templates(templates)


GOOD = MESSAGES_FILE.read_text(encoding="utf-8")


def _loading(tmp_path: Path, text: str) -> ConfigFileError:
    file = tmp_path / "messages.yaml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigFileError) as caught:
        load_templates(file)
    assert caught.value.file == file
    return caught.value


def _line(text: str, key: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith(f"{key}:"))


def test_an_unknown_placeholder_in_the_file_names_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("{acknowledged_by}", "{acknowledger}")
    error = _loading(tmp_path, text)
    assert error.line == _line(text, "help_coming_sms")
    assert error.reason.startswith("help_coming_sms: bad placeholder in template ")
    assert str(error) == f"{tmp_path / 'messages.yaml'}:{error.line}: {error.reason}"


@pytest.mark.parametrize(("edit", "key", "reason"), [
    (lambda t: t + "welcome_sms: 您好\n", "welcome_sms",
     "unknown key 'welcome_sms' (allowed: alert_sms, cancellation_sms, help_coming_sms, mass_event_summary_sms, "
     "max_segments, timezone, unknown_caller_label)"),
    (lambda t: t.replace("cancellation_sms: \"", "cancellation_sms: \"  \" #"), "cancellation_sms",
     "cancellation_sms must be a non-empty text"),
    (lambda t: t.replace("max_segments: 3", "max_segments: three"), "max_segments",
     "max_segments must be a whole number ≥ 1"),
    (lambda t: t.replace("max_segments: 3", "max_segments: 0"), "max_segments",
     "max_segments must be a whole number ≥ 1"),
    (lambda t: t.replace("timezone: Asia/Shanghai", "timezone: Asia/Yichang"), "timezone",
     "unknown time zone 'Asia/Yichang' (e.g. Asia/Shanghai)"),
    (lambda t: t.replace("unknown_caller_label: 未登记号码", "unknown_caller_label: 3"),
     "unknown_caller_label", "unknown_caller_label must be a non-empty text"),
])
def test_a_bad_messages_file_names_the_line(tmp_path: Path, edit: Callable[[str], str], key: str,
                                            reason: str) -> None:
    text = edit(GOOD)
    error = _loading(tmp_path, text)
    assert (error.line, error.reason) == (_line(text, key), reason)


def test_a_missing_template_names_the_file(tmp_path: Path) -> None:
    text = "\n".join(line for line in GOOD.splitlines() if not line.startswith("alert_sms:"))
    error = _loading(tmp_path, text)
    assert error.reason == "alert_sms must be a non-empty text"
    assert error.line == _line(text, "timezone")  # the top of the mapping


def test_a_messages_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    error = _loading(tmp_path, "- 【995】求助\n")
    assert (error.line, error.reason) == (1, "must be a mapping of template names to texts")


def test_templates_defaults() -> None:
    templates = MessageTemplates(alert_sms="a", help_coming_sms="b", cancellation_sms="c")
    assert (templates.max_segments, templates.timezone, templates.unknown_caller_label) == (
        3, "Asia/Shanghai", "未登记号码")
    assert templates.zone().key == "Asia/Shanghai"
