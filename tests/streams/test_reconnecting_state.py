"""Viewers see "the streamer is reconnecting…": the public stream says
``reconnecting`` while the grace runs, and each change is broadcast."""

from __future__ import annotations

import pytest

from realtime import groups
from streams import services
from streams.models import LiveStream
from tests.support.events import capture_events
from tests.support.factories import make_stream

pytestmark = pytest.mark.django_db(transaction=True)


def states(sent) -> list[dict]:
    return [
        e["stream"]
        for g, e in sent
        if e["type"] == "stream.state" and groups.stream_room(e["stream"]["id"]) in g
    ]


def test_the_grace_period_is_reconnecting_and_a_resume_clears_it(settings):
    settings.STREAM_RECONNECT_GRACE_SECONDS = 90
    stream = make_stream()
    key = stream.stream_key
    with capture_events() as sent:
        assert services.do_ingest_publish(stream_key=key, client_id="1").allowed
        assert services.do_ingest_publish_done(stream_key=key, client_id="1").allowed
        assert services.do_ingest_publish(stream_key=key, client_id="2").allowed
    seen = [(s["status"], s["reconnecting"]) for s in states(sent)]
    assert seen == [("live", False), ("live", True), ("live", False)]
    assert LiveStream.objects.get(id=stream.id).status == "live"
