"""Keep overlay tokens out of Daphne's access log.

SPEC fixes the overlay URLs as ``/overlays/{token}/alerts/`` and
``/ws/overlays/{token}/``, and Daphne writes every request path to its access log
(stdout by default). The token is a secret, so the log shows ``[redacted]`` instead.
Installed from ``DonationsConfig.ready()``, which runs when ``config.asgi`` is
imported, before Daphne builds its access logger.
"""

from __future__ import annotations

import re

OVERLAY_PATH = re.compile(r"(/overlays/)[^/?#\s\"]+")


def redact(text: str) -> str:
    return OVERLAY_PATH.sub(r"\1[redacted]", text)


def install_access_log_redaction() -> None:
    try:
        from daphne.access import AccessLogGenerator
    except ImportError:  # not served by Daphne
        return
    original = AccessLogGenerator.write_entry
    if getattr(original, "_redacts_overlay_tokens", False):
        return

    def write_entry(self, host, date, request, *args, **kwargs):
        return original(self, host, date, redact(str(request)), *args, **kwargs)

    write_entry._redacts_overlay_tokens = True  # type: ignore[attr-defined]
    AccessLogGenerator.write_entry = write_entry
