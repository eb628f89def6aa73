"""A carrier SMSC stub behind the Jasmin gateway (see carrier.py)."""

from tests.smsc_stub.carrier import CarrierSmsc, Fate, Received

__all__ = ["CarrierSmsc", "Fate", "Received"]
