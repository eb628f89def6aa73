"""Logging for the service: one format, and phone numbers never reach a log line whole.

Leg ids, SIP URIs, webhook parameters and request paths all carry phone numbers; rather than mask
each log call, one handler filter masks every run of ten or more digits (mobiles, landlines with
area code, +86 forms) down to its last four. Shorter runs stay readable: dates in incident ids
(8 digits), times, ports and PBX extensions.

Names, addresses and SMS texts are never logged at all: log calls name ids and counts, SQL errors
hide their parameters (callcenter/db/engine.py), and the HTTP access log drops query strings,
where the console's directory search carries names and addresses.
"""

from __future__ import annotations

import logging
import re

__all__ = ["MaskPhones", "configure_logging", "mask_phones"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that log routine work at INFO: APScheduler logs every run of the lease, sweep and audit jobs
# (several lines every two seconds). They log warnings and errors; their INFO shows at DEBUG only.
CHATTY_LOGGERS = ("apscheduler",)
_PHONE = re.compile(r"(?<!\d)(\+?\d{6,})(\d{4})(?!\d)")
_TRACEBACKS = logging.Formatter()


def mask_phones(text: str) -> str:
    return _PHONE.sub(lambda m: "*" * len(m.group(1)) + m.group(2), text)


class MaskPhones(logging.Filter):
    """Rewrites each record's message with phone numbers masked (arguments are merged in first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phones(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when set, so the traceback is rendered (and masked) once, here.
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_phones(record.exc_text)
        return True


class DropQueryStrings(logging.Filter):
    """uvicorn's access lines without the query string: ``GET /api/directory/households?…``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) >= 3:
            path = record.args[2]
            if isinstance(path, str) and "?" in path:
                record.args = (*record.args[:2], path.split("?", 1)[0] + "?…", *record.args[3:])
        return True


def configure_logging(level: str | int) -> logging.Handler:
    """Root logging to stderr through the masking filter; every library logger propagates to it (the
    chatty ones at WARNING unless ``level`` is DEBUG)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(DropQueryStrings())  # before masking, which merges the arguments into the message
    handler.addFilter(MaskPhones())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if root.level <= logging.DEBUG else logging.WARNING)
    return handler
