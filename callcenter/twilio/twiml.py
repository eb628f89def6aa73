"""TwiML documents: the alert call script, the inbound emergency call, SMS replies.

Prompts are spoken in Mandarin by Twilio (``<Say language="zh-CN">``) unless a recorded prompt
URL is configured, which is then played instead (``<Play>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Gather, VoiceResponse

LANGUAGE = "zh-CN"
ALERT_KEYS = "120"  # 1 = coming, 2 = cannot come, 0 = say it again


@dataclass(frozen=True, slots=True)
class AlertScript:
    """What an alert call says: the facts a neighbour needs, then the keys."""

    label: str
    address: str
    emergency_type: str
    pressed_at: datetime

    def text(self, zone: ZoneInfo) -> str:
        local = self.pressed_at.astimezone(zone).strftime("%H:%M")
        return (f"995紧急求助。{self.label}在{local}按下紧急键，{self.emergency_type}。"
                f"地址：{self.address}。")


KEY_PROMPT = "能前往请按1，无法前往请按2，重听请按0。"
THANKS_COMING = "谢谢，已记录您将前往。请尽快到场。"
THANKS_DECLINED = "已记录您无法前往，我们会通知其他人。"
NO_KEY_GOODBYE = "没有收到按键，我们会再联系您。"


def _say(response: VoiceResponse | Gather, text: str, prompt_url: str = "") -> None:
    if prompt_url:
        response.play(prompt_url)
    else:
        response.say(text, language=LANGUAGE)


def alert_call(script: AlertScript, zone: ZoneInfo, key_url: str, repeats: int = 2) -> str:
    """Read the alert and ask for 1/2/0; after ``repeats`` silent rounds, hang up (no key)."""
    response = VoiceResponse()
    for _ in range(repeats):
        gather = Gather(num_digits=1, action=key_url, method="POST", timeout=6, action_on_empty_result=False)
        _say(gather, script.text(zone) + KEY_PROMPT)
        response.append(gather)
    _say(response, NO_KEY_GOODBYE)
    response.hangup()
    return str(response)


def inbound_call(greeting: str, type_prompt: str, key_url: str, done: str) -> str:
    """The household's call: reassure first, then let them say what happened with one key."""
    response = VoiceResponse()
    _say(response, greeting)
    gather = Gather(num_digits=1, action=key_url, method="POST", timeout=8, action_on_empty_result=False)
    _say(gather, type_prompt)
    response.append(gather)
    _say(response, done)
    response.hangup()
    return str(response)


def spoken_then_hangup(text: str) -> str:
    response = VoiceResponse()
    _say(response, text)
    response.hangup()
    return str(response)


def hangup() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


def sms_reply(text: str) -> str:
    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response)
