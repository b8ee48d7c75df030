"""Exact wire shapes of the lifecycle's events (SPEC §7)."""

from __future__ import annotations

import pytest

from realtime import event_types
from streams import services
from tests.streams.test_apis import PUBLIC_FIELDS
from tests.support.events import capture_events
from tests.support.factories import make_stream

pytestmark = pytest.mark.django_db


def test_ingest_event_shape():
    assert event_types.ingest(True) == {"type": "ingest", "connected": True}
    assert event_types.ingest(False) == {"type": "ingest", "connected": False}


def test_stream_state_event_carries_exactly_the_public_stream():
    stream = make_stream(title="Shape")
    with capture_events() as sent:
        services.do_go_live(stream_id=stream.id)
    [(_, event)] = sent
    assert set(event) == {"type", "stream"} and event["type"] == "stream.state"
    assert set(event["stream"]) == PUBLIC_FIELDS
    assert set(event["stream"]["streamer"]) == {"id", "username", "display_name", "current_level"}
    assert event["stream"]["total_donations"] == "0.00"
