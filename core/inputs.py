"""Untrusted input that Python accepts but the database or ``int()`` does not.

* ``str.isdigit()`` is true for ``"²"`` (superscript two); ``int("²")`` raises. Ids from
  query strings and metadata go through ``parse_id``: ASCII digits, within bigint.
* JSON may spell an unpaired surrogate (``"\\ud800"``); PostgreSQL cannot store it
  (psycopg raises ``UnicodeEncodeError``). ``StrictJSONParser`` refuses such a body
  with 400 ``invalid_json`` before any view sees it.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_ID = 2**63 - 1  # PostgreSQL bigint


def parse_id(raw: Any) -> int | None:
    """A positive database id from text, or ``None`` if it is not one."""
    if not isinstance(raw, str) or not 0 < len(raw) <= 19:
        return None
    if not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if 0 < value <= MAX_ID else None


def has_lone_surrogate(value: Any) -> bool:
    """Whether any string in a parsed JSON value (keys included) holds an unpaired
    surrogate, i.e. cannot be encoded as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_lone_surrogate(v) for v in value)
    return False


class StrictJSONParser(JSONParser):
    """DRF's JSON parser, refusing text that is not valid Unicode."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        if has_lone_surrogate(data):
            raise ParseError("Text must be valid Unicode (an unpaired surrogate was sent).")
        return data
