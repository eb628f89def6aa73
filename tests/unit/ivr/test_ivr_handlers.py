"""The two call handlers over a scripted fake call: what the caller hears, what the incident gets."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from callcenter.domain.messages import MessageFacts
from callcenter.domain.types import Channel, LegPurpose, LegStatus, Recipient
from callcenter.ivr.engine import Say
from callcenter.ivr.fakes import FakeCallMedia, FakeIncidentActions, FakePromptAudio, FakeSynthesizer
from callcenter.ivr.flow import Flow, FlowKind, Goto, Step
from callcenter.ivr.flowfile import FlowSet, load_flows
from callcenter.ivr.handlers import alert_handler, inbound_handler, leg_facts, warm_alert_audio
from callcenter.ivr.ports import CallerIncident
from callcenter.ivr.prompts import PromptLibrary
from callcenter.service.ports import LegOrder

FLOWS = load_flows(Path(__file__).resolve().parents[3] / "ivr_flows")
HOUSEHOLD = "+8613907170001"
INCIDENT = "20260314-0930-0001"
FACTS = {"label": "张家口村三组 张建国家", "address": "张家口村3组12号"}


def lookup(number: str) -> CallerIncident | None:
    return CallerIncident(INCIDENT, FACTS) if number == HOUSEHOLD else None


def run_inbound(media: FakeCallMedia, actions: FakeIncidentActions | None = None,
                prompts: FakePromptAudio | None = None) -> tuple[FakeIncidentActions, FakePromptAudio]:
    actions = actions or FakeIncidentActions()
    prompts = prompts or FakePromptAudio()
    inbound_handler(actions, lookup, prompts, FLOWS)(media)
    return actions, prompts


def order(kind: str = "火灾") -> LegOrder:
    facts = MessageFacts(label="张家口村三组 张建国家", address="张家口村3组12号", caller="139 0717 0001",
                         pressed_at=datetime(2026, 3, 14, 1, 30, tzinfo=UTC), emergency_type=kind)
    recipient = Recipient("李秀英", "+8613907170002", "household_contact")
    return LegOrder(f"{INCIDENT}/1", INCIDENT, Channel.CALL, LegPurpose.ALERT, 1, recipient, "短信", facts)


class Decisions:
    """The channel's side of an alert call: what the flow told it, and what had been said by then."""

    def __init__(self, prompts: FakePromptAudio | None = None) -> None:
        self.prompts = prompts
        self.told: list[tuple[LegStatus, str]] = []
        self.said_before: list[list[str]] = []

    def __call__(self, status: LegStatus, detail: str) -> None:
        self.told.append((status, detail))
        self.said_before.append(list(self.prompts.said) if self.prompts else [])


def test_press_and_stay_silent_notes_records_and_keeps_the_line() -> None:
    media = FakeCallMedia(HOUSEHOLD, hang_up_at=200.0)
    actions, prompts = run_inbound(media)
    assert actions.calls[:2] == [("note_silent_call", INCIDENT), ("attach_voice_message", INCIDENT, "20.0")]
    assert not any(call[0] in ("set_type", "cancel") for call in actions.calls)
    assert prompts.said[:5] == ["received", "menu", "menu", "speak_now", "reassure"]
    assert prompts.said.count("reassure") > 3
    assert len(actions.voice_messages[0][1]) == 20 * 8000


def test_press_then_3_sets_medical_and_reassures_until_the_caller_hangs_up() -> None:
    media = FakeCallMedia(HOUSEHOLD, digits=[(8.0, "3")], hang_up_at=60.0)
    actions, prompts = run_inbound(media)
    assert actions.calls == [("set_type", INCIDENT, "medical")]
    assert prompts.said[:4] == ["received", "menu", "typed", "reassure"]
    assert not media.hung_up_by_us or media.now >= 60.0


def test_a_key_during_the_menu_interrupts_it() -> None:
    media = FakeCallMedia(HOUSEHOLD, digits=[(4.0, "1")], hang_up_at=30.0)
    actions, _ = run_inbound(media)
    assert actions.calls[0] == ("set_type", INCIDENT, "fire")
    assert any(entry == (4.0, "stop") for entry in media.log)


def test_press_then_9_and_confirm_cancels_and_hangs_up() -> None:
    media = FakeCallMedia(HOUSEHOLD, digits=[(8.0, "9"), (16.0, "9")])
    actions, prompts = run_inbound(media)
    assert actions.calls == [("cancel", INCIDENT)]
    assert prompts.said[-1] == "cancelled" and media.hung_up_by_us
    hung_up_at, what = media.log[-1]
    assert what == "hang up" and hung_up_at == pytest.approx(16.0 + len(media.played[-1]) / 8000, abs=0.11)


def test_press_9_without_confirmation_does_not_cancel() -> None:
    media = FakeCallMedia(HOUSEHOLD, digits=[(8.0, "9")], hang_up_at=40.0)
    actions, prompts = run_inbound(media)
    assert ("cancel", INCIDENT) not in actions.calls
    assert "not_cancelled" in prompts.said


def test_a_failing_incident_store_never_ends_the_callers_call() -> None:
    media = FakeCallMedia(HOUSEHOLD, digits=[(8.0, "2")], hang_up_at=50.0)
    actions = FakeIncidentActions(fail=True)
    _, prompts = run_inbound(media, actions)
    assert prompts.said[:4] == ["received", "menu", "typed", "reassure"]
    assert media.now == 50.0


def test_a_caller_without_an_open_incident_still_hears_the_flow() -> None:
    media = FakeCallMedia("+8613800000000", digits=[(8.0, "1")], hang_up_at=30.0)
    actions, prompts = run_inbound(media)
    assert actions.calls == [] and prompts.said[:2] == ["received", "menu"]


def test_an_unspeakable_text_becomes_a_tone_and_the_flow_goes_on(tmp_path: Path) -> None:
    synthesizer = FakeSynthesizer(fail_on="已收到")
    library = PromptLibrary(synthesizer, tmp_path / "cache", tmp_path / "prompts", FLOWS.prompts())
    media = FakeCallMedia(HOUSEHOLD, digits=[(8.0, "4")], hang_up_at=30.0)
    actions = FakeIncidentActions()
    inbound_handler(actions, lookup, library, FLOWS)(media)
    assert actions.calls == [("set_type", INCIDENT, "other")]
    assert len(media.played[0]) > 0


@pytest.mark.parametrize(("digits", "status"), [
    ([(9.0, "1")], LegStatus.ACKNOWLEDGED),
    ([(9.0, "2")], LegStatus.DECLINED),
    ([(9.0, "0"), (20.0, "1")], LegStatus.ACKNOWLEDGED),
    ([], LegStatus.ANSWERED_WITHOUT_KEY),
])
def test_alert_leg_outcome(digits: list[tuple[float, str]], status: LegStatus) -> None:
    media = FakeCallMedia("+8613907170002", digits=digits)
    decided = Decisions()
    assert alert_handler(FakePromptAudio(), FLOWS)(order(), media, decided) is status
    assert media.hung_up_by_us
    keyed = status in (LegStatus.ACKNOWLEDGED, LegStatus.DECLINED)
    assert [status for status, _ in decided.told] == ([status] if keyed else [])


def test_alert_hang_up_before_a_key_is_answered_without_key() -> None:
    media = FakeCallMedia("+8613907170002", hang_up_at=3.0)
    assert alert_handler(FakePromptAudio(), FLOWS)(order(), media, Decisions()) is LegStatus.ANSWERED_WITHOUT_KEY


def test_alert_without_a_key_announces_three_times() -> None:
    prompts = FakePromptAudio()
    alert_handler(prompts, FLOWS)(order(), FakeCallMedia("+8613907170002"), Decisions())
    announcements = [s for s in prompts.said if "张家口村3组12号" in s]
    assert len(announcements) == 3 and prompts.said[-1] == "no_key"


@pytest.mark.parametrize(("key", "status", "reply"), [
    ("1", LegStatus.ACKNOWLEDGED, "coming"), ("2", LegStatus.DECLINED, "not_coming")])
def test_the_key_is_told_as_it_is_pressed_before_the_reply_is_spoken(key: str, status: LegStatus,
                                                                      reply: str) -> None:
    prompts = FakePromptAudio()
    decided = Decisions(prompts)
    handler = alert_handler(prompts, FLOWS)
    assert handler(order(), FakeCallMedia("+8613907170002", digits=[(9.0, key)]), decided) is status
    assert decided.told == [(status, f"pressed {key}")]
    assert reply not in decided.said_before[0] and reply in prompts.said[-2:]


def test_1_pressed_during_the_announcement_counts_at_once_and_the_address_follows() -> None:
    """The key cuts the announcement (barge-in) and is told before anything else is said; the
    confirmation then names the household and the address the neighbour did not hear out."""
    prompts = FakePromptAudio()
    decided = Decisions(prompts)
    media = FakeCallMedia("+8613907170002", digits=[(1.0, "1")])  # 1 s into a ~10 s announcement
    assert alert_handler(prompts, FLOWS)(order(), media, decided) is LegStatus.ACKNOWLEDGED
    assert decided.told == [(LegStatus.ACKNOWLEDGED, "pressed 1")]
    assert len([s for s in decided.said_before[0] if "张家口村3组12号" in s]) == 1  # only the cut announcement
    assert prompts.said[-2] == "coming" and "张家口村3组12号" in prompts.said[-1]
    stopped = [what for _, what in media.log if what.startswith("stop")]
    assert stopped, media.log  # the announcement was cut, not played out


def test_a_second_key_during_the_reply_is_not_told() -> None:
    """After 1 the flow speaks its thanks and hangs up: a 2 pressed meanwhile decides nothing."""
    decided = Decisions()
    media = FakeCallMedia("+8613907170002", digits=[(9.0, "1"), (9.5, "2")])
    assert alert_handler(FakePromptAudio(), FLOWS)(order(), media, decided) is LegStatus.ACKNOWLEDGED
    assert decided.told == [(LegStatus.ACKNOWLEDGED, "pressed 1")]


def test_leg_facts_give_the_type_code_for_the_flow_branch() -> None:
    assert leg_facts(order("急病/受伤"))["emergency_type"] == "medical"
    assert leg_facts(order("类型未知"))["emergency_type"] == "unknown"
    assert leg_facts(order())["recipient"] == "李秀英"
    assert leg_facts(order("盗窃/闯入"))["type"] == "盗窃或闯入"  # spoken without the slash


def test_the_site_caps_the_length_of_a_voice_message() -> None:
    actions = FakeIncidentActions()
    media = FakeCallMedia(HOUSEHOLD, hang_up_at=100.0)
    inbound_handler(actions, lookup, FakePromptAudio(), FLOWS, record_max_seconds=5.0)(media)
    assert actions.voice_messages[0][2] == 5.0


def test_a_stop_digit_ends_the_voice_message_early() -> None:
    actions = FakeIncidentActions()
    media = FakeCallMedia(HOUSEHOLD, digits=[(50.0, "#")], hang_up_at=100.0)
    inbound_handler(actions, lookup, FakePromptAudio(), FLOWS)(media)
    (_, audio, seconds), = actions.voice_messages
    assert 0 < seconds < 20 and len(audio) == round(seconds * 8000)


def test_warming_renders_the_announcement_before_the_call(tmp_path: Path) -> None:
    synthesizer = FakeSynthesizer()
    library = PromptLibrary(synthesizer, tmp_path / "cache", tmp_path / "prompts", FLOWS.prompts())
    assert warm_alert_audio(library, FLOWS, order()) == 4  # announcement, menu, thanks, where to go
    spoken = len(synthesizer.spoken)
    assert alert_handler(library, FLOWS)(order(), FakeCallMedia(digits=[(9.0, "1")]), Decisions()) \
        is LegStatus.ACKNOWLEDGED
    assert synthesizer.spoken[spoken:] == []  # the confirmation with the address was rendered ahead too



def test_a_silent_caller_who_hangs_up_while_recorded_still_leaves_the_message() -> None:
    probe = FakeCallMedia(HOUSEHOLD, hang_up_at=1000.0)  # where the recording starts when nobody hangs up
    inbound_handler(FakeIncidentActions(), lookup, FakePromptAudio(), FLOWS)(probe)
    recording_from = next(at for at, what in probe.log if what.startswith("recorded")) - 20.0
    actions = FakeIncidentActions()
    inbound_handler(actions, lookup, FakePromptAudio(), FLOWS)(FakeCallMedia(HOUSEHOLD, hang_up_at=recording_from + 4))
    (_, audio, seconds), = actions.voice_messages
    assert seconds == pytest.approx(4.0) and len(audio) == 4 * 8000
    assert actions.calls[0] == ("note_silent_call", INCIDENT)


class BrokenDiskPrompts:
    def audio(self, say: Say) -> bytes:
        raise OSError(28, "No space left on device")


def test_a_full_disk_under_the_prompt_cache_still_runs_the_flow_on_tones() -> None:
    actions = FakeIncidentActions()
    media = FakeCallMedia(HOUSEHOLD, digits=[(8.0, "1")], hang_up_at=30.0)
    inbound_handler(actions, lookup, BrokenDiskPrompts(), FLOWS)(media)
    assert actions.calls == [("set_type", INCIDENT, "fire")]
    assert media.played and all(media.played)


def test_a_flow_that_breaks_at_run_time_ends_the_call_cleanly() -> None:
    flow = Flow("emergency_inbound", FlowKind.INBOUND, {"a": Step("a", Goto("b"), None),
                                                        "b": Step("b", Goto("a"), None)}, "a")
    flows = FlowSet({"emergency_inbound": flow}, {})
    media = FakeCallMedia(HOUSEHOLD)
    inbound_handler(FakeIncidentActions(), lookup, FakePromptAudio(), flows)(media)
    assert media.hung_up_by_us


@pytest.mark.parametrize(("digits", "command", "reply"), [
    ([(8.0, "3")], ("set_type", INCIDENT, "medical"), "typed"),
    ([(8.0, "9"), (10.0, "9")], ("cancel", INCIDENT), "cancelled"),
])
def test_the_households_menu_keys_act_before_the_reply_is_spoken(
        digits: list[tuple[float, str]], command: tuple[str, ...], reply: str) -> None:
    """The type and a cancellation reach the incident at the key; the caller hears the reply after."""
    prompts = FakePromptAudio()
    said_at_command: list[list[str]] = []

    class Actions(FakeIncidentActions):
        def _record(self, *call: str) -> None:
            super()._record(*call)
            said_at_command.append(list(prompts.said))

    actions = Actions()
    run_inbound(FakeCallMedia(HOUSEHOLD, digits=digits, hang_up_at=60.0), actions, prompts)
    index = actions.calls.index(command)
    assert reply not in said_at_command[index] and reply in prompts.said
