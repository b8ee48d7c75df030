from __future__ import annotations

import pytest
from django.db import transaction

from realtime.events import send_event_on_commit
from tests.support.events import capture_events

pytestmark = pytest.mark.django_db


def test_an_event_goes_out_after_commit():
    with capture_events() as sent:
        send_event_on_commit("stream.1", {"type": "pong"})
    assert sent == [(["stream.1"], {"type": "pong"})]


def test_a_rolled_back_write_emits_nothing():
    with capture_events() as sent:
        try:
            with transaction.atomic():
                send_event_on_commit(["stream.1", "dashboard.1"], {"type": "pong"})
                raise RuntimeError("boom")
        except RuntimeError:
            pass
    assert sent == []
