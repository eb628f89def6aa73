"""A voice message left on an inbound Twilio call is downloaded (through the twilio client, with the
account's credentials, retried) into our recordings store and attached to the incident; when that
fails the Twilio URL stays on the timeline with the reason."""

from __future__ import annotations

import io
import logging
import math
import threading
import wave
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from callcenter.ivr.flowfile import load_flows
from callcenter.twilio import wiring
from callcenter.twilio.client import make_client
from callcenter.twilio.recordings import (
    RecordingDownloadError,
    RecordingKeeper,
    RecordingUrlRefused,
    TwilioRecordingFetcher,
)
from callcenter.twilio.router import SignatureCheck, twilio_router
from contacts.phones import PhonePolicy
from tests.integration.twilio.rig import CALLER, ROOT, TwilioRig
from tests.twilio_emulator import Emulator, ServerThread
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(60)
OUR_NUMBER = "+14155550300"


def tone_wav(seconds: float = 0.5) -> bytes:
    """What Twilio serves: 8 kHz 16-bit mono PCM WAV."""
    frames = b"".join(int(8000 * math.sin(n / 8)).to_bytes(2, "little", signed=True)
                      for n in range(int(8000 * seconds)))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(frames)
    return out.getvalue()


def fetcher(emulator: Emulator, **kwargs: Any) -> TwilioRecordingFetcher:
    client = make_client(emulator.account_sid, emulator.auth_token, emulator.base_url, timeout=2.0)
    return TwilioRecordingFetcher(client, backoff=0.01, **kwargs)


class InboundRig:
    """Our inbound voice webhooks with a recording keeper, on their own port, over the rig's engine."""

    def __init__(self, rig: TwilioRig, emulator: Emulator, recordings: Path) -> None:
        self.rig, self.emulator = rig, emulator
        self.server = ServerThread(app := FastAPI())
        self.keeper = RecordingKeeper(fetcher(emulator), recordings, rig.engine)
        hooks = wiring.webhooks(rig.engine, rig.store, self.server.base_url, rig.engine.templates.zone(),
                                PhonePolicy(), load_flows(ROOT / "ivr_flows"), "", self.keeper)
        app.include_router(twilio_router(lambda: hooks, SignatureCheck(emulator.auth_token, self.server.base_url)))
        self.server.start()

    def call_and_leave_a_message(self, wav: bytes) -> str:
        documents = self.emulator.inbound_call(f"{self.server.base_url}/twilio/voice/inbound", CALLER, OUR_NUMBER,
                                               keys=["", "", "rec"], recording=wav)
        assert "<Record" in documents[-2], documents
        return str(self.rig.store.open_incident_ids()[0])

    def events(self, incident_id: str, kind: str) -> list[Any]:
        return [e for e in self.rig.timeline(incident_id) if e.kind == kind]


@pytest.fixture
def inbound(rig: TwilioRig, emulator: Emulator, tmp_path: Path) -> Iterator[InboundRig]:
    made = InboundRig(rig, emulator, tmp_path / "recordings")
    yield made
    made.server.stop()
    made.keeper.close()


def test_voice_message_is_downloaded_into_our_store_and_attached(inbound: InboundRig, emulator: Emulator,
                                                                  tmp_path: Path) -> None:
    wav = tone_wav()
    incident_id = inbound.call_and_leave_a_message(wav)
    message = wait_for(lambda: inbound.events(incident_id, "voice_message"), what="the voice message")[0]
    path = Path(message.data["path"])
    assert path.is_relative_to(tmp_path / "recordings") and path.read_bytes() == wav
    assert message.data["seconds"] == 3.0
    assert [status for _, status in emulator.recording_fetches] == [200]
    assert not any("来电录音" in n for n in inbound.rig.notes(incident_id))


def test_a_failed_download_is_retried(inbound: InboundRig, emulator: Emulator) -> None:
    emulator.recording_failures = 2
    incident_id = inbound.call_and_leave_a_message(tone_wav())
    assert wait_for(lambda: inbound.events(incident_id, "voice_message"), what="the voice message")
    assert [status for _, status in emulator.recording_fetches] == [500, 500, 200]


def test_url_kept_with_the_reason_when_every_try_fails(inbound: InboundRig, emulator: Emulator) -> None:
    emulator.recording_failures = 10
    incident_id = inbound.call_and_leave_a_message(tone_wav())
    note = wait_for(lambda: [n for n in inbound.rig.notes(incident_id) if "来电录音" in n], what="the note")[0]
    assert "未能下载到本服务器" in note and "Twilio answered 500" in note
    assert "/Recordings/RE" in note  # the operators can still reach it at Twilio
    assert inbound.events(incident_id, "voice_message") == []
    assert len(emulator.recording_fetches) == 3


def test_download_needs_the_account_credentials(emulator: Emulator) -> None:
    url = emulator.add_recording(tone_wav())
    client = make_client(emulator.account_sid, "wrong-token", emulator.base_url, timeout=2.0)
    with pytest.raises(RecordingDownloadError, match="401"):
        TwilioRecordingFetcher(client, tries=1).fetch(url)


def test_oversized_or_non_wav_recordings_are_refused(emulator: Emulator) -> None:
    with pytest.raises(RecordingDownloadError, match="larger than 1000 bytes"):
        fetcher(emulator, max_bytes=1000, tries=1).fetch(emulator.add_recording(tone_wav()))
    with pytest.raises(RecordingDownloadError, match="not a WAV file"):
        fetcher(emulator, tries=1).fetch(emulator.add_recording(b"<html>login</html>"))


class _Bait:
    """An HTTP server posing as a recording host; remembers who came and what they sent."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        bait = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                bait.requests.append(dict(self.headers))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(tone_wav())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/2010-04-01/Accounts/AC1/Recordings/RE1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def bait() -> Iterator[_Bait]:
    made = _Bait()
    yield made
    made.close()


def test_a_forged_recording_url_to_another_host_is_refused_unfetched_and_logged(
        inbound: InboundRig, emulator: Emulator, bait: _Bait, caplog: pytest.LogCaptureFixture) -> None:
    emulator.add_recording = lambda wav: bait.url  # type: ignore[method-assign]  # the webhook names another host
    with caplog.at_level(logging.ERROR, logger="callcenter.twilio.recordings"):
        incident_id = inbound.call_and_leave_a_message(tone_wav())
        note = wait_for(lambda: [n for n in inbound.rig.notes(incident_id) if "来电录音" in n], what="the note")[0]
    assert "地址不是 Twilio 的" in note and bait.url not in note  # no link somebody else chose
    assert "refused" in caplog.text and "127.0.0.1" in caplog.text
    assert bait.requests == [] and emulator.recording_fetches == []
    assert inbound.events(incident_id, "voice_message") == []


@pytest.mark.parametrize("forged", ["http://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
                                    "https://api.twilio.com.evil.example/2010-04-01/Accounts/AC1/Recordings/RE1",
                                    "https://api.twilio.com/2010-04-01/Accounts/AC1/Calls/CA1"])
def test_without_an_emulator_only_twilio_s_https_recordings_are_fetched(bait: _Bait, forged: str) -> None:
    client = make_client("AC" + "1" * 32, "token-" + "x" * 26)  # the real Twilio hosts: nothing rebased
    fetcher = TwilioRecordingFetcher(client, tries=1)
    for url in (bait.url, forged):
        with pytest.raises(RecordingUrlRefused):
            fetcher.fetch(url)
    assert bait.requests == []  # our credentials never left
