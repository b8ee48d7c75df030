"""Keep secrets that travel in URLs out of every log, and untrusted text from forging
log lines.

SPEC puts overlay tokens in paths (``/overlays/{token}/alerts/``,
``/ws/overlays/{token}/``) and the ingest server's shared secret in a query
parameter (``/ingest/on_publish?secret=...``). Two layers, both installed from
``CoreConfig.ready()`` (it runs when ``config.asgi`` is imported, before the server
builds its loggers, and in Celery workers):

* Every log record of every logger (Django's ``Not Found: <path>`` and CSRF
  warnings, uvicorn's errors, ours) passes ``_clean_record``: in its arguments — the
  values interpolated into the message, where request data arrives — secrets are
  ``[redacted]`` and control characters (CR, LF, NEL, U+2028 …) are escaped, so a
  ``clientid`` holding a newline cannot forge a second line; a message text naming
  a secret is redacted too.
* Daphne's access log (written without the logging module's arguments) is redacted
  by ``install_access_log_redaction``; uvicorn runs with ``--no-access-log``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

OVERLAY_PATH = re.compile(r"(/overlays/)[^/?#\s\"]+")
SECRET_PARAM = re.compile(r"([?&]secret=)[^&#\s\"]*")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def redact(text: str) -> str:
    return SECRET_PARAM.sub(r"\1[redacted]", OVERLAY_PATH.sub(r"\1[redacted]", text))


def escape(text: str) -> str:
    """Control characters as visible escapes (``\\n``, ``\\x1b``, ``\\u2028``)."""
    return _CONTROL.sub(_escape_one, text)


def _escape_one(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x100:
        return {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}.get(code, f"\\x{code:02x}")
    return f"\\u{code:04x}"


def _clean_arg(value: Any) -> Any:
    return escape(redact(value)) if isinstance(value, str) else value


def _clean_record(record: logging.LogRecord) -> None:
    args = record.args
    if isinstance(args, tuple) and args:
        record.args = tuple(_clean_arg(a) for a in args)
    elif isinstance(args, Mapping) and args:
        record.args = {k: _clean_arg(v) for k, v in args.items()}
    if isinstance(record.msg, str) and ("/overlays/" in record.msg or "secret=" in record.msg):
        record.msg = redact(record.msg)


def install_record_cleaning() -> None:
    """Clean every log record as it is made (idempotent)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_cleans_records", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _clean_record(record)
        return record

    factory._cleans_records = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def install_access_log_redaction() -> None:
    try:
        from daphne.access import AccessLogGenerator
    except ImportError:  # not served by Daphne
        return
    original = AccessLogGenerator.write_entry
    if getattr(original, "_redacts_secrets", False):
        return

    def write_entry(self, host, date, request, *args, **kwargs):
        return original(self, host, date, redact(str(request)), *args, **kwargs)

    write_entry._redacts_secrets = True  # type: ignore[attr-defined]
    AccessLogGenerator.write_entry = write_entry
