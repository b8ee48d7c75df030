"""Log context and the JSON log format (``LOG_FORMAT=json``).

Every HTTP request gets a request id (``RequestTelemetryMiddleware`` in
``core/metrics.py`` sets it here): the client's ``X-Request-ID`` when it is short and
safe, else a new one; it is echoed in the response's ``X-Request-ID`` header. It lives
in a ``contextvars`` variable, so it follows the request into the threads Django and
``sync_to_async`` run its sync code in, and every log line written meanwhile can carry
it.

``JsonFormatter`` writes one JSON object per line::

    {"time": "2026-01-31T12:00:00.123Z", "level": "WARNING", "logger": "django.request",
     "message": "Not Found: /nope", "request_id": "…", "user_id": 7, "stream_id": 3}

``request_id``, ``user_id`` and ``stream_id`` appear when known (``user_id`` only when
the request's user was already loaded — the formatter never queries the database;
``stream_id`` from the URL's ``stream_id`` argument). A traceback is the string field
``exc_info``. The record's arguments were already cleaned when the record was made
(``core/log_redaction.py``: secrets redacted, control characters escaped); the
traceback text is redacted here too. The JSON is ASCII-only, so no character of a
logged value (not even U+2028) can split the line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import uuid
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

from core.log_redaction import redact

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept only if it is this short and made of these characters.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

_context: ContextVar[dict[str, Any] | None] = ContextVar("log_context", default=None)


def request_id_from(header: str | None) -> str:
    """The client's request id if it is short and safe, else a new one."""
    if header and _SAFE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def bind_request(request: Any, request_id: str) -> Token:
    """Log lines written until ``unbind(token)`` belong to ``request``."""
    return _context.set({"request_id": request_id, "request": request})


def unbind(token: Token) -> None:
    _context.reset(token)


def context_fields(request: Any = None) -> dict[str, Any]:
    """``request_id``, ``user_id``, ``stream_id`` where known: of ``request`` (Django's
    request logs name theirs) or of the request being served in this context."""
    context = _context.get()
    if request is None and context is not None:
        request = context.get("request")
    fields: dict[str, Any] = {}
    request_id = getattr(request, "request_id", None) or (context or {}).get("request_id")
    if request_id:
        fields["request_id"] = request_id
    if request is None:
        return fields
    # Only a user the request already loaded (Django's lazy user caches it here): a
    # log line must not cost a session lookup.
    attrs = getattr(request, "__dict__", {})
    user = attrs.get("_cached_user") or attrs.get("_acached_user")
    if getattr(user, "is_authenticated", False) and getattr(user, "pk", None) is not None:
        fields["user_id"] = user.pk
    match = getattr(request, "resolver_match", None)
    stream_id = match.kwargs.get("stream_id") if match is not None else None
    if isinstance(stream_id, int):
        fields["stream_id"] = stream_id
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        with contextlib.suppress(Exception):  # a line never fails for want of context
            entry.update(context_fields(record.__dict__.get("request")))
        for name in ("request_id", "user_id", "stream_id"):
            value = record.__dict__.get(name)  # passed with ``extra=``
            if value is not None:
                entry[name] = value if isinstance(value, int) else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc_info"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=True, default=str)
