"""Builds the Twilio parts from settings (called by the composition root, callcenter.bootstrap)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from callcenter.channels.replies import ReplyCommands, SmsReplies
from callcenter.channels.stored import StoredAlerts, StoredLegs
from callcenter.ivr.flowfile import FlowSet
from callcenter.service.ports import IncidentStore
from callcenter.settings import TwilioSettings
from callcenter.twilio.channels import RetryPolicy, TwilioCallChannel, TwilioSmsChannel, WebhookUrls
from callcenter.twilio.client import TwilioApi, TwilioRestApi, make_client
from callcenter.twilio.flows import TwimlRenderer
from callcenter.twilio.pacing import Rates, SendPacer
from callcenter.twilio.recordings import RecordingKeeper, TwilioRecordingFetcher, VoiceMessageCommands
from callcenter.twilio.router import SignatureCheck
from callcenter.twilio.voice import TwilioVoice, VoiceCommands
from callcenter.twilio.webhooks import TwilioWebhooks
from contacts.phones import PhonePolicy

__all__ = [
    "EngineCommands", "call_channel", "recording_keeper", "rest_api", "retry_policy", "signature_check",
    "sms_channel", "webhooks",
]


def rest_api(settings: TwilioSettings) -> TwilioApi:
    client = make_client(settings.account_sid, settings.auth_token.get_secret_value(), settings.api_base_url,
                         settings.request_timeout_seconds)
    return TwilioRestApi(client)


def retry_policy(settings: TwilioSettings) -> RetryPolicy:
    return RetryPolicy(settings.down_retries, settings.rate_limited_retries, settings.backoff_seconds,
                       settings.recheck_seconds)


def call_channel(settings: TwilioSettings, api: TwilioApi, public_base_url: str,
                 store: IncidentStore | None = None) -> TwilioCallChannel:
    """Alert calls; with ``store``, a leg stood down while it waited for its slot is not placed."""
    pacer = SendPacer(settings.call_from, Rates(settings.calls_per_second_per_number,
                                                settings.calls_per_second_per_account))
    return TwilioCallChannel(api, pacer, WebhookUrls(public_base_url), retry_policy(settings),
                             still_wanted=_gate(store), ring_seconds=settings.ring_seconds)


def sms_channel(settings: TwilioSettings, api: TwilioApi, public_base_url: str,
                store: IncidentStore | None = None) -> TwilioSmsChannel:
    pacer = SendPacer(settings.sms_from, Rates(settings.sms_per_second_per_number,
                                               settings.sms_per_second_per_account))
    return TwilioSmsChannel(api, pacer, WebhookUrls(public_base_url), retry_policy(settings),
                            still_wanted=_gate(store))


def _gate(store: IncidentStore | None) -> Callable[[str], bool] | None:
    return StoredLegs(store).still_pending if store is not None else None


class EngineCommands(ReplyCommands, VoiceCommands, Protocol):
    """What the webhooks need of callcenter.service.engine.IncidentEngine."""


def webhooks(incidents: EngineCommands, store: IncidentStore, public_base_url: str, zone: ZoneInfo,
             phone_policy: PhonePolicy, flows: FlowSet, prompt_base_url: str = "",
             recordings: RecordingKeeper | None = None) -> TwilioWebhooks:
    voice = TwilioVoice(incidents, flows, WebhookUrls(public_base_url), TwimlRenderer(prompt_base_url), recordings)
    replies = SmsReplies(incidents, StoredAlerts(store), zone, phone_policy, provider="twilio")
    return TwilioWebhooks(incidents, replies, voice)


def recording_keeper(settings: TwilioSettings, recordings_dir: Path, incidents: VoiceMessageCommands
                     ) -> RecordingKeeper:
    """Inbound voice messages downloaded into the recordings store the SIP path uses."""
    client = make_client(settings.account_sid, settings.auth_token.get_secret_value(), settings.api_base_url,
                         settings.request_timeout_seconds)
    return RecordingKeeper(TwilioRecordingFetcher(client), recordings_dir, incidents)


def signature_check(settings: TwilioSettings, public_base_url: str) -> SignatureCheck:
    return SignatureCheck(settings.auth_token.get_secret_value(), public_base_url)
