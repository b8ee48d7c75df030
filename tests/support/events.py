"""``capture_events()``: which realtime events a piece of code emitted, after commit.

    with capture_events() as sent:
        do_something()
    assert sent == [(["stream.7"], {"type": "stream.state", ...})]

Events are still delivered to the real channel layer; on-commit callbacks of the
test's transaction run when the block exits (a rolled-back write emits nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from django.test import TestCase

from realtime import events


@contextmanager
def capture_events() -> Iterator[list[tuple[list[str], dict[str, Any]]]]:
    sent: list[tuple[list[str], dict[str, Any]]] = []
    original = events.send_event_now

    def record(groups, event):
        groups = list(groups)
        sent.append((groups, event))
        original(groups, event)

    original_many = events.send_events_now

    def record_many(items):
        items = [(list(groups), event) for groups, event in items]
        sent.extend(items)
        original_many(items)

    with (
        mock.patch.object(events, "send_event_now", record),
        mock.patch.object(events, "send_events_now", record_many),
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        yield sent
