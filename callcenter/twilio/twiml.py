"""Small TwiML documents: hang up, answer an SMS (the voice flows are rendered by flows.py)."""

from __future__ import annotations

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

__all__ = ["ALERT_KEYS", "LANGUAGE", "hangup", "sms_reply"]

LANGUAGE = "zh-CN"
ALERT_KEYS = "120"  # 1 = coming, 2 = cannot come, 0 = say it again


def hangup() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


def sms_reply(text: str) -> str:
    response = MessagingResponse()
    if text:
        response.message(text)
    return str(response)
