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


def test_an_event_builder_runs_only_after_commit():
    built = []

    def build():
        built.append(True)
        return {"type": "pong"}

    with capture_events() as sent, transaction.atomic():
        send_event_on_commit("stream.1", build)
        assert built == []  # nothing is read or sent while the transaction is open
    assert built == [True] and sent == [(["stream.1"], {"type": "pong"})]


def test_a_rolled_back_write_never_runs_its_event_builder():
    def build():
        raise AssertionError("built for a rolled-back write")

    with capture_events() as sent:
        try:
            with transaction.atomic():
                send_event_on_commit("stream.1", build)
                raise RuntimeError("boom")
        except RuntimeError:
            pass
    assert sent == []
