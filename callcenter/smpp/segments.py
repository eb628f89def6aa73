"""A text as SMPP short messages: UCS-2 (data_coding 8), concatenated with a UDH when it needs parts.

Chinese needs UCS-2, two bytes a character: 70 characters fit one message (140 bytes). A longer
text goes as parts of at most 67 characters, each starting with the 6-byte concatenation header
(3GPP TS 23.040 §9.2.3.24.1: ``05 00 03 <reference> <total> <number>``) and sent with the UDHI bit
(esm_class 0x40), so the phone joins them back. A character outside the Basic Multilingual Plane
takes two UCS-2 units and is never split between parts. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MAX_PARTS", "PART_UNITS", "SINGLE_UNITS", "UCS2", "UDHI", "Part", "segment"]

UCS2 = 0x08  # data_coding
UDHI = 0x40  # esm_class: the short message starts with a user data header
SINGLE_UNITS = 70  # UCS-2 units in one unsegmented message
PART_UNITS = 67  # UCS-2 units per part after the 6-byte header
MAX_PARTS = 255


@dataclass(frozen=True, slots=True)
class Part:
    short_message: bytes  # header (if any) + UTF-16-BE text, at most 140 bytes
    esm_class: int
    number: int  # 1-based
    total: int


def segment(text: str, reference: int) -> list[Part]:
    """``text`` as one message or as parts sharing ``reference`` (0–255: tells this text's parts apart)."""
    units = _units(text)
    if len(units) <= SINGLE_UNITS:
        return [Part(b"".join(units), 0, 1, 1)]
    chunks = _chunks(units)
    if len(chunks) > MAX_PARTS:
        raise ValueError(f"a text of {len(units)} UCS-2 units needs more than {MAX_PARTS} parts")
    ref = reference & 0xFF
    return [Part(bytes((5, 0, 3, ref, len(chunks), n)) + chunk, UDHI, n, len(chunks))
            for n, chunk in enumerate(chunks, start=1)]


def _units(text: str) -> list[bytes]:
    """Each character as its UCS-2 bytes: 2, or 4 for a surrogate pair (kept together)."""
    return [ch.encode("utf-16-be") for ch in text]


def _chunks(units: list[bytes]) -> list[bytes]:
    chunks: list[bytes] = []
    current: list[bytes] = []
    used = 0
    for unit in units:
        size = len(unit) // 2
        if used + size > PART_UNITS:
            chunks.append(b"".join(current))
            current, used = [], 0
        current.append(unit)
        used += size
    chunks.append(b"".join(current))
    return chunks
