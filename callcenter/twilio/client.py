"""The official twilio client, pointed at Twilio or at a local emulator, behind a small port."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from callcenter.twilio.errors import translate

__all__ = ["RebasedHttpClient", "TwilioApi", "TwilioRestApi", "make_client"]


class TwilioApi(Protocol):
    """What the channels need from Twilio. Raises only ProviderError (callcenter.channels.errors),
    translated by callcenter.twilio.errors."""

    def create_call(self, to: str, sender: str, twiml_url: str, status_url: str, ring_seconds: int) -> str: ...

    def create_message(self, to: str, sender: str, body: str, status_url: str) -> str: ...


class RebasedHttpClient(TwilioHttpClient):  # type: ignore[misc]  # the SDK ships no types
    """Sends every request to ``base_url`` instead of Twilio's hosts (scheme and host replaced,
    path and query kept), which covers every Twilio domain the client knows."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"twilio.api_base_url must be an http(s) URL, got {base_url!r}")
        self._scheme, self._netloc = parts.scheme, parts.netloc

    @property
    def base_url(self) -> str:
        """Where every request goes instead of Twilio (the emulator)."""
        return f"{self._scheme}://{self._netloc}"

    def rebase(self, url: str) -> str:
        """``url`` with our scheme and host (also for downloads made outside ``request``)."""
        parts = urlsplit(url)
        return urlunsplit((self._scheme, self._netloc, parts.path, parts.query, parts.fragment))

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        return super().request(method, self.rebase(url), *args, **kwargs)


def make_client(account_sid: str, auth_token: str, api_base_url: str = "", timeout: float = 5.0) -> Client:
    """A twilio Client; a non-empty ``api_base_url`` sends everything there (the emulator)."""
    http = RebasedHttpClient(api_base_url, timeout) if api_base_url else TwilioHttpClient(timeout=timeout)
    return Client(account_sid, auth_token, http_client=http)


@dataclass
class TwilioRestApi:
    """TwilioApi over the official client: calls with machine detection, both with status callbacks."""

    client: Client

    def create_call(self, to: str, sender: str, twiml_url: str, status_url: str, ring_seconds: int) -> str:
        try:
            call = self.client.calls.create(
                to=to, from_=sender, url=twiml_url, method="POST", status_callback=status_url,
                status_callback_method="POST",
                status_callback_event=["initiated", "ringing", "answered", "completed"],
                machine_detection="Enable", timeout=ring_seconds,
            )
        except Exception as exc:  # translated at the boundary: callers see only our errors
            raise translate(exc) from exc
        return str(call.sid)

    def create_message(self, to: str, sender: str, body: str, status_url: str) -> str:
        try:
            message = self.client.messages.create(to=to, from_=sender, body=body, status_callback=status_url)
        except Exception as exc:
            raise translate(exc) from exc
        return str(message.sid)
