"""A local Twilio API emulator for tests and benchmarks (see emulator.py)."""

from tests.twilio_emulator.emulator import ApiRequest, Emulator
from tests.twilio_emulator.server import ServerThread

__all__ = ["ApiRequest", "Emulator", "ServerThread"]
