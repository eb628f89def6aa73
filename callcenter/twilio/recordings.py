"""Voice messages left on a Twilio call, kept on our own server.

Twilio reports a finished ``<Record>`` as a ``RecordingUrl`` on its servers, behind the account's
credentials: a console in the call centre cannot play that. ``RecordingKeeper`` downloads the WAV
in the background (the webhook answers at once), through the twilio client's own HTTP session
with basic auth, bounded in size and time and retried, stores it where the SIP path stores voice
messages (``<recordings>/<incident>/<time>.wav``) and attaches it to the incident as a voice
message. When every try fails, the Twilio URL is kept as a note that says the download failed.

The download carries the account's credentials, so it goes only to Twilio's own API host over
https (or to ``twilio.api_base_url``, the local emulator of the tests): a ``RecordingUrl`` naming
any other place is refused unfetched and logged as an error (``RecordingUrlRefused``).
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import time
import wave
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from twilio.rest import Client

from callcenter.domain.types import Actor
from callcenter.ivr.engine_actions import HOUSEHOLD
from callcenter.twilio.client import RebasedHttpClient

__all__ = [
    "RecordingDownloadError", "RecordingKeeper", "RecordingUrlRefused", "TwilioRecordingFetcher",
    "VoiceMessageCommands",
]

log = logging.getLogger(__name__)

MAX_RECORDING_BYTES = 8 * 1024 * 1024  # far beyond the longest message a flow records (≤120 s of 16-bit)
DOWNLOAD_SECONDS = 10.0  # one try, all included
TRIES = 3
BACKOFF_SECONDS = 0.5


class RecordingDownloadError(Exception):
    """The recording could not be fetched or is not a WAV file."""


class RecordingUrlRefused(RecordingDownloadError):
    """The RecordingUrl is not a recording on Twilio's API host: never fetched."""


TWILIO_API_HOST = "api.twilio.com"
_RECORDINGS_PATH = "/2010-04-01/Accounts/"


def recording_url_refusal(url: str, api_base_url: str = "") -> str | None:
    """Why ``url`` is not a Twilio recording we may fetch with our credentials; None when it is."""
    parts = urlsplit(url)
    twilio = parts.scheme == "https" and parts.netloc == TWILIO_API_HOST
    base = urlsplit(api_base_url) if api_base_url else None
    configured = base is not None and (parts.scheme, parts.netloc) == (base.scheme, base.netloc)
    if not (twilio or configured):
        allowed = f"https://{TWILIO_API_HOST}" + (f" or {api_base_url}" if api_base_url else "")
        return f"recording URL on {parts.scheme}://{parts.netloc} refused: only {allowed} gets our credentials"
    if not (parts.path.startswith(_RECORDINGS_PATH) and "/Recordings/" in parts.path):
        return f"recording URL path {parts.path[:80]!r} refused: not a Twilio recording"
    return None


class RecordingFetcher(Protocol):
    def fetch(self, url: str) -> bytes:
        """The WAV at Twilio's ``RecordingUrl``. Raises RecordingDownloadError."""
        ...


class VoiceMessageCommands(Protocol):
    """What IncidentEngine offers for the result."""

    def attach_voice_message(self, incident_id: str, path: str, seconds: float, actor: Actor) -> Any: ...

    def add_note(self, incident_id: str, text: str, actor: Actor) -> Any: ...


class TwilioRecordingFetcher:
    """Downloads through ``client.http_client``'s session (emulator rebasing and credentials included)."""

    def __init__(self, client: Client, max_bytes: int = MAX_RECORDING_BYTES, seconds: float = DOWNLOAD_SECONDS,
                 tries: int = TRIES, backoff: float = BACKOFF_SECONDS,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client, self.max_bytes, self.seconds = client, max_bytes, seconds
        self.tries, self.backoff, self.sleep = tries, backoff, sleep

    def fetch(self, url: str) -> bytes:
        http = self.client.http_client
        refusal = recording_url_refusal(url, http.base_url if isinstance(http, RebasedHttpClient) else "")
        if refusal is not None:
            log.error("%s (a forged Twilio webhook, or twilio.api_base_url is wrong)", refusal)
            raise RecordingUrlRefused(refusal)
        errors: list[str] = []
        for attempt in range(1, self.tries + 1):
            try:
                return self._once(url)
            except RecordingDownloadError as exc:
                errors.append(str(exc))
                log.warning("recording download try %d/%d failed: %s", attempt, self.tries, exc)
            if attempt < self.tries:
                self.sleep(self.backoff * 2 ** (attempt - 1))
        raise RecordingDownloadError(f"{self.tries} tries failed, last: {errors[-1]}")

    def _once(self, url: str) -> bytes:
        http = self.client.http_client
        session = getattr(http, "session", None) or requests.Session()
        target = _wav_url(http.rebase(url) if isinstance(http, RebasedHttpClient) else url)
        deadline = time.monotonic() + self.seconds
        try:
            with session.get(target, auth=(self.client.username, self.client.password), stream=True,
                             timeout=self.seconds, allow_redirects=True) as response:
                if response.status_code != 200:
                    raise RecordingDownloadError(f"Twilio answered {response.status_code}")
                return _checked_wav(self._body(response, deadline))
        except requests.RequestException as exc:
            raise RecordingDownloadError(f"{type(exc).__name__}: {exc}") from exc

    def _body(self, response: requests.Response, deadline: float) -> bytes:
        body = bytearray()
        for chunk in response.iter_content(64 * 1024):
            body += chunk
            if len(body) > self.max_bytes:
                raise RecordingDownloadError(f"recording larger than {self.max_bytes} bytes")
            if time.monotonic() > deadline:
                raise RecordingDownloadError(f"download took longer than {self.seconds:g} s")
        return bytes(body)


def _wav_url(url: str) -> str:
    """Twilio serves a recording as WAV when ``.wav`` is appended to its RecordingUrl."""
    return url if url.endswith(".wav") else url + ".wav"


def _checked_wav(body: bytes) -> bytes:
    try:
        with wave.open(io.BytesIO(body), "rb") as wav:
            wav.getnframes()
    except (wave.Error, EOFError) as exc:
        raise RecordingDownloadError(f"not a WAV file: {exc}") from exc
    return body


class RecordingKeeper:
    def __init__(self, fetcher: RecordingFetcher, recordings_dir: Path, incidents: VoiceMessageCommands,
                 workers: int = 2, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.fetcher, self.incidents, self.now = fetcher, incidents, now
        self.recordings_dir = recordings_dir.absolute()  # the timeline's path must work from any directory
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="recording")

    def keep(self, incident_id: str, url: str, seconds: float) -> Future[None]:
        """Download in the background; the returned future is done once the timeline has the result."""
        return self._executor.submit(self._keep, incident_id, url, seconds)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=False)

    def _keep(self, incident_id: str, url: str, seconds: float) -> None:
        try:
            path = self._store(incident_id, self.fetcher.fetch(url))
        except RecordingUrlRefused as exc:
            # Not the URL itself: the operators must not be handed a link somebody else chose.
            self.incidents.add_note(incident_id, f"来电录音未下载：地址不是 Twilio 的（{exc}）", HOUSEHOLD)
            return
        except (RecordingDownloadError, OSError) as exc:
            log.warning("voice message of incident %s left at Twilio: %s", incident_id, exc)
            self.incidents.add_note(incident_id, fallback_note(url, seconds, str(exc)), HOUSEHOLD)
            return
        self.incidents.attach_voice_message(incident_id, str(path), seconds, HOUSEHOLD)

    def _store(self, incident_id: str, wav: bytes) -> Path:
        safe_id = "".join(c if c.isalnum() or c in "-_" else "_" for c in incident_id)
        target = self.recordings_dir / safe_id / f"{self.now().strftime('%Y%m%dT%H%M%S%fZ')}.wav"
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(wav)
            Path(tmp).replace(target)  # a half-written file never carries the final name
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target


def fallback_note(url: str, seconds: float, error: str) -> str:
    return f"来电录音（{seconds:g}秒）：{url}（未能下载到本服务器：{error}；录音仍在 Twilio）"
