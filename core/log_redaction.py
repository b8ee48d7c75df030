"""Keep secrets that travel in URLs out of Daphne's access log.

SPEC puts overlay tokens in paths (``/overlays/{token}/alerts/``,
``/ws/overlays/{token}/``) and the ingest server's shared secret in a query
parameter (``/ingest/on_publish?secret=...``); Daphne writes every request URI to its
access log (stdout by default). The log shows ``[redacted]`` instead. Installed from
``CoreConfig.ready()``, which runs when ``config.asgi`` is imported, before Daphne
builds its access logger.
"""

from __future__ import annotations

import re

OVERLAY_PATH = re.compile(r"(/overlays/)[^/?#\s\"]+")
SECRET_PARAM = re.compile(r"([?&]secret=)[^&#\s\"]*")


def redact(text: str) -> str:
    return SECRET_PARAM.sub(r"\1[redacted]", OVERLAY_PATH.sub(r"\1[redacted]", text))


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
