"""Phone numbers are masked in every log line, whatever logger or argument carries them."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import pytest

from callcenter.logs import MaskPhones, configure_logging, mask_phones

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("text", "expected"), [
    ("leg 20261122-052233-a1b2c3/+8613912345678/call/alert/0 failed",
     "leg 20261122-052233-a1b2c3/**********5678/call/alert/0 failed"),
    ("INVITE from sip:13912345678@127.0.0.1:5070", "INVITE from sip:*******5678@127.0.0.1:5070"),
    ("landline +867176123456 and 07176123456", "landline *********3456 and *******3456"),
    ('"GET /api/lookup/13912345678 HTTP/1.1" 404', '"GET /api/lookup/*******5678 HTTP/1.1" 404'),
])
def test_phone_numbers_keep_only_their_last_four_digits(text: str, expected: str) -> None:
    assert mask_phones(text) == expected


@pytest.mark.parametrize("text", [
    "incident 20261122-052233-a1b2c3 escalated to level 2",  # an 8-digit date is not a phone
    "extension 2001 pressed; port 5060; 123456789 rows",
])
def test_dates_ports_and_extensions_stay_readable(text: str) -> None:
    assert mask_phones(text) == text


def test_the_handler_masks_arguments_and_tracebacks_of_any_logger() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(MaskPhones())
    logger = logging.getLogger("tests.logs.any")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise RuntimeError("busy: +8613912345678")
        except RuntimeError:
            logger.exception("leg %s failed", "x/+8613987654321/call")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "**********4321" in out and "**********5678" in out
    assert "13987654321" not in out and "13912345678" not in out


def test_configure_logging_installs_one_masking_handler_on_the_root() -> None:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    try:
        handler = configure_logging("INFO")
        assert root.handlers == [handler] and root.level == logging.INFO
        assert any(isinstance(f, MaskPhones) for f in handler.filters)
    finally:
        root.handlers[:] = saved
        root.setLevel(level)


@pytest.mark.parametrize(("level", "scheduler_level"), [("INFO", logging.WARNING), ("DEBUG", logging.DEBUG)])
def test_apscheduler_job_runs_are_not_logged_at_info(level: str, scheduler_level: int) -> None:
    """The lease, sweep and audit jobs run every few seconds: their INFO lines show only when debugging."""
    root, scheduler = logging.getLogger(), logging.getLogger("apscheduler.executors.default")
    saved, saved_level, saved_scheduler = root.handlers[:], root.level, logging.getLogger("apscheduler").level
    try:
        configure_logging(level)
        assert scheduler.getEffectiveLevel() == scheduler_level
        assert not scheduler.isEnabledFor(logging.INFO) if level == "INFO" else scheduler.isEnabledFor(logging.DEBUG)
    finally:
        root.handlers[:] = saved
        root.setLevel(saved_level)
        logging.getLogger("apscheduler").setLevel(saved_scheduler)


# Kamailio pseudo-variables that carry a person's display name, a message body or a caller's number.
_PRIVATE_PVS = re.compile(r"\$(fn|tn|rb|mb|fu|fU|tu|tU|ai|pu|pU|di|ct|hdr\()")


def test_kamailio_logs_no_display_names_bodies_or_callers_numbers() -> None:
    """Every xlog line of the shipped Kamailio configurations names addresses, ports and methods
    only; the request user ($rU) appears in the demo's own phone routing alone."""
    lines = [(cfg.name, line) for cfg in sorted((ROOT / "config" / "kamailio").glob("*.cfg"))
             for line in cfg.read_text().splitlines() if re.search(r"\bx(log|info|warn|err|notice|dbg)\(", line)]
    assert len(lines) >= 20
    assert [(name, line.strip()) for name, line in lines if _PRIVATE_PVS.search(line)] == []
    assert [(name, line.strip()) for name, line in lines if "$rU" in line and name != "demo.cfg"] == []
