from __future__ import annotations

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from callcenter.channels.errors import ChannelError, PathDown, ProviderDown, ProviderRefused, RateLimited
from callcenter.twilio.errors import translate


@pytest.mark.parametrize(("exc", "kind"), [
    (TwilioRestException(429, "/Calls.json", "Too Many Requests", 20429), RateLimited),
    (TwilioRestException(400, "/Messages.json", "Too many requests", 20429), RateLimited),
    (TwilioRestException(400, "/Calls.json", "The 'To' number is not valid", 21211), ProviderRefused),
    (TwilioRestException(401, "/Calls.json", "Authenticate", 20003), ProviderRefused),
    (TwilioRestException(500, "/Calls.json", "Internal Server Error", 20500), ProviderDown),
    (TwilioRestException(503, "/Calls.json", "Service Unavailable"), ProviderDown),
    (requests.ConnectTimeout("connect timed out"), ProviderDown),
    (requests.ReadTimeout("read timed out"), ProviderDown),
    (requests.ConnectionError("refused"), ProviderDown),
])
def test_twilio_errors_become_ours(exc: Exception, kind: type[Exception]) -> None:
    ours = translate(exc)
    assert type(ours) is kind and isinstance(ours, ChannelError)


def test_provider_down_is_a_path_failure_and_refusal_is_not() -> None:
    assert isinstance(ProviderDown("x"), PathDown)
    assert not isinstance(ProviderRefused("x"), PathDown)
    assert "21211" in str(translate(TwilioRestException(400, "/", "bad number", 21211)))
